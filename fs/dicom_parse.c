/*
 * dicom_parse.c - the bounded parser of the DICOM bridge: dicom_parse()
 * (see fs/dicom.h; the parts it shares with the writer and dicom.cpp
 * in fs/dicom_impl.h).
 *
 * Why the byte-level parser is ours and not gdcm::Reader: Debian's GDCM
 * 3.0.21 is built with assertions enabled, and its reader asserts (aborts
 * the process) on malformed input: in a quick mutation test over the corpus
 * about a third of the damaged headers killed the process inside
 * gdcm::ExplicitDataElement::ReadPreValue(), FileMetaInformation::ReadCompat()
 * and friends, and one hung.  A FUSE daemon cannot afford that, so the
 * structure of the file is walked here with every length checked, and GDCM
 * supplies what it is good at and cannot be fed hostile bytes: the public and
 * private data dictionaries (VRs of implicit-VR files, through
 * dicom_dict_vr_get() of fs/dicom.cpp) and the table of well-known UIDs.
 * Deflated datasets are read through an inflating cursor (fs/inflate.c,
 * zlib): measured once as a stream, then the header inflated again as the
 * parser asks for it; the pixel data is never held.
 *
 * Values are copied out as the raw bytes of the file, so a big-endian
 * source round-trips exactly when written back in the same transfer syntax.
 *
 * Limits (dcm.h): sequence nesting DCM_MAX_DEPTH, DCM_MAX_ELEMENTS elements
 * and items per file, DCM_MAX_VALUE bytes per header value, header bytes read
 * at most 4 * DCM_MAX_VALUE; beyond any of them the file is -EBADMSG.
 * Duplicate tags in one dataset: the first one is kept, later ones dropped.
 */
#include "base.h"
#include "dicom_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "dcm.h"
#include "dicom.h"
#include "inflate.h"

#define HEADER_LIMIT (4ull * DCM_MAX_VALUE)
#define PARSE_RING ((size_t)256 * 1024)	/* inflated bytes a parse keeps */

/* ---- file meta and transfer syntax ----------------------------------- */

static void trim_uid(const uint8_t *v, size_t n, char *out, size_t outsz)
{
	while (n && (v[n - 1] == 0 || v[n - 1] == ' '))
		n--;
	while (n && *v == ' ') {
		v++;
		n--;
	}
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, v, n);
	out[n] = 0;
}

/* Group 0002 at pos (explicit VR LE, tolerating implicit VR as GDCM does);
 * *next is the start of the dataset. */
static int parse_meta(struct dicom_parser *P, uint64_t pos, char *ts,
		      char *sop, uint64_t *next)
{
	int err;

	for (;;) {
		const uint8_t *p;
		struct dicom_enc en = {true, false};
		struct dicom_hdr h;

		if (pos + 8 > P->b.size)
			break;
		err = dicom_buf_at(&P->b, pos, pos + 8, &p);
		if (err)
			return err;
		if (dicom_get16(p, false) != 2)
			break;
		{
			char v[3] = {(char)p[4], (char)p[5], 0};

			en.explicit_vr = dicom_vr_valid(v);
		}
		err = dicom_ds_read_hdr(P, en, pos, NULL, &h);
		if (err)
			return err;
		if (h.len == DICOM_UNDEF || h.len > (1u << 20) ||
		    h.len > P->b.size - pos - h.hlen)
			return -EBADMSG;
		err = dicom_buf_at(&P->b, pos + h.hlen, pos + h.hlen + h.len,
				   &p);
		if (err)
			return err;
		if (h.tag == DCM_TAG(2, 0x10) || h.tag == DCM_TAG(2, 2)) {
			if (h.len > 64 + 1)
				return -EBADMSG;
			trim_uid(p, h.len, h.tag == DCM_TAG(2, 2) ? sop : ts,
				 65);
		}
		pos += h.hlen + h.len;
	}
	*next = pos;
	return 0;
}

/* Guess the encoding of a dataset without (usable) meta, as GDCM does:
 * byte order from the first group number, explicit if a VR follows. */
static int guess_ts(struct dicom_parser *P, uint64_t pos,
		    struct dicom_enc *en, char *ts)
{
	uint8_t h[8];
	uint16_t gle, gbe;
	char vr[3];
	int err;

