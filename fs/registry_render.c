/*
 * registry_render.c - the de-identified copy of the registry CSV
 * (registry_render(), registry.h): the header without the dropped
 * columns, then each included row with its pseudonym, its dates as months,
 * day counts or shifted dates, and its kept cells typed, screened for
 * personal IDs and guarded against spreadsheet formulas.
 *
 * The output buffer holds health data: it grows by copying and wiping
 * (base_grow()), never by a realloc that leaves copies behind, and is wiped
 * on error.  Reports name a row and a column, never a value.
 */
#include "registry_parse.h"
#include "base.h"
#include "civil.h"
#include "ident.h"
#include "registry_cell.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PSEUDONYM_MAX 256	/* bytes a keys->pseudonym() may write */

struct obuf {
	char *p;
	size_t len, cap;
};

static int put(struct obuf *o, const void *s, size_t n)
{
	int err;

	if (n > SIZE_MAX - o->len - 1)
		return -E2BIG;
	/* Kept clinical columns are still health data: no realloc leaving
	 * copies behind. */
	err = BASE_GROW(o->p, o->cap, o->len, o->len + n + 1, 4096,
			BASE_GROW_WIPE);
	if (err)
		return err;
	if (n)
		memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
	return 0;
}

static int must_quote(const char *s, size_t n, char delim)
{
	size_t i;

	if (!n)
		return 0;
	if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')
		return 1;
	for (i = 0; i < n; i++)
		if (s[i] == delim || s[i] == '"' || s[i] == '\r' ||
		    s[i] == '\n')
			return 1;
	return 0;
}

static int put_field(struct obuf *o, const char *s, size_t n, char delim)
{
	const char *q;
	int ret;

	if (!must_quote(s, n, delim))
		return put(o, s, n);
	ret = put(o, "\"", 1);
	while (!ret && (q = memchr(s, '"', n))) {
		ret = put(o, s, (size_t)(q + 1 - s));
		if (!ret)
			ret = put(o, "\"", 1);
		n -= (size_t)(q + 1 - s);
		s = q + 1;
	}
	if (!ret)
		ret = put(o, s, n);
	if (!ret)
		ret = put(o, "\"", 1);
	return ret;
}

static int blank(const char *s, size_t n)
{
	const char *t;

	return base_trim_spaces(s, n, &t) == 0;
}

static void report_col(registry_report_fn report, void *arg, uint64_t row,
		       unsigned col, const char *what)
{
	char why[REGISTRY_REASON_MAX];

	if (!report)
		return;
	snprintf(why, sizeof(why), "column %u: %s", col, what);
	report(arg, row, why);
}

struct row_ctx {
	const struct registry *r;
	const struct registry_rec *rc;
	const struct registry_keys *keys;
	registry_report_fn report;
	void *arg;
	int shift;
	int have_shift;
};

