/*
 * shard_finish.c - the last merge of a sharded run (shard_run.h): the
 * export tasks' logs folded into the db's audit trail, and the destination
 * finished as one machine's export finishes it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export_write.h"
#include "log.h"
#include "shard_impl.h"

/*
 * Fold the export logs of n tasks into the db, and finish the destination
 * as one machine's export does at its end: stray temporary files and
 * files of an earlier export that the view no longer has removed, the
 * folders' times set.  The logs go once this is done.
 */
int shard_merge_logs(const struct shard_opts *so, struct view_engine *e,
		     struct view **v, struct view_stats *vs,
		     const struct export_opts *xo, unsigned n)
{
	struct store *st = view_engine_config(e)->store;
	struct export_opts fo = *xo;
	struct export_stats xs;
	struct store_log_row *rows;
	uint64_t total = 0, written = 0;
	size_t nrows, k;
	char path[PATH_MAX];
	int64_t run;
	unsigned i;
	int ret, quar = 0, rc = 0;

	if (!*v && (rc = shard_build(e, vs, v)))
		return rc;
	ret = store_shard_log_run(st, &run);
	if (!ret)
		ret = store_begin(st);
	for (i = 0; i < n && !ret; i++) {
		rows = NULL;
		nrows = 0;
		ret = shard_task_file(so->db, "export", i, n, path,
				      sizeof(path));
		if (!ret)
			ret = shard_log_read(path, i, n, &rows, &nrows,
					     &quar);
		if (ret == -EBADMSG) {
			log_error("merge: the log of export task %u/%u is "
				  "damaged: remove it and run that task "
				  "again", i, n);
			rc = 1;
			break;
		}
		if (!ret && quar != xo->with_quarantine) {
			log_error("merge: export task %u/%u ran %s "
				  "--with-quarantine: give the merge the "
				  "same options", i, n,
				  quar ? "with" : "without");
			free(rows);
			rc = 2;
			break;
		}
		if (!ret)
			ret = store_shard_log_put(st, run, i, n, rows, nrows);
		for (k = 0; k < nrows; k++)
			written += !strcmp(rows[k].action, "written");
		total += nrows;
		free(rows);
	}
	if (rc || ret) {
		store_commit(st);	/* nothing was written: ends the
					 * transaction */
		return rc ? rc : shard_db_fail("cannot record the logs", ret);
	}
	fo.finish = 1;
	fo.shard_n = 0;
	fo.wrote = NULL;
	ret = export_write(e, *v, &fo, &xs);
	if (ret) {
		store_commit(st);
		log_error("merge: cannot finish the destination (%s)",
			  strerror(-ret));
		return 1;
	}
	ret = store_commit(st);
	if (ret)
		return shard_db_fail("cannot record the logs", ret);
	for (i = 0; i < n; i++)
		if (!shard_task_file(so->db, "export", i, n, path,
				     sizeof(path)))
			unlink(path);
	if (!so->quiet)
		fprintf(stderr,
			"merged the logs of %u export tasks: %" PRIu64
			" files (%" PRIu64 " written, %" PRIu64 " already "
			"complete), %" PRIu64 " stale entries removed\n",
			n, total, written, total - written, xs.removed);
	return 0;
}

