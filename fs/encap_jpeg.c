/*
 * encap_jpeg.c - JPEG, JPEG lossless and JPEG-LS codestreams (ISO 10918-1,
 * ISO 14495-1): markers walked, entropy-coded data scanned for the marker
 * that ends it.
 * (see encap.h for what is kept, blanked and refused; strm.h for the
 * stream).
 */
#include "strm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ JPEG */

/* A marker: 0xFF, any fill bytes, the code.  -1 when there is none. */
static int jpeg_marker(struct strm *s)
{
	int b = strm_byte(s);

	if (b != 0xFF)
		return -1;
	do
		b = strm_byte(s);
	while (b == 0xFF);
	return b;
}

/* Skip entropy-coded data through the marker that ends it; its code, or
 * -1 when the frame ends first. */
static int jpeg_ecs(struct strm *s, int ls)
{
	for (;;) {
		int b;

		for (;;) {	/* to the next 0xFF */
			const struct strm_frag *f;
			const uint8_t *p, *q;
			uint64_t n;

			if (!strm_more(s))
				return -1;
			f = &s->c->f[s->fi];
			n = f->len - s->pos;
			p = strm_rd_at(&s->c->rd, f->val + s->pos, &n);
			if (!p)
				return -1;
			q = memchr(p, 0xFF, (size_t)n);
			n = q ? (uint64_t)(q - p) + 1 : n;
			s->pos += n;
			s->done += n;
			if (q)
				break;
		}
		do
			b = strm_byte(s);
		while (b == 0xFF);
		if (b < 0)
			return -1;
		/* JPEG stuffs 0x00 after a data 0xFF; JPEG-LS stuffs a 0 bit,
		 * so a marker follows 0xFF only with the high bit set.  RSTn
		 * belong to the data. */
		if (b >= 0xD0 && b <= 0xD7)
			continue;
		if (ls ? b < 0x80 : b == 0x00)
			continue;
		return b;
	}
}

/* What a JPEG codestream has declared so far. */
struct jpeg_state {
	int ls;			/* JPEG-LS (ISO 14495-1) */
	int arith;		/* an arithmetic-coding SOF */
	unsigned scans;		/* SOS met */
};

static int is_sof(int m, int ls)
{
	if (ls)
		return m == 0xF7;	/* SOF55 */
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 &&
	       m != 0xCC;
}

/*
 * A marker segment whose content decoders use: its bytes (p, len) must be
 * exactly what its syntax says, so that nothing rides along that a decoder
 * would skip (ISO 10918-1 B.2.2-B.2.4, B.5; ISO 14495-1 C.2).  Returns 0
 * or -EBADMSG.
 */
static int jpeg_check(int m, const uint8_t *p, uint64_t len,
		      struct jpeg_state *st)
{
	uint64_t i;

	if (is_sof(m, st->ls)) {	/* P Y X Nf, Nf x (C H/V Tq) */
		if (len < 6 || len != 6 + 3 * (uint64_t)p[5])
			return -EBADMSG;
		st->arith = m >= 0xC9;
		return 0;
	}
	switch (m) {
	case 0xC4:			/* DHT: Tc/Th, 16 counts, values */
		for (i = 0; i < len;) {
			uint64_t sum = 0, k;

			if (len - i < 17 || p[i] >> 4 > 1 || (p[i] & 15) > 3)
				return -EBADMSG;
			for (k = 1; k <= 16; k++)
				sum += p[i + k];
			if (sum > 256 || sum > len - i - 17)
				return -EBADMSG;
			i += 17 + sum;
		}
		return len ? 0 : -EBADMSG;
	case 0xDB:			/* DQT: Pq/Tq, 64 or 128 bytes */
		for (i = 0; i < len;) {
			uint64_t n = 1 + 64 * (uint64_t)((p[i] >> 4) + 1);

			if (p[i] >> 4 > 1 || (p[i] & 15) > 3 || n > len - i)
				return -EBADMSG;
			i += n;
		}
		return len ? 0 : -EBADMSG;
	case 0xDD:			/* DRI */
		return len == 2 ? 0 : -EBADMSG;
	case 0xDC:			/* DNL: only after the first scan */
		return len == 2 && st->scans ? 0 : -EBADMSG;
	case 0xCC:			/* DAC: arithmetic coding only */
		if (st->ls || !st->arith || !len || len % 2)
			return -EBADMSG;
		for (i = 0; i < len; i += 2)
			if (p[i] >> 4 > 1 || (p[i] & 15) > 3)
				return -EBADMSG;
		return 0;
	case 0xDA:			/* SOS: Ns, Ns x (C T), 3 bytes */
		return len >= 1 && len == 4 + 2 * (uint64_t)p[0] &&
				       p[0] >= 1 && p[0] <= 4
			       ? 0
			       : -EBADMSG;
	case 0xF8:			/* LSE, JPEG-LS: preset parameters */
		return st->ls && len == 11 && p[0] == 1 ? 0 : -EBADMSG;
	default:	/* DHP, EXP (hierarchical), reserved: not walked */
		return -EBADMSG;
	}
}

