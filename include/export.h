/*
 * export.h - `deidfs export`: materialise a built view on disk.
 *
 * Every file is written to a temporary name in its final directory and
 * renamed into place once complete, with the view's mtime and its mark
 * (view_node_mark(), in the extended attribute user.deidfs.mark), so a
 * file under its final name is always whole.  A re-run keeps the files
 * whose mark says they are this version of this name (resume), rewrites
 * the rest, and removes the files an earlier export of this project wrote
 * that the view no longer has (and the folders that leaves empty); nothing
 * without this project's mark is ever removed or trusted.  One export at a
 * time into a destination (a lock; the second waits).  On a destination
 * that keeps
 * no extended attributes every file is rewritten and nothing is removed
 * (st->no_marks says so).
 */
#ifndef DEIDFS_EXPORT_H
#define DEIDFS_EXPORT_H

#include <time.h>

#include "view.h"

struct export_opts {
	const char *dest;		/* destination directory */
	int with_quarantine;		/* also write .quarantine/ */
	unsigned jobs;			/* writer threads */
	int quiet;			/* no summary on stderr */
	const char *report;		/* the run report as JSON, or NULL */
	struct timespec started;	/* CLOCK_MONOTONIC at the command's
					 * start: the report's elapsed time */
	struct view_run run;		/* the report's record of the run:
					 * version, command, start (ends and
					 * fingerprint filled in here) */
	view_progress_fn progress;	/* may be NULL */
	void *progress_arg;
	/*
	 * A sharded export (fs/shard.c): with shard_n > 0 only the files of
	 * share shard_i (view_node_shard()) are written, the destination is
	 * not locked (the tasks write other files), and nothing is swept
	 * and no folder's time set: with finish, the last merge does that
	 * once, writing no file.  wrote, when set, is told of each file
	 * written (kept 0) or found complete (kept 1), under the writer's
	 * lock.
	 */
	unsigned shard_i, shard_n;
	int finish;
	void (*wrote)(void *arg, const struct view_node *n, int kept);
	void *wrote_arg;
};

/*
 * Refresh the index, build the view and write it to o->dest, then tell
 * the user: the summary on stderr (unless quiet), the report (o->report).
 * Returns a process exit status: 0; 1 when the run failed, or stopped
 * because the destination is full or read-only (every further file would
 * fail the same way; a re-run resumes); 2 when the source tree holds the
 * db or the destination; 3 when some files could not be read or written
 * (counted in the report).
 */
int export_run(struct view_engine *e, const struct export_opts *o);

#endif
