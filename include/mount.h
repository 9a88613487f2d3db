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
	int nonempty;			/* a mount point with entries is fine */
	int quiet;
	const char *report;		/* the first index's report, or NULL */
	struct view_run run;		/* as export_opts.run */
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
 * mount_run() returns.  Every option is checked as libfuse will take it
 * (a session is made and freed; nothing is mounted).  Returns 0, or 2 (a
 * usage error) when an -o option is not valid, said to the user.
 */
int mount_parse_args(struct fuse_args *args, struct mount_opts *o);

/*
 * The mount point, before anything is indexed or created: it must be an
 * existing directory, not a mount point already (a second deidfs there
 * would stack on the first), and empty unless o->nonempty; /dev/fuse must
 * be usable.  Returns 0, or an exit status with the reason said (naming
 * the mount point as given): 2 for a busy or non-empty mount point, 1
 * otherwise.
 */
int mount_check_target(const struct mount_opts *o);

/*
 * Refresh the index (unless no_refresh), build the view, mount it and
 * serve until unmounted (fusermount3 -u) or SIGINT/SIGTERM/SIGHUP; the
 * store is consistent at every point.  o was filled by mount_parse_args()
 * and checked by mount_check_target().
 * Returns a process exit status (0 on a clean unmount).
 */
int mount_run(struct view_engine *e, const struct mount_opts *o);

#endif
