/*
 * sha256.c - the SHA-256 compression function (FIPS 180-4) in three forms:
 * plain C, the CPU's SHA extensions (one stream), AVX-512 (sixteen
 * streams, one a lane).  All three are checked against each other and
 * against the NIST vectors in tests/unit/test_keyed.c.  See sha256.h.
 *
 * The SHA extensions keep the state as two vectors, ABEF and CDGH, and do
 * two rounds an instruction; the message schedule is four words an
 * instruction pair.  The AVX-512 form is the plain round, each operation
 * on sixteen lanes: the sixteen messages' words are transposed in (word t
 * of every lane in one vector), the state stays transposed between blocks.
 */
#include "sha256.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t k256[64] __attribute__((aligned(64))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* ------------------------------------------------------------ plain C */

static uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void blocks_c(uint32_t h[8], const uint8_t *p, size_t nblk)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int i;

	for (; nblk; nblk--, p += 64) {
		for (i = 0; i < 16; i++)
			w[i] = load_be32(p + 4 * i);
		for (i = 16; i < 64; i++) {
			uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^
				      (w[i - 15] >> 3);
			uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^
				      (w[i - 2] >> 10);

			w[i] = w[i - 16] + s0 + w[i - 7] + s1;
		}
		a = h[0];
		b = h[1];
		c = h[2];
		d = h[3];
		e = h[4];
		f = h[5];
		g = h[6];
		hh = h[7];
		for (i = 0; i < 64; i++) {
			t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) +
			     ((e & f) ^ (~e & g)) + k256[i] + w[i];
			t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) +
			     ((a & b) ^ (a & c) ^ (b & c));
			hh = g;
			g = f;
			f = e;
			e = d + t1;
			d = c;
			c = b;
			b = a;
			a = t1 + t2;
		}
		h[0] += a;
		h[1] += b;
		h[2] += c;
		h[3] += d;
		h[4] += e;
		h[5] += f;
		h[6] += g;
		h[7] += hh;
	}
	/* The schedule is derived from the message (PHI or key bytes). */
	explicit_bzero(w, sizeof(w));
}

#ifdef HAVE_X86
/* ------------------------------------------------- the SHA extensions */

#define NI __attribute__((target("sha,sse4.1,ssse3")))

/* The message's bytes in big-endian words. */
#define BSWAP128 _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL)

NI static void blocks_ni(uint32_t h[8], const uint8_t *p, size_t nblk)
{
	const __m128i bs = BSWAP128;
	__m128i abef, cdgh, t;

	/* h[0..3] = A B C D, h[4..7] = E F G H, lane 0 first */
	t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]),
				 0x1B);
	abef = _mm_alignr_epi8(t, cdgh, 8);
	cdgh = _mm_blend_epi16(cdgh, t, 0xF0);
	for (; nblk; nblk--, p += 64) {
		__m128i abef0 = abef, cdgh0 = cdgh, m[4];
		int r;

		for (r = 0; r < 4; r++)
			m[r] = _mm_shuffle_epi8(
				_mm_loadu_si128((const __m128i *)(p + 16 * r)),
				bs);
		/* sixteen groups of four rounds; m[r & 3] is W[4r..4r+3],
		 * replaced by W[4r+16..4r+19] once used */
		for (r = 0; r < 16; r++) {
			__m128i wk = _mm_add_epi32(
				m[r & 3],
				_mm_load_si128((const __m128i *)&k256[4 * r]));

			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
			if (r < 12) {
				__m128i x = _mm_sha256msg1_epu32(
					m[r & 3], m[(r + 1) & 3]);

				x = _mm_add_epi32(
					x, _mm_alignr_epi8(m[(r + 3) & 3],
							   m[(r + 2) & 3], 4));
				m[r & 3] = _mm_sha256msg2_epu32(
					x, m[(r + 3) & 3]);
			}
			abef = _mm_sha256rnds2_epu32(
				abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}
	t = _mm_shuffle_epi32(abef, 0x1B);
	cdgh = _mm_shuffle_epi32(cdgh, 0xB1);
	_mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, cdgh, 0xF0));
	_mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(cdgh, t, 8));
}

/* --------------------------------------------- AVX-512, sixteen lanes */

#define X16 __attribute__((target("avx512f,avx512bw")))
#define XOR3(a, b, c) _mm512_ternarylogic_epi32(a, b, c, 0x96)
#define CH(e, f, g) _mm512_ternarylogic_epi32(e, f, g, 0xCA)
#define MAJ(a, b, c) _mm512_ternarylogic_epi32(a, b, c, 0xE8)
#define ADD _mm512_add_epi32
#define ROR _mm512_ror_epi32

