/*
 * view_snap.h - a built view kept in the db (view_snap.c).
 */
#ifndef DEIDFS_VIEW_SNAP_H
#define DEIDFS_VIEW_SNAP_H

#include "view_impl.h"

/*
 * At the start of view_build(): when the db holds a snapshot of the view
 * this build would make (the same configuration, CSV bytes and code, taken
 * at the current view generation), load it into b->v, add its counters to
 * b->st and report its registry rows again: returns 1.  Otherwise 0, with
 * b->snap_* set for view_snap_save(); or -errno when the CSV cannot be
 * read (the build's error, b->err says why).
 */
int view_snap_load(struct build *b);

/* At the end of a successful view_build() that did not load: keep b->v as
 * the snapshot, unless a writer changed the rows since they were read.
 * Best effort: a snapshot not kept only costs the next build its time. */
void view_snap_save(struct build *b);

/* view_row_report()'s note of a report, for the snapshot. */
void view_snap_note_report(struct report_ctx *rc, uint64_t row,
			   const char *reason);

#endif
