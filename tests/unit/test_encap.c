/*
 * test_encap.c - encapsulated pixel data walked as codestreams (encap.c):
 * where frames start, what is kept byte for byte, what is blanked, and
 * what is refused.  Streams are built here, marker by marker.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "encap.h"
#include "../mem_source.h"

#define TS_JPEG_LOSSLESS "1.2.840.10008.1.2.4.70"
#define TS_JPEG_LS "1.2.840.10008.1.2.4.80"
#define TS_J2K "1.2.840.10008.1.2.4.90"
#define TS_RLE "1.2.840.10008.1.2.5"

struct buf {
	uint8_t b[8192];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	if (n)	/* p may be NULL then */
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void item(struct buf *b, const void *p, uint32_t n)
{
	uint8_t h[8] = { 0xFE, 0xFF, 0x00, 0xE0, (uint8_t)n, (uint8_t)(n >> 8),
			 (uint8_t)(n >> 16), (uint8_t)(n >> 24) };

	put(b, h, 8);
	put(b, p, n);
}

static void delim(struct buf *b)
{
	static const uint8_t d[8] = { 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0 };

	put(b, d, 8);
}

/* A JPEG lossless codestream: SOF3, DHT, SOS, entropy-coded data with a
 * stuffed 0xFF and a restart marker, then extra (before EOI). */
static size_t jpeg(uint8_t *out, const void *extra, size_t nextra)
{
	static const uint8_t head[] = {
		0xFF, 0xD8,				/* SOI */
		0xFF, 0xC3, 0x00, 0x0B, 16, 0, 8, 0, 8, 1, 1, 0x11, 0,
		0xFF, 0xC4, 0x00, 0x14, 0x00,		/* DHT: one code */
		1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05,
		0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 1, 0, 0,	/* SOS */
		0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD0, 0x78,	/* data */
	};
	size_t n = sizeof(head);

	memcpy(out, head, n);
	if (nextra)
		memcpy(out + n, extra, nextra);
	n += nextra;
	out[n++] = 0xFF;
	out[n++] = 0xD9;			/* EOI */
	return n;
}

static int map(const struct buf *b, const char *ts, uint32_t frames,
	       struct bytemap *m, uint8_t *out, size_t *outn)
{
	struct mem mm = { b->b, b->n };
	struct dicom_source src = { &mm, mem_pread, b->n, NULL };
	struct encap_image img = { ts, frames, 8, 8, 1, 16 };
	size_t i;
	int err;

	memset(m, 0, sizeof(*m));
	err = encap_map(&src, 0, b->n, &img, m);
	if (err)
		return err;
	assert_true(m->size <= 8192);
	for (i = 0; i < m->n; i++) {
		const struct bytemap_piece *q = &m->piece[i];

		if (q->kind == BYTEMAP_SRC) {
			assert_true(q->at + q->len <= b->n);
			memcpy(out + q->out, b->b + q->at, q->len);
		} else {
			memcpy(out + q->out, m->gen + q->at, q->len);
		}
	}
	*outn = m->size;
	return 0;
}

/* A clean stream, two frames in three fragments (the first split), no
 * offset table: every byte is kept, as one source range. */
static void test_clean_frames_split(void **state)
{
	uint8_t j[256], out[8192];
	struct buf b = { .n = 0 };
	struct bytemap m;
	size_t n = jpeg(j, NULL, 0), outn;

	(void)state;
	item(&b, NULL, 0);
	item(&b, j, 10);
	item(&b, j + 10, (uint32_t)(n - 10));
	item(&b, j, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 2, &m, out, &outn), 0);
	assert_int_equal(outn, b.n);
	assert_memory_equal(out, b.b, b.n);
	assert_int_equal(m.n, 1);	/* one source range */
	bytemap_clear(&m);
	/* the same as three frames: fewer codestreams than frames */
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 3, &m, out, &outn),
			 -EBADMSG);
	bytemap_clear(&m);
}

/* A comment after the scan, an application segment, bytes after EOI: the
 * same length, the text gone, all else as it was. */
