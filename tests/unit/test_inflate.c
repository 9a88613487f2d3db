/*
 * test_inflate.c - deflated datasets as a stream (inflate.c): reads
 * anywhere give the bytes zlib gives, in any order; a bomb is refused
 * having read only what it took to pass the limit; the stream forms the
 * parser accepts are the ones it accepted when it inflated everything at
 * once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>

#include "inflate.h"

/* ------------------------------------------------------------ sources */

struct src {
	const uint8_t *p;
	size_t n;
	uint64_t read_max;	/* highest offset read + 1 */
};

static ssize_t src_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct src *s = ctx;

	if (off >= s->n)
		return 0;
	if (n > s->n - off)
		n = s->n - (size_t)off;
	memcpy(buf, s->p + off, n);
	if (off + n > s->read_max)
		s->read_max = off + n;
	return (ssize_t)n;
}

/* n bytes whose every 8-byte word holds its own offset, xor a mix: any
 * misplaced byte shows, and deflate still finds matches in the rest. */
static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (i % 4096 < 8) ? (uint8_t)((i / 4096) >> (8 * (i % 8)))
				      : (uint8_t)(i * 2654435761u >> 13 & 0x3f);
	return p;
}

/* deflate of p (wbits as deflateInit2: -15 raw, 15 zlib, 31 gzip), after
 * `lead` bytes of something else (a file meta stand-in). */
static uint8_t *deflated(const uint8_t *p, size_t n, int wbits, size_t lead,
			 size_t *outn)
{
	z_stream z;
	size_t cap = lead + compressBound(n) + 64;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	memset(out, 'M', lead);
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (uint8_t *)p;
	z.avail_in = (uInt)n;
	z.next_out = out + lead;
	z.avail_out = (uInt)(cap - lead);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outn = lead + z.total_out;
	deflateEnd(&z);
	return out;
}

static struct inflate_cursor *opened(struct src *s, size_t lead,
				     uint64_t limit, uint64_t *size,
				     struct inflate_where *w, int *err)
{
	struct inflate_cursor *c = NULL;

	*err = inflate_open(src_pread, s, lead, s->n, limit, 1u << 16, w,
			    size, &c);
	return c;
}

/* ------------------------------------------------------------- cursor */

static void check_reads(struct inflate_cursor *c, const uint8_t *want,
			size_t n, unsigned seed)
{
	uint8_t *got = malloc(n + 1);
	size_t i, off, len;
	ssize_t r;

	assert_non_null(got);
	srand(seed);
	/* in order, in odd pieces */
	for (off = 0; off < n; off += len) {
		len = (size_t)(rand() % 300000) + 1;
		if (len > n - off)
			len = n - off;
		assert_int_equal(inflate_read(c, off, got + off, len),
				 (ssize_t)len);
	}
	assert_memory_equal(got, want, n);
	/* backwards, a MiB at a time (every read behind the ring) */
	for (off = n; off > 0; off -= len) {
		len = off < (1u << 20) ? off : (1u << 20);
		memset(got, 0, len);
		assert_int_equal(inflate_read(c, off - len, got, len),
				 (ssize_t)len);
		assert_memory_equal(got, want + off - len, len);
	}
	/* anywhere */
	for (i = 0; i < 200; i++) {
		off = (size_t)rand() % n;
		len = (size_t)(rand() % 70000) + 1;
		if (len > n - off)
			len = n - off;
		assert_int_equal(inflate_read(c, off, got, len), (ssize_t)len);
		assert_memory_equal(got, want + off, len);
	}
	/* short at the end, nothing past it */
	r = inflate_read(c, n - 10, got, 100);
	assert_int_equal(r, 10);
	assert_memory_equal(got, want + n - 10, 10);
	assert_int_equal(inflate_read(c, n, got, 100), 0);
	assert_int_equal(inflate_read(c, n + 12345, got, 100), 0);
	free(got);
}

static void test_reads_anywhere(void **state)
{
	const size_t n = 8u << 20, lead = 300;
	static const int wbits[] = { -15, 15, 31 };
	uint8_t *p = pattern(n);
	unsigned k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct inflate_where w;
		struct inflate_cursor *c, *c2 = NULL;
		uint64_t size = 0;
		size_t zn;
		uint8_t *z = deflated(p, n, wbits[k], lead, &zn);
		struct src s = { z, zn, 0 };
		int err;

		c = opened(&s, lead, INFLATE_LIMIT, &size, &w, &err);
		assert_int_equal(err, 0);
		assert_int_equal(size, n);
		assert_int_equal(w.off, lead);
		assert_int_equal(w.wrapped, wbits[k] > 0);
		check_reads(c, p, n, k);
		/* a fresh cursor, as the view makes one, from w alone */
		assert_int_equal(inflate_cursor_new(src_pread, &s, &w, zn,
						    2u << 20, &c2), 0);
		check_reads(c2, p, n, k + 10);
		inflate_cursor_free(c2);
		inflate_cursor_free(c);
		free(z);
	}
	free(p);
}

