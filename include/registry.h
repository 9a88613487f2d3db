/*
 * registry.h - the registry CSV (Kreftregisteret-style export): reading it
 * with libcsv, the --csv-spec column roles, and rendering the de-identified
 * copy.
 *
 * Default layout: ';' separated, a header line, column 1 personal ID,
 * column 2 invitation ID, column 3 screening date (dd.mm.yyyy), column 10
 * diagnosis date (may be empty), other columns clinical variables kept as
 * free text (any encoding; cleaned, see registry_render()).  A kept column
 * can be typed (int, number, code, enum): a cell that does not fit its type
 * is emptied and reported.
 *
 * Nothing here logs; problems are reported per row through a callback with
 * the row number and a reason that never quotes a value.
 *
 * Implemented by the registry_*.c modules of fs/ (internal headers beside
 * them): registry_spec.c parses a spec, registry_parse.c reads the CSV,
 * registry_render.c writes the de-identified copy, registry_cell.c knows
 * the forms of a cell (dates, numbers, codes, enums).
 */
#ifndef DEIDFS_REGISTRY_H
#define DEIDFS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#define REGISTRY_DEFAULT_SPEC "1=pseudonym,2=drop,3=month,10=days-since:3"
#define REGISTRY_MAX_COLUMNS 1024
#define REGISTRY_MAX_FIELD (1u << 20)	/* bytes of one field */
#define REGISTRY_MAX_BYTES (1ull << 32)	/* bytes of the whole CSV */

/* Bounds of the typed kept roles. */
#define REGISTRY_INT_DIGITS 18		/* digits of an int (fits int64) */
#define REGISTRY_NUMBER_MAX 32		/* characters of a number */
#define REGISTRY_NUMBER_EXP_DIGITS 3	/* digits of its exponent */
#define REGISTRY_CODE_MAX 16		/* characters of a code */
#define REGISTRY_ENUM_VALUE_MAX 64	/* bytes of one enum value */
#define REGISTRY_ENUM_BYTES 8192	/* bytes of all enum values of a spec */

/* Role of one column (1-based columns; unlisted columns are TEXT). */
enum registry_role {
	REGISTRY_TEXT = 0,	/* free text, cleaned ("text" or "keep") */
	REGISTRY_KEEP = REGISTRY_TEXT,
	REGISTRY_PSEUDONYM,	/* personal ID -> patient pseudonym */
	REGISTRY_DROP,		/* column removed */
	REGISTRY_MONTH,		/* dd.mm.yyyy -> YYYY-MM */
	REGISTRY_DAYS_SINCE,	/* dd.mm.yyyy -> days since column arg */
	REGISTRY_SHIFT,		/* dd.mm.yyyy -> shifted by the patient's
				 * date shift, written dd.mm.yyyy */
	REGISTRY_INT,		/* [+-]digits, 1..REGISTRY_INT_DIGITS */
	REGISTRY_NUMBER,	/* [+-]digits[.,digits][e[+-]digits] */
	REGISTRY_CODE,		/* 1..16 of A-Z a-z 0-9 . _ -, not '-' first */
	REGISTRY_ENUM,		/* exactly one of the spec's values */
};

struct registry_spec;
struct registry;

/*
 * Parse a spec like "1=pseudonym,2=drop,3=month,10=days-since:3,11=shift,
 * 5=int,6=number,7=code,8=enum:ja|nei,9=text" (roles: pseudonym, drop,
 * month, days-since:N, shift; kept: text (alias keep), int, number, code,
 * enum:V1|V2|...).  Exactly one pseudonym column is required.  Enum values
 * are 1..REGISTRY_ENUM_VALUE_MAX bytes without control characters, '|' or
 * ',' (the separators), leading or trailing spaces, and not starting as a
 * spreadsheet formula would (= + - @, other than a plain number); at most
 * REGISTRY_ENUM_BYTES bytes of them in all.  Returns 0, -EINVAL with a
 * message in err naming the offending item (which quotes the spec, never
 * registry data), -ENOMEM.
 */
int registry_spec_parse(const char *spec, struct registry_spec **out,
			char *err, size_t errsz);
void registry_spec_free(struct registry_spec *s);

/* The 1-based pseudonym (personal ID) column of a spec. */
unsigned registry_spec_id_column(const struct registry_spec *s);

struct registry_opts {
	char delimiter;			/* default ';' */
	int has_header;			/* default 1 */
	const struct registry_spec *spec;	/* borrowed */
	unsigned date_column;		/* 1-based key date column for
					 * linking, default 3 */
};

