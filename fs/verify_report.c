/*
 * verify_report.c - what verify prints (a summary and the findings) and
 * the JSON report: view paths, tags, kinds and counts, never a value.
 * See verify_impl.h.
 */
#include "verify_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ output */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Findings in all (review ones included). */
static size_t total(const struct vrun *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nunits; i++)
		n += r->units[i]->nf;
	return n;
}

size_t verify_failing(const struct vrun *r)
{
	size_t i, j, n = 0;

	for (i = 0; i < r->nunits; i++)
		for (j = 0; j < r->units[i]->nf; j++)
			n += !r->units[i]->f[j].review;
	return n;
}

static void count_kind(struct vrun *r, const char *kind)
{
	size_t i;

	for (i = 0; i < r->ncounts; i++)
		if (!strcmp(r->counts[i].kind, kind)) {
			r->counts[i].n++;
			return;
		}
	if (r->ncounts < sizeof(r->counts) / sizeof(r->counts[0])) {
		r->counts[r->ncounts].kind = kind;
		r->counts[r->ncounts++].n = 1;
	}
}

void verify_count_kinds(struct vrun *r)
{
	size_t i, j;

	r->ncounts = 0;
	for (i = 0; i < r->nunits; i++)
		for (j = 0; j < r->units[i]->nf; j++)
			count_kind(r, r->units[i]->f[j].kind);
}

static const char *oracle_word(const struct vrun *r)
{
	return r->oracle == VORACLE_ON	    ? "run"
	       : r->oracle == VORACLE_OFF ? "off (--no-dciodvfy)"
					  : "skipped: not installed";
}

static void json_counts(struct vrun *r, FILE *f)
{
	const struct vval_counts *vc = vval_counts(r->vals);
	const struct vtally *t = &r->t;
	int k;
	size_t i;

	fprintf(f, "  \"counts\": {\"files_expected\": %" PRIu64
		   ", \"files_checked\": %" PRIu64 ", \"dicom_files\": %" PRIu64
		   ", \"dicom_compared_with_view\": %" PRIu64
		   ", \"dciodvfy_files\": %" PRIu64
		   ", \"texts\": %" PRIu64 ", \"entries\": %" PRIu64
		   ", \"names_searched\": %" PRIu64
		   ", \"extra_files_searched\": %" PRIu64
		   ", \"bytes_read\": %" PRIu64 ",\n",
		r->expected, t->checked, t->dicom, t->compared,
		t->oracle_files, t->texts, r->entries, r->names,
		t->extra_scanned, t->bytes);
	fprintf(f, "    \"patients_searched\": %" PRIu64 ",\n",
		r->scope_patients);
	fprintf(f, "    \"values\": {");
	for (k = 1; k < VVAL_COUNT; k++)
		fprintf(f, "%s\"%s\": %" PRIu64, k > 1 ? ", " : "",
			vval_kind_name((enum vval_kind)k), vc->values[k]);
	fprintf(f, "},\n    \"patterns\": %" PRIu64
		   ", \"short_values_whole_words\": %" PRIu64
		   ", \"values_too_short_to_search\": %" PRIu64
		   ", \"values_unsearchable\": %" PRIu64 ",\n",
		vc->patterns, vc->short_values, vc->too_short,
		vc->unsearchable);
	fprintf(f, "    \"findings\": %zu, \"review\": %zu, \"by_kind\": {",
		verify_failing(r), total(r) - verify_failing(r));
	for (i = 0; i < r->ncounts; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, r->counts[i].kind);
		fprintf(f, ": %" PRIu64, r->counts[i].n);
	}
	fprintf(f, "}},\n");
}

