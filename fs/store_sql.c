/*
 * store_sql.c - the plumbing every store module uses (store_sql.h): the
 * prepared statements of all modules, sqlite's errors as negative errnos,
 * binding and reading values, write units; and the public transactions,
 * store_begin() and store_commit() (store.h).
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"

const struct store_stmt_sql store_sql_stmts[] = {
	{ STORE_STMT_BEGIN, "BEGIN IMMEDIATE" },
	{ STORE_STMT_COMMIT, "COMMIT" },
	{ STORE_STMT_ROLLBACK, "ROLLBACK" },
	{ STORE_STMT_SAVEPOINT, "SAVEPOINT store_unit" },
	{ STORE_STMT_RELEASE, "RELEASE store_unit" },
	{ STORE_STMT_ROLLBACK_TO, "ROLLBACK TO store_unit" },
	{ 0, NULL }
};

/* ---------------------------------------------------------------------- */
/* errors                                                                 */

int store_sql_map_errno(int e)
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

int store_sql_map_rc(sqlite3 *db, int rc)
{
	/* our commit hook found the db damaged (store_open_lazy()) */
	if (rc == SQLITE_CONSTRAINT_COMMITHOOK)
		return -EBADMSG;
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
		if (!db)
			return -EIO;
		return store_sql_map_errno(sqlite3_system_errno(db));
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

/* ---------------------------------------------------------------------- */
/* statements                                                             */

int store_sql_prepare_all(struct store *st)
{
	static const struct store_stmt_sql *const tables[] = {
		store_sql_stmts, store_index_stmts, store_audit_stmts,
		store_map_stmts, store_settings_stmts, store_scan_stmts,
	};
	const struct store_stmt_sql *t;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		for (t = tables[i]; t->sql; t++) {
			assert(t->id < STORE_STMT_COUNT && !st->stmt[t->id]);
			rc = sqlite3_prepare_v3(st->db, t->sql, -1,
						SQLITE_PREPARE_PERSISTENT,
						&st->stmt[t->id], NULL);
			if (rc == SQLITE_ERROR)
				return -EBADMSG;	/* a table or column
							 * is missing */
			if (rc != SQLITE_OK)
				return store_sql_map_rc(st->db, rc);
		}
	}
	for (i = 0; i < STORE_STMT_COUNT; i++)
		assert(st->stmt[i]);	/* every id has its SQL */
	return 0;
}

void store_sql_finalize_all(struct store *st)
{
	int i;

	for (i = 0; i < STORE_STMT_COUNT; i++) {
		sqlite3_finalize(st->stmt[i]);	/* harmless on NULL */
		st->stmt[i] = NULL;
	}
}

sqlite3_stmt *store_sql_stmt(struct store *st, enum store_stmt id)
{
	return st->stmt[id];
}

void store_sql_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int store_sql_run(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	int err = rc == SQLITE_DONE ? 0 :
		  rc == SQLITE_ROW ? -EIO : store_sql_map_rc(st->db, rc);

	store_sql_done(s);
	return err;
}

int store_sql_exec_id(struct store *st, enum store_stmt id)
{
	return store_sql_run(st, store_sql_stmt(st, id));
}

int store_sql_run_i64(struct store *st, enum store_stmt id, int64_t v)
{
	sqlite3_stmt *s = store_sql_stmt(st, id);
	int err = store_sql_bind_i64(st, s, 1, v);

	if (err) {
		store_sql_done(s);
		return err;
	}
	return store_sql_run(st, s);
}

int store_sql_step(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_sql_map_rc(st->db, rc);
}

int store_sql_exec(struct store *st, const char *sql)
{
	return store_sql_map_rc(st->db,
				sqlite3_exec(st->db, sql, NULL, NULL, NULL));
}

int store_sql_prepare_once(struct store *st, const char *sql,
			   sqlite3_stmt **s)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);

	if (rc == SQLITE_ERROR)
		return -EBADMSG;
	return store_sql_map_rc(st->db, rc);
}

/* ---------------------------------------------------------------------- */
/* values                                                                 */

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

int store_sql_bind_blob(struct store *st, sqlite3_stmt *s, int i,
			const void *p, size_t n)
{
	int rc;

	if (n > INT_MAX)
		return -EINVAL;
	if (!p)
		rc = sqlite3_bind_null(s, i);
	else
		rc = sqlite3_bind_blob(s, i, p, (int)n, SQLITE_STATIC);
	return store_sql_map_rc(st->db, rc);
}

