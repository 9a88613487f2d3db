/*
 * inflate.h - a deflated dataset (transfer syntax 1.2.840.10008.1.2.1.99)
 * read as a stream, never held whole (fs/inflate.c, over zlib).
 *
 * A cursor inflates its source from the start into a ring of recent output
 * and copies out what a read asks for; bytes behind the ring are found
 * again from access points it records on the way (the 32 KiB deflate
 * window at a block boundary, at most INFLATE_MAX_POINTS of them, spaced
 * evenly), so a read anywhere costs at most the inflation of one spacing.
 * Its memory is fixed whatever the inflated size: the ring, 64 KiB of
 * input, zlib's state (about 44 KiB) and at most INFLATE_MAX_POINTS windows
 * of 32 KiB (2 MiB).
 *
 * The parser measures a dataset with inflate_open() (a deflate bomb is
 * stopped as soon as its output passes the limit, having held nothing) and
 * then reads its header through the same cursor; the view serves the
 * inflated pixel data through a cursor of its own.
 */
#ifndef DEIDFS_INFLATE_H
#define DEIDFS_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Inflated size of a deflated dataset: zip bombs beyond it are refused. */
#define INFLATE_LIMIT (1ull << 30)
#define INFLATE_MAX_POINTS 64

/* Where a deflated dataset lies in its source. */
struct inflate_where {
	uint64_t off;		/* first byte of the deflated data */
	uint8_t wrapped;	/* 1: behind a zlib (or gzip) header, which
				 * some writers add; 0: raw deflate, as
				 * PS3.5 A.5 says */
};

/* The compressed bytes: read up to n bytes at off into buf; returns bytes
 * read (0 at EOF) or -errno.  Same contract as struct dicom_source. */
typedef ssize_t (*inflate_pread_fn)(void *ctx, void *buf, size_t n,
				    uint64_t off);

struct inflate_cursor;

/*
 * A cursor over the deflated bytes [w->off, end) of a source.  ring: bytes
 * of recent output kept (a power of two >= 64 KiB; reads that fall in it
 * cost nothing).  The source is borrowed until inflate_cursor_free().
 * Returns 0 or -ENOMEM.
 */
int inflate_cursor_new(inflate_pread_fn pread, void *ctx,
		       const struct inflate_where *w, uint64_t end,
		       size_t ring, struct inflate_cursor **out);
void inflate_cursor_free(struct inflate_cursor *c);

/*
 * Open the deflated dataset at [off, end) of a source as the parser
 * accepts it: raw deflate, else behind a zlib or gzip header; the stream
 * ends, or its input runs out after some output (a file cut short: what it
 * holds is parsed, and fails there if it lacks something).  The stream is
 * inflated through once, keeping nothing: a deflate bomb is stopped as soon
 * as its output passes limit (or its input does).  On success *w says how
 * it was read, *size is its inflated size, and *out a cursor over it
 * (ring: as inflate_cursor_new()) with its access points recorded.
 * Returns 0, -EBADMSG (not deflate, or over the limit), -EIO, -ENOMEM.
 */
int inflate_open(inflate_pread_fn pread, void *ctx, uint64_t off,
		 uint64_t end, uint64_t limit, size_t ring,
		 struct inflate_where *w, uint64_t *size,
		 struct inflate_cursor **out);

/*
 * Read up to n inflated bytes at off into buf.  Returns the bytes read
 * (fewer only at the end of the stream, 0 past it), -EBADMSG when the
 * stream is damaged (the source changed), -EIO, -ENOMEM.  Not thread-safe:
 * one caller at a time per cursor.
 */
ssize_t inflate_read(struct inflate_cursor *c, uint64_t off, void *buf,
		     size_t n);

/* inflate_read() with the signature of struct dicom_source's pread (ctx:
 * the cursor). */
ssize_t inflate_pread(void *ctx, void *buf, size_t n, uint64_t off);

#endif
