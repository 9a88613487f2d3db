/*
 * rules_terms.h - the vocabularies of CS attributes (fs/data/cs-terms.tsv:
 * the Enumerated Values and Defined Terms of PS3.3): which terms a value
 * of an attribute may be at each value position.  Loaded with the other
 * tables by rules_new() and read-only afterwards (thread-safe lookups,
 * results borrowed until rules_free()).  rules_cs_term() (rules.h) is its
 * public face; rules_act_keep_terms() applies it.
 */
#ifndef DEIDFS_RULES_TERMS_H
#define DEIDFS_RULES_TERMS_H

#include <stddef.h>
#include <stdint.h>

struct rules_terms;

/* The vocabulary of one attribute. */
struct rules_vocab {
	uint32_t tag;
	uint32_t first, n;	/* its terms, in the table's order */
	uint8_t keep;	/* values kept however empty: the highest
			 * position with terms of its own (Image
			 * Type: 3), 0 when every value is alike */
};

/* Load the compiled-in vocabularies.  *out freed with rules_terms_free()
 * (accepts NULL).  Returns 0, -ENOMEM or -EBADMSG (a row we cannot read,
 * a term listed twice for one position). */
int rules_terms_new(struct rules_terms **out);
void rules_terms_free(struct rules_terms *t);

/* The vocabulary of tag, or NULL when it has none. */
const struct rules_vocab *rules_terms_vocab(const struct rules_terms *t,
					    uint32_t tag);

/* Whether (p, n) is a term of v for value position pos (from 1). */
int rules_terms_has(const struct rules_terms *t, const struct rules_vocab *v,
		    size_t pos, const char *p, size_t n);

#endif
