/*
 * ident.c - personal IDs and name parts in kept values (see ident.h).
 */
#include "ident.h"

#include <string.h>

/* The mod-11 control digit of the n digits at d with weights w; 10 means
 * no valid one exists. */
static int control(const char *d, const int *w, int n)
{
	int i, sum = 0, c;

	for (i = 0; i < n; i++)
		sum += w[i] * (d[i] - '0');
	c = 11 - sum % 11;
	return c == 11 ? 0 : c;
}

int ident_fnr_valid(const char d[11])
{
	static const int k1[9] = { 3, 7, 6, 1, 8, 9, 4, 5, 2 };
	static const int k2[10] = { 5, 4, 3, 2, 7, 6, 5, 4, 3, 2 };
	int i, c1, c2;

	for (i = 0; i < 11; i++)
		if (d[i] < '0' || d[i] > '9')
			return 0;
	c1 = control(d, k1, 9);
	c2 = control(d, k2, 10);
	return c1 != 10 && c1 == d[9] - '0' && c2 != 10 && c2 == d[10] - '0';
}

static int digit(char c)
{
	return c >= '0' && c <= '9';
}

int ident_holds_personal_id(const char *s, size_t n, const char *own)
{
	size_t i, ol = own ? strlen(own) : 0;

	if (ol >= 6 && n >= ol && memmem(s, n, own, ol))
		return 1;
	for (i = 0; i < n; i++) {
		char d[11];
		size_t j = i, k = 0;

		if (!digit(s[i]) || (i && digit(s[i - 1])))
			continue;	/* not the start of a run */
		while (j < n && k < 11) {
			if (digit(s[j]))
				d[k++] = s[j];
			else if (k == 6 && j == i + 6 &&
				 (s[j] == ' ' || s[j] == '-' || s[j] == '.'))
				;	/* "ddmmyy nnnnn" */
			else
				break;
			j++;
		}
		if (k == 11 && !(j < n && digit(s[j])) && ident_fnr_valid(d))
			return 1;
	}
	return 0;
}

static char fold(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* A byte of a word: ASCII letters and digits, and any non-ASCII byte
 * (the letters of Latin-1 and UTF-8 names). */
static int wordc(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       digit(c) || (unsigned char)c >= 0x80;
}

/* Whether the word (w, wl) stands as a whole word in (s, n). */
static int has_word(const char *s, size_t n, const char *w, size_t wl)
{
	size_t i, k;

	for (i = 0; i + wl <= n; i++) {
		if (i && wordc(s[i - 1]))
			continue;
		for (k = 0; k < wl && fold(s[i + k]) == fold(w[k]); k++)
			;
		if (k == wl && (i + wl == n || !wordc(s[i + wl])))
			return 1;
	}
	return 0;
}

int ident_holds_name_part(const char *s, size_t n, const char *name)
{
	const char *p = name;

	if (!name)
		return 0;
	while (*p) {
		size_t l = strcspn(p, "^ -=,");

		if (l >= 3 && has_word(s, n, p, l))
			return 1;
		p += l;
		if (*p)
			p++;
	}
	return 0;
}
