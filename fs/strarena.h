/*
 * strarena.h - strings copied into large blocks, freed all at once: the
 * names and source paths of a view's nodes (view_tree.c).  A malloc per
 * string cost its header and rounding (about 40 bytes of every node of a
 * million-file view); here a string costs its bytes and its NUL.
 *
 * Not thread-safe while filling; the strings are read-only afterwards.
 */
#ifndef DEIDFS_STRARENA_H
#define DEIDFS_STRARENA_H

#include <stddef.h>

struct strblock;

struct strarena {
	struct strblock *head;	/* the block being filled, then older ones */
};

/*
 * A copy of s (len bytes, a NUL added) in the arena: lives until
 * strarena_free().  Returns NULL when out of memory.
 */
const char *strarena_dup(struct strarena *a, const char *s, size_t len);

/*
 * len bytes in one piece, for the caller to fill with strings and their
 * NULs (a view's names read back whole, view_snap.c): lives until
 * strarena_free().  Returns NULL when out of memory.
 */
char *strarena_reserve(struct strarena *a, size_t len);

/* Wipe (the strings may be PHI) and free every block; a is empty again.
 * Accepts an empty arena. */
void strarena_free(struct strarena *a);

#endif
