/*
 * store.c - the project db on sqlite3 (see store.h for the contract).
 *
 * Schema version 2 (version 1 lacked files.src_ctime_ns and files.version;
 * a version 1 db is upgraded in place when it is opened):
 *   meta(k, v)         app='deidfs', schema_version=2, key=32-byte BLOB,
 *                      generation=INTEGER (the current scan generation),
 *                      key_check=32-byte BLOB (see key_check(); optional)
 *   files(...)         one row per source file, the fields of struct
 *                      store_file plus gen (last generation that saw it)
 *   audit(file_id, seq, time, path, action, old, new)
 *                      what was done to which attribute of which file and
 *                      when (unix seconds of the put); replaced as a whole
 *                      on every store_file_put()
 *   patients, uids     pseudonym -> original, for authorised re-identification
 *   dirs(id, path)     directory inode numbers of the view
 *   settings(k, v)
 *
 * Source paths (files.path) are always bound as BLOBs: they are raw bytes
 * and may not be valid UTF-8, and a BLOB never compares equal to a TEXT.
 * Other strings are bound as TEXT when they are valid UTF-8 (so the db is
 * pleasant to query by hand) and as BLOBs otherwise, since sqlite's TEXT
 * functions assume valid UTF-8.  Readers accept either.
 *
 * Row ids use AUTOINCREMENT so a pruned file's inode number is never given
 * to another file later.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

#define SCHEMA_VERSION 2
#define APP_NAME "deidfs"
#define BUSY_TIMEOUT_MS 10000
#define FOREACH_BATCH 64	/* rows copied per lock hold in foreach */

enum stmt_id {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_SAVEPOINT,
	S_RELEASE,
	S_ROLLBACK_TO,
	S_FILE_UPSERT,
	S_FILE_BY_PATH,
	S_FILE_BY_ID,
	S_FILE_AFTER,
	S_FILE_SET_VIEW,
	S_FILE_TOUCH,
	S_PRUNE_AUDIT,
	S_PRUNE_FILES,
	S_AUDIT_DELETE,
	S_AUDIT_INSERT,
	S_AUDIT_COUNT,
	S_PATIENT_INSERT,
	S_PATIENT_GET,
	S_UID_INSERT,
	S_UID_GET,
	S_GEN_BUMP,
	S_GEN_GET,
	S_DIR_GET,
	S_DIR_INSERT,
	S_SETTING_GET,
	S_SETTING_PUT,
	S_SETTING_DEL,
	S_COUNT
};

#define FILE_COLS                                                          \
	"id, path, src_size, src_mtime_ns, src_ino, opts, status, out_size, " \
	"header_len, patient_id, study_date, pseudonym, study_uid, "          \
	"series_uid, sop_uid, modality, laterality, view_position, "          \
	"series_number, instance_number, view_path, out_mtime_ns, study_time, " \
	"src_ctime_ns, version"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT store_unit",
	[S_RELEASE] = "RELEASE store_unit",
	[S_ROLLBACK_TO] = "ROLLBACK TO store_unit",
	[S_FILE_UPSERT] =
		"INSERT INTO files(path, src_size, src_mtime_ns, src_ino, opts, "
		"status, out_size, header_len, patient_id, study_date, "
		"pseudonym, study_uid, series_uid, sop_uid, modality, "
		"laterality, view_position, series_number, instance_number, "
		"out_mtime_ns, study_time, src_ctime_ns, view_path, gen) "
		"VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
		"?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, NULL, "
		"(SELECT v FROM meta WHERE k = 'generation')) "
		"ON CONFLICT(path) DO UPDATE SET src_size = excluded.src_size, "
		"src_mtime_ns = excluded.src_mtime_ns, "
		"src_ino = excluded.src_ino, "
		"src_ctime_ns = excluded.src_ctime_ns, opts = excluded.opts, "
		"status = excluded.status, out_size = excluded.out_size, "
		"header_len = excluded.header_len, "
		"patient_id = excluded.patient_id, "
		"study_date = excluded.study_date, "
		"pseudonym = excluded.pseudonym, "
		"study_uid = excluded.study_uid, "
		"series_uid = excluded.series_uid, sop_uid = excluded.sop_uid, "
		"modality = excluded.modality, "
		"laterality = excluded.laterality, "
		"view_position = excluded.view_position, "
		"series_number = excluded.series_number, "
		"instance_number = excluded.instance_number, "
		/* the first analysis of a version dates it: a second one
		 * (another process indexing the same new file at the same
		 * time) must not give the file another mtime.  A new version
		 * is always dated later than the one it replaces, even when
		 * both were analysed within the same second: size and mtime
		 * are what rsync and a resumed export compare, and a new
		 * version of the same size must not look like the old one. */
		"out_mtime_ns = CASE WHEN files.src_size = excluded.src_size "
		"AND files.src_mtime_ns = excluded.src_mtime_ns "
		"AND files.src_ino = excluded.src_ino "
		"AND files.src_ctime_ns = excluded.src_ctime_ns "
		"AND files.opts IS excluded.opts "
		"THEN files.out_mtime_ns ELSE MAX(excluded.out_mtime_ns, "
		"files.out_mtime_ns + 1000000000) END, "
		/* and counted: the view gives each version its own inode, so
		 * the kernel never mixes cached pages of two versions */
		"version = CASE WHEN files.src_size = excluded.src_size "
		"AND files.src_mtime_ns = excluded.src_mtime_ns "
		"AND files.src_ino = excluded.src_ino "
		"AND files.src_ctime_ns = excluded.src_ctime_ns "
		"AND files.opts IS excluded.opts "
		"THEN files.version ELSE files.version + 1 END, "
		"study_time = excluded.study_time, "
		"gen = MAX(files.gen, excluded.gen) RETURNING id",
	[S_FILE_BY_PATH] = "SELECT " FILE_COLS " FROM files WHERE path = ?1",
	[S_FILE_BY_ID] = "SELECT " FILE_COLS " FROM files WHERE id = ?1",
	[S_FILE_AFTER] = "SELECT " FILE_COLS " FROM files WHERE id > ?1 "
			 "ORDER BY id LIMIT ?2",
	[S_FILE_SET_VIEW] = "UPDATE files SET view_path = ?2 WHERE id = ?1",
	/* Two refreshes may run at once (a mount and an export on one db),
	 * each with its own generation: a touch never lowers a record's
	 * generation, and a prune removes only what neither has seen, so
	 * neither prunes the other's records. */
	[S_FILE_TOUCH] = "UPDATE files SET gen = MAX(gen, ?2) WHERE id = ?1",
	[S_PRUNE_AUDIT] = "DELETE FROM audit WHERE file_id IN "
			  "(SELECT id FROM files WHERE gen < ?1)",
	[S_PRUNE_FILES] = "DELETE FROM files WHERE gen < ?1",
	[S_AUDIT_DELETE] = "DELETE FROM audit WHERE file_id = ?1",
	[S_AUDIT_INSERT] = "INSERT INTO audit(file_id, seq, time, path, "
			   "action, old, new) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_AUDIT_COUNT] = "SELECT count(*) FROM audit WHERE file_id = ?1",
	[S_PATIENT_INSERT] = "INSERT OR IGNORE INTO patients(pseudonym, "
			     "patient_id) VALUES(?1, ?2)",
	[S_PATIENT_GET] = "SELECT patient_id FROM patients WHERE pseudonym = ?1",
	[S_UID_INSERT] = "INSERT OR IGNORE INTO uids(pseudo, orig) "
			 "VALUES(?1, ?2)",
	[S_UID_GET] = "SELECT orig FROM uids WHERE pseudo = ?1",
	[S_GEN_BUMP] = "UPDATE meta SET v = v + 1 WHERE k = 'generation'",
	[S_GEN_GET] = "SELECT v FROM meta WHERE k = 'generation'",
	[S_DIR_GET] = "SELECT id FROM dirs WHERE path = ?1",
	[S_DIR_INSERT] = "INSERT OR IGNORE INTO dirs(path) VALUES(?1)",
	[S_SETTING_GET] = "SELECT v FROM settings WHERE k = ?1",
	[S_SETTING_PUT] = "INSERT OR REPLACE INTO settings(k, v) VALUES(?1, ?2)",
	[S_SETTING_DEL] = "DELETE FROM settings WHERE k = ?1",
};

