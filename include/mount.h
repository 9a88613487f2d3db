/*
 * mount.h - `deidfs mount`: the view served live as a read-only FUSE
 * filesystem (libfuse3 low-level API).
 */
#ifndef DEIDFS_MOUNT_H
#define DEIDFS_MOUNT_H

#include <sys/types.h>

#include "view.h"

struct fuse_args;

struct mount_opts {
	const char *mountpoint;
	int no_refresh;			/* serve the existing index */
	int quiet;
	view_progress_fn progress;	/* index progress, may be NULL */
	void *progress_arg;
	/* set by mount_parse_args() */
	int foreground;			/* -f (or -d): no daemon */
	int debug;			/* -d, -o debug: FUSE's trace */
	uid_t uid;			/* owner of every file and folder: */
	gid_t gid;			/* -o uid=N,gid=N, or ours */
	struct fuse_args *args;		/* the session's (borrowed) */
};

/*
 * The FUSE part of the command line, parsed before anything is opened.
 * args holds what the command line's own parser left for FUSE (-f, -d,
 * -o OPT), after an argv[0].  Puts the mount's fixed options first
 * (read-only, its name in mount(8)), takes FUSE's standard ones (-f, -d,
 * -o debug) with fuse_parse_cmdline() and uid=N, gid=N into o, and leaves
 * the rest in args for the session: o->args borrows args until
 * mount_run() returns.  Returns 0, or 1 when an -o option is not valid
 * (said to the user; exit status 1, as it has always been).
 */
int mount_parse_args(struct fuse_args *args, struct mount_opts *o);

/*
 * Refresh the index (unless no_refresh), build the view, mount it and
 * serve until unmounted (fusermount3 -u) or SIGINT/SIGTERM/SIGHUP; the
 * store is consistent at every point.  o was filled by mount_parse_args().
 * Returns a process exit status (0 on a clean unmount).
 */
int mount_run(struct view_engine *e, const struct mount_opts *o);

#endif
