/*
 * strm.h - the codestream of one frame of encapsulated pixel data, read as
 * one stream over its fragments (internal to encap.c and its codecs:
 * encap_jpeg.c, encap_j2k.c, encap_rle.c).  Bytes are consumed in order;
 * each run is kept as it is or replaced by a patch of the same length at
 * its source offset, so fragments keep their lengths and frames their
 * offsets.
 */
#ifndef DEIDFS_STRM_H
#define DEIDFS_STRM_H

#include <stddef.h>
#include <stdint.h>

#include "dicom.h"
#include "encap.h"

#define STRM_RD_BUF (64u << 10)
#define STRM_MAX_SEG 65535u	/* the longest marker segment */

struct strm_rd {
	const struct dicom_source *src;
	uint8_t *buf;			/* STRM_RD_BUF bytes */
	uint64_t boff;
	size_t blen;
	int err;			/* first error: -EIO or -EBADMSG */
};

struct strm_frag {
	uint64_t hdr;	/* source offset of the item tag */
	uint64_t val;	/* of its value */
	uint64_t len;
};

struct strm_patch {
	uint64_t off;	/* source offset */
	uint64_t len;
	size_t at;	/* replacement bytes in pbuf */
};

/* The walk of one Pixel Data value: its fragments and the patches. */
struct strm_ctx {
	struct strm_rd rd;
	struct strm_frag *f;
	size_t nf;
	struct strm_patch *p;
	size_t np, capp;
	uint8_t *pbuf;
	size_t pbuf_len, pbuf_cap;
	uint8_t *scratch;		/* STRM_MAX_SEG bytes */
	const struct encap_image *img;
	size_t max_patches;		/* a few per frame: real files have
					 * a handful, a hostile one would
					 * make a map per open of millions */
};

/* The codestream of one frame: fragments [fi, fend) read as one. */
struct strm {
	struct strm_ctx *c;
	size_t fi, fend;
	uint64_t pos;		/* within fragment fi */
	uint64_t done;		/* bytes consumed in this frame */
};

static inline uint32_t strm_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The buffered source bytes at off: at least 1, *n lowered to what is
 * buffered.  NULL (r->err set) past the end or on a read error. */
const uint8_t *strm_rd_at(struct strm_rd *r, uint64_t off, uint64_t *n);

/* Move to the next byte's fragment; 0 at the end of the frame. */
int strm_more(struct strm *s);
/* Next byte, or -1 at the end of the frame or on a read error. */
int strm_byte(struct strm *s);
/* Next two bytes, big-endian, or -1. */
long strm_u16(struct strm *s);
/* Consume n bytes: kept (strm_skip), replaced by repl (strm_blank; repl
 * NULL: zeros) or by n bytes of fill (strm_fill).  Returns 0, -EBADMSG
 * past the frame, -E2BIG past the patch limits, -EIO, -ENOMEM. */
int strm_skip(struct strm *s, uint64_t n);
int strm_blank(struct strm *s, uint64_t n, const uint8_t *repl);
int strm_fill(struct strm *s, uint64_t n, uint8_t fill);
/* Consume n bytes (n <= STRM_MAX_SEG) into out. */
int strm_read(struct strm *s, uint8_t *out, uint64_t n);
/* Bytes left in the frame from where s stands. */
uint64_t strm_left(const struct strm *s);
/* Copy the next n bytes without consuming them. */
int strm_peek(const struct strm *s, uint8_t *out, unsigned n);

/* The codecs: walk one frame's codestream from s (encap.h says what is
 * kept, blanked and refused).  Return 0, -EBADMSG, -E2BIG, -EIO or
 * -ENOMEM.  bounded: the frame's end is known (its fragments are). */
int encap_jpeg_frame(struct strm *s, int ls);
int encap_j2k_frame(struct strm *s, int bounded);
int encap_rle_frame(struct strm *s);

#endif