static const char schema_sql[] =
	"CREATE TABLE meta(k TEXT PRIMARY KEY NOT NULL, v);"
	"CREATE TABLE files("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" path BLOB NOT NULL UNIQUE,"
	" src_size INTEGER NOT NULL,"
	" src_mtime_ns INTEGER NOT NULL,"
	" src_ino INTEGER NOT NULL,"
	" opts TEXT,"
	" status INTEGER NOT NULL,"
	" out_size INTEGER NOT NULL,"
	" header_len INTEGER NOT NULL,"
	" patient_id TEXT,"
	" study_date TEXT,"
	" pseudonym TEXT,"
	" study_uid TEXT,"
	" series_uid TEXT,"
	" sop_uid TEXT,"
	" modality TEXT,"
	" laterality TEXT,"
	" view_position TEXT,"
	" series_number INTEGER,"
	" instance_number INTEGER,"
	" view_path TEXT,"
	" out_mtime_ns INTEGER NOT NULL,"
	" study_time TEXT,"
	" src_ctime_ns INTEGER NOT NULL DEFAULT 0,"
	" version INTEGER NOT NULL DEFAULT 0,"
	" gen INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE audit("
	" file_id INTEGER NOT NULL,"
	" seq INTEGER NOT NULL,"
	" time INTEGER NOT NULL,"
	" path TEXT,"
	" action TEXT,"
	" old BLOB,"
	" new BLOB);"
	"CREATE INDEX audit_file ON audit(file_id);"
	"CREATE TABLE patients(pseudonym TEXT PRIMARY KEY NOT NULL,"
	" patient_id TEXT NOT NULL);"
	"CREATE TABLE uids(pseudo TEXT PRIMARY KEY NOT NULL,"
	" orig TEXT NOT NULL);"
	"CREATE TABLE dirs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" path BLOB NOT NULL UNIQUE);"
	"CREATE TABLE settings(k TEXT PRIMARY KEY NOT NULL, v TEXT);";

struct store {
	/*
	 * A leaf lock: held for the whole of every public call and never
	 * while taking another lock or calling back into the caller
	 * (store_file_foreach() runs its callback unlocked).  Callers may
	 * take it while holding their own locks, subject to store.h's rule
	 * about the busy timeout.
	 */
	pthread_mutex_t lock;
	sqlite3 *db;
	sqlite3_stmt *stmt[S_COUNT];
	/*
	 * store_begin() depth.  The transaction belongs to the connection,
	 * not to a thread: calls from other threads between store_begin()
	 * and store_commit() join it.  Batch writers (the scan) are expected
	 * to be the only writer while they hold one open.
	 */
	int depth;
	uint8_t key[KEYED_KEY_LEN];
	char *path;		/* for store_attach() */
};

/* ---------------------------------------------------------------------- */
/* sqlite plumbing                                                        */

static int map_errno(int e)
{
	switch (e) {
	case ENOENT:
		return -ENOENT;
	case EACCES:
	case EPERM:
	case EROFS:
		return -EACCES;
	case ENOSPC:
	case EDQUOT:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

static int map_rc(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EACCES;
	case SQLITE_CANTOPEN:
		/* Only a permission problem is -EACCES; the rest is I/O. */
		return db ? map_errno(sqlite3_system_errno(db)) : -EIO;
	case SQLITE_IOERR:
		if (db && (sqlite3_system_errno(db) == ENOSPC ||
			   sqlite3_system_errno(db) == EDQUOT))
			return -ENOSPC;
		return -EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Statements are reset and unbound after every use, so a cached one is
 * always ready, and no binding outlives the caller's buffers (they are
 * bound SQLITE_STATIC). */
static sqlite3_stmt *stmt_get(struct store *st, enum stmt_id id)
{
	return st->stmt[id];
}

static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Step a statement that returns no row, then reset it. */
static int stmt_run(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	int err = rc == SQLITE_DONE ? 0 :
		  rc == SQLITE_ROW ? -EIO : map_rc(st->db, rc);

	stmt_done(s);
	return err;
}

static int exec_id(struct store *st, enum stmt_id id)
{
	return stmt_run(st, stmt_get(st, id));
}

static int step_row(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return map_rc(st->db, rc);
}

static int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], len, j;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (j = 1; j < len; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* overlong, surrogate or beyond U+10FFFF */
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += len;
	}
	return 1;
}

