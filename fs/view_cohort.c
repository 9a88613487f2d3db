/*
 * view_cohort.c - the cohort: the registry CSV's rows linked to the
 * index's records by (personal ID, screening date), or the ID alone.  A
 * row is written to the cleaned CSV when it links a study (or with
 * --include-unlinked); a record is in the view when a row links it (or
 * there is no CSV).  Linking is decided before quarantine: any indexed
 * study, published or quarantined, links its rows.
 */
#include "view_cohort.h"
#include "view_snap.h"
#include "view_report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CSV_MAX_BYTES (1ull << 30)

static int cmp_key(const void *pa, const void *pb)
{
	const struct keyent *a = pa, *b = pb;
	int c = strcmp(a->pid, b->pid);

	return c ? c : strcmp(a->date, b->date);
}

int view_cohort_cmp_key(const void *a, const void *b)
{
	return cmp_key(a, b);
}

/* Nothing but a BOM and blank lines: no header, no rows. */
static int blank_csv(const char *buf, size_t len)
{
	size_t i = len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;

	for (; i < len; i++)
		if (!strchr(" \t\r\n", buf[i]) || !buf[i])
			return 0;
	return 1;
}

static int read_all(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t at = 0;
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > CSV_MAX_BYTES) {
		err = -E2BIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (at < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + at, (size_t)st.st_size - at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -EIO;
			goto out;
		}
		at += (size_t)r;
	}
	buf[at] = 0;
	*out = buf;
	*len = at;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

