/*
 * store_merge.c - the merge of a sharded run's shard dbs into the project
 * db (shard.h: store_shard_merge()), in SQL: each shard db attached in
 * turn, its records, audit rows, pseudonym and UID pairs and scans copied
 * by INSERT ... SELECT, none of it passing through our memory.
 *
 * Inode numbers are file row ids, and a single machine's index gives them
 * in the order of its source walk (view_index.c): folder by folder, names
 * in strcmp() order, a '/' before any other byte.  Every record put takes
 * the next number of the table's AUTOINCREMENT sequence, even one that
 * updates a record already there (sqlite draws the number before it meets
 * the conflict).  So the record of rank r (from 1) in walk order over all
 * the shards gets id base + r, base being the sequence before the merge;
 * a record already in the db keeps its own id, and its number is skipped,
 * as one machine's put skips it.  The ids are decided before anything is
 * written and base is kept in the settings until the merge is done, so a
 * merge killed half-way (each shard is committed on its own) and run again
 * with the same shard dbs gives the same ids.  Run again with shard dbs
 * made anew (the source changed meanwhile) or on a db written since, that
 * base would give some records ids that rows of other paths hold: then
 * the ids start past every row instead (ids_clash()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "store_schema.h"
#include "store_sql.h"

#define BASE_KEY "shard.merge_base"
/* Shards copied in one transaction (at most sqlite's SQLITE_LIMIT_ATTACHED,
 * 10, attached at once) */
#define SHARDS_PER_TX 1

/* The record columns copied, in the schema's order (store_schema.c); the
 * view path is the view's to set again. */
#define COPY_COLS                                                          \
	"path, src_size, src_mtime_ns, src_ino, opts, status, out_size, "  \
	"header_len, patient_id, study_date, pseudonym, study_uid, "       \
	"series_uid, sop_uid, modality, laterality, view_position, "       \
	"series_number, instance_number, out_mtime_ns, study_time, "       \
	"src_ctime_ns, q_rule, q_path"

/*
 * deidfs_walk_key(path): the path with each '/' as a 0 byte, a BLOB whose
 * memcmp() order is the walk's order (paths hold no 0 byte; a shorter
 * prefix sorts first, as the end of a name does in the walk).
 */
static void walk_key(sqlite3_context *c, int argc, sqlite3_value **v)
{
	const unsigned char *p = sqlite3_value_blob(v[0]);
	int i, n = sqlite3_value_bytes(v[0]);
	unsigned char *o;

	(void)argc;
	if (sqlite3_value_type(v[0]) == SQLITE_NULL) {
		sqlite3_result_null(c);
		return;
	}
	o = sqlite3_malloc(n > 0 ? n : 1);
	if (!o) {
		sqlite3_result_error_nomem(c);
		return;
	}
	for (i = 0; i < n; i++)
		o[i] = p[i] == '/' ? 0 : p[i];
	sqlite3_result_blob(c, o, n, sqlite3_free);
}

