/*
 * store_schema.c - the tables of the project db and what makes a db ours
 * (store_schema.h).
 *
 * Schema version 7 (version 1 lacked files.src_ctime_ns and files.version,
 * version 2 the scans table, version 3 registry_values, version 4
 * files.q_rule and files.q_path, version 5 scans.tokens, version 6 the
 * view's snapshot; an older db is upgraded in place when it is opened):
 *   meta(k, v)         app='deidfs', schema_version=7, key=32-byte BLOB,
 *                      generation=INTEGER (the current scan generation),
 *                      key_check=32-byte BLOB (see key_check(); optional),
 *                      view_gen=INTEGER (bumped by triggers on every change
 *                      to what a view is built from, see VIEW_SNAP_SQL)
 *   files(...)         one row per source file, the fields of struct
 *                      store_file plus gen (last generation that saw it);
 *                      see store_index.c
 *   audit(file_id, seq, time, path, action, old, new)
 *                      what was done to which attribute of which file and
 *                      when (unix seconds of the put); replaced as a whole
 *                      on every store_file_put(); see store_audit.c
 *   patients, uids     pseudonym -> original, for authorised
 *                      re-identification; see store_map.c
 *   dirs(id, path)     directory inode numbers of the view
 *   settings(k, v)
 *   scans(path, src_*, fp, status, kinds, ..., tokens)
 *                      the burned-in text scan of one source version by
 *                      one scanner: kinds, regions and keyed digests of
 *                      the text's forms, never the text;
 *                      see store_scan.c
 *   registry_values(patient_id, kind, value)
 *                      the original values of the registry CSV's
 *                      identifying cells (personal ID, dates, dropped
 *                      columns) of the rows a view wrote, for verify; see
 *                      store_registry.c
 *
 * Row ids use AUTOINCREMENT so a pruned file's inode number is never given
 * to another file later.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "store_schema.h"

#define APP_NAME "deidfs"
#define KEY_CHECK_LEN 32

#define SCANS_TABLE                                                       \
	"CREATE TABLE scans(path BLOB PRIMARY KEY NOT NULL,"              \
	" src_size INTEGER NOT NULL, src_mtime_ns INTEGER NOT NULL,"     \
	" src_ino INTEGER NOT NULL, src_ctime_ns INTEGER NOT NULL,"      \
	" fp TEXT NOT NULL, status INTEGER NOT NULL,"                     \
	" kinds INTEGER NOT NULL, frames INTEGER NOT NULL,"               \
	" candidates INTEGER NOT NULL, regions TEXT,"                     \
	" us_decode INTEGER, us_find INTEGER, us_ocr INTEGER);"

/* Version 5 -> 6: scans.tokens, the keyed digests of the forms of the
 * identifying text read (fs/scan_tokens.c).  Rows of version 5 have none:
 * the scanner's version changed with it, so they are read again. */
#define SCANS_TOKENS_SQL "ALTER TABLE scans ADD COLUMN tokens TEXT;"

/* version 4 */
#define REGISTRY_VALUES_SQL						\
	"CREATE TABLE registry_values("					\
	" patient_id TEXT NOT NULL,"					\
	" kind INTEGER NOT NULL,"					\
	" value BLOB NOT NULL,"						\
	" UNIQUE(patient_id, kind, value));"

/*
 * Version 6 -> 7: the view's snapshot (fs/view_snap.c), a built view kept
 * in parts so that a build from an unchanged index loads it instead of
 * computing it again, and meta's view_gen, which tells an unchanged index
 * from a changed one.  The triggers bump view_gen on every change to the
 * rows a view is built from, by deidfs or by anyone else (sqlite3 by
 * hand): a file added, removed or changed (not the refresh's gen, which
 * marks a file seen), a scan's result, a folder's inode number changed or
 * dropped (a new folder is one the view that needs it adds itself).  A
 * build that writes view paths counts its own bumps (one a row).  A
 * snapshot is used only when it was taken at the current view_gen.
 */
#define VIEW_GEN_BUMP "UPDATE meta SET v = v + 1 WHERE k = 'view_gen'; "
#define VIEW_GEN_TRIGGER(name, event)					\
	"CREATE TRIGGER view_gen_" name " AFTER " event " BEGIN "	\
	VIEW_GEN_BUMP "END;"
