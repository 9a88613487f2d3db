/*
 * dicom_ds.c - the dataset level of the bounded parser (fs/dicom_impl.h;
 * the file level, and why the parser is ours, in fs/dicom_parse.c):
 * element headers, values, sequences and their items, encapsulated
 * fragments, with the limits on nesting, element count and value size, and
 * the values' share of the budget.
 */
#include "dicom_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "dcm.h"

#define MAX_FRAGMENTS 10000000ull
/* Dataset values are counted against the budget in steps this big. */
#define VALUE_STEP ((uint64_t)1 << 20)

/* Dictionary VR of tag in ds, with the private creator of its block.
 * Returns 0, or the error of the lookup (also kept in P->fatal). */
static int ds_dict_vr(struct dicom_parser *P, const struct dcm_ds *ds,
		      uint32_t tag, char vr[3])
{
	char creator[65];
	const char *c = NULL;
	uint16_t g = DCM_GROUP(tag), e = DCM_ELEM(tag);
	int err;

	if (ds && (g & 1) && e >= 0x1000 &&
	    dcm_ds_get_str(ds, DCM_TAG(g, e >> 8), creator, sizeof(creator)))
		c = creator;
	err = dicom_dict_vr_get(tag, c, vr);
	if (err)
		P->fatal = err;
	return err;
}

/* VRs whose values the rules must see for what they are: free text,
 * names, dates and times, ages, AE titles, URIs, UIDs and sequences. */
static const char VR_SENSITIVE[] = "AEASDADTLOLTPNSHSQSTTMUCUIURUT";

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
static int distrust_vr(struct dicom_parser *P, const struct dcm_ds *ds,
		       struct dicom_hdr *h)
{
	char dvr[3];
	int err;

	if ((DCM_GROUP(h->tag) & 1) || DCM_ELEM(h->tag) == 0 ||
	    dicom_vr_is(h->vr, "UN") || dicom_vr_in(VR_SENSITIVE, h->vr))
		return 0;
	err = ds_dict_vr(P, ds, h->tag, dvr);
	if (err)
		return err;
	if (dicom_vr_in(VR_SENSITIVE, dvr))
		dicom_vr_set(h->vr, dvr);
	return 0;
}

int dicom_ds_read_hdr(struct dicom_parser *P, struct dicom_enc en,
		      uint64_t pos, const struct dcm_ds *ds,
		      struct dicom_hdr *h)
{
	const uint8_t *p;
	int err;

	if (pos > UINT64_MAX - 12)
		return -EBADMSG;
	err = dicom_buf_at(&P->b, pos, pos + 8, &p);
	if (err)
		return err;
	h->tag = DCM_TAG(dicom_get16(p, en.be), dicom_get16(p + 2, en.be));
	h->hlen = 8;
	h->vr[0] = 0;
	if (DCM_GROUP(h->tag) == 0xfffe) {
		h->len = dicom_get32(p + 4, en.be);
		return 0;
	}
	if (!en.explicit_vr) {
		h->len = dicom_get32(p + 4, en.be);
		return ds_dict_vr(P, ds, h->tag, h->vr);
	}
	h->vr[0] = (char)p[4];
	h->vr[1] = (char)p[5];
	h->vr[2] = 0;
	if (!dicom_vr_valid(h->vr)) {
		/* a VR code that does not exist ("  " from some GE CTs):
		 * dcmtk and GDCM read a 16-bit length; we take the VR the
		 * dictionary gives, when it has a 16-bit length too */
		err = ds_dict_vr(P, ds, h->tag, h->vr);
		if (err)
			return err;
		if (dicom_vr_is_32(h->vr))
			dicom_vr_set(h->vr, "UN");
		h->len = dicom_get16(p + 6, en.be);
		return 0;
	}
	if (!dicom_vr_is_32(h->vr)) {
		h->len = dicom_get16(p + 6, en.be);
		return distrust_vr(P, ds, h);
	}
	err = dicom_buf_at(&P->b, pos, pos + 12, &p);
	if (err)
		return err;
	h->len = dicom_get32(p + 8, en.be);
	h->hlen = 12;
	return distrust_vr(P, ds, h);
}

static int count_one(struct dicom_parser *P)
{
	return ++P->count > DCM_MAX_ELEMENTS ? -EBADMSG : 0;
}

/* Walk encapsulated fragments starting at pos through the Sequence
 * Delimitation Item; *next is the first byte after it. */