static int bind_blob(struct store *st, sqlite3_stmt *s, int i,
		     const void *p, size_t n)
{
	int rc;

	if (n > INT_MAX)
		return -EINVAL;
	if (!p)
		rc = sqlite3_bind_null(s, i);
	else
		rc = sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC);
	return map_rc(st->db, rc);
}

/* Source paths: always a BLOB (see the top of the file). */
static int bind_path(struct store *st, sqlite3_stmt *s, int i, const char *p)
{
	return bind_blob(st, s, i, p, p ? strlen(p) : 0);
}

/* Other strings: TEXT when valid UTF-8, else BLOB; NULL stays NULL. */
static int bind_str(struct store *st, sqlite3_stmt *s, int i, const char *p)
{
	size_t n;

	if (!p)
		return map_rc(st->db, sqlite3_bind_null(s, i));
	n = strlen(p);
	if (n > INT_MAX)
		return -EINVAL;
	if (!utf8_valid((const unsigned char *)p, n))
		return bind_blob(st, s, i, p, n);
	return map_rc(st->db, sqlite3_bind_text(s, i, p, (int)n,
						SQLITE_STATIC));
}

static int bind_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
	return map_rc(st->db, sqlite3_bind_int64(s, i, v));
}

static int bind_opt_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
	if (v == STORE_MISSING)
		return map_rc(st->db, sqlite3_bind_null(s, i));
	return bind_i64(st, s, i, v);
}

/*
 * Copy column i as a NUL-terminated string into *out (NULL for SQL NULL).
 * A value with an embedded NUL cannot be a C string: someone else wrote it.
 */
static int col_str(sqlite3_stmt *s, int i, char **out)
{
	const void *p;
	int n;

	*out = NULL;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	p = sqlite3_column_blob(s, i);	/* before _bytes, per the docs */
	n = sqlite3_column_bytes(s, i);
	if (n < 0 || (n && !p))
		return -ENOMEM;
	if (n && memchr(p, '\0', (size_t)n))
		return -EIO;
	*out = malloc((size_t)n + 1);
	if (!*out)
		return -ENOMEM;
	if (n)
		memcpy(*out, p, (size_t)n);
	(*out)[n] = '\0';
	return 0;
}

static int64_t col_opt_i64(sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return STORE_MISSING;
	return sqlite3_column_int64(s, i);
}

/* Fill f from a row of FILE_COLS.  On error f is cleared. */
static int row_to_file(sqlite3_stmt *s, struct store_file *f)
{
	int err;

	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(s, 0);
	f->src_size = (uint64_t)sqlite3_column_int64(s, 2);
	f->src_mtime_ns = sqlite3_column_int64(s, 3);
	f->src_ino = (uint64_t)sqlite3_column_int64(s, 4);
	f->status = sqlite3_column_int(s, 6);
	f->out_size = (uint64_t)sqlite3_column_int64(s, 7);
	f->header_len = (uint64_t)sqlite3_column_int64(s, 8);
	f->series_number = col_opt_i64(s, 18);
	f->instance_number = col_opt_i64(s, 19);
	f->out_mtime_ns = sqlite3_column_int64(s, 21);
	f->src_ctime_ns = sqlite3_column_int64(s, 23);
	f->version = sqlite3_column_int64(s, 24);
	if ((err = col_str(s, 1, &f->path)) ||
	    (err = col_str(s, 5, &f->opts)) ||
	    (err = col_str(s, 9, &f->patient_id)) ||
	    (err = col_str(s, 10, &f->study_date)) ||
	    (err = col_str(s, 11, &f->pseudonym)) ||
	    (err = col_str(s, 12, &f->study_uid)) ||
	    (err = col_str(s, 13, &f->series_uid)) ||
	    (err = col_str(s, 14, &f->sop_uid)) ||
	    (err = col_str(s, 15, &f->modality)) ||
	    (err = col_str(s, 16, &f->laterality)) ||
	    (err = col_str(s, 17, &f->view_position)) ||
	    (err = col_str(s, 20, &f->view_path)) ||
	    (err = col_str(s, 22, &f->study_time)))
		store_file_clear(f);
	return err;
}

/*
 * A write unit: its own BEGIN IMMEDIATE (taking the write lock up front, so
 * the busy timeout applies there rather than to a deadlocking upgrade), or a
 * savepoint inside the caller's store_begin() so a failed call leaves the
 * outer transaction as it was.
 */
static int unit_begin(struct store *st)
{
	if (st->depth) {
		/* sqlite rolled the outer transaction back (e.g. disk full) */
		if (sqlite3_get_autocommit(st->db))
			return -EIO;
		return exec_id(st, S_SAVEPOINT);
	}
	return exec_id(st, S_BEGIN);
}

static int unit_end(struct store *st, int err)
{
	if (st->depth) {
		if (err)
			exec_id(st, S_ROLLBACK_TO);	/* may be gone: ignore */
		if (!sqlite3_get_autocommit(st->db)) {
			int e = exec_id(st, S_RELEASE);

			if (!err)
				err = e;
		}
		return err;
	}
	if (!err)
		err = exec_id(st, S_COMMIT);
	if (err && !sqlite3_get_autocommit(st->db))
		exec_id(st, S_ROLLBACK);
	return err;
}

/* ---------------------------------------------------------------------- */
/* open / close                                                           */

static int random_key(uint8_t *k, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(k + got, n - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		got += (size_t)r;
	}
	return 0;
}

