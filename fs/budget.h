/*
 * budget.h - a process-wide bound on the bytes that header parsers hold at
 * once (fs/budget.c).
 *
 * Every analysis of a source file (the refresh's workers, export, the
 * mount's opens) holds the file's header in memory twice while it parses:
 * the bytes read (or inflated, for a deflated dataset) and the values
 * copied out of them.  Per file that is bounded by the parser's limits
 * (dcm.h); this bounds it across threads.  A parser takes bytes from the
 * budget before it allocates them and gives them back when it frees them;
 * one that would go over the budget waits until others give back, except
 * the oldest holder, which always proceeds: it never waits for anyone, so
 * it finishes and gives back, and nothing waits forever; and except a
 * holder that stays within its allowance (BUDGET_ALLOWANCE), so that an
 * ordinary header is never held up behind an absurd one.  The total is
 * therefore at most the budget plus what the oldest holder takes beyond it
 * (itself bounded by the per-file limits) plus an allowance per thread;
 * a lone parser is never held up.
 */
#ifndef DEIDFS_BUDGET_H
#define DEIDFS_BUDGET_H

#include <stdint.h>

/* Default budget: 128 MiB whatever the machine.  Ordinary headers
 * (kilobytes, a few MiB with overlays) never come near it, so parses only
 * wait for each other on absurd headers; with the oldest parse allowed up
 * to the header limit (dcm.h: 4 * DCM_MAX_VALUE = 256 MiB) parses hold
 * 384 MiB at the very most, however many threads run them. */
#define BUDGET_DEFAULT (128ull << 20)
/* What one holder may hold without ever waiting: an eighth of the budget
 * (16 MiB of the default; ordinary headers are far smaller). */
#define BUDGET_ALLOWANCE(cap) ((cap) / 8)

struct budget;
struct budget_hold;

/* A budget of cap bytes (0: BUDGET_DEFAULT).  Returns 0 or -ENOMEM; free
 * with budget_free() once no hold is left. */
int budget_new(uint64_t cap, struct budget **out);
void budget_free(struct budget *b);

/*
 * Take n more bytes for the holder *h (NULL: a new holder, created here;
 * the caller owns it and ends it with budget_release()).  Waits while the
 * bytes would go over the budget and *h is not the oldest holder.  b NULL:
 * no budget, nothing is counted (*h stays NULL).  Returns 0 or -ENOMEM.
 * Locks: the budget's own mutex only, never held on return.
 */
int budget_take(struct budget *b, struct budget_hold **h, uint64_t n);

/* Give back n of the bytes *h holds (at most what it holds). */
void budget_give(struct budget_hold *h, uint64_t n);

/* Give back everything h holds and end it.  Accepts NULL. */
void budget_release(struct budget_hold *h);

/* Bytes h holds (0 for NULL). */
uint64_t budget_held(const struct budget_hold *h);

/* Bytes held by all holders now, and the most ever held at once. */
void budget_usage(struct budget *b, uint64_t *now, uint64_t *peak);

#endif
