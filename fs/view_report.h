/*
 * view_report.h - reasons.csv (internal; see view_impl.h).
 */
#ifndef DEIDFS_VIEW_REPORT_H
#define DEIDFS_VIEW_REPORT_H

#include "view_impl.h"

/* view_report.c: reasons.csv of the quarantined records. */
int view_reasons_render(const struct recs *rs, char **out, size_t *len);

/* Why f is quarantined: what its record holds, else the general cause of
 * its reason (rules_reason_cause()).  Names only. */
void view_cause_of(const struct store_file *f, struct rules_cause *why);

/* Count the quarantined record f under its cause in st->causes. */
void view_count_cause(struct view_stats *st, const struct store_file *f);
/* files more of a cause (reason, rule, tag path): counted with the same
 * cause, or as a new one, or past VIEW_CAUSES_MAX in causes_other. */
void view_add_cause(struct view_stats *st, int reason, const char *rule,
		    const char *path, uint64_t files);

#endif
