/*
 * view_reuse.h - the names of an unchanged index taken from the db
 * (internal; see view_reuse.c).
 */
#ifndef DEIDFS_VIEW_REUSE_H
#define DEIDFS_VIEW_REUSE_H

#include "view_impl.h"

/* Add record f, with the view path it has (or is given), to d. */
void view_reuse_add(struct view_digest *d, const struct store_file *f,
		    const char *view_path);
/*
 * The SHA-256 of the view's configuration (view_config_text()) and the
 * CSV's bytes (b->csvbuf, read by then): what the names and the kept view
 * are made from besides the rows, computed once a build.  0 and *dg (in
 * b), or view_config_text()'s error.
 */
int view_config_digest(struct build *b, const uint8_t **dg);
/* The keyed digest of the configuration and the CSV (b->csvbuf read): into
 * b->names_cfg.  Returns 0 or -ENOMEM (b->names_cfg left empty, never
 * reused, when the configuration has no text). */
int view_reuse_begin(struct build *b);
/* Whether the records collected (b->names_had) are the ones the db's
 * names were recorded for. */
int view_reuse_possible(struct build *b);
/* Every record's path (and study folder) from its row's view path, the
 * records' cohort known, in b->pstrs (never free() them); -ESTALE
 * (nothing taken) when a row's path is not where its record goes, or
 * -ENOMEM. */
int view_reuse_names(struct build *b);
/* Record b->names_now, the records with the view paths just persisted,
 * unless recorded already.  Returns 0 or the store's error. */
int view_reuse_record(struct build *b);

#endif
