/*
 * test_store.c - the project db, module by module (fs/store_*.c):
 * creation and refusal of foreign dbs and damaged keys, schema upgrades
 * (store_open.c, store_schema.c); the file index round trip, upserts,
 * generations and prunes, taking records, directory inode numbers
 * (store_index.c); audit replacement (store_audit.c); pseudonym
 * collisions and transactions (store_map.c, store_sql.c); settings; and a
 * writer killed mid-transaction.  Each test works in its own file of a
 * fresh temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "shard.h"
#include "store.h"
#include "store_same.h"

static char tmpdir[] = "/tmp/test_store.XXXXXX";

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[512];

	(void)state;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
		unlink(p);
	}
	closedir(d);
	return rmdir(tmpdir);
}

static const char *dbpath(const char *name)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

static struct store *open_new(const char *name)
{
	struct store *st = NULL;

	assert_int_equal(store_open(dbpath(name), 1, &st), 0);
	assert_non_null(st);
	return st;
}

/* Run SQL on the db behind the store's back (to damage it on purpose). */
static void raw_sql(const char *name, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(dbpath(name), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The one integer a query on the db returns (behind the store's back). */
static int64_t raw_i64(const char *name, const char *sql)
{
	sqlite3_stmt *s;
	sqlite3 *db;
	int64_t v;

	assert_int_equal(sqlite3_open(dbpath(name), &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	return v;
}

/* Read (get) or write (!get) the BLOB of a meta row behind the store's
 * back. */
static void raw_meta_blob(const char *name, const char *k, uint8_t *buf,
			  size_t n, int get)
{
	sqlite3_stmt *s;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(dbpath(name), &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, get ?
		"SELECT v FROM meta WHERE k = ?1" :
		"UPDATE meta SET v = ?2 WHERE k = ?1", -1, &s, NULL),
		SQLITE_OK);
	sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	if (get) {
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_int_equal(sqlite3_column_bytes(s, 0), (int)n);
		memcpy(buf, sqlite3_column_blob(s, 0), n);
	} else {
		sqlite3_bind_blob(s, 2, buf, (int)n, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(s), SQLITE_DONE);
		assert_int_equal(sqlite3_changes(db), 1);
	}
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_create_mode(void **state)
{
	struct store *st;
	struct stat sb;
	mode_t old;

	(void)state;
	/* Whatever the umask, the db is exactly 0600. */
	old = umask(0);
	st = open_new("mode0.db");
	umask(old);
	assert_int_equal(stat(dbpath("mode0.db"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	store_close(st);

	old = umask(0277);
	st = open_new("mode1.db");
	umask(old);
	assert_int_equal(stat(dbpath("mode1.db"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	store_close(st);
}

/* Detach/attach (around the mount's fork): the same db comes back, a db
 * put in its place meanwhile is refused. */
static void test_detach_attach(void **state)
{
	uint8_t a[KEYED_KEY_LEN], b[KEYED_KEY_LEN];
	struct store *st, *other;
	uint64_t ino1, ino2;

	(void)state;
	st = open_new("det.db");
	assert_int_equal(store_key(st, a), 0);
	assert_int_equal(store_dir_ino(st, "x/y", &ino1), 0);
	assert_int_equal(store_detach(st), 0);
	assert_int_equal(store_attach(st), 0);
	assert_int_equal(store_key(st, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(store_dir_ino(st, "x/y", &ino2), 0);
	assert_int_equal(ino1, ino2);
	/* not while a transaction is open */
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_detach(st), -EBUSY);
	assert_int_equal(store_commit(st), 0);
	/* another db under the same name: refused, key unchanged */
	assert_int_equal(store_detach(st), 0);
	assert_int_equal(unlink(dbpath("det.db")), 0);
	unlink(dbpath("det.db-wal"));
	unlink(dbpath("det.db-shm"));
	other = open_new("det.db");
	store_close(other);
	assert_int_equal(store_attach(st), -EBADMSG);
	assert_int_equal(store_key(st, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	store_close(st);
}

static void test_key_stable(void **state)
{
	uint8_t a[KEYED_KEY_LEN], b[KEYED_KEY_LEN], zero[KEYED_KEY_LEN];
	struct store *st, *st2;

	(void)state;
	memset(zero, 0, sizeof(zero));
	st = open_new("key.db");
	assert_int_equal(store_key(st, a), 0);
	assert_memory_not_equal(a, zero, sizeof(zero));
	store_close(st);

	assert_int_equal(store_open(dbpath("key.db"), 0, &st), 0);
	assert_int_equal(store_key(st, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	store_close(st);

	/* create on an existing db opens it: no new key */
	assert_int_equal(store_open(dbpath("key.db"), 1, &st), 0);
	assert_int_equal(store_key(st, b), 0);
	assert_memory_equal(a, b, sizeof(a));

	/* two connections at once (WAL) see the same key */
	assert_int_equal(store_open(dbpath("key.db"), 0, &st2), 0);
	assert_int_equal(store_key(st2, b), 0);
	assert_memory_equal(a, b, sizeof(a));
	store_close(st2);
	store_close(st);

	/* another db, another key */
	st = open_new("key2.db");
	assert_int_equal(store_key(st, b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	store_close(st);
}

static void write_file(const char *name, const void *p, size_t n)
{
	int fd = open(dbpath(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void test_not_ours(void **state)
{
	struct store *st = (struct store *)1;
	unsigned char junk[8192], back[8192];
	struct stat sb;
	size_t i;
	int fd;

	(void)state;
	/* random bytes: refused, and left untouched */
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 2654435761u >> 13);
	write_file("junk.db", junk, sizeof(junk));
	assert_int_equal(store_open(dbpath("junk.db"), 1, &st), -EBADMSG);
	assert_null(st);
	assert_int_equal(store_open(dbpath("junk.db"), 0, &st), -EBADMSG);
	fd = open(dbpath("junk.db"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	assert_memory_equal(junk, back, sizeof(junk));

	/* an empty file (no key to lose, but still not ours) */
	write_file("empty.db", "", 0);
	assert_int_equal(store_open(dbpath("empty.db"), 1, &st), -EBADMSG);
	assert_int_equal(stat(dbpath("empty.db"), &sb), 0);
	assert_int_equal(sb.st_size, 0);

	/* somebody else's sqlite db */
	raw_sql("other.db", "CREATE TABLE t(a); INSERT INTO t VALUES(1);");
	assert_int_equal(store_open(dbpath("other.db"), 1, &st), -EBADMSG);
	/* ... even one with a meta table that is not ours */
	raw_sql("other2.db", "CREATE TABLE meta(k, v);"
			     "INSERT INTO meta VALUES('app', 'other');");
	assert_int_equal(store_open(dbpath("other2.db"), 1, &st), -EBADMSG);

	/* ours, but the key row was deleted: never mint a new key */
	st = open_new("nokey.db");
	store_close(st);
	raw_sql("nokey.db", "DELETE FROM meta WHERE k = 'key'");
	assert_int_equal(store_open(dbpath("nokey.db"), 1, &st), -EBADMSG);
	assert_int_equal(store_open(dbpath("nokey.db"), 0, &st), -EBADMSG);

	/* a key of the wrong length */
	st = open_new("shortkey.db");
	store_close(st);
	raw_sql("shortkey.db", "UPDATE meta SET v = X'0102' WHERE k = 'key'");
	assert_int_equal(store_open(dbpath("shortkey.db"), 0, &st), -EBADMSG);

	/* an unknown (newer) schema version */
	st = open_new("newer.db");
	store_close(st);
	raw_sql("newer.db",
		"UPDATE meta SET v = 99 WHERE k = 'schema_version'");
	assert_int_equal(store_open(dbpath("newer.db"), 0, &st), -EBADMSG);

	/* a table missing */
	st = open_new("notable.db");
	store_close(st);
	raw_sql("notable.db", "DROP TABLE dirs");
	assert_int_equal(store_open(dbpath("notable.db"), 0, &st), -EBADMSG);
	assert_null(st);
}

/*
 * The key's check value (store_schema.c): a key damaged in place is
 * refused like a missing one, never used to mint new pseudonyms, and the
 * refusal changes nothing in the db; a damaged check value is refused too;
 * a db made before check values existed (no key_check row) is accepted.
 */
static void test_key_check(void **state)
{
	uint8_t key[KEYED_KEY_LEN], bad[KEYED_KEY_LEN], back[KEYED_KEY_LEN];
	uint8_t check[32], badcheck[32];
	struct store *st = NULL;
	size_t bit;

	(void)state;
	st = open_new("kc.db");
	assert_int_equal(store_key(st, key), 0);
	store_close(st);
	raw_meta_blob("kc.db", "key", back, sizeof(back), 1);
	assert_memory_equal(back, key, sizeof(key));
	raw_meta_blob("kc.db", "key_check", check, sizeof(check), 1);

	/* any one flipped bit of the key: refused, with or without create,
	 * and the damaged key is left as it is (no new key minted) */
	for (bit = 0; bit < 8 * sizeof(key); bit += 37) {
		memcpy(bad, key, sizeof(key));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		raw_meta_blob("kc.db", "key", bad, sizeof(bad), 0);
		st = (struct store *)1;
		assert_int_equal(store_open(dbpath("kc.db"), 0, &st),
				 -EBADMSG);
		assert_null(st);
		assert_int_equal(store_open(dbpath("kc.db"), 1, &st),
				 -EBADMSG);
		raw_meta_blob("kc.db", "key", back, sizeof(back), 1);
		assert_memory_equal(back, bad, sizeof(bad));
	}

	/* the key put back: the same db again */
	raw_meta_blob("kc.db", "key", key, sizeof(key), 0);
	assert_int_equal(store_open(dbpath("kc.db"), 0, &st), 0);
	assert_int_equal(store_key(st, back), 0);
	assert_memory_equal(back, key, sizeof(key));

	/* damaged while a mount is detached around its fork: attach
	 * refuses, and the store keeps the key it had */
	assert_int_equal(store_detach(st), 0);
	raw_meta_blob("kc.db", "key", bad, sizeof(bad), 0);
	assert_int_equal(store_attach(st), -EBADMSG);
	assert_int_equal(store_key(st, back), 0);
	assert_memory_equal(back, key, sizeof(key));
	raw_meta_blob("kc.db", "key", key, sizeof(key), 0);
	assert_int_equal(store_attach(st), 0);
	store_close(st);

	/* a damaged check value, or one of the wrong length */
	memcpy(badcheck, check, sizeof(check));
	badcheck[31] ^= 0x80;
	raw_meta_blob("kc.db", "key_check", badcheck, sizeof(badcheck), 0);
	assert_int_equal(store_open(dbpath("kc.db"), 0, &st), -EBADMSG);
	raw_meta_blob("kc.db", "key_check", check, 16, 0);
	assert_int_equal(store_open(dbpath("kc.db"), 0, &st), -EBADMSG);
	raw_meta_blob("kc.db", "key_check", check, sizeof(check), 0);
	assert_int_equal(store_open(dbpath("kc.db"), 0, &st), 0);
	store_close(st);

	/* no check value at all (a db older than them): accepted as is */
	raw_sql("kc.db", "DELETE FROM meta WHERE k = 'key_check'");
	assert_int_equal(store_open(dbpath("kc.db"), 0, &st), 0);
	assert_int_equal(store_key(st, back), 0);
	assert_memory_equal(back, key, sizeof(key));
	store_close(st);
	assert_int_equal(raw_i64("kc.db", "SELECT count(*) FROM meta "
				 "WHERE k = 'key_check'"), 0);
}

static void test_missing(void **state)
{
	struct store *st = NULL;
	struct stat sb;

	(void)state;
	assert_int_equal(store_open(dbpath("absent.db"), 0, &st), -ENOENT);
	assert_null(st);
	assert_int_equal(stat(dbpath("absent.db"), &sb), -1);
	assert_int_equal(store_open(dbpath("nodir/x.db"), 1, &st), -ENOENT);
	assert_int_equal(store_open(NULL, 1, &st), -EINVAL);
	store_close(NULL);
}

static void test_readonly(void **state)
{
	struct store *st;

	(void)state;
	if (geteuid() == 0)
		skip();		/* root ignores the mode */
	st = open_new("ro.db");
	store_close(st);
	assert_int_equal(chmod(dbpath("ro.db"), 0400), 0);
	assert_int_equal(store_open(dbpath("ro.db"), 0, &st), -EACCES);
	assert_int_equal(chmod(dbpath("ro.db"), 0600), 0);
}

/* A record with every string set, odd values in every integer. */
static void full_record(struct store_file *f, const char *path)
{
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	f->src_size = UINT64_MAX;
	f->src_mtime_ns = -1234567890123LL;
	f->src_ino = (uint64_t)1 << 63;
	f->src_ctime_ns = -987654321987LL;
	f->opts = strdup("opts-v1");
	f->status = 7;
	f->out_size = 123456789012ULL;
	f->header_len = 4242;
	f->patient_id = strdup("12345678901");
	f->study_date = strdup("20190312");
	f->pseudonym = strdup("abcdefghijklmnop");
	f->study_uid = strdup("2.25.1");
	f->series_uid = strdup("2.25.2");
	f->sop_uid = strdup("2.25.3");
	f->modality = strdup("MG");
	f->laterality = strdup("L");
	f->view_position = strdup("CC");
	f->series_number = -5;
	f->instance_number = INT64_MAX;
	f->out_mtime_ns = 1700000000123456789LL;
	f->study_time = strdup("093015.123");
	f->q_rule = strdup("U (replace UID)");
	f->q_path = strdup("0040A730[2].00081155");
}


static void test_roundtrip(void **state)
{
	struct store_file f, g;
	struct store *st;

	(void)state;
	st = open_new("rt.db");

	/* everything present; a path that is not valid UTF-8 */
	full_record(&f, "dir/\xff\xfe name\x80.dcm");
	free(f.patient_id);
	f.patient_id = strdup("J\xf6rgensen");	/* Latin-1 bytes */
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_true(f.id > 0);
	assert_int_equal(store_file_get(st, f.path, &g), 0);
	assert_same(&f, &g);
	store_file_clear(&g);
	assert_int_equal(store_file_get_id(st, f.id, &g), 0);
	assert_same(&f, &g);
	store_file_clear(&g);
	store_file_clear(&f);

	/* everything absent: NULL strings, STORE_MISSING, zeros */
	memset(&f, 0, sizeof(f));
	f.path = strdup("b.dcm");
	f.series_number = STORE_MISSING;
	f.instance_number = STORE_MISSING;
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_file_get_id(st, f.id, &g), 0);
	assert_same(&f, &g);
	assert_null(g.opts);
	assert_null(g.patient_id);
	assert_true(g.series_number == STORE_MISSING);
	store_file_clear(&g);

	/* empty strings are not NULL */
	f.modality = strdup("");
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_file_get(st, "b.dcm", &g), 0);
	assert_non_null(g.modality);
	assert_string_equal(g.modality, "");
	store_file_clear(&g);
	store_file_clear(&f);
	store_file_clear(NULL);

	/* survives a reopen */
	store_close(st);
	assert_int_equal(store_open(dbpath("rt.db"), 0, &st), 0);
	assert_int_equal(store_file_get(st, "b.dcm", &g), 0);
	assert_true(g.instance_number == STORE_MISSING);
	store_file_clear(&g);

	/* lookups that miss; a TEXT-looking path does not match a BLOB one */
	assert_int_equal(store_file_get(st, "nope", &g), -ENOENT);
	assert_int_equal(store_file_get_id(st, 999999, &g), -ENOENT);
	assert_int_equal(store_file_get(st, "B.dcm", &g), -ENOENT);
	memset(&f, 0, sizeof(f));
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0),
			 -EINVAL);
	store_close(st);
}

/* What version 7 added (the view's snapshot and the triggers that bump
 * view_gen), undone first to make an older db from a new one: the
 * triggers name the columns the older versions lack. */
#define UNDO_V7								\
	"DROP TRIGGER view_gen_files_ins; DROP TRIGGER view_gen_files_del; " \
	"DROP TRIGGER view_gen_files_upd; DROP TRIGGER view_gen_scans_ins; " \
	"DROP TRIGGER view_gen_scans_del; DROP TRIGGER view_gen_scans_upd; " \
	"DROP TRIGGER view_gen_dirs_del; DROP TRIGGER view_gen_dirs_upd; "   \
	"DROP TABLE view_snap; DELETE FROM meta WHERE k = 'view_gen'; "

/* A db of schema version 1 (before files.src_ctime_ns) is upgraded in
 * place on open, keeps its key and records, and its records count as
 * changed (ctime 0) so their sources are analysed again. */
static void test_upgrade_v1(void **state)
{
	struct store_file f, g;
	struct store *st;
	uint8_t k1[KEYED_KEY_LEN], k2[KEYED_KEY_LEN];

	(void)state;
	st = open_new("v1.db");
	full_record(&f, "p/1.dcm");
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_key(st, k1), 0);
	store_close(st);
	raw_sql("v1.db", UNDO_V7 "ALTER TABLE files DROP COLUMN src_ctime_ns; "
			 "ALTER TABLE files DROP COLUMN version; "
			 "ALTER TABLE files DROP COLUMN q_rule; "
			 "ALTER TABLE files DROP COLUMN q_path; "
			 "DROP TABLE scans; "
			 "DROP TABLE registry_values; "
			 "UPDATE meta SET v = 1 WHERE k = 'schema_version'");
	assert_int_equal(store_open(dbpath("v1.db"), 0, &st), 0);
	assert_int_equal(store_key(st, k2), 0);
	assert_memory_equal(k1, k2, sizeof(k1));
	assert_int_equal(store_file_get(st, "p/1.dcm", &g), 0);
	assert_true(g.src_ctime_ns == 0);
	assert_true(g.version == 0);
	assert_true(g.src_size == f.src_size);
	store_file_clear(&g);
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_file_get(st, "p/1.dcm", &g), 0);
	assert_true(g.src_ctime_ns == f.src_ctime_ns);
	assert_true(g.version == 1);	/* ctime 0 was another version */
	store_file_clear(&g);
	store_file_clear(&f);
	store_close(st);
	/* upgraded for good; a newer schema than ours is refused */
	raw_sql("v1.db", "UPDATE meta SET v = v + 1 "
			 "WHERE k = 'schema_version'");
	assert_int_equal(store_open(dbpath("v1.db"), 0, &st), -EBADMSG);
}

/* The schema of version 1 as deidfs wrote it (fs/store.c of commit
 * c1216df): no files.src_ctime_ns, no files.version, no key_check row. */
static const char v1_schema[] =
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
	"CREATE TABLE settings(k TEXT PRIMARY KEY NOT NULL, v TEXT);"
	"INSERT INTO meta VALUES('app', 'deidfs'), ('schema_version', 1),"
	" ('key', X'000102030405060708090a0b0c0d0e0f"
	"101112131415161718191a1b1c1d1e1f'), ('generation', 7);"
	"INSERT INTO files(path, src_size, src_mtime_ns, src_ino, opts,"
	" status, out_size, header_len, patient_id, pseudonym,"
	" series_number, view_path, out_mtime_ns, gen)"
	" VALUES(CAST('a/1.dcm' AS BLOB), 100, 5000, 42, 'o1', 0, 200,"
	" 150, '12345678901', 'PSEUDO', 3, 'PSEUDO/1.dcm', 6000, 7);"
	"INSERT INTO audit VALUES(1, 0, 1, '00100010', 'Z', X'41', NULL);"
	"INSERT INTO patients VALUES('PSEUDO', '12345678901');"
	"INSERT INTO dirs(path) VALUES(CAST('' AS BLOB));";

/* A db of schema version 1 as version 1 wrote it opens as version 4: key,
 * records, audit rows, directory inodes and generation kept; its records
 * count as another version of their sources (ctime 0), so they are
 * analysed again once; no check value is added for its key. */
static void test_upgrade_v1_schema(void **state)
{
	uint8_t key[KEYED_KEY_LEN];
	struct store_file f;
	struct store *st;
	uint64_t ino;
	int64_t n, gen;
	size_t i;

	(void)state;
	raw_sql("genuine-v1.db", v1_schema);
	assert_int_equal(store_open(dbpath("genuine-v1.db"), 1, &st), 0);
	assert_int_equal(store_key(st, key), 0);
	for (i = 0; i < sizeof(key); i++)
		assert_int_equal(key[i], i);
	assert_int_equal(store_file_get(st, "a/1.dcm", &f), 0);
	assert_int_equal(f.id, 1);
	assert_true(f.src_size == 100 && f.src_ino == 42);
	assert_true(f.src_ctime_ns == 0 && f.version == 0);
	assert_true(f.series_number == 3);
	assert_true(f.instance_number == STORE_MISSING);
	assert_string_equal(f.view_path, "PSEUDO/1.dcm");
	assert_null(f.study_time);
	assert_int_equal(store_audit_count(st, f.id, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_dir_ino(st, "", &ino), 0);
	assert_int_equal(ino, 1);
	assert_int_equal(store_next_generation(st, &gen), 0);
	assert_int_equal(gen, 8);

	/* the same stat, now with its ctime: another version */
	f.src_ctime_ns = 123;
	f.out_mtime_ns = 7000;
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	store_file_clear(&f);
	assert_int_equal(store_file_get(st, "a/1.dcm", &f), 0);
	assert_true(f.version == 1);
	assert_true(f.out_mtime_ns == 6000 + 1000000000LL);
	store_file_clear(&f);
	store_close(st);
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT v FROM meta "
				 "WHERE k = 'schema_version'"), 7);
	/* version 3: the table of the burned-in text scan; version 4: the
	 * registry's originals; version 5: why a file is quarantined;
	 * version 6: the digests of the scan's text; version 7: the view's
	 * snapshot, view_gen and its triggers */
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT count(*) FROM "
				 "sqlite_master WHERE name = 'scans'"), 1);
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT count(*) FROM "
				 "sqlite_master WHERE name = "
				 "'registry_values'"), 1);
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT count(*) FROM "
				 "pragma_table_info('files') WHERE name IN "
				 "('q_rule', 'q_path')"), 2);
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT count(*) FROM "
				 "pragma_table_info('scans') WHERE name = "
				 "'tokens'"), 1);
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT count(*) FROM meta "
				 "WHERE k = 'key_check'"), 0);
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT count(*) FROM "
				 "sqlite_master WHERE name = 'view_snap'"), 1);
	assert_int_equal(raw_i64("genuine-v1.db", "SELECT count(*) FROM "
				 "sqlite_master WHERE type = 'trigger'"), 8);
	/* the row put after the upgrade bumped it */
	assert_true(raw_i64("genuine-v1.db", "SELECT v FROM meta "
			    "WHERE k = 'view_gen'") > 0);
}

/* The upgrade is one transaction: when its second step fails (here a
 * version column some other tool added), the first is undone too and the
 * db stays at version 1, to be upgraded once the obstacle is gone. */
static void test_upgrade_atomic(void **state)
{
	struct store_file f;
	struct store *st = NULL;

	(void)state;
	raw_sql("half-v1.db", v1_schema);
	raw_sql("half-v1.db", "ALTER TABLE files ADD COLUMN version INTEGER");
	assert_true(store_open(dbpath("half-v1.db"), 0, &st) < 0);
	assert_null(st);
	assert_int_equal(raw_i64("half-v1.db", "SELECT v FROM meta "
				 "WHERE k = 'schema_version'"), 1);
	assert_int_equal(raw_i64("half-v1.db", "SELECT count(*) FROM "
				 "pragma_table_info('files') "
				 "WHERE name = 'src_ctime_ns'"), 0);
	raw_sql("half-v1.db", "ALTER TABLE files DROP COLUMN version");
	assert_int_equal(store_open(dbpath("half-v1.db"), 0, &st), 0);
	assert_int_equal(store_file_get(st, "a/1.dcm", &f), 0);
	assert_true(f.version == 0 && f.src_ctime_ns == 0);
	store_file_clear(&f);
	store_close(st);
}

/* A db of schema version 2 (before scans and registry_values) gains both
 * tables on open, keeps its records, and is version 7 for good. */
static void test_upgrade_v2(void **state)
{
	struct store_file f, g;
	struct store *st;

	(void)state;
	st = open_new("v2.db");
	full_record(&f, "p/1.dcm");
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	store_close(st);
	raw_sql("v2.db", UNDO_V7 "DROP TABLE scans; DROP TABLE registry_values; "
			 "ALTER TABLE files DROP COLUMN q_rule; "
			 "ALTER TABLE files DROP COLUMN q_path; "
			 "UPDATE meta SET v = 2 WHERE k = 'schema_version'");
	assert_int_equal(store_open(dbpath("v2.db"), 0, &st), 0);
	assert_int_equal(store_file_get(st, "p/1.dcm", &g), 0);
	assert_true(g.src_size == f.src_size);
	store_file_clear(&g);
	store_file_clear(&f);
	store_close(st);
	assert_int_equal(raw_i64("v2.db", "SELECT v FROM meta "
				 "WHERE k = 'schema_version'"), 7);
	assert_int_equal(raw_i64("v2.db", "SELECT count(*) FROM "
				 "registry_values"), 0);
	assert_int_equal(raw_i64("v2.db", "SELECT count(*) FROM scans"), 0);
	assert_int_equal(raw_i64("v2.db", "SELECT count(*) FROM "
				 "pragma_table_info('scans') WHERE name = "
				 "'tokens'"), 1);
}

struct regseen {
	unsigned n;
	int kinds;
	size_t bytes;
};

static int reg_cb(void *arg, const char *patient_id, int kind,
		  const void *v, size_t len)
{
	struct regseen *s = arg;

	assert_string_equal(patient_id, "12345678901");
	assert_non_null(v);
	s->n++;
	s->kinds |= 1 << kind;
	s->bytes += len;
	return 0;
}

/* The registry's originals: recorded once per digest, only ever added,
 * read back whole (more than one batch). */
static void test_registry_values(void **state)
{
	struct store_regval v[600];
	char cells[600][16];
	struct regseen seen;
	struct store *st;
	size_t i;

	(void)state;
	for (i = 0; i < 600; i++) {
		snprintf(cells[i], sizeof(cells[i]), "%zu", 1000000 + i);
		v[i].patient_id = "12345678901";
		v[i].kind = i == 0 ? STORE_REG_ID
			    : i < 10 ? STORE_REG_DATE : STORE_REG_OTHER;
		v[i].v = cells[i];
		v[i].len = strlen(cells[i]);
	}
	st = open_new("reg.db");
	assert_int_equal(store_registry_record(st, "d1", v, 600), 0);
	/* the same digest again writes nothing; another adds what is new */
	assert_int_equal(store_registry_record(st, "d1", v, 1), 0);
	assert_int_equal(store_registry_record(st, "d2", v, 600), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_registry_foreach(st, reg_cb, &seen), 0);
	assert_int_equal(seen.n, 600);
	assert_int_equal(seen.kinds, (1 << STORE_REG_ID) |
				     (1 << STORE_REG_DATE) |
				     (1 << STORE_REG_OTHER));
	assert_int_equal(store_registry_record(NULL, "d", v, 1), -EINVAL);
	store_close(st);
	assert_int_equal(raw_i64("reg.db", "SELECT count(*) FROM "
				 "settings WHERE k = 'registry.originals' "
				 "AND v = 'd2'"), 1);
}

static void test_put_twice(void **state)
{
	struct store_file f, g;
	struct store *st;
	int64_t id;

	(void)state;
	st = open_new("twice.db");
	full_record(&f, "p/1.dcm");
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	id = f.id;
	assert_int_equal(store_file_set_view_path(st, id, "abc/2019/L-CC.dcm"),
			 0);

	/* the update changes fields, keeps the id and ignores view_path */
	f.id = 0;
	f.status = 0;
	f.src_size = 1;
	free(f.modality);
	f.modality = NULL;
	f.view_path = strdup("should/be/ignored");
	f.out_mtime_ns = 1700000000123456789LL + 5000000000LL;
	free(f.study_time);
	f.study_time = NULL;
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(f.id, id);
	assert_int_equal(store_file_get(st, "p/1.dcm", &g), 0);
	assert_int_equal(g.id, id);
	assert_int_equal(g.status, 0);
	assert_true(g.src_size == 1);
	assert_null(g.modality);
	assert_null(g.study_time);
	assert_true(g.out_mtime_ns == 1700000000123456789LL + 5000000000LL);
	assert_string_equal(g.view_path, "abc/2019/L-CC.dcm");
	store_file_clear(&g);

	/* another analysis of the same version keeps its date, whenever */
	f.out_mtime_ns = 1800000000000000000LL;
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_file_get(st, "p/1.dcm", &g), 0);
	assert_true(g.out_mtime_ns == 1700000000123456789LL + 5000000000LL);
	store_file_clear(&g);

	/* a new version analysed within the same second as the old one (or
	 * by a clock that went back) is still dated later: size and mtime
	 * must tell the versions apart.  Each stat field counts, ctime too
	 * (a writer that restores the mtime). */
	{
		int64_t *fields[] = { &f.src_mtime_ns, &f.src_ctime_ns,
				      (int64_t *)&f.src_ino,
				      (int64_t *)&f.src_size };
		int64_t last = 1700000000123456789LL + 5000000000LL;
		size_t k;

		int64_t ver;

		assert_int_equal(store_file_get(st, "p/1.dcm", &g), 0);
		ver = g.version;
		store_file_clear(&g);
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			*fields[k] += 1;
			f.out_mtime_ns = last;
			assert_int_equal(store_file_put(st, &f, NULL, 0, NULL,
							0, NULL, 0), 0);
			assert_int_equal(store_file_get(st, "p/1.dcm", &g), 0);
			assert_true(g.out_mtime_ns == last + 1000000000LL);
			/* each new version is counted (the view's inode) */
			assert_true(g.version == ver + (int64_t)k + 1);
			last = g.out_mtime_ns;
			store_file_clear(&g);
		}
	}

	/* clearing the view path; unknown ids */
	assert_int_equal(store_file_set_view_path(st, id, NULL), 0);
	assert_int_equal(store_file_get_id(st, id, &g), 0);
	assert_null(g.view_path);
	store_file_clear(&g);
	assert_int_equal(store_file_set_view_path(st, id + 100, "x"), -ENOENT);

	/* another path, another id */
	free(f.path);
	f.path = strdup("p/2.dcm");
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_true(f.id != id);
	store_file_clear(&f);
	store_close(st);
}

static void test_audit_replaced(void **state)
{
	struct store_audit a[40];
	struct store_file f;
	struct store *st;
	sqlite3_stmt *s;
	sqlite3 *db;
	char paths[40][9];
	int64_t n;
	int i;

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%08x", 0x00100010 + i);
		snprintf(a[i].path, sizeof(a[i].path), "%s", paths[i]);
		snprintf(a[i].action, sizeof(a[i].action), "X");
		a[i].old = "SECRET";
		a[i].oldlen = 6;
		a[i].newv = NULL;
		a[i].newlen = 0;
	}
	a[1].newv = "";		/* present but empty */
	a[2].old = "a\0b";	/* values are bytes, NULs included */
	a[2].oldlen = 3;

	st = open_new("audit.db");
	memset(&f, 0, sizeof(f));
	f.path = strdup("x.dcm");
	assert_int_equal(store_file_put(st, &f, a, 40, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_audit_count(st, f.id, &n), 0);
	assert_int_equal(n, 40);
	assert_int_equal(store_file_put(st, &f, a, 40, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_audit_count(st, f.id, &n), 0);
	assert_int_equal(n, 40);	/* replaced, not appended */
	assert_int_equal(store_file_put(st, &f, a, 3, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_audit_count(st, f.id, &n), 0);
	assert_int_equal(n, 3);

	/* the rows hold what was given, in order */
	assert_int_equal(sqlite3_open(dbpath("audit.db"), &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
		"SELECT seq, path, action, old, new FROM audit "
		"WHERE file_id = ?1 ORDER BY seq", -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_int64(s, 1, f.id);
	for (i = 0; i < 3; i++) {
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(s, 0), i);
		assert_string_equal((const char *)sqlite3_column_text(s, 1),
				    paths[i]);
		assert_string_equal((const char *)sqlite3_column_text(s, 2),
				    "X");
		assert_int_equal(sqlite3_column_bytes(s, 3), (int)a[i].oldlen);
		assert_memory_equal(sqlite3_column_blob(s, 3), a[i].old,
				    a[i].oldlen);
		assert_int_equal(sqlite3_column_type(s, 4),
				 i == 1 ? SQLITE_BLOB : SQLITE_NULL);
	}
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);

	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(store_audit_count(st, f.id, &n), 0);
	assert_int_equal(n, 0);
	store_file_clear(&f);
	store_close(st);
}

static int64_t put_path(struct store *st, const char *path)
{
	struct store_audit a = { "00100010", "Z", "x", 1, NULL, 0 };
	struct store_file f;
	int64_t id;

	memset(&f, 0, sizeof(f));
	f.path = strdup(path);
	assert_int_equal(store_file_put(st, &f, &a, 1, NULL, 0, NULL, 0), 0);
	id = f.id;
	store_file_clear(&f);
	return id;
}

static void test_generations(void **state)
{
	int64_t a, b, c, d, e, g, g2, n;
	struct store_file f;
	struct store *st;

	(void)state;
	st = open_new("gen.db");
	a = put_path(st, "a");
	b = put_path(st, "b");
	c = put_path(st, "c");
	assert_int_equal(store_next_generation(st, &g), 0);
	assert_int_equal(store_next_generation(st, &g2), 0);
	assert_true(g2 > g);
	g = g2;

	/* the scan sees a (unchanged) and re-analyses c; d is new */
	assert_int_equal(store_file_touch(st, a, g), 0);
	assert_int_equal(put_path(st, "c"), c);
	d = put_path(st, "d");
	assert_int_equal(store_file_touch(st, 999999, g), -ENOENT);
	assert_int_equal(store_file_prune(st, g), 0);

	assert_int_equal(store_file_get_id(st, a, &f), 0);
	store_file_clear(&f);
	assert_int_equal(store_file_get_id(st, c, &f), 0);
	store_file_clear(&f);
	assert_int_equal(store_file_get_id(st, d, &f), 0);
	store_file_clear(&f);
	assert_int_equal(store_file_get_id(st, b, &f), -ENOENT);
	assert_int_equal(store_file_get(st, "b", &f), -ENOENT);
	assert_int_equal(store_audit_count(st, b, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_audit_count(st, a, &n), 0);
	assert_int_equal(n, 1);

	/* two refreshes at once (a mount and an export on one db): the
	 * older one's late touch does not lower what the newer one saw,
	 * and neither prunes the other's records */
	{
		int64_t g1, g3;

		assert_int_equal(store_next_generation(st, &g1), 0);
		assert_int_equal(store_next_generation(st, &g3), 0);
		assert_int_equal(store_file_touch(st, a, g3), 0);
		assert_int_equal(store_file_touch(st, c, g3), 0);
		assert_int_equal(store_file_touch(st, d, g3), 0);
		assert_int_equal(store_file_touch(st, a, g1), 0);  /* late */
		assert_int_equal(store_file_touch(st, c, g1), 0);
		assert_int_equal(store_file_prune(st, g3), 0);	/* newer */
		assert_int_equal(store_file_get_id(st, a, &f), 0);
		store_file_clear(&f);
		assert_int_equal(store_file_get_id(st, c, &f), 0);
		store_file_clear(&f);
		assert_int_equal(store_file_prune(st, g1), 0);	/* older */
		assert_int_equal(store_file_get_id(st, d, &f), 0);
		store_file_clear(&f);
		g = g3;
	}

	/* a pruned id is never reused (inode numbers) */
	e = put_path(st, "b");
	assert_true(e != b && e > d);

	/* the generation persists */
	store_close(st);
	assert_int_equal(store_open(dbpath("gen.db"), 0, &st), 0);
	assert_int_equal(store_next_generation(st, &g2), 0);
	assert_int_equal(g2, g + 1);
	store_close(st);
}

/*
 * The upsert and the prune, generation by generation: a put dates its
 * record in the current generation (a file analysed during a scan counts
 * as seen without a touch); an update keeps the id and never lowers the
 * generation a touch gave; a prune removes the unseen records with their
 * audit rows, and keeps the pseudonym and UID pairs (re-identification
 * outlives the files).
 */
static void test_upsert_prune(void **state)
{
	struct store_pair pat = { "12345678901", "PSEUDO-A" };
	struct store_pair uid = { "1.2.3", "2.25.9" };
	struct store_audit a[3] = {
		{ "00100010", "Z", "x", 1, NULL, 0 },
		{ "00100020", "D", "y", 1, "z", 1 },
		{ "00080018", "U", "1.2.3", 5, "2.25.9", 6 },
	};
	int64_t g1, g2, old_id, kept_id, ahead_id, n;
	struct store_file f, g;
	struct store *st;

	(void)state;
	st = open_new("upsert.db");
	old_id = put_path(st, "old");		/* never seen again */
	assert_int_equal(store_next_generation(st, &g1), 0);

	/* put during scan g1, no touch: seen */
	memset(&f, 0, sizeof(f));
	f.path = strdup("kept");
	assert_int_equal(store_file_put(st, &f, a, 3, &pat, 1, &uid, 1), 0);
	kept_id = f.id;
	/* touched by a newer scan, then put again by an older one */
	ahead_id = put_path(st, "ahead");
	assert_int_equal(store_file_touch(st, ahead_id, g1 + 5), 0);
	assert_int_equal(put_path(st, "ahead"), ahead_id);

	assert_int_equal(store_file_prune(st, g1), 0);
	assert_int_equal(store_file_get_id(st, old_id, &g), -ENOENT);
	assert_int_equal(store_audit_count(st, old_id, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_file_get_id(st, kept_id, &g), 0);
	store_file_clear(&g);
	assert_int_equal(store_audit_count(st, kept_id, &n), 0);
	assert_int_equal(n, 3);

	/* the next scan: kept is updated in place, ahead is not touched
	 * again but its generation is still ahead of g2 */
	assert_int_equal(store_next_generation(st, &g2), 0);
	assert_true(g2 > g1 && g2 < g1 + 5);
	f.status = 3;
	assert_int_equal(store_file_put(st, &f, a, 1, &pat, 1, &uid, 1), 0);
	assert_int_equal(f.id, kept_id);
	assert_int_equal(store_file_prune(st, g2), 0);
	assert_int_equal(store_file_get_id(st, kept_id, &g), 0);
	assert_int_equal(g.status, 3);
	store_file_clear(&g);
	assert_int_equal(store_audit_count(st, kept_id, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_file_get_id(st, ahead_id, &g), 0);
	store_file_clear(&g);

	/* a prune at a generation past every touch removes what is left;
	 * the pairs stay */
	assert_int_equal(store_file_prune(st, g1 + 6), 0);
	assert_int_equal(store_file_get_id(st, kept_id, &g), -ENOENT);
	assert_int_equal(store_file_get_id(st, ahead_id, &g), -ENOENT);
	assert_int_equal(store_audit_count(st, kept_id, &n), 0);
	assert_int_equal(n, 0);
	store_close(st);
	assert_int_equal(raw_i64("upsert.db", "SELECT count(*) FROM files"), 0);
	assert_int_equal(raw_i64("upsert.db", "SELECT count(*) FROM audit"), 0);
	assert_int_equal(raw_i64("upsert.db", "SELECT count(*) FROM patients "
				 "WHERE pseudonym = 'PSEUDO-A'"), 1);
	assert_int_equal(raw_i64("upsert.db", "SELECT count(*) FROM uids "
				 "WHERE pseudo = '2.25.9'"), 1);
	store_file_clear(&f);
}

static void test_dir_ino(void **state)
{
	uint64_t root, x, y, z, v;
	struct store *st;

	(void)state;
	st = open_new("dirs.db");
	assert_int_equal(store_dir_ino(st, "", &root), 0);
	assert_int_equal(store_dir_ino(st, "abc", &x), 0);
	assert_int_equal(store_dir_ino(st, "abc/2019", &y), 0);
	assert_int_equal(store_dir_ino(st, "abd", &z), 0);
	assert_true(root != 0 && x != 0 && y != 0 && z != 0);
	assert_true(root != x && root != y && root != z && x != y &&
		    x != z && y != z);
	assert_int_equal(store_dir_ino(st, "abc", &v), 0);
	assert_int_equal(v, x);
	store_close(st);

	assert_int_equal(store_open(dbpath("dirs.db"), 0, &st), 0);
	assert_int_equal(store_dir_ino(st, "abc/2019", &v), 0);
	assert_int_equal(v, y);
	assert_int_equal(store_dir_ino(st, "", &v), 0);
	assert_int_equal(v, root);
	assert_int_equal(store_dir_ino(st, NULL, &v), -EINVAL);
	store_close(st);
}

struct walk {
	struct store *st;
	int64_t last;
	int n;
	int stop_at;
};

static int walk_cb(void *arg, const struct store_file *f)
{
	struct walk *w = arg;
	struct store_file g;

	assert_true(f->id > w->last);
	w->last = f->id;
	/* the callback may use the store (no self-deadlock) */
	assert_int_equal(store_file_get_id(w->st, f->id, &g), 0);
	assert_string_equal(g.path, f->path);
	store_file_clear(&g);
	if (++w->n == w->stop_at)
		return 42;
	return 0;
}

static void test_foreach(void **state)
{
	struct walk w;
	struct store *st;
	char p[32];
	int i;

	(void)state;
	st = open_new("each.db");
	memset(&w, 0, sizeof(w));
	w.st = st;
	assert_int_equal(store_file_foreach(st, walk_cb, &w), 0);
	assert_int_equal(w.n, 0);

	/* more than a batch, inserted in descending path order */
	for (i = 150; i > 0; i--) {
		snprintf(p, sizeof(p), "f%03d", i);
		put_path(st, p);
	}
	memset(&w, 0, sizeof(w));
	w.st = st;
	assert_int_equal(store_file_foreach(st, walk_cb, &w), 0);
	assert_int_equal(w.n, 150);

	memset(&w, 0, sizeof(w));
	w.st = st;
	w.stop_at = 100;
	assert_int_equal(store_file_foreach(st, walk_cb, &w), 42);
	assert_int_equal(w.n, 100);
	store_close(st);
}

/* What the view does with the index: keep every record.  With
 * store_file_foreach_take() it takes them whole instead of copying their
 * strings; every other one is left to the store, and one gives up only its
 * path. */
struct keep {
	struct store_file *v;
	size_t n, cap;
	int seen;
	char *path_only;	/* taken from record 3 alone */
	int stop_at;
};

static int keep_cb(void *arg, struct store_file *f)
{
	struct keep *k = arg;

	k->seen++;
	if (k->seen == 3) {
		k->path_only = f->path;		/* the rest stays the store's */
		f->path = NULL;
	} else if (k->seen % 2) {
		assert_true(k->n < k->cap);
		store_file_move(&k->v[k->n++], f);
		assert_null(f->path);		/* left empty */
		assert_int_equal(f->id, 0);
	}
	return k->seen == k->stop_at ? 42 : 0;
}

static void test_foreach_take(void **state)
{
	struct store_file f, g;
	struct store *st;
	struct keep k;
	char p[32];
	int64_t ids[150];
	size_t i;

	(void)state;
	st = open_new("take.db");
	for (i = 0; i < 150; i++) {	/* more than a batch */
		snprintf(p, sizeof(p), "t/%03zu.dcm", i);
		full_record(&f, p);
		assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL,
						0), 0);
		ids[i] = f.id;
		store_file_clear(&f);
	}
	memset(&k, 0, sizeof(k));
	k.cap = 150;
	k.v = calloc(k.cap, sizeof(*k.v));
	assert_non_null(k.v);
	assert_int_equal(store_file_foreach_take(st, keep_cb, &k), 0);
	assert_int_equal(k.seen, 150);
	assert_int_equal(k.n, 74);	/* odd records but the third */
	assert_string_equal(k.path_only, "t/002.dcm");
	free(k.path_only);

	/* the taken records are whole, and outlive the store */
	for (i = 0; i < k.n; i++) {
		assert_int_equal(store_file_get_id(st, k.v[i].id, &g), 0);
		assert_same(&k.v[i], &g);
		store_file_clear(&g);
	}
	store_close(st);
	for (i = 0; i < k.n; i++) {
		size_t j = i < 1 ? 0 : 2 * i + 2;	/* seen 1, 5, 7, ... */

		assert_int_equal(k.v[i].id, ids[j]);
		snprintf(p, sizeof(p), "t/%03zu.dcm", j);
		assert_string_equal(k.v[i].path, p);
		assert_string_equal(k.v[i].patient_id, "12345678901");
		store_file_clear(&k.v[i]);
	}

	/* a stop is returned; what was taken is still the caller's */
	assert_int_equal(store_open(dbpath("take.db"), 0, &st), 0);
	memset(k.v, 0, k.cap * sizeof(*k.v));
	k.n = 0;
	k.seen = 0;
	k.stop_at = 70;
	assert_int_equal(store_file_foreach_take(st, keep_cb, &k), 42);
	assert_int_equal(k.seen, 70);
	free(k.path_only);
	for (i = 0; i < k.n; i++)
		store_file_clear(&k.v[i]);
	assert_int_equal(store_file_foreach_take(st, NULL, &k), -EINVAL);
	store_close(st);

	/* a move frees what dst held; a move onto itself changes nothing */
	full_record(&f, "a");
	full_record(&g, "b");
	store_file_move(&f, &g);
	assert_string_equal(f.path, "b");
	assert_null(g.path);
	store_file_move(&f, &f);
	assert_string_equal(f.path, "b");
	store_file_clear(&f);
	free(k.v);
}

static void test_transactions(void **state)
{
	struct store_pair p1 = { "111", "pseudo-1" };
	struct store_pair p2 = { "222", "pseudo-1" };	/* collision */
	struct store_file f, g;
	struct store *st, *other;

	(void)state;
	st = open_new("txn.db");
	assert_int_equal(store_open(dbpath("txn.db"), 0, &other), 0);
	assert_int_equal(store_commit(st), -EINVAL);

	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_begin(st), 0);
	memset(&f, 0, sizeof(f));
	f.path = strdup("t1");
	assert_int_equal(store_file_put(st, &f, NULL, 0, &p1, 1, NULL, 0), 0);
	assert_int_equal(store_commit(st), 0);		/* inner */
	assert_int_equal(store_file_get(other, "t1", &g), -ENOENT);

	/* a failing put inside the transaction undoes only itself */
	free(f.path);
	f.path = strdup("t2");
	assert_int_equal(store_file_put(st, &f, NULL, 0, &p2, 1, NULL, 0),
			 -EEXIST);
	assert_int_equal(store_file_get(st, "t2", &g), -ENOENT);
	assert_int_equal(store_file_get(st, "t1", &g), 0);
	store_file_clear(&g);

	assert_int_equal(store_commit(st), 0);		/* outer */
	assert_int_equal(store_file_get(other, "t1", &g), 0);
	store_file_clear(&g);
	assert_int_equal(store_file_get(other, "t2", &g), -ENOENT);
	assert_int_equal(store_commit(st), -EINVAL);

	/* the same pair again is fine; a collision outside a txn too */
	assert_int_equal(store_file_put(st, &f, NULL, 0, &p1, 1, &p1, 1), 0);
	free(f.path);
	f.path = strdup("t3");
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, &p2, 1),
			 -EEXIST);
	assert_int_equal(store_file_get(other, "t3", &g), -ENOENT);

	/* an unfinished transaction is rolled back at close */
	assert_int_equal(store_begin(st), 0);
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	store_close(st);
	assert_int_equal(store_file_get(other, "t3", &g), -ENOENT);
	store_file_clear(&f);
	store_close(other);
}

/* ---- a writer killed mid-transaction ---------------------------------- */

#define KILL_AUDIT 4		/* audit rows of every put */
#define KILL_BLOB 16384		/* bytes of each: 64 KiB a put */
#define KILL_BATCH 40		/* puts of a committed store_begin() batch */

/* One put of the killed writer: record i, its audit rows, its pairs. */
static int kill_put(struct store *st, int i, const uint8_t *blob)
{
	struct store_audit a[KILL_AUDIT];
	struct store_pair pat, uid;
	char path[32], pid[32], pseudo[32], orig[32], rep[32];
	struct store_file f;
	int k, err;

	snprintf(path, sizeof(path), "k/%06d.dcm", i);
	snprintf(pid, sizeof(pid), "%011d", i);
	snprintf(pseudo, sizeof(pseudo), "P%015d", i);
	snprintf(orig, sizeof(orig), "1.2.%d", i);
	snprintf(rep, sizeof(rep), "2.25.%d", i);
	for (k = 0; k < KILL_AUDIT; k++) {
		snprintf(a[k].path, sizeof(a[k].path), "00100010");
		snprintf(a[k].action, sizeof(a[k].action), "Z");
		a[k].old = (void *)blob;
		a[k].oldlen = KILL_BLOB;
		a[k].newv = NULL;
		a[k].newlen = 0;
	}
	pat.orig = pid;
	pat.pseudo = pseudo;
	uid.orig = orig;
	uid.pseudo = rep;
	memset(&f, 0, sizeof(f));
	f.path = path;
	f.patient_id = pid;
	f.pseudonym = pseudo;
	f.sop_uid = rep;
	err = store_file_put(st, &f, a, KILL_AUDIT, &pat, 1, &uid, 1);
	return err;	/* f's strings are ours on the stack: no clear */
}

/*
 * The child: KILL_BATCH puts committed in one store_begin() batch, then
 * one put after another in their own transactions (with txn) or all in
 * one transaction never committed (without): it says "ready" on fd after
 * ready_after puts and goes on until it is killed.  Never returns; no
 * cmocka in here.
 */
static void kill_writer(const char *path, int fd, int ready_after, int txn)
{
	static uint8_t blob[KILL_BLOB];
	struct store *st;
	int i;

	memset(blob, 0xa5, sizeof(blob));
	if (store_open(path, 0, &st))
		_exit(2);
	if (store_begin(st))
		_exit(3);
	for (i = 0; i < KILL_BATCH; i++)
		if (kill_put(st, i, blob))
			_exit(4);
	if (store_commit(st) || (!txn && store_begin(st)))
		_exit(5);
	for (; ; i++) {
		if (kill_put(st, i, blob))
			_exit(6);
		if (i == ready_after && write(fd, "r", 1) != 1)
			_exit(7);
	}
}

/* Whether every record has all its audit rows and pairs, and nothing is
 * left of a record that is not there.  Returns the number of records. */
static int64_t check_consistent(const char *name)
{
	assert_int_equal(raw_i64(name, "SELECT count(*) FROM files f WHERE "
		"(SELECT count(*) FROM audit WHERE file_id = f.id) != 4"), 0);
	assert_int_equal(raw_i64(name, "SELECT count(*) FROM audit WHERE "
		"file_id NOT IN (SELECT id FROM files)"), 0);
	assert_int_equal(raw_i64(name, "SELECT count(*) FROM files WHERE "
		"pseudonym NOT IN (SELECT pseudonym FROM patients)"), 0);
	assert_int_equal(raw_i64(name, "SELECT count(*) FROM files WHERE "
		"sop_uid NOT IN (SELECT pseudo FROM uids)"), 0);
	assert_int_equal(raw_i64(name, "SELECT count(*) FROM patients WHERE "
		"pseudonym NOT IN (SELECT pseudonym FROM files)"), 0);
	return raw_i64(name, "SELECT count(*) FROM files");
}

/* Start the writer, wait for its "ready", let it write delay_ms longer
 * and kill it with SIGKILL. */
static void run_and_kill(const char *name, int ready_after, int txn,
			 int delay_ms)
{
	struct timespec ts = { 0, (long)delay_ms * 1000000L };
	int fds[2], status;
	char c;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		kill_writer(dbpath(name), fds[1], ready_after, txn);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);	/* EOF: it failed */
	close(fds[0]);
	nanosleep(&ts, NULL);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/*
 * A db whose writer is killed (SIGKILL: no cleanup, no close) is whole
 * afterwards: it opens (integrity_check included), every record has all
 * its audit rows and pairs, a transaction that was not committed left
 * nothing although its pages were already in the WAL, and the db takes
 * new writes.
 */
static void test_killed_writer(void **state)
{
	struct store *st;
	struct stat sb;
	int64_t n, gen, id;

	(void)state;
	/* killed inside one large transaction: only the batch is there */
	st = open_new("killed.db");
	store_close(st);
	run_and_kill("killed.db", KILL_BATCH + 400, 0, 0);
	assert_int_equal(stat(dbpath("killed.db-wal"), &sb), 0);
	/* 400 uncommitted puts of 64 KiB spilled past the 16 MiB cache */
	assert_true(sb.st_size > 8 * 1024 * 1024);
	assert_int_equal(store_open(dbpath("killed.db"), 0, &st), 0);
	store_close(st);
	assert_int_equal(check_consistent("killed.db"), KILL_BATCH);

	/* killed at any moment between puts of their own */
	run_and_kill("killed.db", KILL_BATCH + 20, 1, 7);
	assert_int_equal(store_open(dbpath("killed.db"), 0, &st), 0);
	store_close(st);
	n = check_consistent("killed.db");
	assert_true(n > KILL_BATCH + 20);

	/* and it goes on */
	assert_int_equal(store_open(dbpath("killed.db"), 0, &st), 0);
	assert_int_equal(store_next_generation(st, &gen), 0);
	id = put_path(st, "after");
	assert_true(id > n);
	assert_int_equal(store_file_prune(st, gen), 0);
	store_close(st);
	assert_int_equal(raw_i64("killed.db", "SELECT count(*) FROM files"), 1);
}

static void test_settings(void **state)
{
	struct store *st;
	char buf[16];

	(void)state;
	st = open_new("set.db");
	assert_int_equal(store_setting_get(st, "opts", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(store_setting_set(st, "opts", "v1"), 0);
	assert_int_equal(store_setting_get(st, "opts", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "v1");
	assert_int_equal(store_setting_set(st, "opts", "0123456789abcde"), 0);
	assert_int_equal(store_setting_get(st, "opts", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0123456789abcde");
	assert_int_equal(store_setting_set(st, "opts", "0123456789abcdef"), 0);
	assert_int_equal(store_setting_get(st, "opts", buf, sizeof(buf)),
			 -ERANGE);
	assert_int_equal(store_setting_set(st, "empty", ""), 0);
	store_close(st);

	assert_int_equal(store_open(dbpath("set.db"), 0, &st), 0);
	assert_int_equal(store_setting_get(st, "empty", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(store_setting_set(st, "opts", NULL), 0);
	assert_int_equal(store_setting_get(st, "opts", buf, sizeof(buf)),
			 -ENOENT);
	store_close(st);
}

/* A record of path with size sz (a new version when sz changes). */
static void merge_put(struct store *st, const char *path, uint64_t sz,
		      size_t naudit)
{
	struct store_audit a[2];
	struct store_file f;
	size_t i;

	memset(&f, 0, sizeof(f));
	memset(a, 0, sizeof(a));
	f.path = strdup(path);
	f.src_size = sz;
	f.out_size = sz;
	f.series_number = STORE_MISSING;
	f.instance_number = STORE_MISSING;
	for (i = 0; i < naudit; i++) {
		snprintf(a[i].path, sizeof(a[i].path), "0010001%zu", i);
		snprintf(a[i].action, sizeof(a[i].action), "X");
		a[i].old = (void *)path;
		a[i].oldlen = strlen(path);
	}
	assert_int_equal(store_file_put(st, &f, a, naudit, NULL, 0, NULL, 0),
			 0);
	store_file_clear(&f);
}

static int64_t id_of(struct store *st, const char *path)
{
	struct store_file f;
	int64_t id;

	assert_int_equal(store_file_get(st, path, &f), 0);
	id = f.id;
	store_file_clear(&f);
	return id;
}

/*
 * store_shard_merge(): the shards' records get the ids one machine's puts
 * in walk order would give them ('/' before any other byte; a record put
 * again keeps its id and takes a number), their audit rows replace the
 * old ones; a shard of another key is refused before anything is copied.
 */
static void test_shard_merge(void **state)
{
	static const char *walk[] = { "a/y.dcm", "a/z.dcm", "a.dcm",
				      "b/x.dcm" };
	const char *paths[2];
	char p0[512], p1[512];
	uint8_t key[KEYED_KEY_LEN];
	struct store *p, *q, *s0, *s1, *x;
	uint64_t merged, seen;
	int64_t gen, n;
	int lost;
	size_t i;

	(void)state;
	p = open_new("m-project.db");
	assert_int_equal(store_key(p, key), 0);
	merge_put(p, "b/x.dcm", 10, 1);
	/* one machine: the same start, then its puts in walk order */
	q = open_new("m-one.db");
	assert_int_equal(store_shard_rekey(q, key), 0);
	merge_put(q, "b/x.dcm", 10, 1);
	for (i = 0; i < 4; i++)
		merge_put(q, walk[i], i == 3 ? 11 : 1, 2);
	/* the shards: any split, any order within one */
	s0 = open_new("m-project.db.shard-0-of-2");
	s1 = open_new("m-project.db.shard-1-of-2");
	assert_int_equal(store_shard_rekey(s0, key), 0);
	assert_int_equal(store_shard_rekey(s1, key), 0);
	merge_put(s0, "b/x.dcm", 11, 2);
	merge_put(s0, "a/z.dcm", 1, 2);
	merge_put(s1, "a.dcm", 1, 2);
	merge_put(s1, "a/y.dcm", 1, 2);
	store_close(s0);
	store_close(s1);
	snprintf(p0, sizeof(p0), "%s", dbpath("m-project.db.shard-0-of-2"));
	snprintf(p1, sizeof(p1), "%s", dbpath("m-project.db.shard-1-of-2"));
	paths[0] = p0;
	paths[1] = p1;
	assert_int_equal(store_next_generation(p, &gen), 0);
	assert_int_equal(store_shard_merge(p, paths, 2, gen, &merged, &seen,
					   &lost), 0);
	assert_int_equal(merged, 4);
	assert_int_equal(seen, 0);
	assert_int_equal(lost, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(id_of(p, walk[i]), id_of(q, walk[i]));
	assert_int_equal(store_audit_count(p, id_of(p, "b/x.dcm"), &n), 0);
	assert_int_equal(n, 2);
	/* the next new file gets the number one machine would give it */
	merge_put(p, "c.dcm", 1, 0);
	merge_put(q, "c.dcm", 1, 0);
	assert_int_equal(id_of(p, "c.dcm"), id_of(q, "c.dcm"));
	/* another project's shard */
	x = open_new("m-project.db.shard-0-of-1");
	merge_put(x, "d.dcm", 1, 0);
	store_close(x);
	snprintf(p0, sizeof(p0), "%s", dbpath("m-project.db.shard-0-of-1"));
	assert_int_equal(store_shard_merge(p, paths, 1, gen, &merged, &seen,
					   &lost), -EBADMSG);
	assert_int_equal(store_file_get(p, "d.dcm", &(struct store_file){ 0 }),
			 -ENOENT);
	store_close(p);
	store_close(q);
}

/* The snapshot's bytes: a pattern any piece of which tells its offset. */
static void snap_fill(void *arg, void *buf, size_t len)
{
	uint64_t *at = arg;
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++, (*at)++)
		p[i] = (unsigned char)(*at * 7 + (*at >> 13));
}

/* The view's snapshot (store_snap_*): written only at the view generation
 * it was taken at, read back across its parts; the generation moves with
 * every change to what a view is built from, and not with what a build or
 * a refresh of an unchanged tree writes. */
static void test_snapshot_store(void **state)
{
	struct store_file f;
	struct store *st;
	int64_t g0, g1, g2, id;
	uint64_t at = 0, ino, total = STORE_SNAP_PART + (8u << 20);
	unsigned char got[64], want[64];

	(void)state;
	st = open_new("snap.db");
	assert_int_equal(store_view_gen(st, &g0), 0);
	full_record(&f, "p/1.dcm");
	assert_int_equal(store_file_put(st, &f, NULL, 0, NULL, 0, NULL, 0), 0);
	store_file_clear(&f);
	assert_int_equal(store_view_gen(st, &g1), 0);
	assert_true(g1 > g0);
	/* taken before the put: refused, nothing written */
	assert_int_equal(store_snap_write(st, g0, 100, snap_fill, &at),
			 -ESTALE);
	assert_int_equal(store_snap_read(st, 0, got, 1), -ENOENT);

	/* two parts, read across the seam */
	at = 0;
	assert_int_equal(store_snap_write(st, g1, total, snap_fill, &at), 0);
	at = STORE_SNAP_PART - 32;
	snap_fill(&at, want, sizeof(want));
	assert_int_equal(store_snap_read(st, STORE_SNAP_PART - 32, got,
					 sizeof(got)), 0);
	assert_memory_equal(got, want, sizeof(got));
	assert_int_equal(store_snap_read(st, total - 8, got, 16), -EBADMSG);

	/* an unchanged refresh's mark and a new folder move nothing; a
	 * view path written moves it by one (view_snap.c counts them) */
	assert_int_equal(store_file_get(st, "p/1.dcm", &f), 0);
	id = f.id;
	store_file_clear(&f);
	assert_int_equal(store_file_touch(st, id, 99), 0);
	assert_int_equal(store_dir_ino(st, "A", &ino), 0);
	assert_int_equal(store_view_gen(st, &g2), 0);
	assert_true(g2 == g1);
	assert_int_equal(store_file_set_view_path(st, id, "A/b.dcm"), 0);
	assert_int_equal(store_view_gen(st, &g2), 0);
	assert_true(g2 == g1 + 1);
	g1 = g2;
	/* a field of the row, by hand, does */
	store_close(st);
	raw_sql("snap.db", "UPDATE files SET modality = 'CT'");
	assert_int_equal(store_open(dbpath("snap.db"), 0, &st), 0);
	assert_int_equal(store_view_gen(st, &g2), 0);
	assert_true(g2 > g1);
	store_close(st);
	/* a trigger dropped by hand: no generation, so no snapshot */
	raw_sql("snap.db", "DROP TRIGGER view_gen_scans_upd");
	assert_int_equal(store_open(dbpath("snap.db"), 0, &st), 0);
	assert_int_equal(store_view_gen(st, &g2), -ENOENT);
	assert_int_equal(store_snap_write(st, g2, 100, snap_fill, &at),
			 -ENOENT);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_mode),
		cmocka_unit_test(test_key_stable),
		cmocka_unit_test(test_detach_attach),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_key_check),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_put_twice),
		cmocka_unit_test(test_upgrade_v1),
		cmocka_unit_test(test_upgrade_v1_schema),
		cmocka_unit_test(test_upgrade_atomic),
		cmocka_unit_test(test_upgrade_v2),
		cmocka_unit_test(test_snapshot_store),
		cmocka_unit_test(test_registry_values),
		cmocka_unit_test(test_audit_replaced),
		cmocka_unit_test(test_generations),
		cmocka_unit_test(test_upsert_prune),
		cmocka_unit_test(test_dir_ino),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_foreach_take),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_settings),
		cmocka_unit_test(test_killed_writer),
		cmocka_unit_test(test_shard_merge),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
