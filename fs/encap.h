/*
 * encap.h - encapsulated (compressed) pixel data, checked before it is
 * published.  Part of the view model's core; no I/O but through the given
 * source.
 *
 * The fragments of an encapsulated Pixel Data value are read as the
 * codestreams the transfer syntax says they are (JPEG, JPEG-LS, JPEG 2000
 * and HTJ2K, RLE), one per frame, and mapped onto the output as:
 *   - the item headers, marker segments and entropy-coded image data:
 *     copied from the source, byte for byte;
 *   - comment and application segments (JPEG COM and APPn, JPEG 2000 COM):
 *     blanked in place (same length, so no offset changes), except the
 *     few whose content decoders need (JFIF, Adobe's colour transform,
 *     JPEG-LS's colour transform), which are rewritten in a fixed form;
 *   - marker segments decoders use (frame and scan headers, tables, JPEG
 *     2000's SIZ, COD, QCD...) only when their length is exactly what their
 *     syntax says; the ones they can do without (JPEG 2000's TLM, PLM, PLT,
 *     CRG, CPF) become comments of zeros;
 *   - bytes after a frame's codestream in its last fragment and unused RLE
 *     offsets: zeroed; bytes after an RLE segment's image: no-op codes;
 *   - the Basic Offset Table: regenerated from where the frames start (or
 *     kept empty when it was).
 * Anything else (a codestream deidfs cannot walk, fragments that do not
 * add up to the frames, a compression deidfs does not know) is refused:
 * what cannot be shown to be image data is not published.
 */
#ifndef DEIDFS_ENCAP_H
#define DEIDFS_ENCAP_H

#include <stdint.h>

#include "bytemap.h"
#include "dicom.h"

struct encap_image {
	const char *ts_uid;	/* the source's transfer syntax */
	uint32_t frames;	/* Number of Frames (1 when absent) */
	uint32_t rows, cols;
	uint32_t samples;	/* Samples per Pixel */
	uint32_t bits_allocated;
};

/* Bound on the bytes an output may differ from its source in the pixel
 * data (blanked segments, regenerated tables): more is refused, as are
 * more than 64 + 16 per frame changed places. */
#define ENCAP_MAX_PATCH (16u << 20)

/*
 * Append the output bytes of the encapsulated Pixel Data value found at
 * source bytes [off, off + len) (the items through the Sequence
 * Delimitation Item, as dicom_parse() reports them) to m.
 *
 * Returns 0; -ENOTSUP for a transfer syntax whose codestream deidfs cannot
 * check; -EBADMSG when the fragments are not such codestreams, one per
 * frame; -E2BIG past the limits above; -EIO; -ENOMEM.  On error m may
 * hold part of the map: the caller discards it.
 */
int encap_map(const struct dicom_source *src, uint64_t off, uint64_t len,
	      const struct encap_image *img, struct bytemap *m);

/* True when ts_uid is a transfer syntax with encapsulated pixel data that
 * encap_map() can check. */
int encap_ts_known(const char *ts_uid);

#endif
