/*
 * civil.c - civil dates and day shifts (see fs/civil.h).  The day counts
 * are H. Hinnant's days_from_civil and civil_from_days
 * (http://howardhinnant.github.io/date_algorithms.html), in 64 bits.
 */
#include "civil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int civil_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned civil_month_days(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	return m == 2 && civil_leap(y) ? 29 : dim[m - 1];
}

int civil_valid(int64_t y, unsigned m, unsigned d)
{
	return m >= 1 && m <= 12 && d >= 1 && d <= civil_month_days(y, m);
}

/* Floor division, for carrying months into years. */
static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t civil_days(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe, carry;
	unsigned mm;

	/* the month into 1..12, the rest into the year; the day counts on
	 * linearly from the 1st of that month */
	carry = floor_div(m - 1, 12);
	y += carry;
	mm = (unsigned)(m - 1 - carry * 12) + 1;
	y -= mm <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (mm > 2 ? mm - 3 : mm + 9) + 2) / 5;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468 + (d - 1);
}

void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468, era, doe, yoe, doy, mp;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int civil_shift(int64_t *y, unsigned *m, unsigned *d, int64_t days)
{
	int64_t ny;
	unsigned nm, nd;

	civil_from_days(civil_days(*y, *m, *d) + days, &ny, &nm, &nd);
	if (ny < 0 || ny > 9999)
		return -ERANGE;
	*y = ny;
	*m = nm;
	*d = nd;
	return 0;
}

int civil_ymd_shift(char *s, int days, enum civil_mode mode)
{
	int64_t y = 0;
	unsigned m, d, i;
	char buf[16];

	for (i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	for (i = 0; i < 4; i++)
		y = y * 10 + (s[i] - '0');
	m = (unsigned)((s[4] - '0') * 10 + (s[5] - '0'));
	d = (unsigned)((s[6] - '0') * 10 + (s[7] - '0'));
	if (mode == CIVIL_STRICT && !civil_valid(y, m, d))
		return -EINVAL;
	if (civil_shift(&y, &m, &d, days))
		return -ERANGE;
	snprintf(buf, sizeof(buf), "%04u%02u%02u", (unsigned)y, m, d);
	memcpy(s, buf, 8);
	return 0;
}
