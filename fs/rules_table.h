/*
 * rules_table.h - the tables the rules apply, as rules_new() (rules.h)
 * loads them from the compiled-in data and the other rules modules look
 * them up: Table E.1-1 (fs/data/annex-e.tsv) with its option columns, the
 * safe private attributes of Table E.3.10-1 (safe-private.tsv), the
 * attributes outside Table E.1-1 whose text may be kept (safe-text.tsv),
 * and the CS vocabularies (cs-terms.tsv, read through rules_terms.h).
 *
 * struct rules is read-only once rules_new() returns, so every lookup is
 * thread-safe.  Results point into it: borrowed until rules_free().
 *
 * The enum constants (CODE_X, FORM_TEXT...) are the rules modules' own
 * vocabulary and keep the short names of the standard's codes; only
 * rules_*.c include this header.
 */
#ifndef DEIDFS_RULES_TABLE_H
#define DEIDFS_RULES_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "dcm.h"
#include "rules.h"

/* Action codes (PS3.15 E.1.1) */
enum rules_code {
	CODE_NONE,	/* empty cell */
	CODE_D,		/* replace with a non-zero length dummy value */
	CODE_Z,		/* replace with a zero length value */
	CODE_X,		/* remove */
	CODE_K,		/* keep (sequences: cleaned recursively) */
	CODE_C,		/* clean: replace with values of similar meaning
			 * known not to contain identifying information */
	CODE_U,		/* replace with a consistent non-zero length UID */
	CODE_ZD,	/* Z unless D is required for IOD conformance */
	CODE_XZ,	/* X unless Z is required */
	CODE_XD,	/* X unless D is required */
	CODE_XZD,	/* X unless Z or D is required */
	CODE_XZU,	/* X unless Z or U* (a sequence whose UIDs get U) */
	CODE_COUNT
};

/* Option columns of annex-e.tsv, in the bit order of the RULES_* flags. */
#define RULES_NOPT 8
#define RULES_OPT_LONG_MODIF 6	/* index of rtn_long_modif_dates */

#define RULES_CREATOR_MAX 64	/* LO: private creator values */

/* One row of Table E.1-1. */
struct rules_row {
	uint32_t tag;		/* with the masked nibbles zero */
	uint32_t mask;		/* 0xffffffff for a single tag */
	uint8_t basic;		/* enum rules_code */
	uint8_t opt[RULES_NOPT];	/* enum rules_code per option column */
};

struct rules_terms;

/* The Table E.1-1 row for an even-group tag (exact row, then the 50xx and
 * 60xx masks), or NULL. */
const struct rules_row *rules_table_row(const struct rules *r, uint32_t tag);

/* The row of private attributes ("gggg,eeee"), or NULL when the table
 * has none. */
const struct rules_row *rules_table_private_row(const struct rules *r);

/*
 * The code of a row under the enabled options (RULES_* flags).
 * Precedence: if any enabled option column says K, keep (the user asked
 * to retain this class of information and K is the strongest statement of
 * that); else if any says C, clean; else the basic profile code.  So e.g.
 * Retain Longitudinal Full Dates (K) beats Modified Dates (C) when both
 * are given.
 */
enum rules_code rules_table_row_code(const struct rules_row *row,
				     unsigned opts);

/* Whether e is in the safe-text table and every value of it has the form
 * its row says (code, term, URI, text). */
int rules_table_safe_text(const struct rules *r, const struct dcm_elem *e);

/* Whether element (group,xxEE) is a safe private attribute under the
 * private creator (creator, n) (trimmed, exact). */
int rules_table_safe_private(const struct rules *r, uint16_t group,
			     uint8_t elem, const char *creator, size_t n);

/* The CS vocabularies (rules_terms.h). */
const struct rules_terms *rules_table_terms(const struct rules *r);

#endif
