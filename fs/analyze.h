/*
 * analyze.h - one source file through parse, classify, de-identify and
 * header generation (internal to the view model; see fs/analyze.c).
 */
#ifndef DEIDFS_ANALYZE_H
#define DEIDFS_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "bytemap.h"
#include "inflate.h"
#include "keyed.h"
#include "rules.h"
#include "store.h"

/* Status beyond enum rules_reason: a DICOMDIR, never published. */
#define ANALYSIS_SKIP 100

struct analysis_input {
	const struct rules *rules;
	const uint8_t *key;		/* KEYED_KEY_LEN bytes */
	const char *modalities;
	/* options and white list; the callbacks are filled per file */
	struct rules_ctx rules_ctx_template;
	struct budget *budget;		/* parse memory (budget.h), or NULL */
	int study_month;		/* the layout names the study's month:
					 * StudyDescription says it too */
};

/*
 * The study date YYYYMMDD as the view shows it (folder month, and the
 * StudyDescription of its files): study_date (YYYYMMDD, original),
 * shifted by the patient's keyed shift under the Modified Dates option
 * (not with Full Dates), the same civil.c arithmetic as the headers' dates;
 * a date that is not a day of the calendar is carried.  out is "" when
 * there is no date.
 */
void analysis_view_date(const uint8_t *key, unsigned rules_options,
			const char *study_date, const char *patient_id,
			char out[9]);


struct analysis {
	int collect;		/* set by the caller: collect audit + pairs */
	struct store_file rec;	/* what the index stores (owned strings) */
	/* The published bytes: the generated header, then the pixel data
	 * (source ranges, and what was generated in them).  Empty (n == 0)
	 * when the file has no publishable content.  Owned. */
	struct bytemap map;
	uint8_t inflated;	/* a deflated source: the map's inflated
				 * pieces lie in the dataset deflate says
				 * where to find */
	struct inflate_where deflate;
	/* what the store records with the file, in its own form (owned:
	 * values and strings, wiped) */
	struct store_audit *audit;
	size_t naudit, capaudit;
	struct store_pair *uids;
	size_t nuids, capuids;
	int pseudonym_pair;	/* rec.patient_id -> rec.pseudonym to record */
	/* collect only: the identifying values of the source, for the
	 * burned-in text scan (scan.h; owned, wiped); NULL when the file is
	 * not published anyway */
	struct scan_ident *ident;
	int has_pixels;		/* the output carries pixel data */
};

/*
 * Analyse the open source file fd.  A file that is not DICOM, cannot be
 * parsed or de-identified gets a quarantine status in an->rec.status and no
 * header; that is not an error.  Returns 0, or -EIO / -ENOMEM (nothing in
 * an is meaningful then).  Release with analysis_clear().
 */
int analysis_run(const struct analysis_input *in, int fd,
		 struct analysis *an);
void analysis_clear(struct analysis *an);

/* Steps of analysis_run(), for the fuzz target that repeats them. */
struct dicom_parsed;
/* Whether the file's SOP class (meta and dataset agreeing) is one of the
 * standard's registry: otherwise no header is made at all. */
int analysis_sop_class_ok(const struct dicom_parsed *p);
/* The bytes of native pixel data its image attributes account for (Rows x
 * Columns x Samples x Frames x Bits Allocated / 8, even); -EBADMSG when
 * they cannot account for an image.  Bytes beyond are not published. */
int analysis_native_pixel_len(const struct dicom_parsed *p, uint64_t *out);

/* Remove pixel data other than the top-level Pixel Data: any encapsulated
 * value, and group 7FE0 inside sequence items (after the rules). */
struct dcm_ds;
void analysis_drop_stray_pixels(struct dcm_ds *ds);

/* Map encapsulated pixel data onto m, only as far as it is shown to be image
 * data (encap.h).  Returns 0, or -ENOTSUP, -EBADMSG, -E2BIG when the file
 * must not be published, -EIO, -ENOMEM. */
struct dicom_source;
int analysis_pixel_map(const struct dicom_parsed *p,
		       const struct dicom_source *src, struct bytemap *m);

#endif
