/*
 * encap.c - encapsulated pixel data, walked as the codestreams it claims to
 * be and mapped onto the output (see encap.h).
 *
 * The walk reads a frame's fragments as one stream (strm.h, strm.c) and
 * hands it to its codec (encap_jpeg.c, encap_j2k.c, encap_rle.c).  Marker
 * segments are kept or blanked as they are met; entropy-coded data is
 * scanned for the marker that ends it (JPEG) or skipped by the lengths the
 * codestream gives (JPEG 2000 tile-parts, RLE runs).  Every change is a
 * patch of the same length at a source offset, so the fragments keep their
 * lengths and the frames their offsets.  The map is then the source range
 * with the patches laid over it, behind a regenerated offset table.
 */
#include "encap.h"
#include "strm.h"
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAGS (1u << 20)

enum codec { C_NONE, C_JPEG, C_JPEGLS, C_J2K, C_RLE };

static enum codec codec_of(const char *ts)
{
	static const char jpeg[] = "1.2.840.10008.1.2.4.";
	const char *t;

	if (!ts)
		return C_NONE;
	if (!strcmp(ts, "1.2.840.10008.1.2.5"))
		return C_RLE;
	if (strncmp(ts, jpeg, sizeof(jpeg) - 1))
		return C_NONE;
	t = ts + sizeof(jpeg) - 1;
	/* 50-66: the JPEG processes (52-56, 58-66 retired); 70: lossless
	 * SV1.  All share the marker syntax of ISO 10918-1. */
	if ((strlen(t) == 2 && t[0] >= '5' && t[0] <= '6' && t[1] >= '0' &&
	     t[1] <= '9' && strcmp(t, "67") < 0 && strcmp(t, "50") >= 0) ||
	    !strcmp(t, "70"))
		return C_JPEG;
	if (!strcmp(t, "80") || !strcmp(t, "81"))
		return C_JPEGLS;
	/* 90-93: JPEG 2000 (Part 1 and Part 2); 201-203: HTJ2K, whose
	 * codestream has the same marker syntax (ISO 15444-15). */
	if (!strcmp(t, "90") || !strcmp(t, "91") || !strcmp(t, "92") ||
	    !strcmp(t, "93") || !strcmp(t, "201") || !strcmp(t, "202") ||
	    !strcmp(t, "203"))
		return C_J2K;
	return C_NONE;
}

int encap_ts_known(const char *ts_uid)
{
	return codec_of(ts_uid) != C_NONE;
}

/* ------------------------------------------------------------- the map */

static uint16_t get16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The items: the offset table, the fragments, the delimiter at the end. */
static int read_items(struct strm_ctx *c, uint64_t off, uint64_t len,
		      uint64_t *bot_len)
{
	uint64_t pos = off, end = off + len;
	size_t cap = 0;

	for (;;) {
		uint8_t h[8];
		uint64_t n = 8;
		const uint8_t *p;
		uint32_t ilen;

		if (end - pos < 8)
			return -EBADMSG;
		p = strm_rd_at(&c->rd, pos, &n);
		if (!p)
			return c->rd.err;
		if (n < 8) {	/* across the buffer's end */
			ssize_t got = c->rd.src->pread(c->rd.src->ctx, h, 8,
							pos);
			if (got != 8)
				return got < 0 ? -EIO : -EBADMSG;
			p = h;
		}
		ilen = strm_le32(p + 4);
		if (get16le(p) == 0xFFFE && get16le(p + 2) == 0xE0DD) {
			if (ilen || pos + 8 != end || pos == off)
				return -EBADMSG;
			return c->nf ? 0 : -EBADMSG;
		}
		if (get16le(p) != 0xFFFE || get16le(p + 2) != 0xE000 ||
		    ilen == UINT32_MAX || ilen > end - pos - 8)
			return -EBADMSG;
		if (pos == off) {
			*bot_len = ilen;
		} else {
			if (c->nf == cap) {
				void *q;

				if (c->nf >= MAX_FRAGS)
					return -E2BIG;
				cap = cap ? cap * 2 : 16;
				q = realloc(c->f, cap * sizeof(*c->f));
				if (!q)
					return -ENOMEM;
				c->f = q;
			}
			c->f[c->nf].hdr = pos;
			c->f[c->nf].val = pos + 8;
			c->f[c->nf].len = ilen;
			c->nf++;
		}
		pos += 8 + (uint64_t)ilen;
	}
}