/* An APPn segment of len bytes: blanked, except the few whose content
 * decoders use, which are rewritten in their fixed form. */
static int jpeg_app(struct strm *s, int m, uint64_t len, int ls)
{
	uint8_t head[12] = { 0 };
	uint8_t *r = s->c->scratch;
	int err;

	memset(r, 0, (size_t)len);
	err = strm_peek(s, head, len < sizeof(head) ? (unsigned)len :
			      (unsigned)sizeof(head));
	if (err)
		return err;
	if (m == 0xE0 && len >= 14 && !memcmp(head, "JFIF", 5)) {
		/* JFIF 1.0x as it was, no units, 1:1, no thumbnail */
		memcpy(r, "JFIF\0\x01\x02\x00\x00\x01\x00\x01\x00\x00", 14);
		if (head[5] == 1 && head[6] <= 2)
			r[6] = head[6];
	} else if (m == 0xEE && len >= 12 && !memcmp(head, "Adobe", 5)) {
		/* version 100, no flags, the colour transform as it is */
		if (head[11] > 2)
			return -EBADMSG;
		memcpy(r, "Adobe\x00\x64\x00\x00\x00\x00", 11);
		r[11] = head[11];
	} else if (ls && m == 0xE8 && len >= 5 && !memcmp(head, "mrfx", 4)) {
		/* HP colour transform of JPEG-LS (CharLS) */
		if (head[4] > 3)
			return -EBADMSG;
		memcpy(r, "mrfx", 4);
		r[4] = head[4];
	}
	return strm_blank(s, len, r);
}

int encap_jpeg_frame(struct strm *s, int ls)
{
	struct jpeg_state st = { ls, 0, 0 };
	int m;

	if (strm_byte(s) != 0xFF || strm_byte(s) != 0xD8)
		return -EBADMSG;
	m = jpeg_marker(s);
	for (;;) {
		long len;
		int err;

		if (m < 0)
			return -EBADMSG;
		if (m == 0xD9)
			return st.scans ? 0 : -EBADMSG;	/* EOI */
		len = strm_u16(s);
		if (len < 2)
			return -EBADMSG;
		len -= 2;
		if (m >= 0xE0 && m <= 0xEF) {
			err = jpeg_app(s, m, (uint64_t)len, ls);
		} else if (m == 0xFE) {	/* COM */
			err = strm_blank(s, (uint64_t)len, NULL);
		} else {
			err = strm_read(s, s->c->scratch, (uint64_t)len);
			if (!err)
				err = jpeg_check(m, s->c->scratch,
						 (uint64_t)len, &st);
		}
		if (err)
			return err;
		if (m == 0xDA) {	/* SOS: then the data */
			st.scans++;
			m = jpeg_ecs(s, ls);
			continue;
		}
		m = jpeg_marker(s);
	}
}

