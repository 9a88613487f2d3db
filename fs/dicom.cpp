/*
 * dicom.cpp - the only C++ of deidfs: the part of the DICOM bridge that
 * needs GDCM (fs/dicom.h, fs/dicom_impl.h): the public and private
 * data dictionaries, the well-known UIDs, the IOD names, GDCM's version
 * and dicom_init().  GDCM is never given a file's bytes: the structure of
 * a file is walked by a bounded parser of our own, in C (fs/dicom_parse.c
 * says why), which asks here for the VRs of implicit-VR files
 * (dicom_dict_vr_get()); the header is written in C too (dicom_write.c).
 * The one exception is dicom_decode_pixels(): GDCM's codecs decode the
 * pixels for the burned-in text scan, only ever in the scan's worker
 * process (fs/scan_pool.c), which limits its memory and time, so that a
 * codec that crashes or hangs on a hostile file costs that file only.
 *
 * Every function that calls into GDCM catches every exception.
 */
#include "dicom.h"
#include "dicom_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <istream>
#include <new>
#include <streambuf>


#include <gdcmDefs.h>
#include <gdcmDict.h>
#include <gdcmMediaStorage.h>
#include <gdcmDicts.h>
#include <gdcmGlobal.h>
#include <gdcmImageReader.h>
#include <gdcmPrivateTag.h>
#include <gdcmTag.h>
#include <gdcmTrace.h>
#include <gdcmUIDs.h>
#include <gdcmVM.h>
#include <gdcmVersion.h>
#include <gdcmVR.h>

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

/* dict_tab's entries by tag: an open-addressed table of indices + 1 (0:
 * empty), a power of two at least twice the entries, built with it.  The
 * parser and the rules ask several times per element. */
uint32_t *dict_hash;
size_t dict_hmask;

size_t dict_slot(uint32_t tag)
{
	return (size_t)((tag * 0x9e3779b1u) >> 7) & dict_hmask;
}

void dict_hash_build()
{
	size_t cap = 1, i;

	while (cap < dict_n * 2 + 2)
		cap *= 2;
	dict_hash = (uint32_t *)calloc(cap, sizeof(*dict_hash));
	if (!dict_hash)
		return;		/* the binary search serves */
	dict_hmask = cap - 1;
	for (i = 0; i < dict_n; i++) {
		size_t h = dict_slot(dict_tab[i].tag);

		while (dict_hash[h])
			h = (h + 1) & dict_hmask;
		dict_hash[h] = (uint32_t)i + 1;
	}
}

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
		dict_hash_build();
	} catch (...) {
		dict_n = 0;
	}
}