int store_sql_bind_path(struct store *st, sqlite3_stmt *s, int i,
			const char *p)
{
	return store_sql_bind_blob(st, s, i, p, p ? strlen(p) : 0);
}

int store_sql_bind_str(struct store *st, sqlite3_stmt *s, int i,
		       const char *p)
{
	size_t n;

	if (!p)
		return store_sql_map_rc(st->db, sqlite3_bind_null(s, i));
	n = strlen(p);
	if (n > INT_MAX)
		return -EINVAL;
	if (!utf8_valid((const unsigned char *)p, n))
		return store_sql_bind_blob(st, s, i, p, n);
	return store_sql_map_rc(st->db, sqlite3_bind_text(s, i, p, (int)n,
							  SQLITE_STATIC));
}

int store_sql_bind_i64(struct store *st, sqlite3_stmt *s, int i, int64_t v)
{
	return store_sql_map_rc(st->db, sqlite3_bind_int64(s, i, v));
}

int store_sql_bind_opt_i64(struct store *st, sqlite3_stmt *s, int i,
			   int64_t v)
{
	if (v == STORE_MISSING)
		return store_sql_map_rc(st->db, sqlite3_bind_null(s, i));
	return store_sql_bind_i64(st, s, i, v);
}

int store_sql_col_bytes(sqlite3_stmt *s, int i, const void **p, size_t *len)
{
	int n;

	*p = NULL;
	*len = 0;
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return 0;
	*p = sqlite3_column_blob(s, i);	/* before _bytes, per the docs */
	n = sqlite3_column_bytes(s, i);
	if (n < 0 || (n && !*p))
		return -ENOMEM;
	if (n && memchr(*p, '\0', (size_t)n))
		return -EIO;
	if (!n)
		*p = "";
	*len = (size_t)n;
	return 0;
}

int store_sql_col_str(sqlite3_stmt *s, int i, char **out)
{
	const void *p;
	size_t n;
	int err;

	*out = NULL;
	err = store_sql_col_bytes(s, i, &p, &n);
	if (err || !p)
		return err;
	*out = malloc(n + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, p, n);
	(*out)[n] = '\0';
	return 0;
}

int64_t store_sql_col_opt_i64(sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return STORE_MISSING;
	return sqlite3_column_int64(s, i);
}

int store_sql_col_equals(sqlite3_stmt *s, int i, const char *v)
{
	const void *p = sqlite3_column_blob(s, i);
	size_t len = (size_t)sqlite3_column_bytes(s, i);

	return len == strlen(v) && (!len || !memcmp(p, v, len));
}

/* ---------------------------------------------------------------------- */
/* transactions                                                           */

/* The end of an outermost transaction, by prepared statement. */
static int txn_end(struct store *st, int err)
{
	if (!err)
		err = store_sql_exec_id(st, STORE_STMT_COMMIT);
	if (err && !sqlite3_get_autocommit(st->db))
		store_sql_exec_id(st, STORE_STMT_ROLLBACK);
	return err;
}

int store_sql_exec_end(struct store *st, int err)
{
	if (!err)
		err = store_sql_exec(st, "COMMIT");
	if (err && !sqlite3_get_autocommit(st->db))
		store_sql_exec(st, "ROLLBACK");
	return err;
}

int store_sql_unit_begin(struct store *st)
{
	if (st->depth) {
		/* sqlite rolled the outer transaction back (e.g. disk full) */
		if (sqlite3_get_autocommit(st->db))
			return -EIO;
		return store_sql_exec_id(st, STORE_STMT_SAVEPOINT);
	}
	return store_sql_exec_id(st, STORE_STMT_BEGIN);
}

int store_sql_unit_end(struct store *st, int err)
{
	int e;

	if (!st->depth)
		return txn_end(st, err);
	if (err)	/* the savepoint may be gone with the outer txn */
		store_sql_exec_id(st, STORE_STMT_ROLLBACK_TO);
	if (!sqlite3_get_autocommit(st->db)) {
		e = store_sql_exec_id(st, STORE_STMT_RELEASE);
		if (!err)
			err = e;
	}
	return err;
}

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
		err = store_sql_exec_id(st, STORE_STMT_BEGIN);
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
	err = txn_end(st, 0);
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}
