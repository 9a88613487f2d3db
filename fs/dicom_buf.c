/*
 * dicom_buf.c - the parser's window on the source (fs/dicom_impl.h).
 */
#include "dicom_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "budget.h"

void dicom_buf_release(struct dicom_buf *b)
{
	base_wipe_free(b->mem, b->cap);
	budget_give(*b->hold, b->cap);
	b->mem = NULL;
	b->cap = 0;
	b->base = 0;
	b->len = 0;
}

int dicom_buf_read_direct(const struct dicom_buf *b, void *dst, size_t n,
			  uint64_t off)
{
	const struct dicom_source *src = b->src;
	uint8_t *d = dst;

	while (n) {
		ssize_t r = src->pread(src->ctx, d, n, off);

		if (r < 0)
			return r == -ENOMEM ? -ENOMEM : -EIO;
		if (r == 0 || (size_t)r > n)
			return -EBADMSG;	/* shorter than it said */
		d += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int dicom_buf_check(const struct dicom_buf *b, uint64_t end)
{
	return end > b->size || end > b->limit ? -EBADMSG : 0;
}

bool dicom_buf_has(const struct dicom_buf *b, uint64_t pos, uint64_t end)
{
	return pos >= b->base && end <= b->base + b->len;
}

/* Room for want bytes of which the keep bytes at pos are already loaded
 * (they move to the front). */
static int make_room(struct dicom_buf *b, uint64_t pos, uint64_t want,
		     uint64_t keep)
{
	uint8_t *m;
	int err;

	if (want <= b->cap) {
		if (keep)
			memmove(b->mem, b->mem + (pos - b->base),
				(size_t)keep);
		return 0;
	}
	/* old and new copy both exist for a moment */
	err = budget_take(b->bud, b->hold, want);
	if (err)
		return err;
	m = malloc((size_t)want);
	if (!m) {
		budget_give(*b->hold, want);
		return -ENOMEM;
	}
	if (keep)
		memcpy(m, b->mem + (pos - b->base), (size_t)keep);
	/* not realloc: the old copy must be wiped */
	base_wipe_free(b->mem, b->cap);
	budget_give(*b->hold, b->cap);
	b->mem = m;
	b->cap = (size_t)want;
	return 0;
}

int dicom_buf_at(struct dicom_buf *b, uint64_t pos, uint64_t end,
		 const uint8_t **p)
{
	uint64_t want, keep = 0;
	int err;

	if (end < pos)
		return -EBADMSG;
	err = dicom_buf_check(b, end);
	if (err)
		return err;
	if (!dicom_buf_has(b, pos, end)) {
		want = end - pos;
		if (want < DICOM_FIRST_READ)
			want = b->len ? 4 * DICOM_FIRST_READ
				      : DICOM_FIRST_READ;
		if (want > b->size - pos)
			want = b->size - pos;
		if (want > b->limit - pos)
			want = b->limit - pos;
		if (want < end - pos)
			want = end - pos;
		if (pos >= b->base && pos < b->base + b->len)
			keep = b->base + b->len - pos;	/* already here */
		err = make_room(b, pos, want, keep);
		if (err)
			return err;
		b->base = pos;
		b->len = (size_t)keep;
		err = dicom_buf_read_direct(b, b->mem + keep,
					    (size_t)(want - keep), pos + keep);
		if (err)
			return err;
		b->len = (size_t)want;
	}
	*p = b->mem + (pos - b->base);
	return 0;
}

int dicom_buf_peek(struct dicom_buf *b, uint64_t off, void *dst, size_t n)
{
	if (off > b->size || n > b->size - off)
		return -EBADMSG;
	if (dicom_buf_has(b, off, off + n)) {
		memcpy(dst, b->mem + (off - b->base), n);
		return 0;
	}
	return dicom_buf_read_direct(b, dst, n, off);
}
