/*
 * rules_apply.c - rules_apply() (include/rules.h): the walk over a dataset
 * that applies the rules to every attribute at every sequence depth.  What
 * to do with an attribute is rules_decide.c's; the actions on a value are
 * rules_act.c's; this module walks, keeps sequences (cleaning their items
 * by the same rules), makes the dummy item of a D on a sequence, and
 * removes.
 *
 * Finally PatientName and PatientID (top level) become the pseudonym and the
 * de-identification marks of PS3.15 E.1 and PS3.3 C.7.1.1 are added
 * (rules_mark.c).
 *
 * Every change is reported through ctx->audit before it is made.  Any
 * failure returns an error and the caller discards the dataset: we fail
 * closed, never half-apply a rule and carry on.
 */
#include "rules_apply.h"
#include "dicom.h"
#include "ident.h"
#include "iod.h"
#include "rules_act.h"
#include "rules_decide.h"
#include "rules_mark.h"
#include "rules_vr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum rules_need rules_apply_need(const struct rules_walk *w, unsigned depth)
{
	if (w->iod == IOD_NONE)
		return NEED_UNKNOWN_IOD;
	switch (iod_type(w->iod, w->tags, depth + 1)) {
	case IOD_TYPE_1:
	case IOD_TYPE_1C:
		/* 1C: the source holds the attribute, so we take it that
		 * its condition holds */
		return NEED_VALUE;
	case IOD_TYPE_2:
	case IOD_TYPE_2C:
		return NEED_PRESENT;
	default:
		return NEED_NONE;
	}
}

int rules_apply_audit(struct rules_walk *w, const char *action, const void *old,
		      size_t oldlen, const void *newv, size_t newlen)
{
	if (!w->ctx->audit)
		return 0;
	return w->ctx->audit(w->ctx->arg, w->path, action, old, oldlen, newv,
			     newlen);
}

void rules_apply_path_tag(struct rules_walk *w, size_t plen, uint32_t tag)
{
	snprintf(w->path + plen, sizeof(w->path) - plen, "%08X", tag);
}

/* Audit the removal of ds->el[i]; the caller marks it (mark_dead()) and
 * drops it with the others afterwards. */
static int remove_at(struct rules_walk *w, struct dcm_ds *ds, uint32_t i)
{
	struct dcm_elem *e = &ds->el[i];

	return rules_apply_audit(w, "X", e->val, e->len, NULL, 0);
}

/* Mark el[i] of a dataset of n elements for drop_marked(); the marks are
 * allocated at the first. */
static int mark_dead(uint8_t **dead, uint32_t n, uint32_t i)
{
	if (!*dead && !(*dead = calloc(n, 1)))
		return -ENOMEM;
	(*dead)[i] = 1;
	return 0;
}

/* Drop the marked elements of ds, all in one pass: one at a time would be
 * quadratic in the number of elements, which a hostile file chooses. */
static void drop_marked(struct dcm_ds *ds, const uint8_t *dead)
{
	uint32_t i, j;

	for (i = 0, j = 0; i < ds->n; i++) {
		if (dead[i])
			dcm_elem_clear(&ds->el[i]);
		else
			ds->el[j++] = ds->el[i];
	}
	ds->n = j;
}

static int walk_ds(struct rules_walk *w, struct dcm_ds *ds, unsigned depth,
		   size_t plen);

/* Keep e; a sequence's items are cleaned by the same rules. */
static int act_keep(struct rules_walk *w, struct dcm_elem *e, unsigned depth,
		    size_t plen)
{
	uint32_t j;
	int err;

	if (!rules_vr_is(e, "SQ"))
		return 0;
	w->rule = "sequence unreadable";
	if (e->val)	/* raw bytes we cannot look into */
		return -EBADMSG;
	for (j = 0; j < e->nitems; j++) {
		int n = snprintf(w->path + plen + 8, sizeof(w->path) - plen - 8,
				 "[%u].", j);

		if (n < 0 || (size_t)n >= sizeof(w->path) - plen - 8)
			return -EBADMSG;
		err = walk_ds(w, &e->items[j], depth + 1, plen + 8 + (size_t)n);
		if (err)
			return err;
	}
	return 0;
}

