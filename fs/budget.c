/*
 * budget.c - a process-wide bound on the bytes header parsers hold at once
 * (see include/budget.h).  A counter, a mutex and a condition variable;
 * the holders are kept in the order they were created, so the oldest one
 * is known without a search.
 */
#include "budget.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct budget_hold {
	struct budget *b;
	uint64_t held;
	struct budget_hold *prev, *next;	/* creation order */
};

struct budget {
	pthread_mutex_t lock;	/* leaf lock */
	pthread_cond_t freed;	/* signalled whenever bytes are given back */
	uint64_t cap;
	uint64_t used, peak;
	struct budget_hold *oldest, *newest;
};

int budget_new(uint64_t cap, struct budget **out)
{
	struct budget *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->freed, NULL);
	b->cap = cap ? cap : BUDGET_DEFAULT;
	*out = b;
	return 0;
}

void budget_free(struct budget *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->freed);
	free(b);
}

int budget_take(struct budget *b, struct budget_hold **hp, uint64_t n)
{
	struct budget_hold *h = *hp;

	if (!b)
		return 0;
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->b = b;
		*hp = h;
		pthread_mutex_lock(&b->lock);
		h->prev = b->newest;
		if (b->newest)
			b->newest->next = h;
		else
			b->oldest = h;
		b->newest = h;
	} else {
		pthread_mutex_lock(&b->lock);
	}
	/* The oldest holder never waits: it is the one everybody else
	 * waits for, so it must be able to finish.  Nor does a holder
	 * within its allowance: an ordinary header is never held up by
	 * an absurd one. */
	while (b->used + n > b->cap && b->oldest != h &&
	       h->held + n > BUDGET_ALLOWANCE(b->cap))
		pthread_cond_wait(&b->freed, &b->lock);
	b->used += n;
	h->held += n;
	if (b->used > b->peak)
		b->peak = b->used;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

void budget_give(struct budget_hold *h, uint64_t n)
{
	struct budget *b;

	if (!h || !n)
		return;
	b = h->b;
	pthread_mutex_lock(&b->lock);
	if (n > h->held)
		n = h->held;
	h->held -= n;
	b->used -= n;
	pthread_cond_broadcast(&b->freed);
	pthread_mutex_unlock(&b->lock);
}

void budget_release(struct budget_hold *h)
{
	struct budget *b;

	if (!h)
		return;
	b = h->b;
	pthread_mutex_lock(&b->lock);
	b->used -= h->held;
	if (h->prev)
		h->prev->next = h->next;
	else
		b->oldest = h->next;
	if (h->next)
		h->next->prev = h->prev;
	else
		b->newest = h->prev;
	/* also when it held nothing: the next oldest may go on now */
	pthread_cond_broadcast(&b->freed);
	pthread_mutex_unlock(&b->lock);
	free(h);
}

uint64_t budget_held(const struct budget_hold *h)
{
	return h ? h->held : 0;
}

void budget_usage(struct budget *b, uint64_t *now, uint64_t *peak)
{
	pthread_mutex_lock(&b->lock);
	*now = b->used;
	*peak = b->peak;
	pthread_mutex_unlock(&b->lock);
}
