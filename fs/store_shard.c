/*
 * store_shard.c - the store's side of a sharded run (shard.h): a
 * read-only snapshot of the project db for the export tasks, the key of a
 * shard db, and what the merge copies out of the shard dbs and the shard
 * logs.
 *
 * Tables a sharded run adds, each made on first use (CREATE TABLE IF NOT
 * EXISTS) rather than by a schema upgrade, so that the schema versions
 * stay free for other changes and an older deidfs still opens the db:
 *   seen(path)           in a shard db only: source paths its index found
 *                        unchanged in the project db (not analysed again)
 *   export_log(run, shard, nshards, file_id, ino, size, mtime_ns, action,
 *              time)     in the project db: what each export task wrote
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shard.h"
#include "store_schema.h"
#include "store_sql.h"

/* The path as an sqlite URI file name: %-escapes for what a URI would
 * read otherwise. */
static int uri_of(const char *path, const char *query, char *out,
		  size_t outsz)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)path;
	int n;

	n = snprintf(out, outsz, "file:");
	o = (size_t)n;
	for (; *p; p++) {
		if (o + 4 >= outsz)
			return -ENAMETOOLONG;
		if (*p == '%' || *p == '?' || *p == '#' || *p <= ' ' ||
		    *p >= 0x7f)
			o += (size_t)snprintf(out + o, outsz - o, "%%%02X", *p);
		else
			out[o++] = (char)*p;
	}
	n = snprintf(out + o, outsz - o, "?%s", query);
	return n < 0 || (size_t)n >= outsz - o ? -ENAMETOOLONG : 0;
}

int store_open_snapshot(const char *path, struct store **out)
{
	char uri[PATH_MAX * 3 + 32];
	struct store *st;
	struct stat wst;
	int err, rc, version = 0, fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return store_sql_map_errno(errno);
	close(fd);
	/* An immutable reader ignores the write-ahead log: a db whose log
	 * holds commits (a process has it open, or was killed) would be
	 * read as it was before them.  The merge leaves none. */
	if (snprintf(uri, sizeof(uri), "%s-wal", path) < (int)sizeof(uri) &&
	    stat(uri, &wst) == 0 && wst.st_size > 0)
		return -EBUSY;
	err = uri_of(path, "immutable=1", uri, sizeof(uri));
	if (err)
		return err;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	if (pthread_mutex_init(&st->lock, NULL)) {
		free(st);
		return -ENOMEM;
	}
	st->path = strdup(path);
	rc = sqlite3_open_v2(uri, &st->db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	err = st->path ? store_sql_map_rc(st->db, rc) : -ENOMEM;
	if (!err) {
		sqlite3_extended_result_codes(st->db, 1);
		err = store_schema_verify_meta(st, &version);
	}
	/* the merge opened it read-write, and so upgraded it */
	if (!err && version != STORE_SCHEMA_VERSION)
		err = -EBADMSG;
	if (!err)
		err = store_sql_exec(st, "PRAGMA cache_size=-16384");
	if (!err)
		err = store_sql_prepare_all(st);
	if (err) {
		store_close(st);
		return err;
	}
	*out = st;
	return 0;
}

int store_shard_rekey(struct store *st, const uint8_t key[KEYED_KEY_LEN])
{
	sqlite3_stmt *s = NULL;
	int err, r;

	pthread_mutex_lock(&st->lock);
	err = store_sql_prepare_once(st, "SELECT 1 FROM files LIMIT 1", &s);
	r = err ? err : store_sql_step(st, s);
	sqlite3_finalize(s);
	if (r < 0)
		err = r;
	else if (r == 1)
		err = -EEXIST;
	if (!err)
		err = store_sql_unit_begin(st);
	if (!err) {
		err = store_schema_set_key(st, key);
		if (!err)
			err = store_sql_exec(st, "CREATE TABLE IF NOT EXISTS "
						 "seen(path BLOB PRIMARY KEY "
						 "NOT NULL)");
		err = store_sql_unit_end(st, err);
	}
	pthread_mutex_unlock(&st->lock);
	return err;
}

void store_audit_rows_free(struct store_audit *rows, size_t n)
{
	size_t i;

	if (!rows)
		return;
	for (i = 0; i < n; i++) {
		if (rows[i].old)
			explicit_bzero(rows[i].old, rows[i].oldlen);
		if (rows[i].newv)
			explicit_bzero(rows[i].newv, rows[i].newlen);
		free(rows[i].old);
		free(rows[i].newv);
	}
	free(rows);
}

/* A BLOB or TEXT column as owned bytes (NULL for SQL NULL). */
static int col_bytes(sqlite3_stmt *s, int i, void **out, size_t *len)
{
	const void *p;
	int n;

	*out = NULL;
	*len = 0;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	p = sqlite3_column_blob(s, i);
	n = sqlite3_column_bytes(s, i);
	*out = malloc(n > 0 ? (size_t)n : 1);
	if (!*out)
		return -ENOMEM;
	if (n > 0)
		memcpy(*out, p, (size_t)n);
	*len = n > 0 ? (size_t)n : 0;
	return 0;
}

/* A TEXT column into a fixed field (cut at its size). */
static void col_field(sqlite3_stmt *s, int i, char *out, size_t outsz)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	snprintf(out, outsz, "%s", t ? (const char *)t : "");
}

