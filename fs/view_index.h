/*
 * view_index.h - the index refresh (internal; see view_impl.h).
 */
#ifndef DEIDFS_VIEW_INDEX_H
#define DEIDFS_VIEW_INDEX_H

#include "view_impl.h"

#endif
