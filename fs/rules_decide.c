/*
 * rules_decide.c - what to do with one attribute of a dataset being
 * de-identified (see rules_decide.h; include/rules.h for the contract).
 *
 * Every attribute, at every sequence depth, is handled by the first of these
 * that applies:
 *
 *  1. Private attributes (odd group): removed (X), private creator elements
 *     included, unless the Retain Safe Private Option is used and the element
 *     (gggg,xxEE) is listed in Table E.3.10-1 (fs/data/safe-private.tsv)
 *     under the private creator that reserves its block, i.e. the value of
 *     (gggg,00xx) with leading and trailing spaces removed equals the listed
 *     creator exactly.  A creator element is kept only while at least one
 *     element of its block is kept.  Groups 0001, 0003, 0005, 0007 and FFFF
 *     are not private groups (PS3.5 7.8.1): always removed.
 *  2. Group length elements (gggg,0000): removed (the writer recomputes what
 *     it needs).
 *  3. Overlays (groups 6000-601E, even) and curves (5000-501E, even):
 *     removed, whatever the table says, because overlay planes and curves
 *     can hold burned-in text and are not needed for the images.
 *  4. Attributes in Table E.1-1 (fs/data/annex-e.tsv): the row's action code,
 *     as modified by the options (see rules_table_row_code() and
 *     act_of_code()).
 *  5. Attributes NOT in Table E.1-1 (even group) and not in the data
 *     dictionary (unassigned public tags): removed.
 *  6. Attributes NOT in Table E.1-1 (even group), by VR.  The table lists
 *     what the standard knows to be identifying; anything else may still be
 *     a vendor's free-text field, so the rule is conservative:
 *     a. PN, LO, SH, ST, LT, UT, UC (free text): removed, unless the tag is
 *        listed in fs/data/safe-text.tsv (attributes such as Manufacturer or
 *        Code Value whose text is fixed vocabulary or written by the
 *        device, never about a person); Code Meaning (0008,0104) is kept
 *        only when white-listed (--whitelist), otherwise replaced with a
 *        dummy: local codes carry typed text;
 *     b. UI: kept when the UID is in the standard's registry (GDCM's
 *        table: SOP Class and Transfer Syntax UIDs...; not any UID under
 *        1.2.840.10008.), otherwise replaced as for U; with the Retain
 *        UIDs Option every UID is kept;
 *     c. DA, DT, TM: removed, unless the Retain Longitudinal Temporal
 *        Information Full Dates Option (kept) or Modified Dates Option (DA
 *        and DT shifted, TM kept) is used;
 *     d. AS: removed, unless the Retain Patient Characteristics Option;
 *     e. UN (unknown VR, its content cannot be judged), AE and UR (names of
 *        systems and addresses): removed (UR kept when in safe-text.tsv);
 *     f. SQ: kept, and this whole rule applies to its items;
 *     g. everything else (CS, IS, DS, binary numbers, OB/OW/OF..., AT):
 *        kept; these VRs cannot hold free text.
 *
 * Whatever is kept (K, a kept private value, rule 6) must be a valid
 * instance of its attribute (VR, VM and form, rules_vr_valid()); a CS
 * attribute with a vocabulary in fs/data/cs-terms.tsv keeps only its terms
 * (rules_act_keep_terms()); and no kept value holds a personal ID or a
 * whole word of a person name of the file (holds_identity()).  A value
 * that fails gets what the IOD needs (a dummy, an empty value) or is
 * removed.
 */
#include "rules_decide.h"
#include "dicom.h"
#include "ident.h"
#include "rules_act.h"
#include "rules_table.h"
#include "rules_terms.h"
#include "rules_whitelist.h"

#include <errno.h>
#include <string.h>

