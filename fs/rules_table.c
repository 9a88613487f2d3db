/*
 * rules_table.c - loading the tables of the rules from the compiled-in
 * data (fs/data/annex-e.tsv, safe-private.tsv, safe-text.tsv; the CS
 * vocabularies in rules_terms.c) and looking them up (see rules_table.h).
 *
 * The data files are ours, so a row we cannot read is an error
 * (-EBADMSG) and deidfs does not start, rather than apply a table it only
 * half understood.
 */
#include "rules_table.h"
#include "base.h"
#include "rules_terms.h"
#include "rules_tsv.h"
#include "rules_vr.h"
#include "tables.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[CODE_COUNT] = {
	"", "D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D",
	"X/Z/U*",
};

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

struct safe_priv {
	uint16_t group;
	uint8_t elem;		/* EE of (gggg,xxEE) */
	uint8_t creator_len;
	char creator[RULES_CREATOR_MAX + 1];
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
	struct rules_row *rows;	/* single tags, sorted by tag */
	size_t nrows;
	struct rules_row masked[8];	/* repeating groups (50xx, 60xx) */
	size_t nmasked;
	struct rules_row priv;	/* "gggg,eeee": private attributes */
	int has_priv;
	struct safe_priv *sp;	/* sorted by group, elem, creator */
	size_t nsp;
	struct safe_text {
		uint32_t tag;
		uint8_t form;	/* enum form */
	} *safe_text;		/* sorted by tag */
	size_t nsafe_text;
	struct rules_terms *terms;	/* fs/data/cs-terms.tsv */
};

/* The code in f (the empty cell too when allow_empty). */
static int parse_code(const struct rules_tsv_field *f, int allow_empty,
		      uint8_t *out)
{
	int c;

	for (c = allow_empty ? CODE_NONE : CODE_D; c < CODE_COUNT; c++) {
		if (rules_tsv_field_is(f, code_names[c])) {
			*out = (uint8_t)c;
			return 0;
		}
	}
	return -EBADMSG;
}

static int cmp_row(const void *a, const void *b)
{
	uint32_t x = ((const struct rules_row *)a)->tag;
	uint32_t y = ((const struct rules_row *)b)->tag;

	return x < y ? -1 : x > y;
}

static int yes_no(const struct rules_tsv_field *f)
{
	return rules_tsv_field_is(f, "Y") || rules_tsv_field_is(f, "N");
}

/* The codes of one line of annex-e.tsv (its tag is the caller's). */
static int read_annex_codes(const struct rules_tsv_field *f,
			    struct rules_row *row)
{
	size_t i;

	memset(row, 0, sizeof(*row));
	if (!yes_no(&f[3]) || !yes_no(&f[4]))
		return -EBADMSG;
	if (parse_code(&f[ANNEX_COL_BASIC], 0, &row->basic))
		return -EBADMSG;
	/* A basic C or K would leave nothing to fall back on. */
	if (row->basic == CODE_C || row->basic == CODE_K)
		return -EBADMSG;
	for (i = 0; i < RULES_NOPT; i++)
		if (parse_code(&f[ANNEX_COL_OPT0 + i], 1, &row->opt[i]))
			return -EBADMSG;
	for (i = ANNEX_COL_OPT0 + RULES_NOPT; i < ANNEX_NCOLS; i++) {
		uint8_t unused;	/* no option flag for these yet */

		if (parse_code(&f[i], 1, &unused))
			return -EBADMSG;
	}
	return 0;
}

/* File one row: the private row, a single tag, or a masked group. */
static int add_annex_row(struct rules *r, const struct rules_tsv_field *tag,
			 struct rules_row *row, size_t cap)
{
	if (rules_tsv_field_is(tag, "gggg,eeee")) {
		if (r->has_priv)
			return -EBADMSG;
		row->tag = 0;
		row->mask = 0;
		r->priv = *row;
		r->has_priv = 1;
		return 0;
	}
	if (rules_tsv_tag(tag, &row->tag, &row->mask))
		return -EBADMSG;
	if (row->mask == 0xffffffffu) {
		if (r->nrows >= cap)
			return -EBADMSG;
		r->rows[r->nrows++] = *row;
	} else {
		if (r->nmasked >= sizeof(r->masked) / sizeof(r->masked[0]))
			return -EBADMSG;
		r->masked[r->nmasked++] = *row;
	}
	return 0;
}

