/*
 * store_sql.h - what the store's modules share (internal to the store; the
 * public contract is include/store.h): the connection and its lock, the
 * prepared statements, sqlite's errors as negative errnos, binding and
 * reading values, and write units.  Only store_*.c include this header (it
 * includes sqlite3.h).
 *
 * The store's modules:
 *   store_sql.c       this plumbing, and store_begin() / store_commit()
 *   store_schema.c    what makes a db ours: tables, meta rows, the key and
 *                     its check value, integrity, schema upgrades
 *   store_open.c      opening, creating, closing, detach / attach, the key
 *   store_index.c     the file index, scan generations, directory inodes
 *   store_audit.c     the audit trail
 *   store_map.c       pseudonym and UID pairs for re-identification
 *   store_settings.c  small key/value settings
 *   store_scan.c      results of the burned-in text scan
 *
 * Calling convention: every function here expects st->lock held and st->db
 * open (the public functions take the lock; none of these does), and
 * returns 0 or a negative errno like the public ones.
 */
#ifndef DEIDFS_STORE_SQL_H
#define DEIDFS_STORE_SQL_H

#include <pthread.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "keyed.h"
#include "store.h"

/*
 * Every statement the store runs after open, prepared once per connection.
 * The SQL of each lives beside the code that runs it, in a table of its
 * module (store_*_stmts below).
 */
enum store_stmt {
	/* store_sql.c: transactions and write units */
	STORE_STMT_BEGIN,
	STORE_STMT_COMMIT,
	STORE_STMT_ROLLBACK,
	STORE_STMT_SAVEPOINT,
	STORE_STMT_RELEASE,
	STORE_STMT_ROLLBACK_TO,
	/* store_index.c */
	STORE_STMT_FILE_UPSERT,
	STORE_STMT_FILE_BY_PATH,
	STORE_STMT_FILE_BY_ID,
	STORE_STMT_FILE_AFTER,
	STORE_STMT_FILE_SET_VIEW,
	STORE_STMT_FILE_TOUCH,
	STORE_STMT_PRUNE_FILES,
	STORE_STMT_GEN_BUMP,
	STORE_STMT_GEN_GET,
	STORE_STMT_DIR_GET,
	STORE_STMT_DIR_INSERT,
	/* store_audit.c */
	STORE_STMT_AUDIT_DELETE,
	STORE_STMT_AUDIT_INSERT,
	STORE_STMT_AUDIT_COUNT,
	STORE_STMT_PRUNE_AUDIT,
	/* store_map.c */
	STORE_STMT_PATIENT_INSERT,
	STORE_STMT_PATIENT_GET,
	STORE_STMT_UID_INSERT,
	STORE_STMT_UID_GET,
	/* store_settings.c */
	STORE_STMT_SETTING_GET,
	STORE_STMT_SETTING_PUT,
	STORE_STMT_SETTING_DEL,
	/* store_scan.c */
	STORE_STMT_SCAN_GET,
	STORE_STMT_SCAN_GET_VERSION,
	STORE_STMT_SCAN_PUT,
	STORE_STMT_SCAN_PRUNE,
	STORE_STMT_COUNT
};

/* One statement of a module's table; a table ends with sql == NULL. */
struct store_stmt_sql {
	enum store_stmt id;
	const char *sql;
};

extern const struct store_stmt_sql store_sql_stmts[];
extern const struct store_stmt_sql store_index_stmts[];
extern const struct store_stmt_sql store_audit_stmts[];
extern const struct store_stmt_sql store_map_stmts[];
extern const struct store_stmt_sql store_settings_stmts[];
extern const struct store_stmt_sql store_scan_stmts[];

/* store_scan.c: drop the scans of paths no longer indexed (in the
 * caller's write unit). */
int store_scan_prune(struct store *st);

struct store {
	/*
	 * A leaf lock: held for the whole of every public call and never
	 * while taking another lock or calling back into the caller
	 * (store_file_foreach() runs its callback unlocked).  Callers may
	 * take it while holding their own locks, subject to store.h's rule
	 * about the busy timeout.
	 */
	pthread_mutex_t lock;
	sqlite3 *db;		/* NULL while detached */
	sqlite3_stmt *stmt[STORE_STMT_COUNT];
	/*
	 * store_begin() depth.  The transaction belongs to the connection,
	 * not to a thread: calls from other threads between store_begin()
	 * and store_commit() join it.  Batch writers (the scan) are expected
	 * to be the only writer while they hold one open.
	 */
	int depth;
	uint8_t key[KEYED_KEY_LEN];	/* immutable once open */
	char *path;		/* for store_attach() */
	dev_t dev;		/* the file verified at open, for */
	ino_t ino;		/* store_attach() */
	/* store_open_lazy(): integrity_check not run yet; the commit hook
	 * runs it before the first write (store_open.c).  Under lock. */
	int check_pending;
	int wrote;		/* a row written since open */
};

/* ---- errors ----------------------------------------------------------- */

