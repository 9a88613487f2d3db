/*
 * test_acmatch.c - the multi-pattern matcher of verify (acmatch.c): the
 * classic overlapping patterns, folding of case and separators, number
 * and word boundaries, the same hits whatever the chunks a stream comes
 * in, and against a plain quadratic search on random streams.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "acmatch.h"

#define MAXHITS 4096

struct hits {
	size_t n;
	uint32_t id[MAXHITS];
	uint64_t end[MAXHITS];
	int stop_after;		/* return 1 after this many, 0: never */
};

static int on_hit(void *arg, uint32_t id, uint64_t end, size_t len)
{
	struct hits *h = arg;

	(void)len;
	assert_true(h->n < MAXHITS);
	h->id[h->n] = id;
	h->end[h->n] = end;
	h->n++;
	return h->stop_after && (int)h->n >= h->stop_after;
}

static struct acm *build(const char *const *pat, const unsigned *flags,
			 size_t n)
{
	struct acm *a;
	size_t i;

	assert_int_equal(acm_new(&a), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(acm_add(a, pat[i], strlen(pat[i]),
					 flags ? flags[i] : 0, (uint32_t)i),
				 0);
	assert_int_equal(acm_compile(a), 0);
	return a;
}

/* Whether (id, end) is among the hits. */
static int has(const struct hits *h, uint32_t id, uint64_t end)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->id[i] == id && h->end[i] == end)
			return 1;
	return 0;
}

static void scan(const struct acm *a, const char *text, struct hits *h)
{
	memset(h, 0, sizeof(*h));
	assert_int_equal(acm_scan_buf(a, text, strlen(text), on_hit, h), 0);
}

static void test_overlapping(void **state)
{
	static const char *const pat[] = { "he", "she", "his", "hers" };
	struct acm *a = build(pat, NULL, 4);
	struct hits h;

	(void)state;
	scan(a, "ushers", &h);
	assert_int_equal(h.n, 3);
	assert_true(has(&h, 1, 4));	/* she */
	assert_true(has(&h, 0, 4));	/* he */
	assert_true(has(&h, 3, 6));	/* hers */
	scan(a, "xyz", &h);
	assert_int_equal(h.n, 0);
	assert_int_equal(acm_count(a), 4);
	acm_free(a);
}

static void test_folding(void **state)
{
	static const char *const pat[] = { "Nordmann^Kari^^", "2019-03-15",
					   "\xc3\x98" "degard" };
	struct acm *a = build(pat, NULL, 3);
	struct hits h;

	(void)state;
	scan(a, "folder/NORDMANN KARI/x", &h);
	assert_int_equal(h.n, 1);
	assert_true(has(&h, 0, 20));
	scan(a, "nordmann_kari", &h);
	assert_int_equal(h.n, 1);
	scan(a, "nordmannkari", &h);	/* the separator is a byte */
	assert_int_equal(h.n, 0);
	scan(a, "on 2019.03.15 and 2019/03/15", &h);
	assert_int_equal(h.n, 2);
	/* only ASCII letters fold: the upper-case form of a non-ASCII
	 * letter is a variant of its own (verify adds them) */
	scan(a, "\xc3\x98" "DEGARD", &h);
	assert_int_equal(h.n, 1);
	scan(a, "\xc3\xb8" "degard", &h);
	assert_int_equal(h.n, 0);
	acm_free(a);
}

static void test_boundaries(void **state)
{
	static const char *const pat[] = { "20190315", "kari", "Anne",
					   "A1234" };
	static const unsigned flags[] = { 0, ACM_WORD, 0, ACM_WORD };
	struct acm *a = build(pat, flags, 4);
	struct hits h;

	(void)state;
	/* a number never inside a longer number */
	scan(a, "2.25.1201903150", &h);
	assert_int_equal(h.n, 0);
	scan(a, "120190315", &h);
	assert_int_equal(h.n, 0);
	scan(a, "201903151", &h);
	assert_int_equal(h.n, 0);
	scan(a, "x20190315y", &h);	/* letters are no digits */
	assert_int_equal(h.n, 1);
	scan(a, "20190315", &h);	/* the stream's ends are boundaries */
	assert_int_equal(h.n, 1);
	/* whole words */
	scan(a, "karianne", &h);
	assert_int_equal(h.n, 1);	/* anne, a substring pattern */
	assert_true(has(&h, 2, 8));
	scan(a, "Kari", &h);
	assert_int_equal(h.n, 1);
	scan(a, "x^KARI^y", &h);
	assert_int_equal(h.n, 1);
	scan(a, "kari\xc3\xa5", &h);	/* non-ASCII continues a word */
	assert_int_equal(h.n, 0);
	scan(a, "id a1234.", &h);
	assert_int_equal(h.n, 1);
	scan(a, "a12345", &h);
	assert_int_equal(h.n, 0);
	acm_free(a);
}

static void test_duplicates_and_stop(void **state)
{
	static const char *const pat[] = { "berg", "BERG", "berg " };
	struct acm *a = build(pat, NULL, 3);
	struct hits h;

	(void)state;
	scan(a, "bergberg", &h);
	assert_int_equal(h.n, 6);	/* each id at each place */
	memset(&h, 0, sizeof(h));
	h.stop_after = 2;
	assert_int_equal(acm_scan_buf(a, "bergberg", 8, on_hit, &h), 1);
	assert_int_equal(h.n, 2);
	acm_free(a);
}

