/*
 * rules_mark.c - the pseudonym and the de-identification marks that
 * rules_apply() writes at the top level after the walk (see
 * rules_mark.h).  The values are ours (the pseudonym, the standard's
 * codes), never the source's; the source's values they replace are
 * audited.
 */
#include "rules_mark.h"
#include "rules_vr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The edition of PS3.15 the data files come from (fs/data/README.md). */
#define RULES_EDITION "2026c"

#define PSEUDO_PN_MAX 66	/* a pseudonym (64, see rules_mark.h) and '^' */

/* Set a top-level string attribute, auditing the change. */
static int set_top(struct rules_walk *w, struct dcm_ds *ds, uint32_t tag,
		   const char *vr, const char *s, const char *action)
{
	struct dcm_elem *e = dcm_ds_get(ds, tag);
	size_t n = strlen(s), len = n + (n & 1);
	int err;

	rules_apply_path_tag(w, 0, tag);
	if (e && rules_vr_is(e, vr) && e->len == len && !e->nitems &&
	    (!n || !memcmp(e->val, s, n)) && (!(n & 1) || e->val[n] == ' '))
		return 0;
	/* dcm_ds_set_str pads the same way: audit what will be stored. */
	if (w->ctx->audit) {
		char nv[64 * 10 + 2];	/* our own values: marks, pseudonym */

		if (len > sizeof(nv))
			return -EOVERFLOW;
		memcpy(nv, s, n);
		if (n & 1)
			nv[n] = ' ';
		err = rules_apply_audit(w, action, e ? e->val : NULL,
					e ? e->len : 0, nv, len);
		if (err)
			return err;
	}
	return dcm_ds_set_str(ds, tag, vr, s);
}

/* CID 7050 codes of the profile and options (PS3.16). */
static const struct {
	unsigned flag;
	const char *code;
	const char *meaning;
} method_codes[] = {
	{ 0, "113100", "Basic Application Confidentiality Profile" },
	{ RULES_RTN_SAFE_PRIVATE, "113111", "Retain Safe Private Option" },
	{ RULES_RTN_UIDS, "113110", "Retain UIDs Option" },
	{ RULES_RTN_DEVICE_ID, "113109", "Retain Device Identity Option" },
	{ RULES_RTN_INSTITUTION_ID, "113112",
	  "Retain Institution Identity Option" },
	{ RULES_RTN_PATIENT_CHARS, "113108",
	  "Retain Patient Characteristics Option" },
	{ RULES_RTN_LONG_FULL_DATES, "113106",
	  "Retain Longitudinal Temporal Information Full Dates Option" },
	{ RULES_RTN_LONG_MODIF_DATES, "113107",
	  "Retain Longitudinal Temporal Information Modified Dates Option" },
	{ RULES_CLEAN_DESCRIPTORS, "113105", "Clean Descriptors Option" },
};
#define NMETHOD (sizeof(method_codes) / sizeof(method_codes[0]))

/* DeidentificationMethod: "deidfs: ..." and the options used. */
static int set_method(struct rules_walk *w, struct dcm_ds *ds)
{
	/* "deidfs: ..." plus at most 8 meanings of < 64 chars, '\\'-joined */
	char method[64 * (NMETHOD + 1)];
	size_t k, o;

	o = (size_t)snprintf(method, sizeof(method),
			     "deidfs: PS3.15 E.1-1 Basic Profile %s",
			     RULES_EDITION);
	for (k = 1; k < NMETHOD && o < sizeof(method); k++)
		if (w->opts & method_codes[k].flag)
			o += (size_t)snprintf(method + o, sizeof(method) - o,
					      "\\%s", method_codes[k].meaning);
	/* the form the Modified Dates option took */
	if ((w->ctx->options & RULES_MONTH_DATES) && o < sizeof(method))
		o += (size_t)snprintf(method + o, sizeof(method) - o,
				      "\\dates kept to the month");
	if (o >= sizeof(method))	/* our own constants: cannot happen */
		return -EOVERFLOW;
	return set_top(w, ds, DCM_TAG(0x0012, 0x0063), "LO", method, "mark");
}