static int load_annex(struct rules *r)
{
	const char *text = tables_annex_e_tsv;
	struct rules_tsv_field f[ANNEX_NCOLS];
	size_t pos = 0, i, cap = rules_tsv_count_lines(text);
	int err;

	err = rules_tsv_header(text, &pos, annex_cols, ANNEX_NCOLS);
	if (err)
		return err;
	r->rows = calloc(cap, sizeof(*r->rows));
	if (!r->rows)
		return -ENOMEM;
	while ((err = rules_tsv_next_line(text, &pos, f, ANNEX_NCOLS)) == 1) {
		struct rules_row row;

		if (read_annex_codes(f, &row) ||
		    add_annex_row(r, &f[0], &row, cap))
			return -EBADMSG;
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
	struct rules_tsv_field f[SP_NCOLS];
	size_t pos = 0, i, cap = rules_tsv_count_lines(text);
	int err;

	err = rules_tsv_header(text, &pos, sp_cols, SP_NCOLS);
	if (err)
		return err;
	r->sp = calloc(cap, sizeof(*r->sp));
	if (!r->sp)
		return -ENOMEM;
	while ((err = rules_tsv_next_line(text, &pos, f, SP_NCOLS)) == 1) {
		struct safe_priv *sp;
		const char *t = f[1].p;
		int g[4], e[2];

		if (r->nsp >= cap || f[0].n == 0 || f[0].n > RULES_CREATOR_MAX)
			return -EBADMSG;
		if (f[1].n != 9 || t[4] != ',' || t[5] != 'x' || t[6] != 'x')
			return -EBADMSG;
		for (i = 0; i < 4; i++)
			if ((g[i] = base_hex_digit(t[i])) < 0)
				return -EBADMSG;
		if ((e[0] = base_hex_digit(t[7])) < 0 ||
		    (e[1] = base_hex_digit(t[8])) < 0)
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

static int load_safe_text(struct rules *r)
{
	const char *text = tables_safe_text_tsv;
	struct rules_tsv_field f[ST_NCOLS];
	size_t pos = 0, i, cap = rules_tsv_count_lines(text);
	int err;

	err = rules_tsv_header(text, &pos, st_cols, ST_NCOLS);
	if (err)
		return err;
	r->safe_text = calloc(cap, sizeof(*r->safe_text));
	if (!r->safe_text)
		return -ENOMEM;
	while ((err = rules_tsv_next_line(text, &pos, f, ST_NCOLS)) == 1) {
		uint32_t tag, mask;
		uint8_t form;

		if (rules_tsv_tag(&f[0], &tag, &mask) || mask != 0xffffffffu)
			return -EBADMSG;
		form = rules_tsv_field_is(&f[2], "text") ? FORM_TEXT :
		       rules_tsv_field_is(&f[2], "code") ? FORM_CODE :
		       rules_tsv_field_is(&f[2], "term") ? FORM_TERM :
		       rules_tsv_field_is(&f[2], "uri") ? FORM_URI : FORM_NONE;
		/* Table E.1-1 wins: a listed tag there is a data error. */
		if ((DCM_GROUP(tag) & 1) || rules_table_row(r, tag) ||
		    f[1].n == 0 || form == FORM_NONE || f[3].n == 0 ||
		    r->nsafe_text >= cap)
			return -EBADMSG;
		r->safe_text[r->nsafe_text].tag = tag;
		r->safe_text[r->nsafe_text++].form = form;
	}
	if (err < 0)
		return err;
	qsort(r->safe_text, r->nsafe_text, sizeof(*r->safe_text),
	      rules_tsv_cmp_tag);
	for (i = 1; i < r->nsafe_text; i++)
		if (r->safe_text[i].tag == r->safe_text[i - 1].tag)
			return -EBADMSG;
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
		err = rules_terms_new(&r->terms);
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
	rules_terms_free(r->terms);
	free(r);
}

size_t rules_table_rows(const struct rules *r)
{
	return r->nrows + r->nmasked + (r->has_priv ? 1 : 0);
}

const struct rules_row *rules_table_row(const struct rules *r, uint32_t tag)
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

const struct rules_row *rules_table_private_row(const struct rules *r)
{
	return r->has_priv ? &r->priv : NULL;
}

const char *rules_basic_code(const struct rules *r, uint32_t tag)
{
	const struct rules_row *row;

	if (DCM_GROUP(tag) & 1)
		return r->has_priv ? code_names[r->priv.basic] : NULL;
	row = rules_table_row(r, tag);
	return row ? code_names[row->basic] : NULL;
}

enum rules_code rules_table_row_code(const struct rules_row *row,
				     unsigned opts)
{
	int c = 0;
	size_t i;

	for (i = 0; i < RULES_NOPT; i++) {
		if (!(opts & (1u << i)))
			continue;
		if (row->opt[i] == CODE_K)
			return CODE_K;
		if (row->opt[i] == CODE_C)
			c = 1;
	}
	return c ? CODE_C : (enum rules_code)row->basic;
}

/* The form a kept value of tag must have, FORM_NONE when tag is not in
 * the safe-text table.  (rules_tsv_cmp_tag compares the leading tag.) */
static enum form safe_text_form(const struct rules *r, uint32_t tag)
{
	const struct safe_text *st = bsearch(&tag, r->safe_text,
					     r->nsafe_text,
					     sizeof(*r->safe_text),
					     rules_tsv_cmp_tag);

	return st ? (enum form)st->form : FORM_NONE;
}

static int form_value_ok(enum form form, const char *p, size_t n)
{
	size_t i;

	if (form == FORM_TEXT)
		return 1;	/* length and characters: rules_vr_valid() */
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
	const char *v = (const char *)e->val, *p;
	struct rules_vr_split sp;
	size_t len = e->len, n;

	if (form == FORM_TEXT || !v)
		return 1;
	while (len && (v[len - 1] == ' ' || v[len - 1] == 0))
		len--;
	rules_vr_split_init(&sp, v, len);
	while (rules_vr_split_next(&sp, &p, &n))
		if (!form_value_ok(form, p, n))
			return 0;
	return 1;
}

int rules_table_safe_text(const struct rules *r, const struct dcm_elem *e)
{
	enum form form = safe_text_form(r, e->tag);

	return form != FORM_NONE && form_ok(e, form);
}

int rules_table_safe_private(const struct rules *r, uint16_t g, uint8_t e,
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

const struct rules_terms *rules_table_terms(const struct rules *r)
{
	return r->terms;
}