/*
 * D on a sequence: one dummy item that keeps the module valid and holds
 * nothing of the original.  Its shape is the source's first item: of its
 * attributes, those the IOD requires in the item (Type 1, 1C, 2, 2C at that
 * path) stay, the rest go.  Type 2 ones become empty; Type 1 ones get a
 * dummy value, UIDs a keyed replacement (the standard's own UIDs, such as
 * a Referenced SOP Class UID, are kept) so references between published
 * files still resolve; a required sequence inside gets a dummy item in
 * turn.  Further items go.  With no IOD known, or no item to take the
 * shape from, the sequence is emptied (inventing the content of an item
 * the source did not have would be guesswork).
 */
static int act_dummy_seq(struct rules_walk *w, struct dcm_elem *e,
			 unsigned depth, size_t plen)
{
	struct dcm_ds *item;
	uint8_t *dead = NULL;
	uint32_t i, j;
	size_t ilen;
	int n, err = 0;

	w->rule = "D (dummy item)";
	if (e->val)	/* raw bytes we cannot look into */
		return -EBADMSG;
	if (w->iod == IOD_NONE || !e->nitems || depth + 1 > DCM_MAX_DEPTH)
		return rules_act_zero(w, e);
	err = rules_apply_audit(w, "D", NULL, 0, NULL, 0);
	if (err)
		return err;
	for (j = 1; j < e->nitems; j++)
		dcm_ds_free(&e->items[j]);
	e->nitems = 1;
	item = &e->items[0];
	n = snprintf(w->path + plen + 8, sizeof(w->path) - plen - 8, "[0].");
	if (n < 0 || (size_t)n >= sizeof(w->path) - plen - 8)
		return -EBADMSG;
	ilen = plen + 8 + (size_t)n;
	for (i = 0; i < item->n && !err; i++) {
		struct dcm_elem *c = &item->el[i];
		enum rules_vk vk = rules_vr_kind(c);

		rules_apply_path_tag(w, ilen, c->tag);
		w->tags[depth + 1] = c->tag;
		w->rule = "D (dummy item)";
		switch (rules_apply_need(w, depth + 1)) {
		case NEED_VALUE:
			if (vk == VK_SQ)
				err = act_dummy_seq(w, c, depth + 1, ilen);
			else if (vk == VK_UI)
				err = rules_act_uid(w, c, 1, "D");
			else
				err = rules_act_dummy(w, c, vk);
			break;
		case NEED_PRESENT:
			err = rules_act_zero(w, c);
			break;
		default:
			err = mark_dead(&dead, item->n, i);
			if (!err)
				err = remove_at(w, item, i);
			break;
		}
	}
	if (!err && dead)
		drop_marked(item, dead);
	free(dead);
	return err;
}

/* The name of an action for struct rules_cause (PS3.15 E.1.1 codes). */
static const char *rule_of(enum rules_act act)
{
	switch (act) {
	case ACT_KEEP: return "K (keep)";
	case ACT_Z: return "Z (empty)";
	case ACT_D: return "D (dummy)";
	case ACT_U:
	case ACT_U_STD: return "U (replace UID)";
	case ACT_DATE: return "date shift";
	default: return "X (remove)";
	}
}

/* When the public dictionary gives tag one string VR, write it to vr and
 * return 1; else 0 (vr untouched). */
static int dict_string_vr(uint32_t tag, char vr[3])
{
	static const char strings[] =
		"AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT";
	char d[3];

	dicom_dict_vr(tag, NULL, d);
	if (!d[0] || !d[1] || d[2] || !strstr(strings, d))
		return 0;
	memcpy(vr, d, 3);
	return 1;
}

/* Apply the rules to ds->el[i]; *removed set when it is gone. */
static int apply_elem(struct rules_walk *w, struct dcm_ds *ds, uint32_t i,
		      unsigned depth, size_t plen, int *removed)
{
	struct dcm_elem *e = &ds->el[i];
	enum rules_vk vk = rules_vr_kind(e);
	enum rules_act act;
	int err;

	*removed = 0;
	/* A public attribute written as UN (by a tool that did not know
	 * the tag) is what the dictionary says it is, as PS3.5 6.2.2 has
	 * readers take UN, when that is a string VR (whose bytes do not
	 * depend on the byte order): then it is decided, vetted and kept
	 * like any, instead of being removed as unknown content.  Removed,
	 * a file loses what its IOD requires (Modality, Instance Number);
	 * and a UID the Retain UIDs option keeps could be neither kept nor
	 * given a dummy, so a file whose SOP Instance UID was written as UN
	 * could not be published at all. */
	if (vk == VK_UN && !e->nitems && !e->encapsulated &&
	    !(DCM_GROUP(e->tag) & 1) && dict_string_vr(e->tag, e->vr))
		vk = rules_vr_kind(e);
	w->rule = "kept value vetting";
	err = rules_decide(w, ds, i, depth, vk, &act);
	if (err)
		return err;
	w->rule = rule_of(act);
	switch (act) {
	case ACT_KEEP:
		return act_keep(w, e, depth, plen);
	case ACT_Z:
		return rules_act_zero(w, e);
	case ACT_D:
		if (vk == VK_SQ)
			return act_dummy_seq(w, e, depth, plen);
		return rules_act_dummy(w, e, vk);
	case ACT_U:
		return rules_act_uid(w, e, 0, "U");
	case ACT_U_STD:
		return rules_act_uid(w, e, 1, "U");
	case ACT_DATE:
		return rules_act_date(w, e, vk);
	case ACT_X:
	default:
		*removed = 1;
		return remove_at(w, ds, i);
	}
}

