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

size_t verify_failing(const struct vrun *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nf; i++)
		n += !r->f[i].review;
	return n;
}

static void json_counts(struct vrun *r, FILE *f)
{
	const struct vval_counts *vc = vval_counts(r->vals);
	int k;
	size_t i;

	fprintf(f, "  \"counts\": {\"files_expected\": %" PRIu64
		   ", \"files_checked\": %" PRIu64 ", \"dicom_files\": %" PRIu64
		   ", \"dicom_compared_with_view\": %" PRIu64
		   ", \"texts\": %" PRIu64 ", \"entries\": %" PRIu64
		   ", \"names_searched\": %" PRIu64
		   ", \"extra_files_searched\": %" PRIu64
		   ", \"bytes_read\": %" PRIu64 ",\n",
		r->expected, r->checked, r->dicom, r->compared, r->texts,
		r->entries, r->names, r->extra_scanned, r->bytes);
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
		verify_failing(r), r->nf - verify_failing(r));
	for (i = 0; i < r->ncounts; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, r->counts[i].kind);
		fprintf(f, ": %" PRIu64, r->counts[i].n);
	}
	fprintf(f, "}},\n");
}

int verify_write_report(struct vrun *r, const char *version,
			const char *date)
{
	char tmp[PATH_MAX];
	FILE *f;
	size_t i;
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
	fprintf(f, ", \"quarantine_checked\": %s, \"uids_checked\": %s},\n",
		r->with_quarantine ? "true" : "false",
		r->check_uids ? "true" : "false");
	fprintf(f, "  \"key_fingerprint\": \"%s\",\n", r->fingerprint);
	fprintf(f, "  \"result\": \"%s\",\n", verify_failing(r) ? "fail" : "pass");
	json_counts(r, f);
	fprintf(f, "  \"findings\": [");
	for (i = 0; i < r->nf; i++) {
		fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
		json_str(f, r->f[i].path);
		fprintf(f, ", \"in_view\": %s, \"tag\": ",
			r->f[i].outside ? "false" : "true");
		json_str(f, r->f[i].tag);
		fprintf(f, ", \"kind\": ");
		json_str(f, r->f[i].kind);
		fprintf(f, ", \"review\": %s}",
			r->f[i].review ? "true" : "false");
	}
	fprintf(f, "\n  ],\n  \"manifest\": [");
	for (i = 0; i < r->nm; i++) {
		fprintf(f, "%s\n    {\"path\": ", i ? "," : "");
		json_str(f, r->m[i].path);
		fprintf(f, ", \"size\": %" PRIu64 ", \"sha256\": \"%s\"}",
			r->m[i].size, r->m[i].sha);
	}
	fprintf(f, "\n  ]\n}\n");
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

static void print_finding(const struct finding *f)
{
	printf("  %-24s %s%s  %s\n", f->kind, f->path,
	       f->outside ? " (an entry not in the view; name withheld)" : "",
	       f->tag);
}

void verify_print_summary(struct vrun *r)
{
	const struct vval_counts *vc = vval_counts(r->vals);
	size_t i, fail = verify_failing(r);

	if (!r->quiet) {
		printf("deidfs verify: key fingerprint %s\n", r->fingerprint);
		printf("files: %" PRIu64 " expected, %" PRIu64 " checked (%" PRIu64
		       " DICOM, %" PRIu64 " compared with their sources; %" PRIu64
		       " texts), %" PRIu64 " names searched, %" PRIu64
		       " bytes read\n",
		       r->expected, r->checked, r->dicom, r->compared,
		       r->texts, r->names, r->bytes);
		printf("values: %" PRIu64 " patterns; %" PRIu64
		       " short values matched as whole words only, %" PRIu64
		       " too short to search, %" PRIu64
		       " unsearchable (recorded by digest or too long)\n",
		       vc->patterns, vc->short_values, vc->too_short,
		       vc->unsearchable);
		if (fail)
			printf("findings:\n");
		for (i = 0; i < r->nf; i++)
			if (!r->f[i].review)
				print_finding(&r->f[i]);
		if (r->nf - fail)
			printf("to review (a short value: may be chance):\n");
		for (i = 0; i < r->nf; i++)
			if (r->f[i].review)
				print_finding(&r->f[i]);
	}
	printf("result: %s (%zu findings, %zu to review)\n",
	       fail ? "FAIL" : "PASS", fail, r->nf - fail);
}
