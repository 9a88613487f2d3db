/*
 * verify_check.h - the checks `deidfs verify` makes on a published DICOM
 * file's dataset (internal to the core; fs/verify_check.c).  The front end
 * (fs/verify.c) reads the file and reports; what a header must hold is
 * decided here.
 *
 * Every finding is a tag path ("(0010,0010)", nested
 * "(0008,1115)[0].(0008,1155)", or "-" for the file as a whole) and a kind
 * (a fixed word); never a value.
 */
#ifndef DEIDFS_VERIFY_CHECK_H
#define DEIDFS_VERIFY_CHECK_H

#include <stddef.h>

#include "acmatch.h"
#include "dcm.h"

/* A finding: review is set for a hit of a short value (may be chance). */
typedef int (*vcheck_found_fn)(void *arg, const char *tag, const char *kind,
			       int review);

/*
 * The marks of PS3.15 E.1: Patient Identity Removed YES, a
 * De-identification Method, and a De-identification Method Code Sequence
 * whose items are codes of CID 7050 (scheme DCM), Basic Application
 * Confidentiality Profile (113100) among them.  Returns 0 or what found
 * returned.
 */
int vcheck_marks(const struct dcm_ds *ds, vcheck_found_fn found, void *arg);

/*
 * Every UID value at any depth (not the file meta): a UID of the
 * standard's registry, or one that uid_kind accepts.  uid_kind returns 0
 * with *kind NULL for a good UID, or a kind ("original-uid",
 * "uid-not-keyed"), or -errno.
 */
typedef int (*vcheck_uid_fn)(void *arg, const char *uid, const char **kind);
int vcheck_uids(const struct dcm_ds *ds, vcheck_uid_fn uid_kind,
		vcheck_found_fn found, void *arg);

/*
 * Every value at any depth through the automaton of original values
 * (verify_values.h): each hit a finding of the value's kind at its tag.
 * Returns 0, -ENOMEM, or what found returned.
 */
int vcheck_values(const struct dcm_ds *ds, const struct acm *a,
		  vcheck_found_fn found, void *arg);

#endif
