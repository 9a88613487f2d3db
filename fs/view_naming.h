/*
 * view_naming.h - names of the view from the layout (pure) (internal; see view_impl.h).
 */
#ifndef DEIDFS_VIEW_NAMING_H
#define DEIDFS_VIEW_NAMING_H

#include "view_impl.h"

/* What names depend on besides the records. */
struct view_naming {
	const struct layout *layout;
	const uint8_t *key;		/* KEYED_KEY_LEN: date shifts */
	unsigned rules_options;		/* RULES_RTN_LONG_*_DATES */
};

/* Hierarchical order (qsort over struct rec): patient, study, series,
 * instance; ties by id. */
int view_rec_cmp_hier(const void *pa, const void *pb);

/*
 * Name the records idx[0..n) of rs (in hierarchical order) with the
 * layout, component by component, adding collision suffixes; sets each
 * record's path, and its study_path: the path through the last folder
 * component of study level or above (NULL when the layout has none).  A patient's names depend only on her own records when
 * the layout's first component is the patient, so naming her records alone
 * gives the names she has in the whole view.  Returns 0, -ENOMEM, or a
 * layout error.
 */
int view_names_assign(const struct view_naming *nm, struct rec *rs,
		      size_t *idx, size_t n);

#endif
