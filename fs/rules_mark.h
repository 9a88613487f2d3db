/*
 * rules_mark.h - what rules_apply() writes at the top level after the
 * walk: the pseudonym in PatientName and PatientID, and the marks of
 * PS3.15 E.1 and PS3.3 C.7.1.1 that say the file was de-identified and
 * how.  Every change is audited.
 */
#ifndef DEIDFS_RULES_MARK_H
#define DEIDFS_RULES_MARK_H

#include "dcm.h"
#include "rules_apply.h"

/* Whether s can be the pseudonym: it goes into LO and PN values, so one
 * value of 1..64 characters without control characters or '\\'. */
int rules_mark_pseudonym_ok(const char *s);

/* PatientName "<pseudonym>^" and PatientID "<pseudonym>" (ctx->pseudonym,
 * rules_mark_pseudonym_ok()).  Returns 0, -EINVAL, -ENOMEM or an audit
 * error. */
/* StudyID and StudyDescription: ctx->study_id and ctx->study_description
 * (when set), audited as D.  Returns 0 or -errno. */
int rules_mark_study(struct rules_walk *w, struct dcm_ds *ds);

int rules_mark_pseudonym(struct rules_walk *w, struct dcm_ds *ds);

/* PatientIdentityRemoved, DeidentificationMethod and its code sequence
 * (CID 7050 codes of the profile and the options used), and
 * LongitudinalTemporalInformationModified.  Returns 0 or -errno. */
int rules_mark_set(struct rules_walk *w, struct dcm_ds *ds);

#endif
