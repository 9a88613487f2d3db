/*
 * store.h - the persistent project db (sqlite3): secret key, pseudonym and
 * UID mapping, file index, view names, directory inode numbers and the audit
 * trail.  The only module that includes sqlite3.h.
 *
 * The db holds PHI (original IDs and values in the audit trail): it is
 * created with mode 0600 and nothing from it is ever logged.
 *
 * Threads: a struct store serialises its own calls with an internal mutex
 * (no lock of the caller may be held across a store call that waits on
 * sqlite's busy timeout).  Every write is in a transaction: the db is
 * consistent whenever the process is killed.
 *
 * Implemented by fs/store_*.c (store_sql.h lists them): opening and the
 * key in store_open.c and store_schema.c, the index in store_index.c, the
 * audit trail in store_audit.c, the pairs in store_map.c, settings in
 * store_settings.c.
 */
#ifndef DEIDFS_STORE_H
#define DEIDFS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "keyed.h"

struct store;

#define STORE_MISSING INT64_MIN	/* an absent integer attribute */

/* One indexed source file: what the view model needs to name and serve it
 * without parsing again.  Strings are owned by the struct (store_file_clear
 * frees them); NULL means absent. */
struct store_file {
	int64_t id;		/* row id, stable: the file's inode number */
	char *path;		/* source path relative to the source root */
	uint64_t src_size;	/* source stat at analysis time */
	int64_t src_mtime_ns;
	uint64_t src_ino;
	int64_t src_ctime_ns;	/* catches a writer that restores the mtime */
	char *opts;		/* fingerprint of the options of the analysis */
	int status;		/* enum rules_reason; 0 = publishable */
	uint64_t out_size;	/* size of the de-identified output */
	uint64_t header_len;	/* generated header bytes before pixel data */
	char *patient_id;	/* original PatientID, normalised (PHI) */
	char *study_date;	/* original StudyDate YYYYMMDD (PHI) */
	char *pseudonym;
	char *study_uid;	/* de-identified StudyInstanceUID */
	char *series_uid;	/* de-identified SeriesInstanceUID */
	char *sop_uid;		/* de-identified SOPInstanceUID */
	char *modality;
	char *laterality;	/* ImageLaterality or Laterality, CS */
	char *view_position;	/* ViewPosition, CS */
	int64_t series_number;	/* STORE_MISSING when absent */
	int64_t instance_number;	/* STORE_MISSING when absent */
	char *view_path;	/* assigned name in the view, relative, or NULL */
	int64_t out_mtime_ns;	/* mtime of the output: when this version of
				 * the file was first analysed (not the
				 * source's mtime, which may date the exam) */
	char *study_time;	/* original StudyTime (orders studies) */
	int64_t version;	/* 0 for the first version of the source
				 * analysed, +1 for each new one (read only:
				 * set by store_file_put()) */
	/* Why it is quarantined, when known (struct rules_cause): the rule
	 * (a short phrase) and the attribute's tag path ("" for the file),
	 * never a value; NULL otherwise */
	char *q_rule;
	char *q_path;
};

/* One audit trail row (values are raw bytes, may be NULL).  The analysis
 * of a file collects its rows in this form, so they reach the store as
 * they are; the store only reads them. */
struct store_audit {
	char path[96];		/* tag path, e.g. "00100010" */
	char action[16];
	void *old;
	size_t oldlen;
	void *newv;
	size_t newlen;
};

/* A mapping pair recorded for authorised re-identification (the store
 * only reads it). */
struct store_pair {
	char *orig;
	char *pseudo;
};

/*
 * Open the db at path.  With create, a missing db is created with mode 0600
 * (and a new 32-byte key from getrandom()); an existing db is opened.
 * Without create, a missing db is -ENOENT.  A db that is not ours, has no
 * key, or fails sqlite's integrity_check is -EBADMSG: never mint a new key
 * silently.  Sets WAL mode and a busy timeout of 10 s.  Returns 0, -ENOENT,
 * -EBADMSG, -EACCES, -EBUSY or -EIO.  *out freed with store_close().
 */
int store_open(const char *path, int create, struct store **out);
/*
 * store_open() for a run that may write nothing (a mount of an unchanged
 * index, --no-refresh): integrity_check, which reads every page of the db
 * (a minute and more for millions of files), is put off until the first
 * transaction that writes, and runs before it commits; a db that fails it
 * then fails that commit with -EBADMSG, the db file unchanged.  A db to be
 * upgraded or not in WAL mode is checked at once, as by store_open().
 */
int store_open_lazy(const char *path, int create, struct store **out);
/* Whether a store_open_lazy() store has not run its check yet: nothing
 * was written since it was opened. */
int store_check_pending(struct store *st);
void store_close(struct store *st);	/* accepts NULL */

/*
 * Close the sqlite connection but keep the store (path, key), and open it
 * again.  An sqlite connection must not cross fork(): the mount detaches
 * before it daemonizes and attaches in the daemon.  Attach verifies the db
 * is the one that was open (same key).  Returns 0, -EBUSY (a transaction
 * is open), or the errors of store_open().
 */
