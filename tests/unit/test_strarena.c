/*
 * test_strarena.c - the string arena of a view's names and source paths
 * (strarena.c): copies are whole and stay put while later ones fill new
 * blocks, a string longer than a block gets a block of its own (a long
 * field of an index row) and the block being filled goes on, and the arena
 * is empty and usable again after strarena_free().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "strarena.h"

#define MANY 40000	/* about 1.3 MB of strings: several blocks */

static void test_strarena(void **state)
{
	static const char *got[MANY];
	static char big[(256u << 10) + 1];
	struct strarena a = { 0 };
	const char *p, *q, *last;
	char want[64];
	int i;

	(void)state;
	strarena_free(&a);	/* an empty arena */
	for (i = 0; i < MANY; i++) {
		int n = snprintf(want, sizeof(want), "c%07d/name_%d.dcm", i,
				 i % 97);

		got[i] = strarena_dup(&a, want, (size_t)n);
		assert_non_null(got[i]);
	}
	for (i = 0; i < MANY; i++) {
		snprintf(want, sizeof(want), "c%07d/name_%d.dcm", i, i % 97);
		assert_string_equal(got[i], want);
	}
	/* a part of a longer string, NUL-terminated */
	assert_string_equal(strarena_dup(&a, "abcdef", 3), "abc");
	last = strarena_dup(&a, "", 0);
	assert_string_equal(last, "");
	memset(big, 'x', sizeof(big) - 1);
	p = strarena_dup(&a, big, sizeof(big) - 1);
	assert_non_null(p);
	assert_memory_equal(p, big, sizeof(big));
	q = strarena_dup(&a, "after", 5);
	assert_string_equal(q, "after");
	/* still the block being filled: right after the last short one */
	assert_ptr_equal(q, last + 1);
	for (i = 0; i < MANY; i++) {
		snprintf(want, sizeof(want), "c%07d/name_%d.dcm", i, i % 97);
		assert_string_equal(got[i], want);
	}
	strarena_free(&a);
	assert_null(a.head);
	/* a long one first, in an empty arena */
	assert_memory_equal(strarena_dup(&a, big, sizeof(big) - 1), big,
			    sizeof(big));
	assert_string_equal(strarena_dup(&a, "again", 5), "again");
	strarena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strarena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
