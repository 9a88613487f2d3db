/*
 * iod.c - attribute Types by IOD (see iod.h).  The data is GDCM's
 * Part3.xml as scripts/gen_iod.py turns it into C at build time:
 * iod_ents[] holds every module's attributes as paths sorted by tag
 * (shorter prefixes first), iod_mod_start[] where each module's run
 * begins, iod_mods[] the modules of each IOD (iod_iod_start[]).
 */
#include "iod.h"

#include <string.h>

struct iod_ent {
	uint32_t tag[IOD_MAX_DEPTH];	/* path, 0 past depth */
	uint8_t depth;
	uint8_t type;			/* enum iod_type */
};

#include "iod_table.inc"

int iod_find(const char *name)
{
	size_t lo = 0, hi = IOD_COUNT;

	if (!name)
		return IOD_NONE;
	while (lo < hi) {	/* iod_names[] is sorted */
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(iod_names[mid], name);

		if (!c)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return IOD_NONE;
}

const char *iod_name(int iod)
{
	return iod >= 0 && iod < IOD_COUNT ? iod_names[iod] : NULL;
}

const char *iod_edition(void)
{
	return IOD_EDITION;
}

/* Compare the padded path of an entry with path[0..depth) padded. */
static int cmp_path(const struct iod_ent *e, const uint32_t *path,
		    unsigned depth)
{
	unsigned k;

	for (k = 0; k < IOD_MAX_DEPTH; k++) {
		uint32_t a = e->tag[k], b = k < depth ? path[k] : 0;

		if (a != b)
			return a < b ? -1 : 1;
	}
	return 0;
}

/* First entry of module m at or after path (padded order). */
static size_t lower_bound(size_t m, const uint32_t *path, unsigned depth)
{
	size_t lo = iod_mod_start[m], hi = iod_mod_start[m + 1];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_path(&iod_ents[mid], path, depth) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static enum iod_type stricter(enum iod_type a, enum iod_type b)
{
	if (a == IOD_TYPE_UNKNOWN)
		return b;
	if (b == IOD_TYPE_UNKNOWN)
		return a;
	return a < b ? a : b;
}

enum iod_type iod_type(int iod, const uint32_t *path, unsigned depth)
{
	enum iod_type t = IOD_TYPE_UNKNOWN;
	uint32_t i;

	if (iod < 0 || iod >= IOD_COUNT || !depth || depth > IOD_MAX_DEPTH)
		return IOD_TYPE_UNKNOWN;
	for (i = iod_iod_start[iod]; i < iod_iod_start[iod + 1]; i++) {
		size_t m = iod_mods[i], j = lower_bound(m, path, depth);

		if (j < iod_mod_start[m + 1] &&
		    cmp_path(&iod_ents[j], path, depth) == 0)
			t = stricter(t, (enum iod_type)iod_ents[j].type);
	}
	return t;
}

size_t iod_children(int iod, const uint32_t *path, unsigned depth,
		    struct iod_child *out, size_t cap)
{
	size_t n = 0, total = 0;
	uint32_t i;

	if (iod < 0 || iod >= IOD_COUNT || !depth || depth >= IOD_MAX_DEPTH)
		return 0;
	for (i = iod_iod_start[iod]; i < iod_iod_start[iod + 1]; i++) {
		size_t m = iod_mods[i], j = lower_bound(m, path, depth);

		for (; j < iod_mod_start[m + 1]; j++) {
			const struct iod_ent *e = &iod_ents[j];
			size_t k;

			if (memcmp(e->tag, path, depth * sizeof(*path)))
				break;	/* past the prefix */
			if (e->depth != depth + 1)
				continue;
			/* merge into the sorted set */
			for (k = 0; k < n && out[k].tag < e->tag[depth]; k++)
				;
			if (k < n && out[k].tag == e->tag[depth]) {
				out[k].type = stricter(out[k].type,
						       (enum iod_type)e->type);
				continue;
			}
			total++;
			if (n == cap)
				continue;
			memmove(out + k + 1, out + k, (n - k) * sizeof(*out));
			out[k].tag = e->tag[depth];
			out[k].type = (enum iod_type)e->type;
			n++;
		}
	}
	return total > n ? total : n;
}
