/*
 * shard.h - the core of a sharded run (issue 17; README "On a cluster"):
 * which share a source file or a view file belongs to, and the store's
 * side of the shard dbs (fs/view_shard.c, fs/store_shard.c, and
 * fs/store_merge.c for the merge).
 *
 * A sharded run has three phases.  index: task i of n analyses the source
 * files whose relative path falls in share i (view_shard_of()) into a
 * shard db of its own, a deidfs db with the project's key.  merge: the
 * shard dbs are put into the project db, and the view is built once.
 * export: task i writes the files of the patients whose pseudonym falls
 * in share i (view_node_shard()), reading the project db read-only
 * (store_open_snapshot()), and lists what it wrote in a shard log that
 * the last merge records in the db (store_shard_log_put()).
 *
 * Nothing here logs or returns a value of a file: paths and pseudonyms
 * only go through the hash.
 */
#ifndef DEIDFS_SHARD_H
#define DEIDFS_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "keyed.h"
#include "store.h"
#include "view.h"

/* The largest n of a sharded run. */
#define SHARD_MAX 4096

/*
 * The share (0 .. n-1) of the string s: FNV-1a (64 bits) of its bytes,
 * modulo n.  Not keyed: it only spreads work, and every task and machine
 * must agree on it without anything but the string.  n >= 1.
 */
unsigned view_shard_of(const char *s, unsigned n);

/*
 * The share of a node of the view in an export of n shares: a DICOM file
 * by its pseudonym (every file of one woman is written by one task), a
 * file without one (an unidentified quarantined file) and the generated
 * texts (the CSV, reasons.csv) by share 0.  Folders have no share.
 */
unsigned view_node_shard(const struct view *v, const struct view_node *n,
			 unsigned nshards);

/*
 * Whether the view recorded in the engine's db (view_config_record(), by
 * the merge's build) is the one the engine's options give: an export task
 * must build the view the merge built.  Returns 0, -ESTALE (another view,
 * or none recorded), -ENOMEM.
 */
int view_config_same(struct view_engine *e);

/*
 * Open the project db at path for reading only, as an immutable snapshot:
 * no lock and no -shm file, so any number of tasks on any number of hosts
 * may read one db on a network file system while nothing writes it (the
 * merge has finished).  The meta rows and the key are checked as for
 * store_open(), not the integrity of every page (the merge that wrote it
 * checked it; a damaged page is an error when read).  Any write fails
 * (-EROFS).  Returns 0, -ENOENT, -EBADMSG, -EACCES, -EIO.  *out freed
 * with store_close().
 */
int store_open_snapshot(const char *path, struct store **out);

/*
 * Give the new, empty db st the key key (a shard db shares the project's
 * key, so its pseudonyms and UIDs are the project's).  Returns 0, -EEXIST
 * when st already indexes files, -EIO.
 */
int store_shard_rekey(struct store *st, const uint8_t key[KEYED_KEY_LEN]);

/*
 * Merge the shard dbs at paths[0..n) (n shards of one run, made with st's
 * key) into the project db st, in generation gen: their records, with row
 * ids (inode numbers) as one machine's index of the whole source gives
 * them, their audit rows, pseudonym and UID pairs and text scans, and the
 * records they found unchanged marked seen in gen.  *merged counts the
 * records copied, *seen the unchanged ones, *lost is 1 when a shard could
 * not read a folder (so nothing may be pruned).  Each shard is copied in a
 * transaction of its own (the write-ahead log then holds one shard at a
 * time); a merge killed half-way is run again with the same shard dbs,
 * before anything else writes the db, and gives the same ids.  Returns 0, -EBADMSG (a db not of st's key), -ENOENT (a shard saw
 * unchanged a record st no longer has), -EIO, -ENOSPC, -ENOMEM.
 */
int store_shard_merge(struct store *st, const char *const *paths, unsigned n,
		      int64_t gen, uint64_t *merged, uint64_t *seen, int *lost);

/*
 * Source paths a shard's index found unchanged in the project db, so it
 * did not analyse them again: listed in the shard db (store_shard_seen()),
 * marked seen by the merge (store_shard_merge()).  Returns 0, -EIO.
 */
int store_shard_seen(struct store *shard, const char *path);

/* One file of a shard log: what an export task did with one view file. */
struct store_log_row {
	int64_t file_id;	/* 0 for a generated text */
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
	const char *action;	/* "written" or "kept" (borrowed) */
};

/*
 * Record an export task's log in the db: one row per file, with the run
 * (a number the first call of a merge takes, store_shard_log_run()), the
 * task's share and the number of shares, and the time (unix seconds).
 * The table export_log is made on first use (a separate step, no schema
 * version of its own: README "On a cluster").  In the caller's
 * transaction.  Return 0, -EIO, -ENOSPC.
 */
int store_shard_log_run(struct store *st, int64_t *run);
int store_shard_log_put(struct store *st, int64_t run, unsigned shard,
			unsigned nshards, const struct store_log_row *rows,
			size_t n);

#endif
