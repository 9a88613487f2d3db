/*
 * dicom_impl.h - what the parts of the DICOM bridge share (internal; the
 * contract to the rest of deidfs is include/dicom.h).
 *
 *   dicom_vr.c     VR codes and transfer syntaxes: which VRs exist, which
 *                  have 32-bit lengths, how a transfer syntax encodes a
 *                  dataset
 *   dicom.cpp      the only C++: what needs GDCM (its dictionaries, the
 *                  well-known UIDs, IOD names, its version, dicom_init())
 *
 * Everything declared here is C, callable from dicom.cpp too; nothing here
 * throws, logs or keeps state.
 */
#ifndef DEIDFS_DICOM_IMPL_H
#define DEIDFS_DICOM_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "dcm.h"

/* Undefined length, and the tags of the encoding's own structure. */
#define DICOM_UNDEF 0xffffffffu
#define DICOM_TAG_ITEM DCM_TAG(0xfffe, 0xe000)
#define DICOM_TAG_ITEM_DELIM DCM_TAG(0xfffe, 0xe00d)
#define DICOM_TAG_SEQ_DELIM DCM_TAG(0xfffe, 0xe0dd)
#define DICOM_TAG_PIXEL DCM_TAG(0x7fe0, 0x0010)

#ifdef __cplusplus
extern "C" {
#endif

/* How a dataset is encoded. */
struct dicom_enc {
	bool explicit_vr;
	bool be;		/* big endian */
};

/* True when the two letters at vr are one of the two-letter codes of
 * list (a concatenation of them, e.g. "OBOW"). */
bool dicom_vr_in(const char *list, const char *vr);

/* True when vr is a VR of PS3.5 (two letters, NUL not needed). */
bool dicom_vr_valid(const char *vr);

/* True when an explicit-VR element of vr has a 32-bit length (12-byte
 * header). */
bool dicom_vr_is_32(const char *vr);

static inline bool dicom_vr_is(const char *vr, const char *what)
{
	return vr[0] == what[0] && vr[1] == what[1];
}

/* Copy the two letters of s into vr, NUL-terminated. */
static inline void dicom_vr_set(char vr[3], const char *s)
{
	vr[0] = s[0];
	vr[1] = s[1];
	vr[2] = 0;
}

/* True when u is a UID we can write: 1 to 64 digits and dots. */
bool dicom_uid_ok(const char *u);

/*
 * The encoding of a dataset in transfer syntax ts, and whether it is
 * deflated.  Returns 0, or -EBADMSG for a UID we do not read: not a UID, a
 * private transfer syntax, JPIP deflate.
 */
int dicom_ts_encoding(const char *ts, struct dicom_enc *en, bool *deflated);

#ifdef __cplusplus
}
#endif
#endif
