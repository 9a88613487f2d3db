/*
 * mount.h - `deidfs mount`: the view served live as a read-only FUSE
 * filesystem (libfuse3 low-level API).
 */
#ifndef DEIDFS_MOUNT_H
#define DEIDFS_MOUNT_H

#include "view.h"

struct mount_opts {
	const char *mountpoint;
	int foreground;			/* -f: do not daemonize */
	int debug;			/* -d: FUSE debug output (implies -f) */
	const char *fuse_opts;		/* comma-joined -o options, or NULL */
	int no_refresh;			/* serve the existing index as it is */
	int quiet;
	view_progress_fn progress;	/* index progress, may be NULL */
	void *progress_arg;
};

/*
 * Refresh the index (unless no_refresh), build the view, mount it and
 * serve until unmounted (fusermount3 -u) or SIGINT/SIGTERM/SIGHUP; the
 * store is consistent at every point.  Returns a process exit status
 * (0 on a clean unmount).
 */
int mount_run(struct view_engine *e, const struct mount_opts *o);

#endif
