/*
 * view_report.c - reasons.csv (the quarantine's listing, by name) and the
 * run report (JSON and text).  Numbers, view names and fixed reasons only.
 */
#include "view_report.h"
#include "view_tree.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t quarantined_total(const struct view_stats *st)
{
	uint64_t q = 0;
	int i;

	for (i = 1; i < RULES_REASON_COUNT; i++)
		q += st->quarantined[i];
	return q;
}

/* s as a JSON string: quotes, backslashes and control characters
 * escaped; other bytes as they are (paths are the user's, UTF-8 as a
 * rule). */
static void json_string(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* A wall clock time as ISO 8601 in UTC, to the second. */
static void json_time(FILE *f, const struct timespec *t)
{
	struct tm tm;
	char buf[32];

	if (!gmtime_r(&t->tv_sec, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, sizeof(buf), "unknown");
	json_string(f, buf);
}

static void tag_path(FILE *f, const char *p);

/* A tag path as a JSON string, escaped like any (the db is read back). */
static void json_tag_path(FILE *f, const char *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m) {
		tag_path(m, p);
		if (fclose(m))
			len = 0;
	}
	json_string(f, buf && len ? buf : "");
	free(buf);
}

char *view_stats_json(const struct view_stats *st, const struct view_run *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t q = quarantined_total(st);
	double elapsed_s = r->elapsed_s;
	size_t k;
	int i;

	if (!f)
		return NULL;
	fprintf(f, "{\n  \"tool\": \"deidfs\",\n  \"version\": ");
	json_string(f, r->version ? r->version : "");
	fprintf(f, ",\n  \"command\": [");
	for (i = 1; i < r->argc; i++) {
		fputs(i > 1 ? ", " : "", f);
		json_string(f, r->argv[i]);
	}
	fprintf(f, "],\n  \"started\": ");
	json_time(f, &r->start);
	fprintf(f, ",\n  \"ended\": ");
	json_time(f, &r->end);
	fprintf(f, ",\n  \"key_fingerprint\": ");
	json_string(f, r->fingerprint ? r->fingerprint : "");
	fprintf(f, ",\n  \"files_seen\": %" PRIu64 ",\n", st->files_seen);
	fprintf(f, "  \"files_analysed\": %" PRIu64 ",\n", st->files_analysed);
	fprintf(f, "  \"files_unchanged\": %" PRIu64 ",\n",
		st->files_unchanged);
	fprintf(f, "  \"exported\": %" PRIu64 ",\n", st->published);
	fprintf(f, "  \"quarantined\": %" PRIu64 ",\n", q);
	fprintf(f, "  \"quarantined_by_reason\": {");
	for (i = 1; i < RULES_REASON_COUNT; i++)
		fprintf(f, "%s\n    \"%s\": %" PRIu64, i > 1 ? "," : "",
			rules_reason_name((enum rules_reason)i),
			st->quarantined[i]);
	fprintf(f, "\n  },\n  \"quarantine_causes\": [");
	for (k = 0; k < st->ncauses; k++) {
		const struct view_cause_count *c = &st->causes[k];

		fprintf(f, "%s\n    {\"reason\": \"%s\", \"rule\": ",
			k ? "," : "",
			rules_reason_name((enum rules_reason)c->reason));
		json_string(f, c->rule);
		fprintf(f, ", \"attribute\": ");
		json_tag_path(f, c->path);
		fprintf(f, ", \"files\": %" PRIu64 "}", c->files);
	}
	fprintf(f, "%s],\n", st->ncauses ? "\n  " : "");
	fprintf(f, "  \"quarantine_causes_other\": %" PRIu64 ",\n",
		st->causes_other);
	fprintf(f, "  \"skipped\": %" PRIu64 ",\n", st->skipped);
	fprintf(f, "  \"skipped_dicomdir\": %" PRIu64 ",\n",
		st->skipped_dicomdir);
	fprintf(f, "  \"skipped_special\": %" PRIu64 ",\n",
		st->skipped - st->skipped_dicomdir);
	fprintf(f, "  \"unlinked_studies\": %" PRIu64 ",\n",
		st->unlinked_studies);
	fprintf(f, "  \"unlinked_files\": %" PRIu64 ",\n", st->unlinked_files);
	fprintf(f, "  \"csv_rows\": %" PRIu64 ",\n", st->csv_rows);
	fprintf(f, "  \"csv_rows_written\": %" PRIu64 ",\n",
		st->csv_rows_written);
	fprintf(f, "  \"unlinked_rows\": %" PRIu64 ",\n",
		st->csv_rows_unlinked);
	fprintf(f, "  \"csv_row_problems\": %" PRIu64 ",\n",
		st->csv_row_problems);
	fprintf(f, "  \"errors\": %" PRIu64 ",\n", st->errors);
	fprintf(f, "  \"dirs_unreadable\": %" PRIu64 ",\n",
		st->dirs_unreadable);
	fprintf(f, "  \"bytes\": %" PRIu64 ",\n", st->bytes);
	fprintf(f, "  \"elapsed_s\": %.3f,\n", elapsed_s);
	if (!r->served)	/* a mount wrote nothing */
		fprintf(f, "  \"throughput_mb_s\": %.1f,\n",
			elapsed_s > 0 ? (double)st->bytes / 1e6 / elapsed_s
				      : 0.0);
	fprintf(f, "  \"files_per_s\": %.1f\n}\n",
		elapsed_s > 0 ? (double)(st->published + q) / elapsed_s : 0.0);
	fclose(f);
	return buf;
}

/* The causes of reason that say more than the reason's name, one a line
 * under it: rule, and the attribute (the report has them all). */
static void text_causes(FILE *f, const struct view_stats *st, int reason)
{
	struct rules_cause general;
	size_t k;

	rules_reason_cause((enum rules_reason)reason, &general);
	for (k = 0; k < st->ncauses; k++) {
		const struct view_cause_count *c = &st->causes[k];

		if (c->reason != reason || (!strcmp(c->rule, general.rule) &&
					    !strcmp(c->path, general.path)))
			continue;
		fprintf(f, "    %s", c->rule);
		if (c->path[0]) {
			fputs(" at ", f);
			tag_path(f, c->path);
		}
		fprintf(f, ": %" PRIu64 "\n", c->files);
	}
}

char *view_stats_text(const struct view_stats *st, const struct view_run *r)
{
	double elapsed_s = r->elapsed_s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t q = quarantined_total(st);
	int i;

	if (!f)
		return NULL;
	fprintf(f, "files seen        %" PRIu64 " (%" PRIu64
		   " analysed, %" PRIu64 " unchanged)\n",
		st->files_seen, st->files_analysed, st->files_unchanged);
	fprintf(f, "published         %" PRIu64 "\n", st->published);
	fprintf(f, "quarantined       %" PRIu64 "\n", q);
	for (i = 1; i < RULES_REASON_COUNT; i++) {
		if (!st->quarantined[i])
			continue;
		fprintf(f, "  %-22s %" PRIu64 "\n",
			rules_reason_name((enum rules_reason)i),
			st->quarantined[i]);
		text_causes(f, st, i);
	}
	if (st->causes_other)
		fprintf(f, "    (%" PRIu64 " more files of other causes)\n",
			st->causes_other);
	fprintf(f, "skipped           %" PRIu64 " (DICOMDIR, links, special "
		   "files)\n", st->skipped);
	fprintf(f, "unlinked studies  %" PRIu64 " (%" PRIu64 " files)\n",
		st->unlinked_studies, st->unlinked_files);
	fprintf(f, "registry rows     %" PRIu64 " read, %" PRIu64
		   " written, %" PRIu64 " unlinked, %" PRIu64 " with problems\n",
		st->csv_rows, st->csv_rows_written, st->csv_rows_unlinked,
		st->csv_row_problems);
	fprintf(f, "errors            %" PRIu64 "\n", st->errors);
	if (st->dirs_unreadable)
		fprintf(f, "  %" PRIu64 " source folder(s) could not be read "
			   "(permissions?): their files stay as last indexed "
			   "and cannot be read; fix it and run again\n",
			st->dirs_unreadable);
	if (r->served)	/* nothing was written: a rate would mean nothing */
		fprintf(f, "view              %" PRIu64 " bytes, indexed in "
			   "%.2f s\n", st->bytes, elapsed_s);
	else
		fprintf(f, "bytes             %" PRIu64 " in %.2f s (%.1f "
			   "MB/s)\n", st->bytes, elapsed_s,
			elapsed_s > 0 ? (double)st->bytes / 1e6 / elapsed_s
				      : 0.0);
	fclose(f);
	return buf;
}

int view_report_write(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	FILE *f;
	int bad;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	bad = fputs(text, f) == EOF;
	if (fclose(f) || bad) {
		unlink(tmp);
		return -EIO;
	}
	if (rename(tmp, path)) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

void view_cause_of(const struct store_file *f, struct rules_cause *why)
{
	rules_reason_cause((enum rules_reason)f->status, why);
	if (f->q_rule && *f->q_rule && f->q_path) {
		why->rule = f->q_rule;
		snprintf(why->path, sizeof(why->path), "%s", f->q_path);
	}
}

void view_add_cause(struct view_stats *st, int reason, const char *rule,
		    const char *path, uint64_t files)
{
	struct view_cause_count *c;
	size_t i;

	for (i = 0; i < st->ncauses; i++) {
		c = &st->causes[i];
		if (c->reason == reason && !strcmp(c->rule, rule) &&
		    !strncmp(c->path, path, sizeof(c->path) - 1)) {
			c->files += files;
			return;
		}
	}
	if (st->ncauses == VIEW_CAUSES_MAX) {
		st->causes_other += files;
		return;
	}
	c = &st->causes[st->ncauses++];
	c->reason = reason;
	snprintf(c->rule, sizeof(c->rule), "%s", rule);
	i = strnlen(path, sizeof(c->path) - 1);	/* a deep path cut */
	memcpy(c->path, path, i);
	c->path[i] = 0;
	c->files = files;
}

void view_count_cause(struct view_stats *st, const struct store_file *f)
{
	struct rules_cause why;

	view_cause_of(f, &why);
	view_add_cause(st, f->status, why.rule, why.path, 1);
}

/*
 * A tag path as the audit writes it ("0040A730[2].0040A123") in the form
 * people read: "(0040,A730)[2].(0040,A123)".  Anything else (a path of
 * some other shape) is written as it is.
 */
static void tag_path(FILE *f, const char *p)
{
	size_t i;

	while (*p) {
		for (i = 0; i < 8 && isxdigit((unsigned char)p[i]); i++)
			;
		if (i == 8 && !isxdigit((unsigned char)p[8])) {
			fprintf(f, "(%.4s,%.4s)", p, p + 4);
			p += 8;
		} else {
			fputc(*p++, f);
		}
	}
}

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* A tag path as a CSV field. */
static void csv_tag_path(FILE *f, const char *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m)
		return;
	tag_path(m, p);
	if (fclose(m) == 0 && buf)
		csv_field(f, buf);
	free(buf);
}

static int rec_path_cmp(const void *a, const void *b)
{
	return view_pathcmp((*(const struct rec *const *)a)->path,
			    (*(const struct rec *const *)b)->path);
}

int view_reasons_render(const struct recs *rs, char **out, size_t *len)
{
	const struct rec **qs = calloc(rs->n + 1, sizeof(*qs));
	size_t nqs = 0, i;
	char *buf = NULL;
	size_t n = 0;
	FILE *f;

	*out = NULL;
	*len = 0;
	if (!qs)
		return -ENOMEM;
	for (i = 0; i < rs->n; i++)
		if (rs->v[i].path && rs->v[i].quarantine)
			qs[nqs++] = &rs->v[i];
	/* by path (distinct: no two orders); not an insertion sort, which
	 * took minutes for the quarantined files of a million-file index */
	qsort(qs, nqs, sizeof(*qs), rec_path_cmp);
	f = open_memstream(&buf, &n);
	if (!f) {
		free(qs);
		return -ENOMEM;
	}
	fputs("file,reason,rule,attribute\n", f);
	for (i = 0; i < nqs; i++) {
		struct rules_cause why;

		view_cause_of(&qs[i]->f, &why);
		csv_field(f, qs[i]->path);
		fprintf(f, ",%s,", rules_reason_name(
				   (enum rules_reason)qs[i]->f.status));
		csv_field(f, why.rule);
		fputc(',', f);
		csv_tag_path(f, why.path);
		fputc('\n', f);
	}
	free(qs);
	if (fclose(f) || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = n;
	return 0;
}