static void json_findings(struct vrun *r, FILE *f)
{
	const char *sep = "";
	size_t i, j;

	fprintf(f, "  \"findings\": [");
	for (i = 0; i < r->nunits; i++) {
		const struct unit *u = r->units[i];

		for (j = 0; j < u->nf; j++) {
			fprintf(f, "%s\n    {\"path\": ", sep);
			json_str(f, u->path);
			fprintf(f, ", \"in_view\": %s, \"tag\": ",
				u->outside ? "false" : "true");
			json_str(f, u->f[j].tag);
			fprintf(f, ", \"kind\": ");
			json_str(f, u->f[j].kind);
			fprintf(f, ", \"review\": %s}",
				u->f[j].review ? "true" : "false");
			sep = ",";
		}
	}
	fprintf(f, "\n  ],\n  \"manifest\": [");
	sep = "";
	for (i = 0; i < r->nunits; i++) {
		const struct unit *u = r->units[i];

		if (!u->listed)
			continue;
		fprintf(f, "%s\n    {\"path\": ", sep);
		json_str(f, u->path);
		fprintf(f, ", \"size\": %" PRIu64 ", \"sha256\": \"%s\"}",
			u->size, u->sha);
		sep = ",";
	}
	fprintf(f, "\n  ]\n}\n");
}

int verify_write_report(struct vrun *r, const char *version,
			const char *date)
{
	char tmp[PATH_MAX];
	FILE *f;
	int ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", r->report) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "{\n  \"tool\": \"deidfs verify\", \"version\": ");
	json_str(f, version);
	fprintf(f, ",\n  \"date\": \"%s\",\n  \"options\": {\"dataset\": ",
		date);
	json_str(f, r->dataset);
	fprintf(f, ", \"db\": ");
	json_str(f, r->db);
	fprintf(f, ", \"csv_out\": ");
	if (r->csv_out)
		json_str(f, r->csv_out);
	else
		fprintf(f, "null");
	fprintf(f, ", \"quarantine_checked\": %s, \"uids_checked\": %s"
		   ", \"dciodvfy\": \"%s\", \"jobs\": %u},\n",
		r->with_quarantine ? "true" : "false",
		r->check_uids ? "true" : "false", oracle_word(r), r->jobs);
	fprintf(f, "  \"key_fingerprint\": \"%s\",\n", r->fingerprint);
	fprintf(f, "  \"result\": \"%s\",\n",
		verify_failing(r) ? "fail" : "pass");
	json_counts(r, f);
	json_findings(r, f);
	ok = !ferror(f);
	if (fclose(f) || !ok) {
		unlink(tmp);
		return -EIO;
	}
	if (rename(tmp, r->report)) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

static void print_findings(const struct vrun *r, int review)
{
	size_t i, j;

	for (i = 0; i < r->nunits; i++) {
		const struct unit *u = r->units[i];

		for (j = 0; j < u->nf; j++)
			if (u->f[j].review == review)
				printf("  %-24s %s%s  %s\n", u->f[j].kind,
				       u->path,
				       u->outside ? " (an entry not in the "
						    "view; name withheld)"
						  : "",
				       u->f[j].tag);
	}
}

void verify_print_summary(struct vrun *r)
{
	const struct vval_counts *vc = vval_counts(r->vals);
	const struct vtally *t = &r->t;
	size_t fail = verify_failing(r), all = total(r);

	if (!r->quiet) {
		printf("deidfs verify: key fingerprint %s\n", r->fingerprint);
		printf("files: %" PRIu64 " expected, %" PRIu64
		       " checked (%" PRIu64 " DICOM, %" PRIu64
		       " compared with their sources; %" PRIu64
		       " texts), %" PRIu64 " names searched, %" PRIu64
		       " bytes read\n",
		       r->expected, t->checked, t->dicom, t->compared,
		       t->texts, r->names, t->bytes);
		printf("values: %" PRIu64 " patterns of %" PRIu64
		       " patients; %" PRIu64
		       " short values matched as whole words only, %" PRIu64
		       " too short to search, %" PRIu64
		       " unsearchable (recorded by digest or too long)\n",
		       vc->patterns, r->scope_patients, vc->short_values,
		       vc->too_short, vc->unsearchable);
		printf("dciodvfy: %s", oracle_word(r));
		if (r->oracle == VORACLE_ON)
			printf(", %" PRIu64 " files and their sources",
			       t->oracle_files);
		printf("\n");
		if (fail)
			printf("findings:\n");
		print_findings(r, 0);
		if (all - fail)
			printf("to review (a short value: may be chance):\n");
		print_findings(r, 1);
	}
	printf("result: %s (%zu findings, %zu to review)\n",
	       fail ? "FAIL" : "PASS", fail, all - fail);
}