/* Run SQL text once (schema, pragmas); never for anything with values. */
static int exec_sql(struct store *st, const char *sql)
{
	return map_rc(st->db, sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

/* A one-off statement during open: a prepare error that is not an I/O or
 * lock problem means the schema is not ours. */
static int prepare_once(struct store *st, const char *sql, sqlite3_stmt **s)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);

	if (rc == SQLITE_ERROR)
		return -EBADMSG;
	return map_rc(st->db, rc);
}

/*
 * A check value of the key, so a key damaged in place (a flipped bit in the
 * file, a hand edit) is refused like a missing one instead of silently
 * giving every woman a new pseudonym.  Keyed, so it says nothing about the
 * key.  dbs made before it existed have no key_check row and are accepted
 * as they are.
 */
#define KEY_CHECK_LABEL "deidfs-key-check"

static void key_check(const uint8_t key[KEYED_KEY_LEN], uint8_t out[32])
{
	keyed_hmac(key, KEYED_KEY_LEN, KEY_CHECK_LABEL, "", 0, out);
}

static int init_schema(struct store *st)
{
	sqlite3_stmt *s = NULL;
	uint8_t check[32];
	int err;

	err = random_key(st->key, sizeof(st->key));
	if (err)
		return err;
	err = exec_sql(st, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = exec_sql(st, schema_sql);
	if (err)
		goto out;
	key_check(st->key, check);
	err = map_rc(st->db, sqlite3_prepare_v2(st->db,
		"INSERT INTO meta(k, v) VALUES('app', ?1), "
		"('schema_version', ?2), ('key', ?3), ('generation', 0), "
		"('key_check', ?4)",
		-1, &s, NULL));
	if (err)
		goto out;
	if ((err = map_rc(st->db, sqlite3_bind_text(s, 1, APP_NAME, -1,
						    SQLITE_STATIC))) ||
	    (err = map_rc(st->db, sqlite3_bind_int(s, 2, SCHEMA_VERSION))) ||
	    (err = map_rc(st->db, sqlite3_bind_blob(s, 3, st->key,
						    KEYED_KEY_LEN,
						    SQLITE_STATIC))) ||
	    (err = map_rc(st->db, sqlite3_bind_blob(s, 4, check,
						    sizeof(check),
						    SQLITE_STATIC))))
		goto out;
	err = stmt_run(st, s);
	if (err)
		goto out;
	err = exec_sql(st, "COMMIT");
out:
	sqlite3_finalize(s);
	if (err && !sqlite3_get_autocommit(st->db))
		exec_sql(st, "ROLLBACK");
	return err;
}

/* Check that an existing db is ours and sound, and load the key and its
 * schema version. */
static int verify(struct store *st, int *version)
{
	sqlite3_stmt *s = NULL;
	uint8_t check[32], want[32];
	int err, r, seen = 0;

	err = prepare_once(st, "SELECT k, v FROM meta", &s);
	if (err)
		goto out;
	while ((r = step_row(st, s)) == 1) {
		const char *k = (const char *)sqlite3_column_text(s, 0);
		int type = sqlite3_column_type(s, 1);

		if (!k)
			continue;
		if (!strcmp(k, "app")) {
			const unsigned char *v = sqlite3_column_text(s, 1);

			if (type != SQLITE_TEXT || !v ||
			    strcmp((const char *)v, APP_NAME))
				break;
			seen |= 1;
		} else if (!strcmp(k, "schema_version")) {
			/* A newer schema is not "ours" to write to; an
			 * older one is upgraded by store_open(). */
			if (type != SQLITE_INTEGER ||
			    sqlite3_column_int64(s, 1) < 1 ||
			    sqlite3_column_int64(s, 1) > SCHEMA_VERSION)
				break;
			*version = (int)sqlite3_column_int64(s, 1);
			seen |= 2;
		} else if (!strcmp(k, "key")) {
			const void *v = sqlite3_column_blob(s, 1);

			if (type != SQLITE_BLOB || !v ||
			    sqlite3_column_bytes(s, 1) != KEYED_KEY_LEN)
				break;
			memcpy(st->key, v, KEYED_KEY_LEN);
			seen |= 4;
		} else if (!strcmp(k, "generation")) {
			if (type != SQLITE_INTEGER)
				break;
			seen |= 8;
		} else if (!strcmp(k, "key_check")) {
			const void *v = sqlite3_column_blob(s, 1);

			if (type != SQLITE_BLOB || !v ||
			    sqlite3_column_bytes(s, 1) != (int)sizeof(check))
				break;
			memcpy(check, v, sizeof(check));
			seen |= 16;
		}
	}
	if (r < 0) {
		err = r;
		goto out;
	}
	if (r == 1 || (seen & 15) != 15) {
		err = -EBADMSG;
		goto out;
	}
	if (seen & 16) {
		key_check(st->key, want);
		if (memcmp(check, want, sizeof(want))) {
			err = -EBADMSG;
			goto out;
		}
	}
	sqlite3_finalize(s);
	s = NULL;

	/* integrity_check, not quick_check: an index out of step with its
	 * table (sound pages) passes quick_check and would then be written
	 * to.  It costs about 0.9 s for a db of 100,000 files (3 million
	 * audit rows) against 0.3 s (2 vCPU). */
	err = prepare_once(st, "PRAGMA integrity_check(1)", &s);
	if (err)
		goto out;
	r = step_row(st, s);
	if (r < 0) {
		err = r;
		goto out;
	}
	if (r == 0 || !sqlite3_column_text(s, 0) ||
	    strcmp((const char *)sqlite3_column_text(s, 0), "ok"))
		err = -EBADMSG;
out:
	sqlite3_finalize(s);
	if (err)
		explicit_bzero(st->key, sizeof(st->key));
	return err;
}

/* The schema version in meta, or -errno. */
static int schema_version(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	err = prepare_once(st, "SELECT v FROM meta WHERE k = "
			       "'schema_version'", &s);
	if (err)
		return err;
	r = step_row(st, s);
	err = r < 0 ? r : r == 0 ? -EBADMSG : sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return err;
}

/*
 * Bring a db of an older schema to SCHEMA_VERSION, in one transaction (a
 * run killed meanwhile leaves the old schema, upgraded next time).
 * Version 1 -> 2: files.src_ctime_ns and files.version.  Rows of version
 * 1 get ctime 0, which no
 * file has: their sources are analysed again once, on the next refresh.
 */
static int upgrade(struct store *st, int version)
{
	int err;

	err = exec_sql(st, "BEGIN IMMEDIATE");
	if (err)
		return err;
	/* another process may have upgraded it since verify() looked */
	version = schema_version(st);
	if (version < 0) {
		err = version;
		goto out;
	}
	if (version >= SCHEMA_VERSION)
		goto commit;
	if (version < 2)
		err = exec_sql(st, "ALTER TABLE files ADD COLUMN src_ctime_ns "
				   "INTEGER NOT NULL DEFAULT 0; "
				   "ALTER TABLE files ADD COLUMN version "
				   "INTEGER NOT NULL DEFAULT 0");
	if (!err)
		err = exec_sql(st, "UPDATE meta SET v = 2 "
				   "WHERE k = 'schema_version'");
	if (err)
		goto out;
commit:
	err = exec_sql(st, "COMMIT");
out:
	if (err && !sqlite3_get_autocommit(st->db))
		exec_sql(st, "ROLLBACK");
	return err;
}

static int prepare_all(struct store *st)
{
	int i, rc;

	for (i = 0; i < S_COUNT; i++) {
		rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT,
					&st->stmt[i], NULL);
		if (rc == SQLITE_ERROR)
			return -EBADMSG;	/* a table or column is missing */
		if (rc != SQLITE_OK)
			return map_rc(st->db, rc);
	}
	return 0;
}

