/*
 * registry.c - the registry CSV: reading it with libcsv, the --csv-spec
 * column roles, and rendering the de-identified copy.
 *
 * Row numbers are physical line numbers (counted by LF, 1-based) of the
 * line where a record starts.  Empty lines are skipped but still count, so a
 * number always points at the line an operator would open in an editor.  A
 * file with CR-only line endings is one "line" as far as numbering goes.
 * A line holding only spaces counts as empty.  The header (or, without one,
 * the first record) fixes the column count and must reach every column the
 * spec and the key date column name, otherwise the file does not have the
 * expected layout and is refused (-EBADMSG) rather than half de-identified.
 *
 * opts == NULL means ';', a header, the default spec and date column 3; a
 * zero delimiter or date_column also takes the default.  A quote, CR or LF
 * as delimiter, or a date column beyond REGISTRY_MAX_COLUMNS, is -EINVAL.
 *
 * Personal IDs are trimmed of spaces (as keyed_normalise() does); one that is
 * empty or holds a NUL byte (it would be cut short as a C string and could
 * collide with another ID) makes the row invalid.  For invalid rows
 * patient_id and study_date are still filled when the columns exist, but the
 * field bytes are not kept.
 *
 * The fields are kept byte for byte, with one exception: a CRLF inside a
 * quoted field becomes LF, because the output uses LF and a stray CR would
 * otherwise survive into the research copy.
 *
 * Everything read from the CSV may be PHI: the buffers holding it are wiped
 * before they are freed (libcsv's own entry buffer too, through its
 * realloc/free hooks), and no message built here quotes a value.
 */
#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "base.h"
#include "civil.h"
#include "ident.h"

#define DEFAULT_DELIMITER ';'
#define DEFAULT_DATE_COLUMN 3u
#define PSEUDONYM_MAX 256	/* bytes a keys->pseudonym() may write */
#define CSV_BLOCK 16384		/* libcsv grows its field buffer linearly */
#define REASON_MAX 96

/* Plain data, no pointers: struct registry keeps a copy. */
struct registry_spec {
	uint8_t role[REGISTRY_MAX_COLUMNS + 1];	/* enum registry_role */
	/* days-since: the reference column; enum: 1 + the offset of its
	 * values in enums; any other listed column: SPEC_LISTED.  0: not
	 * listed. */
	uint16_t arg[REGISTRY_MAX_COLUMNS + 1];
	unsigned id_column;
	unsigned max_column;	/* highest column a non-text role needs */
	int has_shift;
	/* enum values: each column's "A|B|C", NUL-terminated, back to back */
	char enums[REGISTRY_ENUM_BYTES];
	size_t enums_len;
};

#define SPEC_LISTED 0xffff

/* One record: fields back to back, each NUL-terminated (data may hold NULs
 * of its own: lengths come from off[]). */
struct rec {
	struct registry_row pub;
	char *data;		/* PHI, wiped on free; NULL for invalid rows */
	size_t *off;		/* nfields + 1 start offsets */
	size_t nfields;
};

struct registry {
	struct registry_spec spec;	/* a copy: the caller's may go away */
	char delim;
	int has_header;
	struct rec header;
	int header_seen;
	size_t ncols;		/* of the header or the first record */
	struct rec *rows;
	size_t nrows, cap;
};

/* ---------------------------------------------------------------- dates */

/* Up to max digits at *s (advanced); 0 or -EINVAL. */
static int digits(const char **s, const char *end, unsigned min,
		  unsigned max, unsigned *val)
{
	unsigned n = 0, v = 0;

	while (*s < end && **s >= '0' && **s <= '9' && n < max) {
		v = v * 10 + (unsigned)(**s - '0');
		(*s)++;
		n++;
	}
	if (n < min)
		return -EINVAL;
	*val = v;
	return 0;
}

/* d.m.yyyy or dd.mm.yyyy with optional surrounding spaces; a real calendar
 * day in 1800..2200 (outside that it is a typo, not a screening). */
static int parse_dmy(const char *s, size_t n, int *y, unsigned *m,
		     unsigned *d)
{
	const char *p, *end;
	unsigned dd, mm, yy;

	if (!s)
		return -EINVAL;
	n = base_trim_spaces(s, n, &p);
	end = p + n;
	if (digits(&p, end, 1, 2, &dd) || p == end || *p++ != '.' ||
	    digits(&p, end, 1, 2, &mm) || p == end || *p++ != '.' ||
	    digits(&p, end, 4, 4, &yy) || p != end)
		return -EINVAL;
	if (yy < 1800 || yy > 2200 || !civil_valid(yy, mm, dd))
		return -EINVAL;
	*y = (int)yy;
	*m = mm;
	*d = dd;
	return 0;
}

