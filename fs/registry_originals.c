/*
 * registry_originals.c - the identifying cells of a registry row
 * (registry.h: registry_row_originals()): what the cleaned CSV replaces or
 * drops, read from the parsed row as it was.
 */
#include "registry_parse.h"

#include <string.h>

#include "base.h"

int registry_row_originals(const struct registry *r, size_t i,
			   registry_orig_fn cb, void *arg)
{
	const struct registry_rec *rc;
	unsigned col;
	int err = 0;

	if (!r || i >= r->nrows)
		return 0;
	rc = &r->rows[i];
	if (!rc->pub.valid || !rc->data)
		return 0;
	for (col = 1; !err && col <= rc->nfields &&
		      col <= REGISTRY_MAX_COLUMNS; col++) {
		enum registry_role role = r->spec.role[col];
		const char *f, *t;
		char ymd[9];
		size_t n;

		if (role != REGISTRY_PSEUDONYM && role != REGISTRY_DROP &&
		    role != REGISTRY_MONTH && role != REGISTRY_DAYS_SINCE &&
		    role != REGISTRY_SHIFT)
			continue;
		f = registry_parse_field(rc, col, &n);
		if (!f)
			continue;
		n = base_trim_spaces(f, n, &t);
		if (!n)
			continue;
		if (role == REGISTRY_PSEUDONYM)
			err = cb(arg, REGISTRY_ORIG_ID, t, n);
		else if (role != REGISTRY_DROP &&
			 !registry_parse_date(t, n, ymd))
			err = cb(arg, REGISTRY_ORIG_DATE, ymd, 8);
		else
			err = cb(arg, REGISTRY_ORIG_OTHER, t, n);
		explicit_bzero(ymd, sizeof(ymd));
	}
	return err;
}
