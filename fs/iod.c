/*
 * iod.c - attribute Types by IOD (see iod.h).  The data is GDCM's
 * Part3.xml as scripts/gen_iod.py turns it into C at build time:
 * iod_ents[] holds every module's attributes as paths sorted by tag
 * (shorter prefixes first), iod_mod_start[] where each module's run
 * begins, iod_mods[] the modules of each IOD (iod_iod_start[]).
 */
#include "iod.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
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

static enum iod_type stricter(enum iod_type a, enum iod_type b)
{
	if (a == IOD_TYPE_UNKNOWN)
		return b;
	if (b == IOD_TYPE_UNKNOWN)
		return a;
	return a < b ? a : b;
}

/*
 * Each IOD's attributes as one sorted array, its modules merged (the
 * strictest Type where several define the same path), made on first use:
 * one binary search per question instead of one per module.  Published
 * with release/acquire; built under a lock, so at most once.
 */
struct merged {
	struct iod_ent *e;
	size_t n;
};
static _Atomic(struct merged *) merged_tab[IOD_COUNT];
static pthread_mutex_t merged_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_ent(const void *a, const void *b)
{
	const struct iod_ent *x = a, *y = b;

	return cmp_path(x, y->tag, IOD_MAX_DEPTH);
}

static struct merged *merge(int iod)
{
	struct merged *m;
	size_t cap = 0, i, j;
	uint32_t k;

	for (k = iod_iod_start[iod]; k < iod_iod_start[iod + 1]; k++)
		cap += iod_mod_start[iod_mods[k] + 1] -
		       iod_mod_start[iod_mods[k]];
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->e = calloc(cap + 1, sizeof(*m->e));
	if (!m->e) {
		free(m);
		return NULL;
	}
	for (k = iod_iod_start[iod]; k < iod_iod_start[iod + 1]; k++)
		for (i = iod_mod_start[iod_mods[k]];
		     i < iod_mod_start[iod_mods[k] + 1]; i++)
			m->e[m->n++] = iod_ents[i];
	qsort(m->e, m->n, sizeof(*m->e), cmp_ent);
	for (i = 0, j = 0; i < m->n; i++) {
		if (j && !cmp_ent(&m->e[j - 1], &m->e[i])) {
			m->e[j - 1].type = (uint8_t)stricter(
				(enum iod_type)m->e[j - 1].type,
				(enum iod_type)m->e[i].type);
			continue;
		}
		m->e[j++] = m->e[i];
	}
	m->n = j;
	return m;
}

/* The merged table of iod, or NULL (out of memory: callers then know
 * nothing, which they treat as "not in the IOD"). */
static const struct merged *merged_of(int iod)
{
	struct merged *m = atomic_load_explicit(&merged_tab[iod],
						memory_order_acquire);

	if (m)
		return m;
	pthread_mutex_lock(&merged_lock);
	m = atomic_load_explicit(&merged_tab[iod], memory_order_relaxed);
	if (!m) {
		m = merge(iod);
		atomic_store_explicit(&merged_tab[iod], m,
				      memory_order_release);
	}
	pthread_mutex_unlock(&merged_lock);
	return m;
}

/* First entry of m at or after path (padded order). */
static size_t m_lower_bound(const struct merged *m, const uint32_t *path,
			    unsigned depth)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_path(&m->e[mid], path, depth) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum iod_type iod_type(int iod, const uint32_t *path, unsigned depth)
{
	const struct merged *m;
	size_t j;

	if (iod < 0 || iod >= IOD_COUNT || !depth || depth > IOD_MAX_DEPTH)
		return IOD_TYPE_UNKNOWN;
	m = merged_of(iod);
	if (!m)
		return IOD_TYPE_UNKNOWN;
	j = m_lower_bound(m, path, depth);
	if (j < m->n && cmp_path(&m->e[j], path, depth) == 0)
		return (enum iod_type)m->e[j].type;
	return IOD_TYPE_UNKNOWN;
}
