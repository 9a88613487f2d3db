/*
 * rules.c - DICOM PS3.15 Annex E de-identification of a struct dcm_ds
 * (see include/rules.h).
 *
 * Every attribute, at every sequence depth, is handled by the first of these
 * that applies:
 *
 *  1. Private attributes (odd group): removed (X), private creator elements
 *     included, unless the Retain Safe Private Option is used and the element
 *     (gggg,xxEE) is listed in Table E.3.10-1 (fs/data/safe-private.tsv)
 *     under the private creator that reserves its block, i.e. the value of
 *     (gggg,00xx) with leading and trailing spaces removed equals the listed
 *     creator exactly.  A creator element is kept only while at least one
 *     element of its block is kept.  Groups 0001, 0003, 0005, 0007 and FFFF
 *     are not private groups (PS3.5 7.8.1): always removed.
 *  2. Group length elements (gggg,0000): removed (the writer recomputes what
 *     it needs).
 *  3. Overlays (groups 6000-601E, even) and curves (5000-501E, even):
 *     removed, whatever the table says, because overlay planes and curves
 *     can hold burned-in text and are not needed for the images.
 *  4. Attributes in Table E.1-1 (fs/data/annex-e.tsv): the row's action code,
 *     as modified by the options (see row_code() and act_of_code()).
 *  5. Attributes NOT in Table E.1-1 (even group) and not in the data
 *     dictionary (unassigned public tags): removed.
 *  6. Attributes NOT in Table E.1-1 (even group), by VR.  The table lists
 *     what the standard knows to be identifying; anything else may still be
 *     a vendor's free-text field, so the rule is conservative:
 *     a. PN, LO, SH, ST, LT, UT, UC (free text): removed, unless the tag is
 *        listed in fs/data/safe-text.tsv (attributes such as Manufacturer or
 *        Code Value whose text is fixed vocabulary or written by the
 *        device, never about a person); Code Meaning (0008,0104) is kept
 *        only when white-listed (--whitelist), otherwise replaced with a
 *        dummy: local codes carry typed text;
 *     b. UI: kept when the UID is in the standard's registry (GDCM's
 *        table: SOP Class and Transfer Syntax UIDs...; not any UID under
 *        1.2.840.10008.), otherwise replaced as for U; with the Retain
 *        UIDs Option every UID is kept;
 *     c. DA, DT, TM: removed, unless the Retain Longitudinal Temporal
 *        Information Full Dates Option (kept) or Modified Dates Option (DA
 *        and DT shifted, TM kept) is used;
 *     d. AS: removed, unless the Retain Patient Characteristics Option;
 *     e. UN (unknown VR, its content cannot be judged), AE and UR (names of
 *        systems and addresses): removed (UR kept when in safe-text.tsv);
 *     f. SQ: kept, and this whole rule applies to its items;
 *     g. everything else (CS, IS, DS, binary numbers, OB/OW/OF..., AT):
 *        kept; these VRs cannot hold free text.
 *
 * Whatever is kept (K, a kept private value, rule 6) must be a valid
 * instance of its attribute (VR, VM and form, value_valid()); a CS
 * attribute with a vocabulary in fs/data/cs-terms.tsv keeps only its terms
 * (keep_terms()); and no kept value holds a personal ID or a whole word of
 * a person name of the file (holds_identity()).  A value that fails gets
 * what the IOD needs (a dummy, an empty value) or is removed.
 *
 * Finally PatientName and PatientID (top level) become the pseudonym and the
 * de-identification marks of PS3.15 E.1 and PS3.3 C.7.1.1 are added.
 *
 * Every change is reported through ctx->audit before it is made.  Any
 * failure returns an error and the caller discards the dataset: we fail
 * closed, never half-apply a rule and carry on.
 */
#include "rules.h"
#include "dicom.h"
#include "ident.h"
#include "iod.h"
#include "tables.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The edition of PS3.15 the data files come from (fs/data/README.md). */
#define RULES_EDITION "2026c"

#define UID_MAX 64		/* PS3.5 9.1: a UID has at most 64 chars */
#define CREATOR_MAX 64		/* LO: private creator values */
#define UID_VALUES_MAX 65536	/* bound on a multi-valued UI value */
#define PATH_MAX_LEN 512	/* (8 + "[4294967295]." 13) * 17 + 8 + 1 */
#define WL_MAX_INPUT (1u << 20)
#define WL_MAX_VALUES 10000
#define SMALL 256		/* values up to this size need no malloc */
#define PSEUDO_PN_MAX 66		/* a pseudonym (pseudonym_ok()) and '^' */

/* ---------------------------------------------------------------------- */
/* Action codes (PS3.15 E.1.1) */