/* Render one date cell into cell[] ("" when it must stay empty). */
static int date_cell(struct row_ctx *x, unsigned col, char *cell,
		     size_t cellsz)
{
	const struct registry_rec *rc = x->rc;
	enum registry_role role = x->r->spec.role[col];
	unsigned ref = x->r->spec.arg[col], m, d, rm, rd;
	int y, ry;
	int64_t days, yy;
	const char *f;
	size_t n;

	cell[0] = '\0';
	f = registry_parse_field(rc, col, &n);
	if (blank(f, n))
		return 0;
	if (registry_cell_date(f, n, &y, &m, &d)) {
		report_col(x->report, x->arg, rc->pub.number, col,
			   "unparseable date");
		return 0;
	}
	switch (role) {
	case REGISTRY_MONTH:
		snprintf(cell, cellsz, "%04d-%02u", y, m);
		break;
	case REGISTRY_DAYS_SINCE:
		f = registry_parse_field(rc, ref, &n);
		if (registry_cell_date(f, n, &ry, &rm, &rd)) {
			char what[64];

			snprintf(what, sizeof(what),
				 "unparseable reference date (column %u)",
				 ref);
			report_col(x->report, x->arg, rc->pub.number, col,
				   what);
			break;
		}
		days = civil_days(y, m, d) - civil_days(ry, rm, rd);
		snprintf(cell, cellsz, "%" PRId64, days);
		break;
	case REGISTRY_SHIFT:
		if (!x->have_shift) {
			x->shift = x->keys->shift_days(x->keys->arg,
						       rc->pub.patient_id);
			x->have_shift = 1;
		}
		civil_from_days(civil_days(y, m, d) + x->shift, &yy, &m, &d);
		if (yy < 1 || yy > 9999) {
			report_col(x->report, x->arg, rc->pub.number, col,
				   "shifted date out of range");
			break;
		}
		snprintf(cell, cellsz, "%02u.%02u.%04" PRId64, d, m, yy);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * A kept cell as it may leave: never with a personal ID in it (the cell
 * is emptied and the row reported), control characters (a NUL...) but
 * tab and line breaks as spaces, and a cell a spreadsheet would run as a
 * formula (starting with = + - @ or a tab or line break, other than a
 * plain number) prefixed with an
 * apostrophe, which spreadsheets show as text (OWASP's CSV injection
 * advice).  own is the row's personal ID, or NULL (the header).
 */
static int put_kept(struct obuf *o, const char *f, size_t n, char delim,
		    const char *own, struct row_ctx *x, unsigned col)
{
	char *c;
	size_t i, lead = 0;
	int ret;

	if (ident_holds_personal_id(f, n, own)) {
		if (x)
			report_col(x->report, x->arg, x->rc->pub.number, col,
				   "a personal ID in a kept column: emptied");
		return 0;
	}
	c = malloc(n + 2);
	if (!c)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		unsigned char b = (unsigned char)f[i];

		c[i + 1] = (b < 0x20 && b != '\t' && b != '\n' &&
			    b != '\r') || b == 0x7f ? ' ' : (char)b;
	}
	while (lead < n && c[lead + 1] == ' ')
		lead++;
	if (lead < n && strchr("=+-@\t\r\n", c[lead + 1]) &&
	    !registry_cell_plain_number(c + 1 + lead, n - lead)) {
		c[0] = '\'';
		ret = put_field(o, c, n + 1, delim);
	} else {
		ret = put_field(o, c + 1, n, delim);
	}
	explicit_bzero(c, n + 2);
	free(c);
	return ret;
}

/*
 * A cell of a typed kept column (int, number, code, enum): written without
 * its surrounding spaces when it fits the role, otherwise emptied and
 * reported; never with a personal ID.  A fitting value needs no formula
 * guard: a sign only starts a plain number, and enum values were checked
 * when the spec was parsed.  Reports never quote the value.
 */
static int put_typed(struct obuf *o, const char *f, size_t n,
		     struct row_ctx *x, unsigned col)
{
	const struct registry_spec *sp = &x->r->spec;
	enum registry_role role = sp->role[col];
	const char *t, *what = NULL;
	int fits;

	n = base_trim_spaces(f, n, &t);
	if (!n)
		return 0;
	switch (role) {
	case REGISTRY_INT:
		fits = registry_cell_int(t, n);
		what = "not an int: emptied";
		break;
	case REGISTRY_NUMBER:
		fits = registry_cell_number(t, n);
		what = "not a number: emptied";
		break;
	case REGISTRY_CODE:
		fits = registry_cell_code(t, n);
		what = "not a code: emptied";
		break;
	case REGISTRY_ENUM:
		fits = registry_cell_enum(t, n, sp->enums + sp->arg[col] - 1);
		what = "not one of the enum values: emptied";
		break;
	default:
		return -EINVAL;		/* our mistake: fail closed */
	}
	if (ident_holds_personal_id(t, n, x->rc->pub.patient_id) ||
	    (fits && role != REGISTRY_ENUM && registry_cell_digits_id(t, n))) {
		report_col(x->report, x->arg, x->rc->pub.number, col,
			   "a personal ID in a kept column: emptied");
		return 0;
	}
	if (!fits) {
		report_col(x->report, x->arg, x->rc->pub.number, col, what);
		return 0;
	}
	return put_field(o, t, n, x->r->delim);
}

/* The pseudonym of the row's personal ID. */
static int put_pseudonym(struct row_ctx *x, struct obuf *o)
{
	char pseud[PSEUDONYM_MAX];
	int ret;

	pseud[0] = '\0';
	ret = x->keys->pseudonym(x->keys->arg, x->rc->pub.patient_id, pseud,
				 sizeof(pseud));
	if (ret > 0)
		ret = -EIO;
	if (ret)
		return ret;
	pseud[sizeof(pseud) - 1] = '\0';
	return put_field(o, pseud, strlen(pseud), x->r->delim);
}

/* Cell col of the row, in its role (not a dropped one). */
static int put_cell(struct row_ctx *x, struct obuf *o, unsigned col)
{
	const struct registry_rec *rc = x->rc;
	char cell[32];
	const char *f;
	size_t n;
	int ret;

	switch ((enum registry_role)x->r->spec.role[col]) {
	case REGISTRY_PSEUDONYM:
		return put_pseudonym(x, o);
	case REGISTRY_MONTH:
	case REGISTRY_DAYS_SINCE:
	case REGISTRY_SHIFT:
		ret = date_cell(x, col, cell, sizeof(cell));
		return ret ? ret : put(o, cell, strlen(cell));
	case REGISTRY_INT:
	case REGISTRY_NUMBER:
	case REGISTRY_CODE:
	case REGISTRY_ENUM:
		f = registry_parse_field(rc, col, &n);
		return put_typed(o, f, n, x, col);
	default:
		f = registry_parse_field(rc, col, &n);
		return put_kept(o, f, n, x->r->delim, rc->pub.patient_id, x,
				col);
	}
}

/* One line without the dropped columns: the header (x->rc NULL), its
 * cells cleaned as text, or a row, each cell in its role. */
static int render_line(struct row_ctx *x, struct obuf *o)
{
	const struct registry *r = x->r;
	const char *f;
	size_t n;
	unsigned col;
	int first = 1, ret = 0;

	x->have_shift = 0;
	for (col = 1; col <= r->ncols && !ret; col++) {
		if (r->spec.role[col] == REGISTRY_DROP)
			continue;
		if (!first)
			ret = put(o, &r->delim, 1);
		first = 0;
		if (ret)
			break;
		if (x->rc) {
			ret = put_cell(x, o, col);
		} else {
			f = registry_parse_field(&r->header, col, &n);
			ret = put_kept(o, f, n, r->delim, NULL, NULL, col);
		}
	}
	if (!ret && x->keys->extra_name) {
		const char *e = x->keys->extra_name;

		if (x->rc)
			e = x->keys->extra ? x->keys->extra[x->rc - r->rows]
					   : NULL;
		if (!first)
			ret = put(o, &r->delim, 1);
		if (!ret && e)
			ret = put_field(o, e, strlen(e), r->delim);
	}
	if (!ret)
		ret = put(o, "\n", 1);
	return ret;
}

int registry_render(const struct registry *r, const uint8_t *include,
		    const struct registry_keys *keys,
		    registry_report_fn report, void *arg, char **out,
		    size_t *outlen)
{
	struct obuf o = { 0 };
	struct row_ctx x = { 0 };
	size_t i;
	int ret = 0;

	*out = NULL;
	*outlen = 0;
	if (!r || !keys || !keys->pseudonym ||
	    (r->spec.has_shift && !keys->shift_days)) {
		ret = -EINVAL;
		goto out;
	}
	x.r = r;
	x.keys = keys;
	x.report = report;
	x.arg = arg;
	/* Always a buffer, even for an empty result. */
	ret = put(&o, "", 0);
	if (!ret && r->has_header && r->header.data)
		ret = render_line(&x, &o);
	if (ret)
		goto out;
	for (i = 0; i < r->nrows; i++) {
		if (!r->rows[i].pub.valid || (include && !include[i]))
			continue;
		x.rc = &r->rows[i];
		ret = render_line(&x, &o);
		if (ret)
			goto out;
	}
	*out = o.p;
	*outlen = o.len;
	o.p = NULL;
out:
	base_wipe_free(o.p, o.cap);
	explicit_bzero(&x, sizeof(x));
	return ret;
}
