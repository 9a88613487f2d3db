/*
 * dicom.h - the DICOM bridge.  It reads a source header up to Pixel Data
 * into a struct dcm_ds, reports where the pixel data value lies in the
 * source, and writes a new header (preamble, file meta, dataset, Pixel Data
 * element header).
 *
 * Reading and writing are C of our own, and GDCM never sees a file's bytes
 * (except the pixel decoding of the scan's worker, dicom_decode_pixels()):
 * a bounded parser (fs/dicom_parse.c, which says why, fs/dicom_ds.c,
 * fs/dicom_buf.c) and the writer (fs/dicom_write.c).  GDCM supplies the
 * data dictionaries, the well-known UIDs and the IOD names through the
 * project's one C++ file, fs/dicom.cpp, which the C code reaches only
 * through C functions: those below, and dicom_dict_vr_get() for the parser
 * (fs/dicom_impl.h, with what else the parts share).  Every function that
 * calls into GDCM catches every exception, and dicom_init() keeps GDCM's
 * diagnostics quiet.  Nothing here logs.  Malformed input is -EBADMSG,
 * never a crash.
 */
#ifndef DEIDFS_DICOM_H
#define DEIDFS_DICOM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base.h"
#include "dcm.h"
#include "inflate.h"

struct budget;
struct budget_hold;

