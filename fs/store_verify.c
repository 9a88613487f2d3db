/*
 * store_verify.c - reading back what the db recorded of the originals, for
 * `deidfs verify` (every value it must not find in a dataset) and `deidfs
 * lookup` (the identity behind a pseudonym or a file).  store.h has the
 * contracts.  Nothing here writes.
 *
 * These statements run rarely (once per verify or lookup, or once per UID
 * that is not a replacement), so they are prepared per call rather than
 * kept with the store's statements.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "store_sql.h"

/* Prepare sql under st->lock held by the caller. */
static int prep(struct store *st, const char *sql, sqlite3_stmt **s)
{
	*s = NULL;
	if (!st->db)
		return -EBADF;	/* detached */
	return store_sql_prepare_once(st, sql, s);
}

/*
 * The rows are copied out in batches, so the callback runs with no lock
 * held and no statement open (it may call the store): rows after the last
 * (file_id, seq) seen.
 */
#define VALUE_BATCH 512

struct vrow {
	int64_t file_id, seq;
	char path[96];
	char action[16];
	void *old;
	size_t oldlen;
};

static void vrows_clear(struct vrow *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		base_wipe_free(r[i].old, r[i].oldlen);
	memset(r, 0, n * sizeof(*r));
}

static int vrow_take(sqlite3_stmt *s, struct vrow *r)
{
	const void *t;
	const void *p;
	int n;

	memset(r, 0, sizeof(*r));
	r->file_id = sqlite3_column_int64(s, 0);
	r->seq = sqlite3_column_int64(s, 1);
	t = sqlite3_column_text(s, 2);
	if (t)
		snprintf(r->path, sizeof(r->path), "%s", (const char *)t);
	t = sqlite3_column_text(s, 3);
	if (t)
		snprintf(r->action, sizeof(r->action), "%s", (const char *)t);
	p = sqlite3_column_blob(s, 4);
	n = sqlite3_column_bytes(s, 4);
	if (n <= 0 || !p)
		return 0;
	r->old = malloc((size_t)n);
	if (!r->old)
		return -ENOMEM;
	memcpy(r->old, p, (size_t)n);
	r->oldlen = (size_t)n;
	return 0;
}

/* The next batch of audit rows with an old value (of file_id, or of every
 * file when file_id < 0) after (*last_f, *last_s). */
static int value_batch(struct store *st, int64_t file_id, int64_t *last_f,
		       int64_t *last_s, struct vrow *rows, size_t *n)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	*n = 0;
	pthread_mutex_lock(&st->lock);
	err = prep(st, "SELECT file_id, seq, path, action, old FROM audit "
		       "WHERE old IS NOT NULL AND (?1 < 0 OR file_id = ?1) "
		       "AND (file_id > ?2 OR (file_id = ?2 AND seq > ?3)) "
		       "ORDER BY file_id, seq LIMIT ?4", &s);
	if (!err && ((err = store_sql_bind_i64(st, s, 1, file_id)) ||
		     (err = store_sql_bind_i64(st, s, 2, *last_f)) ||
		     (err = store_sql_bind_i64(st, s, 3, *last_s)) ||
		     (err = store_sql_bind_i64(st, s, 4, VALUE_BATCH))))
		goto out;
	while (!err && (r = store_sql_step(st, s)) == 1) {
		err = vrow_take(s, &rows[*n]);
		if (!err) {
			*last_f = rows[*n].file_id;
			*last_s = rows[*n].seq;
			(*n)++;
		}
	}
	if (!err && r < 0)
		err = r;
out:
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_values_foreach(struct store *st, int64_t file_id,
			 store_value_fn cb, void *arg)
{
	struct vrow *rows;
	int64_t last_f = -1, last_s = -1;
	size_t n, i;
	int err;

	if (!st || !cb)
		return -EINVAL;
	rows = calloc(VALUE_BATCH, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	do {
		err = value_batch(st, file_id, &last_f, &last_s, rows, &n);
		for (i = 0; !err && i < n; i++)
			err = cb(arg, rows[i].file_id, rows[i].path,
				 rows[i].action, rows[i].old, rows[i].oldlen);
		vrows_clear(rows, VALUE_BATCH);
	} while (!err && n == VALUE_BATCH);
	free(rows);
	return err;
}

/* One integer result of sql with text ?1, into *out (-ENOENT: no row). */
static int query_i64(struct store *st, const char *sql, const char *v,
		     int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	pthread_mutex_lock(&st->lock);
	err = prep(st, sql, &s);
	if (!err)
		err = store_sql_bind_str(st, s, 1, v);
	if (!err) {
		r = store_sql_step(st, s);
		if (r < 0)
			err = r;
		else if (r == 0)
			err = -ENOENT;
		else
			*out = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_uid_class(struct store *st, const char *uid, int *cls)
{
	int64_t one;
	int err;

	if (!st || !uid || !cls)
		return -EINVAL;
	*cls = STORE_UID_UNKNOWN;
	err = query_i64(st, "SELECT 1 FROM uids WHERE pseudo = ?1", uid, &one);
	if (!err) {
		*cls = STORE_UID_REPLACEMENT;
		return 0;
	}
	if (err != -ENOENT)
		return err;
	/* no index on orig: a full scan, only for a UID that is not ours */
	err = query_i64(st, "SELECT 1 FROM uids WHERE orig = ?1 LIMIT 1", uid,
			&one);
	if (!err)
		*cls = STORE_UID_ORIGINAL;
	return err == -ENOENT ? 0 : err;
}

int store_file_by_view_path(struct store *st, const char *view_path,
			    struct store_file *f)
{
	int64_t id;
	int err;

	if (!st || !view_path || !f)
		return -EINVAL;
	err = query_i64(st, "SELECT id FROM files WHERE view_path = ?1",
			view_path, &id);
	if (err)
		return err;
	return store_file_get_id(st, id, f);
}

int store_patient_get(struct store *st, const char *pseudonym, char **id)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	if (!st || !pseudonym || !id)
		return -EINVAL;
	*id = NULL;
	pthread_mutex_lock(&st->lock);
	err = prep(st, "SELECT patient_id FROM patients WHERE pseudonym = ?1",
		   &s);
	if (!err)
		err = store_sql_bind_str(st, s, 1, pseudonym);
	if (!err) {
		r = store_sql_step(st, s);
		err = r < 0 ? r : r == 0 ? -ENOENT : store_sql_col_str(s, 0, id);
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_patient_file(struct store *st, const char *pseudonym,
		       int64_t *file_id)
{
	if (!st || !pseudonym || !file_id)
		return -EINVAL;
	return query_i64(st, "SELECT id FROM files WHERE pseudonym = ?1 "
			     "ORDER BY view_path IS NULL, id LIMIT 1",
			 pseudonym, file_id);
}
