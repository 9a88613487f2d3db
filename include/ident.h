/*
 * ident.h - recognising a person's identifiers in values that are kept:
 * Norwegian personal IDs (fodselsnummer, D- and H-numbers: 11 digits whose
 * two control digits check) and a given person's own ID and name parts.
 * Pure functions; used by the registry (kept CSV cells) and the rules
 * (kept DICOM values).  Nothing here logs or copies a value.
 */
#ifndef DEIDFS_IDENT_H
#define DEIDFS_IDENT_H

#include <stddef.h>

/* Whether the 11 digits at d form a valid personal ID (both mod-11
 * control digits check). */
int ident_fnr_valid(const char d[11]);

/*
 * Whether (s, n) holds a personal ID: 11 digits in a row (or 6 and 5 split
 * by one space, dash or dot) not part of a longer run, whose control
 * digits check; or own (the person's own ID, may be NULL) anywhere, when
 * it has at least 6 characters.
 */
int ident_holds_personal_id(const char *s, size_t n, const char *own);

/*
 * Whether (s, n) holds, as a whole word (letters and digits bounded by
 * anything else), one of the parts of name: a DICOM person name
 * ("Family^Given^Middle^Prefix^Suffix", parts also split at spaces, '-'
 * and '='), each part of at least 3 characters, compared without regard
 * to ASCII case.  name may be NULL.
 */
int ident_holds_name_part(const char *s, size_t n, const char *name);

#endif