static void test_errors(void **state)
{
	struct acm *a;
	char *big;

	(void)state;
	assert_int_equal(acm_new(&a), 0);
	assert_int_equal(acm_add(a, "^^ ..", 5, 0, 0), -EINVAL);
	assert_int_equal(acm_add(a, "", 0, 0, 0), -EINVAL);
	big = malloc(ACM_MAX_PATTERN + 1);
	assert_non_null(big);
	memset(big, 'x', ACM_MAX_PATTERN + 1);
	assert_int_equal(acm_add(a, big, ACM_MAX_PATTERN + 1, 0, 0), -E2BIG);
	assert_int_equal(acm_add(a, big, ACM_MAX_PATTERN, 0, 7), 0);
	free(big);
	assert_int_equal(acm_compile(a), 0);
	assert_int_equal(acm_add(a, "abc", 3, 0, 1), -EINVAL);
	acm_free(a);
	acm_free(NULL);
}

/* ------------------------------------------------ against a plain search */

static uint8_t rfold(uint8_t b)
{
	if (b >= 'A' && b <= 'Z')
		return (uint8_t)(b + 32);
	if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b >= 0x80)
		return b;
	return ' ';
}

static int rdigit(int c)
{
	return c >= '0' && c <= '9';
}

/* Every (id, end) the contract promises, the slow way. */
static void naive(char pat[][16], const unsigned *flags, size_t np,
		  const uint8_t *t, size_t n, struct hits *h)
{
	size_t i, k, j;

	memset(h, 0, sizeof(*h));
	for (i = 0; i < np; i++) {
		char f[16];
		size_t len = 0, s = 0, e = strlen(pat[i]);

		while (s < e && rfold((uint8_t)pat[i][s]) == ' ')
			s++;
		while (e > s && rfold((uint8_t)pat[i][e - 1]) == ' ')
			e--;
		for (k = s; k < e; k++)
			f[len++] = (char)rfold((uint8_t)pat[i][k]);
		if (!len)
			continue;
		for (j = 0; j + len <= n; j++) {
			int before = j ? rfold(t[j - 1]) : ' ';
			int after = j + len < n ? rfold(t[j + len]) : ' ';

			for (k = 0; k < len; k++)
				if (rfold(t[j + k]) != (uint8_t)f[k])
					break;
			if (k < len)
				continue;
			if (rdigit(f[0]) && rdigit(before))
				continue;
			if (rdigit(f[len - 1]) && rdigit(after))
				continue;
			if ((flags[i] & ACM_WORD) &&
			    (before != ' ' || after != ' '))
				continue;
			on_hit(h, (uint32_t)i, j + len, len);
		}
	}
}

static int hit_cmp(const void *x, const void *y)
{
	const uint64_t *a = x, *b = y;

	return *a < *b ? -1 : *a > *b;
}

/* The hits as sorted keys, to compare two lists as multisets. */
static void keys(const struct hits *h, uint64_t *k)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		k[i] = h->end[i] << 16 | h->id[i];
	qsort(k, h->n, sizeof(*k), hit_cmp);
}

static void test_random_against_naive(void **state)
{
	static const char alpha[] = "abAB12 .\xc3";
	static uint64_t k1[MAXHITS], k2[MAXHITS];
	static struct hits want, got;
	char pat[12][16];
	unsigned flags[12];
	uint8_t text[600];
	unsigned seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 300; round++) {
		struct acm *a;
		struct acm_scan s;
		size_t i, np = 1 + (size_t)(rand_r(&seed) % 12), at;

		assert_int_equal(acm_new(&a), 0);
		for (i = 0; i < np; i++) {
			size_t len = 1 + (size_t)(rand_r(&seed) % 5), k;

			for (k = 0; k < len; k++)
				pat[i][k] = alpha[rand_r(&seed) %
						  (sizeof(alpha) - 1)];
			pat[i][len] = 0;
			flags[i] = rand_r(&seed) % 3 == 0 ? ACM_WORD : 0;
			/* a pattern of separators only is refused */
			if (acm_add(a, pat[i], len, flags[i], (uint32_t)i))
				pat[i][0] = 0;
		}
		assert_int_equal(acm_compile(a), 0);
		for (i = 0; i < sizeof(text); i++)
			text[i] = (uint8_t)alpha[rand_r(&seed) %
						 (sizeof(alpha) - 1)];
		naive(pat, flags, np, text, sizeof(text), &want);
		/* fed in chunks of random sizes, 0 included */
		memset(&got, 0, sizeof(got));
		assert_int_equal(acm_scan_init(&s, a, on_hit, &got), 0);
		for (at = 0; at < sizeof(text);) {
			size_t c = (size_t)(rand_r(&seed) % 40);

			if (c > sizeof(text) - at)
				c = sizeof(text) - at;
			assert_int_equal(acm_scan_feed(&s, text + at, c), 0);
			at += c;
		}
		assert_int_equal(acm_scan_end(&s), 0);
		acm_scan_done(&s);
		assert_int_equal(got.n, want.n);
		keys(&want, k1);
		keys(&got, k2);
		assert_memory_equal(k1, k2, want.n * sizeof(k1[0]));
		acm_free(a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlapping),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_duplicates_and_stop),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_random_against_naive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