/*
 * PS3.15 E.1.1: a compound code's alternative is the one the attribute's
 * Type in the IOD needs, at the attribute's own nesting level: X where it
 * is Type 3 (or not in the IOD there), Z where Type 2 or 2C, D where Type
 * 1 or 1C; X/Z/U* keeps (and cleans) a required sequence of references or
 * replaces a required UID.  Removing keeps nothing, so X is also the most
 * private choice.  When the file's IOD is not known (a SOP class GDCM's
 * tables do not describe), the alternative that keeps any IOD conformant:
 * D for Z/D, X/D and X/Z/D, Z for X/Z.  A D on a sequence is a dummy item
 * (see act_dummy_seq() in rules_apply.c); a Z empties it.
 */
static enum rules_act act_of_code(enum rules_code c, enum rules_vk vk,
				  enum rules_need need)
{
	switch (c) {
	case CODE_K:
		return ACT_KEEP;
	case CODE_C:
		return ACT_C;
	case CODE_D:
		return ACT_D;
	case CODE_ZD:
		return need == NEED_VALUE || need == NEED_UNKNOWN_IOD ? ACT_D
								      : ACT_Z;
	case CODE_XD:
		return need == NEED_NONE ? ACT_X : ACT_D;
	case CODE_XZD:
		if (need == NEED_NONE)
			return ACT_X;
		return need == NEED_PRESENT ? ACT_Z : ACT_D;
	case CODE_Z:
		return ACT_Z;
	case CODE_XZ:
		return need == NEED_NONE ? ACT_X : ACT_Z;
	case CODE_U:
	case CODE_XZU:
		if (c == CODE_XZU && need == NEED_NONE)
			return ACT_X;
		if (vk == VK_SQ)
			return ACT_KEEP;
		if (vk == VK_UI || (c == CODE_U && vk == VK_UN))
			return ACT_U;
		return ACT_Z;
	case CODE_X:
	default:
		return ACT_X;
	}
}

/* The decision for an attribute not in Table E.1-1 (see the top). */
static enum rules_act act_not_in_table(const struct rules_walk *w,
				       const struct dcm_elem *e,
				       enum rules_vk vk)
{
	unsigned o = w->opts;

	switch (vk) {
	case VK_TEXT:
		/*
		 * Code Meaning: fixed by the scheme for standard codes, but
		 * local (RIS) codes carry whatever was typed, names included.
		 * Kept only when white-listed; otherwise a dummy, because it
		 * is Type 1 in every code sequence item.
		 */
		if (e->tag == DCM_TAG(0x0008, 0x0104))
			return rules_whitelist_match(w->ctx->wl, e) ? ACT_KEEP
								    : ACT_D;
		return rules_table_safe_text(w->r, e) ? ACT_KEEP : ACT_X;
	case VK_UR:
		return rules_table_safe_text(w->r, e) ? ACT_KEEP : ACT_X;
	case VK_UI:
		return o & RULES_RTN_UIDS ? ACT_KEEP : ACT_U_STD;
	case VK_DA:
	case VK_DT:
	case VK_TM:
		if (o & RULES_RTN_LONG_FULL_DATES)
			return ACT_KEEP;
		return o & RULES_RTN_LONG_MODIF_DATES ? ACT_DATE : ACT_X;
	case VK_AS:
		return o & RULES_RTN_PATIENT_CHARS ? ACT_KEEP : ACT_X;
	case VK_UN:
	case VK_AE:
		return ACT_X;
	default:
		return ACT_KEEP;
	}
}

/* Whether a value about to be kept holds a personal ID (any that checks,
 * or the person's own) or, unless it is made of terms of its attribute's
 * vocabulary, a whole word of a person name of the file (hers, a
 * physician's, an operator's...; w->names).  A term says what the standard
 * says it does in every file, even when it happens to be spelt like a name
 * (LIN, the pixel intensity relationship, and Lin the operator).  Strings
 * only: binary values are numbers, and text in them has failed
 * rules_vr_valid() already (a VR or VM the dictionary does not allow). */
static int holds_identity(const struct rules_walk *w, const struct dcm_elem *e,
			  enum rules_vk vk, int terms)
{
	const char *v = (const char *)e->val;