enum code {
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

static const char *const code_names[CODE_COUNT] = {
	"", "D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D",
	"X/Z/U*",
};

/* Option columns of annex-e.tsv, in the bit order of the RULES_* flags. */
#define NOPT 8
#define OPT_LONG_MODIF 6	/* index of rtn_long_modif_dates */

static const char *const annex_cols[] = {
	"tag", "name", "keyword", "retired", "in_std_comp_iod", "basic",
	"rtn_safe_priv", "rtn_uids", "rtn_dev_id", "rtn_inst_id",
	"rtn_pat_chars", "rtn_long_full_dates", "rtn_long_modif_dates",
	"clean_desc", "clean_struct_cont", "clean_graph",
};
#define ANNEX_NCOLS (sizeof(annex_cols) / sizeof(annex_cols[0]))
#define ANNEX_COL_BASIC 5
#define ANNEX_COL_OPT0 6

static const char *const sp_cols[] = {
	"private_creator", "tag", "vr", "vm", "meaning",
};
#define SP_NCOLS (sizeof(sp_cols) / sizeof(sp_cols[0]))

static const char *const st_cols[] = { "tag", "keyword", "form", "why" };
#define ST_NCOLS (sizeof(st_cols) / sizeof(st_cols[0]))

static const char *const ct_cols[] = { "tag", "keyword", "value", "term",
				       "ref" };
#define CT_NCOLS (sizeof(ct_cols) / sizeof(ct_cols[0]))
#define CT_TERM_MAX 64		/* LO: Rescale Type */
#define CT_POS_ANY 255		/* "N+": value N and beyond */

#define MAX_COLS 16

struct row {
	uint32_t tag;		/* with the masked nibbles zero */
	uint32_t mask;		/* 0xffffffff for a single tag */
	uint8_t basic;		/* enum code */
	uint8_t opt[NOPT];	/* enum code per option column */
};

struct safe_priv {
	uint16_t group;
	uint8_t elem;		/* EE of (gggg,xxEE) */
	uint8_t creator_len;
	char creator[CREATOR_MAX + 1];
};

/* What a kept value of a safe-text attribute may look like (the "form"
 * column of fs/data/safe-text.tsv), each value of it. */
enum form {
	FORM_NONE = 0,
	FORM_TEXT,	/* printable text within its VR's length */
	FORM_CODE,	/* 1-64 of A-Z a-z 0-9 . _ : / + - (no space) */
	FORM_TERM,	/* 1-64 of A-Z 0-9 _ - and space: a defined term */
	FORM_URI,	/* urn:, http:// or https://, no space, <= 256 */
};

struct rules {
	struct row *rows;	/* single tags, sorted by tag */
	size_t nrows;
	struct row masked[8];	/* repeating groups (50xx, 60xx) */
	size_t nmasked;
	struct row priv;	/* "gggg,eeee": private attributes */
	int has_priv;
	struct safe_priv *sp;	/* sorted by group, elem, creator */
	size_t nsp;
	struct safe_text {
		uint32_t tag;
		uint8_t form;	/* enum form */
	} *safe_text;		/* sorted by tag */
	size_t nsafe_text;
	/* fs/data/cs-terms.tsv: the terms, sorted by tag, term, position;
	 * each term points into the compiled-in table (not NUL-terminated) */
	struct cs_term {
		uint32_t tag;
		uint8_t first, last;	/* value positions, from 1 */
		uint8_t len;
		const char *p;
	} *terms;
	size_t nterms;
	struct cs_vocab {
		uint32_t tag;
		uint32_t first, n;	/* its terms: terms[first..first+n) */
		uint8_t keep;	/* values kept however empty: the highest
				 * position with terms of its own (Image
				 * Type: 3), 0 when every value is alike */
	} *vocab;		/* sorted by tag */
	size_t nvocab;
};

/* ---------------------------------------------------------------------- */
/* Small helpers */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive equality of two byte strings. */
static int eq_ci(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

static int contains_ci(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (eq_ci(s + i, k, needle, k))
			return 1;
	return 0;
}

/* The value bytes of e without leading spaces and trailing spaces/NULs. */
static void trimmed(const struct dcm_elem *e, const char **p, size_t *n)
{
	const char *s = (const char *)e->val;
	size_t a = 0, b = e->val ? e->len : 0;

	while (b > 0 && (s[b - 1] == ' ' || s[b - 1] == '\0'))
		b--;
	while (a < b && s[a] == ' ')
		a++;
	*p = s ? s + a : "";
	*n = b - a;
}

static void trim_span(const char **p, size_t *n)
{
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\0'))
		(*n)--;
	while (*n > 0 && **p == ' ') {
		(*p)++;
		(*n)--;
	}
}

static int vr_is(const struct dcm_elem *e, const char *vr)
{
	return e->vr[0] == vr[0] && e->vr[1] == vr[1];
}

/* ---------------------------------------------------------------------- */
/* VR classes */

enum vk {
	VK_UN,		/* UN or a VR we do not know */
	VK_TEXT,	/* PN LO SH ST LT UT UC */
	VK_DA, VK_DT, VK_TM, VK_AS, VK_UI, VK_AE, VK_UR, VK_CS,
	VK_NUMSTR,	/* IS DS */
	VK_BIN2,	/* US SS OB OW */
	VK_BIN4,	/* UL SL FL AT OL OF */
	VK_BIN8,	/* FD SV UV OD OV */
	VK_SQ,
};

static enum vk vr_kind(const struct dcm_elem *e)
{
	static const struct {
		char vr[3];
		uint8_t kind;
	} map[] = {
		{ "PN", VK_TEXT }, { "LO", VK_TEXT }, { "SH", VK_TEXT },
		{ "ST", VK_TEXT }, { "LT", VK_TEXT }, { "UT", VK_TEXT },
		{ "UC", VK_TEXT }, { "DA", VK_DA }, { "DT", VK_DT },
		{ "TM", VK_TM }, { "AS", VK_AS }, { "UI", VK_UI },
		{ "AE", VK_AE }, { "UR", VK_UR }, { "CS", VK_CS },
		{ "IS", VK_NUMSTR }, { "DS", VK_NUMSTR },
		{ "US", VK_BIN2 }, { "SS", VK_BIN2 }, { "OB", VK_BIN2 },
		{ "OW", VK_BIN2 }, { "UL", VK_BIN4 }, { "SL", VK_BIN4 },
		{ "FL", VK_BIN4 }, { "AT", VK_BIN4 }, { "OL", VK_BIN4 },
		{ "OF", VK_BIN4 }, { "FD", VK_BIN8 }, { "SV", VK_BIN8 },
		{ "UV", VK_BIN8 }, { "OD", VK_BIN8 }, { "OV", VK_BIN8 },
		{ "SQ", VK_SQ },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (vr_is(e, map[i].vr))
			return (enum vk)map[i].kind;
	return VK_UN;
}

/* ---------------------------------------------------------------------- */
/* Table loading */

struct field {
	const char *p;
	size_t n;
};

static int field_is(const struct field *f, const char *s)
{
	return f->n == strlen(s) && memcmp(f->p, s, f->n) == 0;
}

/*
 * Split the next line of text at *pos into exactly ncols TAB-separated
 * fields.  Returns 1 with a line, 0 at the end of the text, -EBADMSG for a
 * line with another number of fields or an empty line before the end.
 */
static int next_line(const char *text, size_t *pos, struct field *f,
		     size_t ncols)
{
	const char *s = text + *pos, *end = strchr(s, '\n');
	size_t len, i, k = 0, start = 0;

	if (!*s)
		return 0;
	len = end ? (size_t)(end - s) : strlen(s);
	*pos += len + (end ? 1 : 0);
	if (len == 0)
		return -EBADMSG;
	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '\t')
			continue;
		if (k == ncols)
			return -EBADMSG;
		f[k].p = s + start;
		f[k].n = i - start;
		k++;
		start = i + 1;
	}
	return k == ncols ? 1 : -EBADMSG;
}

static int check_header(const char *text, size_t *pos,
			const char *const *cols, size_t ncols)
{
	struct field f[MAX_COLS];
	size_t i;
	int err = next_line(text, pos, f, ncols);

	if (err != 1)
		return -EBADMSG;
	for (i = 0; i < ncols; i++)
		if (!field_is(&f[i], cols[i]))
			return -EBADMSG;
	return 0;
}

static int parse_code(const struct field *f, int allow_empty, uint8_t *out)
{
	int c;

	for (c = allow_empty ? CODE_NONE : CODE_D; c < CODE_COUNT; c++) {
		if (field_is(f, code_names[c])) {
			*out = (uint8_t)c;
			return 0;
		}
	}
	return -EBADMSG;
}

/* "GGGG,EEEE" where a digit may be 'x' (masked).  Uppercase hex only, as
 * the data file is written. */
static int parse_tag_mask(const struct field *f, uint32_t *tag,
			  uint32_t *mask)
{
	uint32_t t = 0, m = 0;
	size_t i;

	if (f->n != 9 || f->p[4] != ',')
		return -EBADMSG;
	for (i = 0; i < 9; i++) {
		char c = f->p[i];
		int v;

		if (i == 4)
			continue;
		t <<= 4;
		m <<= 4;
		if (c == 'x') {
			continue;
		}
		v = hexval(c);
		if (v < 0 || (c >= 'a' && c <= 'f'))
			return -EBADMSG;
		t |= (uint32_t)v;
		m |= 0xf;
	}
	*tag = t;
	*mask = m;
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	uint32_t x = ((const struct row *)a)->tag;
	uint32_t y = ((const struct row *)b)->tag;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Count the lines after the header: an upper bound for the arrays. */
static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		if (*text == '\n')
			n++;
	return n + 1;
}

static int load_annex(struct rules *r)
{
	const char *text = tables_annex_e_tsv;
	struct field f[ANNEX_NCOLS];
	size_t pos = 0, i, cap = count_lines(text);
	int err;

	err = check_header(text, &pos, annex_cols, ANNEX_NCOLS);
	if (err)
		return err;
	r->rows = calloc(cap, sizeof(*r->rows));
	if (!r->rows)
		return -ENOMEM;
	while ((err = next_line(text, &pos, f, ANNEX_NCOLS)) == 1) {
		struct row row;

		memset(&row, 0, sizeof(row));
		if (!field_is(&f[3], "Y") && !field_is(&f[3], "N"))
			return -EBADMSG;
		if (!field_is(&f[4], "Y") && !field_is(&f[4], "N"))
			return -EBADMSG;
		if (parse_code(&f[ANNEX_COL_BASIC], 0, &row.basic))
			return -EBADMSG;
		/* A basic C or K would leave nothing to fall back on. */
		if (row.basic == CODE_C || row.basic == CODE_K)
			return -EBADMSG;
		for (i = 0; i < NOPT; i++)
			if (parse_code(&f[ANNEX_COL_OPT0 + i], 1, &row.opt[i]))
				return -EBADMSG;
		for (i = ANNEX_COL_OPT0 + NOPT; i < ANNEX_NCOLS; i++) {
			uint8_t unused;	/* no option flag for these yet */

			if (parse_code(&f[i], 1, &unused))
				return -EBADMSG;
		}
		if (field_is(&f[0], "gggg,eeee")) {
			if (r->has_priv)
				return -EBADMSG;
			row.tag = 0;
			row.mask = 0;
			r->priv = row;
			r->has_priv = 1;
			continue;
		}
		if (parse_tag_mask(&f[0], &row.tag, &row.mask))
			return -EBADMSG;
		if (row.mask == 0xffffffffu) {
			if (r->nrows >= cap)
				return -EBADMSG;
			r->rows[r->nrows++] = row;
		} else {
			if (r->nmasked >= sizeof(r->masked) / sizeof(r->masked[0]))
				return -EBADMSG;
			r->masked[r->nmasked++] = row;
		}
	}
	if (err < 0)
		return err;
	qsort(r->rows, r->nrows, sizeof(r->rows[0]), cmp_row);
	for (i = 1; i < r->nrows; i++)
		if (r->rows[i].tag == r->rows[i - 1].tag)
			return -EBADMSG;
	return 0;
}

static int cmp_sp_key(uint16_t g, uint8_t e, const char *c, size_t cn,
		      const struct safe_priv *b)
{
	size_t m = cn < b->creator_len ? cn : b->creator_len;
	int d;

	if (g != b->group)
		return g < b->group ? -1 : 1;
	if (e != b->elem)
		return e < b->elem ? -1 : 1;
	d = memcmp(c, b->creator, m);
	if (d)
		return d;
	return cn < b->creator_len ? -1 : cn > b->creator_len;
}

static int cmp_sp(const void *a, const void *b)
{
	const struct safe_priv *x = a;

	return cmp_sp_key(x->group, x->elem, x->creator, x->creator_len, b);
}

static int load_safe_private(struct rules *r)
{
	const char *text = tables_safe_private_tsv;
	struct field f[SP_NCOLS];
	size_t pos = 0, i, cap = count_lines(text);
	int err;

	err = check_header(text, &pos, sp_cols, SP_NCOLS);
	if (err)
		return err;
	r->sp = calloc(cap, sizeof(*r->sp));
	if (!r->sp)
		return -ENOMEM;
	while ((err = next_line(text, &pos, f, SP_NCOLS)) == 1) {
		struct safe_priv *sp;
		const char *t = f[1].p;
		int g[4], e[2];

		if (r->nsp >= cap || f[0].n == 0 || f[0].n > CREATOR_MAX)
			return -EBADMSG;
		if (f[1].n != 9 || t[4] != ',' || t[5] != 'x' || t[6] != 'x')
			return -EBADMSG;
		for (i = 0; i < 4; i++)
			if ((g[i] = hexval(t[i])) < 0)
				return -EBADMSG;
		if ((e[0] = hexval(t[7])) < 0 || (e[1] = hexval(t[8])) < 0)
			return -EBADMSG;
		sp = &r->sp[r->nsp++];
		sp->group = (uint16_t)(g[0] << 12 | g[1] << 8 | g[2] << 4 |
				       g[3]);
		sp->elem = (uint8_t)(e[0] << 4 | e[1]);
		if (!(sp->group & 1))
			return -EBADMSG;
		memcpy(sp->creator, f[0].p, f[0].n);
		sp->creator[f[0].n] = 0;
		sp->creator_len = (uint8_t)f[0].n;
	}
	if (err < 0)
		return err;
	qsort(r->sp, r->nsp, sizeof(r->sp[0]), cmp_sp);
	return 0;
}

static const struct row *lookup(const struct rules *r, uint32_t tag);

static int load_safe_text(struct rules *r)
{
	const char *text = tables_safe_text_tsv;
	struct field f[ST_NCOLS];
	size_t pos = 0, i, cap = count_lines(text);
	int err;

	err = check_header(text, &pos, st_cols, ST_NCOLS);
	if (err)
		return err;
	r->safe_text = calloc(cap, sizeof(*r->safe_text));
	if (!r->safe_text)
		return -ENOMEM;
	while ((err = next_line(text, &pos, f, ST_NCOLS)) == 1) {
		uint32_t tag, mask;
		uint8_t form;

		if (parse_tag_mask(&f[0], &tag, &mask) || mask != 0xffffffffu)
			return -EBADMSG;
		form = field_is(&f[2], "text") ? FORM_TEXT :
		       field_is(&f[2], "code") ? FORM_CODE :
		       field_is(&f[2], "term") ? FORM_TERM :
		       field_is(&f[2], "uri") ? FORM_URI : FORM_NONE;
		/* Table E.1-1 wins: a listed tag there is a data error. */
		if ((DCM_GROUP(tag) & 1) || lookup(r, tag) || f[1].n == 0 ||
		    form == FORM_NONE || f[3].n == 0 || r->nsafe_text >= cap)
			return -EBADMSG;
		r->safe_text[r->nsafe_text].tag = tag;
		r->safe_text[r->nsafe_text++].form = form;
	}
	if (err < 0)
		return err;
	qsort(r->safe_text, r->nsafe_text, sizeof(*r->safe_text), cmp_u32);
	for (i = 1; i < r->nsafe_text; i++)
		if (r->safe_text[i].tag == r->safe_text[i - 1].tag)
			return -EBADMSG;
	return 0;
}

static int cmp_term_key(uint32_t tag, const char *p, size_t n,
			const struct cs_term *b)
{
	size_t m = n < b->len ? n : b->len;
	int d;

	if (tag != b->tag)
		return tag < b->tag ? -1 : 1;
	d = memcmp(p, b->p, m);
	if (d)
		return d;
	return n < b->len ? -1 : n > b->len;
}

static int cmp_term(const void *a, const void *b)
{
	const struct cs_term *x = a, *y = b;
	int d = cmp_term_key(x->tag, x->p, x->len, y);

	if (d)
		return d;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* "*", "N" or "N+" (1 <= N <= 99): the value positions a term may take. */
static int parse_pos(const struct field *f, uint8_t *first, uint8_t *last)
{
	size_t i = 0;
	unsigned v = 0;

	if (field_is(f, "*")) {
		*first = 1;
		*last = CT_POS_ANY;
		return 0;
	}
	for (; i < f->n && i < 2 && f->p[i] >= '0' && f->p[i] <= '9'; i++)
		v = v * 10 + (unsigned)(f->p[i] - '0');
	if (!i || !v || (i < f->n && (f->p[i] != '+' || i + 1 != f->n)) ||
	    (i == f->n && f->n > 2))
		return -EBADMSG;
	*first = (uint8_t)v;
	*last = i < f->n ? CT_POS_ANY : (uint8_t)v;
	return 0;
}

/* A term as a kept CS value may hold it: upper case, digits, space, '_'
 * (PS3.5 6.2), no leading or trailing space. */
static int term_ok(const struct field *f)
{
	size_t i;

	if (!f->n || f->n > CT_TERM_MAX || f->p[0] == ' ' ||
	    f->p[f->n - 1] == ' ')
		return 0;
	for (i = 0; i < f->n; i++)
		if (!((f->p[i] >= 'A' && f->p[i] <= 'Z') ||
		      (f->p[i] >= '0' && f->p[i] <= '9') || f->p[i] == ' ' ||
		      f->p[i] == '_'))
			return 0;
	return 1;
}

static int load_cs_terms(struct rules *r)
{
	const char *text = tables_cs_terms_tsv, *kw = NULL;
	struct field f[CT_NCOLS];
	size_t pos = 0, i, kwn = 0, cap;
	int err;

	/* the comment lines at the top say where the terms come from */
	while (text[pos] == '#') {
		const char *nl = strchr(text + pos, '\n');

		if (!nl)
			return -EBADMSG;
		pos = (size_t)(nl - text) + 1;
	}
	cap = count_lines(text + pos);
	err = check_header(text, &pos, ct_cols, CT_NCOLS);
	if (err)
		return err;
	r->terms = calloc(cap, sizeof(*r->terms));
	r->vocab = calloc(cap, sizeof(*r->vocab));
	if (!r->terms || !r->vocab)
		return -ENOMEM;
	while ((err = next_line(text, &pos, f, CT_NCOLS)) == 1) {
		struct cs_term *t;
		uint32_t tag, mask;

		if (r->nterms >= cap || parse_tag_mask(&f[0], &tag, &mask) ||
		    mask != 0xffffffffu || (DCM_GROUP(tag) & 1) ||
		    !f[1].n || !f[4].n || !term_ok(&f[3]))
			return -EBADMSG;
		t = &r->terms[r->nterms];
		if (parse_pos(&f[2], &t->first, &t->last))
			return -EBADMSG;
		/* one keyword per tag, rows of a tag together */
		if (r->nterms && r->terms[r->nterms - 1].tag == tag) {
			if (f[1].n != kwn || memcmp(f[1].p, kw, kwn))
				return -EBADMSG;
		} else {
			for (i = 0; i < r->nvocab; i++)
				if (r->vocab[i].tag == tag)
					return -EBADMSG;
			r->vocab[r->nvocab].tag = tag;
			r->vocab[r->nvocab++].first = (uint32_t)r->nterms;
			kw = f[1].p;
			kwn = f[1].n;
		}
		t->tag = tag;
		t->p = f[3].p;
		t->len = (uint8_t)f[3].n;
		r->vocab[r->nvocab - 1].n++;
		if (t->first > r->vocab[r->nvocab - 1].keep)
			r->vocab[r->nvocab - 1].keep = t->first;
		r->nterms++;
	}
	if (err < 0)
		return err;
	qsort(r->terms, r->nterms, sizeof(*r->terms), cmp_term);
	qsort(r->vocab, r->nvocab, sizeof(*r->vocab), cmp_u32);
	for (i = 0; i < r->nterms; i++) {
		const struct cs_term *a = &r->terms[i], *b = a + 1;

		/* the same term listed twice for overlapping positions */
		if (i + 1 < r->nterms && a->tag == b->tag && a->len == b->len &&
		    !memcmp(a->p, b->p, a->len) && b->first <= a->last)
			return -EBADMSG;
	}
	for (i = 0; i < r->nvocab; i++) {	/* first: after the sort */
		size_t lo = 0, hi = r->nterms;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (r->terms[mid].tag < r->vocab[i].tag)
				lo = mid + 1;
			else
				hi = mid;
		}
		r->vocab[i].first = (uint32_t)lo;
		/* "*" rows say nothing about positions */
		if (r->vocab[i].keep == 1) {
			size_t k;

			for (k = lo; k < lo + r->vocab[i].n; k++)
				if (r->terms[k].last != CT_POS_ANY ||
				    r->terms[k].first != 1)
					break;
			if (k == lo + r->vocab[i].n)
				r->vocab[i].keep = 0;
		}
	}
	return 0;
}

int rules_new(struct rules **out)
{
	struct rules *r;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = load_annex(r);
	if (!err)
		err = load_safe_private(r);
	if (!err)
		err = load_safe_text(r);
	if (!err)
		err = load_cs_terms(r);
	if (err) {
		rules_free(r);
		return err;
	}
	*out = r;
	return 0;
}

void rules_free(struct rules *r)
{
	if (!r)
		return;
	free(r->rows);
	free(r->sp);
	free(r->safe_text);
	free(r->terms);
	free(r->vocab);
	free(r);
}

size_t rules_table_rows(const struct rules *r)
{
	return r->nrows + r->nmasked + (r->has_priv ? 1 : 0);
}

/* The Table E.1-1 row for an even-group tag, or NULL. */
static const struct row *lookup(const struct rules *r, uint32_t tag)
{
	size_t lo = 0, hi = r->nrows, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->rows[mid].tag == tag)
			return &r->rows[mid];
		if (r->rows[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = 0; i < r->nmasked; i++)
		if ((tag & r->masked[i].mask) == r->masked[i].tag)
			return &r->masked[i];
	return NULL;
}

const char *rules_basic_code(const struct rules *r, uint32_t tag)
{
	const struct row *row;

	if (DCM_GROUP(tag) & 1)
		return r->has_priv ? code_names[r->priv.basic] : NULL;
	row = lookup(r, tag);
	return row ? code_names[row->basic] : NULL;
}

/* The form a kept value of tag must have, FORM_NONE when tag is not in
 * the safe-text table.  (cmp_u32 compares the leading tag.) */
static enum form safe_text_form(const struct rules *r, uint32_t tag)
{
	const struct safe_text *st = bsearch(&tag, r->safe_text,
					     r->nsafe_text,
					     sizeof(*r->safe_text), cmp_u32);

