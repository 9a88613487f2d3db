/*
 * base.c - the byte and memory habits every core module shares (see
 * fs/base.h): ID normalisation, wiping, scratch buffers, growable arrays,
 * hex, error messages.
 */
#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t base_trim_spaces(const char *s, size_t n, const char **start)
{
	while (n && s[0] == ' ') {
		s++;
		n--;
	}
	while (n && s[n - 1] == ' ')
		n--;
	*start = s;
	return n;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int base_eq_ci(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i;

	if (an != bn)
		return 0;
	for (i = 0; i < an; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

void base_wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	free(p);
}

void base_wipe_str_free(char *s)
{
	if (s)
		base_wipe_free(s, strlen(s));
}

#define ARENA_CHUNK ((size_t)64 * 1024)

struct base_chunk {
	struct base_chunk *next;
	size_t used, cap;
	max_align_t mem[];
};

void *base_arena_alloc(struct base_arena *a, size_t n)
{
	struct base_chunk *c = a->chunk;
	size_t need = (n + 7) & ~(size_t)7, cap;
	void *p;

	if (need < n)
		return NULL;
	if (!c || c->cap - c->used < need) {
		cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;
		if (cap > SIZE_MAX - sizeof(*c))
			return NULL;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = a->chunk;
		a->chunk = c;
	}
	p = (char *)c->mem + c->used;
	c->used += need;
	return p;
}

void base_arena_free(struct base_arena *a)
{
	struct base_chunk *c = a->chunk, *next;

	for (; c; c = next) {
		next = c->next;
		explicit_bzero(c->mem, c->used);
		free(c);
	}
	a->chunk = NULL;
}

void *base_scratch(void *small, size_t smallsz, size_t n)
{
	return n <= smallsz ? small : malloc(n);
}

void base_scratch_done(void *p, size_t n, const void *small)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	if (p != small)
		free(p);
}

/* The capacity to grow to, 0 when elements of elsz would overflow. */
static size_t grown_cap(size_t cap, size_t need, size_t elsz, size_t first)
{
	size_t ncap = cap ? cap : (first ? first : 1);

	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return 0;
		ncap *= 2;
	}
	return ncap > SIZE_MAX / elsz ? 0 : ncap;
}

int base_grow(void *arrp, size_t *cap, size_t used, size_t need, size_t elsz,
	      size_t first, unsigned flags)
{
	void *old, *nb;
	size_t ncap;

	if (need <= *cap)
		return 0;
	ncap = grown_cap(*cap, need, elsz, first);
	if (!ncap)
		return -E2BIG;
	/* through memcpy: *arrp is the caller's typed pointer */
	memcpy(&old, arrp, sizeof(old));
	if (flags & BASE_GROW_WIPE) {
		nb = calloc(ncap, elsz);
		if (!nb)
			return -ENOMEM;
		if (old) {
			memcpy(nb, old, used * elsz);
			base_wipe_free(old, *cap * elsz);
		}
	} else {
		nb = realloc(old, ncap * elsz);
		if (!nb)
			return -ENOMEM;
		memset((char *)nb + *cap * elsz, 0, (ncap - *cap) * elsz);
	}
	memcpy(arrp, &nb, sizeof(nb));
	*cap = ncap;
	return 0;
}

int base_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int base_hex_encode(const void *src, size_t n, char *out, size_t outsz)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *s = src;
	size_t i;

	if (!outsz)
		return -ENOSPC;
	if (n > (outsz - 1) / 2) {
		out[0] = '\0';
		return -ENOSPC;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hx[s[i] >> 4];
		out[2 * i + 1] = hx[s[i] & 15];
	}
	out[2 * n] = '\0';
	return 0;
}

void base_errf(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}