/* Index of the fragment whose item starts rel bytes after the first's. */
static long frag_at(const struct strm_ctx *c, uint64_t rel)
{
	size_t lo = 0, hi = c->nf;
	uint64_t want = c->f[0].hdr + rel;

	if (rel > UINT64_MAX - c->f[0].hdr)
		return -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->f[mid].hdr < want)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nf && c->f[lo].hdr == want ? (long)lo : -1;
}

/* Frame starts from the source's offset table, when it names one
 * fragment per frame, first at 0, in order; else 0. */
static int bot_frames(struct strm_ctx *c, uint64_t off, uint64_t bot_len,
		      uint32_t frames, size_t *start)
{
	uint8_t e[4];
	uint32_t k;

	if (bot_len != 4 * (uint64_t)frames)
		return 0;
	for (k = 0; k < frames; k++) {
		ssize_t got = c->rd.src->pread(c->rd.src->ctx, e, 4,
						off + 8 + 4 * (uint64_t)k);
		long j;

		if (got != 4)
			return 0;
		j = frag_at(c, strm_le32(e));
		if (j < 0 || (k == 0 && j != 0) ||
		    (k && (size_t)j <= start[k - 1]))
			return 0;
		start[k] = (size_t)j;
	}
	return 1;
}

/* The offset table: kept empty when it was; else one entry per frame. */
static int map_bot(struct strm_ctx *c, uint64_t off, uint64_t bot_len,
		   uint32_t frames, const size_t *start, struct bytemap *m)
{
	static const uint8_t empty[8] = { 0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0 };
	uint8_t *t;
	uint32_t k;
	int err, same = 1;
	uint64_t n = 8 + 4 * (uint64_t)frames;

	if (!bot_len)
		return bytemap_add_src(m, off, 8);
	for (k = 0; k < frames; k++)
		if (c->f[start[k]].hdr - c->f[0].hdr > UINT32_MAX)
			return bytemap_add_gen(m, empty, sizeof(empty));
	if (n > ENCAP_MAX_PATCH)
		return -E2BIG;
	t = malloc((size_t)n);
	if (!t)
		return -ENOMEM;
	memcpy(t, empty, 4);
	for (k = 0; k <= frames; k++) {
		uint32_t v = k ? (uint32_t)(c->f[start[k - 1]].hdr -
					    c->f[0].hdr) :
				 4 * frames;
		uint8_t *p = t + 4 + 4 * (size_t)k;

		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)(v >> 16);
		p[3] = (uint8_t)(v >> 24);
	}
	if (bot_len + 8 == n) {	/* the source's, if it says the same */
		uint64_t i = 0;

		while (i < n && same) {
			uint64_t k2 = n - i;
			const uint8_t *s = strm_rd_at(&c->rd, off + i, &k2);

			if (!s) {
				free(t);
				return c->rd.err;
			}
			same = !memcmp(s, t + i, (size_t)k2);
			i += k2;
		}
	} else {
		same = 0;
	}
	err = same ? bytemap_add_src(m, off, n) : bytemap_add_gen(m, t, n);
	free(t);
	return err;
}

