/*
 * registry_parse.c - reading the registry CSV with libcsv
 * (registry_parse(), registry.h) into a struct registry (registry_parse.h).
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
 * Personal IDs are trimmed of spaces (base_trim_spaces(), as keyed.c does
 * before it derives anything from them); one that is empty or holds a NUL
 * byte (it would be cut short as a C string and could collide with another
 * ID) makes the row invalid.  For invalid rows patient_id and study_date
 * are still filled when the columns exist, but the field bytes are not
 * kept.
 *
 * The fields are kept byte for byte, with one exception: a CRLF inside a
 * quoted field becomes LF, because the output uses LF and a stray CR would
 * otherwise survive into the research copy.
 *
 * Everything read from the CSV may be PHI: the buffers holding it are wiped
 * before they are freed (libcsv's own entry buffer too, through its
 * realloc/free hooks), and no message built here quotes a value.
 */
#include "registry_parse.h"
#include "base.h"
#include "registry_cell.h"

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DELIMITER ';'
#define DEFAULT_DATE_COLUMN 3u
#define CSV_BLOCK 16384		/* libcsv grows its field buffer linearly */

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

static void rec_clear(struct registry_rec *rc)
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

const char *registry_parse_field(const struct registry_rec *rc, unsigned col,
				 size_t *n)
{
	*n = rc->off[col] - rc->off[col - 1] - 1;
	return rc->data + rc->off[col - 1];
}

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
static int rec_store(struct parse_ctx *c, struct registry_rec *rc)
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
	struct registry_rec *rc;
	const char *f, *id;
	size_t n;
	char why[REGISTRY_REASON_MAX];
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

/* The delimiter opts ask for; -EINVAL (err says why) for one that cannot
 * be. */
static int delimiter(const struct registry_opts *opts, char *delim,
		     char *err, size_t errsz)
{
	*delim = DEFAULT_DELIMITER;
	if (opts && opts->delimiter)
		*delim = opts->delimiter;
	if (*delim == '"' || *delim == '\r' || *delim == '\n') {
		base_errf(err, errsz, "registry: invalid delimiter");
		return -EINVAL;
	}
	return 0;
}

static void ctx_free(struct parse_ctx *c)
{
	if (!c)
		return;
	registry_free(c->r);
	base_wipe_free(c->buf, c->cap);
	base_wipe_free(c, sizeof(*c));
}

/* A parse context with an empty registry of the options' spec (a copy),
 * delimiter, header flag and key date column. */
static int ctx_new(const struct registry_opts *opts, char delim,
		   registry_report_fn report, void *arg, char *err,
		   size_t errsz, struct parse_ctx **out)
{
	struct registry_spec *defspec = NULL;
	struct parse_ctx *c;
	int ret = -ENOMEM;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->r = calloc(1, sizeof(*c->r))))
		goto out;
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
	*out = c;
	c = NULL;
	ret = 0;
out:
	registry_spec_free(defspec);
	ctx_free(c);
	return ret;
}

/*
 * Feed [s, end) to libcsv one physical line at a time: libcsv does not
 * say where a record starts, but a line ending in an LF outside quotes
 * always ends with an on_row('\n') (CSV_REPALL_NL), and only then does
 * the next line start a new record.
 */
static int feed_lines(struct csv_parser *p, struct parse_ctx *c,
		      const char *s, const char *end)
{
	const char *nl;
	size_t n;
	int open = 0;

	while (s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		n = nl ? (size_t)(nl + 1 - s) : (size_t)(end - s);
		if (!open)
			c->rec_start = c->line;
		c->lf_row = 0;
		if (csv_parse(p, s, n, on_field, on_row, c) != n)
			return c->ret ? c->ret : csv_status(p, c);
		if (c->ret)
			return c->ret;
		s += n;
		if (nl) {
			open = !c->lf_row;
			c->line++;
		}
	}
	return 0;
}

/* Only csv_fini() looks at CSV_STRICT_FINI, so the parse stays lenient
 * about stray quotes while an unterminated quoted field at the end (which
 * swallowed the rest of the file) is refused. */
static int finish(struct csv_parser *p, struct parse_ctx *c)
{
	csv_set_opts(p, CSV_REPALL_NL | CSV_STRICT | CSV_STRICT_FINI);
	if (csv_fini(p, on_field, on_row, c)) {
		base_errf(c->err, c->errsz, "registry row %" PRIu64
			  ": quoted field not closed at end of file",
			  c->rec_start);
		return -EBADMSG;
	}
	return c->ret;
}

int registry_parse(const char *buf, size_t len,
		   const struct registry_opts *opts, registry_report_fn report,
		   void *arg, struct registry **out, char *err, size_t errsz)
{
	struct parse_ctx *c = NULL;
	struct csv_parser p;
	/* no arithmetic on a NULL buf */
	const char *s = len ? buf : "", *end = s + len;
	int csv_ready = 0, ret;
	char delim;

	*out = NULL;
	if (!buf && len)
		return -EINVAL;
	if ((uint64_t)len > REGISTRY_MAX_BYTES) {
		base_errf(err, errsz, "registry: file larger than %llu bytes",
			  (unsigned long long)REGISTRY_MAX_BYTES);
		return -E2BIG;
	}
	ret = delimiter(opts, &delim, err, errsz);
	if (!ret)
		ret = ctx_new(opts, delim, report, arg, err, errsz, &c);
	if (ret)
		return ret;
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
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		s += 3;		/* a UTF-8 byte order mark */
	ret = feed_lines(&p, c, s, end);
	if (!ret)
		ret = finish(&p, c);
	if (ret)
		goto out;
	*out = c->r;
	c->r = NULL;
out:
	if (csv_ready)
		csv_free(&p);
	ctx_free(c);
	return ret;
}

int registry_parse_date(const char *s, size_t n, char out[9])
{
	unsigned m, d;
	int y;

	out[0] = '\0';
	if (registry_cell_date(s, n, &y, &m, &d))
		return -EINVAL;
	snprintf(out, 9, "%04d%02u%02u", y, m, d);
	return 0;
}
