/*
 * ident.c - personal IDs and the words of names in kept values (see
 * ident.h).
 */
#include "ident.h"
#include "base.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
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

/* Words that fill person-name fields without naming anyone: placeholders,
 * titles and the particles of family names.  Upper case. */
static const char *const not_names[] = {
	"ANON", "ANONYMOUS", "ANONYMIZED", "ANONYMISED", "UNKNOWN", "NONE",
	"NULL", "MRS", "MISS", "PROF", "PHD", "VAN", "VON", "DER", "DEN", "DEL",
	"DELLA", "DOS", "DAS", "LES", "LOS", "LAS", "BIN", "IBN",
};

struct ident_words {
	uint32_t *slot;		/* open addressing: 0 empty, else 1 + index */
	size_t nslot;		/* a power of two, >= 2 * n */
	struct word {
		uint32_t off;	/* into pool */
		uint32_t len;
		uint32_t hash;
	} *w;
	size_t n, cap;
	char *pool;		/* the words, folded to upper case (PHI) */
	size_t used, poolcap;
};

static uint32_t hash_folded(const char *s, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (uint8_t)fold(s[i])) * 16777619u;
	return h;
}

/* The slot of (s, n) with hash h: the one holding it, or the empty one
 * where it would go. */
static size_t find_slot(const struct ident_words *w, const char *s, size_t n,
			uint32_t h)
{
	size_t i = h & (w->nslot - 1), k;

	for (;; i = (i + 1) & (w->nslot - 1)) {
		const struct word *x;

		if (!w->slot[i])
			return i;
		x = &w->w[w->slot[i] - 1];
		if (x->hash != h || x->len != n)
			continue;
		for (k = 0; k < n && w->pool[x->off + k] == fold(s[k]); k++)
			;
		if (k == n)
			return i;
	}
}

int ident_words_new(struct ident_words **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ident_words_free(struct ident_words *w)
{
	if (!w)
		return;
	base_wipe_free(w->pool, w->poolcap);
	free(w->w);
	free(w->slot);
	free(w);
}

size_t ident_words_count(const struct ident_words *w)
{
	return w ? w->n : 0;
}

static int grow_slots(struct ident_words *w)
{
	size_t ns = w->nslot ? w->nslot * 2 : 64, i;
	uint32_t *slot = calloc(ns, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	free(w->slot);
	w->slot = slot;
	w->nslot = ns;
	for (i = 0; i < w->n; i++) {
		const struct word *x = &w->w[i];

		w->slot[find_slot(w, w->pool + x->off, x->len, x->hash)] =
			(uint32_t)(i + 1);
	}
	return 0;
}

/* Whether the word (s, n) names no one on its own (see ident.h). */
static int not_a_name(const char *s, size_t n)
{
	size_t i, k, letters = 0;

	for (i = 0; i < n; i++)
		letters += !digit(s[i]);
	if (letters ? n < 3 : n < 6)
		return 1;
	for (i = 0; i < sizeof(not_names) / sizeof(not_names[0]); i++) {
		if (strlen(not_names[i]) != n)
			continue;
		for (k = 0; k < n && fold(s[k]) == not_names[i][k]; k++)
			;
		if (k == n)
			return 1;
	}
	return 0;
}

static int add_word(struct ident_words *w, const char *s, size_t n)
{
	uint32_t h;
	size_t i, at;
	int err;

	if (not_a_name(s, n))
		return 0;
	if (n > IDENT_WORD_MAX)
		return -E2BIG;
	h = hash_folded(s, n);
	if (w->nslot && w->slot[find_slot(w, s, n, h)])
		return 0;	/* already there */
	if (w->n >= IDENT_WORDS_MAX)
		return -E2BIG;
	err = BASE_GROW(w->w, w->cap, w->n, w->n + 1, 16, 0);
	/* the pool holds names: the old one is wiped, never realloc'd */
	if (!err)
		err = BASE_GROW(w->pool, w->poolcap, w->used, w->used + n, 256,
				BASE_GROW_WIPE);
	if (!err && (w->n + 1) * 2 > w->nslot)
		err = grow_slots(w);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		w->pool[w->used + i] = fold(s[i]);
	w->w[w->n].off = (uint32_t)w->used;
	w->w[w->n].len = (uint32_t)n;
	w->w[w->n].hash = h;
	w->used += n;
	at = find_slot(w, s, n, h);
	w->slot[at] = (uint32_t)(++w->n);
	return 0;
}

/* The next word of (s, n) from *i: 1 with it at [*start, *i), or 0 at the
 * end. */
static int next_word(const char *s, size_t n, size_t *i, size_t *start)
{
	while (*i < n && !wordc(s[*i]))
		(*i)++;
	if (*i >= n)
		return 0;
	for (*start = *i; *i < n && wordc(s[*i]); (*i)++)
		;
	return 1;
}

int ident_words_add_name(struct ident_words *w, const char *s, size_t n)
{
	size_t i = 0, start;
	int err;

	while (next_word(s, n, &i, &start)) {
		err = add_word(w, s + start, i - start);
		if (err)
			return err;
	}
	return 0;
}

int ident_words_holds(const struct ident_words *w, const char *s, size_t n)
{
	size_t i = 0;

	size_t start;

	if (!w || !w->n)
		return 0;
	while (next_word(s, n, &i, &start))
		if (w->slot[find_slot(w, s + start, i - start,
				      hash_folded(s + start, i - start))])
			return 1;
	return 0;
}
