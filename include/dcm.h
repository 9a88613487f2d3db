/*
 * dcm.h - the in-memory DICOM dataset shared by the bridge (dicom_) and
 * the de-identification rules (rules_).
 *
 * A dataset is a flat array of elements kept sorted by tag.  Sequences hold
 * an array of item datasets.  Values are the raw value bytes exactly as they
 * were encoded in the source (so binary values of a big-endian file stay
 * big-endian); string values are not NUL-terminated.
 *
 * Ownership: a dataset owns its elements, their values and their items.
 * dcm_ds_free() releases everything and wipes value bytes first, because they
 * may hold PHI.
 */
#ifndef DEIDFS_DCM_H
#define DEIDFS_DCM_H

#include <stddef.h>
#include <stdint.h>

#define DCM_TAG(g, e) ((uint32_t)(((uint32_t)(g) << 16) | (uint32_t)(e)))
#define DCM_GROUP(t) ((uint16_t)((t) >> 16))
#define DCM_ELEM(t) ((uint16_t)((t)&0xffff))

/* Bounds on hostile input, applied by the bridge while converting. */
#define DCM_MAX_DEPTH 16		/* sequence nesting */
#define DCM_MAX_ELEMENTS 200000	/* elements in one file, all depths */
#define DCM_MAX_VALUE (64u << 20)	/* bytes of one header value */

struct dcm_ds;

struct dcm_elem {
	uint32_t tag;
	char vr[3];		/* two upper-case letters + NUL; "UN" if unknown */
	uint8_t encapsulated;	/* value holds encapsulated fragments (raw) */
	uint32_t len;		/* value length in bytes (0 for SQ) */
	uint8_t *val;		/* owned, NULL when len == 0 or SQ */
	uint8_t borrowed;	/* val lies in the parse's arena: cleared by
				 * wiping it, never freed here */
	struct dcm_ds *items;	/* SQ only: owned array of nitems datasets */
	uint32_t nitems;
};

struct dcm_ds {
	struct dcm_elem *el;	/* owned, sorted by tag, no duplicates */
	uint32_t n, cap;
};

/* Release everything a dataset owns (wiping values) and leave it empty.
 * Accepts NULL. */
void dcm_ds_free(struct dcm_ds *ds);

/* Index of tag in ds, or -1. */
long dcm_ds_find(const struct dcm_ds *ds, uint32_t tag);

/* Element with tag, or NULL.  Borrowed while ds is unchanged. */
struct dcm_elem *dcm_ds_get(const struct dcm_ds *ds, uint32_t tag);

/*
 * Insert or replace tag with a copy of (val, len) and vr.  Replacing frees
 * the old value or items.  Returns 0 or -ENOMEM.
 */
int dcm_ds_set(struct dcm_ds *ds, uint32_t tag, const char *vr,
	       const void *val, uint32_t len);

/* Convenience: set a string value, padded to even length with a space
 * (or NUL for UI) as PS3.5 requires.  Returns 0 or -ENOMEM. */
int dcm_ds_set_str(struct dcm_ds *ds, uint32_t tag, const char *vr,
		   const char *s);

/*
 * Insert or replace tag with an empty sequence and return it in *out
 * (borrowed).  Returns 0 or -ENOMEM.
 */
int dcm_ds_set_seq(struct dcm_ds *ds, uint32_t tag, struct dcm_elem **out);

/* Append an empty item to a sequence element; *out borrowed.
 * Returns 0 or -ENOMEM. */
int dcm_seq_add_item(struct dcm_elem *seq, struct dcm_ds **out);

/* Remove element at index i (wiping its value).  */
void dcm_ds_remove_at(struct dcm_ds *ds, uint32_t i);

/* Remove tag if present. */
void dcm_ds_remove(struct dcm_ds *ds, uint32_t tag);

/* Free one element's value and items (wiped) and zero it. */
void dcm_elem_clear(struct dcm_elem *e);

/*
 * Copy a string value into buf (NUL-terminated, truncated to bufsz - 1),
 * without trailing spaces and NULs and without leading spaces.  Returns the
 * length copied; 0 when absent or empty.
 */
size_t dcm_ds_get_str(const struct dcm_ds *ds, uint32_t tag, char *buf,
		      size_t bufsz);
size_t dcm_elem_str(const struct dcm_elem *e, char *buf, size_t bufsz);

/* Deep copy src into dst (dst must be empty).  Returns 0 or -ENOMEM. */
int dcm_ds_copy(struct dcm_ds *dst, const struct dcm_ds *src);

#endif
