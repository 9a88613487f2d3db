/*
 * test_base.c - the core's base layer (fs/base.h, fs/civil.h): civil dates
 * and day shifts across month, year and leap boundaries (against a day by
 * day walk and against timegm()), ID normalisation, case-insensitive
 * equality, wiping scratch buffers, growable arrays, hex, error messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "base.h"
#include "civil.h"

/* ------------------------------------------------------------ dates */

static void test_leap_and_month_days(void **state)
{
	(void)state;
	assert_true(civil_leap(2000));
	assert_true(civil_leap(2024));
	assert_true(civil_leap(0));
	assert_false(civil_leap(1900));
	assert_false(civil_leap(2100));
	assert_false(civil_leap(2023));
	assert_int_equal(civil_month_days(2024, 2), 29);
	assert_int_equal(civil_month_days(2023, 2), 28);
	assert_int_equal(civil_month_days(1900, 2), 28);
	assert_int_equal(civil_month_days(2000, 2), 29);
	assert_int_equal(civil_month_days(2023, 1), 31);
	assert_int_equal(civil_month_days(2023, 4), 30);
	assert_int_equal(civil_month_days(2023, 12), 31);
	assert_true(civil_valid(2024, 2, 29));
	assert_false(civil_valid(2023, 2, 29));
	assert_false(civil_valid(2023, 0, 1));
	assert_false(civil_valid(2023, 13, 1));
	assert_false(civil_valid(2023, 4, 31));
	assert_false(civil_valid(2023, 4, 0));
}

static void test_days_known(void **state)
{
	(void)state;
	assert_int_equal(civil_days(1970, 1, 1), 0);
	assert_int_equal(civil_days(1970, 1, 2), 1);
	assert_int_equal(civil_days(1969, 12, 31), -1);
	assert_int_equal(civil_days(2000, 3, 1), 11017);
	assert_int_equal(civil_days(2000, 2, 29), 11016);
	assert_int_equal(civil_days(0, 1, 1), -719528);
	assert_int_equal(civil_days(9999, 12, 31), 2932896);
}

/* Every day from 0000-01-01 to 9999-12-31 is the day after the one
 * before, both ways. */
static void test_days_round_trip(void **state)
{
	int64_t y, yy, z = civil_days(0, 1, 1);
	unsigned m, d, mm, dd;

	(void)state;
	for (y = 0; y <= 9999; y++)
		for (m = 1; m <= 12; m++)
			for (d = 1; d <= civil_month_days(y, m); d++, z++) {
				civil_from_days(z, &yy, &mm, &dd);
				/* 3.65 million days: one check, not four
				 * cmocka calls, each (valgrind runs it) */
				if (civil_days(y, m, d) != z || yy != y ||
				    mm != m || dd != d)
					fail_msg("%04lld-%02u-%02u is not day %lld",
						 (long long)y, m, d,
						 (long long)z);
			}
	assert_int_equal(z, civil_days(10000, 1, 1));
}

/* Months and days out of range carry as timegm() carries them. */
static void test_days_carry(void **state)
{
	(void)state;
	assert_int_equal(civil_days(2023, 13, 1), civil_days(2024, 1, 1));
	assert_int_equal(civil_days(2023, 0, 1), civil_days(2022, 12, 1));
	assert_int_equal(civil_days(2023, -11, 1), civil_days(2022, 1, 1));
	assert_int_equal(civil_days(2023, -12, 1), civil_days(2021, 12, 1));
	assert_int_equal(civil_days(2023, 25, 1), civil_days(2025, 1, 1));
	assert_int_equal(civil_days(2023, 3, 0), civil_days(2023, 2, 28));
	assert_int_equal(civil_days(2024, 3, 0), civil_days(2024, 2, 29));
	assert_int_equal(civil_days(2023, 1, 32), civil_days(2023, 2, 1));
	assert_int_equal(civil_days(2023, 1, -730), civil_days(2023, 1, 1) -
			 731);
}

static void shift_is(const char *in, int days, enum civil_mode mode,
		     const char *want)
{
	char s[9];

	memcpy(s, in, 9);
	assert_int_equal(civil_ymd_shift(s, days, mode), 0);
	assert_string_equal(s, want);
}

