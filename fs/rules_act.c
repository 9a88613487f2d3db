/*
 * rules_act.c - the actions of PS3.15 E.1.1 on one value (see
 * rules_act.h; rules_decide.c decides which applies).  Multi-valued
 * values are processed value by value (split at '\\', padding trimmed);
 * scratch copies of a value are wiped before they are freed.
 */
#include "rules_act.h"
#include "base.h"
#include "civil.h"
#include "dicom.h"
#include "rules_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define UID_VALUES_MAX 65536	/* bound on a multi-valued UI value */
#define SMALL 256		/* values up to this size need no malloc */

int rules_act_replace(struct rules_walk *w, struct dcm_elem *e,
		      const char *action, const void *v, size_t n, char pad)
{
	size_t len = n + (n & 1);
	uint32_t tag = e->tag;
	uint8_t *nv = NULL;
	char vr[3];
	int err;

	if (len > DCM_MAX_VALUE)
		return -EBADMSG;
	if (len == e->len && !e->nitems && (!len || !memcmp(e->val, v, n)) &&
	    (!(n & 1) || e->val[n] == (uint8_t)pad))
		return 0;
	if (len) {
		nv = malloc(len);
		if (!nv)
			return -ENOMEM;
		memcpy(nv, v, n);
		if (n & 1)
			nv[n] = (uint8_t)pad;
	}
	err = rules_apply_audit(w, action, e->val, e->len,
				nv ? (void *)nv : "", len);
	if (err) {
		free(nv);
		return err;
	}
	memcpy(vr, e->vr, sizeof(vr));
	dcm_elem_clear(e);
	e->tag = tag;
	memcpy(e->vr, vr, sizeof(vr));
	e->val = nv;
	e->len = (uint32_t)len;
	return 0;
}

int rules_act_zero(struct rules_walk *w, struct dcm_elem *e)
{
	return rules_act_replace(w, e, "Z", NULL, 0, ' ');
}

/* A UID of the standard's registry (SOP classes, transfer syntaxes,
 * coding schemes, well-known frames of reference...): GDCM's table through
 * dicom_uid_is_well_known(), not a prefix test, since anything can be
 * written under 1.2.840.10008.  (s, n) is a value's UID, not a C string. */
static int is_std_uid(const char *s, size_t n)
{
	char u[RULES_UID_MAX + 1];

	if (n > RULES_UID_MAX)
		return 0;
	memcpy(u, s, n);
	u[n] = 0;
	return dicom_uid_is_well_known(u);
}

/* One UID (p, n) of a value, without its padding, appended to out at *o:
 * kept when it is the standard's own and keep_std, else ctx->map_uid's
 * replacement.  p is inside a scratch copy of the value: it is
 * NUL-terminated here for map_uid.  A UID with an embedded NUL cannot be
 * passed on faithfully: -EBADMSG. */
static int map_one(struct rules_walk *w, char *p, size_t n, int keep_std,
		   char *out, size_t *o)
{
	char mapped[RULES_UID_MAX + 16];
	int err;

	if (memchr(p, 0, n))
		return -EBADMSG;
	if (keep_std && is_std_uid(p, n) && n <= RULES_UID_MAX) {
		memcpy(out + *o, p, n);
		*o += n;
		return 0;
	}
	if (!w->ctx->map_uid)
		return -EINVAL;
	p[n] = 0;
	memset(mapped, 0, sizeof(mapped));
	err = w->ctx->map_uid(w->ctx->arg, p, mapped, sizeof(mapped));
	if (err)
		return err;
	n = strnlen(mapped, sizeof(mapped));
	if (n == 0 || n > RULES_UID_MAX || memchr(mapped, '\\', n))
		return -EBADMSG;
	memcpy(out + *o, mapped, n);
	*o += n;
	return 0;
}

/*
 * U: replace each UID of a (multi-valued) UI value by ctx->map_uid.  Empty
 * values and empty components stay empty.  With keep_std, the standard's
 * own UIDs are kept.  The input need not be a well-formed UID.
 */
