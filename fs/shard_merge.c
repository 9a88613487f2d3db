/*
 * shard_merge.c - the merge of a sharded run (shard_run.h): the index
 * tasks' shard dbs put into the project db in one pass of SQL
 * (store_shard_merge()), the view built once for the whole run; or, after
 * the export tasks, the last merge (shard_finish.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shard_impl.h"

/* The shard dbs of n tasks into the project db st, in one generation. */
static int merge_dbs(const struct shard_opts *so, struct store *st,
		     unsigned n, uint64_t *merged, uint64_t *seen)
{
	char **paths = calloc(n, sizeof(*paths));
	int64_t gen;
	int err = 0, lost = 0;
	unsigned i;

	*merged = *seen = 0;
	if (!paths)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		paths[i] = malloc(PATH_MAX);
		err = paths[i] ? shard_task_file(so->db, "shard", i, n,
						 paths[i], PATH_MAX)
			       : -ENOMEM;
	}
	if (!err)
		err = store_next_generation(st, &gen);
	if (!err)
		err = store_shard_merge(st, (const char *const *)paths, n, gen,
					merged, seen, &lost);
	/* what no share saw is gone from the source, as a refresh prunes;
	 * records below an unreadable folder were not seen, not removed */
	if (!err && !lost)
		err = store_file_prune(st, gen);
	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return err;
}

int shard_run_merge(struct shard_opts *so, struct view_engine *e,
		    const struct export_opts *xo)
{
	static unsigned char have_db[SHARD_MAX], have_log[SHARD_MAX];
	struct store *st = view_engine_config(e)->store;
	struct view_stats vs;
	struct view *v = NULL;
	unsigned ndb, nlog, i;
	uint64_t merged = 0, seen = 0;
	char path[PATH_MAX];
	int ret, rc = 0;

	memset(&vs, 0, sizeof(vs));
	if (shard_find_tasks(so->db, "shard", &ndb, have_db) ||
	    shard_find_tasks(so->db, "export", &nlog, have_log)) {
		log_error("merge: the files of two sharded runs (a different "
			  "number of tasks) lie beside the db: remove the "
			  "older run's");
		return 1;
	}
	if (!ndb && !nlog) {
		log_error("merge: nothing to merge: no finished index or "
			  "export task beside the db");
		return 1;
	}
	if (ndb && shard_say_missing("the index", ndb, have_db))
		return 1;
	if (!ndb && nlog &&
	    shard_say_missing("the export log", nlog, have_log))
		return 1;
	if (ndb) {
		ret = merge_dbs(so, st, ndb, &merged, &seen);
		if (ret == -EBADMSG) {
			log_error("merge: a shard db is damaged or was made "
				  "with another project db's key: remove it "
				  "and run its task again");
			return 1;
		}
		if (ret == -ENOENT) {
			log_error("merge: a shard's index relies on files the "
				  "project db no longer has: run the index "
				  "tasks again");
			return 1;
		}
		if (ret)
			return shard_db_fail("cannot merge", ret);
		rc = shard_build(e, &vs, &v);
		if (rc)
			goto out;
		for (i = 0; i < ndb; i++)
			if (!shard_task_file(so->db, "shard", i, ndb, path,
				       sizeof(path)))
				shard_unlink_db(path);
		if (!so->quiet)
			fprintf(stderr,
				"merged the indexes of %u tasks: %" PRIu64
				" files analysed, %" PRIu64 " unchanged; the "
				"view has %" PRIu64 " files (%" PRIu64
				" bytes), %" PRIu64 " unlinked studies\n",
				ndb, merged, seen, vs.published, vs.bytes,
				vs.unlinked_studies);
	} else {
		rc = shard_merge_logs(so, e, &v, &vs, xo, nlog);
	}
	if (!rc)
		shard_sweep_leftovers(so->db);
out:
	view_free(v);
	return rc;
}
