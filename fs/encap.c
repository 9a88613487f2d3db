/*
 * encap.c - encapsulated pixel data, walked as the codestreams it claims to
 * be and mapped onto the output (see encap.h).
 *
 * The walk reads a frame's fragments as one stream (struct strm).  Marker
 * segments are kept or blanked as they are met; entropy-coded data is
 * scanned for the marker that ends it (JPEG) or skipped by the lengths the
 * codestream gives (JPEG 2000 tile-parts, RLE runs).  Every change is a
 * patch of the same length at a source offset, so the fragments keep their
 * lengths and the frames their offsets.  The map is then the source range
 * with the patches laid over it, behind a regenerated offset table.
 */
#include "encap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAGS (1u << 20)
#define RD_BUF (64u << 10)
#define MAX_SEG 65535u

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

/* ---------------------------------------------------------- the reader */

struct rd {
	const struct dicom_source *src;
	uint8_t *buf;			/* RD_BUF bytes */
	uint64_t boff;
	size_t blen;
	int err;			/* first error: -EIO or -EBADMSG */
};

/* The buffered bytes at source offset off: at least 1, *n lowered to what
 * is buffered.  NULL (r->err set) past the end or on a read error. */
static const uint8_t *rd_at(struct rd *r, uint64_t off, uint64_t *n)
{
	uint64_t avail;

	if (off < r->boff || off - r->boff >= r->blen) {
		uint64_t want = RD_BUF;
		ssize_t got;

		if (off >= r->src->size) {
			if (!r->err)
				r->err = -EBADMSG;
			return NULL;
		}
		if (want > r->src->size - off)
			want = r->src->size - off;
		got = r->src->pread(r->src->ctx, r->buf, (size_t)want, off);
		if (got <= 0) {
			if (!r->err)
				r->err = got < 0 ? -EIO : -EBADMSG;
			r->blen = 0;
			return NULL;
		}
		r->boff = off;
		r->blen = (size_t)got;
	}
	avail = r->boff + r->blen - off;
	if (*n > avail)
		*n = avail;
	return r->buf + (off - r->boff);
}

/* ----------------------------------------------------- fragments, patches */

struct frag {
	uint64_t hdr;	/* source offset of the item tag */
	uint64_t val;	/* of its value */
	uint64_t len;
};

struct patch {
	uint64_t off;	/* source offset */
	uint64_t len;
	size_t at;	/* replacement bytes in pbuf */
};

struct ctx {
	struct rd rd;
	struct frag *f;
	size_t nf;
	struct patch *p;
	size_t np, capp;
	uint8_t *pbuf;
	size_t pbuf_len, pbuf_cap;
	uint8_t *scratch;		/* MAX_SEG bytes */
	const struct encap_image *img;
	size_t max_patches;		/* a few per frame: real files have
					 * a handful, a hostile one would
					 * make a map per open of millions */
};

/* Replace source bytes [off, off + n) by repl (NULL: n bytes of fill).
 * Nothing is recorded when the source already holds those bytes. */
static int add_patch(struct ctx *c, uint64_t off, uint64_t n,
		     const uint8_t *repl, uint8_t fill)
{
	uint64_t i = 0;
	int same = 1;

	while (i < n && same) {
		uint64_t k = n - i, j;
		const uint8_t *s = rd_at(&c->rd, off + i, &k);

		if (!s)
			return c->rd.err;
		for (j = 0; j < k; j++)
			if (s[j] != (repl ? repl[i + j] : fill)) {
				same = 0;
				break;
			}
		i += k;
	}
	if (same)
		return 0;
	if (n > ENCAP_MAX_PATCH - c->pbuf_len || c->np >= c->max_patches)
		return -E2BIG;
	if (c->np == c->capp) {
		size_t cap = c->capp ? c->capp * 2 : 16;
		void *p = realloc(c->p, cap * sizeof(*c->p));

		if (!p)
			return -ENOMEM;
		c->p = p;
		c->capp = cap;
	}
	if (c->pbuf_len + n > c->pbuf_cap) {
		size_t cap = c->pbuf_cap ? c->pbuf_cap : 4096;
		void *p;

		while (cap < c->pbuf_len + n)
			cap *= 2;
		p = realloc(c->pbuf, cap);
		if (!p)
			return -ENOMEM;
		c->pbuf = p;
		c->pbuf_cap = cap;
	}
	if (repl)
		memcpy(c->pbuf + c->pbuf_len, repl, (size_t)n);
	else
		memset(c->pbuf + c->pbuf_len, fill, (size_t)n);
	c->p[c->np].off = off;
	c->p[c->np].len = n;
	c->p[c->np].at = c->pbuf_len;
	c->np++;
	c->pbuf_len += (size_t)n;
	return 0;
}