#define VIEW_SNAP_SQL							\
	"CREATE TABLE view_snap(part INTEGER PRIMARY KEY,"		\
	" data BLOB NOT NULL);"						\
	"INSERT OR IGNORE INTO meta(k, v) VALUES('view_gen', 0);"	\
	VIEW_GEN_TRIGGER("files_ins", "INSERT ON files")		\
	VIEW_GEN_TRIGGER("files_del", "DELETE ON files")		\
	VIEW_GEN_TRIGGER("files_upd", "UPDATE OF id, path, src_size, "	\
			 "src_mtime_ns, src_ino, opts, status, out_size, "	\
			 "header_len, patient_id, study_date, pseudonym, "	\
			 "study_uid, series_uid, sop_uid, modality, "		\
			 "laterality, view_position, series_number, "		\
			 "instance_number, view_path, out_mtime_ns, "		\
			 "study_time, "						\
			 "src_ctime_ns, version, q_rule, q_path ON files")	\
	VIEW_GEN_TRIGGER("scans_ins", "INSERT ON scans")		\
	VIEW_GEN_TRIGGER("scans_del", "DELETE ON scans")		\
	VIEW_GEN_TRIGGER("scans_upd", "UPDATE ON scans")		\
	VIEW_GEN_TRIGGER("dirs_del", "DELETE ON dirs")			\
	VIEW_GEN_TRIGGER("dirs_upd", "UPDATE ON dirs")

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
	" gen INTEGER NOT NULL DEFAULT 0,"
	" q_rule TEXT,"
	" q_path TEXT);"
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
	"CREATE TABLE settings(k TEXT PRIMARY KEY NOT NULL, v TEXT);"
	SCANS_TABLE
	SCANS_TOKENS_SQL
	REGISTRY_VALUES_SQL;

/* ---------------------------------------------------------------------- */
/* the key                                                                */

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

/*
 * A check value of the key, so a key damaged in place (a flipped bit in the
 * file, a hand edit) is refused like a missing one instead of silently
 * giving every woman a new pseudonym.  Keyed, so it says nothing about the
 * key.  dbs made before it existed have no key_check row and are accepted
 * as they are.  tests/e2e/test_golden.py computes it too.
 */
#define KEY_CHECK_LABEL "deidfs-key-check"

static void key_check(const uint8_t key[KEYED_KEY_LEN],
		      uint8_t out[KEY_CHECK_LEN])
{
	keyed_hmac(key, KEYED_KEY_LEN, KEY_CHECK_LABEL, "", 0, out);
}

/* ---------------------------------------------------------------------- */
/* creation                                                               */

static int insert_meta(struct store *st)
{
	sqlite3_stmt *s = NULL;
	uint8_t check[KEY_CHECK_LEN];
	int err;

	key_check(st->key, check);
	err = store_sql_map_rc(st->db, sqlite3_prepare_v2(st->db,
		"INSERT INTO meta(k, v) VALUES('app', ?1), "
		"('schema_version', ?2), ('key', ?3), ('generation', 0), "
		"('key_check', ?4)",
		-1, &s, NULL));
	if (err)
		goto out;
	if ((err = store_sql_map_rc(st->db, sqlite3_bind_text(s, 1, APP_NAME,
						-1, SQLITE_STATIC))) ||
	    (err = store_sql_bind_i64(st, s, 2, STORE_SCHEMA_VERSION)) ||
	    (err = store_sql_bind_blob(st, s, 3, st->key, KEYED_KEY_LEN)) ||
	    (err = store_sql_bind_blob(st, s, 4, check, sizeof(check))))
		goto out;
	err = store_sql_run(st, s);
out:
	sqlite3_finalize(s);
	return err;
}

