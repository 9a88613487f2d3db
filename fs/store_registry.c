/*
 * store_registry.c - the original values of the registry CSV's
 * identifying cells (store.h: store_registry_record(),
 * store_registry_foreach()), kept so that `deidfs verify` can search a
 * dataset for them given only the db, as it does the headers' originals
 * of the audit trail.  Table registry_values (schema version 3,
 * store_schema.c).
 *
 * A view build records the rows it writes; the setting
 * "registry.originals" holds a digest of what was recorded last, so an
 * unchanged CSV (every refresh of a mount) writes nothing.  Rows are only
 * ever added: a value an earlier CSV held stays identifying.  Statements
 * are prepared per call: they run once per build or per verify.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "store_sql.h"

#define DIGEST_KEY "registry.originals"

/* Whether the setting says digest was recorded: 1, 0, or -errno.  Under
 * st->lock. */
static int recorded(struct store *st, const char *digest)
{
	sqlite3_stmt *s = NULL;
	int err;

	err = store_sql_prepare_once(st, "SELECT 1 FROM settings WHERE k = ?1 "
				     "AND v = ?2", &s);
	if (!err)
		err = store_sql_bind_str(st, s, 1, DIGEST_KEY);
	if (!err)
		err = store_sql_bind_str(st, s, 2, digest);
	if (!err)
		err = store_sql_step(st, s);	/* 1: a row */
	sqlite3_finalize(s);
	return err;
}

static int insert_all(struct store *st, const char *digest,
		      const struct store_regval *vals, size_t n)
{
	sqlite3_stmt *s = NULL;
	size_t i;
	int err;

	err = store_sql_prepare_once(st, "INSERT OR IGNORE INTO "
				     "registry_values(patient_id, kind, value) "
				     "VALUES(?1, ?2, ?3)", &s);
	for (i = 0; !err && i < n; i++) {
		if (!vals[i].patient_id || !vals[i].len)
			continue;
		err = store_sql_bind_str(st, s, 1, vals[i].patient_id);
		if (!err)
			err = store_sql_bind_i64(st, s, 2, vals[i].kind);
		if (!err)
			err = store_sql_bind_blob(st, s, 3, vals[i].v,
						  vals[i].len);
		if (err)
			store_sql_done(s);
		else
			err = store_sql_run(st, s);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (!err)
		err = store_sql_prepare_once(st, "INSERT OR REPLACE INTO "
					     "settings(k, v) VALUES(?1, ?2)",
					     &s);
	if (!err)
		err = store_sql_bind_str(st, s, 1, DIGEST_KEY);
	if (!err)
		err = store_sql_bind_str(st, s, 2, digest);
	if (!err)
		err = store_sql_run(st, s);
	sqlite3_finalize(s);
	return err;
}

int store_registry_record(struct store *st, const char *digest,
			  const struct store_regval *vals, size_t n)
{
	int err;

	if (!st || !digest || (n && !vals))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (!st->db) {
		err = -EBADF;	/* detached */
		goto out;
	}
	err = recorded(st, digest);
	if (err) {
		err = err > 0 ? 0 : err;
		goto out;
	}
	err = store_sql_unit_begin(st);
	if (!err)
		err = store_sql_unit_end(st, insert_all(st, digest, vals, n));
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Rows are copied out in batches, so cb runs with no lock held and no
 * statement open: rows after the last rowid seen. */
#define BATCH 512

struct regrow {
	int64_t rowid;
	char *patient_id;
	int kind;
	void *v;
	size_t len;
};

static void rows_clear(struct regrow *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		base_wipe_str_free(r[i].patient_id);
		base_wipe_free(r[i].v, r[i].len);
	}
	memset(r, 0, n * sizeof(*r));
}

static int take(sqlite3_stmt *s, struct regrow *r)
{
	const void *p = sqlite3_column_blob(s, 3);
	int n = sqlite3_column_bytes(s, 3);
	int err;

	r->rowid = sqlite3_column_int64(s, 0);
	err = store_sql_col_str(s, 1, &r->patient_id);
	if (err)
		return err;
	r->kind = sqlite3_column_int(s, 2);
	if (n <= 0 || !p)
		return 0;
	r->v = malloc((size_t)n);
	if (!r->v)
		return -ENOMEM;
	memcpy(r->v, p, (size_t)n);
	r->len = (size_t)n;
	return 0;
}

static int batch(struct store *st, int64_t *last, struct regrow *rows,
		 size_t *n)
{
	sqlite3_stmt *s = NULL;
	int err, r = 0;

	*n = 0;
	pthread_mutex_lock(&st->lock);
	err = st->db ? 0 : -EBADF;
	if (!err)
		err = store_sql_prepare_once(st, "SELECT rowid, patient_id, "
					     "kind, value FROM registry_values "
					     "WHERE rowid > ?1 ORDER BY rowid "
					     "LIMIT ?2", &s);
	if (!err)
		err = store_sql_bind_i64(st, s, 1, *last);
	if (!err)
		err = store_sql_bind_i64(st, s, 2, BATCH);
	while (!err && (r = store_sql_step(st, s)) == 1) {
		err = take(s, &rows[*n]);
		*last = rows[*n].rowid;
		(*n)++;
	}
	if (!err && r < 0)
		err = r;
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_registry_foreach(struct store *st, store_regval_fn cb, void *arg)
{
	struct regrow *rows;
	int64_t last = 0;
	size_t n, i;
	int err;

	if (!st || !cb)
		return -EINVAL;
	rows = calloc(BATCH, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	do {
		err = batch(st, &last, rows, &n);
		for (i = 0; !err && i < n; i++)
			err = cb(arg, rows[i].patient_id, rows[i].kind,
				 rows[i].v, rows[i].len);
		rows_clear(rows, BATCH);
	} while (!err && n == BATCH);
	free(rows);
	return err;
}