int registry_parse_date(const char *s, size_t n, char out[9])
{
	unsigned m, d;
	int y;

	out[0] = '\0';
	if (parse_dmy(s, n, &y, &m, &d))
		return -EINVAL;
	snprintf(out, 9, "%04d%02u%02u", y, m, d);
	return 0;
}

/* ----------------------------------------------------------------- spec */

static int parse_uint(const char *s, size_t n, unsigned *val)
{
	unsigned v = 0;
	size_t i;

	if (!n || n > 9)	/* 9 digits cannot overflow */
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*val = v;
	return 0;
}

static int match(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && !memcmp(s, word, n);
}

static int plain_number(const char *s, size_t n);

/*
 * Check the values of an enum role, (v, n) = "A|B|C".  Returns NULL or a
 * fixed text saying what is wrong.
 */
static const char *enum_values_bad(const char *v, size_t n)
{
	const char *end = v + n, *bar;
	size_t l, i;

	if (!n)
		return "no values";
	for (;;) {
		bar = memchr(v, '|', (size_t)(end - v));
		l = (size_t)((bar ? bar : end) - v);
		if (!l)
			return "an empty value";
		if (l > REGISTRY_ENUM_VALUE_MAX)
			return "a value too long";
		for (i = 0; i < l; i++)
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				return "a control character in a value";
		if (v[0] == ' ' || v[l - 1] == ' ')
			return "a value with a leading or trailing space";
		if (strchr("=+-@", v[0]) && !plain_number(v, l))
			return "a value a spreadsheet would run as a formula "
			       "(starting with = + - @)";
		if (!bar)
			return NULL;
		v = bar + 1;
	}
}

