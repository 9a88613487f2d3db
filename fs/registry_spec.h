/*
 * registry_spec.h - a parsed --csv-spec (registry_spec_parse(), registry.h)
 * as the registry modules read it: the role of each column and its
 * argument.  Plain data without pointers, so struct registry keeps a copy
 * and the caller's may go away.  Read-only once parsed.
 */
#ifndef DEIDFS_REGISTRY_SPEC_H
#define DEIDFS_REGISTRY_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define REGISTRY_SPEC_LISTED 0xffff	/* arg of a listed column */

struct registry_spec {
	uint8_t role[REGISTRY_MAX_COLUMNS + 1];	/* enum registry_role */
	/* days-since: the reference column; enum: 1 + the offset of its
	 * values in enums; any other listed column: REGISTRY_SPEC_LISTED.
	 * 0: not listed. */
	uint16_t arg[REGISTRY_MAX_COLUMNS + 1];
	unsigned id_column;
	unsigned max_column;	/* highest column a non-text role needs */
	int has_shift;
	/* enum values: each column's "A|B|C", NUL-terminated, back to back */
	char enums[REGISTRY_ENUM_BYTES];
	size_t enums_len;
};

#endif