int dicom_ds_walk_fragments(struct dicom_parser *P, struct dicom_enc en,
			    uint64_t pos, uint64_t *next)
{
	uint8_t h[8];
	uint64_t n;
	int err;

	for (n = 0; n < MAX_FRAGMENTS; n++) {
		uint32_t tag, len;

		err = dicom_buf_peek(&P->b, pos, h, 8);
		if (err)
			return err;
		tag = DCM_TAG(dicom_get16(h, en.be), dicom_get16(h + 2, en.be));
		len = dicom_get32(h + 4, en.be);
		pos += 8;
		if (tag == DICOM_TAG_SEQ_DELIM) {
			if (len)
				return -EBADMSG;
			*next = pos;
			return 0;
		}
		if (tag != DICOM_TAG_ITEM || len == DICOM_UNDEF ||
		    len > P->b.size - pos)
			return -EBADMSG;
		pos += len;
	}
	return -EBADMSG;
}

/* Copy [pos, pos+len) of the source into a new value of e. */
static int take_value(struct dicom_parser *P, struct dcm_elem *e,
		      uint64_t pos, uint64_t len)
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
	if (P->arena && len <= ARENA_VALUE_MAX) {
		e->val = base_arena_alloc(P->arena, (size_t)len);
		e->borrowed = e->val != NULL;
	} else {
		e->val = malloc((size_t)len);
	}
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
static int parse_seq(struct dicom_parser *P, struct dicom_enc en,
		     uint64_t pos, uint32_t len, unsigned depth,
		     struct dcm_elem *e, uint64_t *next)
{
	bool undef = len == DICOM_UNDEF;
	uint64_t end = undef ? P->b.size : pos + len;
	int err;