/* One statement with text arguments; run to its end. */
static int exec_f(struct store *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int exec_f(struct store *st, const char *fmt, ...)
{
	char sql[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return -EINVAL;	/* our own mistake */
	return store_sql_exec(st, sql);
}

/* The single integer a query gives, into *out (0 for none). */
static int query_i64(struct store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	*out = 0;
	err = store_sql_prepare_once(st, sql, &s);
	r = err ? err : store_sql_step(st, s);
	if (r == 1)
		*out = sqlite3_column_int64(s, 0);
	else if (r < 0)
		err = r;
	sqlite3_finalize(s);
	return err;
}

/* ATTACH the db at path as alias, and check it has st's key: -EBADMSG
 * when it has not (another project's, or no deidfs db). */
static int attach(struct store *st, const char *path, const char *alias)
{
	char sql[128];
	sqlite3_stmt *s = NULL;
	const void *k;
	int err, r;

	snprintf(sql, sizeof(sql), "ATTACH ?1 AS %s", alias);
	err = store_sql_prepare_once(st, sql, &s);
	if (!err && !(err = store_sql_map_rc(st->db, sqlite3_bind_text(
				s, 1, path, -1, SQLITE_STATIC))))
		err = store_sql_run(st, s);
	sqlite3_finalize(s);
	s = NULL;
	if (err)
		return err;
	snprintf(sql, sizeof(sql), "SELECT v FROM %s.meta WHERE k = 'key'",
		 alias);
	err = store_sql_prepare_once(st, sql, &s);
	r = err ? err : store_sql_step(st, s);
	if (r < 0)
		err = r;
	else if (r == 0 || sqlite3_column_bytes(s, 0) != KEYED_KEY_LEN ||
		 !(k = sqlite3_column_blob(s, 0)) ||
		 memcmp(k, st->key, KEYED_KEY_LEN))
		err = -EBADMSG;
	sqlite3_finalize(s);
	if (err)
		exec_f(st, "DETACH %s", alias);
	return err;
}

/* Pass 1: every shard's records' walk keys into temp.merge_keys, whether
 * any shard lost sight of a folder (*lost). */
static int gather_keys(struct store *st, const char *const *paths,
		       unsigned n, int *lost)
{
	int64_t v;
	unsigned i;
	int err;

	err = store_sql_exec(st, "DROP TABLE IF EXISTS temp.merge_keys; "
				 "DROP TABLE IF EXISTS temp.merge_ids; "
				 "CREATE TEMP TABLE merge_keys(key BLOB NOT "
				 "NULL, shard INTEGER NOT NULL, sid INTEGER "
				 "NOT NULL)");
	for (i = 0; i < n && !err; i++) {
		err = attach(st, paths[i], "shard");
		if (err)
			break;
		err = exec_f(st, "INSERT INTO temp.merge_keys SELECT "
				 "deidfs_walk_key(path), %u, id FROM "
				 "shard.files", i);
		if (!err)
			err = query_i64(st, "SELECT count(*) FROM "
					    "shard.settings WHERE k = "
					    "'shard.lost'", &v);
		if (!err && v)
			*lost = 1;
		if (store_sql_exec(st, "DETACH shard") && !err)
			err = -EIO;
	}
	return err;
}

/* A base past every id the db holds or gave: the sequence now. */
static int fresh_base(struct store *st, int64_t *base)
{
	return query_i64(st, "SELECT MAX(IFNULL((SELECT seq FROM "
			     "sqlite_sequence WHERE name = 'files'), 0), "
			     "IFNULL((SELECT MAX(id) FROM files), 0))", base);
}

/* The base of the ids (see the top of the file): the one a killed merge
 * recorded (*resumed), or the sequence now.  Returns 0, -EIO. */
static int id_base(struct store *st, int64_t *base, int *resumed)
{
	int err;

	*resumed = 0;
	err = query_i64(st, "SELECT count(*) FROM settings WHERE k = '"
			    BASE_KEY "'", base);
	if (!err && *base) {
		*resumed = 1;
		return query_i64(st, "SELECT CAST(v AS INTEGER) FROM settings "
				     "WHERE k = '" BASE_KEY "'", base);
	}
	return err ? err : fresh_base(st, base);
}

/* Pass 2's ids: temp.merge_ids(shard, sid) -> id, by walk order. */
static int assign_ids(struct store *st, int64_t base, uint64_t *count)
{
	int64_t c = 0;
	int err;

	err = exec_f(st, "DROP TABLE IF EXISTS temp.merge_ids; "
			 "CREATE TEMP TABLE merge_ids(shard INTEGER NOT "
			 "NULL, sid INTEGER NOT NULL, id INTEGER NOT NULL, "
			 "PRIMARY KEY(shard, sid)) WITHOUT ROWID; "
			 "INSERT INTO temp.merge_ids SELECT shard, sid, "
			 "%" PRId64 " + row_number() OVER (ORDER BY key, "
			 "shard, sid) FROM temp.merge_keys", base);
	if (!err)
		err = query_i64(st, "SELECT count(*) FROM temp.merge_ids", &c);
	*count = (uint64_t)c;
	return err;
}

/*
 * A resumed merge's ids, from the base it recorded, against the rows the
 * db holds now: *clash is the number of ids a row of another path holds.
 * None when the merge is run again with the same shard dbs (its first
 * shards' rows hold their own ids); some when the shard dbs were made
 * again meanwhile (a source file added shifts the walk's ranks) or the db
 * was written by another run since: those ids would collide.
 */
static int ids_clash(struct store *st, int64_t *clash)
{
	return query_i64(st, "SELECT count(*) FROM temp.merge_ids i JOIN "
			     "temp.merge_keys k ON k.shard = i.shard AND "
			     "k.sid = i.sid JOIN main.files f ON f.id = i.id "
			     "WHERE deidfs_walk_key(f.path) != k.key", clash);
}

/* Shard i, attached as alias: its records (ids from temp.merge_ids),
 * their audit rows, its pairs and scans, its seen paths (*seen). */
static int copy_shard(struct store *st, const char *alias, unsigned i,
		      int64_t gen, int replace_audit, uint64_t *seen)
{
	int64_t nseen = 0, nfound = 0;
	char sql[512];
	int err = 0;

	/* the audit trail says what the current version of a file was made
	 * from: a record put again loses its rows (store_audit_replace()) */
	if (replace_audit)
		err = exec_f(st, "DELETE FROM main.audit WHERE file_id IN "
				 "(SELECT f.id FROM %s.files s JOIN "
				 "main.files f ON f.path = s.path)", alias);
	if (!err)
		err = exec_f(st, "INSERT INTO main.files(id, " COPY_COLS
				 ", view_path, gen) SELECT m.id, " COPY_COLS
				 ", NULL, %" PRId64 " FROM %s.files s JOIN "
				 "temp.merge_ids m ON m.shard = %u AND m.sid "
				 "= s.id WHERE true ORDER BY m.id "
				 STORE_FILE_UPSERT_TAIL,
			     gen, alias, i);
	if (!err)
		err = exec_f(st, "INSERT INTO main.audit(file_id, seq, time, "
				 "path, action, old, new) SELECT f.id, a.seq, "
				 "a.time, a.path, a.action, a.old, a.new FROM "
				 "%s.audit a JOIN %s.files s ON s.id = "
				 "a.file_id JOIN main.files f ON f.path = "
				 "s.path ORDER BY f.id, a.seq", alias, alias);
	if (!err)
		err = exec_f(st, "INSERT OR IGNORE INTO main.patients SELECT "
				 "pseudonym, patient_id FROM %s.patients; "
				 "INSERT OR IGNORE INTO main.uids SELECT "
				 "pseudo, orig FROM %s.uids; "
				 "INSERT OR REPLACE INTO main.scans SELECT * "
				 "FROM %s.scans", alias, alias, alias);
	/* paths its index found unchanged in the project db (shard.h) */
	if (!err) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.seen",
			 alias);
		err = query_i64(st, sql, &nseen);
	}
	if (!err && nseen) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.seen s "
			 "JOIN main.files f ON f.path = s.path", alias);
		err = query_i64(st, sql, &nfound);
		if (!err && nfound != nseen)
			err = -ENOENT;
		if (!err)
			err = exec_f(st, "UPDATE main.files SET gen = MAX(gen, "
					 "%" PRId64 ") WHERE path IN (SELECT "
					 "path FROM %s.seen)", gen, alias);
	}
	*seen += (uint64_t)nseen;
	return err;
}

