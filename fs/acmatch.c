/*
 * acmatch.c - Aho-Corasick over folded bytes (acmatch.h).
 *
 * The trie's nodes keep their children as a list (first child, next
 * sibling): the alphabet is large (165 folded symbols) and most nodes have
 * one child, so a table per node would cost 165 links each.  The root,
 * where most steps end after a mismatch, has a full table.  A step follows
 * failure links until a child matches, which is amortised constant time
 * per byte (the classic bound).  Outputs: each node lists the patterns
 * that end there; its dict link names the nearest node on its failure
 * chain that has any, so a hit costs only the patterns it reports.
 */
#include "acmatch.h"
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct node {
	uint32_t child;		/* first child, 0 for none (the root is
				 * nobody's child) */
	uint32_t sibling;	/* next child of the same parent, 0: last */
	uint32_t fail;		/* longest proper suffix that is a node */
	uint32_t dict;		/* nearest node on the fail chain with
				 * patterns, 0 for none */
	uint32_t out;		/* first pattern ending here, + 1 */
	uint8_t sym;		/* the edge from the parent */
};

struct pat {
	uint32_t id;
	uint32_t len;		/* folded */
	uint32_t next;		/* next pattern ending at the same node, + 1 */
	uint8_t flags;
	uint8_t first, last;	/* folded symbols at either end */
};

struct acm {
	struct node *node;
	size_t nnode, capnode;
	struct pat *pat;
	size_t npat, cappat;
	size_t maxlen, total;
	uint32_t root_next[256];	/* the root's full table */
	int compiled;
};

/* The folded form of a byte (see acmatch.h). */
static inline uint8_t fold(uint8_t b)
{
	if (b >= 'A' && b <= 'Z')
		return (uint8_t)(b + 32);
	if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b >= 0x80)
		return b;
	return ' ';
}

static inline int is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* A folded byte that is part of a word: a letter, a digit, or from 0x80
 * (a letter of UTF-8 or Latin-1, most likely). */
static inline int is_word(uint8_t c)
{
	return c != ' ';
}

int acm_new(struct acm **out)
{
	struct acm *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		return -ENOMEM;
	if (BASE_GROW(a->node, a->capnode, 0, 1, 1024, 0)) {
		free(a);
		return -ENOMEM;
	}
	a->nnode = 1;	/* the root, zeroed */
	*out = a;
	return 0;
}

void acm_free(struct acm *a)
{
	if (!a)
		return;
	/* the trie spells the patterns */
	base_wipe_free(a->node, a->capnode * sizeof(a->node[0]));
	base_wipe_free(a->pat, a->cappat * sizeof(a->pat[0]));
	free(a);
}

size_t acm_count(const struct acm *a)
{
	return a->npat;
}

static uint32_t child_of(const struct acm *a, uint32_t n, uint8_t sym)
{
	uint32_t c;

	for (c = a->node[n].child; c; c = a->node[c].sibling)
		if (a->node[c].sym == sym)
			return c;
	return 0;
}

int acm_add(struct acm *a, const void *pat, size_t len, unsigned flags,
	    uint32_t id)
{
	const uint8_t *p = pat;
	size_t i, start = 0, end = len, flen;
	uint32_t n = 0, c;
	struct pat *np;

	if (a->compiled)
		return -EINVAL;
	while (start < end && fold(p[start]) == ' ')
		start++;
	while (end > start && fold(p[end - 1]) == ' ')
		end--;
	flen = end - start;
	if (!flen)
		return -EINVAL;
	if (flen > ACM_MAX_PATTERN || a->total + flen > ACM_MAX_TOTAL)
		return -E2BIG;
	for (i = start; i < end; i++) {
		uint8_t sym = fold(p[i]);

		c = child_of(a, n, sym);
		if (!c) {
			if (BASE_GROW(a->node, a->capnode, a->nnode,
				      a->nnode + 1, 1024, 0))
				return -ENOMEM;
			c = (uint32_t)a->nnode++;
			a->node[c].sym = sym;
			a->node[c].sibling = a->node[n].child;
			a->node[n].child = c;
		}
		n = c;
	}
	if (BASE_GROW(a->pat, a->cappat, a->npat, a->npat + 1, 64, 0))
		return -ENOMEM;
	np = &a->pat[a->npat];
	np->id = id;
	np->len = (uint32_t)flen;
	np->flags = (uint8_t)flags;
	np->first = fold(p[start]);
	np->last = fold(p[end - 1]);
	np->next = a->node[n].out;
	a->node[n].out = (uint32_t)++a->npat;
	a->total += flen;
	if (flen > a->maxlen)
		a->maxlen = flen;
	return 0;
}

