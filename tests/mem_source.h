/*
 * mem_source.h - the DICOM parser over bytes in memory, for the unit tests
 * and fuzz targets that feed it a buffer instead of a file.
 */
#ifndef DEIDFS_TESTS_MEM_SOURCE_H
#define DEIDFS_TESTS_MEM_SOURCE_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <stdlib.h>

#include "dicom.h"
#include "inflate.h"

struct mem {
	const uint8_t *p;
	size_t n;
};

static inline ssize_t mem_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	const struct mem *m = ctx;

	if (off >= m->n)
		return 0;
	if (n > m->n - off)
		n = m->n - (size_t)off;
	memcpy(buf, m->p + off, n);
	return (ssize_t)n;
}

/* dicom_parse() of the n bytes at p. */
static inline int parse_mem(const uint8_t *p, size_t n,
			    struct dicom_parsed *out)
{
	struct mem m = { p, n };
	struct dicom_source src = { &m, mem_pread, n, NULL };

	return dicom_parse(&src, out);
}

/* len bytes at off of the deflated dataset w of the n bytes at p (what the
 * view serves of a deflated source), malloc'd (caller frees), or NULL when
 * they cannot be inflated. */
static inline uint8_t *mem_inflated(const uint8_t *p, size_t n,
				    const struct inflate_where *w,
				    uint64_t off, uint64_t len)
{
	struct mem m = { p, n };
	struct inflate_cursor *c = NULL;
	uint8_t *out = malloc(len ? (size_t)len : 1);

	if (!out || inflate_cursor_new(mem_pread, &m, w, n, 1u << 16, &c) ||
	    inflate_read(c, off, out, (size_t)len) != (ssize_t)len) {
		free(out);
		out = NULL;
	}
	inflate_cursor_free(c);
	return out;
}

#endif
