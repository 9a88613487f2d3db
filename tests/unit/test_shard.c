/*
 * test_shard.c - which share a source file and a patient fall in
 * (view_shard.c): every share of an N gets its part of many pseudonyms and
 * paths, even and odd shares alike (a patient hash with a bit forced on
 * once left the even shares of an even N without anyone), a share is
 * always below N, and the hash is 0 only without a pseudonym.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "shard.h"
#include "view_impl.h"

#define MANY 4000

static void test_patients_spread_over_every_share(void **state)
{
	static const unsigned ns[] = { 2, 3, 4, 7, 8, 64 };
	char p[32];
	size_t k;
	unsigned i;

	(void)state;
	assert_int_equal(view_shard_hash(NULL), 0);
	assert_int_equal(view_shard_hash(""), 0);
	for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		unsigned n = ns[k], count[64] = { 0 };

		for (i = 0; i < MANY; i++) {
			uint32_t h;

			/* 16 characters, as long as a pseudonym */
			snprintf(p, sizeof(p), "%016x", i * 2654435761u);
			h = view_shard_hash(p);
			assert_int_not_equal(h, 0);
			count[h % n]++;
		}
		for (i = 0; i < n; i++)
			/* a fair share is MANY / n; ask for half of it */
			assert_true(count[i] > MANY / n / 2);
	}
}

static void test_paths_spread_over_every_share(void **state)
{
	unsigned count[4] = { 0 }, i;
	char p[64];

	(void)state;
	assert_int_equal(view_shard_of("anything", 1), 0);
	for (i = 0; i < MANY; i++) {
		unsigned s;

		snprintf(p, sizeof(p), "w%04u/Screening %u/LCC_%u.dcm", i / 8,
			 i % 8, i);
		s = view_shard_of(p, 4);
		assert_true(s < 4);
		count[s]++;
	}
	for (i = 0; i < 4; i++)
		assert_true(count[i] > MANY / 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patients_spread_over_every_share),
		cmocka_unit_test(test_paths_spread_over_every_share),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
