/*
 * store_open.c - opening, creating and closing the project db, and
 * detaching from it across fork() (store.h: store_open(), store_close(),
 * store_detach(), store_attach(), store_key()).
 *
 * Only a db we made ourselves gets a new key: every db, new or not, is
 * opened and verified the same way (store_schema_verify()), and one that is
 * not ours is refused before anything in it is changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_schema.h"
#include "store_sql.h"

#define BUSY_TIMEOUT_MS 10000

/*
 * NORMAL is durable enough with WAL (a power cut may lose the last
 * transactions, never consistency).  secure_delete overwrites deleted rows,
 * which hold PHI (pruned records, replaced audit).  temp_store=MEMORY keeps
 * the savepoint sub-journals (copies of PHI pages) off the disk, and halves
 * the time of a batch of puts inside store_begin(); the larger cache
 * (16 MiB) helps the same batches.
 */
static const char tuning_sql[] =
	"PRAGMA synchronous=NORMAL; "
	"PRAGMA secure_delete=ON; "
	"PRAGMA temp_store=MEMORY; "
	"PRAGMA cache_size=-16384";

/* ---------------------------------------------------------------------- */
/* connections                                                            */

/*
 * Open an sqlite connection to an existing file at path into st->db (read
 * and write, never creating: we create dbs ourselves).  Returns 0 or the
 * error of sqlite's result code; st->db is NULL on error.
 */
static int connect_db(struct store *st, const char *path)
{
	int rc, err;

	rc = sqlite3_open_v2(path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = store_sql_map_rc(st->db, rc);
		sqlite3_close(st->db);		/* harmless on NULL */
		st->db = NULL;
		return err;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	return 0;
}

/* Close the connection and its statements (st->db may be NULL). */
static void disconnect_db(struct store *st)
{
	store_sql_finalize_all(st);
	sqlite3_close(st->db);
	st->db = NULL;
}

static int check_before_commit(void *arg);
static void note_write(void *arg, int op, const char *db, const char *table,
		       sqlite3_int64 rowid);

/* The connection of a verified db of the current schema, made ready for
 * the public calls. */
static int ready(struct store *st)
{
	int err = store_sql_exec(st, tuning_sql);

	if (st->check_pending) {
		sqlite3_update_hook(st->db, note_write, st);
		sqlite3_commit_hook(st->db, check_before_commit, st);
	}
	return err ? err : store_sql_prepare_all(st);
}

/* ---------------------------------------------------------------------- */
/* creation                                                               */

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
		return errno == EEXIST ? -EEXIST : store_sql_map_errno(errno);
	/* a filesystem without RENAME_NOREPLACE: link() is atomic too */
	if (link(tmp, path) == 0)
		return 0;
	return errno == EEXIST ? -EEXIST : store_sql_map_errno(errno);
}

/* An empty file of mode 0600 at tmp, whatever the umask (sqlite would use
 * 0644 & ~umask): the db is never, even briefly, readable by others. */
static int create_private(const char *tmp)
{
	int fd, err = 0;

	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return store_sql_map_errno(errno);
	if (fchmod(fd, 0600)) {
		err = store_sql_map_errno(errno);
		unlink(tmp);
	}
	close(fd);
	return err;
}

/* Fill the empty file tmp: WAL, schema, a fresh key; closed on return. */
static int build_db(struct store *st, const char *tmp)
{
	int err;

	err = connect_db(st, tmp);
	if (err)
		return err;
	/* WAL first, so the schema is written in its final mode. */
	err = store_sql_exec(st, "PRAGMA journal_mode=WAL");
	if (!err)
		err = store_schema_create(st);
	/* closing the last connection checkpoints and removes tmp-wal */
	if (sqlite3_close(st->db) != SQLITE_OK && !err)
		err = -EIO;
	st->db = NULL;
	return err;
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
	int err, n;

	if (access(path, F_OK) == 0 || errno != ENOENT)
		return -EEXIST;		/* opening will tell what it is */
	n = snprintf(tmp, sizeof(tmp), "%s.new-%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp) - 16)
		return -ENAMETOOLONG;
	unlink_db(tmp);			/* left by a killed run with our pid */
	err = create_private(tmp);
	if (err)
		return err;
	err = build_db(st, tmp);
	if (!err)
		err = place_noreplace(tmp, path);
	explicit_bzero(st->key, sizeof(st->key));
	unlink_db(tmp);
	return err;
}

/* ---------------------------------------------------------------------- */
/* open and close                                                         */

/* Whether st->path is still the file verified at open (note: record it
 * as that file).  Returns 1, 0 or -errno. */
static int same_file(struct store *st, int note)
{
	struct stat sb;

	if (stat(st->path, &sb))
		return store_sql_map_errno(errno);
	if (note) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
		return 0;
	}
	return sb.st_dev == st->dev && sb.st_ino == st->ino;
}

/* The journal mode is WAL (a db we made, or opened before). */
static int is_wal(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int r, wal = 0;

	if (store_sql_prepare_once(st, "PRAGMA journal_mode", &s))
		return 0;
	r = store_sql_step(st, s);
	if (r > 0 && sqlite3_column_text(s, 0))
		wal = !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	return wal;
}

