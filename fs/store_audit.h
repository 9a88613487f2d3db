/*
 * store_audit.h - the audit trail (internal to the store; the public part,
 * struct store_audit and store_audit_count(), is in store.h): what was done
 * to which attribute of which file, and when.  The values are PHI; they are
 * written, never read back by deidfs.
 *
 * Both functions expect st->lock held and run inside the caller's write
 * unit (store_sql_unit_begin()), with the file index's own writes, so a
 * file's record and its audit rows change together.
 */
#ifndef DEIDFS_STORE_AUDIT_H
#define DEIDFS_STORE_AUDIT_H

#include "store_sql.h"

/* Replace the audit rows of file_id with audit[0..n), numbered from 0 and
 * dated now.  Returns 0 or a negative errno. */
int store_audit_replace(struct store *st, int64_t file_id,
			const struct store_audit *audit, size_t n);

/* Delete the audit rows of every file not seen in generation gen or a
 * later one (before those files are deleted). */
int store_audit_prune(struct store *st, int64_t gen);

#endif
