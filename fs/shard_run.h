/*
 * shard_run.h - the front end of a sharded run (fs/shard_run.c and the
 * files of its phases, named in fs/shard_impl.h; the core is in
 * include/shard.h; README "On a cluster"):
 *
 *   deidfs export --shard I/N --index-only OPTIONS SOURCE DEST   (index)
 *   deidfs merge OPTIONS SOURCE DEST                             (merge)
 *   deidfs export --shard I/N OPTIONS SOURCE DEST                (export)
 *   deidfs merge OPTIONS SOURCE DEST                             (again)
 *
 * Everything a run leaves lives beside the project db FILE, mode 0600:
 * FILE.shard-I-of-N (task I's index, a deidfs db with the project's key)
 * and FILE.export-I-of-N (task I's export log); each is written under a
 * temporary name and renamed into place once complete, so a file under
 * its final name is a finished task, and a merge consumes (removes) them.
 */
#ifndef DEIDFS_FRONT_SHARD_H
#define DEIDFS_FRONT_SHARD_H

#include "export.h"
#include "store.h"
#include "view.h"

enum shard_mode {
	SHARD_NONE = 0,
	SHARD_INDEX,		/* export --shard I/N --index-only */
	SHARD_EXPORT,		/* export --shard I/N */
	SHARD_MERGE,		/* merge */
};

struct shard_opts {
	enum shard_mode mode;
	unsigned i, n;		/* the task's share, and the number */
	const char *db;		/* the project db (borrowed) */
	int quiet;
	char *work;		/* SHARD_INDEX: the shard db being made, at
				 * its temporary name (owned) */
	char *final;		/* and its final name (owned) */
	struct store *base;	/* SHARD_INDEX: the project db's snapshot
				 * (owned) */
};

/* "I/N" into *i and *n (0 <= I < N <= SHARD_MAX).  Returns 0 or -EINVAL. */
int shard_parse(const char *arg, unsigned *i, unsigned *n);

/*
 * Open the store the engine works on: the project db (merge), a snapshot
 * of it (export), or a new shard db with the project's key (index; the
 * project db is created first when there is none).  Sets cfg's shard
 * fields.  Returns 0 or an exit status, said to the user.
 */
int shard_store_open(struct shard_opts *so, struct view_config *cfg,
		     struct store **st);

/* The run of the mode.  Returns an exit status. */
int shard_run(struct shard_opts *so, struct view_engine *e,
	      const struct export_opts *xo);

/*
 * After the engine's store is closed: an index task's shard db goes to
 * its final name when rc is 0 or 3 (files that could not be read are
 * counted, as by export), and is removed otherwise.  Frees so's own.
 * Returns the exit status.
 */
int shard_done(struct shard_opts *so, int rc);

#endif
