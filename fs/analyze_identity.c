/*
 * analyze_identity.c - a step of analysis_run() (analyze_impl.h): the
 * identity and naming values the index keeps, read before the rules
 * remove them, and whether the file may be published at all (its
 * classification, its SOP class, a PatientID to name it by); also the
 * view's date of a study (analysis_view_date()).
 */
#include "analyze_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "keyed.h"
#include "scan.h"

static char *get_dup(const struct dcm_ds *ds, uint32_t tag)
{
	char buf[256];

	if (!dcm_ds_get_str(ds, tag, buf, sizeof(buf)))
		return NULL;
	return strdup(buf);
}

/* An IS value as a number; STORE_MISSING when absent or not a number. */
int64_t analyze_get_int(const struct dcm_ds *ds, uint32_t tag)
{
	char buf[32], *end;
	long long v;

	if (!dcm_ds_get_str(ds, tag, buf, sizeof(buf)))
		return STORE_MISSING;
	errno = 0;
	v = strtoll(buf, &end, 10);
	while (*end == ' ')
		end++;
	if (errno || *end || end == buf || v < -2147483648LL ||
	    v > 2147483647LL)
		return STORE_MISSING;
	return v;
}

int analysis_sop_class_ok(const struct dicom_parsed *p)
{
	char sop_class[128];

	return dicom_uid_is_well_known(p->sop_class_uid) &&
	       !(dcm_ds_get_str(&p->ds, TAG_SOP_CLASS, sop_class,
				sizeof(sop_class)) &&
		 strcmp(sop_class, p->sop_class_uid));
}

static int valid_da(const char *s)
{
	int i;

	if (!s || strlen(s) != 8)
		return 0;
	for (i = 0; i < 8; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

void analysis_view_date(const uint8_t *key, unsigned rules_options,
			const char *study_date, const char *patient_id,
			char out[9])
{
	int shift;

	out[0] = 0;
	if (!study_date || strlen(study_date) != 8)
		return;
	memcpy(out, study_date, 9);
	if (!(rules_options & RULES_RTN_LONG_MODIF_DATES) ||
	    (rules_options & (RULES_RTN_LONG_FULL_DATES | RULES_MONTH_DATES)) ||
	    !patient_id)
		return;	/* the month of the date itself */
	shift = keyed_date_shift(key, patient_id, strlen(patient_id));
	if (civil_ymd_shift(out, shift, CIVIL_CARRY) == -ERANGE)
		out[0] = 0;
}

/* Keyed replacement of an original UID taken before the rules ran (the
 * index needs the study/series/instance identity even when the rules
 * retain UIDs). */
static char *mapped(const struct analysis_input *in, const struct dcm_ds *ds,
		    uint32_t tag)
{
	char orig[128], out[KEYED_UID_MAX + 1];

	if (!dcm_ds_get_str(ds, tag, orig, sizeof(orig)))
		return NULL;
	if (in->rules_ctx_template.options & RULES_RTN_UIDS)
		return strdup(orig);
	if (keyed_uid(in->key, orig, strlen(orig), out, sizeof(out)))
		return NULL;
	return strdup(out);
}

/* Identity and naming values, read before the rules remove them; then
 * whether the file may be published at all. */
int analyze_step_identity(struct run *r)
{
	const struct analysis_input *in = r->in;
	const struct dcm_ds *ds = &r->p.ds;
	struct store_file *rec = &r->an->rec;
	char pseudo[KEYED_PSEUDONYM_LEN + 1];
	struct rules_cause why;

	if (dcm_ds_get_str(ds, TAG_PATIENT_ID, r->pid, sizeof(r->pid))) {
		rec->patient_id = strdup(r->pid);
		if (!keyed_pseudonym(in->key, r->pid, strlen(r->pid), pseudo,
				     sizeof(pseudo)))
			rec->pseudonym = strdup(pseudo);
	}
	rec->study_date = get_dup(ds, TAG_STUDY_DATE);
	if (rec->study_date && !valid_da(rec->study_date)) {
		free(rec->study_date);
		rec->study_date = NULL;
	}
	rec->study_time = get_dup(ds, TAG_STUDY_TIME);
	rec->modality = get_dup(ds, TAG_MODALITY);
	rec->laterality = get_dup(ds, TAG_IMAGE_LATERALITY);
	if (!rec->laterality)
		rec->laterality = get_dup(ds, TAG_LATERALITY);
	rec->view_position = get_dup(ds, TAG_VIEW_POSITION);
	rec->series_number = analyze_get_int(ds, TAG_SERIES_NUMBER);
	rec->instance_number = analyze_get_int(ds, TAG_INSTANCE_NUMBER);
	rec->study_uid = mapped(in, ds, TAG_STUDY_UID);
	rec->series_uid = mapped(in, ds, TAG_SERIES_UID);
	rec->sop_uid = mapped(in, ds, TAG_SOP_UID);

	rec->status = rules_classify_why(ds, in->modalities, &why);
	if (rec->status != RULES_OK && analyze_set_cause(r->an, &why))
		return -ENOMEM;
	/* The SOP class (of the meta and of the dataset) is written to the
	 * output as it is: only one of the standard's own will do, and with
	 * any other no header is made at all (a quarantined file's header is
	 * exported with --with-quarantine). */
	if (!analysis_sop_class_ok(&r->p))
		return analyze_quarantine(r->an, RULES_Q_SOP_CLASS);
	/* No PatientID: nothing to link or name it by. */
	if (!rec->pseudonym)
		return analyze_quarantine(r->an, RULES_Q_NO_PATIENT_ID);
	/* what burned-in text would identify her by, before the rules
	 * change anything: for the scan at index time only */
	if (r->an->collect && rec->status == RULES_OK) {
		r->an->ident = malloc(sizeof(*r->an->ident));
		if (!r->an->ident)
			return -ENOMEM;
		scan_ident_from_ds(ds, r->an->ident);
	}
	return 0;
}
