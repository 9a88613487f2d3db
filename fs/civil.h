/*
 * civil.h - civil dates (proleptic Gregorian) and shifting them by whole
 * days: one arithmetic for every date deidfs moves.
 *
 * Under the Retain Longitudinal Temporal Information with Modified Dates
 * Option, the header dates (rules), the study month that names the folder
 * (the view) and the registry's shift and days-since columns must move by
 * the same number of days in the same way: they all count days with
 * civil_days() and civil_from_days() (H. Hinnant's algorithms).
 *
 * Part of the core's base layer (see fs/base.h).  Pure functions.
 */
#ifndef DEIDFS_CIVIL_H
#define DEIDFS_CIVIL_H

#include <stdint.h>

/* Whether y is a leap year. */
int civil_leap(int64_t y);

/* Days of month m (1..12) of year y. */
unsigned civil_month_days(int64_t y, unsigned m);

/* Whether y-m-d is a day of the calendar (any year). */
int civil_valid(int64_t y, unsigned m, unsigned d);

/*
 * Days from 1970-01-01 to y-m-d.  A month or day out of range is carried
 * as timegm() carries it: month 13 is January of the next year, month 0
 * December of the year before, day 0 the last day of the month before,
 * day 32 of January the 1st of February.
 */
int64_t civil_days(int64_t y, int64_t m, int64_t d);

/* The date days after 1970-01-01 (negative: before). */
void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/*
 * Move y-m-d by days (negative: earlier).  The date is carried as
 * civil_days() carries it.  Returns 0, or -ERANGE when the result is
 * outside the years 0000-9999 (the dates are then unchanged).
 */
int civil_shift(int64_t *y, unsigned *m, unsigned *d, int64_t days);

/* How civil_ymd_shift() reads a date that is not a day of the calendar. */
enum civil_mode {
	CIVIL_STRICT,	/* refused: -EINVAL */
	CIVIL_CARRY,	/* carried, as civil_days() does */
};

/*
 * Shift the date YYYYMMDD in the 8 bytes at s (rewritten in place, no NUL
 * written) by days.  Returns 0, -EINVAL (not 8 digits, or under
 * CIVIL_STRICT not a day of the calendar) or -ERANGE (the result is
 * outside the years 0000-9999); s is unchanged on error.
 */
int civil_ymd_shift(char *s, int days, enum civil_mode mode);

#endif
