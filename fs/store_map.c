/*
 * store_map.c - pseudonym and UID pairs for authorised re-identification
 * (store_map.h).  Written by store_file_put(); deidfs itself never reads an
 * original back, except here, to tell a collision from a repeat.
 */
#include <errno.h>

#include "store_map.h"

const struct store_stmt_sql store_map_stmts[] = {
	{ STORE_STMT_PATIENT_INSERT,
	  "INSERT OR IGNORE INTO patients(pseudonym, patient_id) "
	  "VALUES(?1, ?2)" },
	{ STORE_STMT_PATIENT_GET,
	  "SELECT patient_id FROM patients WHERE pseudonym = ?1" },
	{ STORE_STMT_UID_INSERT,
	  "INSERT OR IGNORE INTO uids(pseudo, orig) VALUES(?1, ?2)" },
	{ STORE_STMT_UID_GET, "SELECT orig FROM uids WHERE pseudo = ?1" },
	{ 0, NULL }
};

/* Insert p unless its pseudonym is there: *added tells which. */
static int insert_pair(struct store *st, enum store_stmt ins,
		       const struct store_pair *p, int *added)
{
	sqlite3_stmt *s = store_sql_stmt(st, ins);
	int err;

	if ((err = store_sql_bind_str(st, s, 1, p->pseudo)) ||
	    (err = store_sql_bind_str(st, s, 2, p->orig))) {
		store_sql_done(s);
		return err;
	}
	err = store_sql_run(st, s);
	*added = !err && sqlite3_changes(st->db);
	return err;
}

/* The pseudonym of p is there: -EEXIST unless with the same original. */
static int check_pair(struct store *st, enum store_stmt get,
		      const struct store_pair *p)
{
	sqlite3_stmt *s = store_sql_stmt(st, get);
	int err, r;

	err = store_sql_bind_str(st, s, 1, p->pseudo);
	r = err ? err : store_sql_step(st, s);
	if (r < 0)
		err = r;
	else if (r == 0)
		err = -EIO;	/* ignored, yet not there */
	else if (!store_sql_col_equals(s, 0, p->orig))
		err = -EEXIST;
	store_sql_done(s);
	return err;
}

static int record_pairs(struct store *st, enum store_stmt ins,
			enum store_stmt get, const struct store_pair *p,
			size_t n)
{
	size_t i;
	int err = 0, added;

	for (i = 0; !err && i < n; i++) {
		if (!p[i].orig || !p[i].pseudo)
			return -EINVAL;
		err = insert_pair(st, ins, &p[i], &added);
		if (!err && !added)
			err = check_pair(st, get, &p[i]);
	}
	return err;
}

int store_map_patients(struct store *st, const struct store_pair *p,
		       size_t n)
{
	return record_pairs(st, STORE_STMT_PATIENT_INSERT,
			    STORE_STMT_PATIENT_GET, p, n);
}

int store_map_uids(struct store *st, const struct store_pair *p, size_t n)
{
	return record_pairs(st, STORE_STMT_UID_INSERT, STORE_STMT_UID_GET, p,
			    n);
}
