/*
 * store_settings.c - small key/value settings (store.h:
 * store_setting_get(), store_setting_set()): what a run must remember for
 * the next one, such as the options fingerprint or a change counter of a
 * generated file.  Values are bound as text when they are valid UTF-8 and
 * read back as bytes.
 */
#include <errno.h>
#include <string.h>

#include "store_sql.h"

const struct store_stmt_sql store_settings_stmts[] = {
	{ STORE_STMT_SETTING_GET, "SELECT v FROM settings WHERE k = ?1" },
	{ STORE_STMT_SETTING_PUT,
	  "INSERT OR REPLACE INTO settings(k, v) VALUES(?1, ?2)" },
	{ STORE_STMT_SETTING_DEL, "DELETE FROM settings WHERE k = ?1" },
	{ 0, NULL }
};

/* Copy the value in column 0 with its NUL into out, or -ERANGE. */
static int copy_value(sqlite3_stmt *s, char *out, size_t outsz)
{
	const void *v = sqlite3_column_blob(s, 0);
	size_t len = (size_t)sqlite3_column_bytes(s, 0);

	if (len >= outsz)
		return -ERANGE;
	if (len)
		memcpy(out, v, len);
	out[len] = '\0';
	return 0;
}

/*
 * Returns 0, -ENOENT (no such setting), -ERANGE (out too small for the
 * value and its NUL) or -EIO.
 */
int store_setting_get(struct store *st, const char *k, char *out,
		      size_t outsz)
{
	sqlite3_stmt *s;
	int err, r;

	if (!st || !k || !out || !outsz)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = store_sql_stmt(st, STORE_STMT_SETTING_GET);
	err = store_sql_bind_str(st, s, 1, k);
	r = err ? err : store_sql_step(st, s);
	if (r < 0)
		err = r;
	else if (r == 0 || sqlite3_column_type(s, 0) == SQLITE_NULL)
		err = -ENOENT;
	else
		err = copy_value(s, out, outsz);
	store_sql_done(s);
	pthread_mutex_unlock(&st->lock);
	return err;
}

/* v NULL deletes the setting. */
int store_setting_set(struct store *st, const char *k, const char *v)
{
	sqlite3_stmt *s;
	int err;

	if (!st || !k)
		return -EINVAL;
	pthread_mutex_lock(&st->lock);
	s = store_sql_stmt(st, v ? STORE_STMT_SETTING_PUT :
				   STORE_STMT_SETTING_DEL);
	err = store_sql_bind_str(st, s, 1, k);
	if (!err && v)
		err = store_sql_bind_str(st, s, 2, v);
	if (err)
		store_sql_done(s);
	else
		err = store_sql_run(st, s);
	pthread_mutex_unlock(&st->lock);
	return err;
}
