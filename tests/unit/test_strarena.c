/*
 * test_strarena.c - the string arena of a view's names and source paths
 * (strarena.c): copies are whole and stay put while later ones fill new
 * blocks, a string longer than a block is refused, and the arena is empty
 * and usable again after strarena_free().
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
	assert_string_equal(strarena_dup(&a, "", 0), "");
	memset(big, 'x', sizeof(big) - 1);
	assert_null(strarena_dup(&a, big, sizeof(big) - 1));
	strarena_free(&a);
	assert_null(a.head);
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