static int walk_ds(struct rules_walk *w, struct dcm_ds *ds, unsigned depth,
		   size_t plen)
{
	uint32_t i;
	uint8_t *dead = NULL;	/* elements to drop, removed in one pass */
	int err = 0, removed;

	if (depth > DCM_MAX_DEPTH) {
		w->rule = "sequence unreadable";
		return -EBADMSG;
	}
	for (i = 0; i < ds->n; i++) {
		uint32_t tag = ds->el[i].tag;

		rules_apply_path_tag(w, plen, tag);
		w->tags[depth] = tag;
		/* Top-level PatientName/PatientID become the pseudonym
		 * afterwards, audited against the original value. */
		if (depth == 0 && (tag == DCM_TAG(0x0010, 0x0010) ||
				   tag == DCM_TAG(0x0010, 0x0020)))
			continue;
		err = apply_elem(w, ds, i, depth, plen, &removed);
		if (err)
			break;
		if (removed && (err = mark_dead(&dead, ds->n, i)))
			break;
	}
	if (!err && dead)
		drop_marked(ds, dead);
	free(dead);
	return err;
}

/* Where the walk stopped, for ctx->failure: the rule and the tag path
 * (without the '.' of an item whose next tag was not reached). */
static void report_failure(const struct rules_walk *w)
{
	struct rules_cause *f = w->ctx->failure;
	size_t n;

	if (!f)
		return;
	f->rule = w->rule ? w->rule : "de-identification";
	n = strnlen(w->path, sizeof(w->path));
	if (n >= sizeof(f->path))
		n = sizeof(f->path) - 1;
	while (n && w->path[n - 1] == '.')
		n--;
	memcpy(f->path, w->path, n);
	f->path[n] = 0;
	if (!strcmp(f->rule, "person names beyond screening") ||
	    !w->path[0])
		f->path[0] = 0;	/* all of them, not one; or none */
}

int rules_apply(const struct rules *r, const struct rules_ctx *ctx,
		struct dcm_ds *ds)
{
	struct rules_walk walk, *w = &walk;
	struct ident_words *own = NULL;
	int err;

	if (!r || !ctx || !ds || !ctx->pseudonym ||
	    !rules_mark_pseudonym_ok(ctx->pseudonym)) {
		if (ctx && ctx->failure) {
			ctx->failure->rule = "pseudonym";
			ctx->failure->path[0] = 0;
		}
		return -EINVAL;
	}
	memset(w, 0, sizeof(*w));
	w->r = r;
	w->ctx = ctx;
	w->opts = ctx->options;
	if (w->opts & RULES_MONTH_DATES)	/* which dates: its own */
		w->opts |= RULES_RTN_LONG_MODIF_DATES;
	w->iod = iod_find(ctx->iod_name);
	w->names = ctx->names;
	if (!w->names) {
		/* before anything below changes ds */
		w->rule = "person names beyond screening";
		err = rules_names_collect(ds, ctx->patient_name, &own);
		if (err == -ELOOP) {
			w->rule = "sequence unreadable";
			err = -EBADMSG;
		}
		if (err)
			goto out;
		w->names = own;
	}
	err = walk_ds(w, ds, 0, 0);
	if (!err) {
		w->rule = "pseudonym";
		err = rules_mark_pseudonym(w, ds);
	}
	if (!err) {
		w->rule = "study labels";
		err = rules_mark_study(w, ds);
	}
	if (!err) {
		w->rule = "de-identification marks";
		err = rules_mark_set(w, ds);
	}
out:
	if (err)
		report_failure(w);
	ident_words_free(own);
	return err;
}