static void shift_fails(const char *in, int days, enum civil_mode mode,
			int err)
{
	char s[9];

	memcpy(s, in, 9);
	assert_int_equal(civil_ymd_shift(s, days, mode), err);
	assert_string_equal(s, in);	/* unchanged */
}

static void test_ymd_shift_boundaries(void **state)
{
	(void)state;
	/* month, year and leap boundaries, both directions */
	shift_is("20240301", -1, CIVIL_STRICT, "20240229");
	shift_is("20230301", -1, CIVIL_STRICT, "20230228");
	shift_is("19000301", -1, CIVIL_STRICT, "19000228");
	shift_is("20000301", -1, CIVIL_STRICT, "20000229");
	shift_is("20240101", -1, CIVIL_STRICT, "20231231");
	shift_is("20231231", 1, CIVIL_STRICT, "20240101");
	shift_is("20240229", 365, CIVIL_STRICT, "20250228");
	shift_is("20240229", -366, CIVIL_STRICT, "20230228");
	shift_is("20250115", -730, CIVIL_STRICT, "20230116");
	shift_is("20240131", 29, CIVIL_STRICT, "20240229");
	shift_is("20240131", 0, CIVIL_STRICT, "20240131");
	/* the years 0000-9999 */
	shift_is("00000102", -1, CIVIL_STRICT, "00000101");
	shift_fails("00000101", -1, CIVIL_STRICT, -ERANGE);
	shift_is("99991230", 1, CIVIL_STRICT, "99991231");
	shift_fails("99991231", 1, CIVIL_STRICT, -ERANGE);
	/* not a day: refused, or carried */
	shift_fails("20231341", -1, CIVIL_STRICT, -EINVAL);
	shift_fails("20230229", -1, CIVIL_STRICT, -EINVAL);
	shift_fails("20230100", -1, CIVIL_STRICT, -EINVAL);
	shift_is("20231341", -1, CIVIL_CARRY, "20240209");
	shift_is("20230229", -1, CIVIL_CARRY, "20230228");
	shift_is("20230100", -1, CIVIL_CARRY, "20221230");
	shift_is("20230001", 0, CIVIL_CARRY, "20221201");
	/* not digits: refused in both modes */
	shift_fails("2023-1-1", -1, CIVIL_STRICT, -EINVAL);
	shift_fails("2023010a", -1, CIVIL_CARRY, -EINVAL);
	shift_fails(" 2023010", -1, CIVIL_CARRY, -EINVAL);
}

/* A shift by n days is n steps of one day, over leap years and the
 * century rules (1900 is no leap year, 2000 is). */
static void test_ymd_shift_day_by_day(void **state)
{
	static const char *const start[] = {
		"18990101", "19000215", "19991201", "20000215", "20230601",
		"20240101",
	};
	size_t k;
	int n;

	(void)state;
	for (k = 0; k < sizeof(start) / sizeof(start[0]); k++) {
		char walk[9], jump[9];

		memcpy(walk, start[k], 9);
		for (n = 1; n <= 800; n++) {
			int err;

			err = civil_ymd_shift(walk, 1, CIVIL_STRICT);
			assert_int_equal(err, 0);
			memcpy(jump, start[k], 9);
			err = civil_ymd_shift(jump, n, CIVIL_STRICT);
			assert_int_equal(err, 0);
			assert_string_equal(jump, walk);
			err = civil_ymd_shift(jump, -n, CIVIL_STRICT);
			assert_int_equal(err, 0);
			assert_string_equal(jump, start[k]);
		}
	}
}

/* The view's study date as it was computed before civil.c: with
 * timegm(). */
static void check_carry_is_timegm(int y, int m, int d, int shift)
{
	struct tm tm = { 0 };
	char s[32], want[32];
	time_t t;
	int err;

	snprintf(s, sizeof(s), "%04d%02d%02d", y, m, d);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d + shift;
	tm.tm_hour = 12;
	t = timegm(&tm);
	assert_true(gmtime_r(&t, &tm) != NULL);
	err = civil_ymd_shift(s, shift, CIVIL_CARRY);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
		assert_int_equal(err, -ERANGE);
		return;
	}
	snprintf(want, sizeof(want), "%04d%02d%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday);
	assert_int_equal(err, 0);
	assert_string_equal(s, want);
}