/* sqlite's update hook (store_open_lazy()): a row is inserted, updated or
 * deleted, before its statement commits (every table of ours has row ids,
 * and every DELETE a WHERE, so no write escapes it). */
static void note_write(void *arg, int op, const char *db, const char *table,
		       sqlite3_int64 rowid)
{
	((struct store *)arg)->wrote = 1;
}

/*
 * sqlite's commit hook (store_open_lazy()): before the first transaction
 * that writes commits, integrity_check of the db as it was before it, on a
 * connection of its own (the hook must not use ours; in WAL mode it reads
 * the last committed state, beside our open write).  A db that fails turns
 * the commit into a rollback (SQLITE_CONSTRAINT_COMMITHOOK, -EBADMSG): in
 * WAL mode nothing reaches the db file.  Runs under st->lock (every write
 * does).
 */
static int check_before_commit(void *arg)
{
	struct store *st = arg;

	/* called for every transaction, and ours all begin IMMEDIATE:
	 * what tells a write is a row written (note_write()) */
	if (!st->check_pending || !st->wrote)
		return 0;
	if (store_schema_check_file(st->path))
		return 1;
	st->check_pending = 0;
	return 0;
}

/* Open the existing db at path into st: verified, upgraded, ready.  lazy:
 * see store_open_lazy(). */
static int open_existing(struct store *st, const char *path, int lazy)
{
	int err, fd, version = 0;

	/* sqlite would silently fall back to read-only; we want to know
	 * now, and to report a missing file as -ENOENT. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return store_sql_map_errno(errno);
	close(fd);
	st->path = strdup(path);
	if (!st->path)
		return -ENOMEM;
	err = connect_db(st, path);
	if (err)
		return err;
	/* Verify before changing anything in a file that may not be ours
	 * (journal_mode=WAL would rewrite its header).  Lazy only when
	 * nothing at all is written at open. */
	err = store_schema_verify_meta(st, &version);
	st->check_pending = !err && lazy && version == STORE_SCHEMA_VERSION &&
			    is_wal(st);
	if (!err && !st->check_pending)
		err = store_schema_verify(st, &version);
	if (!err)
		err = store_sql_exec(st, "PRAGMA journal_mode=WAL");
	if (!err && version < STORE_SCHEMA_VERSION)
		err = store_schema_upgrade(st);
	if (!err)
		err = same_file(st, 1);
	return err ? err : ready(st);
}

static int open_store(const char *path, int create, int lazy,
		      struct store **out)
{
	struct store *st = NULL;
	int err = 0;

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
	if (create) {
		err = create_db(st, path);
		if (err && err != -EEXIST)
			goto out;
	}
	err = open_existing(st, path, lazy);
out:
	if (err) {
		store_close(st);
		return err;
	}
	*out = st;
	return 0;
}

int store_open(const char *path, int create, struct store **out)
{
	return open_store(path, create, 0, out);
}

int store_open_lazy(const char *path, int create, struct store **out)
{
	return open_store(path, create, 1, out);
}

int store_check_pending(struct store *st)
{
	int pending;

	if (!st)
		return 0;
	pthread_mutex_lock(&st->lock);
	pending = st->check_pending;
	pthread_mutex_unlock(&st->lock);
	return pending;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	/* an unfinished store_begin() */
	if (st->db && !sqlite3_get_autocommit(st->db))
		store_sql_exec(st, "ROLLBACK");
	disconnect_db(st);
	explicit_bzero(st->key, sizeof(st->key));
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st);
}

/* ---------------------------------------------------------------------- */
/* across fork()                                                          */

int store_detach(struct store *st)
{
	int err = 0;

	pthread_mutex_lock(&st->lock);
	if (st->depth || !st->db)
		err = -EBUSY;
	else
		disconnect_db(st);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * The same db as before detach, not a file put in its place meanwhile (it
 * was upgraded when it was first opened).  The very file verified at open
 * (device and inode) is not checked page by page again: integrity_check
 * reads the whole db, a minute and more for millions of files, and the
 * mount attaches seconds after it opened.  Another file at the path is.
 */
static int reconnect(struct store *st, const uint8_t key[KEYED_KEY_LEN])
{
	int err, version = 0, same;

	err = connect_db(st, st->path);
	same = err ? 0 : same_file(st, 0);
	if (same < 0)
		err = same;
	else if (!err && same)
		err = store_schema_verify_meta(st, &version);
	else if (!err)
		err = store_schema_verify(st, &version);
	if (!err && (memcmp(key, st->key, KEYED_KEY_LEN) ||
		     version != STORE_SCHEMA_VERSION))
		err = -EBADMSG;
	return err ? err : ready(st);
}

int store_attach(struct store *st)
{
	uint8_t key[KEYED_KEY_LEN];
	int err = 0;

	pthread_mutex_lock(&st->lock);
	if (st->db)
		goto out;
	memcpy(key, st->key, sizeof(key));
	err = reconnect(st, key);
	if (err) {
		disconnect_db(st);
		memcpy(st->key, key, sizeof(key));
	}
	explicit_bzero(key, sizeof(key));
out:
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