static void test_comment_blanked(void **state)
{
	static const uint8_t com[] = { 0xFF, 0xFE, 0x00, 0x07, 'K', 'A',
				       'R', 'I', 'N' };
	static const uint8_t app[] = { 0xFF, 0xE1, 0x00, 0x08, 'E', 'x',
				       'i', 'f', 'O', 'L' };
	uint8_t j[256], f[300], out[8192];
	struct buf b = { .n = 0 };
	struct bytemap m;
	size_t n = jpeg(j, com, sizeof(com)), outn, i;

	(void)state;
	memcpy(f, j, 2);
	memcpy(f + 2, app, sizeof(app));	/* after SOI */
	memcpy(f + 2 + sizeof(app), j + 2, n - 2);
	n += sizeof(app);
	memcpy(f + n, "OLA\0", 4);		/* after EOI */
	n += 4;
	item(&b, NULL, 0);
	item(&b, f, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 1, &m, out, &outn), 0);
	assert_int_equal(outn, b.n);
	assert_null(memmem(out, outn, "KARIN", 5));
	assert_null(memmem(out, outn, "OL", 2));
	assert_null(memmem(out, outn, "Exif", 4));
	for (i = 0; i < outn; i++)	/* differs only where text was */
		if (out[i] != b.b[i])
			assert_int_equal(out[i], 0);
	/* markers and lengths stay */
	assert_non_null(memmem(out, outn, "\xFF\xFE\x00\x07", 4));
	assert_non_null(memmem(out, outn, "\xFF\xE1\x00\x08", 4));
	bytemap_clear(&m);
}

/* An offset table that names one fragment per frame is kept; one of text
 * is made again from where the frames start; an empty one stays empty. */
static void test_offset_table(void **state)
{
	uint8_t j[256], out[8192];
	struct buf b = { .n = 0 };
	struct bytemap m;
	size_t n = jpeg(j, NULL, 0), outn;
	uint32_t bot[2] = { 0, 0 };
	uint32_t second = (uint32_t)(8 + 10 + 8 + (n - 10));

	(void)state;
	bot[1] = second;	/* frame 2 starts at the third fragment */
	item(&b, bot, 8);
	item(&b, j, 10);
	item(&b, j + 10, (uint32_t)(n - 10));
	item(&b, j, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 2, &m, out, &outn), 0);
	assert_memory_equal(out, b.b, b.n);
	bytemap_clear(&m);

	memcpy(b.b + 8, "NAME", 4);	/* a table of text */
	memcpy(b.b + 12, "TEXT", 4);
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 2, &m, out, &outn), 0);
	assert_int_equal(outn, b.n);
	memcpy(b.b + 8, "\0\0\0\0", 4);
	memcpy(b.b + 12, &second, 4);
	assert_memory_equal(out, b.b, b.n);	/* the right offsets */
	bytemap_clear(&m);
}

/* JPEG 2000: COM in the main and in a tile-part header blanked, the
 * tile-part length followed; a last tile-part of Psot 0 runs to EOC. */
static void test_j2k(void **state)
{
	static const uint8_t cs[] = {
		0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0, 0,	/* SOC SIZ */
		0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 1, 0x0F, 1, 1,
		0xFF, 0x64, 0x00, 0x08, 0x00, 0x01, 'A', 'N', 'N', 'E',
		0xFF, 0x90, 0x00, 0x0A, 0, 0, 0, 0, 0, 26, 0, 1,
		0xFF, 0x64, 0x00, 0x06, 0x00, 0x01, 'O', 'L',
		0xFF, 0x93, 0x01, 0x02, 0x03, 0x04,
		0xFF, 0x90, 0x00, 0x0A, 0, 0, 0, 0, 0, 0, 1, 2,	/* Psot 0 */
		0xFF, 0x93, 0x05, 0x06, 0xFF, 0xD9, 0x00, 0x00,
	};
	uint8_t out[8192];
	struct buf b = { .n = 0 };
	struct bytemap m;
	size_t outn;

	(void)state;
	item(&b, NULL, 0);
	item(&b, cs, sizeof(cs) - 1);	/* EOC then one pad byte */
	delim(&b);
	assert_int_equal(map(&b, TS_J2K, 1, &m, out, &outn), 0);
	assert_int_equal(outn, b.n);
	assert_null(memmem(out, outn, "ANNE", 4));
	assert_null(memmem(out, outn, "OL", 2));
	assert_non_null(memmem(out, outn, "\x01\x02\x03\x04", 4));
	bytemap_clear(&m);
	/* cut after the first tile-part: no EOC */
	b.n = 0;
	item(&b, NULL, 0);
	item(&b, cs, 81);
	delim(&b);
	assert_int_equal(map(&b, TS_J2K, 1, &m, out, &outn), -EBADMSG);
	bytemap_clear(&m);
}