	return st ? (enum form)st->form : FORM_NONE;
}

static int form_value_ok(enum form form, const char *p, size_t n)
{
	size_t i;

	if (form == FORM_TEXT)
		return 1;	/* length and characters: value_valid() */
	if (!n)
		return 1;
	if (n > (form == FORM_URI ? 256u : 64u))
		return 0;
	if (form == FORM_URI && !(n > 4 && !memcmp(p, "urn:", 4)) &&
	    !(n > 7 && !memcmp(p, "http://", 7)) &&
	    !(n > 8 && !memcmp(p, "https://", 8)))
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];
		int alnum = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		switch (form) {
		case FORM_CODE:
			if (!alnum && !(c >= 'a' && c <= 'z') &&
			    !strchr("._:/+-", c))
				return 0;
			break;
		case FORM_TERM:
			if (!alnum && c != '_' && c != '-' && c != ' ')
				return 0;
			break;
		case FORM_URI:
			if (c <= ' ' || c >= 0x7f || strchr("\"<>\\^`{|}", c))
				return 0;
			break;
		default:
			return 0;
		}
	}
	return 1;
}

/* Every value of e (split at '\\', padding trimmed) has the form. */
static int form_ok(const struct dcm_elem *e, enum form form)
{
	const char *v = (const char *)e->val;
	size_t len = e->len, start = 0, i;

	if (form == FORM_TEXT || !v)
		return 1;
	while (len && (v[len - 1] == ' ' || v[len - 1] == 0))
		len--;
	for (i = 0; i <= len; i++) {
		const char *p;
		size_t n;

		if (i < len && v[i] != '\\')
			continue;
		p = v + start;
		n = i - start;
		start = i + 1;
		trim_span(&p, &n);
		if (!form_value_ok(form, p, n))
			return 0;
	}
	return 1;
}

static int is_safe_text(const struct rules *r, const struct dcm_elem *e)
{
	enum form form = safe_text_form(r, e->tag);

	return form != FORM_NONE && form_ok(e, form);
}

/* The vocabulary of tag (its rows of fs/data/cs-terms.tsv), or NULL.
 * (cmp_u32 compares the leading tag.) */
static const struct cs_vocab *vocab_of(const struct rules *r, uint32_t tag)
{
	return bsearch(&tag, r->vocab, r->nvocab, sizeof(*r->vocab), cmp_u32);
}

/* Whether (p, n) is a term of the vocabulary for value position pos
 * (from 1). */
