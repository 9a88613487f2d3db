/*
 * dicom_impl.h - what the parts of the DICOM bridge share (internal; the
 * contract to the rest of deidfs is include/dicom.h).
 *
 *   dicom_vr.c     VR codes and transfer syntaxes: which VRs exist, which
 *                  have 32-bit lengths, how a transfer syntax encodes a
 *                  dataset
 *   dicom_buf.c    the parser's window on the source: bounded, budgeted,
 *                  wiped
 *   dicom.cpp      the only C++: what needs GDCM (its dictionaries, the
 *                  well-known UIDs, IOD names, its version, dicom_init())
 *
 * Everything declared here is C, callable from dicom.cpp too; nothing here
 * throws, logs or keeps state.
 */
#ifndef DEIDFS_DICOM_IMPL_H
#define DEIDFS_DICOM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcm.h"
#include "dicom.h"

struct budget;
struct budget_hold;

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

/*
 * A window on the source (or the inflated dataset): the bytes the parser is
 * at, loaded on demand.  It moves forward with the parser and keeps nothing
 * behind it: a header is copied into the dataset's values as it is parsed,
 * and holding it a second time here would double the memory of a big one
 * (bytes needed again, rarely, are read again).  Values too big for the
 * window are read straight into their own memory.  Holds PHI: wiped.  Its
 * bytes are counted against the budget while it holds them.
 *
 * The caller fills src, size, limit, bud and hold; the rest starts zeroed.
 * Every function returns 0, -EBADMSG (bytes past size or limit, a source
 * shorter than it said), -EIO (a read error), or -ENOMEM.
 */
struct dicom_buf {
	const struct dicom_source *src;	/* borrowed */
	uint8_t *mem;
	size_t cap;		/* allocated */
	uint64_t base;		/* source offset of mem[0] */
	size_t len;		/* bytes loaded from base */
	uint64_t size;		/* bytes that exist */
	uint64_t limit;		/* bytes we agree to parse (header limit) */
	struct budget *bud;	/* NULL: nothing counted */
	struct budget_hold **hold;	/* the parse's holder */
};

/* The least the window loads at once (the first time; four times that
 * later); a value at least this big is read straight into its memory. */
#define DICOM_FIRST_READ ((size_t)64 * 1024)

/* Wipe and free the window's memory and give its bytes back to the budget;
 * the window is empty afterwards, and can be used again. */
void dicom_buf_release(struct dicom_buf *b);

/* Whether the parser may use the bytes up to end: they exist and are
 * within the header limit.  0 or -EBADMSG. */
int dicom_buf_check(const struct dicom_buf *b, uint64_t end);

/* True when [pos, end) is loaded in the window. */
bool dicom_buf_has(const struct dicom_buf *b, uint64_t pos, uint64_t end);

/* Make [pos, end) available in the window; *p points at pos, borrowed
 * until the window next moves. */
int dicom_buf_at(struct dicom_buf *b, uint64_t pos, uint64_t end,
		 const uint8_t **p);

/* n bytes at off into dst, from the window when loaded, else straight from
 * the source: the window does not move (fragment headers inside pixel data
 * must not move it). */
int dicom_buf_peek(struct dicom_buf *b, uint64_t off, void *dst, size_t n);

/* Exactly n bytes at off of the source into dst, bypassing the window. */
int dicom_buf_read_direct(const struct dicom_buf *b, void *dst, size_t n,
			  uint64_t off);

#ifdef __cplusplus
}
#endif
#endif
