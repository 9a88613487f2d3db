/*
 * rules.h - DICOM PS3.15 Annex E de-identification (Table E.1-1, Basic
 * Application Level Confidentiality Profile and its options) applied to a
 * struct dcm_ds, plus the quarantine classification of a source dataset.
 *
 * The tables are data (fs/data/annex-e.tsv, fs/data/safe-private.tsv,
 * compiled into the binary); tag lists stay out of the code.
 *
 * A struct rules is built once at startup and read-only afterwards, so any
 * number of threads may call rules_apply() on different datasets at once.
 *
 * Implemented by the rules_*.c modules of fs/ (internal headers beside
 * them): rules_table.c loads the tables (rules_tsv.c reads them,
 * rules_terms.c holds the CS vocabularies), rules_apply.c walks a dataset,
 * rules_decide.c decides each attribute's action, rules_act.c carries it
 * out on the value (rules_vr.c: what a valid value is), rules_mark.c writes
 * the pseudonym and the marks; rules_whitelist.c, rules_names.c and
 * rules_classify.c implement the functions of those names.
 */
#ifndef DEIDFS_RULES_H
#define DEIDFS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "dcm.h"

struct rules;
struct rules_whitelist;
struct ident_words;

/* Options of Table E.1-1 (one flag each) and their CID 7050 codes. */
enum {
	RULES_RTN_SAFE_PRIVATE = 1u << 0,	/* 113111 */
	RULES_RTN_UIDS = 1u << 1,		/* 113110 */
	RULES_RTN_DEVICE_ID = 1u << 2,		/* 113109 */
	RULES_RTN_INSTITUTION_ID = 1u << 3,	/* 113112 */
	RULES_RTN_PATIENT_CHARS = 1u << 4,	/* 113108 */
	RULES_RTN_LONG_FULL_DATES = 1u << 5,	/* 113106 */
	RULES_RTN_LONG_MODIF_DATES = 1u << 6,	/* 113107 */
	RULES_CLEAN_DESCRIPTORS = 1u << 7,	/* 113105 */
	/* Ours, a form of the Modified Dates option (113107): every date
	 * kept to its month, the first of it (YYYYMM01; a DT's time goes),
	 * not shifted; times kept as under that option.  It implies
	 * RULES_RTN_LONG_MODIF_DATES in the rules; not with Full Dates. */
	RULES_MONTH_DATES = 1u << 8,
};

/* Load the compiled-in tables.  *out freed with rules_free().
 * Returns 0, -ENOMEM or -EBADMSG (a table row we cannot read). */
int rules_new(struct rules **out);
void rules_free(struct rules *r);

/* Number of Table E.1-1 rows loaded (656 for 2026c). */
size_t rules_table_rows(const struct rules *r);

/* Whether term is one of tag's terms in fs/data/cs-terms.tsv for value
 * position pos (from 1): 1 it is, 0 it is not, -ENOENT when tag has no
 * vocabulary there. */
int rules_cs_term(const struct rules *r, uint32_t tag, unsigned pos,
		  const char *term);

/* The basic-profile code of the Table E.1-1 row that applies to tag (exact
 * row, then the 50xx/60xx masks, then the private row for odd groups), e.g.
 * "X/Z/U*"; NULL when no row applies.  Static storage. */
const char *rules_basic_code(const struct rules *r, uint32_t tag);

/*
 * Parse a white list for "clean descriptors" in the JSON format of the
 * original tool's library: an object whose keys are tags "GGGG,EEEE" and whose
 * values are arrays of strings allowed verbatim, e.g.
 *   {"0008,103E": ["L CC", "R MLO"]}
 * Bounded: at most 1 MiB of input, 10,000 values.  *out freed with
 * rules_whitelist_free().  Returns 0, -EBADMSG (with a message in err, never
 * quoting the input), -ENOMEM.
 */
int rules_whitelist_parse(const char *json, size_t len,
			  struct rules_whitelist **out, char *err,
			  size_t errsz);
void rules_whitelist_free(struct rules_whitelist *wl);