static int vocab_has(const struct rules *r, const struct cs_vocab *v,
		     size_t pos, const char *p, size_t n)
{
	const struct cs_term *t = r->terms + v->first;
	size_t lo = 0, hi = v->n, k;

	if (n > CT_TERM_MAX)
		return 0;
	if (pos > CT_POS_ANY)
		pos = CT_POS_ANY;
	while (lo < hi) {	/* the first row of the term, if any */
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_term_key(v->tag, p, n, &t[mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo; k < v->n && !cmp_term_key(v->tag, p, n, &t[k]); k++)
		if (t[k].first <= pos && pos <= t[k].last)
			return 1;
	return 0;
}

int rules_cs_term(const struct rules *r, uint32_t tag, unsigned pos,
		  const char *term)
{
	const struct cs_vocab *v = vocab_of(r, tag);

	if (!v)
		return -ENOENT;
	return pos && vocab_has(r, v, pos, term, strlen(term));
}

static int is_safe_private(const struct rules *r, uint16_t g, uint8_t e,
			   const char *creator, size_t n)
{
	size_t lo = 0, hi = r->nsp;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = cmp_sp_key(g, e, creator, n, &r->sp[mid]);

		if (d == 0)
			return 1;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* White list */

struct wl_entry {
	uint32_t tag;
	uint32_t len;
	const char *s;		/* into pool, trimmed, NUL-terminated */
};

struct rules_whitelist {
	struct wl_entry *e;
	size_t n, cap;		/* entries used, allocated */
	char *pool;
};

static int cmp_wl(const void *a, const void *b)
{
	uint32_t x = ((const struct wl_entry *)a)->tag;
	uint32_t y = ((const struct wl_entry *)b)->tag;

	return x < y ? -1 : x > y;
}

/* True when the trimmed value of e is listed for its tag (exact after
 * trimming spaces, ASCII case-insensitive, like the original tool). */
static int wl_match(const struct rules_whitelist *wl,
		    const struct dcm_elem *e)
{
	size_t lo = 0, hi, n;
	const char *p;

	if (!wl || !e->val)
		return 0;
	hi = wl->n;
	while (lo < hi) {	/* first entry with tag >= e->tag */
		size_t mid = lo + (hi - lo) / 2;

		if (wl->e[mid].tag < e->tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	trimmed(e, &p, &n);
	for (; lo < wl->n && wl->e[lo].tag == e->tag; lo++)
		if (eq_ci(p, n, wl->e[lo].s, wl->e[lo].len))
			return 1;
	return 0;
}

struct jp {
	const char *s;
	size_t n, i;
	const char *msg;	/* first error: never quotes the input */
};

static int jp_fail(struct jp *j, const char *msg)
{
	if (!j->msg)
		j->msg = msg;
	return -EBADMSG;
}

static void jp_ws(struct jp *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
			       j->s[j->i] == '\n' || j->s[j->i] == '\r'))
		j->i++;
}

static int jp_expect(struct jp *j, char c, const char *msg)
{
	jp_ws(j);
	if (j->i >= j->n || j->s[j->i] != c)
		return jp_fail(j, msg);
	j->i++;
	return 0;
}

static int jp_hex4(struct jp *j, unsigned *out)
{
	unsigned v = 0;
	size_t k;

	if (j->n - j->i < 4)
		return jp_fail(j, "truncated \\u escape");
	for (k = 0; k < 4; k++) {
		int h = hexval(j->s[j->i + k]);

		if (h < 0)
			return jp_fail(j, "bad \\u escape");
		v = v << 4 | (unsigned)h;
	}
	j->i += 4;
	*out = v;
	return 0;
}

static size_t utf8_put(unsigned cp, char *d)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n) (n >= 1), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned cp;
	size_t len, k;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * Parse a JSON string at j->i into d (room for the raw length is enough:
 * escapes never grow).  *dn gets the decoded length; d is NUL-terminated.
 */
static int jp_string(struct jp *j, char *d, size_t dcap, size_t *dn)
{
	size_t k = 0;

	jp_ws(j);
	if (j->i >= j->n || j->s[j->i] != '"')
		return jp_fail(j, "expected a string");
	j->i++;
	for (;;) {
		unsigned char c;

		if (j->i >= j->n)
			return jp_fail(j, "unterminated string");
		c = (unsigned char)j->s[j->i];
		if (c == '"') {
			j->i++;
			break;
		}
		if (k + 4 >= dcap)
			return jp_fail(j, "string too long");
		if (c < 0x20)
			return jp_fail(j, "control character in string");
		if (c >= 0x80) {
			size_t len = utf8_len((const unsigned char *)j->s + j->i,
					      j->n - j->i);

			if (!len)
				return jp_fail(j, "invalid UTF-8");
			memcpy(d + k, j->s + j->i, len);
			k += len;
			j->i += len;
			continue;
		}
		j->i++;
		if (c != '\\') {
			d[k++] = (char)c;
			continue;
		}
		if (j->i >= j->n)
			return jp_fail(j, "unterminated string");
		c = (unsigned char)j->s[j->i++];
		switch (c) {
		case '"': case '\\': case '/':
			d[k++] = (char)c;
			break;
		case 'b': d[k++] = '\b'; break;
		case 'f': d[k++] = '\f'; break;
		case 'n': d[k++] = '\n'; break;
		case 'r': d[k++] = '\r'; break;
		case 't': d[k++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;

			if (jp_hex4(j, &cp))
				return -EBADMSG;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jp_fail(j, "lone surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (j->n - j->i < 2 || j->s[j->i] != '\\' ||
				    j->s[j->i + 1] != 'u')
					return jp_fail(j, "lone surrogate");
				j->i += 2;
				if (jp_hex4(j, &lo))
					return -EBADMSG;
				if (lo < 0xdc00 || lo > 0xdfff)
					return jp_fail(j, "lone surrogate");
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			if (cp == 0)
				return jp_fail(j, "NUL in string");
			k += utf8_put(cp, d + k);
			break;
		}
		default:
			return jp_fail(j, "bad escape");
		}
	}
	d[k] = 0;
	*dn = k;
	return 0;
}

/* A key "GGGG,EEEE" (hex in either case, spaces allowed around the
 * parts). */
static int parse_key(const char *s, size_t n, uint32_t *tag)
{
	uint32_t v = 0;
	size_t i = 0, part, k;

	for (part = 0; part < 2; part++) {
		while (i < n && s[i] == ' ')
			i++;
		for (k = 0; k < 4; k++, i++) {
			int h = i < n ? hexval(s[i]) : -1;

			if (h < 0)
				return -EBADMSG;
			v = v << 4 | (uint32_t)h;
		}
		while (i < n && s[i] == ' ')
			i++;
		if (part == 0) {
			if (i >= n || s[i] != ',')
				return -EBADMSG;
			i++;
		}
	}
	if (i != n)
		return -EBADMSG;
	*tag = v;
	return 0;
}

static int wl_parse(struct jp *j, struct rules_whitelist *wl, size_t cap)
{
	char key[64];
	size_t used = 0, kn;
	int err;

	err = jp_expect(j, '{', "expected an object");
	if (err)
		return err;
	jp_ws(j);
	if (j->i < j->n && j->s[j->i] == '}') {
		j->i++;
		goto end;
	}
	for (;;) {
		uint32_t tag;

		err = jp_string(j, key, sizeof(key), &kn);
		if (err)
			return err;
		if (parse_key(key, kn, &tag))
			return jp_fail(j, "key is not a tag GGGG,EEEE");
		err = jp_expect(j, ':', "expected ':'");
		if (!err)
			err = jp_expect(j, '[', "expected an array");
		if (err)
			return err;
		jp_ws(j);
		if (j->i < j->n && j->s[j->i] == ']') {
			j->i++;
		} else {
			for (;;) {
				char *d = wl->pool + used;
				size_t dn;

				if (wl->n >= wl->cap)
					return jp_fail(j, "too many values");
				err = jp_string(j, d, cap - used, &dn);
				if (err)
					return err;
				used += dn + 1;
				while (dn > 0 && d[dn - 1] == ' ')
					d[--dn] = 0;
				while (*d == ' ') {
					d++;
					dn--;
				}
				wl->e[wl->n].tag = tag;
				wl->e[wl->n].s = d;
				wl->e[wl->n].len = (uint32_t)dn;
				wl->n++;
				jp_ws(j);
				if (j->i < j->n && j->s[j->i] == ',') {
					j->i++;
					continue;
				}
				err = jp_expect(j, ']', "expected ',' or ']'");
				if (err)
					return err;
				break;
			}
		}
		jp_ws(j);
		if (j->i < j->n && j->s[j->i] == ',') {
			j->i++;
			continue;
		}
		err = jp_expect(j, '}', "expected ',' or '}'");
		if (err)
			return err;
		break;
	}
end:
	jp_ws(j);
	if (j->i != j->n)
		return jp_fail(j, "trailing data after the object");
	return 0;
}

int rules_whitelist_parse(const char *json, size_t len,
			  struct rules_whitelist **out, char *err,
			  size_t errsz)
{
	struct rules_whitelist *wl = NULL;
	struct jp j = { json, len, 0, NULL };
	size_t maxvals;
	int ret;

	*out = NULL;
	if (err && errsz)
		err[0] = 0;
	if (!json || len > WL_MAX_INPUT) {
		j.msg = "white list too large (over 1 MiB)";
		ret = -EBADMSG;
		goto out;
	}
	ret = -ENOMEM;
	wl = calloc(1, sizeof(*wl));
	if (!wl)
		goto out;
	/* Each value takes at least 3 input bytes ("",). */
	maxvals = len / 3 + 1;
	if (maxvals > WL_MAX_VALUES)
		maxvals = WL_MAX_VALUES;
	wl->e = calloc(maxvals, sizeof(*wl->e));
	wl->cap = maxvals;
	/* Decoded strings plus their NULs never exceed the input (quotes). */
	wl->pool = malloc(len + 8);
	if (!wl->e || !wl->pool)
		goto out;
	ret = wl_parse(&j, wl, len + 8);
	if (ret)
		goto out;
	qsort(wl->e, wl->n, sizeof(wl->e[0]), cmp_wl);
	*out = wl;
	wl = NULL;
out:
	if (ret == -EBADMSG && err && errsz)
		snprintf(err, errsz, "white list: byte %zu: %s", j.i,
			 j.msg ? j.msg : "invalid");
	rules_whitelist_free(wl);
	return ret;
}

void rules_whitelist_free(struct rules_whitelist *wl)
{
	if (!wl)
		return;
	free(wl->e);
	free(wl->pool);
	free(wl);
}

/* ---------------------------------------------------------------------- */
/* Applying the rules */

/* What to do with one element, once codes and options are resolved. */
enum act {
	ACT_KEEP,	/* K; a sequence is kept and its items cleaned */
	ACT_X,
	ACT_Z,
	ACT_D,
	ACT_U,		/* every UID replaced */
	ACT_U_STD,	/* UIDs replaced except the standard's own */
	ACT_DATE,	/* DA/DT shifted, TM kept */
	ACT_C,		/* clean (needs the row) */
};

struct walk {
	const struct rules *r;
	const struct rules_ctx *ctx;
	const struct ident_words *names;	/* ctx->names or our own */
	unsigned opts;
	int iod;			/* iod_find(ctx->iod_name) */
	uint32_t tags[DCM_MAX_DEPTH + 2];	/* tag path of the current
						 * element, tags[depth] */
	char path[PATH_MAX_LEN];
};

/* What the file's IOD asks of the current attribute (at depth). */
enum need {
	NEED_UNKNOWN_IOD,	/* no IOD: take the alternative that keeps
				 * any IOD conformant */
	NEED_NONE,		/* Type 3, or not in the IOD at this path */
	NEED_PRESENT,		/* Type 2, 2C: present, may be empty */
	NEED_VALUE,		/* Type 1, 1C: present with a value */
};

static enum need need_of(const struct walk *w, unsigned depth)
{
	if (w->iod == IOD_NONE)
		return NEED_UNKNOWN_IOD;
	switch (iod_type(w->iod, w->tags, depth + 1)) {
	case IOD_TYPE_1:
	case IOD_TYPE_1C:
		/* 1C: the source holds the attribute, so we take it that
		 * its condition holds */
		return NEED_VALUE;
	case IOD_TYPE_2:
	case IOD_TYPE_2C:
		return NEED_PRESENT;
	default:
		return NEED_NONE;
	}
}

/*
 * The code of a row under the enabled options.  Precedence: if any enabled
 * option column says K, keep (the user asked to retain this class of
 * information and K is the strongest statement of that); else if any says
 * C, clean; else the basic profile code.  So e.g. Retain Longitudinal Full
 * Dates (K) beats Modified Dates (C) when both are given.
 */
static enum code row_code(const struct row *row, unsigned opts)
{
	int c = 0;
	size_t i;

	for (i = 0; i < NOPT; i++) {
		if (!(opts & (1u << i)))
			continue;
		if (row->opt[i] == CODE_K)
			return CODE_K;
		if (row->opt[i] == CODE_C)
			c = 1;
	}
	return c ? CODE_C : (enum code)row->basic;
}

/*
 * PS3.15 E.1.1: a compound code's alternative is the one the attribute's
 * Type in the IOD needs, at the attribute's own nesting level: X where it
 * is Type 3 (or not in the IOD there), Z where Type 2 or 2C, D where Type
 * 1 or 1C; X/Z/U* keeps (and cleans) a required sequence of references or
 * replaces a required UID.  Removing keeps nothing, so X is also the most
 * private choice.  When the file's IOD is not known (a SOP class GDCM's
 * tables do not describe), the alternative that keeps any IOD conformant:
 * D for Z/D, X/D and X/Z/D, Z for X/Z.  A D on a sequence is a dummy item
 * (see act_dummy_seq()); a Z empties it.
 */
static enum act act_of_code(enum code c, enum vk vk, enum need need)
{
	switch (c) {
	case CODE_K:
		return ACT_KEEP;
	case CODE_C:
		return ACT_C;
	case CODE_D:
		return ACT_D;
	case CODE_ZD:
		return need == NEED_VALUE || need == NEED_UNKNOWN_IOD ? ACT_D
								      : ACT_Z;
	case CODE_XD:
		return need == NEED_NONE ? ACT_X : ACT_D;
	case CODE_XZD:
		if (need == NEED_NONE)
			return ACT_X;
		return need == NEED_PRESENT ? ACT_Z : ACT_D;
	case CODE_Z:
		return ACT_Z;
	case CODE_XZ:
		return need == NEED_NONE ? ACT_X : ACT_Z;
	case CODE_U:
	case CODE_XZU:
		if (c == CODE_XZU && need == NEED_NONE)
			return ACT_X;
		if (vk == VK_SQ)
			return ACT_KEEP;
		if (vk == VK_UI || (c == CODE_U && vk == VK_UN))
			return ACT_U;
		return ACT_Z;
	case CODE_X:
	default:
		return ACT_X;
	}
}

static int do_audit(struct walk *w, const char *action, const void *old,
		    size_t oldlen, const void *newv, size_t newlen)
{
	if (!w->ctx->audit)
		return 0;
	return w->ctx->audit(w->ctx->arg, w->path, action, old, oldlen, newv,
			     newlen);
}

/* Write the tag of the current element at path[plen]. */
static void path_tag(struct walk *w, size_t plen, uint32_t tag)
{
	snprintf(w->path + plen, sizeof(w->path) - plen, "%08X", tag);
}

/* Audit the removal of ds->el[i]; walk_ds() drops it afterwards, all
 * removals of a dataset in one pass (one at a time would be quadratic in
 * the number of elements, which a hostile file chooses). */
static int remove_at(struct walk *w, struct dcm_ds *ds, uint32_t i)
{
	struct dcm_elem *e = &ds->el[i];

	return do_audit(w, "X", e->val, e->len, NULL, 0);
}

/*
 * Replace the value of e by (v, n), padded to even length with pad, after
 * auditing.  Keeps tag and VR; clears the encapsulated flag and any items.
 * A change that leaves the bytes as they were is not audited.
 */
static int replace(struct walk *w, struct dcm_elem *e, const char *action,
		   const void *v, size_t n, char pad)
{
	size_t len = n + (n & 1);
	uint32_t tag = e->tag;
	uint8_t *nv = NULL;
	char vr[3];
	int err;

	if (len > DCM_MAX_VALUE)
		return -EBADMSG;
	if (len == e->len && !e->nitems && (!len || !memcmp(e->val, v, n)) &&
	    (!(n & 1) || e->val[n] == (uint8_t)pad))
		return 0;
	if (len) {
		nv = malloc(len);
		if (!nv)
			return -ENOMEM;
		memcpy(nv, v, n);
		if (n & 1)
			nv[n] = (uint8_t)pad;
	}
	err = do_audit(w, action, e->val, e->len, nv ? (void *)nv : "", len);
	if (err) {
		free(nv);
		return err;
	}
	memcpy(vr, e->vr, sizeof(vr));
	dcm_elem_clear(e);
	e->tag = tag;
	memcpy(e->vr, vr, sizeof(vr));
	e->val = nv;
	e->len = (uint32_t)len;
	return 0;
}

/* Z: a zero-length value; a sequence loses its items. */
static int act_zero(struct walk *w, struct dcm_elem *e)
{
	return replace(w, e, "Z", NULL, 0, ' ');
}

/* A UID of the standard's registry (SOP classes, transfer syntaxes,
 * coding schemes, well-known frames of reference...): GDCM's table, not a
 * prefix test, since anything can be written under 1.2.840.10008. */
static int is_std_uid(const char *s, size_t n)
{
	char u[UID_MAX + 1];

	if (n > UID_MAX)
		return 0;
	memcpy(u, s, n);
	u[n] = 0;
	return dicom_uid_is_well_known(u);
}

/*
 * U: replace each UID of a (multi-valued) UI value by ctx->map_uid.  Empty
 * values and empty components stay empty.  With keep_std, the standard's
 * own UIDs are kept.  The input need not be a well-formed UID; a
 * component with an embedded NUL cannot be passed on faithfully: -EBADMSG.
 */
static int act_uid(struct walk *w, struct dcm_elem *e, int keep_std,
		   const char *action)
{
	char sscratch[SMALL], sout[SMALL], mapped[UID_MAX + 16];
	char *scratch = NULL, *out = NULL;
	size_t ncomp = 1, i, start = 0, o = 0, outcap, len = e->len;
	int err = 0;

	if (!e->val || !len)
		return 0;
	for (i = 0; i < len; i++)
		ncomp += e->val[i] == '\\';
	if (ncomp > UID_VALUES_MAX)
		return -EBADMSG;
	outcap = ncomp * (UID_MAX + 1);
	scratch = len + 1 <= sizeof(sscratch) ? sscratch : malloc(len + 1);
	out = outcap <= sizeof(sout) ? sout : malloc(outcap);
	if (!scratch || !out) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(scratch, e->val, len);
	scratch[len] = 0;
	for (i = 0; i <= len; i++) {
		const char *p;
		size_t n;

		if (i < len && scratch[i] != '\\')
			continue;
		p = scratch + start;
		n = i - start;
		start = i + 1;
		trim_span(&p, &n);
		if (o)
			out[o++] = '\\';
		if (!n)
			continue;
		if (memchr(p, 0, n)) {
			err = -EBADMSG;
			goto out;
		}
		if (keep_std && is_std_uid(p, n) && n <= UID_MAX) {
			memcpy(out + o, p, n);
			o += n;
			continue;
		}
		if (!w->ctx->map_uid) {
			err = -EINVAL;
			goto out;
		}
		scratch[(p - scratch) + n] = 0;	/* a C string for map_uid */
		memset(mapped, 0, sizeof(mapped));
		err = w->ctx->map_uid(w->ctx->arg, p, mapped, sizeof(mapped));
		if (err)
			goto out;
		n = strnlen(mapped, sizeof(mapped));
		if (n == 0 || n > UID_MAX || memchr(mapped, '\\', n)) {
			err = -EBADMSG;
			goto out;
		}
		memcpy(out + o, mapped, n);
		o += n;
	}
	err = replace(w, e, action, out, o, '\0');
out:
	/* both held original UIDs */
	if (scratch)
		explicit_bzero(scratch, len + 1);
	if (out)
		explicit_bzero(out, outcap);
	if (scratch != sscratch)
		free(scratch);
	if (out != sout)
		free(out);
	return err;
}

static int charset_term(const char *p, size_t n);

static const char *modality_lut_type(const struct dcm_elem *e)
{
	static const char *const terms[] = { "OD", "HU", "US", "MGML",
					     "Z_EFF", "ED", "EDW", "HU_MOD",
					     "PCT" };
	const char *p;
	size_t n, i;

	trimmed(e, &p, &n);
	for (i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
		if (n == strlen(terms[i]) && !memcmp(p, terms[i], n))
			return terms[i];
	return "US";
}

/* D: a dummy value consistent with the VR (PS3.15 E.1.1). */
static int act_dummy(struct walk *w, struct dcm_elem *e, enum vk vk)
{
	static const uint8_t zeros[8];
	const char *s;

	switch (vk) {
	case VK_DA: s = "19000101"; break;
	case VK_TM: s = "000000.00"; break;
	case VK_DT: s = "19000101000000.000000"; break;
	case VK_AS: s = "000Y"; break;
	case VK_NUMSTR: s = "0"; break;
	case VK_CS:
		s = "ANON";	/* CS allows upper case only */
		/* a character set must stay one: its first value when that
		 * is a term, otherwise none (the default repertoire) */
		if (e->tag == DCM_TAG(0x0008, 0x0005)) {
			const char *p = (const char *)e->val;
			size_t n = e->len, i;

			for (i = 0; i < n && p[i] != '\\'; i++)
				;
			if (!i || !charset_term(p, i))
				return act_zero(w, e);
			return replace(w, e, "D", p, i, ' ');
		}
		break;
	case VK_TEXT:
		/* a PN with its family name delimiter (see rules_apply()) */
		s = vr_is(e, "PN") ? "ANONYMIZED^" : "ANONYMIZED";
		/* Modality LUT Type and Rescale Type: one of their defined
		 * terms (PS3.3 C.11.1.1.2) stays, anything else is "US",
		 * unspecified */
		if (e->tag == DCM_TAG(0x0028, 0x3004) ||
		    e->tag == DCM_TAG(0x0028, 0x1054))
			s = modality_lut_type(e);
		break;
	case VK_AE:	/* "ANONYMIZED" fits AE and SH (16 chars) */
	case VK_UR:
		s = "ANONYMIZED";
		break;
	case VK_UI:
		/* A dummy UID must still be consistent across files. */
		return act_uid(w, e, 0, "D");
	case VK_BIN2:
		return replace(w, e, "D", zeros, 2, 0);
	case VK_BIN4:
		return replace(w, e, "D", zeros, 4, 0);
	case VK_BIN8:
		return replace(w, e, "D", zeros, 8, 0);
	case VK_SQ:
	case VK_UN:
	default:
		/* UN: we cannot write a value of an unknown type; the empty
		 * value removes the content just as well. */
		return act_zero(w, e);
	}
	return replace(w, e, "D", s, strlen(s), ' ');
}

static int is_leap(long long y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(long long y, unsigned m)
{
	static const unsigned char dim[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, unsigned *m,
			    unsigned *d)
{
	long long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Shift the YYYYMMDD at s (in place) by days.  Returns 0 or -EBADMSG. */
static int shift_ymd(char *s, int days)
{
	long long y = 0;
	unsigned m, d, i;
	char buf[16];

	for (i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
	for (i = 0; i < 4; i++)
		y = y * 10 + (s[i] - '0');
	m = (unsigned)((s[4] - '0') * 10 + (s[5] - '0'));
	d = (unsigned)((s[6] - '0') * 10 + (s[7] - '0'));
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -EBADMSG;
	civil_from_days(days_from_civil(y, m, d) + days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return -EBADMSG;
	snprintf(buf, sizeof(buf), "%04lld%02u%02u", y, m, d);
	memcpy(s, buf, 8);
	return 0;
}

/* Only digits, '.', '+' and '-' may follow the date of a DT. */
static int dt_rest_ok(const char *s, size_t n)
{
	size_t i;

	if (n > 18)	/* HHMMSS.FFFFFF&ZZXX */
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '+' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * Modified dates (Retain Longitudinal Temporal Information with Modified
 * Dates, PS3.15 E.3.6): shift DA and the date part of DT by
 * ctx->date_shift_days, every value of a multi-valued attribute.  TM is not
 * a date: kept.  A value we cannot read as a date is emptied (Z) rather
 * than kept unshifted.
 */
static int act_date(struct walk *w, struct dcm_elem *e, enum vk vk)
{
	char sout[SMALL], *out;
	size_t i, start = 0, o = 0, len = e->len;
	int err = 0, bad = 0;

	if (vk == VK_TM || !e->val || !len)
		return 0;
	if (vk != VK_DA && vk != VK_DT)
		return -EBADMSG;
	out = len <= sizeof(sout) ? sout : malloc(len);
	if (!out)
		return -ENOMEM;
	for (i = 0; i <= len && !bad; i++) {
		const char *p;
		size_t n;

		if (i < len && e->val[i] != '\\')
			continue;
		p = (const char *)e->val + start;
		n = i - start;
		start = i + 1;
		trim_span(&p, &n);
		if (o)
			out[o++] = '\\';
		if (!n)
			continue;
		if (n < 8 || (vk == VK_DA && n != 8) ||
		    (vk == VK_DT && !dt_rest_ok(p + 8, n - 8))) {
			bad = 1;
			break;
		}
		memcpy(out + o, p, n);
		if (shift_ymd(out + o, w->ctx->date_shift_days))
			bad = 1;
		o += n;
	}
	if (bad)
		err = act_zero(w, e);
	else
		err = replace(w, e, "shift", out, o, ' ');
	explicit_bzero(out, len);	/* dates are PHI */
	if (out != sout)
		free(out);
	return err;
}

static int walk_ds(struct walk *w, struct dcm_ds *ds, unsigned depth,
		   size_t plen);

/* Keep e; a sequence's items are cleaned by the same rules. */
static int act_keep(struct walk *w, struct dcm_elem *e, unsigned depth,
		    size_t plen)
{
	uint32_t j;
	int err;

	if (!vr_is(e, "SQ"))
		return 0;
	if (e->val)	/* raw bytes we cannot look into */
		return -EBADMSG;
	for (j = 0; j < e->nitems; j++) {
		int n = snprintf(w->path + plen + 8, sizeof(w->path) - plen - 8,
				 "[%u].", j);

		if (n < 0 || (size_t)n >= sizeof(w->path) - plen - 8)
			return -EBADMSG;
		err = walk_ds(w, &e->items[j], depth + 1, plen + 8 + (size_t)n);
		if (err)
			return err;
	}
	return 0;
}

/* The decision for an attribute not in Table E.1-1 (see the top). */
static enum act act_not_in_table(const struct walk *w,
				 const struct dcm_elem *e, enum vk vk)
{
	unsigned o = w->opts;

	switch (vk) {
	case VK_TEXT:
		/*
		 * Code Meaning: fixed by the scheme for standard codes, but
		 * local (RIS) codes carry whatever was typed, names included.
		 * Kept only when white-listed; otherwise a dummy, because it
		 * is Type 1 in every code sequence item.
		 */
		if (e->tag == DCM_TAG(0x0008, 0x0104))
			return wl_match(w->ctx->wl, e) ? ACT_KEEP : ACT_D;
		return is_safe_text(w->r, e) ? ACT_KEEP : ACT_X;
	case VK_UR:
		return is_safe_text(w->r, e) ? ACT_KEEP : ACT_X;
	case VK_UI:
		return o & RULES_RTN_UIDS ? ACT_KEEP : ACT_U_STD;
	case VK_DA:
	case VK_DT:
	case VK_TM:
		if (o & RULES_RTN_LONG_FULL_DATES)
			return ACT_KEEP;
		return o & RULES_RTN_LONG_MODIF_DATES ? ACT_DATE : ACT_X;
	case VK_AS:
		return o & RULES_RTN_PATIENT_CHARS ? ACT_KEEP : ACT_X;
	case VK_UN:
	case VK_AE:
		return ACT_X;
	default:
		return ACT_KEEP;
	}
}

/*
 * Whether a value about to be kept is a valid instance of its attribute:
 * the file's VR is one the dictionary allows for the tag (an OB label on a
 * CS attribute carries whatever bytes it likes), the number of values fits
 * the tag's VM (a second Modality, an ID spread over US values), and each
 * value is a valid value of its VR (PS3.5 6.2: CS of up to 16 upper-case
 * letters, digits, space and '_'; IS an integer in 32 bits; DS the
 * characters of a decimal; AS nnnD/W/M/Y; lengths of text VRs; no control
 * characters but ESC in single-line text).  An invalid value is not kept:
 * it gets what the IOD needs (a dummy, an empty value) or goes.
 */
static int cs_ok(const char *p, size_t n)
{
	size_t i;

	if (n > 16)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == ' ' ||
		      p[i] == '_'))
			return 0;
	return 1;
}

static int is_ok(const char *p, size_t n)
{
	long long v = 0;
	size_t i = 0, digits = 0;
	int neg = 0;

	if (n > 12)
		return 0;
	trim_span(&p, &n);
	if (!n)
		return 1;
	if (p[0] == '+' || p[0] == '-')
		neg = p[i++] == '-';
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		v = v * 10 + (p[i] - '0');
		digits++;
	}
	if (!digits)
		return 0;
	return neg ? v <= 2147483648LL : v <= 2147483647LL;
}

/* DS: the characters of a decimal.  Not its length: writers often exceed
 * 16 characters, and digits carry no text; a dummy "0" would then spoil a
 * Type 1 geometry value for nothing. */
static int ds_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '+' ||
		      p[i] == '-' || p[i] == '.' || p[i] == 'e' ||
		      p[i] == 'E' || p[i] == ' '))
			return 0;
	return 1;
}

static int as_ok(const char *p, size_t n)
{
	trim_span(&p, &n);
	return !n || (n == 4 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' &&
		      p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
		      strchr("DWMY", p[3]) && p[3]);
}

/* Longest value of a text VR in bytes (PS3.5 Table 6.2-1, characters
 * taken as bytes; UT and UC are unbounded), and whether it is one line. */
static size_t text_max(const struct dcm_elem *e, int *one_line)
{
	*one_line = 1;
	if (vr_is(e, "SH") || vr_is(e, "AE"))
		return 16;
	if (vr_is(e, "LO"))
		return 64;
	if (vr_is(e, "PN"))
		return 64 * 5;
	*one_line = 0;
	if (vr_is(e, "ST"))
		return 1024;
	if (vr_is(e, "LT"))
		return 10240;
	return DCM_MAX_VALUE;
}

/* The Specific Character Set terms of PS3.3 C.12.1.1.2. */
static int charset_term(const char *p, size_t n)
{
	static const char *const terms[] = {
		"ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109",
		"ISO_IR 110", "ISO_IR 144", "ISO_IR 127", "ISO_IR 126",
		"ISO_IR 138", "ISO_IR 148", "ISO_IR 203", "ISO_IR 13",
		"ISO_IR 166", "ISO 2022 IR 6", "ISO 2022 IR 100",
		"ISO 2022 IR 101", "ISO 2022 IR 109", "ISO 2022 IR 110",
		"ISO 2022 IR 144", "ISO 2022 IR 127", "ISO 2022 IR 126",
		"ISO 2022 IR 138", "ISO 2022 IR 148", "ISO 2022 IR 203",
		"ISO 2022 IR 13", "ISO 2022 IR 166", "ISO 2022 IR 87",
		"ISO 2022 IR 159", "ISO 2022 IR 149", "ISO 2022 IR 58",
		"ISO_IR 192", "GB18030", "GBK",
	};
	size_t i;

	trim_span(&p, &n);
	if (!n)
		return 1;	/* the default repertoire */
	for (i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
		if (n == strlen(terms[i]) && !memcmp(p, terms[i], n))
			return 1;
	return 0;
}

static int digits(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* DA: YYYYMMDD with a month and a day that can be (the ACR-NEMA
 * "YYYY.MM.DD" too). */
static int da_ok(const char *p, size_t n)
{
	char d[8];

	trim_span(&p, &n);
	if (!n)
		return 1;
	if (n == 10 && p[4] == '.' && p[7] == '.') {
		memcpy(d, p, 4);
		memcpy(d + 4, p + 5, 2);
		memcpy(d + 6, p + 8, 2);
	} else if (n == 8) {
		memcpy(d, p, 8);
	} else {
		return 0;
	}
	return digits(d, 8) && (d[4] - '0') * 10 + (d[5] - '0') >= 1 &&
	       (d[4] - '0') * 10 + (d[5] - '0') <= 12 &&
	       (d[6] - '0') * 10 + (d[7] - '0') >= 1 &&
	       (d[6] - '0') * 10 + (d[7] - '0') <= 31;
}

/* TM: HH[MM[SS[.F{1,6}]]] (and the ACR-NEMA colons). */
static int tm_ok(const char *p, size_t n)
{
	size_t i;

	trim_span(&p, &n);
	if (n > 16)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
		      p[i] == ':'))
			return 0;
	return !n || (n >= 2 && digits(p, 2));
}

/* DT: YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]. */
static int dt_ok(const char *p, size_t n)
{
	size_t i;

	trim_span(&p, &n);
	if (n > 26)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
		      p[i] == '+' || p[i] == '-'))
			return 0;
	return !n || (n >= 4 && digits(p, 4));
}

/* UI: digits and dots, at most 64, no empty component. */
static int ui_ok(const char *p, size_t n)
{
	size_t i;

	while (n && (p[n - 1] == 0 || p[n - 1] == ' '))
		n--;
	if (!n)
		return 1;
	if (n > UID_MAX || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] == '.' && p[i + 1] != '.')))
			return 0;
	return 1;
}

