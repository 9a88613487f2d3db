/*
 * sha256.h - the SHA-256 compression function (FIPS 180-4) on whole
 * 64-byte blocks, in the fastest form this CPU runs: the CPU's SHA
 * extensions for one stream, AVX-512 for sixteen streams at once (each
 * lane its own message), plain C everywhere else.  keyed.h builds the hash
 * and HMAC on it; `deidfs verify` hashes sixteen files at once with it,
 * where one stream at a time was most of its time.
 *
 * Which forms the CPU has is read once (cpuid, and the OS's saved state for
 * AVX-512) and kept: the one piece of global state, read-only after the
 * first call and the same for every thread.  Tests can narrow it with
 * sha256_use().
 */
#ifndef DEIDFS_SHA256_H
#define DEIDFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LANES 16

/* The forms, as bits of a mask (plain C is always there). */
enum {
	SHA256_USE_C = 0,
	SHA256_USE_NI = 1 << 0,	/* SHA extensions, one stream */
	SHA256_USE_X16 = 1 << 1,	/* AVX-512, sixteen streams */
};

/* What this CPU offers, narrowed by sha256_use(). */
unsigned sha256_forms(void);

/* Narrow the forms used to mask & what the CPU has (tests: every form
 * against the others); returns the forms now used.  Not thread-safe: call
 * before any hashing. */
unsigned sha256_use(unsigned mask);

/* h (the eight words of the state) through nblk blocks at p. */
void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t nblk);

/* Sixteen states through nblk blocks each: lane i's state is h[0..7][i],
 * its message at p[i] (nblk * 64 bytes readable).  Only when
 * sha256_forms() has SHA256_USE_X16; a lane that is not needed may repeat
 * another's pointer and ignore its state. */
void sha256_blocks_x16(uint32_t h[8][SHA256_LANES],
		       const uint8_t *const p[SHA256_LANES], size_t nblk);

#endif
