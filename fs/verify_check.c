/*
 * verify_check.c - what verify demands of a published header
 * (verify_check.h).  Independent of the rules that made it: the marks are
 * read as PS3.15 and PS3.16 CID 7050 define them, not as rules_mark.c
 * writes them.
 */
#include "verify_check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dicom.h"
#include "verify_values.h"

#define TAG_IDENTITY_REMOVED DCM_TAG(0x0012, 0x0062)
#define TAG_METHOD DCM_TAG(0x0012, 0x0063)
#define TAG_METHOD_CODES DCM_TAG(0x0012, 0x0064)
#define TAG_CODE_VALUE DCM_TAG(0x0008, 0x0100)
#define TAG_CODING_SCHEME DCM_TAG(0x0008, 0x0102)

/* PS3.16 CID 7050 De-identification Method. */
static const char *const cid7050[] = {
	"113100", "113101", "113102", "113103", "113104", "113105",
	"113106", "113107", "113108", "113109", "113110", "113111",
	"113112",
};

static int in_cid7050(const char *code)
{
	size_t i;

	for (i = 0; i < sizeof(cid7050) / sizeof(cid7050[0]); i++)
		if (!strcmp(code, cid7050[i]))
			return 1;
	return 0;
}

int vcheck_marks(const struct dcm_ds *ds, vcheck_found_fn found, void *arg)
{
	const struct dcm_elem *seq = dcm_ds_get(ds, TAG_METHOD_CODES);
	char v[80];
	uint32_t i;
	int basic = 0, err;

	if (!dcm_ds_get_str(ds, TAG_IDENTITY_REMOVED, v, sizeof(v)) ||
	    strcmp(v, "YES")) {
		err = found(arg, "(0012,0062)", "identity-not-removed", 0);
		if (err)
			return err;
	}
	if (!dcm_ds_get_str(ds, TAG_METHOD, v, sizeof(v))) {
		err = found(arg, "(0012,0063)", "no-deid-method", 0);
		if (err)
			return err;
	}
	for (i = 0; seq && i < seq->nitems; i++) {
		char code[32], scheme[32];

		if (!dcm_ds_get_str(&seq->items[i], TAG_CODE_VALUE, code,
				    sizeof(code)) ||
		    !dcm_ds_get_str(&seq->items[i], TAG_CODING_SCHEME, scheme,
				    sizeof(scheme)) ||
		    strcmp(scheme, "DCM") || !in_cid7050(code)) {
			err = found(arg, "(0012,0064)", "deid-method-code", 0);
			if (err)
				return err;
			continue;
		}
		basic |= !strcmp(code, "113100");
	}
	if (!basic)
		return found(arg, "(0012,0064)", "no-basic-profile-code", 0);
	return 0;
}

/* A tag path "(gggg,eeee)[i].(gggg,eeee)" of depth d into buf. */
struct tpath {
	char buf[DCM_MAX_DEPTH * 24 + 32];
	size_t len[DCM_MAX_DEPTH + 2];
	unsigned depth;
};

static void tp_push(struct tpath *p, uint32_t tag, long item)
{
	size_t at = p->depth ? p->len[p->depth] : 0;

	if (p->depth > DCM_MAX_DEPTH)
		return;
	if (item >= 0)
		at += (size_t)snprintf(p->buf + at, sizeof(p->buf) - at,
				       "[%ld].", item);
	snprintf(p->buf + at, sizeof(p->buf) - at, "(%04X,%04X)",
		 DCM_GROUP(tag), DCM_ELEM(tag));
}

struct walk {
	vcheck_uid_fn uid_kind;
	const struct acm *a;
	vcheck_found_fn found;
	void *arg;
	struct tpath tp;
	const char *tag;	/* the path of the element being scanned */
};

static int uid_values(struct walk *w, const struct dcm_elem *e)
{
	char uid[72];
	uint32_t i, start;
	int err = 0;

	for (i = start = 0; i <= e->len && !err; i++) {
		const char *kind = NULL;
		size_t n;

		if (i < e->len && e->val[i] != '\\')
			continue;
		n = i - start;
		while (n && (e->val[start + n - 1] == 0 ||
			     e->val[start + n - 1] == ' '))
			n--;
		if (n >= sizeof(uid)) {
			err = w->found(w->arg, w->tp.buf, "uid-not-keyed", 0);
		} else if (n) {
			memcpy(uid, e->val + start, n);
			uid[n] = '\0';
			if (!dicom_uid_is_well_known(uid))
				err = w->uid_kind(w->arg, uid, &kind);
			if (!err && kind)
				err = w->found(w->arg, w->tp.buf, kind, 0);
		}
		start = i + 1;
	}
	return err;
}

static int on_hit(void *arg, uint32_t id, uint64_t end, size_t len)
{
	struct walk *w = arg;

	(void)end;
	(void)len;
	return w->found(w->arg, w->tp.buf, vval_kind_name(VVAL_KIND(id)),
			!!(id & VVAL_SHORT));
}

static int walk_ds(struct walk *w, const struct dcm_ds *ds, unsigned depth,
		   long item)
{
	uint32_t i, k;
	int err = 0;

	if (depth > DCM_MAX_DEPTH)
		return 0;
	for (i = 0; i < ds->n && !err; i++) {
		const struct dcm_elem *e = &ds->el[i];

		w->tp.depth = depth;
		tp_push(&w->tp, e->tag, item);
		w->tp.len[depth + 1] = strlen(w->tp.buf);
		if (e->items) {
			for (k = 0; k < e->nitems && !err; k++)
				err = walk_ds(w, &e->items[k], depth + 1,
					      (long)k);
			continue;
		}
		if (!e->val || !e->len)
			continue;
		if (w->uid_kind && !strcmp(e->vr, "UI"))
			err = uid_values(w, e);
		if (w->a && !err)
			err = acm_scan_buf(w->a, e->val, e->len, on_hit, w);
	}
	return err;
}

/* The walk of ds: UIDs to uid_kind (when set), values through a (when
 * set); what is found to found. */
static int walk(const struct dcm_ds *ds, vcheck_uid_fn uid_kind,
		const struct acm *a, vcheck_found_fn found, void *arg)
{
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.uid_kind = uid_kind;
	w.a = a;
	w.found = found;
	w.arg = arg;
	return walk_ds(&w, ds, 0, -1);
}

int vcheck_uids(const struct dcm_ds *ds, vcheck_uid_fn uid_kind,
		vcheck_found_fn found, void *arg)
{
	return walk(ds, uid_kind, NULL, found, arg);
}

int vcheck_values(const struct dcm_ds *ds, const struct acm *a,
		  vcheck_found_fn found, void *arg)
{
	return walk(ds, NULL, a, found, arg);
}
