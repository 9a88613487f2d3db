/*
 * view_cohort.h - registry rows linked to records (internal; see view_impl.h).
 */
#ifndef DEIDFS_VIEW_COHORT_H
#define DEIDFS_VIEW_COHORT_H

#include "view_impl.h"

/* A registry row reported (arg: struct report_ctx): counted, and passed
 * on to the front end's callback. */
void view_row_report(void *arg, uint64_t row, const char *reason);

/* The CSV's bytes into b->csvbuf, once (a second call keeps them); err
 * says why not. */
int view_cohort_load_csv(struct build *b);

/* view_cohort.c: read the registry and link its rows to the records
 * (b->row_include), then decide each record's place (included,
 * quarantined) and count the cohort. */
int view_cohort_read(struct build *b);
/* The order of b->rowkeys and b->reckeys (struct keyent): personal ID,
 * then key date. */
int view_cohort_cmp_key(const void *a, const void *b);
int view_cohort_assign(struct build *b);

/*
 * After the names (view_names_assign()): for each row written, the view
 * folders of the studies it links (b->row_folders, in the cleaned CSV's
 * last column, VIEW_FOLDER_COLUMN): the folder of each linked study that
 * has a published file, in view order, separated by '|'; when all its
 * files are quarantined, that folder under ".quarantine/"; empty for a row
 * that links no study.  Names only: nothing identifying.
 */
#define VIEW_FOLDER_COLUMN "view_folder"
int view_cohort_folders(struct build *b);

/* view_originals.c: the original values of the identifying cells of the
 * rows written, recorded in the db for verify (once per CSV and choice of
 * rows).  Returns 0 or -errno (b->err says so). */
int view_cohort_record(struct build *b);

#endif
