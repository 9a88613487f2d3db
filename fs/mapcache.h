/*
 * mapcache.h - content maps made from a source version, kept to answer
 * later opens of that version without parsing it again.
 *
 * A made map (struct made) is what analysis produced for one file of the
 * view from one version of its source: its byte map, and where a deflated
 * source's inflated dataset lies.  It is immutable once made and shared by
 * reference: every open file of that version reads the same one.
 *
 * The cache holds made maps by file id, at most one per id, within a bound
 * of bytes; the least recently used go first.  An entry serves only the
 * very version it was made from (device, inode, size, mtime and ctime all
 * equal): a changed source is a miss, never a stale header.
 */
#ifndef DEIDFS_MAPCACHE_H
#define DEIDFS_MAPCACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "bytemap.h"
#include "dicom.h"

struct made {
	struct bytemap map;		/* read-only once made */
	uint8_t inflated;		/* map has inflated pieces */
	struct inflate_where deflate;
	int64_t id;			/* the view file's id */
	struct stat st;			/* the source version it was made
					 * from */
	/* private */
	unsigned refs;			/* atomic */
	struct made *hnext, *older, *newer;	/* guarded by the cache */
};

/* A made map of id from the version st, taking map (left empty); one
 * reference, the caller's.  NULL without memory (map is then cleared). */
struct made *made_new(int64_t id, const struct stat *st, struct bytemap *map,
		      uint8_t inflated, struct inflate_where deflate);
/* Drop a reference; the last frees (and wipes) it.  Accepts NULL. */
void made_put(struct made *m);

struct mapcache {
	pthread_mutex_t lock;		/* leaf lock */
	struct made **bucket;		/* by id, chained */
	size_t nbucket;			/* a power of two, or 0 */
	size_t n;
	size_t bytes, max;		/* held, and the bound */
	struct made *oldest, *newest;	/* use order */
};

/* An empty cache holding at most max bytes of maps. */
void mapcache_init(struct mapcache *c, size_t max);
/* Drop every entry (the maps of open files live on) and free the cache. */
void mapcache_destroy(struct mapcache *c);

/*
 * The made map of id for the source version st, with a reference for the
 * caller, or NULL.  An entry of another version is dropped.  take: the
 * entry leaves the cache (a map needed once).
 */
struct made *mapcache_get(struct mapcache *c, int64_t id,
			  const struct stat *st, int take);

/* Whether a map of id made from the version (size, inode, mtime, ctime)
 * is kept (any device: a hint, for work that mapcache_get() confirms). */
int mapcache_holds(struct mapcache *c, int64_t id, uint64_t size,
		   uint64_t ino, int64_t mtime_ns, int64_t ctime_ns);

/* Whether a map of id for an output of size bytes is kept, of whatever
 * source version (a hint, as above, for a caller that knows no more). */
int mapcache_holds_id(struct mapcache *c, int64_t id, uint64_t size);
/* Keep m (the cache takes a reference of its own), replacing an entry of
 * the same id, and dropping the least recently used beyond the bound.  A
 * map larger than the bound is not kept. */
void mapcache_add(struct mapcache *c, struct made *m);

/* Drop m's entry, if m is still the one kept for its id (not another map
 * of that id another thread has kept since); open files keep their
 * references. */
void mapcache_forget_map(struct mapcache *c, const struct made *m);

/* Bytes a made map holds. */
size_t made_bytes(const struct made *m);

#endif