/*
 * One transaction: shards [from, to) attached as s0, s1, ... and copied;
 * the first also records base and clears the audit index when deferred,
 * the last sets the sequence past the merge and makes the index again.
 */
static int batch(struct store *st, const char *const *paths, unsigned from,
		 unsigned to, unsigned n, int64_t gen, int64_t base,
		 uint64_t count, int defer, uint64_t *seen)
{
	char alias[16];
	unsigned i, att = 0;
	int err;

	err = store_sql_unit_begin(st);
	if (err)
		return err;
	if (from == 0) {
		err = exec_f(st, "INSERT OR REPLACE INTO settings(k, v) "
				 "VALUES('" BASE_KEY "', '%" PRId64 "')", base);
		/* many rows into an index in the shards' interleaved order
		 * cost more than one sort at the end */
		if (!err && defer)
			err = store_sql_exec(st, "DROP INDEX IF EXISTS "
						 "main.audit_file");
	}
	for (i = from; i < to && !err; i++) {
		snprintf(alias, sizeof(alias), "s%u", i - from);
		err = attach(st, paths[i], alias);
		if (!err) {
			att++;
			err = copy_shard(st, alias, i, gen, !defer, seen);
		}
	}
	if (!err && to == n) {
		err = exec_f(st, "UPDATE sqlite_sequence SET seq = MAX(seq, "
				 "%" PRId64 ") WHERE name = 'files'",
			     base + (int64_t)count);
		if (!err && !sqlite3_changes(st->db))
			err = exec_f(st, "INSERT INTO sqlite_sequence(name, "
					 "seq) VALUES('files', %" PRId64 ")",
				     base + (int64_t)count);
		if (!err)
			err = store_sql_exec(st, "CREATE INDEX IF NOT EXISTS "
						 "main.audit_file ON "
						 "audit(file_id); DELETE FROM "
						 "settings WHERE k = '"
						 BASE_KEY "'");
	}
	err = store_sql_unit_end(st, err);
	/* after the transaction: sqlite detaches nothing inside one */
	for (i = 0; i < att; i++) {
		snprintf(alias, sizeof(alias), "s%u", i);
		if (exec_f(st, "DETACH %s", alias) && !err)
			err = -EIO;
	}
	return err;
}