void view_row_report(void *arg, uint64_t row, const char *reason)
{
	struct report_ctx *rc = arg;

	rc->st->csv_row_problems++;
	view_snap_note_report(rc, row, reason);
	/* row numbers and fixed reasons only: never a value */
	if (!rc->cfg->quiet && rc->cfg->row_report)
		rc->cfg->row_report(rc->cfg->report_arg, row, reason);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int view_cohort_load_csv(struct build *b)
{
	int ret;

	if (b->csvbuf)
		return 0;
	ret = read_all(b->e->cfg.csv_path, &b->csvbuf, &b->csvlen);
	if (ret)
		snprintf(b->err, b->errsz, "cannot read the CSV (%s)",
			 strerror(-ret));
	return ret;
}

/* The registry: read, parsed, its rows keyed and sorted; rows with one
 * key reported against the first of them. */
static int read_registry(struct build *b)
{
	const struct view_config *cfg = &b->e->cfg;
	char perr[256] = "";
	size_t i, j;
	int ret;

	ret = view_cohort_load_csv(b);
	if (ret)
		return ret;
	if (blank_csv(b->csvbuf, b->csvlen)) {
		/* an empty cohort by accident (a failed registry export)
		 * must not pass for an empty one by intent */
		snprintf(b->err, b->errsz, "cannot read the CSV: the file is "
			 "empty (no header line, no rows)");
		return -EBADMSG;
	}
	memset(&b->ro, 0, sizeof(b->ro));
	b->ro.delimiter = cfg->csv_delimiter;
	b->ro.has_header = cfg->csv_header;
	b->ro.spec = b->e->spec;
	b->ro.date_column = cfg->csv_date_column > 0
				    ? (unsigned)cfg->csv_date_column
				    : 3;
	ret = registry_parse(b->csvbuf, b->csvlen, &b->ro, view_row_report,
			     &b->rctx, &b->reg, perr, sizeof(perr));
	if (ret) {
		snprintf(b->err, b->errsz, "cannot read the CSV: %s", perr);
		return ret;
	}
	b->nrows = registry_row_count(b->reg);
	b->rowkeys = calloc(b->nrows + 1, sizeof(*b->rowkeys));
	b->row_include = calloc(b->nrows + 1, 1);
	if (!b->rowkeys || !b->row_include)
		return -ENOMEM;
	for (i = 0; i < b->nrows; i++) {
		const struct registry_row *row = registry_row(b->reg, i);

		if (!row->valid)
			continue;
		b->st->csv_rows++;
		if (!row->patient_id || (!b->by_id && !row->study_date[0]))
			continue;
		b->rowkeys[b->nrowkeys].pid = row->patient_id;
		b->rowkeys[b->nrowkeys].date = b->by_id ? "" : row->study_date;
		b->rowkeys[b->nrowkeys].i = i;
		b->nrowkeys++;
	}
	qsort(b->rowkeys, b->nrowkeys, sizeof(*b->rowkeys), cmp_key);
	/* Rows with one key link to the same studies: both are written,
	 * and reported against the first of them. */
	for (i = 0; i < b->nrowkeys; i = j) {
		size_t first = b->rowkeys[i].i, k;
		char why[96];

		for (j = i + 1; j < b->nrowkeys &&
		     !cmp_key(&b->rowkeys[i], &b->rowkeys[j]); j++)
			if (b->rowkeys[j].i < first)
				first = b->rowkeys[j].i;
		snprintf(why, sizeof(why), "same personal ID %sas row %" PRIu64,
			 b->by_id ? "" : "and key date ",
			 registry_row(b->reg, first)->number);
		for (k = i; k < j; k++)
			if (b->rowkeys[k].i != first)
				view_row_report(&b->rctx,
						registry_row(b->reg,
							     b->rowkeys[k].i)
							->number,
						why);
	}
	return 0;
}

/* The rows that link a study of the index (and with --include-unlinked
 * all valid rows) are written; a row without a key date is reported. */
static int link_rows(struct build *b)
{
	const struct view_config *cfg = &b->e->cfg;
	size_t i;

	b->reckeys = calloc(b->rs.n + 1, sizeof(*b->reckeys));
	if (!b->reckeys)
		return -ENOMEM;
	for (i = 0; i < b->rs.n; i++) {
		const struct store_file *f = &b->rs.v[i].f;

		if (!f->patient_id || (!b->by_id && !f->study_date))
			continue;
		b->reckeys[b->nreckeys].pid = f->patient_id;
		b->reckeys[b->nreckeys].date = b->by_id ? "" : f->study_date;
		b->reckeys[b->nreckeys].i = i;
		b->nreckeys++;
	}
	qsort(b->reckeys, b->nreckeys, sizeof(*b->reckeys), cmp_key);
	for (i = 0; i < b->nrows; i++) {
		const struct registry_row *row = registry_row(b->reg, i);
		struct keyent k;

		if (!row->valid)
			continue;
		if (!b->by_id && !row->study_date[0] &&
		    !cfg->include_unlinked) {
			/* never linked, so never written: say why (with
			 * --include-unlinked the renderer reports the cell
			 * it leaves empty) */
			char why[96];

			snprintf(why, sizeof(why),
				 "column %u: key date missing or not "
				 "dd.mm.yyyy: row cannot be linked",
				 b->ro.date_column);
			view_row_report(&b->rctx, row->number, why);
		}
		if (row->patient_id && (b->by_id || row->study_date[0])) {
			k.pid = row->patient_id;
			k.date = b->by_id ? "" : row->study_date;
			if (bsearch(&k, b->reckeys, b->nreckeys, sizeof(k),
				    cmp_key))
				b->row_include[i] = 1;
		}
		if (!b->row_include[i]) {
			b->st->csv_rows_unlinked++;
			if (cfg->include_unlinked)
				b->row_include[i] = 1;
		}
	}
	return 0;
}

int view_cohort_read(struct build *b)
{
	int ret = read_registry(b);

	return ret ? ret : link_rows(b);
}

/* Distinct studies left out of the view for want of a row. */
static int count_unlinked_studies(struct build *b)
{
	char **uids = calloc(b->rs.n + 1, sizeof(char *));
	size_t i, nu = 0;

	if (!uids)
		return -ENOMEM;
	for (i = 0; i < b->rs.n; i++)
		if (!b->rs.v[i].included &&
		    b->rs.v[i].f.status != ANALYSIS_SKIP)
			uids[nu++] = b->rs.v[i].f.study_uid
					     ? b->rs.v[i].f.study_uid
					     : (char *)"";
	qsort(uids, nu, sizeof(*uids), cmp_str);
	for (i = 0; i < nu; i++)
		if (i == 0 || strcmp(uids[i], uids[i - 1]))
			b->st->unlinked_studies++;
	free(uids);
	return 0;
}

int view_cohort_assign(struct build *b)
{
	const struct view_config *cfg = &b->e->cfg;
	struct view_stats *st = b->st;
	size_t i;

	for (i = 0; i < b->rs.n; i++) {
		struct rec *r = &b->rs.v[i];

		if (r->f.status == ANALYSIS_SKIP) {
			st->skipped++;
			st->skipped_dicomdir++;
			continue;
		}
		r->included = 1;
		if (b->reg && r->f.pseudonym) {
			struct keyent k = { r->f.patient_id ? r->f.patient_id
							    : "",
					    b->by_id || !r->f.study_date
						    ? ""
						    : r->f.study_date,
					    0 };

			r->included = cfg->include_unlinked ||
				      ((b->by_id || r->f.study_date) &&
				       bsearch(&k, b->rowkeys, b->nrowkeys,
					       sizeof(k), cmp_key));
		}
		if (!r->included) {
			st->unlinked_files++;
			continue;
		}
		if (r->f.status != RULES_OK) {
			r->quarantine = 1;
			if (r->f.status >= 0 && r->f.status < RULES_REASON_COUNT)
				st->quarantined[r->f.status]++;
			view_count_cause(st, &r->f);
		}
	}
	return b->reg ? count_unlinked_studies(b) : 0;
}

/* By key, then in view order (the records' order): the folders of a row
 * come out in the order of the view, the same every run. */
static int cmp_key_then_rec(const void *pa, const void *pb)
{
	const struct keyent *a = pa, *b = pb;
	int c = cmp_key(a, b);

	return c ? c : (a->i > b->i) - (a->i < b->i);
}

/* Records by (personal ID, key date) for view_cohort_folders(): the
 * records' order changed when they were named, so the keys of
 * link_rows() no longer point at them. */
static int folder_keys(struct build *b, struct keyent **out, size_t *n)
{
	struct keyent *k = calloc(b->rs.n + 1, sizeof(*k));
	size_t i;

	*out = k;
	*n = 0;
	if (!k)
		return -ENOMEM;
	for (i = 0; i < b->rs.n; i++) {
		const struct rec *r = &b->rs.v[i];

		if (!r->included || !r->study_path || !r->f.patient_id ||
		    (!b->by_id && !r->f.study_date))
			continue;
		k[*n].pid = r->f.patient_id;
		k[*n].date = b->by_id ? "" : r->f.study_date;
		k[*n].i = i;
		(*n)++;
	}
	qsort(k, *n, sizeof(*k), cmp_key_then_rec);
	return 0;
}

/* Append prefix and folder to the '|'-separated *list unless there. */
static int add_folder(char **list, const char *prefix, const char *folder)
{
	size_t old = *list ? strlen(*list) : 0, np = strlen(prefix);
	size_t n = np + strlen(folder);
	const char *at = *list;
	char *p;

	while (at && *at) {
		const char *end = strchr(at, '|');
		size_t len = end ? (size_t)(end - at) : strlen(at);

		if (len == n && !strncmp(at, prefix, np) &&
		    !strncmp(at + np, folder, n - np))
			return 0;
		at = end ? end + 1 : NULL;
	}
	p = realloc(*list, old + n + 2);
	if (!p)
		return -ENOMEM;
	snprintf(p + old, n + 2, "%s%s%s", old ? "|" : "", prefix, folder);
	*list = p;
	return 0;
}

int view_cohort_folders(struct build *b)
{
	struct keyent *keys = NULL, k;
	size_t nkeys, i, j, lo;
	int pass, ret;

	b->row_folders = calloc(b->nrows + 1, sizeof(*b->row_folders));
	ret = b->row_folders ? folder_keys(b, &keys, &nkeys) : -ENOMEM;
	for (i = 0; !ret && i < b->nrows; i++) {
		const struct registry_row *row = registry_row(b->reg, i);

		if (!b->row_include[i] || !row->valid || !row->patient_id ||
		    (!b->by_id && !row->study_date[0]))
			continue;
		k.pid = row->patient_id;
		k.date = b->by_id ? "" : row->study_date;
		/* the first key equal to k: keys are sorted */
		for (lo = 0, j = nkeys; lo < j;) {
			size_t mid = lo + (j - lo) / 2;

			if (cmp_key(&keys[mid], &k) < 0)
				lo = mid + 1;
			else
				j = mid;
		}
		/* published folders; only without one, quarantined ones */
		for (pass = 0; pass < 2 && !ret && !b->row_folders[i];
		     pass++)
			for (j = lo; !ret && j < nkeys &&
				     !cmp_key(&keys[j], &k); j++) {
				const struct rec *r = &b->rs.v[keys[j].i];

				if (r->quarantine == pass)
					ret = add_folder(&b->row_folders[i],
							 pass ? ".quarantine/"
							      : "",
							 r->study_path);
			}
	}
	free(keys);
	if (ret)
		snprintf(b->err, b->errsz, "cannot name the rows' folders (%s)",
			 strerror(-ret));
	return ret;
}