const dict_ent *dict_find(uint32_t tag)
{
	size_t lo = 0, hi;

	pthread_once(&dict_once, dict_build);
	if (dict_hash) {
		for (size_t h = dict_slot(tag); dict_hash[h];
		     h = (h + 1) & dict_hmask)
			if (dict_tab[dict_hash[h] - 1].tag == tag)
				return &dict_tab[dict_hash[h] - 1];
		return NULL;
	}
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

namespace {

/* ---- dictionary VRs -------------------------------------------------- */

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
		const dict_ent *d = dict_find(tag);

		if (d) {
			gdcm_vr_str((gdcm::VR::VRType)d->vr, vr);
			return;
		}
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
	if (dicom_dict_vr_get(tag, creator, vr))
		dicom_vr_set(vr, "UN");
}


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

/* ---- pixel decoding (the scan worker only) ----------------------------- */

namespace {

/* A read-only std::streambuf over a struct dicom_source, so that GDCM
 * reads exactly the bytes the caller gives it (the published file, or the
 * source), never a path. */
class src_buf : public std::streambuf {
public:
	explicit src_buf(const struct dicom_source *src) : src_(src), base_(0)
	{
		setg(buf_, buf_, buf_);
	}

protected:
	int_type underflow() override
	{
		if (gptr() < egptr())
			return traits_type::to_int_type(*gptr());
		base_ += (uint64_t)(egptr() - eback());
		if (base_ >= src_->size) {
			setg(buf_, buf_, buf_);
			return traits_type::eof();
		}
		ssize_t r = src_->pread(src_->ctx, buf_, sizeof(buf_), base_);
		if (r <= 0) {
			setg(buf_, buf_, buf_);
			return traits_type::eof();
		}
		setg(buf_, buf_, buf_ + r);
		return traits_type::to_int_type(*gptr());
	}
	pos_type seekoff(off_type off, std::ios_base::seekdir dir,
			 std::ios_base::openmode) override
	{
		int64_t cur = (int64_t)base_ + (gptr() - eback()), to;

		if (dir == std::ios_base::beg)
			to = (int64_t)off;
		else if (dir == std::ios_base::cur)
			to = cur + (int64_t)off;
		else
			to = (int64_t)src_->size + (int64_t)off;
		if (to < 0)
			return pos_type(off_type(-1));
		base_ = (uint64_t)to;
		setg(buf_, buf_, buf_);
		return pos_type(to);
	}
	pos_type seekpos(pos_type pos, std::ios_base::openmode m) override
	{
		return seekoff(off_type(pos), std::ios_base::beg, m);
	}

private:
	const struct dicom_source *src_;
	uint64_t base_;		/* offset of eback() */
	char buf_[1 << 16];
};

} /* namespace */

extern "C" int dicom_decode_pixels(const struct dicom_source *src,
				   uint64_t max_bytes, struct dicom_pixels *out)
{
	memset(out, 0, sizeof(*out));
	try {
		src_buf sb(src);
		std::istream is(&sb);
		gdcm::ImageReader reader;

		reader.SetStream(is);
		if (!reader.Read())
			return -EBADMSG;
		const gdcm::Image &img = reader.GetImage();
		const unsigned int *dims = img.GetDimensions();
		const gdcm::PixelFormat &pf = img.GetPixelFormat();
		gdcm::PhotometricInterpretation pi =
			img.GetPhotometricInterpretation();
		unsigned int nd = img.GetNumberOfDimensions();
		unsigned long blen = img.GetBufferLength();

		if (!dims || dims[0] == 0 || dims[1] == 0 ||
		    (nd == 3 && dims[2] == 0))
			return -EBADMSG;
		out->cols = dims[0];
		out->rows = dims[1];
		out->frames = nd == 3 ? dims[2] : 1;
		out->samples = pf.GetSamplesPerPixel();
		out->bits_allocated = pf.GetBitsAllocated();
		out->bits_stored = pf.GetBitsStored();
		out->is_signed = pf.GetPixelRepresentation() ? 1 : 0;
		out->planar = img.GetPlanarConfiguration() ? 1 : 0;
		switch (pi) {
		case gdcm::PhotometricInterpretation::MONOCHROME1:
			out->mono1 = 1;
			break;
		case gdcm::PhotometricInterpretation::MONOCHROME2:
		case gdcm::PhotometricInterpretation::RGB:
			break;
		case gdcm::PhotometricInterpretation::YBR_FULL:
		case gdcm::PhotometricInterpretation::YBR_FULL_422:
		case gdcm::PhotometricInterpretation::YBR_RCT:
		case gdcm::PhotometricInterpretation::YBR_ICT:
			out->ybr = 1;
			break;
		default:	/* palettes, YBR_PARTIAL...: not read here */
			return -ENOTSUP;
		}
		if ((out->samples != 1 && out->samples != 3) ||
		    (out->bits_allocated != 8 && out->bits_allocated != 16) ||
		    (out->samples == 3) != (pi != gdcm::PhotometricInterpretation::MONOCHROME1 &&
					    pi != gdcm::PhotometricInterpretation::MONOCHROME2))
			return -ENOTSUP;
		uint64_t want = (uint64_t)out->rows * out->cols * out->frames *
				out->samples * (out->bits_allocated / 8);
		if (want > max_bytes || blen < want)
			return want > max_bytes ? -E2BIG : -EBADMSG;
		out->buf = (uint8_t *)malloc(blen ? blen : 1);
		if (!out->buf)
			return -ENOMEM;
		if (!img.GetBuffer((char *)out->buf)) {
			dicom_pixels_free(out);
			return -EBADMSG;
		}
		out->len = want;
		/* The codec's output may be other than the header says: a
		 * JPEG decoder hands back RGB for YBR_FULL_422. */
		pi = img.GetPhotometricInterpretation();
		if (pi == gdcm::PhotometricInterpretation::RGB)
			out->ybr = 0;
		return 0;
	} catch (const std::bad_alloc &) {
		dicom_pixels_free(out);
		return -ENOMEM;
	} catch (...) {
		dicom_pixels_free(out);
		return -EBADMSG;
	}
}

extern "C" void dicom_pixels_free(struct dicom_pixels *px)
{
	if (!px)
		return;
	free(px->buf);
	memset(px, 0, sizeof(*px));
}

namespace {
/* The tag of a public attribute by its keyword or (by_name) its name: a
 * walk of the whole dictionary, for rare callers. */
int dict_tag_of(const char *s, bool by_name, uint32_t *tag)
{
	if (!s || !*s || !tag)
		return -EINVAL;
	try {
		gdcm::Tag t(0xffff, 0xffff);
		const gdcm::Dict &d =
			gdcm::Global::GetInstance().GetDicts().GetPublicDict();

		if (by_name)
			d.GetDictEntryByName(s, t);
		else
			d.GetDictEntryByKeyword(s, t);
		if (t == gdcm::Tag(0xffff, 0xffff))
			return -ENOENT;
		*tag = t.GetElementTag();
		return 0;
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	} catch (...) {
		return -ENOENT;
	}
}
} // namespace

extern "C" int dicom_dict_tag_of_name(const char *name, uint32_t *tag)
{
	return dict_tag_of(name, true, tag);
}

extern "C" int dicom_dict_tag_of(const char *keyword, uint32_t *tag)
{
	return dict_tag_of(keyword, false, tag);
}