/* What the parser accepted when it inflated the whole stream at once: the
 * stream ends (whatever follows it), or the input runs out after some
 * output; not deflate, nothing out, or over the limit: refused. */
static void test_accepted_forms(void **state)
{
	const size_t n = 1u << 20;
	uint8_t *p = pattern(n), *z, *g;
	struct inflate_where w;
	struct inflate_cursor *c;
	uint64_t size;
	size_t zn;
	struct src s;
	int err;

	(void)state;
	z = deflated(p, n, -15, 0, &zn);
	/* cut short: what came out is the dataset */
	s = (struct src){ z, zn / 2, 0 };
	c = opened(&s, 0, INFLATE_LIMIT, &size, &w, &err);
	assert_int_equal(err, 0);
	assert_true(size > 0 && size < n);
	inflate_cursor_free(c);
	/* cut to nothing that inflates */
	s = (struct src){ z, 1, 0 };
	c = opened(&s, 0, INFLATE_LIMIT, &size, &w, &err);
	assert_int_equal(err, -EBADMSG);
	assert_null(c);
	/* garbage after the end of the stream is not the dataset */
	g = malloc(zn + 100);
	memcpy(g, z, zn);
	memset(g + zn, 0x5a, 100);
	s = (struct src){ g, zn + 100, 0 };
	c = opened(&s, 0, INFLATE_LIMIT, &size, &w, &err);
	assert_int_equal(err, 0);
	assert_int_equal(size, n);
	inflate_cursor_free(c);
	/* not deflate */
	memset(g, 0xff, 200);
	s = (struct src){ g, 200, 0 };
	c = opened(&s, 0, INFLATE_LIMIT, &size, &w, &err);
	assert_int_equal(err, -EBADMSG);
	/* exactly at the limit, and one byte over it */
	s = (struct src){ z, zn, 0 };
	c = opened(&s, 0, n, &size, &w, &err);
	assert_int_equal(err, 0);
	inflate_cursor_free(c);
	c = opened(&s, 0, n - 1, &size, &w, &err);
	assert_int_equal(err, -EBADMSG);
	/* more compressed bytes than the limit: refused unread */
	s = (struct src){ z, zn, 0 };
	c = opened(&s, 0, zn - 1, &size, &w, &err);
	assert_int_equal(err, -EBADMSG);
	assert_int_equal(s.read_max, 0);
	free(g);
	free(z);
	free(p);
}

/* A bomb: 300 MiB of zeros from 300 KiB of input (the e2e tests feed the
 * real limit a real one).  Refused as soon as the output passes the limit,
 * with most of the input unread, and nothing held beyond the cursor's own
 * memory. */
static void test_bomb_stops_at_the_limit(void **state)
{
	const size_t chunk = 1u << 20;
	const uint64_t limit = 16ull << 20;
	uint8_t *zeros = calloc(1, chunk), *seg, *bomb;
	size_t segn, i, reps = 300, bn;
	z_stream z;
	struct inflate_where w;
	struct inflate_cursor *c;
	uint64_t size;
	struct src s;
	int err;

	(void)state;
	/* one fully flushed segment of zeros: segments can be repeated */
	seg = malloc(compressBound(chunk) + 64);
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 9,
				      Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = zeros;
	z.avail_in = (uInt)chunk;
	z.next_out = seg;
	z.avail_out = (uInt)(compressBound(chunk) + 64);
	assert_int_equal(deflate(&z, Z_FULL_FLUSH), Z_OK);
	segn = z.total_out;
	deflateEnd(&z);
	bn = segn * reps + 2;
	bomb = malloc(bn);
	for (i = 0; i < reps; i++)
		memcpy(bomb + i * segn, seg, segn);
	bomb[bn - 2] = 0x03;	/* final empty fixed block */
	bomb[bn - 1] = 0x00;

	/* stopped within a ring of output past the limit, having read (for
	 * each of the two forms tried) about the limit's share of the input
	 * and an input buffer more */
	s = (struct src){ bomb, bn, 0 };
	c = opened(&s, 0, limit, &size, &w, &err);
	assert_int_equal(err, -EBADMSG);
	assert_null(c);
	assert_true(s.read_max < bn / 2);
	/* under the limit it is a valid stream of zeros */
	s = (struct src){ bomb, bn, 0 };
	c = opened(&s, 0, INFLATE_LIMIT, &size, &w, &err);
	assert_int_equal(err, 0);
	assert_int_equal(size, (uint64_t)reps * chunk);
	{
		uint8_t buf[4096], zero[4096] = { 0 };

		assert_int_equal(inflate_read(c, size - 4096, buf, 4096), 4096);
		assert_memory_equal(buf, zero, 4096);
	}
	inflate_cursor_free(c);
	free(bomb);
	free(seg);
	free(zeros);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_anywhere),
		cmocka_unit_test(test_accepted_forms),
		cmocka_unit_test(test_bomb_stops_at_the_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
