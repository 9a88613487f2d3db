/*
 * rules_vr.h - value representations as the rules see them (PS3.5 6.2):
 * the class of an element's VR, the padding of string values, and what a
 * valid value of a VR, and of the attribute's VR and VM in the data
 * dictionary, looks like.  Pure functions (the dictionary is GDCM's,
 * through dicom.h).
 *
 * The enum constants (VK_TEXT...) are the rules modules' own vocabulary;
 * only rules_*.c include this header.
 */
#ifndef DEIDFS_RULES_VR_H
#define DEIDFS_RULES_VR_H

#include <stddef.h>

#include "dcm.h"

#define RULES_UID_MAX 64	/* PS3.5 9.1: a UID has at most 64 chars */

/* VR classes */
enum rules_vk {
	VK_UN,		/* UN or a VR we do not know */
	VK_TEXT,	/* PN LO SH ST LT UT UC */
	VK_DA, VK_DT, VK_TM, VK_AS, VK_UI, VK_AE, VK_UR, VK_CS,
	VK_NUMSTR,	/* IS DS */
	VK_BIN2,	/* US SS OB OW */
	VK_BIN4,	/* UL SL FL AT OL OF */
	VK_BIN8,	/* FD SV UV OD OV */
	VK_SQ,
};

/* Whether e's VR in the file is vr ("PN"). */
int rules_vr_is(const struct dcm_elem *e, const char *vr);

/* The class of e's VR in the file. */
enum rules_vk rules_vr_kind(const struct dcm_elem *e);

/* Narrow (*p, *n) to the value without its padding: leading spaces,
 * trailing spaces and NULs. */
void rules_vr_trim(const char **p, size_t *n);

/* The value bytes of e without their padding (rules_vr_trim()); "" when
 * e has no value.  Borrowed from e. */
void rules_vr_value(const struct dcm_elem *e, const char **p, size_t *n);

/*
 * The values of a multi-valued string value (v, len), split at '\\', each
 * without its padding (rules_vr_trim()): as many values as backslashes
 * plus one, empty ones included (len 0: one empty value).  Borrowed from
 * v; bytes of v at or before the end of a value already returned may be
 * changed by the caller.
 */
struct rules_vr_split {
	const char *v;
	size_t len, at;
	int done;
};

void rules_vr_split_init(struct rules_vr_split *s, const void *v, size_t len);

/* The next value in (*p, *n): 1, or 0 when there are no more. */
int rules_vr_split_next(struct rules_vr_split *s, const char **p, size_t *n);

/* Whether (p, n) is a Specific Character Set term of PS3.3 C.12.1.1.2
 * (empty: the default repertoire). */
int rules_vr_charset_term(const char *p, size_t n);

/*
 * Whether a value about to be kept is a valid instance of its attribute:
 * the file's VR is one the dictionary allows for the tag (an OB label on a
 * CS attribute carries whatever bytes it likes), the number of values fits
 * the tag's VM (a second Modality, an ID spread over US values), and each
 * value is a valid value of its VR (PS3.5 6.2: CS of up to 16 upper-case
 * letters, digits, space and '_'; IS an integer in 32 bits; DS the
 * characters of a decimal; AS nnnD/W/M/Y; lengths of text VRs; no control
 * characters but ESC in single-line text).  vk is rules_vr_kind(e).
 */
int rules_vr_valid(const struct dcm_elem *e, enum rules_vk vk);

#endif
