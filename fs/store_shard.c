/*
 * store_shard.c - the store's side of a sharded run (shard.h): a
 * read-only snapshot of the project db for the export tasks, the key of a
 * shard db, the paths an index task found unchanged, and the shard logs
 * (the merge of the shard dbs is store_merge.c's).
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