int store_shard_merge(struct store *st, const char *const *paths, unsigned n,
		      int64_t gen, uint64_t *merged, uint64_t *seen, int *lost)
{
	int64_t base = 0, nfiles = 0, clash = 0;
	uint64_t count = 0;
	unsigned from;
	int err, resumed = 0, attempted, defer;

	*merged = *seen = 0;
	*lost = 0;
	if (!st || (n && !paths))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = store_sql_map_rc(st->db, sqlite3_create_function(
			st->db, "deidfs_walk_key", 1,
			SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, walk_key,
			NULL, NULL));
	if (!err)
		err = gather_keys(st, paths, n, lost);
	if (!err)
		err = id_base(st, &base, &resumed);
	if (!err)
		err = assign_ids(st, base, &count);
	attempted = resumed;
	if (!err && resumed)
		err = ids_clash(st, &clash);
	if (!err && clash) {
		/* the recorded base no longer fits: ids past every row, as
		 * a merge into a db that holds rows gives them (not one
		 * machine's walk order then, but never another's id) */
		resumed = 0;
		err = fresh_base(st, &base);
		if (!err)
			err = assign_ids(st, base, &count);
	}
	if (!err)
		err = store_sql_exec(st, "DROP TABLE temp.merge_keys");
	/* a first merge has no audit rows to replace: its index is made at
	 * the end; one run before may have left rows of its first batches */
	if (!err && attempted)
		err = store_sql_exec(st, "CREATE INDEX IF NOT EXISTS "
					 "main.audit_file ON audit(file_id)");
	if (!err && !attempted)
		err = query_i64(st, "SELECT count(*) FROM files", &nfiles);
	defer = !err && !attempted && !nfiles;
	/* a transaction per shard: the write-ahead log holds one shard's
	 * rows at a time, where one transaction for all would need the
	 * whole merged db again beside it (50 GB at ten million files) */
	for (from = 0; from < n && !err; from += SHARDS_PER_TX)
		err = batch(st, paths, from,
			    from + SHARDS_PER_TX < n ? from + SHARDS_PER_TX : n,
			    n, gen, base, count, defer, seen);
	store_sql_exec(st, "DROP TABLE IF EXISTS temp.merge_ids; "
			   "DROP TABLE IF EXISTS temp.merge_keys");
	if (!err)
		*merged = count;
	pthread_mutex_unlock(&st->lock);
	return err;
}