int store_detach(struct store *st);
int store_attach(struct store *st);

/* Copy the secret key.  Returns 0. */
int store_key(struct store *st, uint8_t key[KEYED_KEY_LEN]);

/* Group many writes in one transaction (nestable: only the outermost
 * commits).  Returns 0 or -EIO/-EBUSY. */
int store_begin(struct store *st);
int store_commit(struct store *st);

/* Find by source path.  Returns 0 (f filled; clear with store_file_clear),
 * -ENOENT or -EIO. */
int store_file_get(struct store *st, const char *path, struct store_file *f);

/* Find by id (= inode number).  Returns 0, -ENOENT or -EIO. */
int store_file_get_id(struct store *st, int64_t id, struct store_file *f);

/*
 * Insert or update the record for f->path (keeping its id and view_path if
 * it exists; f->view_path is ignored here), replace its audit rows with
 * audit[0..naudit), and record the pseudonym and UID pairs (insert or
 * ignore).  Sets f->id.  Returns 0 or -EIO/-ENOSPC.
 */
int store_file_put(struct store *st, struct store_file *f,
		   const struct store_audit *audit, size_t naudit,
		   const struct store_pair *pseud, size_t npseud,
		   const struct store_pair *uids, size_t nuids);

/* Set (or clear with NULL) the view path of a file.  Returns 0 or -EIO. */
int store_file_set_view_path(struct store *st, int64_t id, const char *vp);

/* Mark a source path as seen in the current scan (generation gen). */
int store_file_touch(struct store *st, int64_t id, int64_t gen);
/* Delete every record not touched in generation gen or a later one (and
 * its audit rows).  A touch never lowers a record's generation, so two
 * refreshes that run at once never prune each other's records. */
int store_file_prune(struct store *st, int64_t gen);
/* A new scan generation number (monotonic, persisted). */
int store_next_generation(struct store *st, int64_t *gen);

/* Call cb for every record, in id order; f is valid during the call only.
 * A non-zero return of cb stops and is returned.  cb runs without the
 * store's lock and may call the store. */
int store_file_foreach(struct store *st,
		       int (*cb)(void *arg, const struct store_file *f),
		       void *arg);

/*
 * store_file_foreach() for a caller that keeps the records: f belongs to
 * the store until cb returns, and cb may take it whole with
 * store_file_move() (its strings are then the caller's, freed with
 * store_file_clear()) instead of copying them.  Whatever cb leaves in f is
 * freed after it returns.
 */
int store_file_foreach_take(struct store *st,
			    int (*cb)(void *arg, struct store_file *f),
			    void *arg);

/*
 * Every record, in id order, for a caller that keeps them all (a view's
 * build): f's strings are copied into a and live until strarena_free(a)
 * (never store_file_clear() such a record; read-only: a string equal to
 * the same field of the record before is that record's); f itself is the
 * store's until cb returns.  A non-zero return of cb stops and is returned.  Runs cb
 * without the store's lock, as store_file_foreach().
 */
struct strarena;
int store_file_read_all(struct store *st, struct strarena *a,
			int (*cb)(void *arg, const struct store_file *f),
			void *arg);

/* Move the record src into dst without copying its strings: dst's own are
 * freed first (dst must be zeroed or a record), src is left zeroed.
 * Accepts dst == src (nothing happens). */
void store_file_move(struct store_file *dst, struct store_file *src);

/* Stable inode number for a directory of the view (path relative to the
 * view root, "" for the root).  Created on first use.  Returns 0 or -EIO. */
int store_dir_ino(struct store *st, const char *view_dir, uint64_t *ino);

/* Count audit rows of a file (for tests and reports). */
int store_audit_count(struct store *st, int64_t file_id, int64_t *n);

/* Free the strings of f and zero it.  Accepts NULL. */
void store_file_clear(struct store_file *f);

/* Small key/value settings (e.g. the options fingerprint of the last run). */
int store_setting_get(struct store *st, const char *k, char *out,
		      size_t outsz);
int store_setting_set(struct store *st, const char *k, const char *v);

/* ------------------------------------------------ verify and lookup */
/*
 * What the db recorded of the originals, read back for `deidfs verify`
 * and `deidfs lookup` (fs/store_verify.c).  The values are PHI: callers
 * never log them.
 */

/* One audit row with an original value: the file, the tag path
 * ("00100010", nested "00081115/0/00081155"), the action, and the value
 * (borrowed during the call). */
typedef int (*store_value_fn)(void *arg, int64_t file_id, const char *path,
			      const char *action, const void *old,
			      size_t oldlen);

/* Call cb for every audit row with an original value, of file_id, or of
 * every file when file_id < 0, in (file, row) order.  cb runs with no lock
 * held; a non-zero return stops and is returned.  Returns 0 or -errno. */
int store_values_foreach(struct store *st, int64_t file_id,
			 store_value_fn cb, void *arg);

enum store_uid_class {
	STORE_UID_UNKNOWN = 0,	/* neither */
	STORE_UID_REPLACEMENT,	/* a keyed UID this db gave */
	STORE_UID_ORIGINAL,	/* an original UID this db replaced */
};
/* Which of them uid is.  Returns 0 or -errno. */
int store_uid_class(struct store *st, const char *uid, int *cls);

