/*
 * verify_values.h - the original values verify looks for, and the forms
 * each is looked for in (internal to the core; see fs/verify_values.c).
 *
 * An original value recorded in the db (an audit row's old value, a
 * record's patient ID or study date) becomes patterns of an acmatch
 * automaton: the value as recorded, in UTF-8 and Latin-1, in upper case,
 * without diacritics (Ødegård as Odegard) and decomposed (NFD); a person
 * name whole and word by word; a date as YYYYMMDD, DD.MM.YYYY and
 * YYYY-MM-DD; an 11-digit personal ID also as 6 + 5 digits.  A pattern's
 * id is its kind (enum vval_kind), with VVAL_SHORT when it is short enough
 * to occur by chance: such a pattern is matched only as a whole word and
 * its hits are reported apart.  Values too short to search at all are
 * counted, never skipped silently.
 *
 * Pure apart from the DICOM dictionary (for the VR of a tag).  Values are
 * PHI: nothing here logs, and the buffers that held them are wiped.
 */
#ifndef DEIDFS_VERIFY_VALUES_H
#define DEIDFS_VERIFY_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "acmatch.h"

enum vval_kind {
	VVAL_NONE = 0,		/* not an identifying value */
	VVAL_PATIENT_ID,	/* PatientID, Other Patient IDs */
	VVAL_NAME,		/* a person name, whole */
	VVAL_NAME_PART,		/* one word of a person name */
	VVAL_DATE,
	VVAL_UID,		/* an original UID */
	VVAL_STUDY_ID,		/* accession number, study ID */
	VVAL_INSTITUTION,	/* institution name, address, department */
	VVAL_TEXT,		/* free text the rules removed */
	VVAL_PRIVATE_TEXT,	/* text of a private attribute removed */
	VVAL_REGISTRY,		/* a registry CSV cell the cleaned CSV drops
				 * (an invitation number) */
	VVAL_COUNT
};

#define VVAL_SHORT 0x100u	/* in a pattern id: a short value */
#define VVAL_KIND(id) ((enum vval_kind)((id) & 0xffu))

/* Below this many letters and digits a value is not searched (counted);
 * below VVAL_LONG (VVAL_LONG_DIGITS for a number) it is short. */
#define VVAL_MIN 3
#define VVAL_LONG 5
#define VVAL_LONG_DIGITS 6
/* A removed text of a few words (a series description "Patient
 * Protocol") also names things in the open (a quarantine reason, a code
 * meaning): below this many letters and digits it is short. */
#define VVAL_LONG_TEXT 24

/* What went into an automaton, for the report. */
struct vval_counts {
	uint64_t values[VVAL_COUNT];	/* distinct calls, by kind */
	uint64_t patterns;		/* patterns added */
	uint64_t short_values;		/* searched as whole words */
	uint64_t too_short;		/* not searched */
	uint64_t unsearchable;		/* recorded by digest (long binary
					 * values) or too long to search */
};

/* A short name of a kind for reports ("person-name", "date", ...). */
const char *vval_kind_name(enum vval_kind k);

/*
 * The kind of the original value of an audit row: its tag path (the last
 * tag decides, "00100010" or "00081115[0].00081155") and action.  Person
 * names (PN), dates (DA, DT), UIDs (UI), patient and study IDs,
 * institution attributes, text of any text VR the rules removed or
 * replaced, and text of private attributes (not their creators).
 * VVAL_NONE for the rest (codes, numbers, times, binary values).
 */
enum vval_kind vval_kind_of(const char *path, const char *action);

/*
 * A set of values being gathered into one automaton (opaque).  vval_new()
 * returns 0 or -ENOMEM; vval_free() accepts NULL and wipes.
 */
struct vval;
int vval_new(struct vval **out);
void vval_free(struct vval *s);

/*
 * Add the patterns of one value (v, len) of kind k.  Multi-valued strings
 * are split at '\'.  Returns 0, or -ENOMEM (a value that cannot be
 * searched is counted, not an error).  Only before vval_compile().
 */
int vval_add(struct vval *s, enum vval_kind k, const void *v, size_t len);

/* Finish the automaton: *a is borrowed from s, read-only, usable from any
 * thread until vval_free(s).  Returns 0 or -ENOMEM. */
int vval_compile(struct vval *s, const struct acm **a);

const struct vval_counts *vval_counts(const struct vval *s);

#endif