	err = dicom_buf_peek(&P->b, pos, h, 8);
	if (err)
		return err;
	gle = dicom_get16(h, false);
	gbe = dicom_get16(h, true);
	vr[0] = (char)h[4];
	vr[1] = (char)h[5];
	vr[2] = 0;
	en->be = gbe < gle;
	en->explicit_vr = dicom_vr_valid(vr);
	{
		uint16_t g = en->be ? gbe : gle;

		if (g < 2 || g > 0x7fe0)
			return -EBADMSG;	/* not a dataset */
	}
	if (en->be && !en->explicit_vr)
		return -EBADMSG;	/* implicit big endian: not DICOM */
	strcpy(ts, en->be ? DICOM_TS_EXPLICIT_BE
			  : en->explicit_vr ? DICOM_TS_EXPLICIT_LE
					    : DICOM_TS_IMPLICIT_LE);
	return 0;
}

/* ---- the steps of dicom_parse() -------------------------------------- */

/* Preamble and file meta: out->has_meta, the meta's transfer syntax and
 * SOP class (empty when absent), *pos the start of the dataset. */
static int read_meta(struct dicom_parser *P, struct dicom_parsed *out,
		     char *ts, char *sop, uint64_t *pos)
{
	uint64_t size = P->b.size;
	int err;

	*pos = 0;
	if (size >= 132) {
		uint8_t magic[4];

		err = dicom_buf_peek(&P->b, 128, magic, 4);
		if (err)
			return err;
		if (!memcmp(magic, "DICM", 4)) {
			out->has_meta = 1;
			*pos = 132;
		}
	}
	if (size < 8)
		return -EBADMSG;
	err = parse_meta(P, *pos, ts, sop, pos);
	if (err)
		return err;
	if (out->has_meta && *pos == 132)
		return -EBADMSG;	/* DICM but no meta */
	if (*pos >= size && !out->has_meta)
		return -EBADMSG;	/* no dataset at all */
	return 0;
}

/*
 * A deflated dataset at pos, measured first, as a stream (a bomb stops at
 * the limit having held nothing); then the parser reads the inflated
 * dataset like a file, through the cursor *z (zsrc its source): only the
 * header bytes it asks for are inflated into its buffer, the pixel data is
 * skipped (the view inflates it again when it is read).  The header limit
 * is the same as a file's.
 */
static int open_deflated(struct dicom_parser *P,
			 const struct dicom_source *src, uint64_t pos,
			 struct dicom_parsed *out, struct dicom_source *zsrc,
			 struct inflate_cursor **z)
{
	uint64_t size = 0;
	int err;

	err = inflate_open(src->pread, src->ctx, pos, src->size,
			   INFLATE_LIMIT, PARSE_RING, &out->deflate, &size, z);
	if (err)
		return err;
	dicom_buf_release(&P->b);
	zsrc->ctx = *z;
	zsrc->pread = inflate_pread;
	zsrc->size = size;
	zsrc->budget = NULL;
	P->b.src = zsrc;
	P->b.size = size;
	return 0;
}

/* A meta header that lies: explicit TS, implicit dataset at pos. */
static int check_explicit(struct dicom_parser *P, struct dicom_enc en,
			  uint64_t pos)
{
	uint8_t h[6];
	char vr[3];
	int err;

	if (!en.explicit_vr || pos >= P->b.size)
		return 0;
	err = dicom_buf_peek(&P->b, pos, h, 6);
	if (err)
		return err;
	vr[0] = (char)h[4];
	vr[1] = (char)h[5];
	vr[2] = 0;
	return dicom_vr_valid(vr) ? 0 : -EBADMSG;
}

/* The top-level Pixel Data whose header P found at next (the end of the
 * dataset parsed): where its value lies, and what follows it. */