/* One "N=role" item (already trimmed). */
static int spec_item(struct registry_spec *sp, const char *it, size_t n,
		     char *err, size_t errsz)
{
	static const struct {
		const char *name;
		enum registry_role role;
	} plain[] = {
		{ "text", REGISTRY_TEXT },
		{ "keep", REGISTRY_TEXT },
		{ "int", REGISTRY_INT },
		{ "number", REGISTRY_NUMBER },
		{ "code", REGISTRY_CODE },
		{ "pseudonym", REGISTRY_PSEUDONYM },
		{ "drop", REGISTRY_DROP },
		{ "month", REGISTRY_MONTH },
		{ "shift", REGISTRY_SHIFT },
	};
	const char *eq = memchr(it, '=', n), *role, *p, *colon, *a = NULL;
	const char *why;
	size_t cn, rn, nn, an = 0, i;
	unsigned col, ref = 0;
	int shown = n > 64 ? 64 : (int)n;
	enum registry_role r;
	uint16_t arg = SPEC_LISTED;

	if (!eq) {
		base_errf(err, errsz, "csv-spec: item \"%.*s\" is not column=role",
			shown, it);
		return -EINVAL;
	}
	cn = base_trim_spaces(it, (size_t)(eq - it), &p);
	if (parse_uint(p, cn, &col)) {
		base_errf(err, errsz, "csv-spec: bad column number in \"%.*s\"",
			shown, it);
		return -EINVAL;
	}
	if (col == 0 || col > REGISTRY_MAX_COLUMNS) {
		base_errf(err, errsz,
			"csv-spec: column %u in \"%.*s\" out of range 1..%u",
			col, shown, it, (unsigned)REGISTRY_MAX_COLUMNS);
		return -EINVAL;
	}
	rn = base_trim_spaces(eq + 1, n - (size_t)(eq + 1 - it), &role);
	/* name[:argument] */
	colon = memchr(role, ':', rn);
	nn = colon ? (size_t)(colon - role) : rn;
	if (colon) {
		a = colon + 1;
		an = rn - nn - 1;
	}
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (match(role, nn, plain[i].name))
			break;
	if (i < sizeof(plain) / sizeof(plain[0])) {
		if (colon) {
			base_errf(err, errsz,
				"csv-spec: role %s takes no argument, in \"%.*s\"",
				plain[i].name, shown, it);
			return -EINVAL;
		}
		r = plain[i].role;
	} else if (match(role, nn, "days-since")) {
		r = REGISTRY_DAYS_SINCE;
		cn = colon ? base_trim_spaces(a, an, &p) : 0;
		if (parse_uint(p, cn, &ref) || ref == 0 ||
		    ref > REGISTRY_MAX_COLUMNS || ref == col) {
			base_errf(err, errsz,
				"csv-spec: bad days-since reference in \"%.*s\" (days-since:N, N another column 1..%u)",
				shown, it, (unsigned)REGISTRY_MAX_COLUMNS);
			return -EINVAL;
		}
		arg = (uint16_t)ref;
	} else if (match(role, nn, "enum")) {
		r = REGISTRY_ENUM;
		why = colon ? enum_values_bad(a, an) : "no values";
		if (why) {
			base_errf(err, errsz,
				"csv-spec: bad enum in \"%.*s\": %s (enum:A|B|..., each value 1-%u bytes)",
				shown, it, why,
				(unsigned)REGISTRY_ENUM_VALUE_MAX);
			return -EINVAL;
		}
		if (an + 1 > sizeof(sp->enums) - sp->enums_len) {
			base_errf(err, errsz,
				"csv-spec: more than %u bytes of enum values, at \"%.*s\"",
				(unsigned)REGISTRY_ENUM_BYTES, shown, it);
			return -EINVAL;
		}
		/* 1 + offset < REGISTRY_ENUM_BYTES < SPEC_LISTED */
		arg = (uint16_t)(1 + sp->enums_len);
	} else {
		base_errf(err, errsz, "csv-spec: unknown role in \"%.*s\" "
			"(text, keep, int, number, code, enum:A|B|..., "
			"pseudonym, drop, month, days-since:N, shift)",
			shown, it);
		return -EINVAL;
	}
	if (sp->arg[col]) {
		base_errf(err, errsz, "csv-spec: column %u listed twice", col);
		return -EINVAL;
	}
	if (r == REGISTRY_PSEUDONYM) {
		if (sp->id_column) {
			base_errf(err, errsz,
				"csv-spec: more than one pseudonym column (%u and %u)",
				sp->id_column, col);
			return -EINVAL;
		}
		sp->id_column = col;
	}
	if (r == REGISTRY_ENUM) {
		memcpy(sp->enums + sp->enums_len, a, an);
		sp->enums[sp->enums_len + an] = '\0';
		sp->enums_len += an + 1;
	}
	sp->role[col] = (uint8_t)r;
	sp->arg[col] = arg;
	if (r != REGISTRY_TEXT && col > sp->max_column)
		sp->max_column = col;
	if (ref > sp->max_column)
		sp->max_column = ref;
	if (r == REGISTRY_SHIFT)
		sp->has_shift = 1;
	return 0;
}

int registry_spec_parse(const char *spec, struct registry_spec **out,
			char *err, size_t errsz)
{
	struct registry_spec *sp = NULL;
	const char *s, *end, *comma, *it;
	size_t n;
	unsigned c;
	int ret = 0;

	*out = NULL;
	if (!spec) {
		base_errf(err, errsz, "csv-spec: missing");
		ret = -EINVAL;
		goto out;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp) {
		ret = -ENOMEM;
		goto out;
	}
	s = spec;
	end = spec + strlen(spec);
	for (;;) {
		comma = memchr(s, ',', (size_t)(end - s));
		n = base_trim_spaces(s, (size_t)((comma ? comma : end) - s), &it);
		if (!n) {
			base_errf(err, errsz, "csv-spec: empty item in \"%.*s\"",
				(int)(end - spec > 200 ? 200 : end - spec),
				spec);
			ret = -EINVAL;
			goto out;
		}
		ret = spec_item(sp, it, n, err, errsz);
		if (ret)
			goto out;
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!sp->id_column) {
		base_errf(err, errsz,
			"csv-spec: no pseudonym column (exactly one is required)");
		ret = -EINVAL;
		goto out;
	}
	for (c = 1; c <= REGISTRY_MAX_COLUMNS; c++) {
		if (sp->role[c] == REGISTRY_DAYS_SINCE &&
		    sp->arg[c] == sp->id_column) {
			base_errf(err, errsz,
				"csv-spec: column %u counts days since the pseudonym column",
				c);
			ret = -EINVAL;
			goto out;
		}
	}
	*out = sp;
	sp = NULL;
out:
	free(sp);
	return ret;
}

