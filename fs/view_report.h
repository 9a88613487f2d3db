/*
 * view_report.h - reasons.csv (internal; see view_impl.h).
 */
#ifndef DEIDFS_VIEW_REPORT_H
#define DEIDFS_VIEW_REPORT_H

#include "view_impl.h"

/* view_report.c: reasons.csv of the quarantined records. */
int view_reasons_render(const struct recs *rs, char **out, size_t *len);

#endif
