/*
 * rules_act.h - the actions of PS3.15 E.1.1 on one value: replace it
 * (audited), empty it (Z), a dummy (D), keyed UIDs (U), shifted dates
 * (Modified Dates Option), a CS value cut down to its vocabulary's terms.
 * Each audits what it changes through rules_apply_audit() before it
 * changes it, and wipes its scratch copies of the value.  Returns 0 or
 * -errno; on error the caller discards the dataset.
 */
#ifndef DEIDFS_RULES_ACT_H
#define DEIDFS_RULES_ACT_H

#include <stddef.h>

#include "dcm.h"
#include "rules_apply.h"
#include "rules_terms.h"
#include "rules_vr.h"

/* Replace the value of e by (v, n), padded to even length with pad, after
 * auditing it as action.  Keeps tag and VR; clears the encapsulated flag
 * and any items.  A change that leaves the bytes as they were is not
 * audited. */
int rules_act_replace(struct rules_walk *w, struct dcm_elem *e,
		      const char *action, const void *v, size_t n, char pad);

/* Z: a zero-length value; a sequence loses its items. */
int rules_act_zero(struct rules_walk *w, struct dcm_elem *e);

/* U (or a D of a UI): every UID of the value replaced by ctx->map_uid,
 * the standard's own kept when keep_std; audited as action. */
int rules_act_uid(struct rules_walk *w, struct dcm_elem *e, int keep_std,
		  const char *action);

/* D: a dummy value consistent with the VR (not for sequences: see
 * rules_apply.c). */
int rules_act_dummy(struct rules_walk *w, struct dcm_elem *e,
		    enum rules_vk vk);

/* Modified Dates: DA and the date of DT shifted by ctx->date_shift_days,
 * TM kept; a value that is not a date is emptied. */
int rules_act_date(struct rules_walk *w, struct dcm_elem *e,
		   enum rules_vk vk);

/* A CS value kept only as far as it is terms of voc; *ok = 0 when what
 * would remain is not a value of the attribute (see rules_act.c). */
int rules_act_keep_terms(struct rules_walk *w, struct dcm_elem *e,
			 const struct rules_vocab *voc, int *ok);

#endif