/* RLE: unused offsets and bytes after a segment's image zeroed. */
static void test_rle(void **state)
{
	uint8_t f[64 + 2 * 8], out[8192];
	struct buf b = { .n = 0 };
	struct bytemap m;
	size_t outn;
	uint32_t hdr[16] = { 2, 64, 64 + 8 };

	(void)state;
	memcpy(&hdr[5], "TEXTTEXT", 8);		/* unused entries */
	memcpy(f, hdr, 64);
	/* each plane: 64 bytes as a run of 64 (-63), then text */
	memcpy(f + 64, "\xC1\x07" "EVA!!!", 8);
	memcpy(f + 72, "\xC1\x09" "\x80\x80\x80\x80\x80\x80", 8);
	item(&b, NULL, 0);
	item(&b, f, sizeof(f));
	delim(&b);
	assert_int_equal(map(&b, TS_RLE, 1, &m, out, &outn), 0);
	assert_null(memmem(out, outn, "TEXT", 4));
	assert_null(memmem(out, outn, "EVA", 3));
	/* what follows an image is no-op codes (0x80), not literals */
	assert_non_null(memmem(out, outn, "\xC1\x07\x80\x80\x80\x80\x80\x80",
			       8));
	assert_non_null(memmem(out, outn, "\xC1\x09\x80", 3));	/* kept */
	bytemap_clear(&m);
	/* a segment that decodes past its image */
	f[64] = 0xBF;	/* a run of 66 */
	b.n = 0;
	item(&b, NULL, 0);
	item(&b, f, sizeof(f));
	delim(&b);
	assert_int_equal(map(&b, TS_RLE, 1, &m, out, &outn), -EBADMSG);
	bytemap_clear(&m);
}

/* Segments decoders use must be exactly their syntax's length; optional
 * JPEG 2000 segments become comments; markers in the packet data of a
 * last tile-part, unknown markers, and too many changes are refused. */
