/*
 * fuzz_common.h - helpers shared by the libFuzzer targets (tests/fuzz/).
 * A property violation aborts, so libFuzzer reports it as a crash with the
 * input that caused it.
 */
#ifndef DEIDFS_FUZZ_COMMON_H
#define DEIDFS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, what)                                             \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s: property violated: %s\n",     \
				__FILE__, what);                           \
			abort();                                           \
		}                                                          \
	} while (0)

/* A NUL-terminated copy of (data, size), cut at the first NUL. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s, "malloc");
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

/*
 * Messages about data (CSV rows, the white list) must never quote it.  The
 * check is differential: the input with the case of most letters swapped
 * (a bijection that keeps every byte the parsers interpret: delimiters,
 * quotes, digits, hex digits a-f, the JSON escapes n r t u, bytes >= 0x80)
 * must give exactly the same messages.  A message that quotes any text
 * with such a letter differs.  (A naive "does the message occur in the
 * input" test fails as soon as libFuzzer copies a message into an input.)
 */
static inline uint8_t *fuzz_swapcase(const uint8_t *data, size_t size)
{
	uint8_t *d = malloc(size ? size : 1);
	size_t i;

	FUZZ_CHECK(d, "malloc");
	for (i = 0; i < size; i++) {
		uint8_t c = data[i], l = c | 0x20;

		d[i] = c;
		if (l >= 'g' && l <= 'z' && l != 'n' && l != 'r' && l != 't' &&
		    l != 'u' && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			d[i] = c ^ 0x20;
	}
	return d;
}

/* Messages: appended "row:reason\n", bounded. */
struct fuzz_msgs {
	char buf[8192];
	size_t len;
	unsigned long n;
};

static inline void fuzz_msgs_add(struct fuzz_msgs *m, unsigned long long row,
				 const char *msg)
{
	int k;
	size_t i, run = 0;

	/* and never a run of 8 digits: a personal ID or a date */
	for (i = 0; msg[i]; i++) {
		run = (msg[i] >= '0' && msg[i] <= '9') ? run + 1 : 0;
		FUZZ_CHECK(run < 8, "a message quotes no number of 8 digits");
	}
	m->n++;
	if (m->len >= sizeof(m->buf))
		return;
	k = snprintf(m->buf + m->len, sizeof(m->buf) - m->len, "%llu:%s\n",
		     row, msg);
	if (k > 0)
		m->len += (size_t)k;
}

static inline int fuzz_msgs_same(const struct fuzz_msgs *a,
				 const struct fuzz_msgs *b)
{
	return a->n == b->n && a->len == b->len &&
	       memcmp(a->buf, b->buf, a->len) == 0;
}

#endif