int acm_compile(struct acm *a)
{
	uint32_t *queue, head = 0, tail = 0, c, u, f;
	int s;

	if (a->compiled)
		return 0;
	queue = malloc(a->nnode * sizeof(*queue));
	if (!queue)
		return -ENOMEM;
	for (s = 0; s < 256; s++)
		a->root_next[s] = 0;
	for (c = a->node[0].child; c; c = a->node[c].sibling) {
		a->root_next[a->node[c].sym] = c;
		a->node[c].fail = 0;
		a->node[c].dict = 0;
		queue[tail++] = c;
	}
	while (head < tail) {
		u = queue[head++];
		for (c = a->node[u].child; c; c = a->node[c].sibling) {
			uint8_t sym = a->node[c].sym;

			f = a->node[u].fail;
			while (f && !child_of(a, f, sym))
				f = a->node[f].fail;
			f = f ? child_of(a, f, sym) : a->root_next[sym];
			a->node[c].fail = f;
			a->node[c].dict = a->node[f].out ? f : a->node[f].dict;
			queue[tail++] = c;
		}
	}
	free(queue);
	a->compiled = 1;
	return 0;
}

/* ------------------------------------------------------------------ scans */

int acm_scan_init(struct acm_scan *s, const struct acm *a, acm_hit_fn hit,
		  void *arg)
{
	size_t sz = 64;

	memset(s, 0, sizeof(*s));
	if (!a->compiled)
		return -EINVAL;
	/* the byte before the longest pattern must still be there */
	while (sz < a->maxlen + 2)
		sz *= 2;
	s->ring = calloc(1, sz);
	if (!s->ring)
		return -ENOMEM;
	s->ringsz = sz;
	s->a = a;
	s->hit = hit;
	s->arg = arg;
	return 0;
}

void acm_scan_done(struct acm_scan *s)
{
	base_wipe_free(s->ring, s->ringsz);
	free(s->pend);
	memset(s, 0, sizeof(*s));
}

/* Whether the byte after pattern p (c, or 0 at the end of the stream:
 * a boundary) lets it count. */
static int after_ok(const struct pat *p, int c)
{
	if (c < 0)
		return 1;
	if (is_digit(p->last) && is_digit((uint8_t)c))
		return 0;
	if ((p->flags & ACM_WORD) && is_word((uint8_t)c))
		return 0;
	return 1;
}

static int needs_after(const struct pat *p)
{
	return is_digit(p->last) || (p->flags & ACM_WORD);
}

/* Settle the hits waiting for the byte after them (c; -1: the end). */
static int settle(struct acm_scan *s, int c)
{
	size_t i;
	int err = 0;

	for (i = 0; i < s->npend && !err; i++) {
		const struct pat *p = &s->a->pat[s->pend[i]];

		if (after_ok(p, c))
			err = s->hit(s->arg, p->id, s->pos, p->len);
	}
	s->npend = 0;
	return err;
}

/* The patterns ending at node n, at s->pos. */
static int outputs(struct acm_scan *s, uint32_t n)
{
	const struct acm *a = s->a;
	int err;

	for (; n; n = a->node[n].dict) {
		uint32_t k;

		for (k = a->node[n].out; k; k = a->pat[k - 1].next) {
			const struct pat *p = &a->pat[k - 1];
			uint64_t start = s->pos - p->len;
			uint8_t before = start ? s->ring[(start - 1) &
						       (s->ringsz - 1)]
					       : ' ';

			if (is_digit(p->first) && is_digit(before))
				continue;
			if ((p->flags & ACM_WORD) && is_word(before))
				continue;
			if (needs_after(p)) {
				if (BASE_GROW(s->pend, s->cappend, s->npend,
					      s->npend + 1, 16, 0))
					return -ENOMEM;
				s->pend[s->npend++] = k - 1;
				continue;
			}
			err = s->hit(s->arg, p->id, s->pos, p->len);
			if (err)
				return err;
		}
	}
	return 0;
}

int acm_scan_feed(struct acm_scan *s, const void *buf, size_t len)
{
	const struct acm *a = s->a;
	const uint8_t *b = buf;
	uint32_t st = s->state;
	size_t i;
	int err;

	for (i = 0; i < len; i++) {
		uint8_t c = fold(b[i]);
		uint32_t n = 0;

		if (s->npend) {
			err = settle(s, c);
			if (err)
				goto out;
		}
		s->ring[s->pos & (s->ringsz - 1)] = c;
		s->pos++;
		while (st && !(n = child_of(a, st, c)))
			st = a->node[st].fail;
		if (!st)
			n = a->root_next[c];
		st = n;
		if (a->node[st].out || a->node[st].dict) {
			s->state = st;
			err = outputs(s, a->node[st].out ? st
							 : a->node[st].dict);
			if (err)
				goto out;
		}
	}
	err = 0;
out:
	s->state = st;
	return err;
}

int acm_scan_end(struct acm_scan *s)
{
	int err = settle(s, -1);

	s->state = 0;
	s->pos = 0;
	return err;
}

int acm_scan_buf(const struct acm *a, const void *buf, size_t len,
		 acm_hit_fn hit, void *arg)
{
	struct acm_scan s;
	int err;

	err = acm_scan_init(&s, a, hit, arg);
	if (!err)
		err = acm_scan_feed(&s, buf, len);
	if (!err)
		err = acm_scan_end(&s);
	acm_scan_done(&s);
	return err;
}