/* Round t: d and h take the new e and a; the caller rotates the names. */
#define ROUND(a, b, c, d, e, f, g, h, t)                                   \
	do {                                                               \
		__m512i t1_ = ADD(ADD(h, ADD(_mm512_set1_epi32(            \
						 (int)k256[t]), w[(t) & 15])), \
				  ADD(XOR3(ROR(e, 6), ROR(e, 11), ROR(e, 25)), \
				      CH(e, f, g)));                       \
		__m512i t2_ = ADD(XOR3(ROR(a, 2), ROR(a, 13), ROR(a, 22)), \
				  MAJ(a, b, c));                           \
		d = ADD(d, t1_);                                           \
		h = ADD(t1_, t2_);                                         \
	} while (0)

/* W[t] from W[t-16], W[t-15], W[t-7] and W[t-2], in place of W[t-16]. */
#define SCHED(t)                                                           \
	do {                                                               \
		__m512i x_ = w[((t) - 15) & 15], y_ = w[((t) - 2) & 15];   \
		w[(t) & 15] = ADD(                                         \
			ADD(w[(t) & 15], w[((t) - 7) & 15]),               \
			ADD(XOR3(ROR(x_, 7), ROR(x_, 18),                  \
				 _mm512_srli_epi32(x_, 3)),                \
			    XOR3(ROR(y_, 17), ROR(y_, 19),                 \
				 _mm512_srli_epi32(y_, 10))));             \
	} while (0)

#define EIGHT(t)                                                           \
	do {                                                               \
		ROUND(a, b, c, d, e, f, g, h, (t) + 0);                    \
		ROUND(h, a, b, c, d, e, f, g, (t) + 1);                    \
		ROUND(g, h, a, b, c, d, e, f, (t) + 2);                    \
		ROUND(f, g, h, a, b, c, d, e, (t) + 3);                    \
		ROUND(e, f, g, h, a, b, c, d, (t) + 4);                    \
		ROUND(d, e, f, g, h, a, b, c, (t) + 5);                    \
		ROUND(c, d, e, f, g, h, a, b, (t) + 6);                    \
		ROUND(b, c, d, e, f, g, h, a, (t) + 7);                    \
	} while (0)

/* w[t] = word t (big-endian) of the block at p[lane] + off, every lane:
 * a 16 x 16 transpose of 32-bit words, by pairs of words, then of pairs,
 * then of 128-bit quarters. */
X16 __attribute__((no_sanitize_address)) static void
load_x16(__m512i w[16], const uint8_t *const p[16], size_t off)
{
	const __m512i bs = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b,
					     0x04050607, 0x00010203);
	__m512i r[16], a[16], b[16];
	int j, c;

	for (j = 0; j < 16; j++)
		r[j] = _mm512_loadu_si512((const void *)(p[j] + off));
	for (j = 0; j < 8; j++) {
		a[2 * j] = _mm512_unpacklo_epi32(r[2 * j], r[2 * j + 1]);
		a[2 * j + 1] = _mm512_unpackhi_epi32(r[2 * j], r[2 * j + 1]);
	}
	/* b[4j + c], quarter q: word 4q + c of lanes 4j .. 4j + 3 */
	for (j = 0; j < 4; j++) {
		b[4 * j] = _mm512_unpacklo_epi64(a[4 * j], a[4 * j + 2]);
		b[4 * j + 1] = _mm512_unpackhi_epi64(a[4 * j], a[4 * j + 2]);
		b[4 * j + 2] = _mm512_unpacklo_epi64(a[4 * j + 1],
						     a[4 * j + 3]);
		b[4 * j + 3] = _mm512_unpackhi_epi64(a[4 * j + 1],
						     a[4 * j + 3]);
	}
	for (c = 0; c < 4; c++) {
		__m512i lo01 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x44);
		__m512i hi01 = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xEE);
		__m512i lo23 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x44);
		__m512i hi23 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xEE);

		w[c] = _mm512_shuffle_epi8(
			_mm512_shuffle_i32x4(lo01, lo23, 0x88), bs);
		w[4 + c] = _mm512_shuffle_epi8(
			_mm512_shuffle_i32x4(lo01, lo23, 0xDD), bs);
		w[8 + c] = _mm512_shuffle_epi8(
			_mm512_shuffle_i32x4(hi01, hi23, 0x88), bs);
		w[12 + c] = _mm512_shuffle_epi8(
			_mm512_shuffle_i32x4(hi01, hi23, 0xDD), bs);
	}
}

/* Not inlined: scrub_stack() must find its frame where this one was; and
 * not given a fake stack by ASan (detect_stack_use_after_return), where no
 * scrub would reach the spilled message words. */