static int value_valid(const struct dcm_elem *e, enum vk vk)
{
	const char *v = (const char *)e->val;
	size_t len = e->len, start = 0, i, max = 0;
	unsigned count = 1, unit = 0;
	int one_line = 0;

	if (!dicom_dict_vr_ok(e->tag, e->vr))
		return 0;
	switch (vk) {
	case VK_BIN2:
		unit = vr_is(e, "US") || vr_is(e, "SS") ? 2 : 0;
		break;
	case VK_BIN4:
		unit = vr_is(e, "OL") || vr_is(e, "OF") ? 0 : 4;
		break;
	case VK_BIN8:
		unit = vr_is(e, "OD") || vr_is(e, "OV") ? 0 : 8;
		break;
	case VK_TEXT:
		max = text_max(e, &one_line);
		break;
	case VK_SQ:
	case VK_UN:
		return 1;	/* cleaned item by item / removed elsewhere */
	default:
		break;
	}
	if (unit)
		return len % unit == 0 &&
		       dicom_dict_vm_ok(e->tag, (unsigned)(len / unit));
	if (vk == VK_BIN2 || vk == VK_BIN4 || vk == VK_BIN8)
		return 1;	/* OB, OW, OF...: one value of bytes */
	if (!len || !v)
		return 1;
	if (vk == VK_TEXT && !one_line)
		count = 1;	/* ST, LT, UT: '\\' is text, one value */
	else
		for (i = 0; i < len; i++)
			count += v[i] == '\\';
	if (!dicom_dict_vm_ok(e->tag, count))
		return 0;
	for (i = 0; i <= len; i++) {
		const char *p;
		size_t n;

		if (i < len && !(v[i] == '\\' && (vk != VK_TEXT || one_line)))
			continue;
		p = v + start;
		n = i - start;
		start = i + 1;
		/* trailing padding: a space, or a NUL after a UI-like pad */
		if (i == len && n && (p[n - 1] == ' ' || p[n - 1] == 0))
			n--;
		switch (vk) {
		case VK_CS:
			if (e->tag == DCM_TAG(0x0008, 0x0005) ?
				    !charset_term(p, n) : !cs_ok(p, n))
				return 0;
			break;
		case VK_NUMSTR:
			if (vr_is(e, "IS") ? !is_ok(p, n) : !ds_ok(p, n))
				return 0;
			break;
		case VK_AS:
			if (!as_ok(p, n))
				return 0;
			break;
		case VK_DA:
			if (!da_ok(p, n))
				return 0;
			break;
		case VK_TM:
			if (!tm_ok(p, n))
				return 0;
			break;
		case VK_DT:
			if (!dt_ok(p, n))
				return 0;
			break;
		case VK_UI:
			if (!ui_ok(p, n))
				return 0;
			break;
		case VK_TEXT:
			if (n > max)
				return 0;
			for (; n; p++, n--)
				if (((unsigned char)*p < 0x20 &&
				     *p != 0x1b &&
				     (one_line || !*p ||
				      !strchr("\r\n\t\f", *p))) ||
				    *p == 0x7f)
					return 0;
			break;
		default:
			break;
		}
	}
	return 1;
}