#ifdef __cplusplus
extern "C" {
#endif

/* Implementation identity written into every output's file meta. */
#define DICOM_IMPL_CLASS_UID "1.2.826.0.1.3680043.10.1411.1.1"
#define DICOM_IMPL_VERSION "DEIDFS_1"

/* Transfer syntaxes we name in code. */
#define DICOM_TS_IMPLICIT_LE "1.2.840.10008.1.2"
#define DICOM_TS_EXPLICIT_LE "1.2.840.10008.1.2.1"
#define DICOM_TS_DEFLATED_LE "1.2.840.10008.1.2.1.99"
#define DICOM_TS_EXPLICIT_BE "1.2.840.10008.1.2.2"

/* Where the bytes come from: a file descriptor or a memory buffer. */
struct dicom_source {
	void *ctx;
	/* Read up to n bytes at off into buf; returns bytes read (0 at EOF)
	 * or -errno.  Must be safe to call from several threads on
	 * different sources. */
	ssize_t (*pread)(void *ctx, void *buf, size_t n, uint64_t off);
	uint64_t size;		/* total size in bytes */
	/* Bytes the parse holds (header buffer, dataset values) are counted
	 * against this budget while held (include/budget.h); NULL: none. */
	struct budget *budget;
};

struct dicom_parsed {
	struct dcm_ds ds;	/* dataset without group 0002 and without
				 * Pixel Data or anything after it; owned */
	char ts_uid[65];	/* transfer syntax of the source dataset */
	char sop_class_uid[65];	/* from meta (0002,0002), else (0008,0016) */
	uint8_t has_meta;	/* the source had a preamble+DICM+meta */
	uint8_t explicit_vr;	/* dataset encoding of the source */
	uint8_t big_endian;
	uint8_t deflated;	/* the dataset was deflated: pixel_off and
				 * trailing_off are offsets into the
				 * inflated dataset, which starts at
				 * deflate.off of the source */
	struct inflate_where deflate;	/* deflated only */
	uint8_t has_pixel;	/* a (7FE0,0010) element was found */
	uint8_t pixel_encapsulated;	/* undefined length, fragments */
	char pixel_vr[3];	/* "OB" or "OW" as found (or dictionary) */
	uint64_t pixel_off;	/* source (or inflated) offset of the Pixel
				 * Data value (first byte after the element
				 * header) */
	uint64_t pixel_len;	/* value length; for encapsulated data this
				 * runs through the Sequence Delimitation
				 * Item (its 8 bytes included) */
	uint64_t trailing_off;	/* first source byte after the pixel value;
				 * everything from here on is dropped */
	struct budget_hold *hold;	/* the dataset values' share of
					 * src->budget, until freed; owned */
	struct base_arena arena;	/* holds the dataset's short values */
	/* When dicom_parse() fails: the tag path of the attribute the parse
	 * read last ("00540016[0].00181072", as the audit writes paths),
	 * empty when it stopped before the dataset.  Names only. */
	char fail_path[160];
};

/*
 * Initialise GDCM's dictionaries once, before any thread calls the rest.
 * Silences GDCM's warning/error/debug output.  Returns 0 or -ENOMEM.
 */
int dicom_init(void);

/*
 * Parse the source header.  On success *out is filled (caller releases with
 * dicom_parsed_free()).  The source is read with src->pread only; reads are
 * bounded (header bytes never exceed DCM_MAX_VALUE * 4 in total, also when
 * inflated; a deflated dataset inflates to INFLATE_LIMIT at most, and is
 * never held whole: its pixel data is read with an inflate cursor, see
 * inflate.h).  May wait for src->budget (see budget.h), and holds the
 * values' share of it until dicom_parsed_free().
 *
 * Returns 0, -EBADMSG when the bytes are not a DICOM dataset we can read with
 * confidence (not DICOM, truncated, lengths past EOF, depth or count limits
 * exceeded, a meta header that lies about the transfer syntax, ...), -EIO on
 * a read error or -ENOMEM.  DICOMDIR files parse like any other; callers
 * recognise them by sop_class_uid.
 */
int dicom_parse(const struct dicom_source *src, struct dicom_parsed *out);

/* Release what dicom_parse() filled in (and its share of the budget).
 * Accepts NULL, wipes values. */
void dicom_parsed_free(struct dicom_parsed *p);

/*
 * Write a complete output header for a (de-identified) dataset:
 *   128 zero bytes, "DICM", file meta group 0002 (group length, version
 *   00\01, media storage SOP class/instance from sop_class_uid and
 *   sop_instance_uid, transfer syntax out_ts, DICOM_IMPL_CLASS_UID,
 *   DICOM_IMPL_VERSION, nothing else), then ds encoded in out_ts with every
 *   sequence and item of undefined length (encapsulated values are written
 *   back raw after an undefined length), then, when
 *   p->has_pixel, the Pixel Data element header (tag, VR, length: the value
 *   length, or 0xFFFFFFFF for encapsulated data) whose value the caller
 *   appends from the source (p->pixel_off, p->pixel_len), or for a deflated
 *   source from the inflated dataset at the same offsets.
 *
 * out_ts: use dicom_output_ts(p).  Deterministic: the same inputs give the
 * same bytes.  *out is malloc'd, caller frees with free() after wiping.
 * Returns 0, -EINVAL (a value cannot be encoded), -ENOMEM.
 */
int dicom_write_header(const struct dcm_ds *ds, const struct dicom_parsed *p,
		       const char *sop_class_uid, const char *sop_instance_uid,
		       uint8_t **out, size_t *outlen);

/* Transfer syntax the output will use: the source's, except that a deflated
 * source is written as Explicit VR Little Endian.  Borrowed from p. */
const char *dicom_output_ts(const struct dicom_parsed *p);

/* VR of a tag from GDCM's public dictionary (or the private dictionary when
 * creator is not NULL); "UN" when unknown.  Writes 3 bytes to vr. */
void dicom_dict_vr(uint32_t tag, const char *creator, char vr[3]);

/* The tag of an attribute of the public dictionary by its keyword
 * ("PatientName"), into *tag.  A walk of the dictionary: for rare callers
 * (verify's reading of dciodvfy's messages).  Returns 0, -ENOENT (not a
 * keyword GDCM knows), -EINVAL, -ENOMEM. */
int dicom_dict_tag_of(const char *keyword, uint32_t *tag);
/* The same by the attribute's name as the standard writes it ("Patient's
 * Sex", as dciodvfy quotes it). */
int dicom_dict_tag_of_name(const char *name, uint32_t *tag);

/* GDCM's version, e.g. "3.0.21" (static storage). */
const char *dicom_gdcm_version(void);

/* True when tag (an even group) is in GDCM's public data dictionary with a
 * VR (an attribute the standard defines, retired ones included). */
int dicom_tag_known(uint32_t tag);

/* True when vr is one of the VRs the public dictionary gives tag (or the
 * dictionary does not know tag): a file VR that contradicts it is a
 * writer's claim not to be trusted. */
int dicom_dict_vr_ok(uint32_t tag, const char *vr);

/* True when count values are allowed by tag's VM in the public dictionary
 * (or it is not known there, or count is 0). */
int dicom_dict_vm_ok(uint32_t tag, unsigned count);

/* Name of the IOD of a SOP class in GDCM's Part 3 tables (static storage;
 * see iod_find()), or NULL when GDCM does not know the SOP class. */
const char *dicom_iod_name(const char *sop_class_uid);

/* True when uid is a well-known UID of the standard (SOP classes, transfer
 * syntaxes, coding schemes, frames of reference defined by the standard...)
 * which de-identification must not change. */
int dicom_uid_is_well_known(const char *uid);

/*
 * Decoded pixel data, for the burned-in text scan (fs/scan_*.c).  Samples
 * are in host order, frames one after another; a 3-sample image is
 * interleaved (planar 0) or in planes per frame (planar 1).
 */
struct dicom_pixels {
	uint32_t rows, cols, frames, samples;	/* samples: 1 or 3 */
	uint32_t bits_allocated;	/* 8 or 16 */
	uint32_t bits_stored;
	int is_signed;
	int planar;
	int ybr;		/* samples are Y, Cb, Cr: Y is the brightness */
	int mono1;		/* MONOCHROME1: low values are bright */
	uint8_t *buf;		/* owned; dicom_pixels_free() */
	size_t len;		/* rows * cols * frames * samples * bytes */
};

/*
 * Decode every frame of the file src (read with src->pread; src->budget is
 * not used) with GDCM's codecs (any transfer syntax GDCM reads: native,
 * RLE, JPEG, JPEG-LS, JPEG 2000, deflated).  Unlike everything else here,
 * this gives GDCM the whole file: call it only in the scan's isolated
 * worker process (fs/scan_pool.c).
 * Returns 0, -EBADMSG (cannot be decoded), -ENOTSUP (a photometric
 * interpretation or depth the scan does not read: palettes, 32 bits),
 * -E2BIG (more than max_bytes decoded) or -ENOMEM.  *out is cleared first;
 * free with dicom_pixels_free() (accepts NULL).
 */
int dicom_decode_pixels(const struct dicom_source *src, uint64_t max_bytes,
			struct dicom_pixels *out);
void dicom_pixels_free(struct dicom_pixels *px);

#ifdef __cplusplus
}
#endif
#endif
