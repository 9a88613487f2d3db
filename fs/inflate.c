/*
 * inflate.c - deflated datasets read as a stream (see include/inflate.h).
 *
 * Random access into a deflate stream as zlib's examples/zran.c does it:
 * inflate with Z_BLOCK, and at a block boundary remember the input offset,
 * the bits of the last input byte not used yet, and the 32 KiB of output
 * before it (the window later back-references may reach into).  Inflation
 * restarts there with a raw inflater primed with those bits and that
 * window.  The output is written into a ring, so that the window is always
 * at hand and reads a little behind the cursor (the kernel may send a
 * file's reads out of order) cost nothing.
 *
 * The inflated bytes are PHI (the dataset, the image): ring and windows
 * are wiped before they are freed.
 */
#include "inflate.h"
#include "base.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define WINDOW (32u << 10)
#define IN_BUF (64u << 10)
#define FIRST_SPACING (1u << 20)

struct point {
	uint64_t out;		/* inflated offset */
	uint64_t in;		/* source offset of the next input byte */
	int bits;		/* of the byte before it, not used yet */
	uint32_t wlen;		/* window bytes (fewer only near the start) */
	uint8_t *win;
};

struct inflate_cursor {
	inflate_pread_fn pread;
	void *ctx;
	struct inflate_where w;
	uint64_t end;		/* source offset past the deflated bytes */
	z_stream z;
	int live;		/* z is initialised */
	uint8_t *in;		/* IN_BUF bytes of input */
	uint64_t in_next;	/* source offset after the bytes in `in` */
	uint8_t *ring;
	size_t rsize;		/* power of two */
	uint64_t out;		/* inflated bytes produced so far */
	uint64_t from;		/* oldest inflated offset still in the ring */
	int state;		/* 0 going, 1 at the end, or -errno */
	int stream_end;		/* the end was the stream's own */
	struct point pt[INFLATE_MAX_POINTS];
	size_t npt;
	uint64_t spacing;
};

int inflate_cursor_new(inflate_pread_fn pread, void *ctx,
		       const struct inflate_where *w, uint64_t end,
		       size_t ring, struct inflate_cursor **out)
{
	struct inflate_cursor *c;

	*out = NULL;
	if (ring < 2 * WINDOW || (ring & (ring - 1)))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pread = pread;
	c->ctx = ctx;
	c->w = *w;
	c->end = end;
	c->rsize = ring;
	c->spacing = FIRST_SPACING;
	c->in = malloc(IN_BUF);
	c->ring = malloc(ring);
	if (!c->in || !c->ring) {
		inflate_cursor_free(c);
		return -ENOMEM;
	}
	c->state = 1;	/* nothing started: the first read starts */
	c->from = c->out = UINT64_MAX;
	*out = c;
	return 0;
}

void inflate_cursor_free(struct inflate_cursor *c)
{
	size_t i;

	if (!c)
		return;
	if (c->live)
		inflateEnd(&c->z);
	for (i = 0; i < c->npt; i++)
		base_wipe_free(c->pt[i].win, c->pt[i].wlen);
	base_wipe_free(c->in, IN_BUF);
	base_wipe_free(c->ring, c->rsize);
	free(c);
}

static int zinit(struct inflate_cursor *c, int wbits)
{
	if (c->live)
		inflateEnd(&c->z);
	c->live = 0;
	memset(&c->z, 0, sizeof(c->z));
	if (inflateInit2(&c->z, wbits) != Z_OK)
		return -ENOMEM;
	c->live = 1;
	return 0;
}

/* Back to the start of the stream. */
static int start(struct inflate_cursor *c)
{
	int err = zinit(c, c->w.wrapped ? 15 + 32 : -15);

	c->in_next = c->w.off;
	c->out = c->from = 0;
	c->state = err ? err : 0;
	c->stream_end = 0;
	return err;
}

/* Back to access point p: a raw inflater (the zlib header, if any, is
 * behind us) primed with p's bits and window. */
static int restore(struct inflate_cursor *c, const struct point *p)
{
	uint8_t byte;
	ssize_t r;
	int err;

	err = zinit(c, -15);
	if (err)
		goto out;
	if (p->bits) {
		r = c->pread(c->ctx, &byte, 1, p->in - 1);
		if (r != 1) {
			err = r < 0 ? (r == -ENOMEM ? -ENOMEM : -EIO) : -EBADMSG;
			goto out;
		}
		if (inflatePrime(&c->z, p->bits, byte >> (8 - p->bits)) !=
		    Z_OK) {
			err = -EBADMSG;
			goto out;
		}
	}
	if (inflateSetDictionary(&c->z, p->win, p->wlen) != Z_OK) {
		err = -EBADMSG;
		goto out;
	}
	c->in_next = p->in;
	c->out = c->from = p->out;
	c->stream_end = 0;
out:
	c->state = err;
	return err;
}

/* Copy the n ring bytes before inflated offset `at` (all in the ring) to
 * dst. */
static void ring_copy(const struct inflate_cursor *c, uint64_t at,
		      uint8_t *dst, size_t n)
{
	size_t mask = c->rsize - 1, i = (size_t)((at - n) & mask);
	size_t first = c->rsize - i < n ? c->rsize - i : n;

	memcpy(dst, c->ring + i, first);
	memcpy(dst + first, c->ring, n - first);
}

/* Record an access point here, at a block boundary, when the last one is
 * a spacing behind; when the table is full, every other point goes and
 * the spacing doubles.  Best effort: without memory, no point. */
