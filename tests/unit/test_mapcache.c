/*
 * test_mapcache.c - the cache of made maps (mapcache.c): an entry serves
 * only the source version it was made from, a taken entry is gone, the
 * least recently used go first within the bound, and a map an open file
 * holds outlives its eviction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mapcache.h"

static struct stat version(unsigned ino, long mtime_ns)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = 7;
	st.st_ino = ino;
	st.st_size = 1000;
	st.st_mtim.tv_nsec = mtime_ns;
	st.st_ctim.tv_nsec = mtime_ns;
	return st;
}

/* A made map of id whose header is n bytes of the byte b. */
static struct made *make(int64_t id, const struct stat *st, size_t n,
			 uint8_t b)
{
	struct bytemap map = { 0 };
	uint8_t hdr[4096];
	struct inflate_where none = { 0, 0 };

	assert_true(n <= sizeof(hdr));
	memset(hdr, b, n);
	assert_int_equal(bytemap_add_gen(&map, hdr, n), 0);
	assert_int_equal(bytemap_add_src(&map, 5000, 100), 0);
	return made_new(id, st, &map, 0, none);
}

static void test_version(void **state)
{
	struct mapcache c;
	struct stat v1 = version(11, 1), v2 = version(11, 2);
	struct made *m, *got;

	(void)state;
	mapcache_init(&c, 1u << 20);
	m = make(1, &v1, 100, 0xaa);
	mapcache_add(&c, m);
	made_put(m);	/* the cache's reference keeps it */

	assert_true(mapcache_holds(&c, 1, 1000, 11, 1, 1));
	assert_false(mapcache_holds(&c, 1, 1000, 11, 2, 1));	/* mtime */
	assert_false(mapcache_holds(&c, 1, 1000, 11, 1, 2));	/* ctime */
	assert_false(mapcache_holds(&c, 1, 999, 11, 1, 1));	/* size */
	assert_false(mapcache_holds(&c, 1, 1000, 12, 1, 1));	/* inode */
	assert_false(mapcache_holds(&c, 2, 1000, 11, 1, 1));	/* id */
	got = mapcache_get(&c, 1, &v1, 0);
	assert_non_null(got);
	assert_int_equal(got->map.gen[0], 0xaa);
	assert_int_equal(got->map.size, 200);
	made_put(got);
	assert_null(mapcache_get(&c, 2, &v1, 0));	/* another file */

	/* the source changed (only its mtime): a miss, and the old entry
	 * is gone even for the old version */
	assert_null(mapcache_get(&c, 1, &v2, 0));
	assert_int_equal(c.n, 0);
	assert_null(mapcache_get(&c, 1, &v1, 0));
	v2 = version(12, 1);	/* same times, other inode */
	m = make(1, &v1, 100, 0xbb);
	mapcache_add(&c, m);
	made_put(m);
	assert_null(mapcache_get(&c, 1, &v2, 0));

	/* forgotten: this map, not another one kept for its id since */
	m = make(1, &v1, 100, 0xee);
	mapcache_add(&c, m);
	got = make(1, &v1, 100, 0xef);
	mapcache_add(&c, got);		/* replaces m */
	mapcache_forget_map(&c, m);
	assert_true(mapcache_holds(&c, 1, 1000, 11, 1, 1));
	mapcache_forget_map(&c, got);
	assert_false(mapcache_holds(&c, 1, 1000, 11, 1, 1));
	made_put(m);
	made_put(got);

	/* take: served once */
	m = make(3, &v1, 100, 0xcc);
	mapcache_add(&c, m);
	made_put(m);
	got = mapcache_get(&c, 3, &v1, 1);
	assert_non_null(got);
	made_put(got);
	assert_null(mapcache_get(&c, 3, &v1, 1));
	assert_int_equal(c.n, 0);
	assert_int_equal(c.bytes, 0);
	mapcache_destroy(&c);
}

static void test_bound(void **state)
{
	struct mapcache c;
	struct stat v = version(1, 1);
	struct made *m, *held, *got;
	size_t one, i;

	(void)state;
	m = make(0, &v, 1000, 1);
	one = made_bytes(m);
	made_put(m);
	mapcache_init(&c, one * 10);
	for (i = 0; i < 10; i++) {
		m = make((int64_t)i, &v, 1000, (uint8_t)i);
		mapcache_add(&c, m);
		made_put(m);
	}
	assert_int_equal(c.n, 10);
	/* use 0 (now the most recent), hold 1 as an open file would */
	got = mapcache_get(&c, 0, &v, 0);
	made_put(got);
	held = mapcache_get(&c, 1, &v, 0);
	assert_non_null(held);
	/* five more: the five least recently used go (2..6), not 0, 1 */
	for (i = 10; i < 15; i++) {
		m = make((int64_t)i, &v, 1000, (uint8_t)i);
		mapcache_add(&c, m);
		made_put(m);
	}
	assert_int_equal(c.n, 10);
	assert_true(c.bytes <= one * 10);
	for (i = 2; i < 7; i++)
		assert_null(mapcache_get(&c, (int64_t)i, &v, 0));
	for (i = 7; i < 15; i++) {
		got = mapcache_get(&c, (int64_t)i, &v, 0);
		assert_non_null(got);
		assert_int_equal(got->map.gen[999], (uint8_t)i);
		made_put(got);
	}
	got = mapcache_get(&c, 0, &v, 0);
	assert_non_null(got);
	made_put(got);
	/* 1 is evicted by many more, and still readable by its holder */
	for (i = 100; i < 200; i++) {
		m = make((int64_t)i, &v, 1000, 9);
		mapcache_add(&c, m);
		made_put(m);
	}
	assert_null(mapcache_get(&c, 1, &v, 0));
	assert_int_equal(held->map.gen[0], 1);
	assert_int_equal(held->map.gen[999], 1);
	made_put(held);
	/* a map larger than the bound is not kept */
	m = make(500, &v, 4096, 5);
	mapcache_destroy(&c);
	mapcache_init(&c, made_bytes(m) - 1);
	mapcache_add(&c, m);
	made_put(m);
	assert_null(mapcache_get(&c, 500, &v, 0));
	mapcache_destroy(&c);
}

/* Many ids: the buckets grow and every entry is still found. */
static void test_many(void **state)
{
	struct mapcache c;
	struct stat v = version(1, 1);
	struct made *m;
	int64_t i;

	(void)state;
	mapcache_init(&c, 64u << 20);
	for (i = 0; i < 5000; i++) {
		m = make(i * 977, &v, 10, (uint8_t)i);
		mapcache_add(&c, m);
		made_put(m);
	}
	assert_int_equal(c.n, 5000);
	for (i = 0; i < 5000; i++) {
		m = mapcache_get(&c, i * 977, &v, i % 2);
		assert_non_null(m);
		assert_int_equal(m->map.gen[0], (uint8_t)i);
		made_put(m);
	}
	assert_int_equal(c.n, 2500);
	mapcache_destroy(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
