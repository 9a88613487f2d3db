/*
 * base.h - the byte and memory habits every core module shares: the ID
 * normalisation, wiping what held PHI before it is freed, scratch buffers,
 * growable arrays, hex digits, and error messages into a caller's buffer.
 *
 * The base layer of the core is two small modules with no dependency on
 * anything else of deidfs: this one (fs/base.c) and civil dates and day
 * shifts (fs/civil.h).  Everything here is pure: no global state, no
 * logging, thread-safe.  Internal to the core (fs/, not include/).
 */
#ifndef DEIDFS_BASE_H
#define DEIDFS_BASE_H

#include <stddef.h>

/*
 * The normalisation of an identifier (a personal ID, a UID, a registry
 * cell): leading and trailing spaces stripped (DICOM pads with spaces, CSV
 * exports sometimes do).  Every ID is normalised this way before it is
 * compared or derived from, so the registry's and the headers' IDs agree.
 * Returns the length of the span that starts at *start (inside s).
 */
size_t base_trim_spaces(const char *s, size_t n, const char **start);

/* ASCII case-insensitive equality of two byte strings (NULs compared like
 * any other byte). */
int base_eq_ci(const char *a, size_t an, const char *b, size_t bn);

/* Wipe n bytes at p, then free p.  Accepts NULL.  For every buffer that
 * held PHI (header bytes, IDs, registry cells, dates). */
void base_wipe_free(void *p, size_t n);

/* base_wipe_free() of a NUL-terminated string, its length from strlen(). */
void base_wipe_str_free(char *s);

/*
 * A scratch buffer of n bytes: small (smallsz bytes, the caller's, usually
 * on its stack) when n fits, else malloc'd.  NULL when out of memory.
 * Release with base_scratch_done(p, n, small), which wipes the n bytes and
 * frees p unless it is small.  Accepts NULL.
 */
void *base_scratch(void *small, size_t smallsz, size_t n);
void base_scratch_done(void *p, size_t n, const void *small);

/*
 * An arena: many small blocks taken from a few large chunks and released
 * all at once (wiped), where a parse would otherwise call malloc and free
 * once per element.  Zero-initialised is empty.  base_arena_alloc()
 * returns n bytes aligned to 8 (not zeroed), or NULL out of memory;
 * base_arena_free() wipes every byte handed out and frees the chunks.
 */
struct base_arena {
	struct base_chunk *chunk;	/* newest first */
};
void *base_arena_alloc(struct base_arena *a, size_t n);
void base_arena_free(struct base_arena *a);

/*
 * Growable arrays: a pointer, a count in use and a capacity, held by the
 * caller.  Make room for need elements of elsz bytes in the array at arrp
 * (a pointer to the caller's pointer: object pointers share one
 * representation on the platforms deidfs runs on, POSIX), of capacity *cap
 * of which the first used are in use.  The capacity doubles from first (or
 * from *cap) until need fits; the new room is zeroed.  With BASE_GROW_WIPE
 * the elements move to a new block and the old one is wiped before it is
 * freed (no realloc leaving copies of PHI behind).  On error the array and
 * *cap are as they were.  Returns 0, -E2BIG (the size would overflow) or
 * -ENOMEM.  BASE_GROW() passes the element size of a typed array.
 */
#define BASE_GROW_WIPE 1u
int base_grow(void *arrp, size_t *cap, size_t used, size_t need, size_t elsz,
	      size_t first, unsigned flags);
#define BASE_GROW(arr, cap, used, need, first, flags)                      \
	base_grow(&(arr), &(cap), (used), (need), sizeof(*(arr)), (first),  \
		  (flags))

/* The value of a hex digit (either case), -1 for any other character. */
int base_hex_digit(int c);

/* (src, n) as lower-case hex digits, NUL-terminated, in out (outsz >= 2 n
 * + 1).  Returns 0 or -ENOSPC (out is then ""). */
int base_hex_encode(const void *src, size_t n, char *out, size_t outsz);

/* A formatted message into (err, errsz) when the caller gave a buffer (err
 * may be NULL).  The message is the caller's: never put data in it. */
void base_errf(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
