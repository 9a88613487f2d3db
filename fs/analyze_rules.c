/*
 * analyze_rules.c - a step of analysis_run() (analyze_impl.h): the rules
 * (PS3.15 Annex E and ours) applied to the dataset, and what they leave
 * for the store when the index collects: the audit trail's rows and the
 * original -> keyed UID pairs.
 */
#include "analyze_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyed.h"
#include "layout.h"

struct cb_arg {
	const uint8_t *key;
	struct analysis *an;
};

static int add_uid_pair(struct analysis *an, const char *orig,
			const char *pseudo)
{
	size_t i;

	for (i = 0; i < an->nuids; i++)
		if (strcmp(an->uids[i].pseudo, pseudo) == 0)
			return 0;
	if (an->nuids == an->capuids) {
		size_t cap = an->capuids ? an->capuids * 2 : 8;
		void *p = realloc(an->uids, cap * sizeof(an->uids[0]));

		if (!p)
			return -ENOMEM;
		an->uids = p;
		an->capuids = cap;
	}
	an->uids[an->nuids].orig = strdup(orig);
	an->uids[an->nuids].pseudo = strdup(pseudo);
	if (!an->uids[an->nuids].orig || !an->uids[an->nuids].pseudo) {
		free(an->uids[an->nuids].orig);
		free(an->uids[an->nuids].pseudo);
		return -ENOMEM;
	}
	an->nuids++;
	return 0;
}

static int map_uid(void *arg, const char *uid, char *out, size_t outsz)
{
	struct cb_arg *a = arg;
	int err;

	err = keyed_uid(a->key, uid, strlen(uid), out, outsz);
	if (!err && a->an->collect)
		err = add_uid_pair(a->an, uid, out);
	return err;
}

static void *dupmem(const void *p, size_t n)
{
	void *q;

	if (!p)
		return NULL;
	q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

/*
 * Values longer than this are recorded in the audit trail by digest and
 * length, not in full: they are binary blocks (overlay planes, vendor
 * private data, icons) that can run to megabytes per file and identify
 * nobody by being stored; the text values that re-identification needs are
 * far shorter.
 */
#define AUDIT_MAX_VALUE 4096

/* Replace a long value by "sha256:<hex> bytes=<n>" in buf. */
static const void *audit_value(const void *v, size_t *len, char *buf,
			       size_t bufsz)
{
	uint8_t dg[32];
	size_t at, i;

	if (!v || *len <= AUDIT_MAX_VALUE)
		return v;
	keyed_sha256(v, *len, dg);
	at = (size_t)snprintf(buf, bufsz, "sha256:");
	for (i = 0; i < 32 && at + 3 < bufsz; i++)
		at += (size_t)snprintf(buf + at, bufsz - at, "%02x", dg[i]);
	at += (size_t)snprintf(buf + at, bufsz - at, " bytes=%zu", *len);
	*len = at < bufsz ? at : bufsz - 1;
	return buf;
}

static int audit_cb(void *arg, const char *path, const char *action,
		    const void *old, size_t oldlen, const void *newv,
		    size_t newlen)
{
	struct cb_arg *a = arg;
	struct analysis *an = a->an;
	struct store_audit *row;
	char obuf[128], nbuf[128];

	if (!an->collect)
		return 0;
	if (an->naudit == an->capaudit) {
		size_t cap = an->capaudit ? an->capaudit * 2 : 64;
		void *p = realloc(an->audit, cap * sizeof(an->audit[0]));

		if (!p)
			return -ENOMEM;
		an->audit = p;
		an->capaudit = cap;
	}
	old = audit_value(old, &oldlen, obuf, sizeof(obuf));
	newv = audit_value(newv, &newlen, nbuf, sizeof(nbuf));
	row = &an->audit[an->naudit];
	memset(row, 0, sizeof(*row));
	snprintf(row->path, sizeof(row->path), "%s", path);
	snprintf(row->action, sizeof(row->action), "%s", action);
	row->old = dupmem(old, oldlen);
	row->oldlen = old ? oldlen : 0;
	row->newv = dupmem(newv, newlen);
	row->newlen = newv ? newlen : 0;
	if ((old && !row->old) || (newv && !row->newv)) {
		free(row->old);
		free(row->newv);
		return -ENOMEM;
	}
	an->naudit++;
	return 0;
}

/* The rules (PS3.15 Annex E and ours) applied to the dataset. */
int analyze_step_rules(struct run *r)
{
	const struct analysis_input *in = r->in;
	struct cb_arg arg = { in->key, r->an };
	struct rules_ctx rc = in->rules_ctx_template;
	struct rules_cause why;
	char uid[256], sid[KEYED_STUDY_ID_LEN + 1], date[9];
	char month[8], desc[8 + KEYED_STUDY_ID_LEN + 1];
	int err;

	/* what tells her studies apart in a viewer, from this file alone:
	 * a keyed token of its study, and the month the view names, with
	 * the token (two studies of one month differ there too) */
	if (dcm_ds_get_str(&r->p.ds, TAG_STUDY_UID, uid, sizeof(uid)) &&
	    !keyed_study_id(in->key, uid, strlen(uid), sid, sizeof(sid)))
		rc.study_id = sid;
	if (in->study_month) {
		analysis_view_date(in->key, rc.options, r->an->rec.study_date,
				   r->pid, date);
		if (!layout_month(date, month)) {
			snprintf(desc, sizeof(desc), "%s%s%s", month,
				 rc.study_id ? " " : "",
				 rc.study_id ? rc.study_id : "");
			rc.study_description = desc;
		}
	}
	rc.pseudonym = r->an->rec.pseudonym;
	rc.iod_name = dicom_iod_name(r->p.sop_class_uid);
	rc.patient_id = r->pid;
	if (dcm_ds_get_str(&r->p.ds, DCM_TAG(0x0010, 0x0010), r->pname,
			   sizeof(r->pname)))
		rc.patient_name = r->pname;
	rc.date_shift_days = keyed_date_shift(in->key, r->pid,
					      strlen(r->pid));
	rc.map_uid = map_uid;
	rc.audit = audit_cb;
	rc.arg = &arg;
	rc.failure = &why;
	err = rules_apply(in->rules, &rc, &r->p.ds);
	if (err == -ENOMEM)
		return err;
	if (err)
		return analyze_quarantine_why(r->an, RULES_Q_DEID_FAILED, &why);
	/* Type 1 in every IOD, and the file meta needs it: a file without
	 * one cannot be made valid (inventing one would give two copies of
	 * the same image two identities) */
	if (!dcm_ds_get_str(&r->p.ds, TAG_SOP_UID, r->sop_inst,
			    sizeof(r->sop_inst))) {
		analyze_cause_at(&why, "SOP Instance UID missing", TAG_SOP_UID);
		return analyze_quarantine_why(r->an, RULES_Q_DEID_FAILED, &why);
	}
	return 0;
}