void registry_spec_free(struct registry_spec *s)
{
	free(s);
}

unsigned registry_spec_id_column(const struct registry_spec *s)
{
	return s ? s->id_column : 0;
}

/* -------------------------------------------------------------- memory */

/*
 * libcsv's entry buffer holds each field in turn.  Its realloc hook has no
 * context, so the size of the old block comes from malloc_usable_size() to
 * wipe it; the cap makes a runaway field (an unbalanced quote swallowing the
 * file) fail as CSV_ENOMEM at a bounded size.
 */
#define CSV_BUF_CAP ((size_t)REGISTRY_MAX_FIELD + 2)

static void *csv_wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (n > CSV_BUF_CAP)
		return NULL;
	q = malloc(n);
	if (!q || !p)
		return q;
	old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	explicit_bzero(p, old);
	free(p);
	return q;
}

static void csv_wipe_free(void *p)
{
	if (p)
		base_wipe_free(p, malloc_usable_size(p));
}

static void rec_clear(struct rec *rc)
{
	if (rc->data)
		base_wipe_free(rc->data, rc->off[rc->nfields]);
	base_wipe_str_free(rc->pub.patient_id);
	free(rc->off);
	explicit_bzero(rc, sizeof(*rc));
}

void registry_free(struct registry *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nrows; i++)
		rec_clear(&r->rows[i]);
	rec_clear(&r->header);
	base_wipe_free(r->rows, r->cap * sizeof(*r->rows));
	free(r);
}

size_t registry_row_count(const struct registry *r)
{
	return r ? r->nrows : 0;
}

const struct registry_row *registry_row(const struct registry *r, size_t i)
{
	if (!r || i >= r->nrows)
		return NULL;
	return &r->rows[i].pub;
}

/* -------------------------------------------------------------- parsing */

struct parse_ctx {
	struct registry *r;
	unsigned date_column;
	registry_report_fn report;
	void *arg;
	/* the record being read: fields back to back, NUL-terminated */
	unsigned char *buf;
	size_t len, cap;
	size_t off[REGISTRY_MAX_COLUMNS + 2];
	size_t nfields;		/* may exceed the stored ones (overflow) */
	uint64_t line;		/* physical line being fed */
	uint64_t rec_start;	/* line where the current record began */
	int lf_row;		/* an LF outside quotes ended a row */
	int ret;
	char *err;
	size_t errsz;
};

static void report_row(struct parse_ctx *c, uint64_t row, const char *why)
{
	if (c->report)
		c->report(c->arg, row, why);
}

static int buf_reserve(struct parse_ctx *c, size_t more)
{
	if (more > SIZE_MAX - c->len)
		return -E2BIG;
	return BASE_GROW(c->buf, c->cap, c->len, c->len + more, 4096,
			 BASE_GROW_WIPE);
}

static void on_field(void *field, size_t n, void *data)
{
	struct parse_ctx *c = data;
	const unsigned char *f = field;
	size_t i;
	int ret;

	if (c->ret)
		return;
	if (c->nfields >= REGISTRY_MAX_COLUMNS) {
		/* Count, don't keep: the row is too wide to be valid. */
		if (c->nfields < SIZE_MAX)
			c->nfields++;
		return;
	}
	if (n > REGISTRY_MAX_FIELD) {
		base_errf(c->err, c->errsz,
			"registry row %" PRIu64 ": field longer than %u bytes",
			c->rec_start, (unsigned)REGISTRY_MAX_FIELD);
		c->ret = -E2BIG;
		return;
	}
	ret = buf_reserve(c, n + 1);
	if (ret) {
		c->ret = ret;
		return;
	}
	c->off[c->nfields++] = c->len;
	for (i = 0; i < n; i++) {
		if (f[i] == '\r' && i + 1 < n && f[i + 1] == '\n')
			continue;	/* CRLF in a quoted field -> LF */
		c->buf[c->len++] = f[i];
	}
	c->buf[c->len++] = '\0';
}

static int blank_record(const struct parse_ctx *c)
{
	size_t i;

	if (c->nfields != 1)
		return c->nfields == 0;
	for (i = 0; i + 1 < c->len; i++)
		if (c->buf[i] != ' ')
			return 0;
	return 1;
}

