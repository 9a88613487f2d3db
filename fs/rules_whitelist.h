/*
 * rules_whitelist.h - the white list of the Clean Descriptors Option
 * (parsed by rules_whitelist_parse(), rules.h) as the rules consult it.
 */
#ifndef DEIDFS_RULES_WHITELIST_H
#define DEIDFS_RULES_WHITELIST_H

#include "dcm.h"
#include "rules.h"

/* Whether the value of e, without its padding, is listed for its tag
 * (exact after trimming spaces, ASCII case-insensitive, like the original
 * tool).  wl may be NULL (nothing listed). */
int rules_whitelist_match(const struct rules_whitelist *wl,
			  const struct dcm_elem *e);

#endif
