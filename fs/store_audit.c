/*
 * store_audit.c - the audit trail (store_audit.h; store_audit_count() of
 * store.h).  Rows are replaced as a whole on every store_file_put(): the
 * trail says what the current version of each file was made from, and
 * secure_delete (store_open.c) overwrites the rows it replaces.
 */
#include <errno.h>
#include <time.h>

#include "store_audit.h"

const struct store_stmt_sql store_audit_stmts[] = {
	{ STORE_STMT_AUDIT_DELETE, "DELETE FROM audit WHERE file_id = ?1" },
	{ STORE_STMT_AUDIT_INSERT,
	  "INSERT INTO audit(file_id, seq, time, path, action, old, new) "
	  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
	{ STORE_STMT_AUDIT_COUNT,
	  "SELECT count(*) FROM audit WHERE file_id = ?1" },
	{ STORE_STMT_PRUNE_AUDIT,
	  "DELETE FROM audit WHERE file_id IN "
	  "(SELECT id FROM files WHERE gen < ?1)" },
	{ 0, NULL }
};

static int insert_row(struct store *st, int64_t file_id, size_t seq,
		      int64_t now, const struct store_audit *a)
{
	sqlite3_stmt *s = store_sql_stmt(st, STORE_STMT_AUDIT_INSERT);
	int err;

	if ((err = store_sql_bind_i64(st, s, 1, file_id)) ||
	    (err = store_sql_bind_i64(st, s, 2, (int64_t)seq)) ||
	    (err = store_sql_bind_i64(st, s, 3, now)) ||
	    (err = store_sql_bind_str(st, s, 4, a->path)) ||
	    (err = store_sql_bind_str(st, s, 5, a->action)) ||
	    (err = store_sql_bind_blob(st, s, 6, a->old, a->oldlen)) ||
	    (err = store_sql_bind_blob(st, s, 7, a->newv, a->newlen))) {
		store_sql_done(s);
		return err;
	}
	return store_sql_run(st, s);
}

int store_audit_replace(struct store *st, int64_t file_id,
			const struct store_audit *audit, size_t n)
{
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int err;

	err = store_sql_run_i64(st, STORE_STMT_AUDIT_DELETE, file_id);
	for (i = 0; !err && i < n; i++)
		err = insert_row(st, file_id, i, now, &audit[i]);
	return err;
}

int store_audit_prune(struct store *st, int64_t gen)
{
	return store_sql_run_i64(st, STORE_STMT_PRUNE_AUDIT, gen);
}

int store_audit_count(struct store *st, int64_t file_id, int64_t *n)
{
	sqlite3_stmt *s;
	int err, r;

	if (!st || !n)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = store_sql_stmt(st, STORE_STMT_AUDIT_COUNT);
	err = store_sql_bind_i64(st, s, 1, file_id);
	r = err ? err : store_sql_step(st, s);
	if (r == 1)
		*n = sqlite3_column_int64(s, 0);
	else
		err = r < 0 ? r : -EIO;
	store_sql_done(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}
