/*
 * registry_cell.h - the forms a registry cell may have: a date
 * (dd.mm.yyyy), a plain number as a spreadsheet reads one, and the typed
 * kept roles (int, number, code, enum; see registry.h for their bounds).
 * Pure functions over (s, n), which need not be NUL-terminated.
 */
#ifndef DEIDFS_REGISTRY_CELL_H
#define DEIDFS_REGISTRY_CELL_H

#include <stddef.h>

/* d.m.yyyy or dd.mm.yyyy with optional surrounding spaces; a real
 * calendar day in 1800..2200 (outside that it is a typo, not a
 * screening).  s may be NULL (-EINVAL).  Returns 0 or -EINVAL. */
int registry_cell_date(const char *s, size_t n, int *y, unsigned *m,
		       unsigned *d);

/* [+-]digits[(.|,)digits] with at least one digit: a cell a spreadsheet
 * reads as a number, not a formula, even when it starts with a sign. */
int registry_cell_plain_number(const char *s, size_t n);

/* The typed kept roles: whether a cell without its surrounding spaces
 * fits.  int: [+-]digits, 1..REGISTRY_INT_DIGITS digits.  number:
 * [+-]digits[(.|,)digits][(e|E)[+-]digits], a digit before or after the
 * point, up to REGISTRY_NUMBER_MAX characters, no inf, nan or hex.  code:
 * 1..REGISTRY_CODE_MAX of A-Z a-z 0-9 . _ -, not '-' first (a spreadsheet
 * reads "-A1" as a formula).  enum: exactly one of the values "A|B|C"
 * (NUL-terminated; values hold no '|'). */
int registry_cell_int(const char *s, size_t n);
int registry_cell_number(const char *s, size_t n);
int registry_cell_code(const char *s, size_t n);
int registry_cell_enum(const char *s, size_t n, const char *vals);

/* Whether the digits of (s, n), read together, are exactly a valid
 * personal ID: "0102031004.5" hides one in a number. */
int registry_cell_digits_id(const char *s, size_t n);

#endif
