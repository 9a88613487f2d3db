/*
 * store_map.h - the pseudonym and UID pairs (internal to the store): what
 * an authorised person needs to answer "which original is this pseudonym"
 * (patients: pseudonym -> original PatientID; uids: keyed UID -> original
 * UID).  Both hold PHI.
 *
 * Both functions expect st->lock held and run inside the caller's write
 * unit (store_sql_unit_begin()), with the file's record: no file is ever
 * indexed with a pseudonym or UID the db cannot map back.
 */
#ifndef DEIDFS_STORE_MAP_H
#define DEIDFS_STORE_MAP_H

#include "store_sql.h"

/*
 * Record the pairs p[0..n) (insert or keep).  A pair whose pseudonym is
 * already there with another original is a pseudonym collision (80 bits
 * for patients, so about 2^-40 at a million patients): two people would be
 * merged, so the file is refused with -EEXIST.  -EINVAL for a pair with a
 * NULL member; else 0 or a negative errno.  Stops at the first error.
 */
int store_map_patients(struct store *st, const struct store_pair *p,
		       size_t n);
int store_map_uids(struct store *st, const struct store_pair *p, size_t n);

#endif