/* CIVIL_CARRY is what the view did with timegm(): YYYYMMDD of digits
 * (months and days 00-99) and shifts over the range deidfs draws. */
static void test_ymd_shift_carry_is_timegm(void **state)
{
	static const int years[] = { 0, 1, 1899, 1900, 2000, 2023, 2024,
				     9998, 9999 };
	size_t k;
	int m, d, shift;

	(void)state;
	for (k = 0; k < sizeof(years) / sizeof(years[0]); k++)
		for (m = 0; m <= 99; m += (m < 14 ? 1 : 17))
			for (d = 0; d <= 99; d += (d < 33 ? 1 : 11))
				for (shift = -730; shift <= 0; shift += 73)
					check_carry_is_timegm(years[k], m, d,
							      shift);
}

static void test_civil_shift(void **state)
{
	int64_t y = 2024;
	unsigned m = 3, d = 1;

	(void)state;
	assert_int_equal(civil_shift(&y, &m, &d, -1), 0);
	assert_true(y == 2024 && m == 2 && d == 29);
	assert_int_equal(civil_shift(&y, &m, &d, -(int64_t)3000000), -ERANGE);
	assert_true(y == 2024 && m == 2 && d == 29);	/* unchanged */
	assert_int_equal(civil_shift(&y, &m, &d, 366), 0);
	assert_true(y == 2025 && m == 3 && d == 1);
}

/* ---------------------------------------------------------- strings */

static void trim_is(const char *in, const char *want)
{
	const char *s;
	size_t n = base_trim_spaces(in, strlen(in), &s);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(s, want, n);
	assert_true(s >= in && s + n <= in + strlen(in));
}

static void test_trim_spaces(void **state)
{
	const char *s;

	(void)state;
	trim_is(" 123 ", "123");
	trim_is("01020310045", "01020310045");
	trim_is("  0102031 0045  ", "0102031 0045");
	trim_is("   ", "");
	trim_is("", "");
	trim_is("a b", "a b");
	trim_is("\t12 ", "\t12");	/* spaces only: DICOM's padding */
	/* a NUL is data, not padding */
	assert_int_equal(base_trim_spaces(" 1\0 ", 4, &s), 2);
	assert_memory_equal(s, "1\0", 2);
}

static void test_eq_ci(void **state)
{
	(void)state;
	assert_true(base_eq_ci("Patient Protocol", 16, "PATIENT protocol",
			       16));
	assert_true(base_eq_ci("", 0, "", 0));
	assert_false(base_eq_ci("abc", 3, "abd", 3));
	assert_false(base_eq_ci("abc", 3, "ab", 2));
	assert_false(base_eq_ci("a\0b", 3, "a\0c", 3));
	assert_true(base_eq_ci("a\0B", 3, "A\0b", 3));
	/* ASCII only: other bytes compare as they are */
	assert_false(base_eq_ci("\xc3\xa6", 2, "\xc3\x86", 2));
}

/* ----------------------------------------------------------- memory */

static void test_scratch(void **state)
{
	char small[16], *p;

	(void)state;
	p = base_scratch(small, sizeof(small), 16);
	assert_ptr_equal(p, small);
	memset(p, 'x', 16);
	base_scratch_done(p, 16, small);
	assert_int_equal(small[0], 0);
	assert_int_equal(small[15], 0);
	p = base_scratch(small, sizeof(small), 17);
	assert_non_null(p);
	assert_ptr_not_equal(p, small);
	memset(p, 'y', 17);
	base_scratch_done(p, 17, small);	/* freed: valgrind checks */
	base_scratch_done(NULL, 5, small);
	base_wipe_free(NULL, 5);
	base_wipe_str_free(NULL);
	base_wipe_str_free(strdup("01020310045"));
}

struct item {
	uint64_t a;
	char b[5];
};