/* An errno of the system (open(), a rename) as the store's error. */
int store_sql_map_errno(int e);
/* An sqlite result code as 0 or a negative errno; db (may be NULL) tells
 * the system error behind SQLITE_CANTOPEN and SQLITE_IOERR. */
int store_sql_map_rc(sqlite3 *db, int rc);

/* ---- statements ------------------------------------------------------- */

/*
 * Prepare every statement of every module's table on st->db.  A prepare
 * error that is not an I/O or lock problem means a table or column is
 * missing: -EBADMSG (not our schema).  On error some statements may be
 * prepared: store_sql_finalize_all() releases them.
 */
int store_sql_prepare_all(struct store *st);
void store_sql_finalize_all(struct store *st);	/* NULLs every slot */

/*
 * A prepared statement, ready to bind.  Statements are reset and unbound
 * after every use (store_sql_done(), store_sql_run()), so a cached one is
 * always ready and no binding outlives the caller's buffers (values are
 * bound SQLITE_STATIC).
 */
sqlite3_stmt *store_sql_stmt(struct store *st, enum store_stmt id);
void store_sql_done(sqlite3_stmt *s);
/* Step a statement that returns no row, then reset it (also on error). */
int store_sql_run(struct store *st, sqlite3_stmt *s);
/* store_sql_run() of a statement that takes no values. */
int store_sql_exec_id(struct store *st, enum store_stmt id);
/* store_sql_run() of a statement whose one value is the integer ?1. */
int store_sql_run_i64(struct store *st, enum store_stmt id, int64_t v);
/* Step once: 1 for a row, 0 when done, or a negative errno.  The caller
 * resets with store_sql_done(). */
int store_sql_step(struct store *st, sqlite3_stmt *s);
/* Run SQL text once (schema, pragmas); never for anything with values. */
int store_sql_exec(struct store *st, const char *sql);
/* One-off statement (open, schema checks): SQLITE_ERROR is -EBADMSG, a db
 * that is not ours.  Finalize *s with sqlite3_finalize(). */
int store_sql_prepare_once(struct store *st, const char *sql,
			   sqlite3_stmt **s);

/* ---- values ----------------------------------------------------------- */

/*
 * Source paths (files.path, dirs.path) are always bound as BLOBs: they are
 * raw bytes and may not be valid UTF-8, and a BLOB never compares equal to
 * a TEXT.  Other strings are bound as TEXT when they are valid UTF-8 (so
 * the db is pleasant to query by hand) and as BLOBs otherwise, since
 * sqlite's TEXT functions assume valid UTF-8.  Readers accept either.
 * NULL pointers bind SQL NULL.  Everything is bound SQLITE_STATIC: the
 * value must live until the statement is reset.
 */
int store_sql_bind_blob(struct store *st, sqlite3_stmt *s, int i,
			const void *p, size_t n);
int store_sql_bind_path(struct store *st, sqlite3_stmt *s, int i,
			const char *p);
int store_sql_bind_str(struct store *st, sqlite3_stmt *s, int i,
		       const char *p);
int store_sql_bind_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v);
/* STORE_MISSING binds NULL. */
int store_sql_bind_opt_i64(struct store *st, sqlite3_stmt *s, int i,
			   int64_t v);

/*
 * Column i as a NUL-terminated string the caller frees (NULL for SQL
 * NULL).  A value with an embedded NUL cannot be a C string: someone else
 * wrote it, -EIO.  Also -ENOMEM.
 */
int store_sql_col_str(sqlite3_stmt *s, int i, char **out);
/* Column i of the current row as text bytes (*p, *len), not copied: valid
 * until the statement steps again; *p NULL for SQL NULL, "" for empty.
 * Returns 0, -ENOMEM, or -EIO when a NUL is inside. */
int store_sql_col_bytes(sqlite3_stmt *s, int i, const void **p,
			size_t *len);
/* Column i, STORE_MISSING for SQL NULL. */
int64_t store_sql_col_opt_i64(sqlite3_stmt *s, int i);
/* Whether column i holds exactly the bytes of the string v. */
int store_sql_col_equals(sqlite3_stmt *s, int i, const char *v);

/* ---- transactions ------------------------------------------------------ */

/*
 * A write unit around one public call: its own BEGIN IMMEDIATE (taking
 * the write lock up front, so the busy timeout applies there rather than
 * to a deadlocking upgrade), or a savepoint inside the caller's
 * store_begin() so a failed call leaves the outer transaction as it was.
 * store_sql_unit_end() commits (or releases) when err is 0 and rolls back
 * otherwise; it returns err, or the error of the commit.
 */
int store_sql_unit_begin(struct store *st);
int store_sql_unit_end(struct store *st, int err);

/*
 * End a transaction begun with store_sql_exec(st, "BEGIN IMMEDIATE")
 * (before the statements are prepared: creation, upgrades): COMMIT when
 * err is 0, and ROLLBACK whenever one is still open after that.  Returns
 * err, or the error of the commit.
 */
int store_sql_exec_end(struct store *st, int err);

#endif
