/*
 * dicom.cpp - the DICOM bridge (see include/dicom.h).
 *
 * Why the byte-level parser is ours and not gdcm::Reader: Debian's GDCM
 * 3.0.21 is built with assertions enabled, and its reader asserts (aborts
 * the process) on malformed input: in a quick mutation test over the corpus
 * about a third of the damaged headers killed the process inside
 * gdcm::ExplicitDataElement::ReadPreValue(), FileMetaInformation::ReadCompat()
 * and friends, and one hung.  A FUSE daemon cannot afford that, so the
 * structure of the file is walked here with every length checked, and GDCM
 * supplies what it is good at and cannot be fed hostile bytes: the public and
 * private data dictionaries (VRs of implicit-VR files) and the table of
 * well-known UIDs.  Deflated datasets are read through an inflating
 * cursor (fs/inflate.c, zlib): measured once as a stream, then the header
 * inflated again as the parser asks for it; the pixel data is never held.
 *
 * Values are copied out as the raw bytes of the file, so a big-endian
 * source round-trips exactly when written back in the same transfer syntax.
 *
 * Limits (dcm.h): sequence nesting DCM_MAX_DEPTH, DCM_MAX_ELEMENTS elements
 * and items per file, DCM_MAX_VALUE bytes per header value, header bytes read
 * at most 4 * DCM_MAX_VALUE; beyond any of them the file is -EBADMSG.
 * Duplicate tags in one dataset: the first one is kept, later ones dropped.
 */
extern "C" {
#include "budget.h"
#include "dcm.h"
#include "inflate.h"
}
#include "dicom.h"
#include "dicom_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <new>

#include <gdcmDefs.h>
#include <gdcmDict.h>
#include <gdcmMediaStorage.h>
#include <gdcmDicts.h>
#include <gdcmGlobal.h>
#include <gdcmPrivateTag.h>
#include <gdcmTag.h>
#include <gdcmTrace.h>
#include <gdcmUIDs.h>
#include <gdcmVM.h>
#include <gdcmVersion.h>
#include <gdcmVR.h>

namespace {

const uint64_t HEADER_LIMIT = 4ull * DCM_MAX_VALUE;
const uint64_t MAX_FRAGMENTS = 10000000;
const size_t PARSE_RING = 256 * 1024;	/* inflated bytes a parse keeps */
/* Dataset values are counted against the budget in steps this big. */
const uint64_t VALUE_STEP = 1 << 20;

void wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n);
	free(p);
}

/* ---- VRs ------------------------------------------------------------- */

/* Two-letter VR for a dictionary VR; choices ("OB or OW") pick the one
 * PS3.5 uses for implicit VR, unknown is UN. */
void gdcm_vr_str(gdcm::VR::VRType t, char vr[3])
{
	switch (t) {
	case gdcm::VR::OB_OW:
		dicom_vr_set(vr, "OW");
		return;
	case gdcm::VR::US_SS:
	case gdcm::VR::US_SS_OW:
	case gdcm::VR::US_OW:
		dicom_vr_set(vr, "US");
		return;
	case gdcm::VR::INVALID:
	case gdcm::VR::VL16:
	case gdcm::VR::VL32:
	case gdcm::VR::VRASCII:
	case gdcm::VR::VRBINARY:
	case gdcm::VR::VR_END:
		dicom_vr_set(vr, "UN");
		return;
	default:
		break;
	}
	const char *s = gdcm::VR::GetVRString(t);
	if (s && strlen(s) == 2 && dicom_vr_valid(s))
		dicom_vr_set(vr, s);
	else
		dicom_vr_set(vr, "UN");
}

/* Dictionary VR; never calls into GDCM's asserting Dicts::GetDictEntry()
 * with arguments it would abort on. */
void dict_vr(uint32_t tag, const char *creator, char vr[3])
{
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEM(tag);
	const gdcm::Dicts &dicts = gdcm::Global::GetInstance().GetDicts();

	if (e == 0) {
		dicom_vr_set(vr, "UL");	/* group length */
		return;
	}
	if (g == 0xfffe || g == 0xffff || g == 1 || g == 3 || g == 5 ||
	    g == 7) {
		dicom_vr_set(vr, "UN");
		return;
	}
	if (!(g & 1)) {
		gdcm_vr_str(dicts.GetPublicDict().GetDictEntry(
				    gdcm::Tag(g, e)).GetVR(), vr);
		return;
	}
	if (e >= 0x10 && e <= 0xff) {
		dicom_vr_set(vr, "LO");	/* private creator */
		return;
	}
	if (e >= 0x1000 && creator && *creator) {
		gdcm::PrivateTag pt(g, (uint16_t)(e & 0xff), creator);
		const gdcm::PrivateDict &pd = dicts.GetPrivateDict();

		if (pd.FindDictEntry(pt)) {
			gdcm_vr_str(pd.GetDictEntry(pt).GetVR(), vr);
			return;
		}
	}
	dicom_vr_set(vr, "UN");
}

