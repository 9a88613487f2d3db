/*
 * dicom_impl.h - what the parts of the DICOM bridge share (internal; the
 * contract to the rest of deidfs is fs/dicom.h).
 *
 *   dicom_vr.c     VR codes and transfer syntaxes: which VRs exist, which
 *                  have 32-bit lengths, how a transfer syntax encodes a
 *                  dataset
 *   dicom_buf.c    the parser's window on the source: bounded, budgeted,
 *                  wiped
 *   dicom_ds.c     the bounded parser's dataset level: element headers,
 *                  values, sequences, fragments
 *   dicom_parse.c  its file level: preamble and meta, the transfer syntax,
 *                  a deflated dataset, where the pixel data lies;
 *                  dicom_parse(), dicom_parsed_free()
 *   dicom_write.c  the header writer: dicom_write_header(),
 *                  dicom_output_ts()
 *   dicom.cpp      the only C++: what needs GDCM (its dictionaries, the
 *                  well-known UIDs, IOD names, its version, dicom_init())
 *
 * Everything declared here is C, callable from dicom.cpp too; nothing here
 * throws or logs, and there is no global state: a parse's state is its own
 * struct dicom_parser.
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
 * The dictionary VR of tag as the parser needs it (dicom.cpp): like
 * dicom_dict_vr() (fs/dicom.h), but when GDCM throws, the error the
 * parse must end with instead of "UN": -ENOMEM (std::bad_alloc) or
 * -EBADMSG (anything else).  Returns 0 with vr set, or that error.
 */
int dicom_dict_vr_get(uint32_t tag, const char *creator, char vr[3]);

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
/* Values this long or shorter come from the parse's arena (base.h): one
 * malloc per 64 KiB of them instead of one per element. */
#define ARENA_VALUE_MAX ((size_t)4096)

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

/* 16 and 32-bit integers of the file, in its byte order. */
static inline uint16_t dicom_get16(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t dicom_get32(const uint8_t *p, bool be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			    (uint32_t)p[2] << 8 | p[3]
		  : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
			    (uint32_t)p[1] << 8 | p[0];
}

/* An element header as read. */
struct dicom_hdr {
	uint32_t tag;
	char vr[3];	/* "" for items and delimiters */
	uint32_t len;
	uint32_t hlen;	/* 8 or 12 */
};

/* One parse: its window, its counts against the limits (dcm.h), what it
 * found.  Zeroed, then the window filled (struct dicom_buf). */
struct dicom_parser {
	struct dicom_buf b;
	uint64_t count;	/* elements + items so far */
	uint64_t values;	/* value bytes copied into the dataset */
	uint64_t values_counted;	/* of which counted against the
					 * budget */
	/* A dictionary lookup failed (GDCM threw): the error ends the parse,
	 * also where another -EBADMSG would be tolerated (a zero tail, a UN
	 * value that is not a sequence after all). */
	int fatal;
	/* where values up to ARENA_VALUE_MAX bytes are allocated (the
	 * parsed dataset's; larger ones are malloc'd) */
	struct base_arena *arena;
	/* where the parse is: the tag of the element last read at each
	 * depth, and the item of each sequence being read (at_n levels),
	 * so that a failure can say after which attribute it stopped */
	uint32_t at_tag[DCM_MAX_DEPTH + 1];
	uint32_t at_item[DCM_MAX_DEPTH + 1];
	unsigned at_n;
	/* top-level Pixel Data, when found */
	bool pixel;
	struct dicom_hdr pixel_hdr;
};

/*
 * The header of the element (or item, or delimiter) at pos, in encoding
 * en; the VR of an implicit-VR element from the dictionary, with the
 * private creators of ds (NULL: none).  A public attribute whose VR in the
 * file contradicts a sensitive VR in the dictionary is given the
 * dictionary's.  Returns 0, -EBADMSG, -EIO or -ENOMEM.
 */
int dicom_ds_read_hdr(struct dicom_parser *P, struct dicom_enc en,
		      uint64_t pos, const struct dcm_ds *ds,
		      struct dicom_hdr *h);

/* Walk encapsulated fragments starting at pos through the Sequence
 * Delimitation Item; *next is the first byte after it.  The window does
 * not move.  Returns 0, -EBADMSG, -EIO or -ENOMEM. */
int dicom_ds_walk_fragments(struct dicom_parser *P, struct dicom_enc en,
			    uint64_t pos, uint64_t *next);

/*
 * Elements of one dataset from pos into ds (at nesting depth): up to end
 * when !undef, else through an Item Delimitation Item (nested) or to end
 * (top level).  At top level, stops at Pixel Data and records it in P
 * (P->pixel, P->pixel_hdr), or at the trailers that can only follow it.
 * *next is where it stopped.  Values are copied into ds (owned by it) and
 * counted against the budget in P->b.  Returns 0, -EBADMSG, -EIO or
 * -ENOMEM; ds then holds what was parsed so far.
 */
int dicom_ds_parse(struct dicom_parser *P, struct dicom_enc en, uint64_t pos,
		   uint64_t end, bool undef, unsigned depth, bool top,
		   struct dcm_ds *ds, uint64_t *next);

#ifdef __cplusplus
}
#endif
#endif