/* Item number item of the code sequence: method_codes[k]. */
static int add_code_item(struct rules_walk *w, struct dcm_elem *seq, size_t k,
			 uint32_t item)
{
	static const struct {
		uint16_t elem;
		char vr[3];
	} f[3] = { { 0x0100, "SH" }, { 0x0102, "SH" }, { 0x0104, "LO" } };
	const char *v[3];
	struct dcm_ds *it;
	size_t m;
	int err;

	v[0] = method_codes[k].code;
	v[1] = "DCM";
	v[2] = method_codes[k].meaning;
	err = dcm_seq_add_item(seq, &it);
	if (err)
		return err;
	for (m = 0; m < 3; m++) {
		err = dcm_ds_set_str(it, DCM_TAG(0x0008, f[m].elem), f[m].vr,
				     v[m]);
		if (err)
			return err;
		snprintf(w->path, sizeof(w->path), "%08X[%u].%08X",
			 DCM_TAG(0x0012, 0x0064), item,
			 DCM_TAG(0x0008, f[m].elem));
		err = rules_apply_audit(w, "mark", NULL, 0, v[m], strlen(v[m]));
		if (err)
			return err;
	}
	return 0;
}

/* DeidentificationMethodCodeSequence: the profile's code and the
 * options', in place of whatever the source had. */
static int set_method_codes(struct rules_walk *w, struct dcm_ds *ds)
{
	struct dcm_elem *seq;
	uint32_t item = 0;
	size_t k;
	int err;

	rules_apply_path_tag(w, 0, DCM_TAG(0x0012, 0x0064));
	seq = dcm_ds_get(ds, DCM_TAG(0x0012, 0x0064));
	if (seq) {
		err = rules_apply_audit(w, "X", seq->val, seq->len, NULL, 0);
		if (err)
			return err;
	}
	err = dcm_ds_set_seq(ds, DCM_TAG(0x0012, 0x0064), &seq);
	if (err)
		return err;
	for (k = 0; k < NMETHOD; k++) {
		if (k && !(w->opts & method_codes[k].flag))
			continue;
		err = add_code_item(w, seq, k, item++);
		if (err)
			return err;
	}
	return 0;
}

int rules_mark_set(struct rules_walk *w, struct dcm_ds *ds)
{
	const char *ltim;
	int err;

	err = set_top(w, ds, DCM_TAG(0x0012, 0x0062), "CS", "YES", "mark");
	if (!err)
		err = set_method(w, ds);
	if (!err)
		err = set_method_codes(w, ds);
	if (err)
		return err;
	if (w->opts & RULES_RTN_LONG_FULL_DATES)
		ltim = "UNMODIFIED";
	else if (w->opts & RULES_RTN_LONG_MODIF_DATES)
		ltim = "MODIFIED";
	else
		ltim = "REMOVED";
	return set_top(w, ds, DCM_TAG(0x0028, 0x0303), "CS", ltim, "mark");
}

int rules_mark_pseudonym_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '\\' ||
		    (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * PS3.15 E.1.1 lets Z be "a non-zero length value that may be a dummy value
 * and consistent with the VR": StudyID's is a keyed token.  Study
 * Description's X removed the original (rules_apply() ran); the value set
 * here is new content, the month the view's folder already names.
 */
int rules_mark_study(struct rules_walk *w, struct dcm_ds *ds)
{
	int err = 0;

	if (w->ctx->study_id && *w->ctx->study_id &&
	    strlen(w->ctx->study_id) <= 16)
		err = set_top(w, ds, DCM_TAG(0x0020, 0x0010), "SH",
			      w->ctx->study_id, "D");
	if (!err && w->ctx->study_description &&
	    *w->ctx->study_description &&
	    strlen(w->ctx->study_description) <= 64)
		err = set_top(w, ds, DCM_TAG(0x0008, 0x1030), "LO",
			      w->ctx->study_description, "D");
	return err;
}

int rules_mark_pseudonym(struct rules_walk *w, struct dcm_ds *ds)
{
	const char *pseudonym = w->ctx->pseudonym;
	char pn[PSEUDO_PN_MAX];
	int n, err;

	/* "<pseudonym>^": the family name component with its delimiter; a
	 * name without any '^' reads as the retired ACR-NEMA form (PS3.5
	 * 6.2.1) and validators warn about it */
	n = snprintf(pn, sizeof(pn), "%s^", pseudonym);
	if (n < 0 || (size_t)n >= sizeof(pn))
		return -EINVAL;
	err = set_top(w, ds, DCM_TAG(0x0010, 0x0010), "PN", pn, "pseudonym");
	if (err)
		return err;
	return set_top(w, ds, DCM_TAG(0x0010, 0x0020), "LO", pseudonym,
		       "pseudonym");
}