int store_schema_create(struct store *st)
{
	int err;

	err = random_key(st->key, sizeof(st->key));
	if (err)
		return err;
	err = store_sql_exec(st, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = store_sql_exec(st, schema_sql);
	if (!err)
		err = insert_meta(st);
	if (!err)
		err = store_sql_exec(st, VIEW_SNAP_SQL);
	return store_sql_exec_end(st, err);
}

/* ---------------------------------------------------------------------- */
/* verification                                                           */

/* What the meta table holds, as far as we read it. */
struct meta {
	unsigned seen;		/* META_* of the rows found */
	int version;
	uint8_t key[KEYED_KEY_LEN];
	uint8_t check[KEY_CHECK_LEN];
};

#define META_APP 1u
#define META_VERSION 2u
#define META_KEY 4u
#define META_GENERATION 8u
#define META_REQUIRED 15u
#define META_KEY_CHECK 16u	/* optional: older dbs have none */

/* A BLOB value of exactly n bytes into out, or -EBADMSG.  type is the
 * value's sqlite3_column_type(), taken before anything converted it. */
static int meta_blob(sqlite3_stmt *s, int type, uint8_t *out, size_t n)
{
	const void *v = sqlite3_column_blob(s, 1);

	if (type != SQLITE_BLOB || !v ||
	    sqlite3_column_bytes(s, 1) != (int)n)
		return -EBADMSG;
	memcpy(out, v, n);
	return 0;
}

/* Take one row of meta into m.  Unknown keys are ignored; a known key
 * with a value that is not ours is -EBADMSG. */
static int meta_row(sqlite3_stmt *s, struct meta *m)
{
	const char *k = (const char *)sqlite3_column_text(s, 0);
	int type = sqlite3_column_type(s, 1);
	int64_t v;

	if (!k)
		return 0;
	if (!strcmp(k, "app")) {
		const unsigned char *app = sqlite3_column_text(s, 1);

		if (type != SQLITE_TEXT || !app ||
		    strcmp((const char *)app, APP_NAME))
			return -EBADMSG;
		m->seen |= META_APP;
	} else if (!strcmp(k, "schema_version")) {
		/* A newer schema is not "ours" to write to; an older one is
		 * upgraded by store_schema_upgrade(). */
		v = sqlite3_column_int64(s, 1);
		if (type != SQLITE_INTEGER || v < 1 ||
		    v > STORE_SCHEMA_VERSION)
			return -EBADMSG;
		m->version = (int)v;
		m->seen |= META_VERSION;
	} else if (!strcmp(k, "key")) {
		if (meta_blob(s, type, m->key, sizeof(m->key)))
			return -EBADMSG;
		m->seen |= META_KEY;
	} else if (!strcmp(k, "generation")) {
		if (type != SQLITE_INTEGER)
			return -EBADMSG;
		m->seen |= META_GENERATION;
	} else if (!strcmp(k, "key_check")) {
		if (meta_blob(s, type, m->check, sizeof(m->check)))
			return -EBADMSG;
		m->seen |= META_KEY_CHECK;
	}
	return 0;
}

/* Read meta into m and check it holds what every db of ours has. */
static int meta_read(struct store *st, struct meta *m)
{
	sqlite3_stmt *s = NULL;
	uint8_t want[KEY_CHECK_LEN];
	int err, r;

	err = store_sql_prepare_once(st, "SELECT k, v FROM meta", &s);
	if (err)
		goto out;
	while ((r = store_sql_step(st, s)) == 1) {
		err = meta_row(s, m);
		if (err)
			goto out;
	}
	if (r < 0) {
		err = r;
		goto out;
	}
	if ((m->seen & META_REQUIRED) != META_REQUIRED) {
		err = -EBADMSG;
		goto out;
	}
	if (m->seen & META_KEY_CHECK) {
		key_check(m->key, want);
		if (memcmp(m->check, want, sizeof(want)))
			err = -EBADMSG;
	}
out:
	sqlite3_finalize(s);
	return err;
}

/*
 * integrity_check, not quick_check: an index out of step with its table
 * (sound pages) passes quick_check and would then be written to.  It costs
 * about 0.9 s for a db of 100,000 files (3 million audit rows) against
 * 0.3 s (2 vCPU).
 */
static int integrity_check(struct store *st)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *v;
	int err, r;

	err = store_sql_prepare_once(st, "PRAGMA integrity_check(1)", &s);
	if (err)
		goto out;
	r = store_sql_step(st, s);
	if (r < 0) {
		err = r;
		goto out;
	}
	v = r ? sqlite3_column_text(s, 0) : NULL;
	if (!v || strcmp((const char *)v, "ok"))
		err = -EBADMSG;
out:
	sqlite3_finalize(s);
	return err;
}

int store_schema_check_file(const char *path)
{
	struct store other;
	int rc, err;

	memset(&other, 0, sizeof(other));
	rc = sqlite3_open_v2(path, &other.db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = store_sql_map_rc(other.db, rc);
		goto out;
	}
	sqlite3_busy_timeout(other.db, 10000);
	err = integrity_check(&other);
out:
	sqlite3_close(other.db);	/* harmless on NULL */
	return err;
}

int store_schema_verify(struct store *st, int *version)
{
	struct meta m;
	int err;

	memset(&m, 0, sizeof(m));
	err = meta_read(st, &m);
	if (!err)
		err = integrity_check(st);
	if (!err) {
		memcpy(st->key, m.key, sizeof(st->key));
		*version = m.version;
	} else {
		explicit_bzero(st->key, sizeof(st->key));
	}
	explicit_bzero(&m, sizeof(m));
	return err;
}