int store_audit_rows(struct store *st, int64_t file_id,
		     struct store_audit **rows, size_t *n)
{
	sqlite3_stmt *s = NULL;
	struct store_audit *v = NULL;
	size_t cap = 0;
	int err, r = 0;

	*rows = NULL;
	*n = 0;
	pthread_mutex_lock(&st->lock);
	err = store_sql_prepare_once(st, "SELECT path, action, old, new "
					 "FROM audit WHERE file_id = ?1 "
					 "ORDER BY seq", &s);
	if (!err)
		err = store_sql_bind_i64(st, s, 1, file_id);
	while (!err && (r = store_sql_step(st, s)) == 1) {
		struct store_audit *a;

		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct store_audit *p = realloc(v, nc * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			v = p;
			cap = nc;
		}
		a = &v[*n];
		memset(a, 0, sizeof(*a));
		(*n)++;
		col_field(s, 0, a->path, sizeof(a->path));
		col_field(s, 1, a->action, sizeof(a->action));
		err = col_bytes(s, 2, &a->old, &a->oldlen);
		if (!err)
			err = col_bytes(s, 3, &a->newv, &a->newlen);
	}
	if (!err && r < 0)
		err = r;
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	if (err) {
		store_audit_rows_free(v, *n);
		*n = 0;
		return err;
	}
	*rows = v;
	return 0;
}

/* ATTACH the shard db at path as "shard", and check it has our key. */
static int attach_shard(struct store *st, const char *path)
{
	sqlite3_stmt *s = NULL;
	const void *k;
	int err, r;

	err = store_sql_prepare_once(st, "ATTACH ?1 AS shard", &s);
	if (!err && !(err = store_sql_map_rc(st->db, sqlite3_bind_text(
				s, 1, path, -1, SQLITE_STATIC))))
		err = store_sql_run(st, s);
	sqlite3_finalize(s);
	s = NULL;
	if (err)
		return err;
	err = store_sql_prepare_once(st, "SELECT v FROM shard.meta "
					 "WHERE k = 'key'", &s);
	r = err ? err : store_sql_step(st, s);
	if (r < 0)
		err = r;
	else if (r == 0 || sqlite3_column_bytes(s, 0) != KEYED_KEY_LEN ||
		 !(k = sqlite3_column_blob(s, 0)) ||
		 memcmp(k, st->key, KEYED_KEY_LEN))
		err = -EBADMSG;
	sqlite3_finalize(s);
	if (err)
		store_sql_exec(st, "DETACH shard");
	return err;
}

int store_shard_copy_maps(struct store *st, const char *shard_path)
{
	int err;

	pthread_mutex_lock(&st->lock);
	err = attach_shard(st, shard_path);
	if (err)
		goto out;
	err = store_sql_exec(st, "INSERT OR IGNORE INTO main.patients "
				 "SELECT pseudonym, patient_id FROM "
				 "shard.patients; "
				 "INSERT OR IGNORE INTO main.uids "
				 "SELECT pseudo, orig FROM shard.uids; "
				 "INSERT OR REPLACE INTO main.scans "
				 "SELECT * FROM shard.scans");
	if (store_sql_exec(st, "DETACH shard") && !err)
		err = -EIO;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_shard_seen(struct store *shard, const char *path)
{
	sqlite3_stmt *s = NULL;
	int err;

	pthread_mutex_lock(&shard->lock);
	err = store_sql_prepare_once(shard, "INSERT OR IGNORE INTO "
					    "seen(path) VALUES(?1)", &s);
	if (!err && !(err = store_sql_bind_path(shard, s, 1, path)))
		err = store_sql_run(shard, s);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&shard->lock);
	return err;
}

