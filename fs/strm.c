/*
 * strm.c - see strm.h: the buffered reader, the patches, and a frame's
 * fragments read as one stream.
 */
#include "strm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- the reader */

/* The buffered bytes at source offset off: at least 1, *n lowered to what
 * is buffered.  NULL (r->err set) past the end or on a read error. */
const uint8_t *strm_rd_at(struct strm_rd *r, uint64_t off, uint64_t *n)
{
	uint64_t avail;

	if (off < r->boff || off - r->boff >= r->blen) {
		uint64_t want = STRM_RD_BUF;
		ssize_t got;

		if (off >= r->src->size) {
			if (!r->err)
				r->err = -EBADMSG;
			return NULL;
		}
		if (want > r->src->size - off)
			want = r->src->size - off;
		got = r->src->pread(r->src->ctx, r->buf, (size_t)want, off);
		if (got <= 0) {
			if (!r->err)
				r->err = got < 0 ? -EIO : -EBADMSG;
			r->blen = 0;
			return NULL;
		}
		r->boff = off;
		r->blen = (size_t)got;
	}
	avail = r->boff + r->blen - off;
	if (*n > avail)
		*n = avail;
	return r->buf + (off - r->boff);
}

/* ----------------------------------------------------- fragments, patches */

/* Replace source bytes [off, off + n) by repl (NULL: n bytes of fill).
 * Nothing is recorded when the source already holds those bytes. */
static int strm_patch(struct strm_ctx *c, uint64_t off, uint64_t n,
		     const uint8_t *repl, uint8_t fill)
{
	uint64_t i = 0;
	int same = 1;

	while (i < n && same) {
		uint64_t k = n - i, j;
		const uint8_t *s = strm_rd_at(&c->rd, off + i, &k);

		if (!s)
			return c->rd.err;
		for (j = 0; j < k; j++)
			if (s[j] != (repl ? repl[i + j] : fill)) {
				same = 0;
				break;
			}
		i += k;
	}
	if (same)
		return 0;
	if (n > ENCAP_MAX_PATCH - c->pbuf_len || c->np >= c->max_patches)
		return -E2BIG;
	if (c->np == c->capp) {
		size_t cap = c->capp ? c->capp * 2 : 16;
		void *p = realloc(c->p, cap * sizeof(*c->p));

		if (!p)
			return -ENOMEM;
		c->p = p;
		c->capp = cap;
	}
	if (c->pbuf_len + n > c->pbuf_cap) {
		size_t cap = c->pbuf_cap ? c->pbuf_cap : 4096;
		void *p;

		while (cap < c->pbuf_len + n)
			cap *= 2;
		p = realloc(c->pbuf, cap);
		if (!p)
			return -ENOMEM;
		c->pbuf = p;
		c->pbuf_cap = cap;
	}
	if (repl)
		memcpy(c->pbuf + c->pbuf_len, repl, (size_t)n);
	else
		memset(c->pbuf + c->pbuf_len, fill, (size_t)n);
	c->p[c->np].off = off;
	c->p[c->np].len = n;
	c->p[c->np].at = c->pbuf_len;
	c->np++;
	c->pbuf_len += (size_t)n;
	return 0;
}

/* ------------------------------------------------------------ the stream */

/* Move to the next byte's fragment; 0 at the end of the frame. */
int strm_more(struct strm *s)
{
	while (s->fi < s->fend && s->pos == s->c->f[s->fi].len) {
		if (s->fi + 1 == s->fend)
			return 0;	/* stay: the frame ended here */
		s->fi++;
		s->pos = 0;
	}
	return s->fi < s->fend;
}

/* Next byte, or -1 at the end of the frame or on a read error. */
int strm_byte(struct strm *s)
{
	uint64_t n = 1;
	const uint8_t *p;

	if (!strm_more(s))
		return -1;
	p = strm_rd_at(&s->c->rd, s->c->f[s->fi].val + s->pos, &n);
	if (!p)
		return -1;
	s->pos++;
	s->done++;
	return *p;
}

long strm_u16(struct strm *s)
{
	int a = strm_byte(s), b = strm_byte(s);

	return a < 0 || b < 0 ? -1 : (long)(a << 8 | b);
}

/* Consume n bytes: kept as they are (keep set), or replaced by repl (n
 * bytes) or, repl NULL, by n bytes of fill. */
static int strm_take(struct strm *s, uint64_t n, int keep, const uint8_t *repl,
		  uint8_t fill)
{
	uint64_t i = 0;

	while (i < n) {
		const struct strm_frag *f;
		uint64_t k;
		int err;

		if (!strm_more(s))
			return -EBADMSG;
		f = &s->c->f[s->fi];
		k = f->len - s->pos;
		if (k > n - i)
			k = n - i;
		if (!keep) {
			err = strm_patch(s->c, f->val + s->pos, k,
					repl ? repl + i : NULL, fill);
			if (err)
				return err;
		}
		s->pos += k;
		s->done += k;
		i += k;
	}
	return 0;
}

int strm_skip(struct strm *s, uint64_t n)
{
	return strm_take(s, n, 1, NULL, 0);
}

int strm_blank(struct strm *s, uint64_t n, const uint8_t *repl)
{
	return strm_take(s, n, 0, repl, 0);
}

int strm_fill(struct strm *s, uint64_t n, uint8_t fill)
{
	return strm_take(s, n, 0, NULL, fill);
}

/* Consume n bytes (n <= MAX_SEG) into out. */
int strm_read(struct strm *s, uint8_t *out, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		int b = strm_byte(s);

		if (b < 0)
			return -EBADMSG;
		out[i] = (uint8_t)b;
	}
	return 0;
}

/* Bytes left in the frame from where s stands. */
uint64_t strm_left(const struct strm *s)
{
	uint64_t n = 0;
	size_t i;

	for (i = s->fi; i < s->fend; i++)
		n += s->c->f[i].len - (i == s->fi ? s->pos : 0);
	return n;
}

/* Copy the next n bytes (n <= sizeof a segment head) without consuming. */
int strm_peek(const struct strm *s, uint8_t *out, unsigned n)
{
	struct strm t = *s;
	unsigned i;

	for (i = 0; i < n; i++) {
		int b = strm_byte(&t);

		if (b < 0)
			return -EBADMSG;
		out[i] = (uint8_t)b;
	}
	return 0;
}