/* ------------------------------------------------------------ the stream */

/* The codestream of one frame: fragments [fi, fend) read as one. */
struct strm {
	struct ctx *c;
	size_t fi, fend;
	uint64_t pos;		/* within fragment fi */
	uint64_t done;		/* bytes consumed in this frame */
};

/* Move to the next byte's fragment; 0 at the end of the frame. */
static int s_more(struct strm *s)
{
	while (s->fi < s->fend && s->pos == s->c->f[s->fi].len) {
		if (s->fi + 1 == s->fend)
			return 0;	/* stay: the frame ended here */
		s->fi++;
		s->pos = 0;
	}
	return s->fi < s->fend;
}

/* Next byte, or -1 at the end of the frame or on a read error. */
static int s_byte(struct strm *s)
{
	uint64_t n = 1;
	const uint8_t *p;

	if (!s_more(s))
		return -1;
	p = rd_at(&s->c->rd, s->c->f[s->fi].val + s->pos, &n);
	if (!p)
		return -1;
	s->pos++;
	s->done++;
	return *p;
}

static long s_u16(struct strm *s)
{
	int a = s_byte(s), b = s_byte(s);

	return a < 0 || b < 0 ? -1 : (long)(a << 8 | b);
}

/* Consume n bytes: kept as they are (keep set), or replaced by repl (n
 * bytes) or, repl NULL, by n bytes of fill. */
static int s_take(struct strm *s, uint64_t n, int keep, const uint8_t *repl,
		  uint8_t fill)
{
	uint64_t i = 0;

	while (i < n) {
		const struct frag *f;
		uint64_t k;
		int err;

		if (!s_more(s))
			return -EBADMSG;
		f = &s->c->f[s->fi];
		k = f->len - s->pos;
		if (k > n - i)
			k = n - i;
		if (!keep) {
			err = add_patch(s->c, f->val + s->pos, k,
					repl ? repl + i : NULL, fill);
			if (err)
				return err;
		}
		s->pos += k;
		s->done += k;
		i += k;
	}
	return 0;
}

static int s_skip(struct strm *s, uint64_t n)
{
	return s_take(s, n, 1, NULL, 0);
}

static int s_blank(struct strm *s, uint64_t n, const uint8_t *repl)
{
	return s_take(s, n, 0, repl, 0);
}

static int s_fill(struct strm *s, uint64_t n, uint8_t fill)
{
	return s_take(s, n, 0, NULL, fill);
}

/* Consume n bytes (n <= MAX_SEG) into out. */
static int s_read(struct strm *s, uint8_t *out, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		int b = s_byte(s);

		if (b < 0)
			return -EBADMSG;
		out[i] = (uint8_t)b;
	}
	return 0;
}

/* Bytes left in the frame from where s stands. */
static uint64_t s_left(const struct strm *s)
{
	uint64_t n = 0;
	size_t i;

	for (i = s->fi; i < s->fend; i++)
		n += s->c->f[i].len - (i == s->fi ? s->pos : 0);
	return n;
}

/* Copy the next n bytes (n <= sizeof a segment head) without consuming. */
static int s_peek(const struct strm *s, uint8_t *out, unsigned n)
{
	struct strm t = *s;
	unsigned i;

	for (i = 0; i < n; i++) {
		int b = s_byte(&t);

		if (b < 0)
			return -EBADMSG;
		out[i] = (uint8_t)b;
	}
	return 0;
}

/* ------------------------------------------------------------------ JPEG */

