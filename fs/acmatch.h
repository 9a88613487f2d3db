/*
 * acmatch.h - many byte patterns found in one pass over a stream
 * (Aho-Corasick), for `deidfs verify`: every value the db recorded is
 * looked for at once in every header byte, name and text of a dataset,
 * whatever the number of values.
 *
 * Matching is on a folded form of the bytes, the same for patterns and
 * text: ASCII letters in lower case, every other ASCII byte that is not a
 * digit (space, punctuation, '^', NUL, control bytes) one separator, bytes
 * from 0x80 as they are.  So "Nordmann^Kari" also matches "NORDMANN KARI"
 * and "nordmann_kari", and "2019-03-15" matches "2019.03.15".  Separators
 * at either end of a pattern are dropped.
 *
 * Boundaries: a pattern that starts (ends) with a digit never matches
 * right after (before) another digit, so a number is never found inside a
 * longer number (a date inside a UID).  A pattern added with ACM_WORD
 * matches only as a whole word: no letter, digit or byte from 0x80 right
 * before or after it (the start and end of a stream count as boundaries).
 *
 * Pure: no global state, no logging.  An automaton is built once
 * (acm_add()... then acm_compile()) and then read-only: any number of
 * scans, in any threads, may use it.  Patterns are PHI: the automaton
 * wipes what it holds when freed.
 */
#ifndef DEIDFS_ACMATCH_H
#define DEIDFS_ACMATCH_H

#include <stddef.h>
#include <stdint.h>

#define ACM_WORD 1u		/* whole words only */
#define ACM_MAX_PATTERN 4096	/* bytes of one pattern, folded */
#define ACM_MAX_TOTAL (256u << 20)	/* bytes of all patterns */

struct acm;

/* A new, empty automaton.  Returns 0 or -ENOMEM.  Free with acm_free(). */
int acm_new(struct acm **out);
void acm_free(struct acm *a);	/* accepts NULL; wipes */

/*
 * Add a pattern (pat, len) with flags (ACM_WORD) and the caller's id,
 * which hits report.  The same folded pattern may be added under several
 * ids: each is reported.  Only before acm_compile().  Returns 0, -EINVAL
 * (nothing left once folded and trimmed, or compiled already), -E2BIG
 * (longer than ACM_MAX_PATTERN, or the total over ACM_MAX_TOTAL), -ENOMEM.
 */
int acm_add(struct acm *a, const void *pat, size_t len, unsigned flags,
	    uint32_t id);

/* Finish the automaton (failure links).  Returns 0 or -ENOMEM. */
int acm_compile(struct acm *a);

/* The number of patterns added, and the folded length of the longest. */
size_t acm_count(const struct acm *a);

/*
 * A hit: pattern id ends at byte end (exclusive) of the stream, whose
 * folded length is len.  A non-zero return stops the scan and is returned
 * by the acm_scan_*() call that made the hit.
 */
typedef int (*acm_hit_fn)(void *arg, uint32_t id, uint64_t end, size_t len);

/* The state of one stream.  Owned by its caller; acm_scan_done() frees
 * what it holds. */
struct acm_scan {
	const struct acm *a;
	acm_hit_fn hit;
	void *arg;
	uint32_t state;		/* node of the automaton */
	uint64_t pos;		/* bytes fed so far */
	uint8_t *ring;		/* the last folded bytes (for boundaries) */
	size_t ringsz;		/* a power of two > the longest pattern */
	uint32_t *pend;		/* patterns that wait for the next byte */
	size_t npend, cappend;
};

/* Start a stream over a compiled automaton.  Returns 0 or -ENOMEM. */
int acm_scan_init(struct acm_scan *s, const struct acm *a, acm_hit_fn hit,
		  void *arg);
/* Feed the next bytes of the stream. */
int acm_scan_feed(struct acm_scan *s, const void *buf, size_t len);
/* End the stream (the hits that waited for a boundary after them), and
 * make s ready for a new stream over the same automaton. */
int acm_scan_end(struct acm_scan *s);
/* Release s (wipes the bytes it remembers).  Accepts a zeroed s. */
void acm_scan_done(struct acm_scan *s);

/* Feed one whole stream: init, feed, end, done. */
int acm_scan_buf(const struct acm *a, const void *buf, size_t len,
		 acm_hit_fn hit, void *arg);

#endif