static int walk_frames(struct strm_ctx *c, enum codec codec, uint64_t off,
		       uint64_t bot_len, uint32_t frames, size_t *start)
{
	int fixed;
	size_t fi = 0;
	uint32_t k;

	/* Where the frames start: one fragment each; one frame in all; the
	 * offset table; else where each codestream ends. */
	fixed = c->nf == frames || frames == 1 ||
		bot_frames(c, off, bot_len, frames, start);
	for (k = 0; k < frames; k++) {
		struct strm s;
		size_t end = c->nf, j;
		int err;

		if (fi >= c->nf)
			return -EBADMSG;	/* fewer codestreams */
		if (fixed)
			end = c->nf == frames ? fi + 1 :
			      frames == 1 ? c->nf :
			      k + 1 < frames ? start[k + 1] : c->nf;
		start[k] = fi;
		s = (struct strm){ c, fi, end, 0, 0 };
		switch (codec) {
		case C_JPEG: err = encap_jpeg_frame(&s, 0); break;
		case C_JPEGLS: err = encap_jpeg_frame(&s, 1); break;
		case C_J2K: err = encap_j2k_frame(&s, fixed); break;
		case C_RLE: err = encap_rle_frame(&s); break;
		default: err = -ENOTSUP; break;
		}
		if (err)
			return c->rd.err && err == -EBADMSG ? c->rd.err : err;
		/* after the codestream: padding at most */
		err = strm_blank(&s, c->f[s.fi].len - s.pos, NULL);
		if (err)
			return err;
		for (j = s.fi + 1; fixed && j < end; j++)
			if (c->f[j].len)
				return -EBADMSG;	/* more in the frame */
		fi = fixed ? end : s.fi + 1;
	}
	for (; fi < c->nf; fi++)
		if (c->f[fi].len)
			return -EBADMSG;	/* more than the frames */
	return 0;
}

int encap_map(const struct dicom_source *src, uint64_t off, uint64_t len,
	      const struct encap_image *img, struct bytemap *m)
{
	struct strm_ctx c;
	enum codec codec = codec_of(img->ts_uid);
	uint32_t frames = img->frames ? img->frames : 1;
	uint64_t bot_len = 0, cur;
	size_t *start = NULL, i;
	int err;

	if (codec == C_NONE)
		return -ENOTSUP;
	if (len > src->size || off > src->size - len)
		return -EBADMSG;
	memset(&c, 0, sizeof(c));
	c.rd.src = src;
	c.img = img;
	c.max_patches = 64 + 16 * (size_t)frames;
	c.rd.buf = malloc(STRM_RD_BUF);
	c.scratch = malloc(STRM_MAX_SEG);
	if (!c.rd.buf || !c.scratch) {
		err = -ENOMEM;
		goto out;
	}
	err = read_items(&c, off, len, &bot_len);
	if (err)
		goto out;
	if (frames > c.nf) {
		err = -EBADMSG;	/* a frame starts a fragment (PS3.5 A.4) */
		goto out;
	}
	start = calloc(frames, sizeof(*start));
	if (!start) {
		err = -ENOMEM;
		goto out;
	}
	err = walk_frames(&c, codec, off, bot_len, frames, start);
	if (err)
		goto out;
	err = map_bot(&c, off, bot_len, frames, start, m);
	cur = c.f[0].hdr;
	for (i = 0; !err && i < c.np; i++) {
		if (c.p[i].off < cur) {
			err = -EBADMSG;	/* not in order: our mistake */
			break;
		}
		err = bytemap_add_src(m, cur, c.p[i].off - cur);
		if (!err)
			err = bytemap_add_gen(m, c.pbuf + c.p[i].at,
					      (size_t)c.p[i].len);
		cur = c.p[i].off + c.p[i].len;
	}
	if (!err)
		err = bytemap_add_src(m, cur, off + len - cur);
out:
	free(start);
	free(c.f);
	free(c.p);
	/* the window and the scratch held the source's comment and
	 * application segments: wiped like any header bytes */
	base_wipe_free(c.pbuf, c.pbuf_len);
	base_wipe_free(c.scratch, STRM_MAX_SEG);
	base_wipe_free(c.rd.buf, STRM_RD_BUF);
	return err;
}

