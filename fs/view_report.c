/*
 * view_report.c - reasons.csv (the quarantine's listing, by name) and the
 * run report (JSON and text).  Numbers, view names and fixed reasons only.
 */
#include "view_report.h"
#include "view_tree.h"

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

char *view_stats_json(const struct view_stats *st, const struct view_run *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t q = quarantined_total(st);
	double elapsed_s = r->elapsed_s;
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
	fprintf(f, "\n  },\n");
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
	for (i = 1; i < RULES_REASON_COUNT; i++)
		if (st->quarantined[i])
			fprintf(f, "  %-22s %" PRIu64 "\n",
				rules_reason_name((enum rules_reason)i),
				st->quarantined[i]);
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

static int rec_path_cmp(const void *a, const void *b)
{
	return view_pathcmp((*(const struct rec *const *)a)->path,
			    (*(const struct rec *const *)b)->path);
}

int view_reasons_render(const struct recs *rs, char **out, size_t *len)
{
	const struct rec **qs = calloc(rs->n + 1, sizeof(*qs));
	size_t nqs = 0, i, need = 32, n;
	char *buf;

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
	for (i = 0; i < nqs; i++)
		need += strlen(qs[i]->path) + 40;
	buf = malloc(need);
	if (!buf) {
		free(qs);
		return -ENOMEM;
	}
	n = (size_t)sprintf(buf, "file,reason\n");
	for (i = 0; i < nqs; i++)
		n += (size_t)sprintf(buf + n, "%s,%s\n", qs[i]->path,
				     rules_reason_name(
					     (enum rules_reason)qs[i]->f.status));
	free(qs);
	*out = buf;
	*len = n;
	return 0;
}