/* Copy the current record out of the accumulator. */
static int rec_store(struct parse_ctx *c, struct rec *rc)
{
	size_t n = c->nfields;

	rc->off = malloc((n + 1) * sizeof(*rc->off));
	rc->data = malloc(c->len ? c->len : 1);
	if (!rc->off || !rc->data) {
		free(rc->off);
		free(rc->data);
		rc->off = NULL;
		rc->data = NULL;
		return -ENOMEM;
	}
	memcpy(rc->off, c->off, n * sizeof(*rc->off));
	rc->off[n] = c->len;
	memcpy(rc->data, c->buf, c->len);
	rc->nfields = n;
	return 0;
}

static const char *cur_field(const struct parse_ctx *c, unsigned col,
			     size_t *n)
{
	size_t stored = c->nfields < REGISTRY_MAX_COLUMNS ? c->nfields :
			REGISTRY_MAX_COLUMNS;

	if (col == 0 || col > stored)
		return NULL;
	*n = (col < stored ? c->off[col] : c->len) - c->off[col - 1] - 1;
	return (const char *)c->buf + c->off[col - 1];
}

/* The first record fixes the column count; the spec must fit in it. */
static int first_record(struct parse_ctx *c)
{
	struct registry *r = c->r;
	unsigned need = r->spec.max_column;

	if (c->nfields > REGISTRY_MAX_COLUMNS) {
		base_errf(c->err, c->errsz,
			"registry row %" PRIu64 ": more than %u columns",
			c->rec_start, (unsigned)REGISTRY_MAX_COLUMNS);
		return -E2BIG;
	}
	if (c->date_column > need)
		need = c->date_column;
	if (need > c->nfields) {
		base_errf(c->err, c->errsz,
			"registry: the spec or key date needs column %u but row %"
			PRIu64 " has %zu columns", need, c->rec_start,
			c->nfields);
		return -EBADMSG;
	}
	r->ncols = c->nfields;
	r->header_seen = 1;
	if (!r->has_header)
		return 0;
	r->header.pub.number = c->rec_start;
	r->header.pub.valid = 1;
	return rec_store(c, &r->header);
}

static int add_row(struct parse_ctx *c)
{
	struct registry *r = c->r;
	struct rec *rc;
	const char *f, *id;
	size_t n;
	char why[REASON_MAX];
	unsigned idc = r->spec.id_column;
	int err;

	err = BASE_GROW(r->rows, r->cap, r->nrows, r->nrows + 1, 64,
			BASE_GROW_WIPE);
	if (err)
		return err;
	rc = &r->rows[r->nrows];
	memset(rc, 0, sizeof(*rc));
	rc->pub.number = c->rec_start;
	rc->pub.valid = 1;
	if (c->nfields != r->ncols) {
		report_row(c, c->rec_start, "wrong column count");
		rc->pub.valid = 0;
	}
	f = cur_field(c, idc, &n);
	if (f) {
		n = base_trim_spaces(f, n, &id);
		/* An ID with a NUL would be cut short as a C string and could
		 * collide with another one: treat it as missing. */
		if (n && !memchr(id, '\0', n)) {
			rc->pub.patient_id = strndup(id, n);
			if (!rc->pub.patient_id)
				return -ENOMEM;
		}
	}
	if (!rc->pub.patient_id) {
		snprintf(why, sizeof(why),
			 "column %u: missing or invalid personal ID", idc);
		report_row(c, c->rec_start, why);
		rc->pub.valid = 0;
	}
	f = cur_field(c, c->date_column, &n);
	if (f)
		registry_parse_date(f, n, rc->pub.study_date);
	/* nrows first: rec_clear() must see a half-built row on error. */
	r->nrows++;
	if (rc->pub.valid)
		return rec_store(c, rc);
	return 0;
}

static void on_row(int ch, void *data)
{
	struct parse_ctx *c = data;
	int ret = 0;

	if (ch == '\n')
		c->lf_row = 1;
	if (c->ret)
		return;
	if (!blank_record(c)) {
		if (!c->r->header_seen) {
			ret = first_record(c);
			if (!ret && !c->r->has_header)
				ret = add_row(c);
		} else {
			ret = add_row(c);
		}
	}
	if (c->len)
		explicit_bzero(c->buf, c->len);
	c->len = 0;
	c->nfields = 0;
	/* A record after a CR-only line end starts on this same line. */
	c->rec_start = c->line;
	c->ret = ret;
}

static int no_space(unsigned char ch)
{
	/* Keep leading/trailing blanks: the fields pass through unchanged. */
	(void)ch;
	return 0;
}