/* Whether a value about to be kept holds a personal ID (any that checks,
 * or the person's own) or, unless it is made of terms of its attribute's
 * vocabulary, a whole word of a person name of the file (hers, a
 * physician's, an operator's...; w->names).  A term says what the standard
 * says it does in every file, even when it happens to be spelt like a name
 * (LIN, the pixel intensity relationship, and Lin the operator).  Strings
 * only: binary values are numbers, and text in them has failed
 * value_valid() already (a VR or VM the dictionary does not allow). */
static int holds_identity(const struct walk *w, const struct dcm_elem *e,
			  enum vk vk, int terms)
{
	const char *v = (const char *)e->val;

	if (!v || !e->len || vk == VK_SQ || vk == VK_BIN2 ||
	    vk == VK_BIN4 || vk == VK_BIN8 || vk == VK_UN)
		return 0;
	return ident_holds_personal_id(v, e->len, w->ctx->patient_id) ||
	       (!terms && ident_words_holds(w->names, v, e->len));
}

/*
 * An attribute with a vocabulary (fs/data/cs-terms.tsv: the Enumerated
 * Values and Defined Terms of PS3.3) keeps only its terms: a value that is
 * not a term for its position (a name, a vendor's own word, anything the
 * CS form allows) is emptied in place, so that the values after it keep
 * their positions (Image Type value 4 stays value 4); empty values at the
 * end are then dropped down to the positions the vocabulary names (Image
 * Type keeps 3: DX and MG require value 3, empty).  Empty values stay as
 * they were.  *ok = 0 when nothing but empty values would remain of a value
 * that had some, or when what remains has a number of values the
 * dictionary does not allow: the caller then treats the value as invalid.
 * e is rewritten (audited as C, clean) only when a value was emptied.
 * Returns 0 or -errno.
 */
static int keep_terms(struct walk *w, struct dcm_elem *e,
		      const struct cs_vocab *voc, int *ok)
{
	char sbuf[SMALL], *out;
	const char *v = (const char *)e->val;
	size_t len = e->len, start = 0, i, o = 0, nval = 0, kept = 0;
	int bad = 0, err = 0;

	*ok = 1;
	if (!v || !len)
		return 0;
	out = len <= sizeof(sbuf) ? sbuf : malloc(len);
	if (!out)
		return -ENOMEM;
	for (i = 0; i <= len; i++) {
		const char *p;
		size_t n;

		if (i < len && v[i] != '\\')
			continue;
		p = v + start;
		n = i - start;
		start = i + 1;
		trim_span(&p, &n);
		nval++;
		if (n && !vocab_has(w->r, voc, nval, p, n)) {
			bad = 1;
			n = 0;
		}
		if (nval > 1)
			out[o++] = '\\';
		memcpy(out + o, p, n);
		o += n;
		kept += n != 0;
	}
	if (!bad)
		goto out;
	while (nval > voc->keep && nval > 1 && out[o - 1] == '\\') {
		o--;	/* an empty value at the end */
		nval--;
	}
	if (!kept || !dicom_dict_vm_ok(e->tag, (unsigned)nval)) {
		*ok = 0;
		goto out;
	}
	err = replace(w, e, "C", out, o, ' ');
out:
	explicit_bzero(out, len);	/* held the source's terms only, but
					 * wiping costs nothing */
	if (out != sbuf)
		free(out);
	return err;
}

/* Number of values of a string value (0 when empty). */
static unsigned nvalues(const struct dcm_elem *e)
{
	unsigned n = 1;
	uint32_t i;

	if (!e->val || !e->len)
		return 0;
	for (i = 0; i < e->len; i++)
		n += e->val[i] == '\\';
	return n;
}

