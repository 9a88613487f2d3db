/*
 * store_index.c - the file index (store.h: struct store_file and the
 * store_file_* calls), scan generations, and the directory inode numbers
 * of the view (store_dir_ino()).
 *
 * A record is one source file, keyed by its path; its row id is the
 * file's inode number in the view, and row ids are never reused
 * (AUTOINCREMENT), so neither is an inode number.  store_file_put() writes
 * the record, its audit rows (store_audit.c) and its pseudonym and UID
 * pairs (store_map.c) in one write unit: a file is indexed with all of
 * them or none.
 *
 * Generations: every scan takes a new number (meta 'generation') and
 * touches each record it sees; the prune then removes what no scan of
 * this generation or a later one saw.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_audit.h"
#include "store_map.h"
#include "store_schema.h"
#include "store_sql.h"
#include "strarena.h"

#define FOREACH_BATCH 64	/* rows copied per lock hold in foreach */
#define READ_ALL_BATCH 1024	/* in store_file_read_all() */

#define FILE_COLS                                                          \
	"id, path, src_size, src_mtime_ns, src_ino, opts, status, out_size, " \
	"header_len, patient_id, study_date, pseudonym, study_uid, "          \
	"series_uid, sop_uid, modality, laterality, view_position, "          \
	"series_number, instance_number, view_path, out_mtime_ns, study_time, " \
	"src_ctime_ns, version, q_rule, q_path"

static const char upsert_sql[] =
	"INSERT INTO files(path, src_size, src_mtime_ns, src_ino, opts, "
	"status, out_size, header_len, patient_id, study_date, "
	"pseudonym, study_uid, series_uid, sop_uid, modality, "
	"laterality, view_position, series_number, instance_number, "
	"out_mtime_ns, study_time, src_ctime_ns, view_path, gen, q_rule, "
	"q_path) "
	"VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
	"?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, NULL, "
	"(SELECT v FROM meta WHERE k = 'generation'), ?23, ?24) "
	STORE_FILE_UPSERT_TAIL " RETURNING id";

const struct store_stmt_sql store_index_stmts[] = {
	{ STORE_STMT_FILE_UPSERT, upsert_sql },
	{ STORE_STMT_FILE_BY_PATH,
	  "SELECT " FILE_COLS " FROM files WHERE path = ?1" },
	{ STORE_STMT_FILE_BY_ID,
	  "SELECT " FILE_COLS " FROM files WHERE id = ?1" },
	{ STORE_STMT_FILE_AFTER,
	  "SELECT " FILE_COLS " FROM files WHERE id > ?1 "
	  "ORDER BY id LIMIT ?2" },
	{ STORE_STMT_FILE_SET_VIEW,
	  "UPDATE files SET view_path = ?2 WHERE id = ?1" },
	/* Two refreshes may run at once (a mount and an export on one db),
	 * each with its own generation: a touch never lowers a record's
	 * generation, and a prune removes only what neither has seen, so
	 * neither prunes the other's records. */
	{ STORE_STMT_FILE_TOUCH,
	  "UPDATE files SET gen = MAX(gen, ?2) WHERE id = ?1" },
	{ STORE_STMT_PRUNE_FILES, "DELETE FROM files WHERE gen < ?1" },
	{ STORE_STMT_GEN_BUMP,
	  "UPDATE meta SET v = v + 1 WHERE k = 'generation'" },
	{ STORE_STMT_GEN_GET, "SELECT v FROM meta WHERE k = 'generation'" },
	{ STORE_STMT_DIR_GET, "SELECT id FROM dirs WHERE path = ?1" },
	{ STORE_STMT_DIR_INSERT,
	  "INSERT OR IGNORE INTO dirs(path) VALUES(?1)" },
	{ 0, NULL }
};

/* ---------------------------------------------------------------------- */
/* records                                                                */