static int csv_status(struct csv_parser *p, struct parse_ctx *c)
{
	int st = csv_error(p);

	if (st == CSV_ENOMEM && csv_get_buffer_size(p) + CSV_BLOCK >
	    CSV_BUF_CAP) {
		base_errf(c->err, c->errsz,
			"registry row %" PRIu64 ": field longer than %u bytes",
			c->rec_start, (unsigned)REGISTRY_MAX_FIELD);
		return -E2BIG;
	}
	if (st == CSV_ENOMEM)
		return -ENOMEM;
	if (st == CSV_ETOOBIG) {
		base_errf(c->err, c->errsz, "registry row %" PRIu64
			": field too large", c->rec_start);
		return -E2BIG;
	}
	base_errf(c->err, c->errsz, "registry row %" PRIu64 ": %s",
		c->rec_start, csv_strerror(st));
	return -EBADMSG;
}

int registry_parse(const char *buf, size_t len,
		   const struct registry_opts *opts, registry_report_fn report,
		   void *arg, struct registry **out, char *err, size_t errsz)
{
	struct registry_spec *defspec = NULL;
	struct parse_ctx *c = NULL;
	struct csv_parser p;
	int csv_ready = 0, open = 0, ret = 0;
	const char *s, *end, *nl;
	size_t n;
	char delim = DEFAULT_DELIMITER;

	*out = NULL;
	if (!buf && len) {
		ret = -EINVAL;
		goto out;
	}
	if ((uint64_t)len > REGISTRY_MAX_BYTES) {
		base_errf(err, errsz, "registry: file larger than %llu bytes",
			(unsigned long long)REGISTRY_MAX_BYTES);
		ret = -E2BIG;
		goto out;
	}
	if (opts && opts->delimiter)
		delim = opts->delimiter;
	if (delim == '"' || delim == '\r' || delim == '\n') {
		base_errf(err, errsz, "registry: invalid delimiter");
		ret = -EINVAL;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		ret = -ENOMEM;
		goto out;
	}
	c->r = calloc(1, sizeof(*c->r));
	if (!c->r) {
		ret = -ENOMEM;
		goto out;
	}
	if (!opts || !opts->spec) {
		ret = registry_spec_parse(REGISTRY_DEFAULT_SPEC, &defspec,
					  err, errsz);
		if (ret)
			goto out;
		c->r->spec = *defspec;
	} else {
		c->r->spec = *opts->spec;
	}
	c->r->delim = delim;
	c->r->has_header = opts ? !!opts->has_header : 1;
	c->date_column = opts && opts->date_column ? opts->date_column :
			 DEFAULT_DATE_COLUMN;
	if (c->date_column > REGISTRY_MAX_COLUMNS) {
		base_errf(err, errsz, "registry: key date column %u out of range",
			c->date_column);
		ret = -EINVAL;
		goto out;
	}
	c->report = report;
	c->arg = arg;
	c->err = err;
	c->errsz = errsz;
	c->line = 1;
	c->rec_start = 1;

	if (csv_init(&p, CSV_REPALL_NL)) {
		ret = -ENOMEM;
		goto out;
	}
	csv_ready = 1;
	csv_set_delim(&p, (unsigned char)delim);
	csv_set_space_func(&p, no_space);
	csv_set_realloc_func(&p, csv_wipe_realloc);
	csv_set_free_func(&p, csv_wipe_free);
	csv_set_blk_size(&p, CSV_BLOCK);

	s = len ? buf : "";	/* no arithmetic on a NULL buf */
	end = s + len;
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		s += 3;
	/*
	 * Feed one physical line at a time: libcsv does not say where a
	 * record starts, but a line ending in an LF outside quotes always
	 * ends with an on_row('\n') (CSV_REPALL_NL), and only then does the
	 * next line start a new record.
	 */
	while (s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		n = nl ? (size_t)(nl + 1 - s) : (size_t)(end - s);
		if (!open)
			c->rec_start = c->line;
		c->lf_row = 0;
		if (csv_parse(&p, s, n, on_field, on_row, c) != n) {
			ret = c->ret ? c->ret : csv_status(&p, c);
			goto out;
		}
		if (c->ret) {
			ret = c->ret;
			goto out;
		}
		s += n;
		if (nl) {
			open = !c->lf_row;
			c->line++;
		}
	}
	/* Only csv_fini() looks at CSV_STRICT_FINI, so the parse above stays
	 * lenient about stray quotes while an unterminated quoted field at
	 * the end (which swallowed the rest of the file) is refused. */
	csv_set_opts(&p, CSV_REPALL_NL | CSV_STRICT | CSV_STRICT_FINI);
	if (csv_fini(&p, on_field, on_row, c)) {
		base_errf(err, errsz, "registry row %" PRIu64
			": quoted field not closed at end of file",
			c->rec_start);
		ret = -EBADMSG;
		goto out;
	}
	ret = c->ret;
	if (ret)
		goto out;
	*out = c->r;
	c->r = NULL;
out:
	if (csv_ready)
		csv_free(&p);
	if (c) {
		registry_free(c->r);
		base_wipe_free(c->buf, c->cap);
		base_wipe_free(c, sizeof(*c));
	}
	registry_spec_free(defspec);
	return ret;
}