static void test_segments_exact(void **state)
{
	static const uint8_t dri_text[] = { 0xFF, 0xDD, 0x00, 0x06, 0x00,
					    0x10, 'O', 'L' };
	static const uint8_t dnl[] = { 0xFF, 0xDC, 0x00, 0x04, 0x00, 0x08 };
	static const uint8_t head[] = {
		0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0, 0,	/* SOC SIZ */
		0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 1, 0x0F, 1, 1,
	};
	/* a tile-part with a PLT of text, then one of Psot 0 */
	static const uint8_t tiles[] = {
		0xFF, 0x90, 0x00, 0x0A, 0, 0, 0, 0, 0, 26, 0, 2,
		0xFF, 0x58, 0x00, 0x06, 0x00, 'O', 'L', 'A',
		0xFF, 0x93, 0x01, 0x02, 0x03, 0x04,
		0xFF, 0x90, 0x00, 0x0A, 0, 0, 0, 0, 0, 0, 1, 2,
		0xFF, 0x93, 0x05, 0x06, 0xFF, 0xD9,
	};
	uint8_t j[256], cs[512], out[8192], many[4096];
	struct buf b = { .n = 0 };
	struct bytemap m;
	size_t n, outn, i;

	(void)state;
	n = jpeg(j, dri_text, sizeof(dri_text));	/* DRI + 2 bytes */
	item(&b, NULL, 0);
	item(&b, j, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 1, &m, out, &outn),
			 -EBADMSG);
	bytemap_clear(&m);
	n = jpeg(j, dnl, sizeof(dnl));	/* DNL after the scan: fine */
	b.n = 0;
	item(&b, NULL, 0);
	item(&b, j, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 1, &m, out, &outn), 0);
	assert_memory_equal(out, b.b, b.n);
	bytemap_clear(&m);

	/* PLT: a comment of zeros, the same length */
	memcpy(cs, head, sizeof(head));
	memcpy(cs + sizeof(head), tiles, sizeof(tiles));
	n = sizeof(head) + sizeof(tiles);
	b.n = 0;
	item(&b, NULL, 0);
	item(&b, cs, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_J2K, 1, &m, out, &outn), 0);
	assert_int_equal(outn, b.n);
	assert_null(memmem(out, outn, "OLA", 3));
	assert_non_null(memmem(out, outn, "\xFF\x64\x00\x06\x00\x00\x00\x00",
			       8));
	bytemap_clear(&m);
	/* an unknown marker (Part 2's range) in the main header */
	memcpy(cs + sizeof(head), "\xFF\x74\x00\x04\x00\x00", 6);
	memcpy(cs + sizeof(head) + 6, tiles, sizeof(tiles));
	b.n = 0;
	item(&b, NULL, 0);
	item(&b, cs, (uint32_t)(n + 6));
	delim(&b);
	assert_int_equal(map(&b, TS_J2K, 1, &m, out, &outn), -EBADMSG);
	bytemap_clear(&m);
	/* Psot 0 on the first tile-part: the second one is in its data */
	memcpy(cs + sizeof(head), tiles, sizeof(tiles));
	cs[sizeof(head) + 9] = 0;
	b.n = 0;
	item(&b, NULL, 0);
	item(&b, cs, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_J2K, 1, &m, out, &outn), -EBADMSG);
	bytemap_clear(&m);

	/* 100 comments in one frame: more changes than a real file makes */
	for (i = 0, n = 0; i < 100; i++) {
		memcpy(many + n, "\xFF\xFE\x00\x03X", 5);
		n += 5;
	}
	{
		static uint8_t big[1024];
		size_t k = jpeg(big, many, n);

		b.n = 0;
		item(&b, NULL, 0);
		item(&b, big, (uint32_t)k);
		delim(&b);
	}
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 1, &m, out, &outn),
			 -E2BIG);
	bytemap_clear(&m);
}

/* What cannot be walked is refused. */
static void test_refused(void **state)
{
	uint8_t j[256], out[8192];
	struct buf b = { .n = 0 };
	struct bytemap m;
	size_t n = jpeg(j, NULL, 0), outn;

	(void)state;
	item(&b, NULL, 0);
	item(&b, "not a codestream", 16);
	delim(&b);
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 1, &m, out, &outn),
			 -EBADMSG);
	bytemap_clear(&m);
	assert_int_equal(map(&b, "1.2.840.10008.1.2.4.100", 1, &m, out,
			     &outn), -ENOTSUP);
	bytemap_clear(&m);
	/* a reserved marker inside the header */
	b.n = 0;
	j[2] = 0xFF;
	j[3] = 0x02;
	item(&b, NULL, 0);
	item(&b, j, (uint32_t)n);
	delim(&b);
	assert_int_equal(map(&b, TS_JPEG_LS, 1, &m, out, &outn), -EBADMSG);
	bytemap_clear(&m);
	/* no delimiter */
	b.n -= 8;
	assert_int_equal(map(&b, TS_JPEG_LOSSLESS, 1, &m, out, &outn),
			 -EBADMSG);
	bytemap_clear(&m);
	assert_true(encap_ts_known(TS_J2K));
	assert_true(encap_ts_known("1.2.840.10008.1.2.4.50"));
	assert_false(encap_ts_known("1.2.840.10008.1.2.4.67"));
	assert_false(encap_ts_known("1.2.840.10008.1.2.4.5"));
	assert_false(encap_ts_known("1.2.840.10008.1.2.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_frames_split),
		cmocka_unit_test(test_comment_blanked),
		cmocka_unit_test(test_offset_table),
		cmocka_unit_test(test_j2k),
		cmocka_unit_test(test_rle),
		cmocka_unit_test(test_segments_exact),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