	if (end > P->b.size)
		return -EBADMSG;
	if (depth + 1 > DCM_MAX_DEPTH)
		return -EBADMSG;
	for (;;) {
		struct dcm_ds *item;
		struct dicom_hdr h;

		if (!undef && pos == end)
			break;
		if (end - pos < 8)
			return -EBADMSG;
		err = dicom_ds_read_hdr(P, en, pos, NULL, &h);
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
		P->at_item[depth] = e->nitems - 1;
		if (h.len == DICOM_UNDEF) {
			err = dicom_ds_parse(P, en, pos, end, true, depth + 1,
					     false, item, &pos);
		} else {
			if (h.len > end - pos)
				return -EBADMSG;
			err = dicom_ds_parse(P, en, pos, pos + h.len, false,
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
static bool looks_like_seq(struct dicom_parser *P, struct dicom_enc en,
			   uint64_t pos, uint32_t len)
{
	uint8_t h[4];

	if (en.be || len < 8 || len == DICOM_UNDEF)
		return false;
	if (dicom_buf_peek(&P->b, pos, h, 4))
		return false;
	return DCM_TAG(dicom_get16(h, false), dicom_get16(h + 2, false)) ==
	       DICOM_TAG_ITEM;
}

/* Encapsulated data outside the top-level Pixel Data (an icon's pixel
 * data), value at vpos: kept raw, from the first item through the sequence
 * delimiter. */
static int parse_encapsulated(struct dicom_parser *P, struct dicom_enc en,
			      uint64_t vpos, uint64_t end, struct dcm_elem *e,
			      uint64_t *next)
{
	uint64_t after;
	int err;

	err = dicom_ds_walk_fragments(P, en, vpos, &after);
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

/* A UN value at vpos that looks like a sequence: parsed as one when it is
 * exactly that (*done set), else e is left a plain UN to be read as
 * bytes. */
static int parse_un_seq(struct dicom_parser *P, uint64_t vpos,
			const struct dicom_hdr *h, unsigned depth,
			struct dcm_elem *e, uint64_t *next, bool *done)
{
	uint64_t saved = P->count, after = 0;
	struct dicom_enc inner = {false, false};
	int err;

	dicom_vr_set(e->vr, "SQ");
	err = parse_seq(P, inner, vpos, h->len, depth, e, &after);
	if (!err && after == vpos + h->len) {
		*next = after;
		*done = true;
		return 0;
	}
	if (err == -ENOMEM || err == -EIO || P->fatal)
		return err;
	dcm_elem_clear(e);	/* not a sequence after all */
	e->tag = h->tag;
	dicom_vr_set(e->vr, "UN");
	P->count = saved;
	return 0;
}

/* Parse one element whose header is h at pos into e; *next after it. */
static int parse_elem(struct dicom_parser *P, struct dicom_enc en,
		      uint64_t pos, const struct dicom_hdr *h, uint64_t end,
		      unsigned depth, struct dcm_elem *e, uint64_t *next)
{
	uint64_t vpos = pos + h->hlen;

	e->tag = h->tag;
	dicom_vr_set(e->vr, h->vr);
	if (vpos > end || (h->len != DICOM_UNDEF && h->len > end - vpos))
		return -EBADMSG;

	if (h->len == DICOM_UNDEF &&
	    (dicom_vr_is(h->vr, "OB") || dicom_vr_is(h->vr, "OW") ||
	     h->tag == DICOM_TAG_PIXEL))
		return parse_encapsulated(P, en, vpos, end, e, next);
	if (dicom_vr_is(h->vr, "SQ") || h->len == DICOM_UNDEF) {
		struct dicom_enc inner = en;

		if (h->len == DICOM_UNDEF && en.explicit_vr &&
		    !dicom_vr_is(h->vr, "SQ")) {
			if (!dicom_vr_is(h->vr, "UN"))
				return -EBADMSG;
			/* CP-246: UN of undefined length is implicit VR LE;
			 * in a big-endian file we could not write it back */
			if (en.be)
				return -EBADMSG;
			inner.explicit_vr = false;
		}
		dicom_vr_set(e->vr, "SQ");
		return parse_seq(P, inner, vpos, h->len, depth, e, next);
	}
	if (dicom_vr_is(h->vr, "UN") && looks_like_seq(P, en, vpos, h->len)) {
		bool done = false;
		int err = parse_un_seq(P, vpos, h, depth, e, next, &done);

		if (err || done)
			return err;
	}
	*next = vpos + h->len;
	return take_value(P, e, vpos, h->len);
}

/* True when every byte of [pos, end) is zero: padding some writers leave
 * after the last element. */
static bool zero_tail(struct dicom_parser *P, uint64_t pos, uint64_t end)
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

/* Parse the element whose header h is at *pos into ds, and move *pos past
 * it.  Group lengths, meta elements in the dataset and duplicates (the
 * first one wins) are parsed, then dropped. */
static int add_elem(struct dicom_parser *P, struct dicom_enc en,
		    uint64_t *pos, const struct dicom_hdr *h, uint64_t end,
		    unsigned depth, struct dcm_ds *ds)
{
	struct dcm_elem tmp;
	uint64_t after;
	int err;

	err = count_one(P);
	if (err)
		return err;
	memset(&tmp, 0, sizeof(tmp));
	err = parse_elem(P, en, *pos, h, end, depth, &tmp, &after);
	if (err)
		goto fail;
	*pos = after;
	if (DCM_ELEM(h->tag) == 0 || DCM_GROUP(h->tag) == 2 ||
	    dcm_ds_find(ds, h->tag) >= 0) {
		dcm_elem_clear(&tmp);
		return 0;
	}
	err = dcm_ds_set(ds, h->tag, tmp.vr, NULL, 0);
	if (err)
		goto fail;
	*dcm_ds_get(ds, h->tag) = tmp;	/* moves ownership */
	return 0;
fail:
	dcm_elem_clear(&tmp);
	return err;
}

/*
 * Elements of one dataset from pos: up to end when !undef, else through an
 * Item Delimitation Item (nested) or to end (top level).  At top level,
 * stops at Pixel Data and records it in P.
 */
int dicom_ds_parse(struct dicom_parser *P, struct dicom_enc en, uint64_t pos,
		   uint64_t end, bool undef, unsigned depth, bool top,
		   struct dcm_ds *ds, uint64_t *next)
{
	int err;

	for (;;) {
		struct dicom_hdr h;

		if (pos == end) {
			if (undef && !top)
				return -EBADMSG;	/* no delimiter */
			break;
		}
		err = dicom_ds_read_hdr(P, en, pos, ds, &h);
		if (err == -EBADMSG && top && !P->fatal &&
		    zero_tail(P, pos, end)) {
			pos = end;
			break;
		}
		if (err)
			return err;
		if (DCM_GROUP(h.tag) != 0xfffe && depth <= DCM_MAX_DEPTH) {
			P->at_tag[depth] = h.tag;
			P->at_n = depth + 1;
		}
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
		err = add_elem(P, en, &pos, &h, end, depth, ds);
		if (err)
			return err;
	}
	*next = pos;
	return 0;
}