/* ------------------------------------------------------------ rendering */

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

static const char *rec_field(const struct rec *rc, unsigned col, size_t *n)
{
	*n = rc->off[col] - rc->off[col - 1] - 1;
	return rc->data + rc->off[col - 1];
}

static int blank(const char *s, size_t n)
{
	const char *t;

	return base_trim_spaces(s, n, &t) == 0;
}

static void report_col(registry_report_fn report, void *arg, uint64_t row,
		       unsigned col, const char *what)
{
	char why[REASON_MAX];

	if (!report)
		return;
	snprintf(why, sizeof(why), "column %u: %s", col, what);
	report(arg, row, why);
}

struct row_ctx {
	const struct registry *r;
	const struct rec *rc;
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
	const struct rec *rc = x->rc;
	enum registry_role role = x->r->spec.role[col];
	unsigned ref = x->r->spec.arg[col], m, d, rm, rd;
	int y, ry;
	int64_t days, yy;
	const char *f;
	size_t n;

	cell[0] = '\0';
	f = rec_field(rc, col, &n);
	if (blank(f, n))
		return 0;
	if (parse_dmy(f, n, &y, &m, &d)) {
		report_col(x->report, x->arg, rc->pub.number, col,
			   "unparseable date");
		return 0;
	}
	switch (role) {
	case REGISTRY_MONTH:
		snprintf(cell, cellsz, "%04d-%02u", y, m);
		break;
	case REGISTRY_DAYS_SINCE:
		f = rec_field(rc, ref, &n);
		if (parse_dmy(f, n, &ry, &rm, &rd)) {
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

static int plain_number(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < n && (s[i] == '.' || s[i] == ',')) {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	return digits && i == n;
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
	    !plain_number(c + 1 + lead, n - lead)) {
		c[0] = '\'';
		ret = put_field(o, c, n + 1, delim);
	} else {
		ret = put_field(o, c + 1, n, delim);
	}
	explicit_bzero(c, n + 2);
	free(c);
	return ret;
}

/* [+-]digits, 1..REGISTRY_INT_DIGITS digits. */
static int fits_int(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if (i == n || n - i > REGISTRY_INT_DIGITS)
		return 0;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static size_t skip_digits(const char *s, size_t n, size_t i)
{
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	return i;
}

/* [+-]digits[(.|,)digits][(e|E)[+-]digits], a digit before or after the
 * point, up to REGISTRY_NUMBER_MAX characters; no inf, nan or hex. */
static int fits_number(const char *s, size_t n)
{
	size_t i = 0, j;
	int mant;

	if (n > REGISTRY_NUMBER_MAX)
		return 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	j = skip_digits(s, n, i);
	mant = j > i;
	i = j;
	if (i < n && (s[i] == '.' || s[i] == ',')) {
		j = skip_digits(s, n, i + 1);
		mant |= j > i + 1;
		i = j;
	}
	if (!mant)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		j = skip_digits(s, n, i);
		if (j == i || j - i > REGISTRY_NUMBER_EXP_DIGITS)
			return 0;
		i = j;
	}
	return i == n;
}

/* 1..REGISTRY_CODE_MAX of A-Z a-z 0-9 . _ -, not '-' first (a
 * spreadsheet reads "-A1" as a formula). */
static int fits_code(const char *s, size_t n)
{
	size_t i;

	if (!n || n > REGISTRY_CODE_MAX || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* Exactly one of the values "A|B|C" (values hold no '|'). */
static int fits_enum(const char *s, size_t n, const char *vals)
{
	const char *v = vals, *bar;
	size_t l;

	for (;;) {
		bar = strchr(v, '|');
		l = bar ? (size_t)(bar - v) : strlen(v);
		if (l == n && !memcmp(v, s, n))
			return 1;
		if (!bar)
			return 0;
		v = bar + 1;
	}
}

/* Whether the digits of (s, n), read together, are exactly a valid
 * personal ID: "0102031004.5" hides one in a number. */
static int digits_form_id(const char *s, size_t n)
{
	char d[11];
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			continue;
		if (k == sizeof(d))
			return 0;
		d[k++] = s[i];
	}
	return k == sizeof(d) && ident_fnr_valid(d);
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
		fits = fits_int(t, n);
		what = "not an int: emptied";
		break;
	case REGISTRY_NUMBER:
		fits = fits_number(t, n);
		what = "not a number: emptied";
		break;
	case REGISTRY_CODE:
		fits = fits_code(t, n);
		what = "not a code: emptied";
		break;
	case REGISTRY_ENUM:
		fits = fits_enum(t, n, sp->enums + sp->arg[col] - 1);
		what = "not one of the enum values: emptied";
		break;
	default:
		return -EINVAL;		/* our mistake: fail closed */
	}
	if (ident_holds_personal_id(t, n, x->rc->pub.patient_id) ||
	    (fits && role != REGISTRY_ENUM && digits_form_id(t, n))) {
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

static int render_row(struct row_ctx *x, struct obuf *o)
{
	const struct registry *r = x->r;
	const struct rec *rc = x->rc;
	char pseud[PSEUDONYM_MAX], cell[32];
	const char *f;
	size_t n;
	unsigned col;
	int first = 1, ret = 0;

	x->have_shift = 0;
	for (col = 1; col <= r->ncols && !ret; col++) {
		enum registry_role role = r->spec.role[col];

		if (role == REGISTRY_DROP)
			continue;
		if (!first)
			ret = put(o, &r->delim, 1);
		first = 0;
		if (ret)
			break;
		switch (role) {
		case REGISTRY_PSEUDONYM:
			pseud[0] = '\0';
			ret = x->keys->pseudonym(x->keys->arg,
						 rc->pub.patient_id, pseud,
						 sizeof(pseud));
			if (ret > 0)
				ret = -EIO;
			if (ret)
				break;
			pseud[sizeof(pseud) - 1] = '\0';
			ret = put_field(o, pseud, strlen(pseud), r->delim);
			break;
		case REGISTRY_MONTH:
		case REGISTRY_DAYS_SINCE:
		case REGISTRY_SHIFT:
			ret = date_cell(x, col, cell, sizeof(cell));
			if (!ret)
				ret = put(o, cell, strlen(cell));
			break;
		case REGISTRY_INT:
		case REGISTRY_NUMBER:
		case REGISTRY_CODE:
		case REGISTRY_ENUM:
			f = rec_field(rc, col, &n);
			ret = put_typed(o, f, n, x, col);
			break;
		default:
			f = rec_field(rc, col, &n);
			ret = put_kept(o, f, n, r->delim, rc->pub.patient_id,
				       x, col);
			break;
		}
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
	const struct rec *h;
	const char *f;
	size_t i, n;
	unsigned col;
	int first = 1, ret = 0;

	*out = NULL;
	*outlen = 0;
	if (!r || !keys || !keys->pseudonym ||
	    (r->spec.has_shift && !keys->shift_days)) {
		ret = -EINVAL;
		goto out;
	}
	/* Always a buffer, even for an empty result. */
	ret = put(&o, "", 0);
	if (ret)
		goto out;
	h = &r->header;
	if (r->has_header && h->data) {
		for (col = 1; col <= r->ncols && !ret; col++) {
			if (r->spec.role[col] == REGISTRY_DROP)
				continue;
			if (!first)
				ret = put(&o, &r->delim, 1);
			first = 0;
			f = rec_field(h, col, &n);
			if (!ret)
				ret = put_kept(&o, f, n, r->delim, NULL, NULL,
					       col);
		}
		if (!ret)
			ret = put(&o, "\n", 1);
		if (ret)
			goto out;
	}
	x.r = r;
	x.keys = keys;
	x.report = report;
	x.arg = arg;
	for (i = 0; i < r->nrows; i++) {
		if (!r->rows[i].pub.valid || (include && !include[i]))
			continue;
		x.rc = &r->rows[i];
		ret = render_row(&x, &o);
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
