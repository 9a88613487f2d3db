/*
 * rules_classify.c - rules_classify() (include/rules.h): whether a source
 * must be quarantined before it is de-identified (burned-in annotation,
 * protocol and screen captures, modality), and the names of the reasons.
 */
#include "rules.h"
#include "base.h"
#include "rules_vr.h"

#include <stdio.h>
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
	case RULES_Q_TEXT_REG_VALUE: return "burned-in-text:registry-value";
	case RULES_Q_TEXT_REG_DATE: return "burned-in-text:registry-date";
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

/* The cause of r: rule, and the attribute at the top level. */
static enum rules_reason why_is(struct rules_cause *why, enum rules_reason r,
				const char *rule, uint32_t tag)
{
	if (why) {
		why->rule = rule;
		if (tag)
			snprintf(why->path, sizeof(why->path), "%08X", tag);
		else
			why->path[0] = 0;
	}
	return r;
}

enum rules_reason rules_classify_why(const struct dcm_ds *ds,
				     const char *modalities,
				     struct rules_cause *why)
{
	const char *p;
	size_t n;

	if (!ds)
		return why_is(why, RULES_Q_UNPARSEABLE, "no dataset", 0);
	if (trimmed_is(ds, DCM_TAG(0x0028, 0x0301), "YES"))
		return why_is(why, RULES_Q_BURNED_IN, "BurnedInAnnotation YES",
			      DCM_TAG(0x0028, 0x0301));
	if (trimmed_is(ds, DCM_TAG(0x0008, 0x103e), "Patient Protocol"))
		return why_is(why, RULES_Q_PROTOCOL,
			      "SeriesDescription Patient Protocol",
			      DCM_TAG(0x0008, 0x103e));
	get_trimmed(ds, DCM_TAG(0x0008, 0x103e), &p, &n);
	if (contains_ci(p, n, "save"))
		return why_is(why, RULES_Q_SCREEN_CAPTURE,
			      "save in SeriesDescription",
			      DCM_TAG(0x0008, 0x103e));
	/* "save" cannot span the '\\' between ImageType values. */
	get_trimmed(ds, DCM_TAG(0x0008, 0x0008), &p, &n);
	if (contains_ci(p, n, "save"))
		return why_is(why, RULES_Q_SCREEN_CAPTURE, "save in ImageType",
			      DCM_TAG(0x0008, 0x0008));
	/* A secondary capture of a screen (Conversion Type SI) may show
	 * anything that was on it, names included.  Workstation captures
	 * (WSD) are the ordinary OT images and are allowed. */
	if (is_sc_class(ds) &&
	    trimmed_is(ds, DCM_TAG(0x0008, 0x0064), "SI"))
		return why_is(why, RULES_Q_SCREEN_CAPTURE,
			      "secondary capture of a screen (ConversionType "
			      "SI)", DCM_TAG(0x0008, 0x0064));
	get_trimmed(ds, DCM_TAG(0x0008, 0x0060), &p, &n);
	if (n && !modality_allowed(p, n, modalities))
		return why_is(why, RULES_Q_MODALITY, "not in --modalities",
			      DCM_TAG(0x0008, 0x0060));
	if (!n)
		return why_is(why, RULES_Q_NO_MODALITY,
			      "Modality missing or empty",
			      DCM_TAG(0x0008, 0x0060));
	return RULES_OK;
}

enum rules_reason rules_classify(const struct dcm_ds *ds,
				 const char *modalities)
{
	return rules_classify_why(ds, modalities, NULL);
}

void rules_reason_cause(enum rules_reason r, struct rules_cause *why)
{
	static const struct {
		const char *rule;
		uint32_t tag;
	} c[RULES_REASON_COUNT] = {
		[RULES_Q_BURNED_IN] = { "BurnedInAnnotation YES",
					DCM_TAG(0x0028, 0x0301) },
		[RULES_Q_PROTOCOL] = { "SeriesDescription Patient Protocol",
				       DCM_TAG(0x0008, 0x103e) },
		[RULES_Q_SCREEN_CAPTURE] = { "screen capture", 0 },
		[RULES_Q_MODALITY] = { "not in --modalities",
				       DCM_TAG(0x0008, 0x0060) },
		[RULES_Q_NO_MODALITY] = { "Modality missing or empty",
					  DCM_TAG(0x0008, 0x0060) },
		[RULES_Q_UNPARSEABLE] = { "header unreadable", 0 },
		[RULES_Q_DEID_FAILED] = { "de-identification", 0 },
		[RULES_Q_NOT_DICOM] = { "no DICOM signature", 0 },
		[RULES_Q_NO_PATIENT_ID] = { "PatientID missing or empty",
					    DCM_TAG(0x0010, 0x0020) },
		[RULES_Q_SOP_CLASS] = { "SOP Class UID not in the standard",
					DCM_TAG(0x0008, 0x0016) },
		[RULES_Q_PIXEL_DATA] = { "codestream not shown to be image",
					 DCM_TAG(0x7fe0, 0x0010) },
		[RULES_Q_TEXT_ID] = { "text in the pixels",
				      DCM_TAG(0x7fe0, 0x0010) },
		[RULES_Q_TEXT_NAME] = { "text in the pixels",
					DCM_TAG(0x7fe0, 0x0010) },
		[RULES_Q_TEXT_DATE] = { "text in the pixels",
					DCM_TAG(0x7fe0, 0x0010) },
		[RULES_Q_TEXT] = { "text in the pixels",
				   DCM_TAG(0x7fe0, 0x0010) },
		[RULES_Q_UNREADABLE_PIXELS] = { "pixels not decodable",
						DCM_TAG(0x7fe0, 0x0010) },
		[RULES_Q_TEXT_REG_VALUE] = { "text in the pixels",
					     DCM_TAG(0x7fe0, 0x0010) },
		[RULES_Q_TEXT_REG_DATE] = { "text in the pixels",
					    DCM_TAG(0x7fe0, 0x0010) },
	};

	if ((unsigned)r >= RULES_REASON_COUNT || !c[r].rule)
		why_is(why, r, "unknown", 0);
	else
		why_is(why, r, c[r].rule, c[r].tag);
}