static void free_wiped(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void store_file_clear(struct store_file *f)
{
	if (!f)
		return;
	free_wiped(f->path);
	free_wiped(f->patient_id);
	free_wiped(f->study_date);
	free_wiped(f->study_time);
	free(f->opts);
	free(f->pseudonym);
	free(f->study_uid);
	free(f->series_uid);
	free(f->sop_uid);
	free(f->modality);
	free(f->laterality);
	free(f->view_position);
	free(f->view_path);
	free(f->q_rule);
	free(f->q_path);
	memset(f, 0, sizeof(*f));
}

void store_file_move(struct store_file *dst, struct store_file *src)
{
	if (dst == src)
		return;
	store_file_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/*
 * store_sql_col_str() into arena a: no malloc per field.  A field equal to
 * the previous row's (same, or NULL) is that row's string: the rows of one
 * study repeat most of their fields, and the options fingerprint is the
 * same in every row, so most fields take no memory at all.
 */
static int col_str_in(sqlite3_stmt *s, int i, struct strarena *a,
		      const char *same, char **out)
{
	const void *p;
	size_t n;
	int err;

	*out = NULL;
	if (!a)
		return store_sql_col_str(s, i, out);
	err = store_sql_col_bytes(s, i, &p, &n);
	if (err || !p)
		return err;
	if (same && strlen(same) == n && !memcmp(same, p, n)) {
		*out = (char *)same;
		return 0;
	}
	/* the arena's strings are read-only to its users; store_file's
	 * fields are not const for the records callers own */
	*out = (char *)strarena_dup(a, p, n);
	return *out ? 0 : -ENOMEM;
}

/* Fill f from a row of FILE_COLS, its strings malloc'ed or, when a is not
 * NULL, in a, shared with those of prev (a's, or NULL) where equal.  On
 * error f is cleared (zeroed). */
static int row_to_file_in(sqlite3_stmt *s, struct strarena *a,
			  const struct store_file *prev, struct store_file *f)
{
	static const struct store_file none;
	const struct store_file *q = prev ? prev : &none;
	int err;

	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(s, 0);
	f->src_size = (uint64_t)sqlite3_column_int64(s, 2);
	f->src_mtime_ns = sqlite3_column_int64(s, 3);
	f->src_ino = (uint64_t)sqlite3_column_int64(s, 4);
	f->status = sqlite3_column_int(s, 6);
	f->out_size = (uint64_t)sqlite3_column_int64(s, 7);
	f->header_len = (uint64_t)sqlite3_column_int64(s, 8);
	f->series_number = store_sql_col_opt_i64(s, 18);
	f->instance_number = store_sql_col_opt_i64(s, 19);
	f->out_mtime_ns = sqlite3_column_int64(s, 21);
	f->src_ctime_ns = sqlite3_column_int64(s, 23);
	f->version = sqlite3_column_int64(s, 24);
	if ((err = col_str_in(s, 1, a, q->path, &f->path)) ||
	    (err = col_str_in(s, 5, a, q->opts, &f->opts)) ||
	    (err = col_str_in(s, 9, a, q->patient_id, &f->patient_id)) ||
	    (err = col_str_in(s, 10, a, q->study_date, &f->study_date)) ||
	    (err = col_str_in(s, 11, a, q->pseudonym, &f->pseudonym)) ||
	    (err = col_str_in(s, 12, a, q->study_uid, &f->study_uid)) ||
	    (err = col_str_in(s, 13, a, q->series_uid, &f->series_uid)) ||
	    (err = col_str_in(s, 14, a, q->sop_uid, &f->sop_uid)) ||
	    (err = col_str_in(s, 15, a, q->modality, &f->modality)) ||
	    (err = col_str_in(s, 16, a, q->laterality, &f->laterality)) ||
	    (err = col_str_in(s, 17, a, q->view_position, &f->view_position)) ||
	    (err = col_str_in(s, 20, a, q->view_path, &f->view_path)) ||
	    (err = col_str_in(s, 22, a, q->study_time, &f->study_time)) ||
	    (err = col_str_in(s, 25, a, q->q_rule, &f->q_rule)) ||
	    (err = col_str_in(s, 26, a, q->q_path, &f->q_path))) {
		if (a)
			memset(f, 0, sizeof(*f));	/* the arena's */
		else
			store_file_clear(f);
	}
	return err;
}

static int row_to_file(sqlite3_stmt *s, struct store_file *f)
{
	return row_to_file_in(s, NULL, NULL, f);
}

/* Bind the values ?1..?24 of the upsert. */
static int bind_file(struct store *st, sqlite3_stmt *s,
		     const struct store_file *f)
{
	int err;

	if ((err = store_sql_bind_path(st, s, 1, f->path)) ||
	    (err = store_sql_bind_i64(st, s, 2, (int64_t)f->src_size)) ||
	    (err = store_sql_bind_i64(st, s, 3, f->src_mtime_ns)) ||
	    (err = store_sql_bind_i64(st, s, 4, (int64_t)f->src_ino)) ||
	    (err = store_sql_bind_str(st, s, 5, f->opts)) ||
	    (err = store_sql_bind_i64(st, s, 6, f->status)) ||
	    (err = store_sql_bind_i64(st, s, 7, (int64_t)f->out_size)) ||
	    (err = store_sql_bind_i64(st, s, 8, (int64_t)f->header_len)) ||
	    (err = store_sql_bind_str(st, s, 9, f->patient_id)) ||
	    (err = store_sql_bind_str(st, s, 10, f->study_date)) ||
	    (err = store_sql_bind_str(st, s, 11, f->pseudonym)) ||
	    (err = store_sql_bind_str(st, s, 12, f->study_uid)) ||
	    (err = store_sql_bind_str(st, s, 13, f->series_uid)) ||
	    (err = store_sql_bind_str(st, s, 14, f->sop_uid)) ||
	    (err = store_sql_bind_str(st, s, 15, f->modality)) ||
	    (err = store_sql_bind_str(st, s, 16, f->laterality)) ||
	    (err = store_sql_bind_str(st, s, 17, f->view_position)) ||
	    (err = store_sql_bind_opt_i64(st, s, 18, f->series_number)) ||
	    (err = store_sql_bind_opt_i64(st, s, 19, f->instance_number)) ||
	    (err = store_sql_bind_i64(st, s, 20, f->out_mtime_ns)) ||
	    (err = store_sql_bind_str(st, s, 21, f->study_time)) ||
	    (err = store_sql_bind_i64(st, s, 22, f->src_ctime_ns)) ||
	    (err = store_sql_bind_str(st, s, 23, f->q_rule)) ||
	    (err = store_sql_bind_str(st, s, 24, f->q_path)))
		return err;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* reading                                                                */

/* The record of path, or of id when path is NULL. */
static int file_get(struct store *st, const char *path, int64_t id,
		    struct store_file *f)
{
	sqlite3_stmt *s;
	int err, r;

	memset(f, 0, sizeof(*f));
	if (path) {
		s = store_sql_stmt(st, STORE_STMT_FILE_BY_PATH);
		err = store_sql_bind_path(st, s, 1, path);
	} else {
		s = store_sql_stmt(st, STORE_STMT_FILE_BY_ID);
		err = store_sql_bind_i64(st, s, 1, id);
	}
	r = err ? err : store_sql_step(st, s);
	if (r < 0)
		err = r;
	else if (r == 0)
		err = -ENOENT;
	else
		err = row_to_file(s, f);
	store_sql_done(s);
	return err;
}

int store_file_get(struct store *st, const char *path, struct store_file *f)
{
	int err;

	if (!st || !path || !f)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = file_get(st, path, 0, f);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_file_get_id(struct store *st, int64_t id, struct store_file *f)
{
	int err;

	if (!st || !f)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = file_get(st, NULL, id, f);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * Copy up to FOREACH_BATCH records after id last into batch (under the
 * lock); *n is how many.  On error the records copied so far stay in
 * batch[0..*n) for the caller to clear.
 */
static int read_batch(struct store *st, int64_t last, struct strarena *a,
		      struct store_file *prev, struct store_file *batch,
		      size_t max, size_t *n)
{
	sqlite3_stmt *s;
	int err, r = 0;

	*n = 0;
	pthread_mutex_lock(&st->lock);
	s = store_sql_stmt(st, STORE_STMT_FILE_AFTER);
	if (!(err = store_sql_bind_i64(st, s, 1, last)) &&
	    !(err = store_sql_bind_i64(st, s, 2, (int64_t)max))) {
		while (*n < max && (r = store_sql_step(st, s)) == 1) {
			err = row_to_file_in(s, a, a ? prev : NULL,
					     &batch[*n]);
			if (err)
				break;
			if (a)
				*prev = batch[*n];
			(*n)++;
		}
		if (r < 0)
			err = r;
	}
	store_sql_done(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * Rows are copied in batches under the lock and cb runs without it, so cb
 * may call the store (even write): the lock stays a leaf and a slow cb does
 * not stall other threads.  Keyset paging by id means each record is seen
 * at most once; records added or removed during the walk may or may not be.
 * Whatever cb leaves in a record is freed after it returns.
 */
int store_file_foreach_take(struct store *st,
			    int (*cb)(void *arg, struct store_file *f),
			    void *arg)
{
	struct store_file *batch;
	int64_t last = INT64_MIN;
	int err = 0, ret = 0;
	size_t n, i;

	if (!st || !cb)
		return -EINVAL;
	batch = calloc(FOREACH_BATCH, sizeof(*batch));
	if (!batch)
		return -ENOMEM;
	do {
		err = read_batch(st, last, NULL, NULL, batch, FOREACH_BATCH,
				 &n);
		if (n)
			last = batch[n - 1].id;
		for (i = 0; i < n; i++) {
			if (!err && !ret)
				ret = cb(arg, &batch[i]);
			store_file_clear(&batch[i]);
		}
	} while (!err && !ret && n == FOREACH_BATCH);
	free(batch);
	return ret ? ret : err;
}

/*
 * As store_file_foreach_take(), but the strings go into a, and the batches
 * are larger: the rows of a whole index read at once while a view is
 * built, without a malloc and a free per field.
 */
int store_file_read_all(struct store *st, struct strarena *a,
			int (*cb)(void *arg, const struct store_file *f),
			void *arg)
{
	struct store_file *batch, prev = { 0 };
	int64_t last = INT64_MIN;
	int err = 0, ret = 0;
	size_t n, i;

	if (!st || !a || !cb)
		return -EINVAL;
	batch = calloc(READ_ALL_BATCH, sizeof(*batch));
	if (!batch)
		return -ENOMEM;
	do {
		err = read_batch(st, last, a, &prev, batch, READ_ALL_BATCH,
				 &n);
		if (n)
			last = batch[n - 1].id;
		for (i = 0; i < n && !err && !ret; i++)
			ret = cb(arg, &batch[i]);
	} while (!err && !ret && n == READ_ALL_BATCH);
	free(batch);
	return ret ? ret : err;
}

/* store_file_foreach()'s callback, behind store_file_foreach_take(). */
struct lend {
	int (*cb)(void *arg, const struct store_file *f);
	void *arg;
};

static int lend_cb(void *arg, struct store_file *f)
{
	const struct lend *l = arg;

	return l->cb(l->arg, f);
}

int store_file_foreach(struct store *st,
		       int (*cb)(void *arg, const struct store_file *f),
		       void *arg)
{
	struct lend l = { cb, arg };

	if (!cb)
		return -EINVAL;
	return store_file_foreach_take(st, lend_cb, &l);
}

/* ---------------------------------------------------------------------- */
/* writing                                                                */

static int file_upsert(struct store *st, const struct store_file *f,
		       int64_t *id)
{
	sqlite3_stmt *s = store_sql_stmt(st, STORE_STMT_FILE_UPSERT);
	int err, r;

	err = bind_file(st, s, f);
	r = err ? err : store_sql_step(st, s);	/* RETURNING id, for insert
						 * and update */
	if (r < 0)
		err = r;
	else if (r == 0)
		err = -EIO;
	else
		*id = sqlite3_column_int64(s, 0);
	store_sql_done(s);
	return err;
}

/*
 * New and updated records get the current generation (the last
 * store_next_generation()), so a file analysed during a scan counts as seen.
 * Returns also -EINVAL (NULL path or arrays) and -EEXIST (pseudonym
 * collision, see store_map.h); on any error nothing was written.
 */
int store_file_put(struct store *st, struct store_file *f,
		   const struct store_audit *audit, size_t naudit,
		   const struct store_pair *pseud, size_t npseud,
		   const struct store_pair *uids, size_t nuids)
{
	int64_t id = 0;
	int err;

	if (!st || !f || !f->path || (naudit && !audit) ||
	    (npseud && !pseud) || (nuids && !uids))
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = store_sql_unit_begin(st);
	if (err)
		goto out;
	err = file_upsert(st, f, &id);
	if (!err)
		err = store_audit_replace(st, id, audit, naudit);
	if (!err)
		err = store_map_patients(st, pseud, npseud);
	if (!err)
		err = store_map_uids(st, uids, nuids);
	err = store_sql_unit_end(st, err);
	if (!err)
		f->id = id;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/*
 * Finish and run an UPDATE of one record whose ?1 is its id; the caller
 * bound the other values, with error err.  -ENOENT when there is no such
 * record.
 */
static int update_by_id(struct store *st, sqlite3_stmt *s, int64_t id,
			int err)
{
	if (!err)
		err = store_sql_bind_i64(st, s, 1, id);
	if (err) {
		store_sql_done(s);
		return err;
	}
	err = store_sql_run(st, s);
	if (!err && !sqlite3_changes(st->db))
		err = -ENOENT;
	return err;
}

/* Also -ENOENT for an unknown id. */
int store_file_set_view_path(struct store *st, int64_t id, const char *vp)
{
	sqlite3_stmt *s;
	int err;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = store_sql_stmt(st, STORE_STMT_FILE_SET_VIEW);
	err = update_by_id(st, s, id, store_sql_bind_str(st, s, 2, vp));
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Returns 0, -ENOENT (unknown id) or -EIO. */
int store_file_touch(struct store *st, int64_t id, int64_t gen)
{
	sqlite3_stmt *s;
	int err;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = store_sql_stmt(st, STORE_STMT_FILE_TOUCH);
	err = update_by_id(st, s, id, store_sql_bind_i64(st, s, 2, gen));
	pthread_mutex_unlock(&st->lock);
	return err;
}

int store_file_prune(struct store *st, int64_t gen)
{
	int err;

	if (!st)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = store_sql_unit_begin(st);
	if (err)
		goto out;
	err = store_audit_prune(st, gen);
	if (!err)
		err = store_sql_run_i64(st, STORE_STMT_PRUNE_FILES, gen);
	if (!err)
		err = store_scan_prune(st);
	err = store_sql_unit_end(st, err);
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* Read the generation after bumping it (in the caller's write unit). */
static int read_generation(struct store *st, int64_t *gen)
{
	sqlite3_stmt *s = store_sql_stmt(st, STORE_STMT_GEN_GET);
	int err = 0, r;

	r = store_sql_step(st, s);
	if (r == 1 && sqlite3_column_type(s, 0) == SQLITE_INTEGER)
		*gen = sqlite3_column_int64(s, 0);
	else
		err = r < 0 ? r : -EIO;
	store_sql_done(s);
	return err;
}

int store_next_generation(struct store *st, int64_t *gen)
{
	int64_t g = 0;
	int err;

	if (!st || !gen)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	err = store_sql_unit_begin(st);
	if (err)
		goto out;
	err = store_sql_exec_id(st, STORE_STMT_GEN_BUMP);
	if (!err)
		err = read_generation(st, &g);
	err = store_sql_unit_end(st, err);
	if (!err)
		*gen = g;
out:
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* ---------------------------------------------------------------------- */
/* directories                                                            */

/* The id of view_dir in dirs: 1 when found, 0 when not there, or -errno. */
static int dir_get(struct store *st, const char *view_dir, uint64_t *ino)
{
	sqlite3_stmt *s = store_sql_stmt(st, STORE_STMT_DIR_GET);
	int err, r;

	err = store_sql_bind_path(st, s, 1, view_dir);
	r = err ? err : store_sql_step(st, s);
	if (r == 1)
		*ino = (uint64_t)sqlite3_column_int64(s, 0);
	store_sql_done(s);
	return r;
}

int store_dir_ino(struct store *st, const char *view_dir, uint64_t *ino)
{
	sqlite3_stmt *s;
	int err = 0, r;

	if (!st || !view_dir || !ino)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	r = dir_get(st, view_dir, ino);
	if (r == 0) {
		/* First use: one statement, atomic on its own. */
		s = store_sql_stmt(st, STORE_STMT_DIR_INSERT);
		err = store_sql_bind_path(st, s, 1, view_dir);
		if (err)
			store_sql_done(s);
		else
			err = store_sql_run(st, s);
		if (!err)
			r = dir_get(st, view_dir, ino);
	}
	if (!err && r < 0)
		err = r;
	else if (!err && r == 0)
		err = -EIO;	/* inserted, yet not found */
	pthread_mutex_unlock(&st->lock);
	return err;
}