int rules_act_uid(struct rules_walk *w, struct dcm_elem *e, int keep_std,
		  const char *action)
{
	char sscratch[SMALL], sout[SMALL];
	char *scratch = NULL, *out = NULL;
	struct rules_vr_split sp;
	size_t ncomp = 1, i, o = 0, outcap = 0, len = e->len, n;
	const char *p;
	int err = 0;

	if (!e->val || !len)
		return 0;
	for (i = 0; i < len; i++)
		ncomp += e->val[i] == '\\';
	if (ncomp > UID_VALUES_MAX)
		return -EBADMSG;
	outcap = ncomp * (RULES_UID_MAX + 1);
	scratch = base_scratch(sscratch, sizeof(sscratch), len + 1);
	out = base_scratch(sout, sizeof(sout), outcap);
	if (!scratch || !out) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(scratch, e->val, len);
	scratch[len] = 0;
	rules_vr_split_init(&sp, scratch, len);
	while (!err && rules_vr_split_next(&sp, &p, &n)) {
		if (o)
			out[o++] = '\\';
		if (n)
			err = map_one(w, scratch + (p - scratch), n, keep_std,
				      out, &o);
	}
	if (!err)
		err = rules_act_replace(w, e, action, out, o, '\0');
out:
	/* both held original UIDs */
	base_scratch_done(scratch, len + 1, sscratch);
	base_scratch_done(out, outcap, sout);
	return err;
}