/* What the caller supplies for one file. */
struct rules_ctx {
	unsigned options;		/* RULES_* flags */
	const struct rules_whitelist *wl;	/* borrowed, may be NULL */
	const char *pseudonym;		/* fills PatientID and PatientName */
	/*
	 * The file's IOD as GDCM names it (dicom_iod_name() of its SOP
	 * class), or NULL when unknown.  Compound codes (X/Z, X/D, Z/D,
	 * X/Z/D, X/Z/U*) are decided by the attribute's Type in it, see
	 * fs/rules_decide.c.
	 */
	const char *iod_name;
	/*
	 * The person's original PatientID and PatientName (borrowed, PHI;
	 * may be NULL).  No kept value may hold them: a value that holds
	 * her ID, a whole word of her name, or any valid personal ID is
	 * not kept (it gets what the IOD needs, or goes).
	 */
	const char *patient_id;
	const char *patient_name;
	/*
	 * The words of every person name of the source (borrowed, PHI), as
	 * rules_names_collect() makes them from the dataset before anything
	 * changed it: no kept value holds one of them as a whole word (a
	 * physician's, an operator's, another patient's name, not only
	 * hers).  NULL: rules_apply() collects them from ds and patient_name
	 * itself before it changes ds.
	 */
	const struct ident_words *names;
	int date_shift_days;		/* used with RULES_RTN_LONG_MODIF_DATES */
	/*
	 * What a viewer shows to tell a patient's studies apart (borrowed;
	 * NULL: the table's action stands): StudyID (0020,0010) becomes
	 * study_id, StudyDescription (0008,1030) study_description, whatever
	 * the source held.  The caller derives both from the file's own
	 * values, the options and the key only (keyed_study_id(), the
	 * study's month), never from the view's naming, so the header stays
	 * a function of the source version.
	 */
	const char *study_id;
	const char *study_description;
	/*
	 * Replace an instance UID: write the new UID (NUL-terminated) to out.
	 * Same input, same output, always.  Returns 0 or -errno.
	 */
	int (*map_uid)(void *arg, const char *uid, char *out, size_t outsz);
	/*
	 * Record one changed attribute for the audit trail (may be NULL).
	 * path is a tag path like "0040A730[2].0040A123" (item index from
	 * 0); action the code
	 * applied ("X", "Z", "D", "U", "C", "shift", "pseudonym", ...); old/new
	 * values are raw bytes (new is NULL when removed).  Returns 0 or -errno;
	 * an error aborts rules_apply().
	 */
	int (*audit)(void *arg, const char *path, const char *action,
		     const void *old, size_t oldlen, const void *newv,
		     size_t newlen);
	void *arg;			/* passed to the callbacks */
	/*
	 * Filled when rules_apply() fails, for the quarantine reason (may
	 * be NULL; borrowed, written only by that call): which rule failed
	 * on which attribute (struct rules_cause).
	 */
	struct rules_cause *failure;
};

/*
 * Why a file is quarantined, in names only (never a value): the rule that
 * decided and the tag path of the attribute it looked at, as the audit
 * writes it ("0040A730[2].0040A123", item index from 0), or an empty path
 * when the rule is about the file as a whole.  rule is static storage, a
 * short phrase without commas; those of rules_apply():
 *   "person names beyond screening"  the words of the file's person names
 *                   exceed IDENT_WORDS_MAX or IDENT_WORD_MAX
 *   "sequence unreadable"  a sequence whose items cannot be read (its value
 *                   raw bytes), or nested deeper than DCM_MAX_DEPTH
 *   "K (keep)" "X (remove)" "Z (empty)" "D (dummy)" "U (replace UID)"
 *   "date shift"    that action (PS3.15 E.1.1; the shift of the Modified
 *                   Dates option) could not be applied to the value
 *   "D (dummy item)"  the dummy item of a D on a sequence
 *   "kept value vetting"  a value to be kept could not be vetted (its
 *                   terms, its form)
 *   "pseudonym" "study labels" "de-identification marks"  PatientID and
 *                   PatientName, StudyID and StudyDescription (see
 *                   rules_ctx.study_id), or the marks of PS3.15 E.1 and
 *                   PS3.3 C.7.1.1
 * and of rules_classify_why(): see there.
 */
struct rules_cause {
	const char *rule;
	char path[512];
};

/*
 * De-identify ds in place (recursively into sequences): apply the action
 * code of Table E.1-1 for every attribute, as modified by the options;
 * remove private attributes (unless RULES_RTN_SAFE_PRIVATE and the attribute
 * is in Table E.3.10-1 under its private creator), overlays (60xx) and
 * curves (50xx); apply the conservative rule for attributes not in the table
 * (see fs/rules_decide.c); set PatientID and PatientName to ctx->pseudonym; add
 * PatientIdentityRemoved YES, DeidentificationMethod,
 * DeidentificationMethodCodeSequence (CID 7050 codes of the profile and
 * options used), LongitudinalTemporalInformationModified: MODIFIED when
 * dates were shifted, UNMODIFIED when kept, REMOVED otherwise.
 *
 * Fails closed: returns 0 only when every rule was applied; otherwise
 * -EBADMSG (a value that cannot be processed with confidence), -EINVAL (no
 * or an invalid pseudonym, or map_uid needed but NULL), -ENOMEM, or the
 * error of a callback, and the caller must not publish the dataset;
 * ctx->failure (when set) then says which rule failed, and where.
 */
