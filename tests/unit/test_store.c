/*
 * test_store.c - the project db: creation and refusal of foreign dbs, the
 * file index round trip, audit replacement, generations, directory inode
 * numbers, transactions and settings.  Each test works in its own file of
 * a fresh temporary directory.
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
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store.h"

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
}

static void assert_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same(const struct store_file *a, const struct store_file *b)
{
	assert_int_equal(a->id, b->id);
	assert_str_eq(a->path, b->path);
	assert_true(a->src_size == b->src_size);
	assert_true(a->src_mtime_ns == b->src_mtime_ns);
	assert_true(a->src_ino == b->src_ino);
	assert_true(a->src_ctime_ns == b->src_ctime_ns);
	assert_str_eq(a->opts, b->opts);
	assert_int_equal(a->status, b->status);
	assert_true(a->out_size == b->out_size);
	assert_true(a->header_len == b->header_len);
	assert_str_eq(a->patient_id, b->patient_id);
	assert_str_eq(a->study_date, b->study_date);
	assert_str_eq(a->pseudonym, b->pseudonym);
	assert_str_eq(a->study_uid, b->study_uid);
	assert_str_eq(a->series_uid, b->series_uid);
	assert_str_eq(a->sop_uid, b->sop_uid);
	assert_str_eq(a->modality, b->modality);
	assert_str_eq(a->laterality, b->laterality);
	assert_str_eq(a->view_position, b->view_position);
	assert_true(a->series_number == b->series_number);
	assert_true(a->instance_number == b->instance_number);
	assert_str_eq(a->view_path, b->view_path);
	assert_true(a->out_mtime_ns == b->out_mtime_ns);
	assert_str_eq(a->study_time, b->study_time);
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
	raw_sql("v1.db", "ALTER TABLE files DROP COLUMN src_ctime_ns; "
			 "ALTER TABLE files DROP COLUMN version; "
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
		a[i].path = paths[i];
		a[i].action = "X";
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_mode),
		cmocka_unit_test(test_key_stable),
		cmocka_unit_test(test_detach_attach),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_put_twice),
		cmocka_unit_test(test_upgrade_v1),
		cmocka_unit_test(test_audit_replaced),
		cmocka_unit_test(test_generations),
		cmocka_unit_test(test_dir_ino),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_foreach_take),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_settings),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
