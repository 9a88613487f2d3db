/*
 * export_write.h - the export's writer: a built view written into a
 * destination directory (the contract of the result is in export.h).
 * Internal to the export front end (export.c).
 */
#ifndef DEIDFS_EXPORT_WRITE_H
#define DEIDFS_EXPORT_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

/* What export_write() did. */
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
 * Write the view v into o->dest with o->jobs threads (o->progress told of
 * each file).  Returns 0 (per-file failures are counted in st->failed, not
 * returned), or -errno when the destination cannot be used at all:
 * -ENOSPC, -EDQUOT or -EROFS met while writing stop the run at once (every
 * further file would fail the same way), and so does any of them met
 * before (export_dest_wide()); st is filled in either case.
 */
int export_write(struct view_engine *e, const struct view *v,
		 const struct export_opts *o, struct export_stats *st);

/*
 * The view's folders under dest_fd (export_dirs.c), parents before
 * children; with sharded, only those above files[0..nfiles) (grouped by
 * folder), the others being other tasks' or the last merge's to make.
 * Returns 0, -ENOTDIR (something else stands there), -ENAMETOOLONG,
 * -ENOMEM, -errno.
 */
int export_dirs_make(const struct view *v, const struct export_opts *o,
		     int dest_fd, const struct view_node **files, size_t nfiles,
		     int sharded);

/* The folders' times, last (creating entries changed them) and deepest
 * first, so that the whole tree carries the view's mtimes. */
void export_dirs_times(const struct view *v, const struct export_opts *o,
		       int dest_fd);

/* Whether err is an error of the destination as a whole: full (-ENOSPC,
 * -EDQUOT) or read-only (-EROFS). */
int export_dest_wide(int err);

#endif
