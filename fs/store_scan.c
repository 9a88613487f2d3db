/*
 * store_scan.c - the results of the burned-in text scan, kept per source
 * version (store.h: store_scan_get(), store_scan_put()), so that a re-run
 * or a remount does not decode and read an unchanged file again, whatever
 * other option changed.  A row is the scan of one version of one source
 * path (size, mtime, inode, ctime) by one scanner (its fingerprint: the
 * scan's version, Tesseract's data, the allow-list); another version or
 * scanner is a miss, and the next put replaces the row.  Rows hold where
 * text was and what kind, and keyed digests of its forms (scan.h:
 * scan_token_forms()), never the text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sql.h"

const struct store_stmt_sql store_scan_stmts[] = {
	{ STORE_STMT_SCAN_GET,
	  "SELECT status, kinds, frames, candidates, regions, us_decode, "
	  "us_find, us_ocr, tokens FROM scans WHERE path = ?1 AND src_size = ?2 AND "
	  "src_mtime_ns = ?3 AND src_ino = ?4 AND src_ctime_ns = ?5 AND "
	  "fp = ?6" },
	{ STORE_STMT_SCAN_GET_VERSION,
	  "SELECT status, kinds, frames, candidates, regions, us_decode, "
	  "us_find, us_ocr, tokens FROM scans WHERE src_size = ?2 AND "
	  "src_mtime_ns = ?3 AND src_ino = ?4 AND src_ctime_ns = ?5 AND "
	  "fp = ?6 ORDER BY path LIMIT 1" },
	{ STORE_STMT_SCAN_PUT,
	  "INSERT OR REPLACE INTO scans(path, src_size, src_mtime_ns, "
	  "src_ino, src_ctime_ns, fp, status, kinds, frames, candidates, "
	  "regions, us_decode, us_find, us_ocr, tokens) VALUES(?1, ?2, ?3, "
	  "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)" },
	{ STORE_STMT_SCAN_PRUNE,
	  "DELETE FROM scans WHERE path NOT IN (SELECT path FROM files)" },
	{ 0, NULL }
};

static int bind_key(struct store *st, sqlite3_stmt *s,
		    const struct store_scan *sc)
{
	int err = sc->path ? store_sql_bind_path(st, s, 1, sc->path) : 0;

	if (!err)
		err = store_sql_bind_i64(st, s, 2, (int64_t)sc->src_size);
	if (!err)
		err = store_sql_bind_i64(st, s, 3, sc->src_mtime_ns);
	if (!err)
		err = store_sql_bind_i64(st, s, 4, (int64_t)sc->src_ino);
	if (!err)
		err = store_sql_bind_i64(st, s, 5, sc->src_ctime_ns);
	if (!err)
		err = store_sql_bind_str(st, s, 6, sc->fp);
	return err;
}

int store_scan_get(struct store *st, struct store_scan *sc)
{
	sqlite3_stmt *s;
	char *regions = NULL;
	int err, r;

	if (!st || !sc || !sc->fp)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = store_sql_stmt(st, sc->path ? STORE_STMT_SCAN_GET
				       : STORE_STMT_SCAN_GET_VERSION);
	err = bind_key(st, s, sc);
	r = err ? err : store_sql_step(st, s);
	if (r < 0) {
		err = r;
	} else if (r == 0) {
		err = -ENOENT;
	} else {
		sc->status = (int)sqlite3_column_int64(s, 0);
		sc->kinds = (uint32_t)sqlite3_column_int64(s, 1);
		sc->frames = (uint32_t)sqlite3_column_int64(s, 2);
		sc->candidates = (uint32_t)sqlite3_column_int64(s, 3);
		err = store_sql_col_str(s, 4, &regions);
		if (!err) {
			snprintf(sc->regions, sizeof(sc->regions), "%s",
				 regions ? regions : "");
			free(regions);
		}
		sc->us_decode = (uint64_t)sqlite3_column_int64(s, 5);
		sc->us_find = (uint64_t)sqlite3_column_int64(s, 6);
		sc->us_ocr = (uint64_t)sqlite3_column_int64(s, 7);
		regions = NULL;
		if (!err)
			err = store_sql_col_str(s, 8, &regions);
		if (!err) {
			snprintf(sc->tokens, sizeof(sc->tokens), "%s",
				 regions ? regions : "");
			free(regions);
		}
	}
	store_sql_done(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_scan_put(struct store *st, const struct store_scan *sc)
{
	sqlite3_stmt *s;
	int err;

	if (!st || !sc || !sc->path || !sc->fp)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = store_sql_unit_begin(st);
	if (err)
		goto out;
	s = store_sql_stmt(st, STORE_STMT_SCAN_PUT);
	err = bind_key(st, s, sc);
	if (!err)
		err = store_sql_bind_i64(st, s, 7, sc->status);
	if (!err)
		err = store_sql_bind_i64(st, s, 8, sc->kinds);
	if (!err)
		err = store_sql_bind_i64(st, s, 9, sc->frames);
	if (!err)
		err = store_sql_bind_i64(st, s, 10, sc->candidates);
	if (!err)
		err = store_sql_bind_str(st, s, 11, sc->regions);
	if (!err)
		err = store_sql_bind_i64(st, s, 12, (int64_t)sc->us_decode);
	if (!err)
		err = store_sql_bind_i64(st, s, 13, (int64_t)sc->us_find);
	if (!err)
		err = store_sql_bind_i64(st, s, 14, (int64_t)sc->us_ocr);
	if (!err)
		err = store_sql_bind_str(st, s, 15, sc->tokens);
	if (err)
		store_sql_done(s);
	else
		err = store_sql_run(st, s);
	err = store_sql_unit_end(st, err);
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* (store_sql.h) The scans of paths the index no longer has, in the
 * caller's write unit. */
int store_scan_prune(struct store *st)
{
	return store_sql_exec_id(st, STORE_STMT_SCAN_PRUNE);
}