/* A marker: 0xFF, any fill bytes, the code.  -1 when there is none. */
static int jpeg_marker(struct strm *s)
{
	int b = s_byte(s);

	if (b != 0xFF)
		return -1;
	do
		b = s_byte(s);
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
			const struct frag *f;
			const uint8_t *p, *q;
			uint64_t n;

			if (!s_more(s))
				return -1;
			f = &s->c->f[s->fi];
			n = f->len - s->pos;
			p = rd_at(&s->c->rd, f->val + s->pos, &n);
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
			b = s_byte(s);
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
	err = s_peek(s, head, len < sizeof(head) ? (unsigned)len :
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
	return s_blank(s, len, r);
}

static int jpeg_frame(struct strm *s, int ls)
{
	struct jpeg_state st = { ls, 0, 0 };
	int m;

	if (s_byte(s) != 0xFF || s_byte(s) != 0xD8)
		return -EBADMSG;
	m = jpeg_marker(s);
	for (;;) {
		long len;
		int err;

		if (m < 0)
			return -EBADMSG;
		if (m == 0xD9)
			return st.scans ? 0 : -EBADMSG;	/* EOI */
		len = s_u16(s);
		if (len < 2)
			return -EBADMSG;
		len -= 2;
		if (m >= 0xE0 && m <= 0xEF) {
			err = jpeg_app(s, m, (uint64_t)len, ls);
		} else if (m == 0xFE) {	/* COM */
			err = s_blank(s, (uint64_t)len, NULL);
		} else {
			err = s_read(s, s->c->scratch, (uint64_t)len);
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

/* ------------------------------------------------------------ JPEG 2000 */

/* What a JPEG 2000 codestream has declared so far. */
struct j2k_state {
	unsigned csz;		/* bytes of a component index: 1, or 2 when
				 * Csiz >= 257 */
};

static unsigned popcount32(uint32_t v)
{
	unsigned n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

/* Quantization values after Sqcd/Sqcc (ISO 15444-1 A.6.4): one byte per
 * subband (3 L + 1 of them), one 2-byte value, or two bytes per subband. */
static int j2k_quant_ok(uint8_t style, uint64_t n)
{
	switch (style & 0x1f) {
	case 0: return n >= 1 && (n - 1) % 3 == 0;
	case 1: return n == 2;
	case 2: return n >= 2 && n % 2 == 0 && (n / 2 - 1) % 3 == 0;
	default: return 0;
	}
}

/* Coding style after Scod/Scoc: 5 bytes, and one precinct size per
 * resolution (levels + 1) when the style says so (A.6.1). */
static int j2k_style_ok(uint8_t scod, const uint8_t *sp, uint64_t n)
{
	return n >= 5 && sp[0] <= 32 &&
	       n == 5 + ((scod & 1) ? (uint64_t)sp[0] + 1 : 0);
}

/*
 * A marker segment of the main or a tile-part header (ISO 15444-1 A.2-A.9,
 * and HTJ2K's CAP and CPF), whose marker starts where mark stood: those
 * decoders need must be exactly what their syntax says; the ones they can
 * do without (TLM, PLM, PLT, CRG, CPF) and COM become comments of zeros,
 * the same length, so no offset moves.  Part 2's extensions and anything
 * else are refused.  Returns 0 or -EBADMSG.
 */
static int j2k_segment(struct strm *s, const struct strm *mark, long m,
		       struct j2k_state *st)
{
	static const uint8_t com[2] = { 0xFF, 0x64 };
	uint8_t *p = s->c->scratch;
	uint64_t n, c;
	long len = s_u16(s);
	int err;

	if (len < 2)
		return -EBADMSG;
	n = (uint64_t)len - 2;
	switch (m) {
	case 0xFF55: case 0xFF57: case 0xFF58: case 0xFF59: case 0xFF63:
	case 0xFF64:	/* TLM PLM PLT CPF CRG COM: a comment of zeros */
		*s = *mark;
		err = s_blank(s, 2, com);
		if (!err)
			err = s_skip(s, 2);
		return err ? err : s_blank(s, n, NULL);
	case 0xFF60: case 0xFF61:	/* PPM, PPT: packet headers */
		return s_skip(s, n);
	}
	err = s_read(s, p, n);
	if (err)
		return err;
	c = st->csz;
	switch (m) {
	case 0xFF51:	/* SIZ: 36 bytes, 3 per component */
		if (n < 36 || n != 36 + 3 * (uint64_t)(p[34] << 8 | p[35]))
			return -EBADMSG;
		st->csz = (p[34] << 8 | p[35]) >= 257 ? 2 : 1;
		return 0;
	case 0xFF50:	/* CAP: Pcap, then one Ccap per bit set */
		return n >= 4 && n == 4 + 2 * (uint64_t)popcount32(
						  (uint32_t)p[0] << 24 |
						  (uint32_t)p[1] << 16 |
						  (uint32_t)p[2] << 8 | p[3])
			       ? 0 : -EBADMSG;
	case 0xFF52:	/* COD: Scod, SGcod (4), SPcod */
		return n >= 5 && j2k_style_ok(p[0], p + 5, n - 5) ? 0
								  : -EBADMSG;
	case 0xFF53:	/* COC: Ccoc, Scoc, SPcoc */
		return n >= c + 1 && j2k_style_ok(p[c], p + c + 1, n - c - 1)
			       ? 0 : -EBADMSG;
	case 0xFF5C:	/* QCD: Sqcd, SPqcd */
		return n >= 1 && j2k_quant_ok(p[0], n - 1) ? 0 : -EBADMSG;
	case 0xFF5D:	/* QCC: Cqcc, Sqcc, SPqcc */
		return n >= c + 1 && j2k_quant_ok(p[c], n - c - 1) ? 0
								     : -EBADMSG;
	case 0xFF5E:	/* RGN: Crgn, Srgn, SPrgn */
		return n == c + 2 ? 0 : -EBADMSG;
	case 0xFF5F:	/* POC: entries of 5 + 2 component indexes */
		return n && n % (5 + 2 * c) == 0 ? 0 : -EBADMSG;
	default:
		return -EBADMSG;
	}
}

/* Packet data to the end of the frame, where a last tile-part of Psot 0
 * runs to EOC (a pad byte may follow): no marker but SOP and EPH may sit
 * in it (0xFF is never followed by 0x90 or more in packet data, A.1), so
 * no further tile-part or header can hide there. */
static int j2k_tail(struct strm *s)
{
	uint64_t left = s_left(s), i, end;
	uint8_t t[3];
	int err, prev = -1;

	if (left < 2)
		return -EBADMSG;
	if (left >= 3) {
		struct strm u = *s;

		err = s_skip(&u, left - 3);
		if (!err)
			err = s_peek(&u, t, 3);
		if (err)
			return err;
		if (t[1] == 0xFF && t[2] == 0xD9)
			end = left - 2;
		else if (t[0] == 0xFF && t[1] == 0xD9 && t[2] == 0)
			end = left - 3;
		else
			return -EBADMSG;
	} else {
		err = s_peek(s, t, 2);
		if (err)
			return err;
		if (t[0] != 0xFF || t[1] != 0xD9)
			return -EBADMSG;
		end = 0;
	}
	for (i = 0; i < end; i++) {
		int b = s_byte(s);

		if (b < 0)
			return -EBADMSG;
		if (prev == 0xFF && b >= 0x90 && b != 0x91 && b != 0x92)
			return -EBADMSG;
		prev = b;
	}
	if (prev == 0xFF)
		return -EBADMSG;	/* FF then EOC */
	return s_skip(s, 2);	/* EOC */
}

static int j2k_frame(struct strm *s, int bounded)
{
	struct j2k_state st = { 1 };
	struct strm mark;
	long m;
	int err;

	if (s_u16(s) != 0xFF4F)	/* SOC */
		return -EBADMSG;
	mark = *s;
	if (s_u16(s) != 0xFF51)	/* SIZ first */
		return -EBADMSG;
	err = j2k_segment(s, &mark, 0xFF51, &st);
	for (;;) {	/* to the first SOT */
		if (err)
			return err;
		mark = *s;
		m = s_u16(s);
		if (m == 0xFF90)
			break;
		err = j2k_segment(s, &mark, m, &st);
	}
	for (;;) {	/* a tile-part; its SOT marker was just read */
		uint64_t start = s->done - 2, psot;
		long a, b;

		if (s_u16(s) != 10 || s_u16(s) < 0)	/* Lsot, Isot */
			return -EBADMSG;
		a = s_u16(s);
		b = s_u16(s);
		if (a < 0 || b < 0 || s_u16(s) < 0)	/* TPsot, TNsot */
			return -EBADMSG;
		psot = (uint64_t)a << 16 | (uint64_t)b;
		for (;;) {	/* to SOD */
			mark = *s;
			m = s_u16(s);
			if (m == 0xFF93)
				break;
			err = j2k_segment(s, &mark, m, &st);
			if (err)
				return err;
		}
		if (!psot)
			return bounded ? j2k_tail(s) : -EBADMSG;
		if (psot < s->done - start)
			return -EBADMSG;
		err = s_skip(s, psot - (s->done - start));
		if (err)
			return err;
		m = s_u16(s);
		if (m == 0xFFD9)	/* EOC */
			return 0;
		if (m != 0xFF90)
			return -EBADMSG;
	}
}

/* ------------------------------------------------------------------ RLE */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The n bytes after a segment's image: no-op codes (0x80) and zeros are
 * what encoders pad with and stay; anything else becomes no-op codes (a
 * decoder that reads a segment to its end finds nothing to add). */
static int rle_rest(struct strm *s, uint64_t n)
{
	struct strm t = *s;
	uint64_t i;

	for (i = 0; i < n; i++) {
		int c = s_byte(&t);

		if (c < 0)
			return -EBADMSG;
		if (c != 0 && c != 0x80)
			return s_fill(s, n, 0x80);
	}
	return s_skip(s, n);
}

/* One frame of RLE (PS3.5 G): a 64-byte header of segment offsets, then
 * one PackBits segment per byte plane, each decoding to Rows x Columns
 * bytes (bits, for 1-bit images; an encoder may add one byte to make the
 * count even).  Unused header entries and what follows a segment's image
 * bytes are zeroed.  The standard wants a frame in one fragment; some
 * writers split it, which the stream reads as one. */
static int rle_frame(struct strm *s)
{
	const struct encap_image *img = s->c->img;
	uint64_t flen = s_left(s), need;
	uint8_t h[64], canon[64];
	uint32_t nseg, off[16], i;
	int err;

	if (flen < 64 || flen > UINT32_MAX)
		return -EBADMSG;
	err = s_peek(s, h, 64);
	if (err)
		return err;
	nseg = le32(h);
	if (nseg < 1 || nseg > 15 ||
	    nseg != img->samples * ((img->bits_allocated + 7) / 8))
		return -EBADMSG;
	memset(canon, 0, sizeof(canon));
	memcpy(canon, h, 4);
	for (i = 0; i < nseg; i++) {
		off[i] = le32(h + 4 + 4 * i);
		if ((i == 0 && off[i] != 64) || (i && off[i] <= off[i - 1]) ||
		    off[i] >= flen)
			return -EBADMSG;
		memcpy(canon + 4 + 4 * i, h + 4 + 4 * i, 4);
	}
	off[nseg] = (uint32_t)flen;
	err = s_blank(s, 64, canon);
	if (err)
		return err;
	need = (uint64_t)img->rows * img->cols;
	if (img->bits_allocated == 1)
		need = (need + 7) / 8;
	for (i = 0; i < nseg; i++) {
		uint64_t n = off[i + 1] - off[i], used = 0, made = 0;

		while (made < need) {
			int c = used < n ? s_byte(s) : -1;

			if (c < 0)
				return -EBADMSG;
			used++;
			if (c < 128) {		/* c + 1 literal bytes */
				if (used + (uint64_t)c + 1 > n)
					return -EBADMSG;
				err = s_skip(s, (uint64_t)c + 1);
				if (err)
					return err;
				used += (uint64_t)c + 1;
				made += (uint64_t)c + 1;
			} else if (c > 128) {	/* one byte, 257 - c times */
				if (used + 1 > n)
					return -EBADMSG;
				err = s_skip(s, 1);
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

/* ------------------------------------------------------------- the map */

static uint16_t get16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The items: the offset table, the fragments, the delimiter at the end. */
static int read_items(struct ctx *c, uint64_t off, uint64_t len,
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
		p = rd_at(&c->rd, pos, &n);
		if (!p)
			return c->rd.err;
		if (n < 8) {	/* across the buffer's end */
			ssize_t got = c->rd.src->pread(c->rd.src->ctx, h, 8,
							pos);
			if (got != 8)
				return got < 0 ? -EIO : -EBADMSG;
			p = h;
		}
		ilen = le32(p + 4);
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
static long frag_at(const struct ctx *c, uint64_t rel)
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
static int bot_frames(struct ctx *c, uint64_t off, uint64_t bot_len,
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
		j = frag_at(c, le32(e));
		if (j < 0 || (k == 0 && j != 0) ||
		    (k && (size_t)j <= start[k - 1]))
			return 0;
		start[k] = (size_t)j;
	}
	return 1;
}

/* The offset table: kept empty when it was; else one entry per frame. */
static int map_bot(struct ctx *c, uint64_t off, uint64_t bot_len,
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
			const uint8_t *s = rd_at(&c->rd, off + i, &k2);

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

static int walk_frames(struct ctx *c, enum codec codec, uint64_t off,
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
		case C_JPEG: err = jpeg_frame(&s, 0); break;
		case C_JPEGLS: err = jpeg_frame(&s, 1); break;
		case C_J2K: err = j2k_frame(&s, fixed); break;
		case C_RLE: err = rle_frame(&s); break;
		default: err = -ENOTSUP; break;
		}
		if (err)
			return c->rd.err && err == -EBADMSG ? c->rd.err : err;
		/* after the codestream: padding at most */
		err = s_blank(&s, c->f[s.fi].len - s.pos, NULL);
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
	struct ctx c;
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
	c.rd.buf = malloc(RD_BUF);
	c.scratch = malloc(MAX_SEG);
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
	free(c.pbuf);
	free(c.scratch);
	free(c.rd.buf);
	return err;
}
