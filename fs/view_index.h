/*
 * view_index.h - the index refresh's header cache, for the opens that follow (internal; see view_impl.h).
 */
#ifndef DEIDFS_VIEW_INDEX_H
#define DEIDFS_VIEW_INDEX_H

#include "view_impl.h"

/* Take (and remove) the cached map of file id made from the version st;
 * NULL when there is none. */
struct hc_entry *view_take_header(struct view_engine *e, int64_t id,
				  const struct stat *st,
				  struct hc_entry *out);

#endif