/* The record whose view path is view_path (relative to the view root,
 * quarantined files under ".quarantine/").  Returns 0, -ENOENT, -EIO. */
int store_file_by_view_path(struct store *st, const char *view_path,
			    struct store_file *f);

/* The original (normalised) patient ID behind a pseudonym, malloc'd into
 * *id (the caller wipes and frees it).  Returns 0, -ENOENT or -errno. */
int store_patient_get(struct store *st, const char *pseudonym, char **id);

/* A file of the patient with this pseudonym (a published one when there
 * is one).  Returns 0, -ENOENT or -errno. */
int store_patient_file(struct store *st, const char *pseudonym,
		       int64_t *file_id);

/*
 * The burned-in text scan of one source version (fs/store_scan.c): path
 * and src_* say which version, fp which scanner; the rest is the result.
 * regions is text ("frame:x,y,wxh:kinds;..."), never what was read.
 * store_scan_get() fills the result fields of a row with the same key:
 * 0, -ENOENT (not scanned so), -EIO.  store_scan_put() inserts or
 * replaces the row of the path: 0, -EIO, -ENOSPC.  Strings borrowed.
 */
struct store_scan {
	const char *path;
	uint64_t src_size;
	int64_t src_mtime_ns;
	uint64_t src_ino;
	int64_t src_ctime_ns;
	const char *fp;
	int status;
	uint32_t kinds, frames, candidates;
	char regions[2048];
	uint64_t us_decode, us_find, us_ocr;
	/* the keyed digests of the forms of the identifying text read (16
	 * hex digits each, sorted, separated by ','; fs/view_scan.c), for
	 * the match against the registry row at every view build */
	char tokens[64 * 17 + 1];
};
/* path NULL: the row of any path with this source version (the same
 * file: one inode, size, mtime and ctime), for a caller that knows the
 * version only (an open's mask, fs/view_scan.c). */
int store_scan_get(struct store *st, struct store_scan *sc);
int store_scan_put(struct store *st, const struct store_scan *sc);

/* ------------------------------------------------ the registry's originals */
/*
 * The original values of the registry CSV's identifying cells, recorded
 * when a view is built (fs/store_registry.c) so that verify searches a
 * dataset for them as for the headers' originals.  PHI: never logged.
 */
enum store_reg_kind {
	STORE_REG_ID = 1,	/* the personal ID column */
	STORE_REG_DATE,		/* a date column, as YYYYMMDD */
	STORE_REG_OTHER,	/* a dropped column, or a date cell that is
				 * not a date: the cell as it was */
};

struct store_regval {
	const char *patient_id;	/* normalised personal ID of the row */
	int kind;		/* enum store_reg_kind */
	const void *v;		/* borrowed */
	size_t len;
};

/*
 * Record vals (rows already there are kept) in one transaction, unless
 * digest (a text naming the CSV's bytes and the view's choice of rows) is
 * what was recorded last: then nothing is written.  Returns 0 or -errno
 * (nothing recorded).
 */
int store_registry_record(struct store *st, const char *digest,
			  const struct store_regval *vals, size_t n);

/* Every recorded value: cb(arg, patient_id, kind, value, len), the
 * strings borrowed during the call, which runs with no lock held; a
 * non-zero return stops and is returned.  Returns 0 or -errno. */
typedef int (*store_regval_fn)(void *arg, const char *patient_id, int kind,
			       const void *v, size_t len);
int store_registry_foreach(struct store *st, store_regval_fn cb, void *arg);

/*
 * The view's snapshot (fs/view_snap.c): a byte stream kept in parts of
 * STORE_SNAP_PART bytes, taken at a view generation.  The view generation
 * (meta's view_gen) is bumped by triggers on every change to the rows a
 * view is built from, whoever makes it (store_schema.c, VIEW_SNAP_SQL).
 *
 * store_view_gen(): the current one into *gen; -ENOENT when the db has
 *   none, or lacks a trigger that bumps it (no snapshot is then ever
 *   taken or loaded).
 * store_snap_write(): replace the snapshot with total bytes, which fill
 *   gives in order, a piece at a time, into a buffer of the store's.  fill
 *   runs with the store's lock held: it must only copy from memory (no
 *   call into the store, no lock).  One transaction, and only while the
 *   view generation is still gen: -ESTALE when it is not (a writer came
 *   between the build's read and now), nothing written.  -EBUSY inside a
 *   store_begin().
 * store_snap_read(): n bytes at off of the stream into buf.  -ENOENT when
 *   there is no snapshot, -EBADMSG when its parts do not hold those bytes.
 */
#define STORE_SNAP_PART (32u << 20)
typedef void (*store_snap_fill_fn)(void *arg, void *buf, size_t len);
int store_view_gen(struct store *st, int64_t *gen);
int store_snap_write(struct store *st, int64_t gen, uint64_t total,
		     store_snap_fill_fn fill, void *arg);
int store_snap_read(struct store *st, uint64_t off, void *buf, size_t n);

#endif