X16 __attribute__((noinline, no_sanitize_address)) static void
blocks_x16(uint32_t st[8][SHA256_LANES], const uint8_t *const p[SHA256_LANES],
	   size_t nblk)
{
	__m512i a = _mm512_loadu_si512(st[0]), b = _mm512_loadu_si512(st[1]),
		c = _mm512_loadu_si512(st[2]), d = _mm512_loadu_si512(st[3]),
		e = _mm512_loadu_si512(st[4]), f = _mm512_loadu_si512(st[5]),
		g = _mm512_loadu_si512(st[6]), h = _mm512_loadu_si512(st[7]);
	__m512i w[16];
	size_t off;
	int t;

	for (off = 0; off < nblk * 64; off += 64) {
		__m512i a0 = a, b0 = b, c0 = c, d0 = d, e0 = e, f0 = f,
			g0 = g, h0 = h;

		load_x16(w, p, off);
		EIGHT(0);
		EIGHT(8);
		for (t = 16; t < 64; t += 8) {
			SCHED(t);
			SCHED(t + 1);
			SCHED(t + 2);
			SCHED(t + 3);
			SCHED(t + 4);
			SCHED(t + 5);
			SCHED(t + 6);
			SCHED(t + 7);
			EIGHT(t);
		}
		a = ADD(a, a0);
		b = ADD(b, b0);
		c = ADD(c, c0);
		d = ADD(d, d0);
		e = ADD(e, e0);
		f = ADD(f, f0);
		g = ADD(g, g0);
		h = ADD(h, h0);
	}
	_mm512_storeu_si512(st[0], a);
	_mm512_storeu_si512(st[1], b);
	_mm512_storeu_si512(st[2], c);
	_mm512_storeu_si512(st[3], d);
	_mm512_storeu_si512(st[4], e);
	_mm512_storeu_si512(st[5], f);
	_mm512_storeu_si512(st[6], g);
	_mm512_storeu_si512(st[7], h);
	explicit_bzero(w, sizeof(w));
}

/* The stack below the caller, where blocks_x16() and load_x16() kept what
 * they spilled of the messages (under 5 KiB, by the disassembly), wiped:
 * this frame lies over theirs.  What stays in registers is not wiped (nor
 * is it by OpenSSL). */
__attribute__((noinline)) static void scrub_stack(void)
{
	uint8_t pad[16384];

	explicit_bzero(pad, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory");
}

/* What the CPU and the OS offer. */
static unsigned cpu_forms(void)
{
	unsigned a, b, c, d, b7, forms = 0;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b7, &b, &d))
		return 0;
	/* SHA (leaf 7 EBX 29) with SSSE3 (leaf 1 ECX 9), SSE4.1 (ECX 19) */
	if ((b7 >> 29 & 1) && (c >> 9 & 1) && (c >> 19 & 1))
		forms |= SHA256_USE_NI;
	/* AVX512F (EBX 16), AVX512BW (EBX 30), and the OS saving the
	 * registers: OSXSAVE (ECX 27), then XCR0's SSE, AVX, opmask and
	 * both halves of the ZMM state (bits 1, 2, 5, 6, 7) */
	if ((b7 >> 16 & 1) && (b7 >> 30 & 1) && (c >> 27 & 1)) {
		uint32_t lo, hi;

		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		(void)hi;
		if ((lo & 0xe6) == 0xe6)
			forms |= SHA256_USE_X16;
	}
	return forms;
}
#else
static unsigned cpu_forms(void)
{
	return 0;
}
#endif

/* ------------------------------------------------------------ dispatch */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static unsigned have;	/* the CPU's forms, set once */
static unsigned used;	/* narrowed by sha256_use() */

static void detect(void)
{
	have = cpu_forms();
	__atomic_store_n(&used, have, __ATOMIC_RELEASE);
}

unsigned sha256_forms(void)
{
	pthread_once(&once, detect);
	return __atomic_load_n(&used, __ATOMIC_ACQUIRE);
}

unsigned sha256_use(unsigned mask)
{
	pthread_once(&once, detect);
	__atomic_store_n(&used, have & mask, __ATOMIC_RELEASE);
	return have & mask;
}

void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t nblk)
{
#ifdef HAVE_X86
	if (sha256_forms() & SHA256_USE_NI) {
		blocks_ni(h, p, nblk);
		return;
	}
#endif
	blocks_c(h, p, nblk);
}

void sha256_blocks_x16(uint32_t h[8][SHA256_LANES],
		       const uint8_t *const p[SHA256_LANES], size_t nblk)
{
#ifdef HAVE_X86
	if (sha256_forms() & SHA256_USE_X16) {
		blocks_x16(h, p, nblk);
		scrub_stack();
		return;
	}
#endif
	/* not offered: lane by lane, the same result */
	for (int i = 0; i < SHA256_LANES; i++) {
		uint32_t s[8];
		int j;

		for (j = 0; j < 8; j++)
			s[j] = h[j][i];
		sha256_blocks(s, p[i], nblk);
		for (j = 0; j < 8; j++)
			h[j][i] = s[j];
	}
}
