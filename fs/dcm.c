/*
 * dcm.c - the in-memory DICOM dataset (see include/dcm.h).
 */
#include "dcm.h"
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dcm_elem_clear(struct dcm_elem *e)
{
	uint32_t i;

	if (!e)
		return;
	if (e->borrowed)
		explicit_bzero(e->val, e->len);
	else
		base_wipe_free(e->val, e->len);
	for (i = 0; i < e->nitems; i++)
		dcm_ds_free(&e->items[i]);
	free(e->items);
	memset(e, 0, sizeof(*e));
}

void dcm_ds_free(struct dcm_ds *ds)
{
	uint32_t i;

	if (!ds)
		return;
	for (i = 0; i < ds->n; i++)
		dcm_elem_clear(&ds->el[i]);
	free(ds->el);
	memset(ds, 0, sizeof(*ds));
}

/* Binary search: index of tag, or -(insertion point) - 1. */
static long search(const struct dcm_ds *ds, uint32_t tag)
{
	long lo = 0, hi = (long)ds->n - 1;

	while (lo <= hi) {
		long mid = lo + (hi - lo) / 2;
		uint32_t t = ds->el[mid].tag;

		if (t == tag)
			return mid;
		if (t < tag)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

long dcm_ds_find(const struct dcm_ds *ds, uint32_t tag)
{
	long i = search(ds, tag);

	return i >= 0 ? i : -1;
}

struct dcm_elem *dcm_ds_get(const struct dcm_ds *ds, uint32_t tag)
{
	long i = search(ds, tag);

	return i >= 0 ? &ds->el[i] : NULL;
}

/* Slot for tag: an existing element (cleared) or a new one inserted in
 * order.  Returns NULL on allocation failure. */
static struct dcm_elem *slot(struct dcm_ds *ds, uint32_t tag)
{
	long i = search(ds, tag);
	uint32_t at;

	if (i >= 0) {
		dcm_elem_clear(&ds->el[i]);
		ds->el[i].tag = tag;
		return &ds->el[i];
	}
	at = (uint32_t)(-i - 1);
	if (ds->n == ds->cap) {
		uint32_t cap = ds->cap ? ds->cap * 2 : 16;
		struct dcm_elem *el;

		if (cap < ds->cap)
			return NULL;
		el = realloc(ds->el, (size_t)cap * sizeof(*el));
		if (!el)
			return NULL;
		ds->el = el;
		ds->cap = cap;
	}
	memmove(&ds->el[at + 1], &ds->el[at],
		(size_t)(ds->n - at) * sizeof(ds->el[0]));
	ds->n++;
	memset(&ds->el[at], 0, sizeof(ds->el[0]));
	ds->el[at].tag = tag;
	return &ds->el[at];
}

int dcm_ds_set(struct dcm_ds *ds, uint32_t tag, const char *vr,
	       const void *val, uint32_t len)
{
	uint8_t *copy = NULL;
	struct dcm_elem *e;

	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, val, len);
	}
	e = slot(ds, tag);
	if (!e) {
		free(copy);
		return -ENOMEM;
	}
	memcpy(e->vr, vr, 2);
	e->vr[2] = 0;
	e->val = copy;
	e->len = len;
	return 0;
}

int dcm_ds_set_str(struct dcm_ds *ds, uint32_t tag, const char *vr,
		   const char *s)
{
	size_t n = strlen(s);
	char *buf;
	int err;

	if (n >= DCM_MAX_VALUE)
		return -EINVAL;
	buf = malloc(n + 2);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, s, n);
	if (n & 1)	/* PS3.5 6.2: UI pads with NUL, text with space */
		buf[n++] = strcmp(vr, "UI") == 0 ? '\0' : ' ';
	err = dcm_ds_set(ds, tag, vr, buf, (uint32_t)n);
	free(buf);
	return err;
}

int dcm_ds_set_seq(struct dcm_ds *ds, uint32_t tag, struct dcm_elem **out)
{
	struct dcm_elem *e = slot(ds, tag);

	if (!e)
		return -ENOMEM;
	memcpy(e->vr, "SQ", 3);
	*out = e;
	return 0;
}

int dcm_seq_add_item(struct dcm_elem *seq, struct dcm_ds **out)
{
	struct dcm_ds *items;

	if (seq->nitems >= DCM_MAX_ELEMENTS)
		return -E2BIG;
	/*
	 * Grow geometrically: one realloc per item made a hostile sequence of
	 * 200000 empty items quadratic (minutes under ASan, whose realloc
	 * always copies).  The capacity is implicit, the smallest power of
	 * two >= nitems: only this function allocates items, so the array is
	 * full exactly when nitems is 0 or a power of two.
	 */
	items = seq->items;
	if (!(seq->nitems & (seq->nitems - 1))) {
		size_t cap = seq->nitems ? (size_t)seq->nitems * 2 : 1;

		items = realloc(seq->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		seq->items = items;
	}
	memset(&items[seq->nitems], 0, sizeof(items[0]));
	*out = &items[seq->nitems++];
	return 0;
}

void dcm_ds_remove_at(struct dcm_ds *ds, uint32_t i)
{
	if (i >= ds->n)
		return;
	dcm_elem_clear(&ds->el[i]);
	memmove(&ds->el[i], &ds->el[i + 1],
		(size_t)(ds->n - i - 1) * sizeof(ds->el[0]));
	ds->n--;
}

void dcm_ds_remove(struct dcm_ds *ds, uint32_t tag)
{
	long i = dcm_ds_find(ds, tag);

	if (i >= 0)
		dcm_ds_remove_at(ds, (uint32_t)i);
}

size_t dcm_elem_str(const struct dcm_elem *e, char *buf, size_t bufsz)
{
	size_t a = 0, b, n;

	if (!bufsz)
		return 0;
	buf[0] = 0;
	if (!e || !e->val || !e->len)
		return 0;
	b = e->len;
	while (b > 0 && (e->val[b - 1] == ' ' || e->val[b - 1] == 0))
		b--;
	while (a < b && e->val[a] == ' ')
		a++;
	n = b - a;
	if (n > bufsz - 1)
		n = bufsz - 1;
	memcpy(buf, e->val + a, n);
	buf[n] = 0;
	return n;
}

size_t dcm_ds_get_str(const struct dcm_ds *ds, uint32_t tag, char *buf,
		      size_t bufsz)
{
	return dcm_elem_str(dcm_ds_get(ds, tag), buf, bufsz);
}

int dcm_ds_copy(struct dcm_ds *dst, const struct dcm_ds *src)
{
	uint32_t i, j;
	int err = 0;

	for (i = 0; i < src->n && !err; i++) {
		const struct dcm_elem *s = &src->el[i];
		struct dcm_elem *d;

		if (memcmp(s->vr, "SQ", 2) == 0 && !s->val) {
			err = dcm_ds_set_seq(dst, s->tag, &d);
			for (j = 0; !err && j < s->nitems; j++) {
				struct dcm_ds *item;

				err = dcm_seq_add_item(d, &item);
				if (!err)
					err = dcm_ds_copy(item, &s->items[j]);
			}
			continue;
		}
		err = dcm_ds_set(dst, s->tag, s->vr, s->val, s->len);
		if (!err) {
			d = dcm_ds_get(dst, s->tag);
			d->encapsulated = s->encapsulated;
		}
	}
	return err;
}