static void grow_and_check(unsigned flags)
{
	struct item *v = NULL;
	size_t n = 0, cap = 0, i;

	for (i = 0; i < 1000; i++) {
		assert_int_equal(BASE_GROW(v, cap, n, n + 1, 4, flags), 0);
		assert_true(cap >= n + 1);
		/* the new room is zeroed */
		assert_int_equal(v[n].a, 0);
		assert_int_equal(v[cap - 1].b[4], 0);
		v[n].a = i * 3;
		snprintf(v[n].b, sizeof(v[n].b), "%u", (unsigned)(i % 9999));
		n++;
	}
	assert_int_equal(cap, 1024);	/* 4 doubled */
	for (i = 0; i < n; i++)
		assert_int_equal(v[i].a, i * 3);
	/* enough room: nothing moves */
	{
		struct item *before = v;

		assert_int_equal(BASE_GROW(v, cap, n, cap, 4, flags), 0);
		assert_ptr_equal(v, before);
		assert_int_equal(cap, 1024);
	}
	/* a size that would overflow: refused, the array as it was */
	assert_int_equal(BASE_GROW(v, cap, n, SIZE_MAX / 2, 4, flags),
			 -E2BIG);
	assert_int_equal(cap, 1024);
	assert_int_equal(v[999].a, 999 * 3);
	base_wipe_free(v, cap * sizeof(*v));
}

static void test_grow(void **state)
{
	char *bytes = NULL;
	size_t cap = 0;

	(void)state;
	grow_and_check(0);
	grow_and_check(BASE_GROW_WIPE);
	/* a jump past several doublings at once */
	assert_int_equal(BASE_GROW(bytes, cap, 0, 5000, 4096, BASE_GROW_WIPE),
			 0);
	assert_int_equal(cap, 8192);
	assert_int_equal(bytes[8191], 0);
	memcpy(bytes, "kept", 4);
	assert_int_equal(BASE_GROW(bytes, cap, 4, 9000, 4096, BASE_GROW_WIPE),
			 0);
	assert_int_equal(cap, 16384);
	assert_memory_equal(bytes, "kept", 4);
	base_wipe_free(bytes, cap);
}

/* -------------------------------------------------------------- hex */

static void test_hex(void **state)
{
	static const unsigned char bin[] = { 0x00, 0x01, 0x7f, 0x80, 0xab,
					     0xff };
	char out[13], tiny[12];
	int c, n = 0;

	(void)state;
	assert_int_equal(base_hex_encode(bin, sizeof(bin), out, sizeof(out)),
			 0);
	assert_string_equal(out, "00017f80abff");
	assert_int_equal(base_hex_encode(bin, 0, out, 1), 0);
	assert_string_equal(out, "");
	memset(tiny, 'x', sizeof(tiny));
	assert_int_equal(base_hex_encode(bin, sizeof(bin), tiny,
					 sizeof(tiny)), -ENOSPC);
	assert_string_equal(tiny, "");
	assert_int_equal(base_hex_encode(bin, 1, out, 0), -ENOSPC);

	for (c = 0; c < 256; c++) {
		const char *hx = "0123456789abcdef";
		const char *HX = "0123456789ABCDEF";
		const char *p = c ? strchr(hx, c) : NULL;
		const char *q = c ? strchr(HX, c) : NULL;
		int want = p ? (int)(p - hx) : q ? (int)(q - HX) : -1;

		assert_int_equal(base_hex_digit(c), want);
		n += want >= 0;
	}
	assert_int_equal(n, 22);
	/* encoding, then decoding, gives the bytes back */
	assert_int_equal(base_hex_encode(bin, sizeof(bin), out, sizeof(out)),
			 0);
	for (c = 0; c < (int)sizeof(bin); c++)
		assert_int_equal(base_hex_digit(out[2 * c]) << 4 |
				 base_hex_digit(out[2 * c + 1]), bin[c]);
}

static void test_errf(void **state)
{
	char err[16];

	(void)state;
	base_errf(NULL, 0, "nothing %d", 1);
	base_errf(err, 0, "nothing %d", 1);
	base_errf(err, sizeof(err), "column %u of %s", 7u, "the registry");
	assert_string_equal(err, "column 7 of the");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leap_and_month_days),
		cmocka_unit_test(test_days_known),
		cmocka_unit_test(test_days_round_trip),
		cmocka_unit_test(test_days_carry),
		cmocka_unit_test(test_ymd_shift_boundaries),
		cmocka_unit_test(test_ymd_shift_day_by_day),
		cmocka_unit_test(test_ymd_shift_carry_is_timegm),
		cmocka_unit_test(test_civil_shift),
		cmocka_unit_test(test_trim_spaces),
		cmocka_unit_test(test_eq_ci),
		cmocka_unit_test(test_scratch),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_errf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