/*
 * Whether a value about to be kept may be: a valid instance of its
 * attribute (value_valid()), made of terms of its vocabulary when it has
 * one (keep_terms(), which may rewrite e), holding no personal ID and no
 * word of a person name of the file (holds_identity()).  *ok = 1 when it
 * may.  Returns 0 or -errno.
 */
static int vet_kept(struct walk *w, struct dcm_elem *e, enum vk vk, int *ok)
{
	const struct cs_vocab *voc = NULL;
	int terms = 0, err;

	*ok = 0;
	if (!(DCM_GROUP(e->tag) & 1)) {
		voc = vocab_of(w->r, e->tag);
		if (voc) {
			/* the VR and the number of values the source gave
			 * first: a second Modality is not a term to drop but
			 * a value that is not Modality's */
			if (!dicom_dict_vr_ok(e->tag, e->vr) ||
			    (vk != VK_CS && vk != VK_TEXT) ||
			    !dicom_dict_vm_ok(e->tag, nvalues(e)))
				return 0;
			err = keep_terms(w, e, voc, ok);
			if (err || !*ok)
				return err;
			*ok = 0;
			terms = 1;
		}
		if (!value_valid(e, vk))
			return 0;
		/* Specific Character Set: value_valid() checked its terms */
		terms |= e->tag == DCM_TAG(0x0008, 0x0005);
	}
	*ok = !holds_identity(w, e, vk, terms);
	return 0;
}

/* Keep a private creator element only while its block keeps something. */
static int creator_kept(const struct walk *w, const struct dcm_ds *ds,
			const struct dcm_elem *e)
{
	uint16_t g = DCM_GROUP(e->tag);
	uint32_t first = DCM_TAG(g, (DCM_ELEM(e->tag) & 0xff) << 8);
	size_t lo = 0, hi = ds->n, n;
	const char *p;

	trimmed(e, &p, &n);
	if (!n || n > CREATOR_MAX)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ds->el[mid].tag < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ds->n && ds->el[lo].tag <= first + 0xff; lo++)
		if (is_safe_private(w->r, g, DCM_ELEM(ds->el[lo].tag) & 0xff,
				    p, n))
			return 1;
	return 0;
}

static int private_kept(const struct walk *w, const struct dcm_ds *ds,
			const struct dcm_elem *e)
{
	uint16_t g = DCM_GROUP(e->tag), el = DCM_ELEM(e->tag);
	const struct dcm_elem *cr;
	const char *p;
	size_t n;

	/* The private row's Retain Safe Private column (C) is what allows
	 * keeping anything private; without it every private element goes. */
	if (!w->r->has_priv || row_code(&w->r->priv, w->opts) == CODE_X)
		return 0;
	if (g == 0x0001 || g == 0x0003 || g == 0x0005 || g == 0x0007 ||
	    g == 0xffff)
		return 0;
	if (el >= 0x0010 && el <= 0x00ff)
		return creator_kept(w, ds, e);
	if (el < 0x1000)
		return 0;
	cr = dcm_ds_get(ds, DCM_TAG(g, el >> 8));
	if (!cr)
		return 0;
	trimmed(cr, &p, &n);
	if (!n || n > CREATOR_MAX)
		return 0;
	return is_safe_private(w->r, g, el & 0xff, p, n);
}

/*
 * D on a sequence: one dummy item that keeps the module valid and holds
 * nothing of the original.  Its shape is the source's first item: of its
 * attributes, those the IOD requires in the item (Type 1, 1C, 2, 2C at that
 * path) stay, the rest go.  Type 2 ones become empty; Type 1 ones get a
 * dummy value, UIDs a keyed replacement (the standard's own UIDs, such as
 * a Referenced SOP Class UID, are kept) so references between published
 * files still resolve; a required sequence inside gets a dummy item in
 * turn.  Further items go.  With no IOD known, or no item to take the
 * shape from, the sequence is emptied (inventing the content of an item
 * the source did not have would be guesswork).
 */
static int act_dummy_seq(struct walk *w, struct dcm_elem *e, unsigned depth,
			 size_t plen)
{
	struct dcm_ds *item;
	uint8_t *dead = NULL;
	uint32_t i, j;
	size_t ilen;
	int n, err = 0;

	if (e->val)	/* raw bytes we cannot look into */
		return -EBADMSG;
	if (w->iod == IOD_NONE || !e->nitems || depth + 1 > DCM_MAX_DEPTH)
		return act_zero(w, e);
	err = do_audit(w, "D", NULL, 0, NULL, 0);
	if (err)
		return err;
	for (j = 1; j < e->nitems; j++)
		dcm_ds_free(&e->items[j]);
	e->nitems = 1;
	item = &e->items[0];
	n = snprintf(w->path + plen + 8, sizeof(w->path) - plen - 8, "[0].");
	if (n < 0 || (size_t)n >= sizeof(w->path) - plen - 8)
		return -EBADMSG;
	ilen = plen + 8 + (size_t)n;
	for (i = 0; i < item->n && !err; i++) {
		struct dcm_elem *c = &item->el[i];
		enum vk vk = vr_kind(c);

		path_tag(w, ilen, c->tag);
		w->tags[depth + 1] = c->tag;
		switch (need_of(w, depth + 1)) {
		case NEED_VALUE:
			if (vk == VK_SQ)
				err = act_dummy_seq(w, c, depth + 1, ilen);
			else if (vk == VK_UI)
				err = act_uid(w, c, 1, "D");
			else
				err = act_dummy(w, c, vk);
			break;
		case NEED_PRESENT:
			err = act_zero(w, c);
			break;
		default:
			if (!dead && !(dead = calloc(item->n, 1))) {
				err = -ENOMEM;
				break;
			}
			dead[i] = 1;
			err = remove_at(w, item, i);
			break;
		}
	}
	if (!err && dead) {
		for (i = 0, j = 0; i < item->n; i++) {
			if (dead[i])
				dcm_elem_clear(&item->el[i]);
			else
				item->el[j++] = item->el[i];
		}
		item->n = j;
	}
	free(dead);
	return err;
}

/* Apply the rules to ds->el[i]; *removed set when it is gone. */
static int apply_elem(struct walk *w, struct dcm_ds *ds, uint32_t i,
		      unsigned depth, size_t plen, int *removed)
{
	struct dcm_elem *e = &ds->el[i];
	uint16_t g = DCM_GROUP(e->tag);
	enum vk vk = vr_kind(e);
	const struct row *row = NULL;
	enum act act;

	*removed = 0;
	if (g & 1) {
		if (!private_kept(w, ds, e))
			goto remove;
		act = ACT_KEEP;
	} else if (DCM_ELEM(e->tag) == 0) {
		goto remove;	/* group length */
	} else if ((g >= 0x6000 && g <= 0x601e) ||
		   (g >= 0x5000 && g <= 0x501e)) {
		goto remove;	/* overlays and curves, whatever the table */
	} else if ((row = lookup(w->r, e->tag))) {
		act = act_of_code(row_code(row, w->opts), vk,
				  need_of(w, depth));
	} else if (!dicom_tag_known(e->tag)) {
		/* a public tag the dictionary does not define: nothing says
		 * what it may hold */
		goto remove;
	} else {
		act = act_not_in_table(w, e, vk);
		/* What the conservative rule would remove but the IOD
		 * requires gets what the IOD requires instead: a dummy value
		 * or an empty one (nothing of the original either way). */
		if (act == ACT_X) {
			enum need need = need_of(w, depth);

			if (need == NEED_VALUE)
				act = ACT_D;
			else if (need == NEED_PRESENT)
				act = ACT_Z;
		}
	}

	if (act == ACT_C) {
		/* C (PS3.15 E.1.1): dates under the Modified Dates option
		 * are shifted; otherwise only a white-listed value is known
		 * to be clean; anything else gets the basic profile code. */
		if ((w->opts & RULES_RTN_LONG_MODIF_DATES) &&
		    row->opt[OPT_LONG_MODIF] == CODE_C &&
		    (vk == VK_DA || vk == VK_DT || vk == VK_TM))
			act = ACT_DATE;
		else if (vk != VK_SQ && wl_match(w->ctx->wl, e))
			act = ACT_KEEP;
		else
			act = act_of_code((enum code)row->basic, vk,
					  need_of(w, depth));
		if (act == ACT_C)	/* not reachable: basic is never C */
			return -EBADMSG;
	}

	/* a value is kept only as a valid instance of its attribute, of the
	 * terms of its vocabulary, and never when it holds a personal ID or a
	 * name of the file: otherwise what the IOD needs, or nothing */
	if (act == ACT_KEEP || act == ACT_DATE) {
		int ok, err = vet_kept(w, e, vk, &ok);

		if (err)
			return err;
		if (!ok) {
			enum need need = need_of(w, depth);

			act = need == NEED_VALUE ? ACT_D :
			      need == NEED_PRESENT ? ACT_Z : ACT_X;
			if (act == ACT_X)
				goto remove;
		}
	}

	switch (act) {
	case ACT_KEEP:
		return act_keep(w, e, depth, plen);
	case ACT_Z:
		return act_zero(w, e);
	case ACT_D:
		if (vk == VK_SQ)
			return act_dummy_seq(w, e, depth, plen);
		return act_dummy(w, e, vk);
	case ACT_U:
		return act_uid(w, e, 0, "U");
	case ACT_U_STD:
		return act_uid(w, e, 1, "U");
	case ACT_DATE:
		return act_date(w, e, vk);
	case ACT_X:
	default:
		goto remove;
	}
remove:
	*removed = 1;
	return remove_at(w, ds, i);
}

static int walk_ds(struct walk *w, struct dcm_ds *ds, unsigned depth,
		   size_t plen)
{
	uint32_t i, j;
	uint8_t *dead = NULL;	/* elements to drop, removed in one pass */
	int err = 0, removed;

	if (depth > DCM_MAX_DEPTH)
		return -EBADMSG;
	for (i = 0; i < ds->n; i++) {
		uint32_t tag = ds->el[i].tag;

		path_tag(w, plen, tag);
		w->tags[depth] = tag;
		/* Top-level PatientName/PatientID become the pseudonym
		 * afterwards, audited against the original value. */
		if (depth == 0 && (tag == DCM_TAG(0x0010, 0x0010) ||
				   tag == DCM_TAG(0x0010, 0x0020)))
			continue;
		err = apply_elem(w, ds, i, depth, plen, &removed);
		if (err)
			break;
		if (removed) {
			if (!dead && !(dead = calloc(ds->n, 1))) {
				err = -ENOMEM;
				break;
			}
			dead[i] = 1;
		}
	}
	if (!err && dead) {
		for (i = 0, j = 0; i < ds->n; i++) {
			if (dead[i])
				dcm_elem_clear(&ds->el[i]);
			else
				ds->el[j++] = ds->el[i];
		}
		ds->n = j;
	}
	free(dead);
	return err;
}

/* Set a top-level string attribute, auditing the change. */
static int set_top(struct walk *w, struct dcm_ds *ds, uint32_t tag,
		   const char *vr, const char *s, const char *action)
{
	struct dcm_elem *e = dcm_ds_get(ds, tag);
	size_t n = strlen(s), len = n + (n & 1);
	int err;

	path_tag(w, 0, tag);
	if (e && vr_is(e, vr) && e->len == len && !e->nitems &&
	    (!n || !memcmp(e->val, s, n)) && (!(n & 1) || e->val[n] == ' '))
		return 0;
	/* dcm_ds_set_str pads the same way: audit what will be stored. */
	if (w->ctx->audit) {
		char nv[64 * 10 + 2];	/* our own values: marks, pseudonym */

		if (len > sizeof(nv))
			return -EOVERFLOW;
		memcpy(nv, s, n);
		if (n & 1)
			nv[n] = ' ';
		err = do_audit(w, action, e ? e->val : NULL, e ? e->len : 0,
			       nv, len);
		if (err)
			return err;
	}
	return dcm_ds_set_str(ds, tag, vr, s);
}

