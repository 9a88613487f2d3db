/*
 * rules_classify.c - rules_classify() (include/rules.h): whether a source
 * must be quarantined before it is de-identified (burned-in annotation,
 * protocol and screen captures, modality), and the names of the reasons.
 */
#include "rules.h"
#include "base.h"
#include "rules_vr.h"

#include <string.h>

const char *rules_reason_name(enum rules_reason r)
{
	switch (r) {
	case RULES_OK: return "ok";
	case RULES_Q_BURNED_IN: return "burned-in-annotation";
	case RULES_Q_PROTOCOL: return "patient-protocol";
	case RULES_Q_SCREEN_CAPTURE: return "screen-capture";
	case RULES_Q_MODALITY: return "modality-not-allowed";
	case RULES_Q_NO_MODALITY: return "modality-missing";
	case RULES_Q_UNPARSEABLE: return "unparseable";
	case RULES_Q_DEID_FAILED: return "deid-failed";
	case RULES_Q_NOT_DICOM: return "not-dicom";
	case RULES_Q_NO_PATIENT_ID: return "patient-id-missing";
	case RULES_Q_SOP_CLASS: return "sop-class-unknown";
	case RULES_Q_PIXEL_DATA: return "pixel-data-unverified";
	case RULES_Q_TEXT_ID: return "burned-in-text:personal-id";
	case RULES_Q_TEXT_NAME: return "burned-in-text:name";
	case RULES_Q_TEXT_DATE: return "burned-in-text:date";
	case RULES_Q_TEXT: return "burned-in-text:text";
	case RULES_Q_UNREADABLE_PIXELS: return "unreadable-pixels";
	default: return "unknown";
	}
}

/* Trimmed value of a top-level attribute; n = 0 when absent. */
static void get_trimmed(const struct dcm_ds *ds, uint32_t tag,
			const char **p, size_t *n)
{
	const struct dcm_elem *e = dcm_ds_get(ds, tag);

	*p = "";
	*n = 0;
	if (e && !e->nitems)
		rules_vr_value(e, p, n);
}

static int trimmed_is(const struct dcm_ds *ds, uint32_t tag, const char *s)
{
	const char *p;
	size_t n;

	get_trimmed(ds, tag, &p, &n);
	return base_eq_ci(p, n, s, strlen(s));
}

static int contains_ci(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (base_eq_ci(s + i, k, needle, k))
			return 1;
	return 0;
}

/* The Secondary Capture Image Storage classes: ...1.1.7 and ...1.1.7.N,
 * but not ...1.1.77.x (VL) or ...1.1.78.x (ophthalmic). */
static int is_sc_class(const struct dcm_ds *ds)
{
	static const char sc[] = "1.2.840.10008.5.1.4.1.1.7";
	const size_t k = sizeof(sc) - 1;
	const char *p;
	size_t n;

	get_trimmed(ds, DCM_TAG(0x0008, 0x0016), &p, &n);
	return n >= k && !memcmp(p, sc, k) && (n == k || p[k] == '.');
}

static int modality_allowed(const char *mod, size_t mn, const char *list)
{
	const char *s = list;

	if (!list)
		return 1;	/* no list: no restriction */
	while (*s) {
		const char *t = strchr(s, ',');
		const char *p;
		size_t n = base_trim_spaces(s, t ? (size_t)(t - s) : strlen(s),
					    &p);

		if (base_eq_ci(p, n, "all", 3) ||
		    (n && base_eq_ci(p, n, mod, mn)))
			return 1;
		if (!t)
			break;
		s = t + 1;
	}
	return 0;
}

enum rules_reason rules_classify(const struct dcm_ds *ds,
				 const char *modalities)
{
	const char *p;
	size_t n;

	if (!ds)
		return RULES_Q_UNPARSEABLE;
	if (trimmed_is(ds, DCM_TAG(0x0028, 0x0301), "YES"))
		return RULES_Q_BURNED_IN;
	if (trimmed_is(ds, DCM_TAG(0x0008, 0x103e), "Patient Protocol"))
		return RULES_Q_PROTOCOL;
	get_trimmed(ds, DCM_TAG(0x0008, 0x103e), &p, &n);
	if (contains_ci(p, n, "save"))
		return RULES_Q_SCREEN_CAPTURE;
	/* "save" cannot span the '\\' between ImageType values. */
	get_trimmed(ds, DCM_TAG(0x0008, 0x0008), &p, &n);
	if (contains_ci(p, n, "save"))
		return RULES_Q_SCREEN_CAPTURE;
	/* A secondary capture of a screen (Conversion Type SI) may show
	 * anything that was on it, names included.  Workstation captures
	 * (WSD) are the ordinary OT images and are allowed. */
	if (is_sc_class(ds) &&
	    trimmed_is(ds, DCM_TAG(0x0008, 0x0064), "SI"))
		return RULES_Q_SCREEN_CAPTURE;
	get_trimmed(ds, DCM_TAG(0x0008, 0x0060), &p, &n);
	if (n && !modality_allowed(p, n, modalities))
		return RULES_Q_MODALITY;
	if (!n)
		return RULES_Q_NO_MODALITY;
	return RULES_OK;
}