/* Remove a db file and the files sqlite keeps beside it (best effort). */
static void unlink_db(const char *path)
{
	static const char *const sfx[] = { "-wal", "-shm", "-journal" };
	char buf[PATH_MAX];
	size_t i;

	unlink(path);
	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "%s%s", path, sfx[i]);

		if (n > 0 && (size_t)n < sizeof(buf))
			unlink(buf);
	}
}

/* Put a complete file at path, failing with EEXIST if anything is there. */
static int place_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return errno == EEXIST ? -EEXIST : map_errno(errno);
	/* a filesystem without RENAME_NOREPLACE: link() is atomic too */
	if (link(tmp, path) == 0)
		return 0;
	return errno == EEXIST ? -EEXIST : map_errno(errno);
}

/*
 * Make a new db at path, complete or not at all: it is built (mode 0600
 * whatever the umask, WAL, schema, fresh key) under a temporary name beside
 * path and moved into place only once committed and closed.  So a process
 * that opens path at the same moment (a mount and an export started
 * together on a new db) never finds a half-made file and refuses it as "not
 * ours", and a run killed while creating leaves no half-made db behind (at
 * most a "<path>.new-<pid>" file, removed by the next creation with that
 * pid).  Returns 0 when we created it, -EEXIST when something is already at
 * path (it may have been created meanwhile by another process: open it),
 * or -errno.  st->key is cleared on return: the key is loaded from the db
 * when it is opened.
 */