static void add_point(struct inflate_cursor *c)
{
	uint64_t last = c->npt ? c->pt[c->npt - 1].out : 0;
	struct point *p;
	size_t i, k;

	/* behind the last point (after a restore): it has its points */
	if (c->out < last || c->out - last < c->spacing)
		return;
	if (c->npt == INFLATE_MAX_POINTS) {
		for (i = 0, k = 0; i < c->npt; i++) {
			if (i % 2 == 0) {
				base_wipe_free(c->pt[i].win, c->pt[i].wlen);
				continue;
			}
			c->pt[k++] = c->pt[i];
		}
		c->npt = k;
		c->spacing *= 2;
		last = c->npt ? c->pt[c->npt - 1].out : 0;
		if (c->out - last < c->spacing)
			return;
	}
	p = &c->pt[c->npt];
	p->wlen = (uint32_t)(c->out - c->from < WINDOW ? c->out - c->from
						       : WINDOW);
	if (p->wlen < WINDOW && c->from != 0)
		return;		/* window not at hand (cannot happen) */
	p->win = malloc(p->wlen ? p->wlen : 1);
	if (!p->win)
		return;
	ring_copy(c, c->out, p->win, p->wlen);
	p->out = c->out;
	p->in = c->in_next - c->z.avail_in;
	p->bits = c->z.data_type & 7;
	c->npt++;
}

/* Inflate some more into the ring (up to its end).  Returns c->state. */
static int step(struct inflate_cursor *c)
{
	size_t at, room;
	int zr;

	if (c->state)
		return c->state;
	if (c->z.avail_in == 0 && c->in_next < c->end) {
		size_t want = c->end - c->in_next < IN_BUF
				      ? (size_t)(c->end - c->in_next)
				      : IN_BUF;
		ssize_t r = c->pread(c->ctx, c->in, want, c->in_next);

		if (r < 0)
			return c->state = r == -ENOMEM ? -ENOMEM : -EIO;
		if (r == 0 || (size_t)r > want)
			c->end = c->in_next;	/* shorter than it said */
		else {
			c->z.next_in = c->in;
			c->z.avail_in = (uInt)r;
			c->in_next += (uint64_t)r;
		}
	}
	at = (size_t)(c->out & (c->rsize - 1));
	room = c->rsize - at;
	c->z.next_out = c->ring + at;
	c->z.avail_out = (uInt)room;
	zr = inflate(&c->z, Z_BLOCK);
	c->out += room - c->z.avail_out;
	if (c->out - c->from > c->rsize)
		c->from = c->out - c->rsize;
	switch (zr) {
	case Z_OK:
		/* at a block boundary, not in the last block */
		if ((c->z.data_type & 128) && !(c->z.data_type & 64))
			add_point(c);
		return 0;
	case Z_STREAM_END:
		c->stream_end = 1;
		return c->state = 1;
	case Z_BUF_ERROR:
		/* no progress with room to write: the input ran out */
		return c->state = 1;
	case Z_MEM_ERROR:
		return c->state = -ENOMEM;
	default:	/* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
		return c->state = -EBADMSG;
	}
}

ssize_t inflate_read(struct inflate_cursor *c, uint64_t off, void *buf,
		     size_t n)
{
	uint8_t *dst = buf;
	const struct point *best = NULL;
	size_t done = 0, i;
	int err;

	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	/* Behind the ring, or far enough ahead that an access point is
	 * nearer: go from the nearest point before off. */
	for (i = 0; i < c->npt && c->pt[i].out <= off; i++)
		best = &c->pt[i];
	if (c->out == UINT64_MAX || off < c->from ||
	    (best && best->out > c->out) || c->state < 0) {
		err = best ? restore(c, best) : start(c);
		if (err)
			return err;
	}
	while (done < n) {
		uint64_t pos = off + done;

		if (pos < c->out) {
			size_t k = c->out - pos < n - done
					   ? (size_t)(c->out - pos)
					   : n - done;

			/* [pos, pos + k) ends at or before out */
			ring_copy(c, pos + k, dst + done, k);
			done += k;
			continue;
		}
		err = step(c);
		if (err < 0)
			return err;
		if (err == 1 && pos >= c->out)
			break;
	}
	return (ssize_t)done;
}

ssize_t inflate_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	return inflate_read(ctx, off, buf, n);
}

/* Inflate c through to its end, keeping nothing.  Returns 0 and the
 * inflated size, or -errno. */
static int measure(struct inflate_cursor *c, uint64_t limit, uint64_t *size)
{
	int err = start(c);

	while (!err) {
		err = step(c);
		if (c->out > limit)
			return -EBADMSG;	/* a bomb: stop here */
	}
	if (err < 0)
		return err;
	if (!c->stream_end && !c->out)
		return -EBADMSG;	/* nothing came out */
	*size = c->out;
	return 0;
}

int inflate_open(inflate_pread_fn pread, void *ctx, uint64_t off,
		 uint64_t end, uint64_t limit, size_t ring,
		 struct inflate_where *w, uint64_t *size,
		 struct inflate_cursor **out)
{
	struct inflate_cursor *c = NULL;
	int err = -EBADMSG, attempt;

	*out = NULL;
	if (off > end || end - off > limit)
		return -EBADMSG;
	/* raw deflate as PS3.5 A.5 says; some writers add a zlib header */
	for (attempt = 0; attempt < 2; attempt++) {
		w->off = off;
		w->wrapped = (uint8_t)attempt;
		err = inflate_cursor_new(pread, ctx, w, end, ring, &c);
		if (err)
			return err;
		err = measure(c, limit, size);
		if (!err) {
			*out = c;
			return 0;
		}
		inflate_cursor_free(c);
		c = NULL;
		if (err != -EBADMSG)
			return err;
	}
	return err;
}