	if (!v || !e->len || vk == VK_SQ || vk == VK_BIN2 ||
	    vk == VK_BIN4 || vk == VK_BIN8 || vk == VK_UN)
		return 0;
	return ident_holds_personal_id(v, e->len, w->ctx->patient_id) ||
	       (!terms && ident_words_holds(w->names, v, e->len));
}

/* Number of values of a string value (0 when empty). */
static unsigned nvalues(const struct dcm_elem *e)
{
	unsigned n = 1;
	uint32_t i;

	if (!e->val || !e->len)
		return 0;
	for (i = 0; i < e->len; i++)
		n += e->val[i] == '\\';
	return n;
}

/*
 * Whether a value about to be kept may be: a valid instance of its
 * attribute (rules_vr_valid()), made of terms of its vocabulary when it
 * has one (rules_act_keep_terms(), which may rewrite e), holding no
 * personal ID and no word of a person name of the file (holds_identity()).
 * *ok = 1 when it may.  Returns 0 or -errno.
 */
static int vet_kept(struct rules_walk *w, struct dcm_elem *e,
		    enum rules_vk vk, int *ok)
{
	const struct rules_vocab *voc = NULL;
	int terms = 0, err;

	*ok = 0;
	if (!(DCM_GROUP(e->tag) & 1)) {
		voc = rules_terms_vocab(rules_table_terms(w->r), e->tag);
		if (voc) {
			/* the VR and the number of values the source gave
			 * first: a second Modality is not a term to drop but
			 * a value that is not Modality's */
			if (!dicom_dict_vr_ok(e->tag, e->vr) ||
			    (vk != VK_CS && vk != VK_TEXT) ||
			    !dicom_dict_vm_ok(e->tag, nvalues(e)))
				return 0;
			err = rules_act_keep_terms(w, e, voc, ok);
			if (err || !*ok)
				return err;
			*ok = 0;
			terms = 1;
		}
		if (!rules_vr_valid(e, vk))
			return 0;
		/* Specific Character Set: rules_vr_valid() checked its terms */
		terms |= e->tag == DCM_TAG(0x0008, 0x0005);
	}
	*ok = !holds_identity(w, e, vk, terms);
	return 0;
}

/* Keep a private creator element only while its block keeps something. */
static int creator_kept(const struct rules_walk *w, const struct dcm_ds *ds,
			const struct dcm_elem *e)
{
	uint16_t g = DCM_GROUP(e->tag);
	uint32_t first = DCM_TAG(g, (DCM_ELEM(e->tag) & 0xff) << 8);
	size_t lo = 0, hi = ds->n, n;
	const char *p;

	rules_vr_value(e, &p, &n);
	if (!n || n > RULES_CREATOR_MAX)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ds->el[mid].tag < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < ds->n && ds->el[lo].tag <= first + 0xff; lo++)
		if (rules_table_safe_private(w->r, g,
					     DCM_ELEM(ds->el[lo].tag) & 0xff,
					     p, n))
			return 1;
	return 0;
}

static int private_kept(const struct rules_walk *w, const struct dcm_ds *ds,
			const struct dcm_elem *e)
{
	uint16_t g = DCM_GROUP(e->tag), el = DCM_ELEM(e->tag);
	const struct rules_row *priv = rules_table_private_row(w->r);
	const struct dcm_elem *cr;
	const char *p;
	size_t n;

	/* The private row's Retain Safe Private column (C) is what allows
	 * keeping anything private; without it every private element goes. */
	if (!priv || rules_table_row_code(priv, w->opts) == CODE_X)
		return 0;
	if (g == 0x0001 || g == 0x0003 || g == 0x0005 || g == 0x0007 ||
	    g == 0xffff)
		return 0;
	if (el >= 0x0010 && el <= 0x00ff)
		return creator_kept(w, ds, e);
	if (el < 0x1000)
		return 0;
	cr = dcm_ds_get(ds, DCM_TAG(g, el >> 8));
	if (!cr)
		return 0;
	rules_vr_value(cr, &p, &n);
	if (!n || n > RULES_CREATOR_MAX)
		return 0;
	return rules_table_safe_private(w->r, g, el & 0xff, p, n);
}

