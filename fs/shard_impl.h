/*
 * shard_impl.h - what the files of a sharded run's front end share
 * (internal; the contract is shard_run.h):
 *
 *   shard_run.c     parsing I/N, opening the db of each phase, dispatch
 *   shard_tasks.c   the task files beside the db: finding, sweeping
 *   shard_index.c   the index phase (one share into a shard db)
 *   shard_merge.c   the merge of the shard dbs into the project db
 *   shard_export.c  the export phase (one share of the view)
 *   shard_log.c     the export tasks' logs: written, read
 *   shard_finish.c  the last merge: the logs into the audit trail, the
 *                   destination finished
 */
#ifndef DEIDFS_SHARD_IMPL_H
#define DEIDFS_SHARD_IMPL_H

#include <stddef.h>

#include "export.h"
#include "shard.h"
#include "shard_run.h"
#include "view.h"

/* "<db>.<kind>-I-of-N" into buf.  Returns 0 or -ENAMETOOLONG. */
int shard_task_file(const char *db, const char *kind, unsigned i, unsigned n,
		    char *buf, size_t bufsz);

/* Remove a db file and what sqlite keeps beside it. */
void shard_unlink_db(const char *path);

/* What to say when the db cannot be used; returns the exit status 1. */
int shard_db_fail(const char *what, int err);

/* view_build() with its errors said to the user; returns an exit status
 * (0, or 1 said). */
int shard_build(struct view_engine *e, struct view_stats *vs,
		struct view **v);

/*
 * The task files of kind beside db: for each share of one run, whether its
 * file is there.  *n is the number of shares (0: none found), have[i] 1
 * for each present (have is SHARD_MAX long).  Two runs' files at once
 * (another N) are an error: -EEXIST.
 */
int shard_find_tasks(const char *db, const char *kind, unsigned *n,
		     unsigned char *have);

/* The shares of n missing in have, said to the user; 0 when none. */
unsigned shard_say_missing(const char *what, unsigned n,
			   const unsigned char *have);

/* Remove what killed tasks left beside the db, once a merge succeeded. */
void shard_sweep_leftovers(const char *db);

/* One file of an export log: what an export task did with one view file
 * (store_log_row of shard.h). */

/* Write the log of task so->i: complete (ends with its count) or not at
 * all, mode 0600.  Returns 0, -ENAMETOOLONG, -EIO, -errno. */
int shard_log_write(const struct shard_opts *so, int quar,
		    const struct store_log_row *rows, size_t n);

/*
 * Read the export log at path of task i of n (written by this program, but
 * read as any input: a damaged or foreign one is -EBADMSG) into *rows,
 * *nrows (caller frees *rows); *quar says whether it wrote .quarantine/.
 */
int shard_log_read(const char *path, unsigned i, unsigned n,
		   struct store_log_row **rows, size_t *nrows, int *quar);

/* The phases (shard_run()). */
int shard_run_index(struct shard_opts *so, struct view_engine *e,
		    const struct export_opts *xo);
int shard_run_merge(struct shard_opts *so, struct view_engine *e,
		    const struct export_opts *xo);
int shard_run_export(struct shard_opts *so, struct view_engine *e,
		     const struct export_opts *xo);

/* The last merge: the export logs of n tasks folded into the db, the
 * destination finished.  *v: the view if the caller built it (else built
 * here; the caller frees it).  Returns an exit status. */
int shard_merge_logs(const struct shard_opts *so, struct view_engine *e,
		     struct view **v, struct view_stats *vs,
		     const struct export_opts *xo, unsigned n);

#endif
