/*
 * view_tree.h - the tree of a view (internal; see view_impl.h).
 */
#ifndef DEIDFS_VIEW_TREE_H
#define DEIDFS_VIEW_TREE_H

#include "view_impl.h"

/* Paths compared component-wise ('/' sorts before every other byte). */
int view_pathcmp(const char *a, const char *b);

/* view_tree.c: the tree's entries (files, texts, folders), its nodes and
 * inode numbers (persisting view paths), parents and children. */
int view_tree_entries(struct build *b);
int view_tree_nodes(struct build *b);
int view_tree_link(struct build *b);

/* Whether the store records text buf of the view (name "csv" or "reasons")
 * with this mtime and generation, as a build from the rows would give them
 * now (view_snap.c checks a loaded view's texts by it). */
int view_text_recorded(struct store *st, const char *name, const char *buf,
		       size_t len, int64_t mtime, uint32_t gen);
void view_tents_free(struct tents *te);

#endif