int rules_apply(const struct rules *r, const struct rules_ctx *ctx,
		struct dcm_ds *ds);

/*
 * The words of the person names in ds, for rules_ctx.names: every PN value
 * at any depth (an attribute the dictionary gives VR PN whatever its VR in
 * the file, and private values written as PN), and patient_name (may be
 * NULL).  Collected once per file, before the rules change anything; see
 * ident_words_add_name() for which words count.  *out freed with
 * ident_words_free() (it wipes them).  Returns 0, -ENOMEM, or -EBADMSG when
 * the names exceed IDENT_WORDS_MAX words or IDENT_WORD_MAX bytes a word: a
 * file whose names cannot all be screened for is not published; -ELOOP
 * when ds is nested deeper than DCM_MAX_DEPTH.
 */
int rules_names_collect(const struct dcm_ds *ds, const char *patient_name,
			struct ident_words **out);

/* Why a file must not be published (0 = publishable). */
enum rules_reason {
	RULES_OK = 0,
	RULES_Q_BURNED_IN,	/* BurnedInAnnotation (0028,0301) = YES */
	RULES_Q_PROTOCOL,	/* SeriesDescription "Patient Protocol" */
	RULES_Q_SCREEN_CAPTURE,	/* "save" in SeriesDescription or ImageType,
				 * or a suspect secondary-capture device */
	RULES_Q_MODALITY,	/* Modality not in the allowed list */
	RULES_Q_NO_MODALITY,	/* Modality missing or empty */
	RULES_Q_UNPARSEABLE,	/* not DICOM, or cannot be read with
				 * confidence (set by callers) */
	RULES_Q_DEID_FAILED,	/* rules_apply() failed (set by callers) */
	RULES_Q_NOT_DICOM,	/* no DICOM signature (set by callers) */
	RULES_Q_NO_PATIENT_ID,	/* PatientID empty: nothing to derive a
				 * pseudonym from (set by callers) */
	RULES_Q_SOP_CLASS,	/* a SOP Class UID not in the standard's
				 * registry: the file's kind is unknown, and
				 * the value itself may carry text (set by
				 * callers) */
	RULES_Q_PIXEL_DATA,	/* encapsulated pixel data not shown to be
				 * image data: an unknown compression, a
				 * codestream that cannot be walked,
				 * fragments that do not match the frames
				 * (set by callers) */
	/* Text read off the pixels that is not all harmless (fs/scan.h),
	 * by the kind of what it matched (set by callers): */
	RULES_Q_TEXT_ID,	/* a personal ID, the file's own IDs */
	RULES_Q_TEXT_NAME,	/* a word of a person name of the file */
	RULES_Q_TEXT_DATE,	/* a date (the file's own or date-shaped) */
	RULES_Q_TEXT,		/* other text */
	RULES_Q_UNREADABLE_PIXELS,	/* the pixels could not be decoded
					 * and scanned (a codec failed,
					 * crashed, hung or ran out of its
					 * memory) (set by callers) */
	/* text in the pixels (as RULES_Q_TEXT) that holds an identifying
	 * cell of the registry row linked to the file (set by the view
	 * build, fs/view_scan_reg.c): */
	RULES_Q_TEXT_REG_VALUE,	/* the personal ID or a dropped column
				 * (the invitation number...) */
	RULES_Q_TEXT_REG_DATE,	/* a date column */
	RULES_REASON_COUNT
};

/* Short stable name of a reason, e.g. "burned-in-annotation". */
const char *rules_reason_name(enum rules_reason r);

/*
 * Classify an identified source dataset before de-identification.
 * modalities: comma-separated allowed list ("MG,OT"), or "all" (NULL is
 * "all").  A missing or empty Modality is RULES_Q_NO_MODALITY even then.
 * Checks in the order of enum rules_reason and returns the first that holds.
 */
enum rules_reason rules_classify(const struct dcm_ds *ds,
				 const char *modalities);

/*
 * rules_classify(), and when it quarantines, why into *why (may be NULL):
 * the attribute it read and one of the rules "BurnedInAnnotation YES",
 * "SeriesDescription Patient Protocol", "save in SeriesDescription", "save
 * in ImageType", "secondary capture of a screen (ConversionType SI)", "not
 * in --modalities", "Modality missing or empty".
 */
enum rules_reason rules_classify_why(const struct dcm_ds *ds,
				     const char *modalities,
				     struct rules_cause *why);

/*
 * The cause of a reason when nothing more precise was recorded (a reason
 * set where only one rule leads to it, or an index made before causes
 * were recorded): its rule into why->rule, and the attribute when that
 * rule reads one attribute only (else an empty path).
 */
void rules_reason_cause(enum rules_reason r, struct rules_cause *why);

#endif
