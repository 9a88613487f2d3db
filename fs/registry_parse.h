/*
 * registry_parse.h - the parsed registry CSV (registry_parse(),
 * registry.h) as the renderer reads it.  Built by registry_parse.c,
 * read-only afterwards, freed with registry_free() (which wipes every
 * byte read from the CSV: it may be PHI).
 */
#ifndef DEIDFS_REGISTRY_PARSE_H
#define DEIDFS_REGISTRY_PARSE_H

#include <stddef.h>

#include "registry.h"
#include "registry_spec.h"

#define REGISTRY_REASON_MAX 96	/* bytes of a report's reason */

/* One record: fields back to back, each NUL-terminated (data may hold NULs
 * of its own: lengths come from off[]). */
struct registry_rec {
	struct registry_row pub;
	char *data;		/* PHI, wiped on free; NULL for invalid rows */
	size_t *off;		/* nfields + 1 start offsets */
	size_t nfields;
};

struct registry {
	struct registry_spec spec;	/* a copy: the caller's may go away */
	char delim;
	int has_header;
	struct registry_rec header;
	int header_seen;
	size_t ncols;		/* of the header or the first record */
	struct registry_rec *rows;
	size_t nrows, cap;
};

/* Field col (1-based, within the record's fields) of a stored record:
 * borrowed, *n bytes (the record keeps a NUL after them). */
const char *registry_parse_field(const struct registry_rec *rc, unsigned col,
				 size_t *n);

#endif
