/*
 * rules_decide.h - what to do with one attribute: the rules of Table
 * E.1-1, its options and the conservative rule for everything else (see
 * rules_decide.c), down to one action that rules_apply.c carries out.
 */
#ifndef DEIDFS_RULES_DECIDE_H
#define DEIDFS_RULES_DECIDE_H

#include <stdint.h>

#include "dcm.h"
#include "rules_apply.h"
#include "rules_vr.h"

/* What to do with one element, once codes and options are resolved. */
enum rules_act {
	ACT_KEEP,	/* K; a sequence is kept and its items cleaned */
	ACT_X,
	ACT_Z,
	ACT_D,
	ACT_U,		/* every UID replaced */
	ACT_U_STD,	/* UIDs replaced except the standard's own */
	ACT_DATE,	/* DA/DT shifted, TM kept */
	ACT_C,		/* clean (needs the row) */
};

/*
 * Decide the action for ds->el[i] (tag path in w->tags[0..depth], vk its
 * rules_vr_kind()).  Never ACT_C: a clean is resolved to what it means
 * here.  A value to be kept has been vetted (valid, of its vocabulary's
 * terms, holding no identity); vetting a CS value may already have
 * emptied the values that were not terms (audited as C).  Returns 0 or
 * -errno (-EBADMSG, -ENOMEM, an audit error).
 */
int rules_decide(struct rules_walk *w, struct dcm_ds *ds, uint32_t i,
		 unsigned depth, enum rules_vk vk, enum rules_act *act);

#endif
