/*
 * strarena.c - strings in large blocks (strarena.h).
 */
#include "strarena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Large enough that the blocks' own headers do not count, small enough
 * that a small view wastes little. */
#define BLOCK_MIN (256u << 10)

struct strblock {
	struct strblock *next;
	size_t used, cap;
	char data[];
};

/* A block of its own, behind the one being filled. */
char *strarena_reserve(struct strarena *a, size_t len)
{
	struct strblock *b;

	if (len > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + len);
	if (!b)
		return NULL;
	b->used = b->cap = len;
	if (a->head) {
		b->next = a->head->next;
		a->head->next = b;
	} else {
		b->next = NULL;
		a->head = b;
	}
	return b->data;
}

const char *strarena_dup(struct strarena *a, const char *s, size_t len)
{
	struct strblock *b = a->head;
	char *p;

	if (len >= BLOCK_MIN) {
		/* a block of its own (a db field may be long; no name or
		 * path is) */
		p = strarena_reserve(a, len + 1);
		if (!p)
			return NULL;
		memcpy(p, s, len);
		p[len] = 0;
		return p;
	}
	if (!b || b->cap - b->used < len + 1) {
		b = malloc(sizeof(*b) + BLOCK_MIN);
		if (!b)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->cap = BLOCK_MIN;
		a->head = b;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = 0;
	b->used += len + 1;
	return p;
}

void strarena_free(struct strarena *a)
{
	struct strblock *b = a->head, *next;

	for (; b; b = next) {
		next = b->next;
		explicit_bzero(b->data, b->used);
		free(b);
	}
	a->head = NULL;
}