/* What the IOD needs of an attribute whose value cannot stay: a dummy
 * value or an empty one (nothing of the original either way), or nothing. */
static enum rules_act needed(const struct rules_walk *w, unsigned depth)
{
	enum rules_need need = rules_apply_need(w, depth);

	return need == NEED_VALUE ? ACT_D :
	       need == NEED_PRESENT ? ACT_Z : ACT_X;
}

/* The action for e before C is resolved and a kept value vetted (the
 * rules 1 to 6 at the top); *row its Table E.1-1 row, if any. */
static enum rules_act first_act(const struct rules_walk *w,
				const struct dcm_ds *ds,
				const struct dcm_elem *e, unsigned depth,
				enum rules_vk vk,
				const struct rules_row **row)
{
	uint16_t g = DCM_GROUP(e->tag);
	enum rules_act act;

	*row = NULL;
	if (g & 1)
		return private_kept(w, ds, e) ? ACT_KEEP : ACT_X;
	if (DCM_ELEM(e->tag) == 0)
		return ACT_X;	/* group length */
	if ((g >= 0x6000 && g <= 0x601e) || (g >= 0x5000 && g <= 0x501e))
		return ACT_X;	/* overlays and curves, whatever the table */
	*row = rules_table_row(w->r, e->tag);
	if (*row)
		return act_of_code(rules_table_row_code(*row, w->opts), vk,
				   rules_apply_need(w, depth));
	/* a public tag the dictionary does not define: nothing says what it
	 * may hold */
	if (!dicom_tag_known(e->tag))
		return ACT_X;
	act = act_not_in_table(w, e, vk);
	/* What the conservative rule would remove but the IOD requires gets
	 * what the IOD requires instead. */
	return act == ACT_X ? needed(w, depth) : act;
}

/* C (PS3.15 E.1.1): dates under the Modified Dates option are shifted;
 * otherwise only a white-listed value is known to be clean; anything
 * else gets the basic profile code. */
static enum rules_act clean(const struct rules_walk *w,
			    const struct dcm_elem *e, enum rules_vk vk,
			    const struct rules_row *row, unsigned depth)
{
	if ((w->opts & RULES_RTN_LONG_MODIF_DATES) &&
	    row->opt[RULES_OPT_LONG_MODIF] == CODE_C &&
	    (vk == VK_DA || vk == VK_DT || vk == VK_TM))
		return ACT_DATE;
	if (vk != VK_SQ && rules_whitelist_match(w->ctx->wl, e))
		return ACT_KEEP;
	return act_of_code((enum rules_code)row->basic, vk,
			   rules_apply_need(w, depth));
}

int rules_decide(struct rules_walk *w, struct dcm_ds *ds, uint32_t i,
		 unsigned depth, enum rules_vk vk, enum rules_act *act)
{
	struct dcm_elem *e = &ds->el[i];
	const struct rules_row *row;
	enum rules_act a = first_act(w, ds, e, depth, vk, &row);
	int ok, err;

	if (a == ACT_C)
		a = clean(w, e, vk, row, depth);
	if (a == ACT_C)		/* not reachable: basic is never C */
		return -EBADMSG;
	/* a value is kept only as a valid instance of its attribute, of the
	 * terms of its vocabulary, and never when it holds a personal ID or a
	 * name of the file: otherwise what the IOD needs, or nothing */
	if (a == ACT_KEEP || a == ACT_DATE) {
		err = vet_kept(w, e, vk, &ok);
		if (err)
			return err;
		if (!ok)
			a = needed(w, depth);
	}
	*act = a;
	return 0;
}
