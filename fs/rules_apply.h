/*
 * rules_apply.h - the state of one rules_apply() call (rules.h), shared by
 * the walk over the dataset (rules_apply.c) and the modules it calls:
 * what to do with an element (rules_decide.c), the actions on a value
 * (rules_act.c) and the marks (rules_mark.c).
 *
 * A struct rules_walk lives on rules_apply()'s stack and is used by that
 * one thread; it borrows the rules and the caller's context.
 */
#ifndef DEIDFS_RULES_APPLY_H
#define DEIDFS_RULES_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "dcm.h"
#include "rules.h"

#define RULES_PATH_MAX 512	/* (8 + "[4294967295]." 13) * 17 + 8 + 1 */

struct rules_walk {
	const struct rules *r;
	const struct rules_ctx *ctx;
	const struct ident_words *names;	/* ctx->names or our own */
	unsigned opts;
	int iod;			/* iod_find(ctx->iod_name) */
	uint32_t tags[DCM_MAX_DEPTH + 2];	/* tag path of the current
						 * element, tags[depth] */
	char path[RULES_PATH_MAX];	/* the same as text, for the audit */
	const char *rule;		/* the rule being applied at path, for
					 * ctx->failure (struct rules_cause) */
};

/* What the file's IOD asks of the current attribute. */
enum rules_need {
	NEED_UNKNOWN_IOD,	/* no IOD: take the alternative that keeps
				 * any IOD conformant */
	NEED_NONE,		/* Type 3, or not in the IOD at this path */
	NEED_PRESENT,		/* Type 2, 2C: present, may be empty */
	NEED_VALUE,		/* Type 1, 1C: present with a value */
};

/* What the IOD asks of the attribute at w->tags[0..depth]. */
enum rules_need rules_apply_need(const struct rules_walk *w, unsigned depth);

/* Report a change of the attribute at w->path through ctx->audit (if
 * any).  Returns 0 or the callback's error. */
int rules_apply_audit(struct rules_walk *w, const char *action,
		      const void *old, size_t oldlen, const void *newv,
		      size_t newlen);

/* Write tag as the last component of w->path, at w->path[plen]. */
void rules_apply_path_tag(struct rules_walk *w, size_t plen, uint32_t tag);

#endif
