/*
 * view_shard.c - which share a source file or a view file belongs to in a
 * sharded run (shard.h).  Pure arithmetic on names.
 */
#include "shard.h"
#include "view_impl.h"

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv1a(const char *s)
{
	uint64_t h = FNV_OFFSET;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= FNV_PRIME;
	}
	return h;
}

unsigned view_shard_of(const char *s, unsigned n)
{
	return n > 1 ? (unsigned)(fnv1a(s) % n) : 0;
}

/* The hash view_tree.c keeps in a DICOM node (0: no pseudonym). */
uint32_t view_shard_hash(const char *pseudonym)
{
	uint64_t h;

	if (!pseudonym || !*pseudonym)
		return 0;
	h = fnv1a(pseudonym);
	h ^= h >> 32;
	/* never 0; not by setting a bit, which would leave every even share
	 * of an even N without a patient */
	return (uint32_t)h ? (uint32_t)h : 1u;
}

unsigned view_node_shard(const struct view *v, const struct view_node *n,
			 unsigned nshards)
{
	(void)v;
	if (nshards <= 1 || n->kind != VIEW_DICOM || !vn(n)->phash)
		return 0;
	return vn(n)->phash % nshards;
}