static int find_pixel(struct dicom_parser *P, struct dicom_enc en,
		      uint64_t next, struct dicom_parsed *out)
{
	const struct dicom_hdr *h = &P->pixel_hdr;
	uint64_t voff = next + h->hlen;
	int err;

	out->trailing_off = next;
	if (P->pixel && out->ds.n &&
	    out->ds.el[out->ds.n - 1].tag > DICOM_TAG_PIXEL)
		return -EBADMSG; /* elements out of order around Pixel Data */
	if (!P->pixel)
		return 0;
	out->has_pixel = 1;
	if (en.explicit_vr) {
		if (!dicom_vr_is(h->vr, "OB") && !dicom_vr_is(h->vr, "OW"))
			return -EBADMSG;
		dicom_vr_set(out->pixel_vr, h->vr);
	} else {
		dicom_vr_set(out->pixel_vr,
			     h->len == DICOM_UNDEF ? "OB" : "OW");
	}
	out->pixel_off = voff;
	if (h->len == DICOM_UNDEF) {
		uint64_t after;

		out->pixel_encapsulated = 1;
		err = dicom_ds_walk_fragments(P, en, voff, &after);
		if (err)
			return err;
		out->pixel_len = after - voff;
	} else {
		if (h->len > P->b.size - voff)
			return -EBADMSG;
		out->pixel_len = h->len;
	}
	out->trailing_off = out->pixel_off + out->pixel_len;
	return 0;
}

/* P's position as a tag path into path (pathsz bytes). */
static void where(const struct dicom_parser *P, char *path, size_t pathsz)
{
	size_t len = 0;
	unsigned i;

	path[0] = 0;
	for (i = 0; i < P->at_n && len + 32 < pathsz; i++) {
		int n = snprintf(path + len, pathsz - len,
				 i + 1 < P->at_n ? "%08X[%u]." : "%08X",
				 P->at_tag[i], P->at_item[i]);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len + 32 >= pathsz && i < P->at_n)
		path[0] = 0;	/* deeper than we say: say nothing */
}

static int parse_impl(const struct dicom_source *src,
		      struct dicom_parsed *out, char *fail, size_t failsz)
{
	struct dicom_parser P;
	uint64_t pos = 0, next = 0;
	char ts[65] = "", sop[65] = "";
	bool deflated = false;
	struct dicom_enc en = {true, false};
	struct inflate_cursor *z = NULL;
	struct dicom_source zsrc;
	int err;

	memset(&P, 0, sizeof(P));
	P.b.src = src;
	P.b.size = src->size;
	P.b.limit = HEADER_LIMIT;
	P.b.bud = src->budget;
	P.b.hold = &out->hold;
	P.arena = &out->arena;

	err = read_meta(&P, out, ts, sop, &pos);
	if (err)
		goto out;
	if (ts[0])
		err = dicom_ts_encoding(ts, &en, &deflated);
	else
		err = guess_ts(&P, pos, &en, ts);
	if (err)
		goto out;
	if (deflated) {
		err = open_deflated(&P, src, pos, out, &zsrc, &z);
		if (err)
			goto out;
		pos = 0;
	}
	err = check_explicit(&P, en, pos);
	if (err)
		goto out;
	err = dicom_ds_parse(&P, en, pos, P.b.size, true, 0, true, &out->ds,
			     &next);
	if (err)
		goto out;
	err = find_pixel(&P, en, next, out);
	if (err)
		goto out;
	strcpy(out->ts_uid, ts);
	if (sop[0])
		strcpy(out->sop_class_uid, sop);
	else
		dcm_ds_get_str(&out->ds, DCM_TAG(8, 0x16), out->sop_class_uid,
			       sizeof(out->sop_class_uid));
	out->explicit_vr = en.explicit_vr;
	out->big_endian = en.be;
	out->deflated = deflated;
out:
	if (err)
		where(&P, fail, failsz);
	/* the values' share of the budget stays with out->hold */
	dicom_buf_release(&P.b);
	inflate_cursor_free(z);
	return err;
}

/* ---- the interface --------------------------------------------------- */

int dicom_parse(const struct dicom_source *src, struct dicom_parsed *out)
{
	int err;

	char fail[sizeof(out->fail_path)];

	memset(out, 0, sizeof(*out));
	err = parse_impl(src, out, fail, sizeof(fail));
	if (err) {
		dicom_parsed_free(out);
		memcpy(out->fail_path, fail, sizeof(fail));
	}
	return err;
}

void dicom_parsed_free(struct dicom_parsed *p)
{
	if (!p)
		return;
	dcm_ds_free(&p->ds);	/* before the arena its values lie in */
	base_arena_free(&p->arena);
	budget_release(p->hold);
	explicit_bzero(p, sizeof(*p));
}