/* CID 7050 codes of the profile and options (PS3.16). */
static const struct {
	unsigned flag;
	const char *code;
	const char *meaning;
} method_codes[] = {
	{ 0, "113100", "Basic Application Confidentiality Profile" },
	{ RULES_RTN_SAFE_PRIVATE, "113111", "Retain Safe Private Option" },
	{ RULES_RTN_UIDS, "113110", "Retain UIDs Option" },
	{ RULES_RTN_DEVICE_ID, "113109", "Retain Device Identity Option" },
	{ RULES_RTN_INSTITUTION_ID, "113112",
	  "Retain Institution Identity Option" },
	{ RULES_RTN_PATIENT_CHARS, "113108",
	  "Retain Patient Characteristics Option" },
	{ RULES_RTN_LONG_FULL_DATES, "113106",
	  "Retain Longitudinal Temporal Information Full Dates Option" },
	{ RULES_RTN_LONG_MODIF_DATES, "113107",
	  "Retain Longitudinal Temporal Information Modified Dates Option" },
	{ RULES_CLEAN_DESCRIPTORS, "113105", "Clean Descriptors Option" },
};
#define NMETHOD (sizeof(method_codes) / sizeof(method_codes[0]))

static int set_marks(struct walk *w, struct dcm_ds *ds)
{
	/* "deidfs: ..." plus at most 8 meanings of < 64 chars, '\\'-joined */
	char method[64 * (NMETHOD + 1)];
	struct dcm_elem *seq;
	const char *ltim;
	size_t k, o;
	uint32_t item = 0;
	int err;

	err = set_top(w, ds, DCM_TAG(0x0012, 0x0062), "CS", "YES", "mark");
	if (err)
		return err;
	o = (size_t)snprintf(method, sizeof(method),
			     "deidfs: PS3.15 E.1-1 Basic Profile %s",
			     RULES_EDITION);
	for (k = 1; k < NMETHOD && o < sizeof(method); k++)
		if (w->opts & method_codes[k].flag)
			o += (size_t)snprintf(method + o, sizeof(method) - o,
					      "\\%s", method_codes[k].meaning);
	if (o >= sizeof(method))	/* our own constants: cannot happen */
		return -EOVERFLOW;
	err = set_top(w, ds, DCM_TAG(0x0012, 0x0063), "LO", method, "mark");
	if (err)
		return err;

	path_tag(w, 0, DCM_TAG(0x0012, 0x0064));
	seq = dcm_ds_get(ds, DCM_TAG(0x0012, 0x0064));
	if (seq) {
		err = do_audit(w, "X", seq->val, seq->len, NULL, 0);
		if (err)
			return err;
	}
	err = dcm_ds_set_seq(ds, DCM_TAG(0x0012, 0x0064), &seq);
	if (err)
		return err;
	for (k = 0; k < NMETHOD; k++) {
		static const struct {
			uint16_t elem;
			char vr[3];
		} f[3] = { { 0x0100, "SH" }, { 0x0102, "SH" },
			   { 0x0104, "LO" } };
		const char *v[3];
		struct dcm_ds *it;
		size_t m;

		if (k && !(w->opts & method_codes[k].flag))
			continue;
		v[0] = method_codes[k].code;
		v[1] = "DCM";
		v[2] = method_codes[k].meaning;
		err = dcm_seq_add_item(seq, &it);
		if (err)
			return err;
		for (m = 0; m < 3; m++) {
			err = dcm_ds_set_str(it, DCM_TAG(0x0008, f[m].elem),
					     f[m].vr, v[m]);
			if (err)
				return err;
			snprintf(w->path, sizeof(w->path), "%08X[%u].%08X",
				 DCM_TAG(0x0012, 0x0064), item,
				 DCM_TAG(0x0008, f[m].elem));
			err = do_audit(w, "mark", NULL, 0, v[m], strlen(v[m]));
			if (err)
				return err;
		}
		item++;
	}

	if (w->opts & RULES_RTN_LONG_FULL_DATES)
		ltim = "UNMODIFIED";
	else if (w->opts & RULES_RTN_LONG_MODIF_DATES)
		ltim = "MODIFIED";
	else
		ltim = "REMOVED";
	return set_top(w, ds, DCM_TAG(0x0028, 0x0303), "CS", ltim, "mark");
}

/* The pseudonym goes into LO and PN values: one value, <= 64 chars. */
static int pseudonym_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '\\' ||
		    (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

/* Whether e holds a person name: its VR in the file is PN, or the
 * dictionary's is (a PN written as UN or LO is still one). */
static int is_name(const struct dcm_elem *e)
{
	char vr[3];

	if (vr_is(e, "PN"))
		return 1;
	if ((DCM_GROUP(e->tag) & 1) || vr_is(e, "SQ"))
		return 0;
	dicom_dict_vr(e->tag, NULL, vr);
	return vr[0] == 'P' && vr[1] == 'N';
}

static int collect_names(const struct dcm_ds *ds, unsigned depth,
			 struct ident_words *words)
{
	uint32_t i, j;
	int err;

	if (depth > DCM_MAX_DEPTH)
		return -EBADMSG;
	for (i = 0; i < ds->n; i++) {
		const struct dcm_elem *e = &ds->el[i];

		if (e->val && e->len && is_name(e)) {
			err = ident_words_add_name(words, (const char *)e->val,
						   e->len);
			if (err)
				return err == -E2BIG ? -EBADMSG : err;
		}
		for (j = 0; j < e->nitems; j++) {
			err = collect_names(&e->items[j], depth + 1, words);
			if (err)
				return err;
		}
	}
	return 0;
}

int rules_names_collect(const struct dcm_ds *ds, const char *patient_name,
			struct ident_words **out)
{
	struct ident_words *words = NULL;
	int err;

	*out = NULL;
	err = ident_words_new(&words);
	if (!err && patient_name)
		err = ident_words_add_name(words, patient_name,
					   strlen(patient_name));
	if (err == -E2BIG)
		err = -EBADMSG;
	if (!err)
		err = collect_names(ds, 0, words);
	if (err) {
		ident_words_free(words);
		return err;
	}
	*out = words;
	return 0;
}

int rules_apply(const struct rules *r, const struct rules_ctx *ctx,
		struct dcm_ds *ds)
{
	struct walk walk, *w = &walk;
	struct ident_words *own = NULL;
	int err;

	if (!r || !ctx || !ds || !ctx->pseudonym ||
	    !pseudonym_ok(ctx->pseudonym))
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->ctx = ctx;
	w->opts = ctx->options;
	w->iod = iod_find(ctx->iod_name);
	w->names = ctx->names;
	if (!w->names) {
		/* before anything below changes ds */
		err = rules_names_collect(ds, ctx->patient_name, &own);
		if (err)
			goto out;
		w->names = own;
	}
	err = walk_ds(w, ds, 0, 0);
	if (err)
		goto out;
	/* "<pseudonym>^": the family name component with its delimiter; a
	 * name without any '^' reads as the retired ACR-NEMA form (PS3.5
	 * 6.2.1) and validators warn about it */
	{
		char pn[PSEUDO_PN_MAX];
		int n = snprintf(pn, sizeof(pn), "%s^", ctx->pseudonym);

		if (n < 0 || (size_t)n >= sizeof(pn)) {
			err = -EINVAL;
			goto out;
		}
		err = set_top(w, ds, DCM_TAG(0x0010, 0x0010), "PN", pn,
			      "pseudonym");
	}
	if (err)
		goto out;
	err = set_top(w, ds, DCM_TAG(0x0010, 0x0020), "LO", ctx->pseudonym,
		      "pseudonym");
	if (err)
		goto out;
	err = set_marks(w, ds);
out:
	ident_words_free(own);
	return err;
}

/* ---------------------------------------------------------------------- */
/* Classification */

const char *rules_reason_name(enum rules_reason r)
{
	switch (r) {
	case RULES_OK: return "ok";
	case RULES_Q_BURNED_IN: return "burned-in-annotation";
	case RULES_Q_PROTOCOL: return "patient-protocol";
	case RULES_Q_SCREEN_CAPTURE: return "screen-capture";
	case RULES_Q_MODALITY: return "modality-not-allowed";
	case RULES_Q_NO_MODALITY: return "modality-missing";
	case RULES_Q_UNPARSEABLE: return "unparseable";
	case RULES_Q_DEID_FAILED: return "deid-failed";
	case RULES_Q_NOT_DICOM: return "not-dicom";
	case RULES_Q_NO_PATIENT_ID: return "patient-id-missing";
	case RULES_Q_SOP_CLASS: return "sop-class-unknown";
	case RULES_Q_PIXEL_DATA: return "pixel-data-unverified";
	default: return "unknown";
	}
}

/* Trimmed value of a top-level attribute; n = 0 when absent. */
static void get_trimmed(const struct dcm_ds *ds, uint32_t tag,
			const char **p, size_t *n)
{
	const struct dcm_elem *e = dcm_ds_get(ds, tag);

	*p = "";
	*n = 0;
	if (e && !e->nitems)
		trimmed(e, p, n);
}

static int trimmed_is(const struct dcm_ds *ds, uint32_t tag, const char *s)
{
	const char *p;
	size_t n;

	get_trimmed(ds, tag, &p, &n);
	return eq_ci(p, n, s, strlen(s));
}

/* The Secondary Capture Image Storage classes: ...1.1.7 and ...1.1.7.N,
 * but not ...1.1.77.x (VL) or ...1.1.78.x (ophthalmic). */
static int is_sc_class(const struct dcm_ds *ds)
{
	static const char sc[] = "1.2.840.10008.5.1.4.1.1.7";
	const size_t k = sizeof(sc) - 1;
	const char *p;
	size_t n;

	get_trimmed(ds, DCM_TAG(0x0008, 0x0016), &p, &n);
	return n >= k && !memcmp(p, sc, k) && (n == k || p[k] == '.');
}

static int modality_allowed(const char *mod, size_t mn, const char *list)
{
	const char *s = list;

	if (!list)
		return 1;	/* no list: no restriction */
	while (*s) {
		const char *t = strchr(s, ',');
		size_t n = t ? (size_t)(t - s) : strlen(s);
		const char *p = s;

		while (n > 0 && p[n - 1] == ' ')
			n--;
		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		if (eq_ci(p, n, "all", 3) || (n && eq_ci(p, n, mod, mn)))
			return 1;
		if (!t)
			break;
		s = t + 1;
	}
	return 0;
}

enum rules_reason rules_classify(const struct dcm_ds *ds,
				 const char *modalities)
{
	const char *p;
	size_t n;

	if (!ds)
		return RULES_Q_UNPARSEABLE;
	if (trimmed_is(ds, DCM_TAG(0x0028, 0x0301), "YES"))
		return RULES_Q_BURNED_IN;
	if (trimmed_is(ds, DCM_TAG(0x0008, 0x103e), "Patient Protocol"))
		return RULES_Q_PROTOCOL;
	get_trimmed(ds, DCM_TAG(0x0008, 0x103e), &p, &n);
	if (contains_ci(p, n, "save"))
		return RULES_Q_SCREEN_CAPTURE;
	/* "save" cannot span the '\\' between ImageType values. */
	get_trimmed(ds, DCM_TAG(0x0008, 0x0008), &p, &n);
	if (contains_ci(p, n, "save"))
		return RULES_Q_SCREEN_CAPTURE;
	/* A secondary capture of a screen (Conversion Type SI) may show
	 * anything that was on it, names included.  Workstation captures
	 * (WSD) are the ordinary OT images and are allowed. */
	if (is_sc_class(ds) &&
	    trimmed_is(ds, DCM_TAG(0x0008, 0x0064), "SI"))
		return RULES_Q_SCREEN_CAPTURE;
	get_trimmed(ds, DCM_TAG(0x0008, 0x0060), &p, &n);
	if (n && !modality_allowed(p, n, modalities))
		return RULES_Q_MODALITY;
	if (!n)
		return RULES_Q_NO_MODALITY;
	return RULES_OK;
}
