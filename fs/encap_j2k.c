/*
 * encap_j2k.c - JPEG 2000 and HTJ2K codestreams (ISO 15444-1, -15): the main
 * and tile-part headers walked, tile-parts skipped by their lengths.
 * (see encap.h for what is kept, blanked and refused; strm.h for the
 * stream).
 */
#include "strm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	long len = strm_u16(s);
	int err;

	if (len < 2)
		return -EBADMSG;
	n = (uint64_t)len - 2;
	switch (m) {
	case 0xFF55: case 0xFF57: case 0xFF58: case 0xFF59: case 0xFF63:
	case 0xFF64:	/* TLM PLM PLT CPF CRG COM: a comment of zeros */
		*s = *mark;
		err = strm_blank(s, 2, com);
		if (!err)
			err = strm_skip(s, 2);
		return err ? err : strm_blank(s, n, NULL);
	case 0xFF60: case 0xFF61:	/* PPM, PPT: packet headers */
		return strm_skip(s, n);
	}
	err = strm_read(s, p, n);
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
	uint64_t left = strm_left(s), i, end;
	uint8_t t[3];
	int err, prev = -1;

	if (left < 2)
		return -EBADMSG;
	if (left >= 3) {
		struct strm u = *s;

		err = strm_skip(&u, left - 3);
		if (!err)
			err = strm_peek(&u, t, 3);
		if (err)
			return err;
		if (t[1] == 0xFF && t[2] == 0xD9)
			end = left - 2;
		else if (t[0] == 0xFF && t[1] == 0xD9 && t[2] == 0)
			end = left - 3;
		else
			return -EBADMSG;
	} else {
		err = strm_peek(s, t, 2);
		if (err)
			return err;
		if (t[0] != 0xFF || t[1] != 0xD9)
			return -EBADMSG;
		end = 0;
	}
	for (i = 0; i < end; i++) {
		int b = strm_byte(s);

		if (b < 0)
			return -EBADMSG;
		if (prev == 0xFF && b >= 0x90 && b != 0x91 && b != 0x92)
			return -EBADMSG;
		prev = b;
	}
	if (prev == 0xFF)
		return -EBADMSG;	/* FF then EOC */
	return strm_skip(s, 2);	/* EOC */
}

int encap_j2k_frame(struct strm *s, int bounded)
{
	struct j2k_state st = { 1 };
	struct strm mark;
	long m;
	int err;

	if (strm_u16(s) != 0xFF4F)	/* SOC */
		return -EBADMSG;
	mark = *s;
	if (strm_u16(s) != 0xFF51)	/* SIZ first */
		return -EBADMSG;
	err = j2k_segment(s, &mark, 0xFF51, &st);
	for (;;) {	/* to the first SOT */
		if (err)
			return err;
		mark = *s;
		m = strm_u16(s);
		if (m == 0xFF90)
			break;
		err = j2k_segment(s, &mark, m, &st);
	}
	for (;;) {	/* a tile-part; its SOT marker was just read */
		uint64_t start = s->done - 2, psot;
		long a, b;

		if (strm_u16(s) != 10 || strm_u16(s) < 0)	/* Lsot, Isot */
			return -EBADMSG;
		a = strm_u16(s);
		b = strm_u16(s);
		if (a < 0 || b < 0 || strm_u16(s) < 0)	/* TPsot, TNsot */
			return -EBADMSG;
		psot = (uint64_t)a << 16 | (uint64_t)b;
		for (;;) {	/* to SOD */
			mark = *s;
			m = strm_u16(s);
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
		err = strm_skip(s, psot - (s->done - start));
		if (err)
			return err;
		m = strm_u16(s);
		if (m == 0xFFD9)	/* EOC */
			return 0;
		if (m != 0xFF90)
			return -EBADMSG;
	}
}

