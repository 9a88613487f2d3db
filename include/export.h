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

#include "view.h"

struct export_opts {
	const char *dest;		/* destination directory */
	int with_quarantine;		/* also write .quarantine/ */
	unsigned jobs;			/* writer threads */
	view_progress_fn progress;	/* may be NULL */
	void *progress_arg;
};

struct export_stats {
	uint64_t written;		/* files written this run */
	uint64_t kept;			/* already complete: skipped */
	uint64_t removed;		/* stale files and folders of an
					 * earlier export, removed */
	int no_marks;			/* -errno: the destination keeps no
					 * extended attributes */
	uint64_t failed;		/* could not be written */
	uint64_t bytes_written;
	uint64_t total;			/* files in the view to export */
	uint64_t bytes_total;		/* and their size */
};

/*
 * Returns 0 (per-file failures are counted in st->failed, not returned),
 * or -errno when the destination cannot be used at all: -ENOSPC, -EDQUOT
 * or -EROFS met while writing stop the run at once (every further file
 * would fail the same way); st is filled in either case.
 */
int export_run(struct view_engine *e, const struct view *v,
	       const struct export_opts *o, struct export_stats *st);

#endif
