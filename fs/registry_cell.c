/*
 * registry_cell.c - the forms a registry cell may have (see
 * registry_cell.h).
 */
#include "registry_cell.h"
#include "base.h"
#include "civil.h"
#include "ident.h"
#include "registry.h"

#include <errno.h>
#include <string.h>

/* Up to max digits at *s (advanced); 0 or -EINVAL. */
static int digits(const char **s, const char *end, unsigned min,
		  unsigned max, unsigned *val)
{
	unsigned n = 0, v = 0;

	while (*s < end && **s >= '0' && **s <= '9' && n < max) {
		v = v * 10 + (unsigned)(**s - '0');
		(*s)++;
		n++;
	}
	if (n < min)
		return -EINVAL;
	*val = v;
	return 0;
}

int registry_cell_date(const char *s, size_t n, int *y, unsigned *m,
		       unsigned *d)
{
	const char *p, *end;
	unsigned dd, mm, yy;

	if (!s)
		return -EINVAL;
	n = base_trim_spaces(s, n, &p);
	end = p + n;
	if (digits(&p, end, 1, 2, &dd) || p == end || *p++ != '.' ||
	    digits(&p, end, 1, 2, &mm) || p == end || *p++ != '.' ||
	    digits(&p, end, 4, 4, &yy) || p != end)
		return -EINVAL;
	if (yy < 1800 || yy > 2200 || !civil_valid(yy, mm, dd))
		return -EINVAL;
	*y = (int)yy;
	*m = mm;
	*d = dd;
	return 0;
}

int registry_cell_plain_number(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < n && (s[i] == '.' || s[i] == ',')) {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	return digits && i == n;
}

int registry_cell_int(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i == n || n - i > REGISTRY_INT_DIGITS)
		return 0;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static size_t skip_digits(const char *s, size_t n, size_t i)
{
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

int registry_cell_number(const char *s, size_t n)
{
	size_t i = 0, j;
	int mant;

	if (n > REGISTRY_NUMBER_MAX)
		return 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	j = skip_digits(s, n, i);
	mant = j > i;
	i = j;
	if (i < n && (s[i] == '.' || s[i] == ',')) {
		j = skip_digits(s, n, i + 1);
		mant |= j > i + 1;
		i = j;
	}
	if (!mant)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		j = skip_digits(s, n, i);
		if (j == i || j - i > REGISTRY_NUMBER_EXP_DIGITS)
			return 0;
		i = j;
	}
	return i == n;
}

int registry_cell_code(const char *s, size_t n)
{
	size_t i;

	if (!n || n > REGISTRY_CODE_MAX || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int registry_cell_enum(const char *s, size_t n, const char *vals)
{
	const char *v = vals, *bar;
	size_t l;

	for (;;) {
		bar = strchr(v, '|');
		l = bar ? (size_t)(bar - v) : strlen(v);
		if (l == n && !memcmp(v, s, n))
			return 1;
		if (!bar)
			return 0;
		v = bar + 1;
	}
}

int registry_cell_digits_id(const char *s, size_t n)
{
	char d[11];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			continue;
		if (k == sizeof(d))
			return 0;
		d[k++] = s[i];
	}
	return k == sizeof(d) && ident_fnr_valid(d);
}