/* One row as the linker sees it. */
struct registry_row {
	uint64_t number;	/* 1-based line number in the file (the header
				 * is row 1 when present) */
	char *patient_id;	/* normalised (trimmed) personal ID; NULL when
				 * missing */
	char study_date[9];	/* key date as YYYYMMDD, "" if unparseable */
	int valid;		/* 0: row cannot be emitted (wrong column
				 * count, missing ID): reported and dropped */
};

/* Report one problem with a row.  reason is a fixed text, never data. */
typedef void (*registry_report_fn)(void *arg, uint64_t row,
				   const char *reason);

/*
 * Read the whole CSV from (buf, len) (a UTF-8 BOM is skipped; CRLF and LF
 * both accepted; quotes per RFC 4180).  Rows whose column count differs from
 * the header's (or the first row's) are reported and marked invalid.  Empty
 * lines are skipped.  *out freed with registry_free().  Returns 0, -EBADMSG
 * (the file cannot be read as CSV at all, err says why), -E2BIG, -ENOMEM.
 */
int registry_parse(const char *buf, size_t len,
		   const struct registry_opts *opts, registry_report_fn report,
		   void *arg, struct registry **out, char *err, size_t errsz);
void registry_free(struct registry *r);

size_t registry_row_count(const struct registry *r);
/* Borrowed until registry_free(). */
const struct registry_row *registry_row(const struct registry *r, size_t i);

/* Callbacks the renderer uses to de-identify a row's ID. */
struct registry_keys {
	/* Write the pseudonym of a normalised personal ID.  Returns 0/-errno. */
	int (*pseudonym)(void *arg, const char *id, char *out, size_t outsz);
	/* Date shift in days for a normalised personal ID. */
	int (*shift_days)(void *arg, const char *id);
	void *arg;
	/* A last column the caller adds, or extra_name NULL: its header
	 * cell, and extra[i] for the row i of registry_row() (NULL, or
	 * extra NULL: empty).  Written as given, quoted where CSV needs it:
	 * the caller's own text, never a registry value. */
	const char *extra_name;
	const char *const *extra;
};

/*
 * Render the de-identified CSV into a malloc'd buffer (*out, *outlen;
 * caller frees).  Only rows i with include[i] != 0 and valid are written,
 * in file order; include may be NULL (all valid rows).  The header line, if
 * any, is written without the dropped columns (its cells cleaned as text).
 * Fields are quoted only when they must be; the delimiter and line ending
 * (LF) are fixed, so the same input gives the same bytes.  An unparseable
 * date is never emitted: the cell is left empty and the row reported.
 *
 * Kept cells: a cell holding a personal ID (ident_holds_personal_id(), or
 * for int, number and code cells their digits read together) is emptied
 * and reported, whatever the role.  A text cell has control characters
 * other than tab and line breaks turned into spaces and a leading
 * apostrophe if a spreadsheet would run it as a formula.  A typed cell
 * (int, number, code, enum) is written without its surrounding spaces if it
 * fits its role, else emptied and reported; a blank one is written empty.
 * Reports name the row and column, never the value.  Returns 0 or
 * -ENOMEM/-errno from a callback.
 */
int registry_render(const struct registry *r, const uint8_t *include,
		    const struct registry_keys *keys,
		    registry_report_fn report, void *arg, char **out,
		    size_t *outlen);

/*
 * The identifying cells of row i, which the renderer never writes: the
 * personal ID column (REGISTRY_ORIG_ID), each date column of a month,
 * days-since or shift role (REGISTRY_ORIG_DATE, as YYYYMMDD; a cell that
 * is not a date: REGISTRY_ORIG_OTHER, as it is) and each dropped column
 * (REGISTRY_ORIG_OTHER).  cb(arg, kind, cell, n) for each cell that is not
 * blank, trimmed, borrowed during the call.  Nothing for an invalid row.
 * For the db, so that verify searches a dataset for them.  Returns 0 or
 * what cb returned.
 */
enum registry_orig {
	REGISTRY_ORIG_ID = 1,
	REGISTRY_ORIG_DATE,
	REGISTRY_ORIG_OTHER,
};
typedef int (*registry_orig_fn)(void *arg, enum registry_orig kind,
				const char *cell, size_t n);
int registry_row_originals(const struct registry *r, size_t i,
			   registry_orig_fn cb, void *arg);

/* Parse dd.mm.yyyy (also d.m.yyyy) into YYYYMMDD; 0 or -EINVAL. */
int registry_parse_date(const char *s, size_t n, char out[9]);

#endif
