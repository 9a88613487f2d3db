/*
 * encap_rle.c - RLE frames (PS3.5 G): the segment table and each
 * PackBits segment walked to the end of its image.
 * (see encap.h for what is kept, blanked and refused; strm.h for the
 * stream).
 */
#include "strm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ RLE */

/* The n bytes after a segment's image: no-op codes (0x80) and zeros are
 * what encoders pad with and stay; anything else becomes no-op codes (a
 * decoder that reads a segment to its end finds nothing to add). */
static int rle_rest(struct strm *s, uint64_t n)
{
	struct strm t = *s;
	uint64_t i;

	for (i = 0; i < n; i++) {
		int c = strm_byte(&t);

		if (c < 0)
			return -EBADMSG;
		if (c != 0 && c != 0x80)
			return strm_fill(s, n, 0x80);
	}
	return strm_skip(s, n);
}

/* One frame of RLE (PS3.5 G): a 64-byte header of segment offsets, then
 * one PackBits segment per byte plane, each decoding to Rows x Columns
 * bytes (bits, for 1-bit images; an encoder may add one byte to make the
 * count even).  Unused header entries and what follows a segment's image
 * bytes are zeroed.  The standard wants a frame in one fragment; some
 * writers split it, which the stream reads as one. */
int encap_rle_frame(struct strm *s)
{
	const struct encap_image *img = s->c->img;
	uint64_t flen = strm_left(s), need;
	uint8_t h[64], canon[64];
	uint32_t nseg, off[16], i;
	int err;

	if (flen < 64 || flen > UINT32_MAX)
		return -EBADMSG;
	err = strm_peek(s, h, 64);
	if (err)
		return err;
	nseg = strm_le32(h);
	if (nseg < 1 || nseg > 15 ||
	    nseg != img->samples * ((img->bits_allocated + 7) / 8))
		return -EBADMSG;
	memset(canon, 0, sizeof(canon));
	memcpy(canon, h, 4);
	for (i = 0; i < nseg; i++) {
		off[i] = strm_le32(h + 4 + 4 * i);
		if ((i == 0 && off[i] != 64) || (i && off[i] <= off[i - 1]) ||
		    off[i] >= flen)
			return -EBADMSG;
		memcpy(canon + 4 + 4 * i, h + 4 + 4 * i, 4);
	}
	off[nseg] = (uint32_t)flen;
	err = strm_blank(s, 64, canon);
	if (err)
		return err;
	need = (uint64_t)img->rows * img->cols;
	if (img->bits_allocated == 1)
		need = (need + 7) / 8;
	for (i = 0; i < nseg; i++) {
		uint64_t n = off[i + 1] - off[i], used = 0, made = 0;

		while (made < need) {
			int c = used < n ? strm_byte(s) : -1;

			if (c < 0)
				return -EBADMSG;
			used++;
			if (c < 128) {		/* c + 1 literal bytes */
				if (used + (uint64_t)c + 1 > n)
					return -EBADMSG;
				err = strm_skip(s, (uint64_t)c + 1);
				if (err)
					return err;
				used += (uint64_t)c + 1;
				made += (uint64_t)c + 1;
			} else if (c > 128) {	/* one byte, 257 - c times */
				if (used + 1 > n)
					return -EBADMSG;
				err = strm_skip(s, 1);
				if (err)
					return err;
				used++;
				made += 257 - (uint64_t)c;
			}
		}
		if (made > need + 1)
			return -EBADMSG;	/* more than an image */
		err = rle_rest(s, n - used);
		if (err)
			return err;
	}
	return 0;
}