int store_shard_touch_seen(struct store *st, const char *shard_path,
			   int64_t gen, uint64_t *n)
{
	sqlite3_stmt *s = NULL;
	int err, r, missing = 0;

	*n = 0;
	pthread_mutex_lock(&st->lock);
	err = attach_shard(st, shard_path);
	if (err)
		goto out;
	err = store_sql_prepare_once(st, "SELECT count(*), "
					 "count(main.files.id) FROM "
					 "shard.seen LEFT JOIN main.files "
					 "ON main.files.path = shard.seen.path",
				     &s);
	r = err ? err : store_sql_step(st, s);
	if (r == 1) {
		*n = (uint64_t)sqlite3_column_int64(s, 0);
		missing = sqlite3_column_int64(s, 0) !=
			  sqlite3_column_int64(s, 1);
	} else if (!err) {
		err = r < 0 ? r : -EIO;
	}
	sqlite3_finalize(s);
	s = NULL;
	if (!err && missing)
		err = -ENOENT;
	if (!err)
		err = store_sql_prepare_once(st, "UPDATE main.files SET gen = "
						 "MAX(gen, ?1) WHERE path IN "
						 "(SELECT path FROM shard.seen)",
					     &s);
	if (!err && !(err = store_sql_bind_i64(st, s, 1, gen)))
		err = store_sql_run(st, s);
	sqlite3_finalize(s);
	if (store_sql_exec(st, "DETACH shard") && !err)
		err = -EIO;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

#define LOG_TABLE                                                          \
	"CREATE TABLE IF NOT EXISTS export_log(run INTEGER NOT NULL, "     \
	"shard INTEGER NOT NULL, nshards INTEGER NOT NULL, "               \
	"file_id INTEGER NOT NULL, ino INTEGER NOT NULL, "                 \
	"size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "               \
	"action TEXT NOT NULL, time INTEGER NOT NULL)"

int store_shard_log_run(struct store *st, int64_t *run)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	*run = 1;
	pthread_mutex_lock(&st->lock);
	err = store_sql_exec(st, LOG_TABLE);
	if (!err)
		err = store_sql_prepare_once(st, "SELECT COALESCE(MAX(run), 0) "
						 "+ 1 FROM export_log", &s);
	r = err ? err : store_sql_step(st, s);
	if (r == 1)
		*run = sqlite3_column_int64(s, 0);
	else if (!err)
		err = r < 0 ? r : -EIO;
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_shard_log_put(struct store *st, int64_t run, unsigned shard,
			unsigned nshards, const struct store_log_row *rows,
			size_t n)
{
	sqlite3_stmt *s = NULL;
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int err;

	pthread_mutex_lock(&st->lock);
	err = store_sql_prepare_once(st, "INSERT INTO export_log(run, shard, "
					 "nshards, file_id, ino, size, "
					 "mtime_ns, action, time) VALUES(?1, "
					 "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
				     &s);
	for (i = 0; !err && i < n; i++) {
		const struct store_log_row *w = &rows[i];

		if ((err = store_sql_bind_i64(st, s, 1, run)) ||
		    (err = store_sql_bind_i64(st, s, 2, shard)) ||
		    (err = store_sql_bind_i64(st, s, 3, nshards)) ||
		    (err = store_sql_bind_i64(st, s, 4, w->file_id)) ||
		    (err = store_sql_bind_i64(st, s, 5, (int64_t)w->ino)) ||
		    (err = store_sql_bind_i64(st, s, 6, (int64_t)w->size)) ||
		    (err = store_sql_bind_i64(st, s, 7, w->mtime_ns)) ||
		    (err = store_sql_bind_str(st, s, 8, w->action)) ||
		    (err = store_sql_bind_i64(st, s, 9, now)))
			break;
		err = store_sql_run(st, s);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}
