/*
 * export.c - `deidfs export`: the run (export.h).  Refresh the index,
 * build the view, write it (export_write.c), then tell the user: the
 * summary, what stopped the run, the report.  A front end: it translates
 * the view engine's results into messages and an exit status.
 */
#include "export.h"
#include "export_write.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double elapsed_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The db's path for a message ("" when the caller gave none). */
static const char *db_name(struct view_engine *e)
{
	const char *p = view_engine_config(e)->db_path;

	return p ? p : "";
}

/* Refresh the index and build the view (*v).  Returns 0 or an exit
 * status, said to the user. */
static int refresh_and_build(struct view_engine *e,
			     const struct export_opts *o,
			     struct view_stats *vs, struct view **v)
{
	char err[512] = "";
	const char *db;
	int ret;

	ret = view_refresh(e, vs, o->progress, o->progress_arg);
	if (ret == -ELOOP && vs->inside) {
		log_error("%s", view_place_error(vs->inside, 0));
		return 2;
	}
	if (ret && (db = view_db_error(ret))) {
		log_error("--db %s: %s", db_name(e), db);
		return 1;
	}
	if (ret) {
		log_error("cannot index the source tree (%s): check that "
			  "SOURCE is a folder you can read, then run the same "
			  "command again", strerror(-ret));
		return 1;
	}
	ret = view_build(e, vs, v, err, sizeof(err));
	if (ret && (db = view_db_error(ret))) {
		log_error("--db %s: %s", db_name(e), db);
		return 1;
	}
	if (ret) {
		log_error("%s", err);
		return 1;
	}
	return 0;
}

/* The destination is full or read-only (err): export_write() stopped at
 * the first such error, said here once, with what to do. */
static void report_stop(const struct export_opts *o, int err,
			const struct export_stats *xs)
{
	if (o->progress)
		fputc('\n', stderr);	/* end the progress line */
	log_error("export stopped: the destination %s (%s), after %" PRIu64
		  " of %" PRIu64 " files (%" PRIu64 " written by this run, "
		  "%" PRIu64 " already complete); nothing incomplete is left "
		  "under a final name. The export needs %.1f MiB in all: %s, "
		  "then run the same command again to write the rest",
		  err == -EROFS ? "is read-only" : "is full", strerror(-err),
		  xs->written + xs->kept, xs->total, xs->written, xs->kept,
		  (double)xs->bytes_total / 1048576.0,
		  err == -EROFS ? "make it writable or choose another "
				  "destination"
				: "free space there (or choose a destination "
				  "with more)");
}

/* A finished run: the summary, a warning when the destination keeps no
 * marks, the report.  Returns the exit status. */
static int report_done(const struct view_engine *e,
		       const struct export_opts *o, struct view_stats *vs,
		       const struct export_stats *xs)
{
	struct view_run run = o->run;
	char fp[VIEW_FINGERPRINT_LEN + 1];
	char *text, *json;
	int ret;

	vs->errors += xs->failed;
	run.elapsed_s = elapsed_since(&o->started);
	clock_gettime(CLOCK_REALTIME, &run.end);
	view_key_fingerprint(e, fp);
	run.fingerprint = fp;
	text = view_stats_text(vs, &run);
	json = view_stats_json(vs, &run);
	if (!o->quiet && text)
		fprintf(stderr,
			"%swritten           %" PRIu64 " files, %" PRIu64
			" already complete, %" PRIu64 " removed (of an earlier "
			"export, no longer in the view)\n",
			text, xs->written, xs->kept, xs->removed);
	if (xs->no_marks)
		log_warning("export: warning: the destination keeps no "
			    "extended attributes (%s): a re-run writes every "
			    "file again and cannot remove files of sources "
			    "removed since this export; export into a new "
			    "directory after the sources change",
			    strerror(-xs->no_marks));
	if (o->report && json) {
		ret = view_report_write(o->report, json);
		if (ret)
			log_error("--report %s: %s (the export itself is "
				  "complete: run it again with a --report file "
				  "you can write to record it)", o->report,
				  strerror(-ret));
	}
	free(text);
	free(json);
	return vs->errors ? 3 : 0;
}

int export_run(struct view_engine *e, const struct export_opts *o)
{
	struct view_stats vs;
	struct export_stats xs;
	struct view *v = NULL;
	int ret, rc;

	memset(&vs, 0, sizeof(vs));
	rc = refresh_and_build(e, o, &vs, &v);
	if (rc)
		goto out;
	ret = export_write(e, v, o, &xs);
	rc = 1;
	if (export_dest_wide(ret))
		report_stop(o, ret, &xs);
	else if (ret)
		log_error("cannot write to the destination %s (%s): make it a "
			  "folder you can write, then run the same command "
			  "again (it resumes)", o->dest, strerror(-ret));
	else
		rc = report_done(e, o, &vs, &xs);
out:
	view_free(v);
	return rc;
}
