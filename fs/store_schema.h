/*
 * store_schema.h - what makes a db ours (internal to the store; see
 * store_schema.c for the tables): creating the schema with a new key,
 * checking that an existing db is ours and sound (loading its key), and
 * upgrading an older schema in place.
 *
 * Each function expects st->db open and no statement prepared yet: they
 * run before store_sql_prepare_all(), whose statements need the current
 * schema.  st->lock is not needed (the store is not shared yet, or the
 * caller holds it).
 */
#ifndef DEIDFS_STORE_SCHEMA_H
#define DEIDFS_STORE_SCHEMA_H

#include "store_sql.h"

/* The schema this code reads and writes. */
#define STORE_SCHEMA_VERSION 6	/* also in store_schema_upgrade() */

/*
 * Create the tables of an empty db and its meta rows, with a new key from
 * getrandom() in st->key (and its check value), in one transaction.
 * Returns 0 or a negative errno; nothing is written on error.
 */
int store_schema_create(struct store *st);

/*
 * Check that the db is ours and sound, and load its key into st->key and
 * its schema version (1 .. STORE_SCHEMA_VERSION) into *version.  -EBADMSG
 * when it is not ours (no meta, another app, a newer schema, no key, a key
 * of the wrong length or one that fails its check value) or fails sqlite's
 * integrity_check; else 0 or an I/O error.  Writes nothing.  On error
 * st->key is wiped: a damaged db never yields a key.
 */
int store_schema_verify(struct store *st, int *version);

/* store_schema_verify() without integrity_check (a read-only snapshot,
 * store_open_snapshot()). */
int store_schema_verify_meta(struct store *st, int *version);

/* sqlite's integrity_check of the db at path, on a connection of its own
 * (read-only): 0, -EBADMSG when it fails, or an I/O error. */
int store_schema_check_file(const char *path);

/* Replace the key of a new, empty db (a shard db takes the project's) and
 * its check value; st->key too.  In the caller's write unit. */
int store_schema_set_key(struct store *st, const uint8_t key[KEYED_KEY_LEN]);

/*
 * Bring a db of an older schema to STORE_SCHEMA_VERSION in one
 * transaction: a run killed meanwhile leaves the old schema, upgraded next
 * time; another process that upgraded it first is fine.  Returns 0 or a
 * negative errno (the db is then as it was).
 */
int store_schema_upgrade(struct store *st);

#endif