uint16_t get16(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

uint32_t get32(const uint8_t *p, bool be)
{
	return be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			    (uint32_t)p[2] << 8 | p[3]
		  : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
			    (uint32_t)p[1] << 8 | p[0];
}

/* ---- dataset parser -------------------------------------------------- */

struct hdr {
	uint32_t tag;
	char vr[3];	/* "" for items and delimiters */
	uint32_t len;
	uint32_t hlen;	/* 8 or 12 */
};

struct parser {
	dicom_buf b;
	uint64_t count;	/* elements + items so far */
	uint64_t values;	/* value bytes copied into the dataset */
	uint64_t values_counted;	/* of which counted against the budget */
	/* top-level Pixel Data, when found */
	bool pixel;
	hdr pixel_hdr;
};

/* Dictionary VR of tag in ds, with the private creator of its block. */
void ds_dict_vr(const dcm_ds *ds, uint32_t tag, char vr[3])
{
	char creator[65];
	const char *c = NULL;
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEM(tag);

	if (ds && (g & 1) && e >= 0x1000 &&
	    dcm_ds_get_str(ds, DCM_TAG(g, e >> 8), creator, sizeof(creator)))
		c = creator;
	dict_vr(tag, c, vr);
}

/* VRs whose values the rules must see for what they are: free text,
 * names, dates and times, ages, AE titles, URIs, UIDs and sequences. */
const char VR_SENSITIVE[] = "AEASDADTLOLTPNSHSQSTTMUCUIURUT";

/*
 * Explicit VR is the writer's claim, and a hostile or broken writer can
 * label a public free-text attribute (say Intervention Description, ST,
 * outside Table E.1-1) OB, CS or US: the rules keep such values verbatim,
 * so the text would be published.  When the dictionary gives a sensitive
 * VR and the file a VR that is not, take the dictionary's (the length
 * stays as the file encodes it): the value is then removed, replaced or
 * parsed as what it is, and one that cannot be (a "sequence" that holds no
 * items, a text too long for its VR) makes the file unparseable, never
 * published.  UN is left alone: the rules remove it or parse it as a
 * sequence already.  Private attributes are removed by tag.
 */
void distrust_vr(const dcm_ds *ds, hdr *h)
{
	char dvr[3];

	if ((DCM_GROUP(h->tag) & 1) || DCM_ELEM(h->tag) == 0 ||
	    dicom_vr_is(h->vr, "UN") || dicom_vr_in(VR_SENSITIVE, h->vr))
		return;
	ds_dict_vr(ds, h->tag, dvr);
	if (dicom_vr_in(VR_SENSITIVE, dvr))
		dicom_vr_set(h->vr, dvr);
}

int read_hdr(parser *P, dicom_enc en, uint64_t pos, const dcm_ds *ds, hdr *h)
{
	const uint8_t *p;
	int err;

	if (pos > UINT64_MAX - 12)
		return -EBADMSG;
	err = dicom_buf_at(&P->b, pos, pos + 8, &p);
	if (err)
		return err;
	h->tag = DCM_TAG(get16(p, en.be), get16(p + 2, en.be));
	h->hlen = 8;
	h->vr[0] = 0;
	if (DCM_GROUP(h->tag) == 0xfffe) {
		h->len = get32(p + 4, en.be);
		return 0;
	}
	if (!en.explicit_vr) {
		h->len = get32(p + 4, en.be);
		ds_dict_vr(ds, h->tag, h->vr);
		return 0;
	}
	h->vr[0] = (char)p[4];
	h->vr[1] = (char)p[5];
	h->vr[2] = 0;
	if (!dicom_vr_valid(h->vr)) {
		/* a VR code that does not exist ("  " from some GE CTs):
		 * dcmtk and GDCM read a 16-bit length; we take the VR the
		 * dictionary gives, when it has a 16-bit length too */
		ds_dict_vr(ds, h->tag, h->vr);
		if (dicom_vr_is_32(h->vr))
			dicom_vr_set(h->vr, "UN");
		h->len = get16(p + 6, en.be);
		return 0;
	}
	if (!dicom_vr_is_32(h->vr)) {
		h->len = get16(p + 6, en.be);
		distrust_vr(ds, h);
		return 0;
	}
	err = dicom_buf_at(&P->b, pos, pos + 12, &p);
	if (err)
		return err;
	h->len = get32(p + 8, en.be);
	h->hlen = 12;
	distrust_vr(ds, h);
	return 0;
}

int count_one(parser *P)
{
	return ++P->count > DCM_MAX_ELEMENTS ? -EBADMSG : 0;
}

int parse_ds(parser *P, dicom_enc en, uint64_t pos, uint64_t end, bool undef,
	     unsigned depth, bool top, dcm_ds *ds, uint64_t *next);

/* Walk encapsulated fragments starting at pos through the Sequence
 * Delimitation Item; *next is the first byte after it. */
int walk_fragments(parser *P, dicom_enc en, uint64_t pos, uint64_t *next)
{
	uint8_t h[8];
	uint64_t n;
	int err;

	for (n = 0; n < MAX_FRAGMENTS; n++) {
		uint32_t tag, len;

		err = dicom_buf_peek(&P->b, pos, h, 8);
		if (err)
			return err;
		tag = DCM_TAG(get16(h, en.be), get16(h + 2, en.be));
		len = get32(h + 4, en.be);
		pos += 8;
		if (tag == DICOM_TAG_SEQ_DELIM) {
			if (len)
				return -EBADMSG;
			*next = pos;
			return 0;
		}
		if (tag != DICOM_TAG_ITEM || len == DICOM_UNDEF || len > P->b.size - pos)
			return -EBADMSG;
		pos += len;
	}
	return -EBADMSG;
}

/* Copy [pos, pos+len) of the source into a new value of e. */
int take_value(parser *P, dcm_elem *e, uint64_t pos, uint64_t len)
{
	const uint8_t *p;
	int err;

	if (len > DCM_MAX_VALUE)
		return -EBADMSG;
	err = dicom_buf_check(&P->b, pos + len);
	if (err)
		return err;
	e->len = (uint32_t)len;
	if (!len)
		return 0;
	P->values += len;
	if (P->values > P->values_counted) {
		/* a step at a time: one lock per MiB, not per value */
		uint64_t n = (P->values - P->values_counted + VALUE_STEP - 1) /
			     VALUE_STEP * VALUE_STEP;

		err = budget_take(P->b.bud, P->b.hold, n);
		if (err)
			return err;
		P->values_counted += n;
	}
	e->val = (uint8_t *)malloc((size_t)len);
	if (!e->val)
		return -ENOMEM;
	if (len >= DICOM_FIRST_READ && !dicom_buf_has(&P->b, pos, pos + len))
		return dicom_buf_read_direct(&P->b, e->val, (size_t)len, pos);
	err = dicom_buf_at(&P->b, pos, pos + len, &p);
	if (err)
		return err;
	memcpy(e->val, p, (size_t)len);
	return 0;
}

/* Items of a sequence whose value starts at pos. */
int parse_seq(parser *P, dicom_enc en, uint64_t pos, uint32_t len, unsigned depth,
	      dcm_elem *e, uint64_t *next)
{
	bool undef = len == DICOM_UNDEF;
	uint64_t end = undef ? P->b.size : pos + len;
	int err;

	if (end > P->b.size)
		return -EBADMSG;
	if (depth + 1 > DCM_MAX_DEPTH)
		return -EBADMSG;
	for (;;) {
		dcm_ds *item;
		hdr h;

		if (!undef && pos == end)
			break;
		if (end - pos < 8)
			return -EBADMSG;
		err = read_hdr(P, en, pos, NULL, &h);
		if (err)
			return err;
		pos += 8;
		if (h.tag == DICOM_TAG_SEQ_DELIM && undef)
			break;
		if (h.tag != DICOM_TAG_ITEM)
			return -EBADMSG;
		err = count_one(P);
		if (!err)
			err = dcm_seq_add_item(e, &item);
		if (err)
			return err == -ENOMEM ? err : -EBADMSG;
		if (h.len == DICOM_UNDEF) {
			err = parse_ds(P, en, pos, end, true, depth + 1, false,
				       item, &pos);
		} else {
			if (h.len > end - pos)
				return -EBADMSG;
			err = parse_ds(P, en, pos, pos + h.len, false,
				       depth + 1, false, item, &pos);
		}
		if (err)
			return err;
	}
	*next = pos;
	return 0;
}

/* A UN value (explicit UN, or implicit VR with no dictionary entry) that
 * starts like an item: a private sequence, or one converted to UN by some
 * other tool (PS3.5 6.2.2: its content is implicit VR little endian).  We
 * read it as a sequence so that the rules see what is nested in it. */
bool looks_like_seq(parser *P, dicom_enc en, uint64_t pos, uint32_t len)
{
	uint8_t h[4];

	if (en.be || len < 8 || len == DICOM_UNDEF)
		return false;
	if (dicom_buf_peek(&P->b, pos, h, 4))
		return false;
	return DCM_TAG(get16(h, false), get16(h + 2, false)) == DICOM_TAG_ITEM;
}

/* Parse one element whose header is h at pos into e; *next after it. */
int parse_elem(parser *P, dicom_enc en, uint64_t pos, const hdr &h, uint64_t end,
	       unsigned depth, dcm_elem *e, uint64_t *next)
{
	uint64_t vpos = pos + h.hlen;
	int err;

	e->tag = h.tag;
	dicom_vr_set(e->vr, h.vr);
	if (vpos > end || (h.len != DICOM_UNDEF && h.len > end - vpos))
		return -EBADMSG;

	if (h.len == DICOM_UNDEF && (dicom_vr_is(h.vr, "OB") || dicom_vr_is(h.vr, "OW") ||
			       h.tag == DICOM_TAG_PIXEL)) {
		/* encapsulated, e.g. an icon's pixel data: kept raw, from the
		 * first item through the sequence delimiter */
		uint64_t after;

		err = walk_fragments(P, en, vpos, &after);
		if (err)
			return err;
		if (after > end)
			return -EBADMSG;
		if (!dicom_vr_is(e->vr, "OB") && !dicom_vr_is(e->vr, "OW"))
			dicom_vr_set(e->vr, "OB");
		e->encapsulated = 1;
		err = take_value(P, e, vpos, after - vpos);
		*next = after;
		return err;
	}
	if (dicom_vr_is(h.vr, "SQ") || h.len == DICOM_UNDEF) {
		dicom_enc inner = en;

		if (h.len == DICOM_UNDEF && en.explicit_vr && !dicom_vr_is(h.vr, "SQ")) {
			if (!dicom_vr_is(h.vr, "UN"))
				return -EBADMSG;
			/* CP-246: UN of undefined length is implicit VR LE;
			 * in a big-endian file we could not write it back */
			if (en.be)
				return -EBADMSG;
			inner.explicit_vr = false;
		}
		dicom_vr_set(e->vr, "SQ");
		return parse_seq(P, inner, vpos, h.len, depth, e, next);
	}
	if (dicom_vr_is(h.vr, "UN") && looks_like_seq(P, en, vpos, h.len)) {
		uint64_t saved = P->count, after = 0;
		dicom_enc inner = {false, false};

		dicom_vr_set(e->vr, "SQ");
		err = parse_seq(P, inner, vpos, h.len, depth, e, &after);
		if (!err && after == vpos + h.len) {
			*next = after;
			return 0;
		}
		if (err == -ENOMEM || err == -EIO)
			return err;
		dcm_elem_clear(e);	/* not a sequence after all */
		e->tag = h.tag;
		dicom_vr_set(e->vr, "UN");
		P->count = saved;
	}
	*next = vpos + h.len;
	return take_value(P, e, vpos, h.len);
}

/* True when every byte of [pos, end) is zero: padding some writers leave
 * after the last element. */
bool zero_tail(parser *P, uint64_t pos, uint64_t end)
{
	uint8_t tmp[4096];

	while (pos < end) {
		size_t n = end - pos < sizeof(tmp) ? (size_t)(end - pos)
						   : sizeof(tmp);
		if (dicom_buf_peek(&P->b, pos, tmp, n))
			return false;
		for (size_t i = 0; i < n; i++)
			if (tmp[i])
				return false;
		pos += n;
	}
	return true;
}

/*
 * Elements of one dataset from pos: up to end when !undef, else through an
 * Item Delimitation Item (nested) or to end (top level).  At top level,
 * stops at Pixel Data and records it in P.
 */
int parse_ds(parser *P, dicom_enc en, uint64_t pos, uint64_t end, bool undef,
	     unsigned depth, bool top, dcm_ds *ds, uint64_t *next)
{
	int err;

	for (;;) {
		dcm_elem tmp;
		uint64_t after;
		hdr h;

		if (pos == end) {
			if (undef && !top)
				return -EBADMSG;	/* no delimiter */
			break;
		}
		err = read_hdr(P, en, pos, ds, &h);
		if (err == -EBADMSG && top && zero_tail(P, pos, end)) {
			pos = end;
			break;
		}
		if (err)
			return err;
		if (h.tag == DICOM_TAG_ITEM_DELIM) {
			pos += 8;
			if (undef && !top)
				break;
			continue;	/* stray delimiter: harmless */
		}
		if (DCM_GROUP(h.tag) == 0xfffe)
			return -EBADMSG;
		/* top level: stop at Pixel Data, or at the trailers that can
		 * only follow it (signatures, padding) when there is none */
		if (top && (h.tag == DICOM_TAG_PIXEL ||
			    h.tag == DCM_TAG(0xfffa, 0xfffa) ||
			    h.tag == DCM_TAG(0xfffc, 0xfffc))) {
			if (h.tag == DICOM_TAG_PIXEL) {
				P->pixel = true;
				P->pixel_hdr = h;
			}
			break;
		}
		err = count_one(P);
		if (err)
			return err;
		memset(&tmp, 0, sizeof(tmp));
		err = parse_elem(P, en, pos, h, end, depth, &tmp, &after);
		if (err) {
			dcm_elem_clear(&tmp);
			return err;
		}
		pos = after;
		/* dropped: group lengths, meta elements in the dataset,
		 * duplicates (the first one wins) */
		if (DCM_ELEM(h.tag) == 0 || DCM_GROUP(h.tag) == 2 ||
		    dcm_ds_find(ds, h.tag) >= 0) {
			dcm_elem_clear(&tmp);
			continue;
		}
		err = dcm_ds_set(ds, h.tag, tmp.vr, NULL, 0);
		if (err) {
			dcm_elem_clear(&tmp);
			return err;
		}
		*dcm_ds_get(ds, h.tag) = tmp;	/* moves ownership */
	}
	*next = pos;
	return 0;
}

/* ---- file meta and transfer syntax ----------------------------------- */

void trim_uid(const uint8_t *v, size_t n, char *out, size_t outsz)
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
int parse_meta(parser *P, uint64_t pos, char *ts, char *sop, uint64_t *next)
{
	int err;

	for (;;) {
		const uint8_t *p;
		dicom_enc en = {true, false};
		hdr h;

		if (pos + 8 > P->b.size)
			break;
		err = dicom_buf_at(&P->b, pos, pos + 8, &p);
		if (err)
			return err;
		if (get16(p, false) != 2)
			break;
		{
			char v[3] = {(char)p[4], (char)p[5], 0};

			en.explicit_vr = dicom_vr_valid(v);
		}
		err = read_hdr(P, en, pos, NULL, &h);
		if (err)
			return err;
		if (h.len == DICOM_UNDEF || h.len > (1u << 20) ||
		    h.len > P->b.size - pos - h.hlen)
			return -EBADMSG;
		err = dicom_buf_at(&P->b, pos + h.hlen, pos + h.hlen + h.len, &p);
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
int guess_ts(parser *P, uint64_t pos, dicom_enc *en, char *ts)
{
	uint8_t h[8];
	uint16_t gle, gbe;
	char vr[3];
	int err;

	err = dicom_buf_peek(&P->b, pos, h, 8);
	if (err)
		return err;
	gle = get16(h, false);
	gbe = get16(h, true);
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

int parse_impl(const dicom_source *src, dicom_parsed *out)
{
	parser P;
	uint64_t pos = 0, next = 0;
	char ts[65] = "", sop[65] = "";
	bool deflated = false;
	dicom_enc en = {true, false};
	inflate_cursor *z = NULL;
	dicom_source zsrc;
	int err;

	memset(&P, 0, sizeof(P));
	P.b.src = src;
	P.b.size = src->size;
	P.b.limit = HEADER_LIMIT;
	P.b.bud = src->budget;
	P.b.hold = &out->hold;

	if (src->size >= 132) {
		uint8_t magic[4];

		err = dicom_buf_peek(&P.b, 128, magic, 4);
		if (err)
			goto out;
		if (!memcmp(magic, "DICM", 4)) {
			out->has_meta = 1;
			pos = 132;
		}
	}
	if (src->size < 8) {
		err = -EBADMSG;
		goto out;
	}
	err = parse_meta(&P, pos, ts, sop, &pos);
	if (err)
		goto out;
	if (out->has_meta && pos == 132) {
		err = -EBADMSG;		/* DICM but no meta */
		goto out;
	}
	if (pos >= src->size && !out->has_meta) {
		err = -EBADMSG;		/* no dataset at all */
		goto out;
	}
	if (ts[0]) {
		err = dicom_ts_encoding(ts, &en, &deflated);
		if (err)
			goto out;
	} else {
		err = guess_ts(&P, pos, &en, ts);
		if (err)
			goto out;
	}
	if (deflated) {
		/*
		 * Measured first, as a stream (a bomb stops at the limit having
		 * held nothing); then the parser reads the inflated dataset
		 * like a file, through the cursor: only the header bytes it
		 * asks for are inflated into its buffer, the pixel data is
		 * skipped (the view inflates it again when it is read).  The
		 * header limit is the same as a file's.
		 */
		uint64_t size = 0;

		err = inflate_open(src->pread, src->ctx, pos, src->size,
				   INFLATE_LIMIT, PARSE_RING, &out->deflate,
				   &size, &z);
		if (err)
			goto out;
		dicom_buf_release(&P.b);
		zsrc.ctx = z;
		zsrc.pread = inflate_pread;
		zsrc.size = size;
		zsrc.budget = NULL;
		P.b.src = &zsrc;
		P.b.size = size;
		pos = 0;
	}
	if (en.explicit_vr && pos < P.b.size) {
		/* a meta header that lies: explicit TS, implicit dataset */
		uint8_t h[6];
		char vr[3];

		err = dicom_buf_peek(&P.b, pos, h, 6);
		if (err)
			goto out;
		vr[0] = (char)h[4];
		vr[1] = (char)h[5];
		vr[2] = 0;
		if (!dicom_vr_valid(vr)) {
			err = -EBADMSG;
			goto out;
		}
	}
	err = parse_ds(&P, en, pos, P.b.size, true, 0, true, &out->ds, &next);
	if (err)
		goto out;

	out->trailing_off = next;
	if (P.pixel && out->ds.n && out->ds.el[out->ds.n - 1].tag > DICOM_TAG_PIXEL) {
		err = -EBADMSG;	/* elements out of order around Pixel Data */
		goto out;
	}
	if (P.pixel) {
		const hdr &h = P.pixel_hdr;
		uint64_t voff = next + h.hlen;

		out->has_pixel = 1;
		if (en.explicit_vr) {
			if (!dicom_vr_is(h.vr, "OB") && !dicom_vr_is(h.vr, "OW")) {
				err = -EBADMSG;
				goto out;
			}
			dicom_vr_set(out->pixel_vr, h.vr);
		} else {
			dicom_vr_set(out->pixel_vr, h.len == DICOM_UNDEF ? "OB" : "OW");
		}
		out->pixel_off = voff;
		if (h.len == DICOM_UNDEF) {
			uint64_t after;

			out->pixel_encapsulated = 1;
			err = walk_fragments(&P, en, voff, &after);
			if (err)
				goto out;
			out->pixel_len = after - voff;
		} else {
			if (h.len > P.b.size - voff) {
				err = -EBADMSG;
				goto out;
			}
			out->pixel_len = h.len;
		}
		out->trailing_off = out->pixel_off + out->pixel_len;
	}
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
	dicom_buf_release(&P.b);	/* the values' share stays with out->hold */
	inflate_cursor_free(z);
	return err;
}

/* ---- writer ---------------------------------------------------------- */

struct out_buf {
	uint8_t *p;	/* NULL: only count */
	size_t n;
};

void put(out_buf *o, const void *v, size_t n)
{
	if (o->p && n)
		memcpy(o->p + o->n, v, n);
	o->n += n;
}

void put16(out_buf *o, uint16_t v, bool be)
{
	uint8_t b[2];

	if (be) {
		b[0] = (uint8_t)(v >> 8);
		b[1] = (uint8_t)v;
	} else {
		b[0] = (uint8_t)v;
		b[1] = (uint8_t)(v >> 8);
	}
	put(o, b, 2);
}

void put32(out_buf *o, uint32_t v, bool be)
{
	if (be) {
		put16(o, (uint16_t)(v >> 16), true);
		put16(o, (uint16_t)v, true);
	} else {
		put16(o, (uint16_t)v, false);
		put16(o, (uint16_t)(v >> 16), false);
	}
}

void put_tag(out_buf *o, uint32_t tag, bool be)
{
	put16(o, DCM_GROUP(tag), be);
	put16(o, DCM_ELEM(tag), be);
}

/* Element header: tag, VR and length in the encoding of en. */
int put_hdr(out_buf *o, dicom_enc en, uint32_t tag, const char *vr, uint32_t len)
{
	put_tag(o, tag, en.be);
	if (!en.explicit_vr) {
		put32(o, len, en.be);
		return 0;
	}
	put(o, vr, 2);
	if (dicom_vr_is_32(vr)) {
		put16(o, 0, en.be);
		put32(o, len, en.be);
		return 0;
	}
	if (len > 0xffff)
		return -EINVAL;	/* does not fit a 16-bit length */
	put16(o, (uint16_t)len, en.be);
	return 0;
}

int put_ds(out_buf *o, dicom_enc en, const dcm_ds *ds, unsigned depth, bool top,
	   bool has_pixel)
{
	int err;

	if (depth > DCM_MAX_DEPTH)
		return -EINVAL;
	for (uint32_t i = 0; i < ds->n; i++) {
		const dcm_elem *e = &ds->el[i];
		uint16_t g = DCM_GROUP(e->tag);

		if (!dicom_vr_valid(e->vr) || g == 0xfffe || g == 2 ||
		    (top && has_pixel && e->tag >= DICOM_TAG_PIXEL))
			return -EINVAL;
		if (DCM_ELEM(e->tag) == 0)
			continue;	/* group lengths would be stale */
		if (dicom_vr_is(e->vr, "SQ") && !e->val) {
			/* undefined lengths everywhere: always valid */
			err = put_hdr(o, en, e->tag, "SQ", DICOM_UNDEF);
			if (err)
				return err;
			for (uint32_t j = 0; j < e->nitems; j++) {
				put_tag(o, DICOM_TAG_ITEM, en.be);
				put32(o, DICOM_UNDEF, en.be);
				err = put_ds(o, en, &e->items[j], depth + 1,
					     false, false);
				if (err)
					return err;
				put_tag(o, DICOM_TAG_ITEM_DELIM, en.be);
				put32(o, 0, en.be);
			}
			put_tag(o, DICOM_TAG_SEQ_DELIM, en.be);
			put32(o, 0, en.be);
			continue;
		}
		if (e->len == DICOM_UNDEF || (e->len && !e->val))
			return -EINVAL;
		err = put_hdr(o, en, e->tag, e->vr,
			      e->encapsulated ? DICOM_UNDEF : e->len);
		if (err)
			return err;
		put(o, e->val, e->len);
	}
	return 0;
}

void put_meta_uid(out_buf *o, uint16_t elem, const char *uid)
{
	size_t n = strlen(uid);

	put_tag(o, DCM_TAG(2, elem), false);
	put(o, "UI", 2);
	put16(o, (uint16_t)((n + 1) & ~(size_t)1), false);
	put(o, uid, n);
	if (n & 1)
		put(o, "", 1);	/* NUL pad (PS3.5 9.1) */
}

/*
 * Alignment padding (see dicom_write_header()): the file meta's Private
 * Information Creator UID (0002,0100) and Private Information (0002,0102),
 * Type 3 elements of PS3.10 7.1, holding pad zero bytes.  ALIGN_FIXED is
 * their size without the value.
 */
#define ALIGN_UID DICOM_IMPL_CLASS_UID
const size_t ALIGN_FIXED = 8 + ((sizeof(ALIGN_UID) - 1 + 1) & ~(size_t)1) + 12;
const size_t NO_PAD = (size_t)-1;

int write_all(out_buf *o, const dcm_ds *ds, const dicom_parsed *p,
	      const char *sop_class, const char *sop_inst, const char *ts,
	      dicom_enc en, size_t pad)
{
	static const uint8_t zeros[128] = {0};
	static const uint8_t version[2] = {0, 1};
	size_t impl = strlen(DICOM_IMPL_CLASS_UID);
	size_t ver = strlen(DICOM_IMPL_VERSION);
	uint32_t glen;
	int err;

	put(o, zeros, 128);
	put(o, "DICM", 4);
	glen = (uint32_t)(12 + 2 +
			  8 + ((strlen(sop_class) + 1) & ~(size_t)1) +
			  8 + ((strlen(sop_inst) + 1) & ~(size_t)1) +
			  8 + ((strlen(ts) + 1) & ~(size_t)1) +
			  8 + ((impl + 1) & ~(size_t)1) +
			  8 + ((ver + 1) & ~(size_t)1) +
			  (pad == NO_PAD ? 0 : ALIGN_FIXED + pad));
	put_tag(o, DCM_TAG(2, 0), false);
	put(o, "UL", 2);
	put16(o, 4, false);
	put32(o, glen, false);
	put_tag(o, DCM_TAG(2, 1), false);
	put(o, "OB", 2);
	put16(o, 0, false);
	put32(o, 2, false);
	put(o, version, 2);
	put_meta_uid(o, 2, sop_class);
	put_meta_uid(o, 3, sop_inst);
	put_meta_uid(o, 0x10, ts);
	put_meta_uid(o, 0x12, DICOM_IMPL_CLASS_UID);
	put_tag(o, DCM_TAG(2, 0x13), false);
	put(o, "SH", 2);
	put16(o, (uint16_t)((ver + 1) & ~(size_t)1), false);
	put(o, DICOM_IMPL_VERSION, ver);
	if (ver & 1)
		put(o, " ", 1);
	if (pad != NO_PAD) {
		static const uint8_t z[4096] = {0};

		put_meta_uid(o, 0x100, ALIGN_UID);
		put_tag(o, DCM_TAG(2, 0x102), false);
		put(o, "OB", 2);
		put16(o, 0, false);
		put32(o, (uint32_t)pad, false);
		put(o, z, pad);
	}

	err = put_ds(o, en, ds, 0, true, p->has_pixel);
	if (err)
		return err;
	if (p->has_pixel) {
		uint32_t len;

		if (p->pixel_encapsulated)
			len = DICOM_UNDEF;
		else if (p->pixel_len >= DICOM_UNDEF)
			return -EINVAL;
		else
			len = (uint32_t)p->pixel_len;
		if (!dicom_vr_is(p->pixel_vr, "OB") && !dicom_vr_is(p->pixel_vr, "OW"))
			return -EINVAL;
		put_tag(o, DICOM_TAG_PIXEL, en.be);
		if (en.explicit_vr) {
			put(o, p->pixel_vr, 2);
			put16(o, 0, en.be);
		}
		put32(o, len, en.be);
	}
	return 0;
}

} /* namespace */

/* ---- the C interface ------------------------------------------------- */

extern "C" int dicom_init(void)
{
	try {
		gdcm::Trace::SetDebug(false);
		gdcm::Trace::SetWarning(false);
		gdcm::Trace::SetError(false);
		if (gdcm::Global::GetInstance().GetDicts().IsEmpty())
			return -ENOMEM;
		return 0;
	} catch (...) {
		return -ENOMEM;
	}
}

extern "C" int dicom_parse(const struct dicom_source *src,
			   struct dicom_parsed *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	try {
		err = parse_impl(src, out);
	} catch (const std::bad_alloc &) {
		err = -ENOMEM;
	} catch (...) {
		err = -EBADMSG;
	}
	if (err)
		dicom_parsed_free(out);
	return err;
}

extern "C" void dicom_parsed_free(struct dicom_parsed *p)
{
	if (!p)
		return;
	dcm_ds_free(&p->ds);
	budget_release(p->hold);
	explicit_bzero(p, sizeof(*p));
}

extern "C" const char *dicom_output_ts(const struct dicom_parsed *p)
{
	return p->deflated ? DICOM_TS_EXPLICIT_LE : p->ts_uid;
}

extern "C" int dicom_write_header(const struct dcm_ds *ds,
				  const struct dicom_parsed *p,
				  const char *sop_class_uid,
				  const char *sop_instance_uid, uint8_t **out,
				  size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	try {
		const char *ts = dicom_output_ts(p);
		out_buf o = {NULL, 0};
		dicom_enc en;
		bool deflated;
		int err;

		if (!sop_class_uid || !sop_instance_uid ||
		    !dicom_uid_ok(sop_class_uid) || !dicom_uid_ok(sop_instance_uid) ||
		    !dicom_uid_ok(ts))
			return -EINVAL;
		err = dicom_ts_encoding(ts, &en, &deflated);
		if (err || deflated)
			return -EINVAL;
		/* first pass counts, second writes: one exact allocation */
		size_t pad = NO_PAD;

		err = write_all(&o, ds, p, sop_class_uid, sop_instance_uid,
				ts, en, pad);
		if (err)
			return err;
		/*
		 * Pad the file meta so that the pixel value lands at the same
		 * offset within a page as in the source: the kernel then
		 * copies it page by page (copy_file_range, splice) instead of
		 * splitting every page in two, about 30% faster.  Zeros only;
		 * skipped when the parities differ (all lengths are even).
		 */
		if (p->has_pixel && !p->deflated) {
			size_t v = (size_t)((p->pixel_off - (o.n + ALIGN_FIXED)) &
					    4095u);

			if (!(v & 1)) {
				pad = v;
				o.n = 0;
				err = write_all(&o, ds, p, sop_class_uid,
						sop_instance_uid, ts, en, pad);
				if (err)
					return err;
			}
		}
		size_t n = o.n;
		o.p = (uint8_t *)malloc(n);
		if (!o.p)
			return -ENOMEM;
		o.n = 0;
		err = write_all(&o, ds, p, sop_class_uid, sop_instance_uid,
				ts, en, pad);
		if (err || o.n != n) {
			wipe_free(o.p, n);
			return err ? err : -EINVAL;
		}
		*out = o.p;
		*outlen = n;
		return 0;
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EINVAL;
	}
}

extern "C" void dicom_dict_vr(uint32_t tag, const char *creator, char vr[3])
{
	try {
		dict_vr(tag, creator, vr);
	} catch (...) {
		dicom_vr_set(vr, "UN");
	}
}

/*
 * The public dictionary as a sorted array (tag, VR mask, VM), built once:
 * the rules ask about every element they keep, and a binary search over
 * 5,000 entries is several times cheaper than GDCM's tree of DictEntry
 * objects.  Only plain tags (no 50xx/60xx masks: the rules remove those
 * groups before asking).
 */
namespace {
struct dict_ent {
	uint32_t tag;
	int vm;			/* gdcm::VM::VMType */
	long long vr;		/* gdcm::VR::VRType mask */
};
dict_ent *dict_tab;
size_t dict_n;
pthread_once_t dict_once = PTHREAD_ONCE_INIT;

void dict_build()
{
	try {
		const gdcm::Dict &d =
			gdcm::Global::GetInstance().GetDicts().GetPublicDict();
		size_t n = 0, cap = 0;

		for (gdcm::Dict::ConstIterator it = d.Begin(); it != d.End();
		     ++it)
			cap++;
		dict_tab = (dict_ent *)calloc(cap + 1, sizeof(*dict_tab));
		if (!dict_tab)
			return;
		for (gdcm::Dict::ConstIterator it = d.Begin(); it != d.End();
		     ++it) {
			const gdcm::Tag &t = it->first;

			dict_tab[n].tag = DCM_TAG(t.GetGroup(), t.GetElement());
			dict_tab[n].vr = (long long)it->second.GetVR();
			dict_tab[n].vm = (int)it->second.GetVM();
			n++;
		}
		/* gdcm::Tag's order need not be (group, element)'s */
		qsort(dict_tab, n, sizeof(*dict_tab),
		      [](const void *a, const void *b) {
			      uint32_t x = ((const dict_ent *)a)->tag;
			      uint32_t y = ((const dict_ent *)b)->tag;

			      return x < y ? -1 : x > y;
		      });
		dict_n = n;
	} catch (...) {
		dict_n = 0;
	}
}

const dict_ent *dict_find(uint32_t tag)
{
	size_t lo = 0, hi;

	pthread_once(&dict_once, dict_build);
	hi = dict_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dict_tab[mid].tag == tag)
			return &dict_tab[mid];
		if (dict_tab[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
} // namespace

extern "C" const char *dicom_gdcm_version(void)
{
	return gdcm::Version::GetVersion();
}

extern "C" int dicom_tag_known(uint32_t tag)
{
	const dict_ent *d;

	if (DCM_GROUP(tag) & 1)
		return 0;
	if (DCM_ELEM(tag) == 0)
		return 1;	/* group length */
	d = dict_find(tag);
	return d && d->vr != (long long)gdcm::VR::INVALID &&
	       d->vr != (long long)gdcm::VR::UN;
}

extern "C" int dicom_dict_vr_ok(uint32_t tag, const char *vr)
{
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEM(tag);
	const dict_ent *d;
	long long fv;

	if ((g & 1) || e == 0 || g == 0xfffe || !vr)
		return 1;
	d = dict_find(tag);
	if (!d || d->vr == (long long)gdcm::VR::INVALID ||
	    d->vr == (long long)gdcm::VR::UN)
		return 1;	/* unknown: not ours to judge here */
	try {
		fv = (long long)gdcm::VR::GetVRType(vr);
	} catch (...) {
		return 0;
	}
	return fv != (long long)gdcm::VR::INVALID && (d->vr & fv) != 0;
}

extern "C" int dicom_dict_vm_ok(uint32_t tag, unsigned count)
{
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEM(tag);
	const dict_ent *d;

	if ((g & 1) || e == 0 || g == 0xfffe || count == 0)
		return 1;
	d = dict_find(tag);
	if (!d || d->vm == (int)gdcm::VM::VM0 ||
	    d->vm == (int)gdcm::VM::VM_END)
		return 1;	/* unknown */
	if (count > 1u << 20)
		return 0;
	try {
		return gdcm::VM::IsValid((int)count,
					 (gdcm::VM::VMType)d->vm) ? 1 : 0;
	} catch (...) {
		return 0;
	}
}

extern "C" const char *dicom_iod_name(const char *sop_class_uid)
{
	if (!sop_class_uid || !*sop_class_uid)
		return NULL;
	try {
		gdcm::MediaStorage ms =
			gdcm::MediaStorage::GetMSType(sop_class_uid);

		if (ms == gdcm::MediaStorage::MS_END)
			return NULL;
		return gdcm::Defs::GetIODNameFromMediaStorage(ms);
	} catch (...) {
		return NULL;
	}
}

extern "C" int dicom_uid_is_well_known(const char *uid)
{
	/* coding schemes of PS3.16 Table 8-1 that live outside the DICOM
	 * root, and so are not in gdcm::UIDs */
	static const char *const schemes[] = {
		"2.16.840.1.113883.6.96",	/* SNOMED CT */
		"2.16.840.1.113883.6.1",	/* LOINC */
		"2.16.840.1.113883.6.8",	/* UCUM */
		"2.16.840.1.113883.6.5",	/* SNOMED (SRT) */
		"2.16.840.1.113883.6.103",	/* ICD-9-CM */
		"2.16.840.1.113883.6.90",	/* ICD-10-CM */
		"2.16.840.1.113883.6.12",	/* CPT-4 */
		"1.2.840.10008.2.16.4",		/* DCM */
	};

	if (!uid || !*uid || strlen(uid) > 64)
		return 0;
	try {
		/* the registry, not the root: anything can be written
		 * under 1.2.840.10008., a personal ID included */
		for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]);
		     i++)
			if (!strcmp(uid, schemes[i]))
				return 1;
		gdcm::UIDs u;
		return u.SetFromUID(uid) ? 1 : 0;
	} catch (...) {
		return 0;
	}
}