static const char *modality_lut_type(const struct dcm_elem *e)
{
	static const char *const terms[] = { "OD", "HU", "US", "MGML",
					     "Z_EFF", "ED", "EDW", "HU_MOD",
					     "PCT" };
	const char *p;
	size_t n, i;

	rules_vr_value(e, &p, &n);
	for (i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
		if (n == strlen(terms[i]) && !memcmp(p, terms[i], n))
			return terms[i];
	return "US";
}

int rules_act_dummy(struct rules_walk *w, struct dcm_elem *e, enum rules_vk vk)
{
	static const uint8_t zeros[8];
	const char *s;

	switch (vk) {
	case VK_DA: s = "19000101"; break;
	case VK_TM: s = "000000.00"; break;
	case VK_DT: s = "19000101000000.000000"; break;
	case VK_AS: s = "000Y"; break;
	case VK_NUMSTR: s = "0"; break;
	case VK_CS:
		s = "ANON";	/* CS allows upper case only */
		/* a character set must stay one: its first value when that
		 * is a term, otherwise none (the default repertoire) */
		if (e->tag == DCM_TAG(0x0008, 0x0005)) {
			const char *p = (const char *)e->val;
			size_t n = e->len, i;

			for (i = 0; i < n && p[i] != '\\'; i++)
				;
			if (!i || !rules_vr_charset_term(p, i))
				return rules_act_zero(w, e);
			return rules_act_replace(w, e, "D", p, i, ' ');
		}
		break;
	case VK_TEXT:
		/* a PN with its family name delimiter (see rules_apply()) */
		s = rules_vr_is(e, "PN") ? "ANONYMIZED^" : "ANONYMIZED";
		/* Modality LUT Type and Rescale Type: one of their defined
		 * terms (PS3.3 C.11.1.1.2) stays, anything else is "US",
		 * unspecified */
		if (e->tag == DCM_TAG(0x0028, 0x3004) ||
		    e->tag == DCM_TAG(0x0028, 0x1054))
			s = modality_lut_type(e);
		break;
	case VK_AE:	/* "ANONYMIZED" fits AE and SH (16 chars) */
	case VK_UR:
		s = "ANONYMIZED";
		break;
	case VK_UI:
		/* A dummy UID must still be consistent across files. */
		return rules_act_uid(w, e, 0, "D");
	case VK_BIN2:
		return rules_act_replace(w, e, "D", zeros, 2, 0);
	case VK_BIN4:
		return rules_act_replace(w, e, "D", zeros, 4, 0);
	case VK_BIN8:
		return rules_act_replace(w, e, "D", zeros, 8, 0);
	case VK_SQ:
	case VK_UN:
	default:
		/* UN: we cannot write a value of an unknown type; the empty
		 * value removes the content just as well. */
		return rules_act_zero(w, e);
	}
	return rules_act_replace(w, e, "D", s, strlen(s), ' ');
}

/* Only digits, '.', '+' and '-' may follow the date of a DT. */
static int dt_rest_ok(const char *s, size_t n)
{
	size_t i;

	if (n > 18)	/* HHMMSS.FFFFFF&ZZXX */
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '+' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * Modified dates (Retain Longitudinal Temporal Information with Modified
 * Dates, PS3.15 E.3.6): shift DA and the date part of DT by
 * ctx->date_shift_days, every value of a multi-valued attribute.  TM is not
 * a date: kept.  A value we cannot read as a date is emptied (Z) rather
 * than kept unshifted.  With RULES_MONTH_DATES a date is not shifted but
 * kept to its month: the first of it (a DT's time goes too).
 */
int rules_act_date(struct rules_walk *w, struct dcm_elem *e, enum rules_vk vk)
{
	char sout[SMALL], *out;
	struct rules_vr_split sp;
	size_t o = 0, len = e->len, n;
	const char *p;
	int err = 0, bad = 0;
	int month = !!(w->ctx->options & RULES_MONTH_DATES);

	if (vk == VK_TM || !e->val || !len)
		return 0;
	if (vk != VK_DA && vk != VK_DT)
		return -EBADMSG;
	out = base_scratch(sout, sizeof(sout), len);
	if (!out)
		return -ENOMEM;
	rules_vr_split_init(&sp, e->val, len);
	while (!bad && rules_vr_split_next(&sp, &p, &n)) {
		if (o)
			out[o++] = '\\';
		if (!n)
			continue;
		if (n < 8 || (vk == VK_DA && n != 8) ||
		    (vk == VK_DT && !dt_rest_ok(p + 8, n - 8))) {
			bad = 1;
			break;
		}
		if (month) {
			memcpy(out + o, p, 6);
			memcpy(out + o + 6, "01", 2);
			/* a day of the calendar: shifted by none, strictly */
			if (civil_ymd_shift(out + o, 0, CIVIL_STRICT))
				bad = 1;
			o += 8;
			continue;
		}
		memcpy(out + o, p, n);
		if (civil_ymd_shift(out + o, w->ctx->date_shift_days,
				    CIVIL_STRICT))
			bad = 1;
		o += n;
	}
	if (bad)
		err = rules_act_zero(w, e);
	else
		err = rules_act_replace(w, e, month ? "month" : "shift", out,
					o, ' ');
	base_scratch_done(out, len, sout);	/* dates are PHI */
	return err;
}

/*
 * An attribute with a vocabulary (fs/data/cs-terms.tsv: the Enumerated
 * Values and Defined Terms of PS3.3) keeps only its terms: a value that is
 * not a term for its position (a name, a vendor's own word, anything the
 * CS form allows) is emptied in place, so that the values after it keep
 * their positions (Image Type value 4 stays value 4); empty values at the
 * end are then dropped down to the positions the vocabulary names (Image
 * Type keeps 3: DX and MG require value 3, empty).  Empty values stay as
 * they were.  *ok = 0 when nothing but empty values would remain of a value
 * that had some, or when what remains has a number of values the
 * dictionary does not allow: the caller then treats the value as invalid.
 * e is rewritten (audited as C, clean) only when a value was emptied.
 * Returns 0 or -errno.
 */
int rules_act_keep_terms(struct rules_walk *w, struct dcm_elem *e,
			 const struct rules_vocab *voc, int *ok)
{
	char sbuf[SMALL], *out;
	const char *v = (const char *)e->val, *p;
	struct rules_vr_split sp;
	size_t len = e->len, o = 0, nval = 0, kept = 0, n;
	int bad = 0, err = 0;

	*ok = 1;
	if (!v || !len)
		return 0;
	out = base_scratch(sbuf, sizeof(sbuf), len);
	if (!out)
		return -ENOMEM;
	rules_vr_split_init(&sp, v, len);
	while (rules_vr_split_next(&sp, &p, &n)) {
		nval++;
		if (n && !rules_terms_has(rules_table_terms(w->r), voc,
					  nval, p, n)) {
			bad = 1;
			n = 0;
		}
		if (nval > 1)
			out[o++] = '\\';
		memcpy(out + o, p, n);
		o += n;
		kept += n != 0;
	}
	if (!bad)
		goto out;
	while (nval > voc->keep && nval > 1 && out[o - 1] == '\\') {
		o--;	/* an empty value at the end */
		nval--;
	}
	if (!kept || !dicom_dict_vm_ok(e->tag, (unsigned)nval)) {
		*ok = 0;
		goto out;
	}
	err = rules_act_replace(w, e, "C", out, o, ' ');
out:
	/* held the source's terms only, but wiping costs nothing */
	base_scratch_done(out, len, sbuf);
	return err;
}