static int create_db(struct store *st, const char *path)
{
	char tmp[PATH_MAX];
	int fd, err = 0, n;

	if (access(path, F_OK) == 0 || errno != ENOENT)
		return -EEXIST;		/* opening will tell what it is */
	n = snprintf(tmp, sizeof(tmp), "%s.new-%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp) - 16)
		return -ENAMETOOLONG;
	unlink_db(tmp);			/* left by a killed run with our pid */
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return map_errno(errno);
	if (fchmod(fd, 0600))		/* whatever the umask */
		err = map_errno(errno);
	close(fd);
	if (err)
		goto out;
	if (sqlite3_open_v2(tmp, &st->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		err = map_rc(st->db, SQLITE_CANTOPEN);
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	/* WAL first, so the schema is written in its final mode. */
	err = exec_sql(st, "PRAGMA journal_mode=WAL");
	if (!err)
		err = init_schema(st);
	/* closing the last connection checkpoints and removes tmp-wal */
	if (sqlite3_close(st->db) != SQLITE_OK && !err)
		err = -EIO;
	st->db = NULL;
	if (!err)
		err = place_noreplace(tmp, path);
out:
	explicit_bzero(st->key, sizeof(st->key));
	unlink_db(tmp);
	return err;
}

int store_open(const char *path, int create, struct store **out)
{
	struct store *st = NULL;
	int err = 0, fd, rc, version = 0;

	if (!path || !*path || !out)
		return -EINVAL;
	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	if (pthread_mutex_init(&st->lock, NULL)) {
		free(st);
		return -ENOMEM;
	}

	/*
	 * We create the file ourselves so that it is never, even briefly,
	 * readable by others (sqlite would use 0644 & ~umask), and only a
	 * db we made ourselves gets a new key; every db, new or not, is then
	 * opened and verified the same way.
	 */
	if (create) {
		err = create_db(st, path);
		if (err && err != -EEXIST)
			goto out;
		err = 0;
	}
	/* sqlite would silently fall back to read-only; we want to know
	 * now, and to report a missing file as -ENOENT. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = map_errno(errno);
		goto out;
	}
	close(fd);

	st->path = strdup(path);
	if (!st->path) {
		err = -ENOMEM;
		goto out;
	}
	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = map_rc(st->db, rc);
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);

	/* Verify before changing anything in a file that may not be ours
	 * (journal_mode=WAL would rewrite its header). */
	err = verify(st, &version);
	if (!err)
		err = exec_sql(st, "PRAGMA journal_mode=WAL");
	if (!err && version < SCHEMA_VERSION)
		err = upgrade(st, version);
	if (err)
		goto out;
	/*
	 * NORMAL is durable enough with WAL (a power cut may lose the last
	 * transactions, never consistency).  secure_delete overwrites
	 * deleted rows, which hold PHI (pruned records, replaced audit).
	 * temp_store=MEMORY keeps the savepoint sub-journals (copies of PHI
	 * pages) off the disk, and halves the time of a batch of puts inside
	 * store_begin(); the larger cache (16 MiB) helps the same batches.
	 */
	err = exec_sql(st, "PRAGMA synchronous=NORMAL; "
			   "PRAGMA secure_delete=ON; "
			   "PRAGMA temp_store=MEMORY; "
			   "PRAGMA cache_size=-16384");
	if (err)
		goto out;
	err = prepare_all(st);
out:
	if (err) {
		store_close(st);
		return err;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	int i;

	if (!st)
		return;
	if (st->db && !sqlite3_get_autocommit(st->db))
		exec_sql(st, "ROLLBACK");	/* an unfinished store_begin() */
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	explicit_bzero(st->key, sizeof(st->key));
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

int store_detach(struct store *st)
{
	int i;

	pthread_mutex_lock(&st->lock);
	if (st->depth || !st->db) {
		pthread_mutex_unlock(&st->lock);
		return -EBUSY;
	}
	for (i = 0; i < S_COUNT; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
	sqlite3_close(st->db);
	st->db = NULL;
	pthread_mutex_unlock(&st->lock);
	return 0;
}

int store_attach(struct store *st)
{
	uint8_t key[KEYED_KEY_LEN];
	int rc, err, version = 0;

	pthread_mutex_lock(&st->lock);
	if (st->db) {
		pthread_mutex_unlock(&st->lock);
		return 0;
	}
	memcpy(key, st->key, sizeof(key));
	rc = sqlite3_open_v2(st->path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	err = rc == SQLITE_OK ? 0 : map_rc(st->db, rc);
	if (!err) {
		sqlite3_extended_result_codes(st->db, 1);
		sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
		err = verify(st, &version);
	}
	/* the same db, not a file put in its place meanwhile (it was
	 * upgraded when it was first opened) */
	if (!err && (memcmp(key, st->key, sizeof(key)) ||
		     version != SCHEMA_VERSION))
		err = -EBADMSG;
	if (!err)
		err = exec_sql(st, "PRAGMA synchronous=NORMAL; "
				   "PRAGMA secure_delete=ON; "
				   "PRAGMA temp_store=MEMORY; "
				   "PRAGMA cache_size=-16384");
	if (!err)
		err = prepare_all(st);
	if (err) {
		int i;

		for (i = 0; i < S_COUNT; i++) {
			sqlite3_finalize(st->stmt[i]);
			st->stmt[i] = NULL;
		}
		sqlite3_close(st->db);
		st->db = NULL;
		memcpy(st->key, key, sizeof(key));
	}
	explicit_bzero(key, sizeof(key));
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_key(struct store *st, uint8_t key[KEYED_KEY_LEN])
{
	if (!st || !key)
		return -EINVAL;
	/* Immutable after open: no lock needed. */
	memcpy(key, st->key, KEYED_KEY_LEN);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* transactions                                                           */

int store_begin(struct store *st)
{
	int err = 0;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (st->depth == INT_MAX) {
		err = -EOVERFLOW;
		goto out;
	}
	if (!st->depth)
		err = exec_id(st, S_BEGIN);
	if (!err)
		st->depth++;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * The outermost commit ends the transaction whatever happens: on failure it
 * is rolled back and the error returned.  -EINVAL without a store_begin().
 */
int store_commit(struct store *st)
{
	int err = 0;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (!st->depth) {
		err = -EINVAL;
		goto out;
	}
	if (--st->depth)
		goto out;
	if (sqlite3_get_autocommit(st->db)) {
		err = -EIO;	/* sqlite already rolled it back */
		goto out;
	}
	err = exec_id(st, S_COMMIT);
	if (err && !sqlite3_get_autocommit(st->db))
		exec_id(st, S_ROLLBACK);
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* ---------------------------------------------------------------------- */
/* files                                                                  */

static int file_get(struct store *st, enum stmt_id id, const char *path,
		    int64_t fid, struct store_file *f)
{
	sqlite3_stmt *s = stmt_get(st, id);
	int err, r;

	memset(f, 0, sizeof(*f));
	if (path)
		err = bind_path(st, s, 1, path);
	else
		err = bind_i64(st, s, 1, fid);
	if (err)
		goto out;
	r = step_row(st, s);
	if (r < 0)
		err = r;
	else if (r == 0)
		err = -ENOENT;
	else
		err = row_to_file(s, f);
out:
	stmt_done(s);
	return err;
}

int store_file_get(struct store *st, const char *path, struct store_file *f)
{
	int err;

	if (!st || !path || !f)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = file_get(st, S_FILE_BY_PATH, path, 0, f);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_file_get_id(struct store *st, int64_t id, struct store_file *f)
{
	int err;

	if (!st || !f)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = file_get(st, S_FILE_BY_ID, NULL, id, f);
	pthread_mutex_unlock(&st->lock);
	return err;
}

static int file_upsert(struct store *st, const struct store_file *f,
		       int64_t *id)
{
	sqlite3_stmt *s = stmt_get(st, S_FILE_UPSERT);
	int err, r;

	if ((err = bind_path(st, s, 1, f->path)) ||
	    (err = bind_i64(st, s, 2, (int64_t)f->src_size)) ||
	    (err = bind_i64(st, s, 3, f->src_mtime_ns)) ||
	    (err = bind_i64(st, s, 4, (int64_t)f->src_ino)) ||
	    (err = bind_str(st, s, 5, f->opts)) ||
	    (err = bind_i64(st, s, 6, f->status)) ||
	    (err = bind_i64(st, s, 7, (int64_t)f->out_size)) ||
	    (err = bind_i64(st, s, 8, (int64_t)f->header_len)) ||
	    (err = bind_str(st, s, 9, f->patient_id)) ||
	    (err = bind_str(st, s, 10, f->study_date)) ||
	    (err = bind_str(st, s, 11, f->pseudonym)) ||
	    (err = bind_str(st, s, 12, f->study_uid)) ||
	    (err = bind_str(st, s, 13, f->series_uid)) ||
	    (err = bind_str(st, s, 14, f->sop_uid)) ||
	    (err = bind_str(st, s, 15, f->modality)) ||
	    (err = bind_str(st, s, 16, f->laterality)) ||
	    (err = bind_str(st, s, 17, f->view_position)) ||
	    (err = bind_opt_i64(st, s, 18, f->series_number)) ||
	    (err = bind_opt_i64(st, s, 19, f->instance_number)) ||
	    (err = bind_i64(st, s, 20, f->out_mtime_ns)) ||
	    (err = bind_str(st, s, 21, f->study_time)) ||
	    (err = bind_i64(st, s, 22, f->src_ctime_ns)))
		goto out;
	r = step_row(st, s);	/* RETURNING id, for insert and update */
	if (r < 0)
		err = r;
	else if (r == 0)
		err = -EIO;
	else
		*id = sqlite3_column_int64(s, 0);
out:
	stmt_done(s);
	return err;
}

static int audit_replace(struct store *st, int64_t id,
			 const struct store_audit *audit, size_t naudit)
{
	sqlite3_stmt *s = stmt_get(st, S_AUDIT_DELETE);
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int err;

	err = bind_i64(st, s, 1, id);
	if (!err)
		err = stmt_run(st, s);
	else
		stmt_done(s);
	if (err)
		return err;
	s = stmt_get(st, S_AUDIT_INSERT);
	for (i = 0; i < naudit; i++) {
		const struct store_audit *a = &audit[i];

		if ((err = bind_i64(st, s, 1, id)) ||
		    (err = bind_i64(st, s, 2, (int64_t)i)) ||
		    (err = bind_i64(st, s, 3, now)) ||
		    (err = bind_str(st, s, 4, a->path)) ||
		    (err = bind_str(st, s, 5, a->action)) ||
		    (err = bind_blob(st, s, 6, a->old, a->oldlen)) ||
		    (err = bind_blob(st, s, 7, a->newv, a->newlen))) {
			stmt_done(s);
			return err;
		}
		err = stmt_run(st, s);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Insert the pairs; for one that was already there, check the original
 * matches.  A mismatch is a pseudonym collision (80 bits for patients, so
 * about 2^-40 at a million patients): two people would be merged, so the
 * file is refused with -EEXIST instead.
 */
static int pairs_insert(struct store *st, enum stmt_id ins, enum stmt_id get,
			const struct store_pair *p, size_t n)
{
	size_t i;
	int err = 0;

	for (i = 0; i < n; i++) {
		sqlite3_stmt *s = stmt_get(st, ins);
		const void *v;
		size_t len;
		int r;

		if (!p[i].orig || !p[i].pseudo)
			return -EINVAL;
		if ((err = bind_str(st, s, 1, p[i].pseudo)) ||
		    (err = bind_str(st, s, 2, p[i].orig))) {
			stmt_done(s);
			return err;
		}
		err = stmt_run(st, s);
		if (err)
			return err;
		if (sqlite3_changes(st->db))
			continue;
		s = stmt_get(st, get);
		err = bind_str(st, s, 1, p[i].pseudo);
		r = err ? err : step_row(st, s);
		if (r < 0) {
			err = r;
		} else if (r == 0) {
			err = -EIO;	/* ignored, yet not there */
		} else {
			v = sqlite3_column_blob(s, 0);
			len = (size_t)sqlite3_column_bytes(s, 0);
			if (len != strlen(p[i].orig) ||
			    (len && memcmp(v, p[i].orig, len)))
				err = -EEXIST;
		}
		stmt_done(s);
		if (err)
			return err;
	}
	return 0;
}

/*
 * New and updated records get the current generation (the last
 * store_next_generation()), so a file analysed during a scan counts as seen.
 * Returns also -EINVAL (NULL path or arrays) and -EEXIST (pseudonym
 * collision, see pairs_insert()); on any error nothing was written.
 */
int store_file_put(struct store *st, struct store_file *f,
		   const struct store_audit *audit, size_t naudit,
		   const struct store_pair *pseud, size_t npseud,
		   const struct store_pair *uids, size_t nuids)
{
	int64_t id = 0;
	int err;

	if (!st || !f || !f->path || (naudit && !audit) ||
	    (npseud && !pseud) || (nuids && !uids))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = unit_begin(st);
	if (err)
		goto out;
	err = file_upsert(st, f, &id);
	if (!err)
		err = audit_replace(st, id, audit, naudit);
	if (!err)
		err = pairs_insert(st, S_PATIENT_INSERT, S_PATIENT_GET, pseud,
				   npseud);
	if (!err)
		err = pairs_insert(st, S_UID_INSERT, S_UID_GET, uids, nuids);
	err = unit_end(st, err);
	if (!err)
		f->id = id;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Also -ENOENT for an unknown id. */
int store_file_set_view_path(struct store *st, int64_t id, const char *vp)
{
	sqlite3_stmt *s;
	int err;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = stmt_get(st, S_FILE_SET_VIEW);
	if ((err = bind_i64(st, s, 1, id)) || (err = bind_str(st, s, 2, vp))) {
		stmt_done(s);
		goto out;
	}
	err = stmt_run(st, s);
	if (!err && !sqlite3_changes(st->db))
		err = -ENOENT;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Returns 0, -ENOENT (unknown id) or -EIO. */
int store_file_touch(struct store *st, int64_t id, int64_t gen)
{
	sqlite3_stmt *s;
	int err;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = stmt_get(st, S_FILE_TOUCH);
	if ((err = bind_i64(st, s, 1, id)) || (err = bind_i64(st, s, 2, gen))) {
		stmt_done(s);
		goto out;
	}
	err = stmt_run(st, s);
	if (!err && !sqlite3_changes(st->db))
		err = -ENOENT;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_file_prune(struct store *st, int64_t gen)
{
	sqlite3_stmt *s;
	int err;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = unit_begin(st);
	if (err)
		goto out;
	s = stmt_get(st, S_PRUNE_AUDIT);
	err = bind_i64(st, s, 1, gen);
	err = err ? (stmt_done(s), err) : stmt_run(st, s);
	if (!err) {
		s = stmt_get(st, S_PRUNE_FILES);
		err = bind_i64(st, s, 1, gen);
		err = err ? (stmt_done(s), err) : stmt_run(st, s);
	}
	err = unit_end(st, err);
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_next_generation(struct store *st, int64_t *gen)
{
	sqlite3_stmt *s;
	int64_t g = 0;
	int err, r;

	if (!st || !gen)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = unit_begin(st);
	if (err)
		goto out;
	err = exec_id(st, S_GEN_BUMP);
	if (!err) {
		s = stmt_get(st, S_GEN_GET);
		r = step_row(st, s);
		if (r == 1 && sqlite3_column_type(s, 0) == SQLITE_INTEGER)
			g = sqlite3_column_int64(s, 0);
		else
			err = r < 0 ? r : -EIO;
		stmt_done(s);
	}
	err = unit_end(st, err);
	if (!err)
		*gen = g;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * Rows are copied in batches under the lock and cb runs without it, so cb
 * may call the store (even write): the lock stays a leaf and a slow cb does
 * not stall other threads.  Keyset paging by id means each record is seen
 * at most once; records added or removed during the walk may or may not be.
 */
int store_file_foreach(struct store *st,
		       int (*cb)(void *arg, const struct store_file *f),
		       void *arg)
{
	struct store_file *batch;
	int64_t last = INT64_MIN;
	int err = 0, ret = 0;
	size_t n, i;

	if (!st || !cb)
		return -EINVAL;
	batch = calloc(FOREACH_BATCH, sizeof(*batch));
	if (!batch)
		return -ENOMEM;
	for (;;) {
		sqlite3_stmt *s;
		int r = 0;

		n = 0;
		pthread_mutex_lock(&st->lock);
		s = stmt_get(st, S_FILE_AFTER);
		if (!(err = bind_i64(st, s, 1, last)) &&
		    !(err = bind_i64(st, s, 2, FOREACH_BATCH))) {
			while (n < FOREACH_BATCH &&
			       (r = step_row(st, s)) == 1) {
				err = row_to_file(s, &batch[n]);
				if (err)
					break;
				n++;
			}
			if (r < 0)
				err = r;
		}
		stmt_done(s);
		pthread_mutex_unlock(&st->lock);

		if (n)
			last = batch[n - 1].id;
		for (i = 0; i < n; i++) {
			if (!err && !ret)
				ret = cb(arg, &batch[i]);
			store_file_clear(&batch[i]);
		}
		if (err || ret || n < FOREACH_BATCH)
			break;
	}
	free(batch);
	return ret ? ret : err;
}

int store_dir_ino(struct store *st, const char *view_dir, uint64_t *ino)
{
	sqlite3_stmt *s;
	int err = 0, r = 0, pass;

	if (!st || !view_dir || !ino)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	for (pass = 0; pass < 2; pass++) {
		s = stmt_get(st, S_DIR_GET);
		err = bind_path(st, s, 1, view_dir);
		r = err ? err : step_row(st, s);
		if (r == 1)
			*ino = (uint64_t)sqlite3_column_int64(s, 0);
		stmt_done(s);
		if (r < 0)
			err = r;
		if (r != 0 || pass)
			break;
		/* First use: one statement, atomic on its own. */
		s = stmt_get(st, S_DIR_INSERT);
		err = bind_path(st, s, 1, view_dir);
		err = err ? (stmt_done(s), err) : stmt_run(st, s);
		if (err)
			break;
	}
	if (!err && r == 0)
		err = -EIO;	/* inserted, yet not found */
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_audit_count(struct store *st, int64_t file_id, int64_t *n)
{
	sqlite3_stmt *s;
	int err, r;

	if (!st || !n)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = stmt_get(st, S_AUDIT_COUNT);
	err = bind_i64(st, s, 1, file_id);
	r = err ? err : step_row(st, s);
	if (r == 1)
		*n = sqlite3_column_int64(s, 0);
	else
		err = r < 0 ? r : -EIO;
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

static void free_wiped(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void store_file_clear(struct store_file *f)
{
	if (!f)
		return;
	free_wiped(f->path);
	free_wiped(f->patient_id);
	free_wiped(f->study_date);
	free_wiped(f->study_time);
	free(f->opts);
	free(f->pseudonym);
	free(f->study_uid);
	free(f->series_uid);
	free(f->sop_uid);
	free(f->modality);
	free(f->laterality);
	free(f->view_position);
	free(f->view_path);
	memset(f, 0, sizeof(*f));
}

/*
 * Returns 0, -ENOENT (no such setting), -ERANGE (out too small for the
 * value and its NUL) or -EIO.
 */
int store_setting_get(struct store *st, const char *k, char *out,
		      size_t outsz)
{
	sqlite3_stmt *s;
	const void *v;
	size_t len;
	int err, r;

	if (!st || !k || !out || !outsz)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = stmt_get(st, S_SETTING_GET);
	err = bind_str(st, s, 1, k);
	r = err ? err : step_row(st, s);
	if (r < 0) {
		err = r;
	} else if (r == 0 || sqlite3_column_type(s, 0) == SQLITE_NULL) {
		err = -ENOENT;
	} else {
		v = sqlite3_column_blob(s, 0);
		len = (size_t)sqlite3_column_bytes(s, 0);
		if (len >= outsz) {
			err = -ERANGE;
		} else {
			if (len)
				memcpy(out, v, len);
			out[len] = '\0';
		}
	}
	stmt_done(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* v NULL deletes the setting. */
int store_setting_set(struct store *st, const char *k, const char *v)
{
	sqlite3_stmt *s;
	int err;

	if (!st || !k)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = stmt_get(st, v ? S_SETTING_PUT : S_SETTING_DEL);
	err = bind_str(st, s, 1, k);
	if (!err && v)
		err = bind_str(st, s, 2, v);
	err = err ? (stmt_done(s), err) : stmt_run(st, s);
	pthread_mutex_unlock(&st->lock);
	return err;
}
