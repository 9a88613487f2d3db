/*
 * dicom.cpp - the only C++ of deidfs: the part of the DICOM bridge that
 * needs GDCM (include/dicom.h, fs/dicom_impl.h): the public and private
 * data dictionaries, the well-known UIDs, the IOD names, GDCM's version and
 * dicom_init(); and, until it moves to C too, the header writer.  GDCM is
 * never given a file's bytes: the structure of a file is walked by a
 * bounded parser of our own, in C (fs/dicom_parse.c says why), which asks
 * here for the VRs of implicit-VR files (dicom_dict_vr_get()).
 *
 * Every function that calls into GDCM catches every exception.
 */
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

extern "C" int dicom_dict_vr_get(uint32_t tag, const char *creator,
				 char vr[3])
{
	try {
		dict_vr(tag, creator, vr);
		return 0;
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -EBADMSG;
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
