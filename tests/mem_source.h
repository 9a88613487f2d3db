/*
 * mem_source.h - the DICOM parser over bytes in memory, for the unit tests
 * and fuzz targets that feed it a buffer instead of a file.
 */
#ifndef DEIDFS_TESTS_MEM_SOURCE_H
#define DEIDFS_TESTS_MEM_SOURCE_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "dicom.h"

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
	struct dicom_source src = { &m, mem_pread, n };

	return dicom_parse(&src, out);
}

#endif