/*
 * For a snapshot that many tasks read (store_shard.c): the meta rows and
 * the key as above, without integrity_check, which reads every page (a
 * minute and a half for ten million files, in every task).
 */
int store_schema_verify_meta(struct store *st, int *version)
{
	struct meta m;
	int err;

	memset(&m, 0, sizeof(m));
	err = meta_read(st, &m);
	if (!err) {
		memcpy(st->key, m.key, sizeof(st->key));
		*version = m.version;
	} else {
		explicit_bzero(st->key, sizeof(st->key));
	}
	explicit_bzero(&m, sizeof(m));
	return err;
}

/* A shard db takes the project's key (store_shard.c): the key and its
 * check value, in the caller's write unit. */
int store_schema_set_key(struct store *st, const uint8_t key[KEYED_KEY_LEN])
{
	sqlite3_stmt *s = NULL;
	uint8_t check[KEY_CHECK_LEN];
	int err;

	key_check(key, check);
	err = store_sql_prepare_once(st, "UPDATE meta SET v = CASE k "
					 "WHEN 'key' THEN ?1 ELSE ?2 END "
					 "WHERE k IN ('key', 'key_check')",
				     &s);
	if (!err && !(err = store_sql_bind_blob(st, s, 1, key,
						KEYED_KEY_LEN)) &&
	    !(err = store_sql_bind_blob(st, s, 2, check, sizeof(check))))
		err = store_sql_run(st, s);
	sqlite3_finalize(s);
	if (!err)
		memcpy(st->key, key, KEYED_KEY_LEN);
	return err;
}

/* ---------------------------------------------------------------------- */
/* upgrades                                                               */

/* The schema version in meta, or -errno. */
static int schema_version(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	err = store_sql_prepare_once(st, "SELECT v FROM meta WHERE k = "
					 "'schema_version'", &s);
	if (err)
		return err;
	r = store_sql_step(st, s);
	err = r < 0 ? r : r == 0 ? -EBADMSG : sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return err;
}

/*
 * Version 1 -> 2: files.src_ctime_ns and files.version.  Rows of version 1
 * get ctime 0, which no file has: their sources are analysed again once,
 * on the next refresh.
 */
static const char upgrade_to_2[] =
	"ALTER TABLE files ADD COLUMN src_ctime_ns INTEGER NOT NULL "
	"DEFAULT 0; "
	"ALTER TABLE files ADD COLUMN version INTEGER NOT NULL DEFAULT 0";

/* Version 3 -> 4: registry_values.  A db of version 3 holds no registry
 * originals: the next view build with the CSV records them. */
static const char upgrade_to_4[] = REGISTRY_VALUES_SQL;

/*
 * Version 4 -> 5: files.q_rule and files.q_path, why a file is quarantined
 * (the rule and the attribute's tag path, never a value).  Rows of version
 * 4 have neither: reasons.csv gives the reason's general rule until the
 * file is analysed again (the view format of this version re-analyses
 * every file at the next refresh anyway).
 */
static const char upgrade_to_5[] =
	"ALTER TABLE files ADD COLUMN q_rule TEXT; "
	"ALTER TABLE files ADD COLUMN q_path TEXT";

int store_schema_upgrade(struct store *st)
{
	int err, version;

	err = store_sql_exec(st, "BEGIN IMMEDIATE");
	if (err)
		return err;
	/* another process may have upgraded it since verify looked */
	version = schema_version(st);
	if (version < 0)
		err = version;
	if (!err && version < 2)
		err = store_sql_exec(st, upgrade_to_2);
	if (!err && version < 3)
		err = store_sql_exec(st, SCANS_TABLE);
	if (!err && version < 4)
		err = store_sql_exec(st, upgrade_to_4);
	if (!err && version < 5)
		err = store_sql_exec(st, upgrade_to_5);
	if (!err && version < 6)
		err = store_sql_exec(st, SCANS_TOKENS_SQL);
	if (!err && version < 7)
		err = store_sql_exec(st, VIEW_SNAP_SQL);
	if (!err && version < STORE_SCHEMA_VERSION)
		err = store_sql_exec(st, "UPDATE meta SET v = 7 "
					 "WHERE k = 'schema_version'");
	return store_sql_exec_end(st, err);
}
