/*
 * layout.h - the --layout template language: how a de-identified file is
 * named in the view.
 *
 * A template is a '/'-separated path of components.  Each component is
 * literal text ([A-Za-z0-9._+=-] and space) and variables in braces, with an
 * optional zero-padding width for numbers ({instance_number:4}).  Variables
 * come only from de-identified or non-identifying values:
 *
 *   level patient:  {patient}          the patient pseudonym
 *   level study:    {study_month}      YYYY-MM of the study date
 *                   {study_year}       YYYY
 *                   {study_ordinal}    1, 2, ... per patient, by date
 *   level series:   {series_number} {series_ordinal} {modality}
 *   level instance: {instance_number} {instance_ordinal}
 *                   {laterality} {view}  (ImageLaterality, ViewPosition)
 *
 * The last component names the file and always identifies one instance.
 * A component's level is that of its most specific variable; two different
 * entities of that level that would get the same name in one directory are
 * told apart by a deterministic suffix "_2", "_3", ... (before the file
 * extension in the last component), in the order of their sort keys.
 */
#ifndef DEIDFS_LAYOUT_H
#define DEIDFS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define LAYOUT_MAX_COMPONENTS 16
#define LAYOUT_MAX_NAME 255	/* bytes of one rendered component */
#define LAYOUT_MAX_TEMPLATE 1024

enum layout_level {
	LAYOUT_NONE = 0,	/* literal only */
	LAYOUT_PATIENT,
	LAYOUT_STUDY,
	LAYOUT_SERIES,
	LAYOUT_INSTANCE,
};

/* The values a template may use for one file (all borrowed). */
struct layout_values {
	const char *patient;
	const char *study_date;		/* YYYYMMDD or NULL/invalid */
	uint64_t study_ordinal;
	int64_t series_number;		/* INT64_MIN when absent */
	uint64_t series_ordinal;
	const char *modality;
	int64_t instance_number;	/* INT64_MIN when absent */
	uint64_t instance_ordinal;
	const char *laterality;
	const char *view;
};

struct layout;

/* Compile a template.  Returns 0, -EINVAL (err says why, quoting only the
 * template), -ENOMEM.  *out freed with layout_free(). */
int layout_parse(const char *tmpl, struct layout **out, char *err,
		 size_t errsz);
void layout_free(struct layout *l);

unsigned layout_ncomponents(const struct layout *l);
enum layout_level layout_component_level(const struct layout *l, unsigned i);

/*
 * Render component i for values into buf (NUL-terminated).  Only validated
 * values become names: a number beyond +-99999 renders as absent, a
 * modality, laterality or view only as one of the standard's terms for it
 * (first value); an empty, absent or invalid value renders as "x"
 * (numbers) or "unknown".  Returns the length, or -ENAMETOOLONG.
 */
int layout_render(const struct layout *l, unsigned i,
		  const struct layout_values *v, char *buf, size_t bufsz);

/* Whether the template names a study's month ({study_month}). */
int layout_has_month(const struct layout *l);

/* The month "YYYY-MM" of a study date YYYYMMDD, as {study_month} renders
 * it, into out (8 bytes).  Returns 0, or -EINVAL when the date is not one
 * ("unknown" in a name). */
int layout_month(const char *study_date, char out[8]);

/* Add the collision suffix n (>= 2) to a rendered name: "name_n", or
 * "stem_n.ext" when last is set and the name has an extension.  Returns the
 * length or -ENAMETOOLONG. */
int layout_suffix(const char *name, int last, uint64_t n, char *buf,
		  size_t bufsz);

#endif
