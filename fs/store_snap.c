/*
 * store_snap.c - the view's snapshot in the db (store.h: store_view_gen(),
 * store_snap_write(), store_snap_read()).  The stream is cut into rows of
 * view_snap(part, data), STORE_SNAP_PART bytes each but the last, written
 * and read with sqlite's incremental blob I/O: no part is ever held in
 * memory whole, and a read lands where the caller wants it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"

/* The bytes fill gives at a time, into one buffer. */
#define FILL_CHUNK (1u << 20)

/* The view generation, only while all eight triggers that bump it are
 * there (store_schema.c): one dropped by hand would let a changed index
 * pass for the same. */
static int view_gen_locked(struct store *st, int64_t *gen)
{
	sqlite3_stmt *s = NULL;
	int err, r;

	err = store_sql_prepare_once(st, "SELECT v FROM meta WHERE "
					 "k = 'view_gen' AND (SELECT count(*) "
					 "FROM sqlite_master WHERE type = "
					 "'trigger' AND name IN ("
					 "'view_gen_files_ins', "
					 "'view_gen_files_del', "
					 "'view_gen_files_upd', "
					 "'view_gen_scans_ins', "
					 "'view_gen_scans_del', "
					 "'view_gen_scans_upd', "
					 "'view_gen_dirs_del', "
					 "'view_gen_dirs_upd')) = 8", &s);
	if (err)
		return err;
	r = store_sql_step(st, s);
	if (r < 0)
		err = r;
	else if (r == 0 || sqlite3_column_type(s, 0) != SQLITE_INTEGER)
		err = -ENOENT;
	else
		*gen = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return err;
}

int store_view_gen(struct store *st, int64_t *gen)
{
	int err;

	if (!st || !gen)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = st->db ? view_gen_locked(st, gen) : -EIO;
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Part k of len bytes, from fill through buf. */
static int write_part(struct store *st, int64_t k, size_t len,
		      store_snap_fill_fn fill, void *arg, void *buf)
{
	sqlite3_stmt *s = NULL;
	sqlite3_blob *bl = NULL;
	size_t at = 0;
	int err;

	err = store_sql_prepare_once(st, "INSERT INTO view_snap(part, data) "
					 "VALUES(?1, zeroblob(?2))", &s);
	if (!err)
		err = store_sql_bind_i64(st, s, 1, k);
	if (!err)
		err = store_sql_bind_i64(st, s, 2, (int64_t)len);
	if (!err)
		err = store_sql_run(st, s);
	sqlite3_finalize(s);
	if (!err)
		err = store_sql_map_rc(st->db,
				       sqlite3_blob_open(st->db, "main",
							 "view_snap", "data",
							 k, 1, &bl));
	while (!err && at < len) {
		size_t n = len - at < FILL_CHUNK ? len - at : FILL_CHUNK;

		fill(arg, buf, n);
		err = store_sql_map_rc(st->db, sqlite3_blob_write(bl, buf,
								  (int)n,
								  (int)at));
		at += n;
	}
	if (bl) {
		int rc = sqlite3_blob_close(bl);

		if (!err)
			err = store_sql_map_rc(st->db, rc);
	}
	return err;
}

int store_snap_write(struct store *st, int64_t gen, uint64_t total,
		     store_snap_fill_fn fill, void *arg)
{
	int64_t now = 0, k;
	void *buf;
	int err;

	if (!st || !fill)
		return -EINVAL;
	buf = malloc(FILL_CHUNK);
	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&st->lock);
	if (!st->db) {
		err = -EIO;
		goto out;
	}
	if (st->depth) {
		err = -EBUSY;
		goto out;
	}
	err = store_sql_exec_id(st, STORE_STMT_BEGIN);
	if (err)
		goto out;
	err = view_gen_locked(st, &now);
	if (!err && now != gen)
		err = -ESTALE;
	if (!err)
		err = store_sql_exec(st, "DELETE FROM view_snap");
	for (k = 0; !err && (uint64_t)k * STORE_SNAP_PART < total; k++) {
		uint64_t left = total - (uint64_t)k * STORE_SNAP_PART;

		err = write_part(st, k,
				 left < STORE_SNAP_PART ? (size_t)left
							: STORE_SNAP_PART,
				 fill, arg, buf);
	}
	err = store_sql_exec_end(st, err);
out:
	pthread_mutex_unlock(&st->lock);
	free(buf);
	return err;
}

int store_snap_read(struct store *st, uint64_t off, void *buf, size_t n)
{
	sqlite3_blob *bl = NULL;
	int64_t open_part = -1;
	unsigned char *p = buf;
	int err = 0;

	if (!st || (!buf && n))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	if (!st->db)
		err = -EIO;
	while (!err && n) {
		int64_t k = (int64_t)(off / STORE_SNAP_PART);
		uint64_t in = off % STORE_SNAP_PART;
		size_t len = n < STORE_SNAP_PART - in ? n
						      : (size_t)(STORE_SNAP_PART - in);
		int rc;

		if (k != open_part) {
			rc = bl ? sqlite3_blob_reopen(bl, k)
				: sqlite3_blob_open(st->db, "main",
						    "view_snap", "data", k, 0,
						    &bl);
			if (rc == SQLITE_ERROR) {	/* no such row */
				err = off ? -EBADMSG : -ENOENT;
				break;
			}
			err = store_sql_map_rc(st->db, rc);
			if (err)
				break;
			open_part = k;
		}
		if (in + len > (uint64_t)sqlite3_blob_bytes(bl)) {
			err = -EBADMSG;
			break;
		}
		err = store_sql_map_rc(st->db, sqlite3_blob_read(bl, p,
								 (int)len,
								 (int)in));
		p += len;
		off += len;
		n -= len;
	}
	if (bl)
		sqlite3_blob_close(bl);
	pthread_mutex_unlock(&st->lock);
	return err;
}
