/*
 * fuzz_dicom.c - libFuzzer target: the whole header path of one file from
 * bytes, as deidfs serves it.
 *
 *   1. analysis_run() over a memfd holding the input: parse, classify,
 *      de-identify (basic profile), write the header, exactly the code every
 *      open and every export runs (with audit collection, as the index
 *      refresh does);
 *   2. the same pipeline step by step (dicom_parse over a memory source,
 *      rules_classify, rules_apply, dicom_write_header) on copies of the
 *      parsed dataset: with the basic profile and with every retain option
 *      plus a white list, each once with the original PatientName value and
 *      once with it overwritten by 'Q's.
 *
 * Properties (a violation aborts, so libFuzzer reports it):
 *   - a file either gets a header or a quarantine status (never "OK" and
 *     no header); the pixel range lies inside the source;
 *   - the served file (header + source pixel range) parses again, with the
 *     same pixel data length;
 *   - basic profile: no private attribute, overlay or curve at any depth;
 *     PatientName and PatientID are the pseudonym; every other PN value is
 *     empty or the dummy; PatientIdentityRemoved is YES;
 *   - the output does not depend on the PatientName value at all: with the
 *     value overwritten, the header bytes are identical (this is the exact
 *     form of "never emits the original header": the name can't leak by any
 *     path, including as a substring of something else); in particular the
 *     output never contains the PatientName value when it is >= 6 bytes long
 *     and occurs nowhere else in the input;
 *   - the step-by-step pipeline gives the same bytes as analysis_run (fd and
 *     memory sources agree; the same input always gives the same bytes).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analyze.h"
#include "fuzz_common.h"
#include "dicom.h"
#include "keyed.h"
#include "rules.h"
#include "../mem_source.h"

#define SOP_CLASS_DICOMDIR "1.2.840.10008.1.3.10"
#define TAG_PATIENT_NAME DCM_TAG(0x0010, 0x0010)
#define TAG_PATIENT_ID DCM_TAG(0x0010, 0x0020)
#define TAG_SOP_UID DCM_TAG(0x0008, 0x0018)
#define TAG_ID_REMOVED DCM_TAG(0x0012, 0x0062)

#define RICH_OPTIONS                                                      \
	(RULES_RTN_SAFE_PRIVATE | RULES_RTN_DEVICE_ID |                   \
	 RULES_RTN_INSTITUTION_ID | RULES_RTN_PATIENT_CHARS |             \
	 RULES_RTN_LONG_MODIF_DATES | RULES_CLEAN_DESCRIPTORS)

static const uint8_t key[KEYED_KEY_LEN] = "deidfs fuzz key, not a secret!!";
static struct rules *rules;
static struct rules_whitelist *wl;
static int memfd = -1;

#define CHECK FUZZ_CHECK

static int map_uid(void *arg, const char *uid, char *out, size_t outsz)
{
	return keyed_uid(key, uid, strlen(uid), out, outsz);
}

/* The served file: header, then the source pixel range (if any). */
struct served {
	uint8_t *b;
	size_t n, hlen;
};

static void served_free(struct served *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}

static void served_make(struct served *s, const uint8_t *hdr, size_t hlen,
			const uint8_t *src, size_t srclen, uint64_t off,
			uint64_t len)
{
	CHECK(off <= srclen && len <= srclen - off,
	      "pixel range inside the source");
	s->n = hlen + (size_t)len;
	s->hlen = hlen;
	s->b = malloc(s->n ? s->n : 1);
	CHECK(s->b, "malloc");
	memcpy(s->b, hdr, hlen);
	if (len)
		memcpy(s->b + hlen, src + off, (size_t)len);
}

/*
 * Step by step, as analysis_run() does it, on a copy of the parsed source.
 * Returns 1 with *s filled when a header was produced, 0 otherwise.
 */
static int pipeline(const struct dicom_parsed *p, const uint8_t *data,
		    size_t size, unsigned opts, int scrub, struct served *s)
{
	struct dicom_parsed q = *p;	/* shallow: ds replaced below */
	struct rules_ctx rc;
	struct dcm_elem *pn;
	char pid[256], pname[512], pseudo[KEYED_PSEUDONYM_LEN + 1], sop[128];
	uint8_t *hdr = NULL;
	size_t hlen = 0;
	int ok = 0;

	memset(s, 0, sizeof(*s));
	memset(&q.ds, 0, sizeof(q.ds));
	CHECK(dcm_ds_copy(&q.ds, &p->ds) == 0, "dcm_ds_copy");
	if (strcmp(q.sop_class_uid, SOP_CLASS_DICOMDIR) == 0)
		goto out;
	pn = dcm_ds_get(&q.ds, TAG_PATIENT_NAME);
	if (scrub && pn && pn->val)
		memset(pn->val, 'Q', pn->len);
	if (!dcm_ds_get_str(&q.ds, TAG_PATIENT_ID, pid, sizeof(pid)) ||
	    keyed_pseudonym(key, pid, strlen(pid), pseudo, sizeof(pseudo)))
		goto out;
	(void)rules_classify(&q.ds, "MG,OT");
	memset(&rc, 0, sizeof(rc));
	rc.options = opts;
	rc.wl = (opts & RULES_CLEAN_DESCRIPTORS) ? wl : NULL;
	rc.pseudonym = pseudo;
	rc.iod_name = dicom_iod_name(q.sop_class_uid);
	/* as analysis_run(): the original ID and name (of p, before any
	 * scrubbing, so that both runs of differential() screen alike) */
	rc.patient_id = pid;
	if (dcm_ds_get_str(&p->ds, TAG_PATIENT_NAME, pname, sizeof(pname)))
		rc.patient_name = pname;
	rc.date_shift_days = keyed_date_shift(key, pid, strlen(pid));
	rc.map_uid = map_uid;
	if (!analysis_sop_class_ok(&q))
		goto out;
	if (rules_apply(rules, &rc, &q.ds))
		goto out;
	if (q.has_pixel && !q.pixel_encapsulated) {
		uint64_t want;

		if (analysis_native_pixel_len(&q, &want))
			goto out;
		if (q.pixel_len > want)
			q.pixel_len = want;
	}
	if (!dcm_ds_get_str(&q.ds, TAG_SOP_UID, sop, sizeof(sop)))
		goto out;
	if (dicom_write_header(&q.ds, &q, q.sop_class_uid, sop, &hdr, &hlen))
		goto out;
	if (q.has_pixel && q.deflated) {
		/* served inflated, a range of the inflated dataset */
		uint8_t *px = mem_inflated(data, size, &q.deflate, q.pixel_off,
					   q.pixel_len);

		CHECK(px, "the pixel data of a deflated source inflates");
		served_make(s, hdr, hlen, px, (size_t)q.pixel_len, 0,
			    q.pixel_len);
		free(px);
	} else if (q.has_pixel) {
		served_make(s, hdr, hlen, data, size, q.pixel_off,
			    q.pixel_len);
	} else {
		served_make(s, hdr, hlen, data, size, 0, 0);
	}
	ok = 1;
out:
	free(hdr);
	dcm_ds_free(&q.ds);	/* q's other pointers belong to p */
	return ok;
}

/* Basic profile: nothing private, no overlay/curve, no stray name. */
static void check_basic_ds(const struct dcm_ds *ds, unsigned depth,
			   const char *pseudo)
{
	uint32_t i, k;

	for (i = 0; i < ds->n; i++) {
		const struct dcm_elem *e = &ds->el[i];
		uint16_t g = DCM_GROUP(e->tag);
		char v[80];

		CHECK(!(g & 1), "no private attribute in the output");
		CHECK(!(g >= 0x6000 && g <= 0x601e) &&
			      !(g >= 0x5000 && g <= 0x501e),
		      "no overlay or curve in the output");
		if (depth == 0 && e->tag == TAG_PATIENT_ID) {
			dcm_elem_str(e, v, sizeof(v));
			CHECK(strcmp(v, pseudo) == 0,
			      "PatientID is the pseudonym");
		} else if (depth == 0 && e->tag == TAG_PATIENT_NAME) {
			dcm_elem_str(e, v, sizeof(v));
			CHECK(strlen(v) == strlen(pseudo) + 1 &&
				      !strncmp(v, pseudo, strlen(pseudo)) &&
				      v[strlen(pseudo)] == '^',
			      "PatientName is the pseudonym^");
		} else if (strcmp(e->vr, "PN") == 0) {
			dcm_elem_str(e, v, sizeof(v));
			CHECK(v[0] == 0 || strcmp(v, "ANONYMIZED^") == 0,
			      "every other PN is empty or the dummy");
		}
		for (k = 0; k < e->nitems; k++)
			check_basic_ds(&e->items[k], depth + 1, pseudo);
	}
}

/* The served file parses again, with the same pixel data. */
static void check_reparse(const struct served *s, const struct dicom_parsed *p,
			  const char *pseudo, int basic)
{
	struct dicom_parsed r;
	char v[16];

	CHECK(parse_mem(s->b, s->n, &r) == 0, "output parses again");
	CHECK(r.has_pixel == p->has_pixel, "pixel data kept");
	CHECK(!p->has_pixel || r.pixel_len == p->pixel_len,
	      "pixel data length kept");
	dcm_ds_get_str(&r.ds, TAG_ID_REMOVED, v, sizeof(v));
	CHECK(strcmp(v, "YES") == 0, "PatientIdentityRemoved YES");
	if (basic)
		check_basic_ds(&r.ds, 0, pseudo);
	dicom_parsed_free(&r);
}

static size_t count(const uint8_t *h, size_t hn, const char *n, size_t nn)
{
	size_t c = 0;
	const uint8_t *at = h;

	while (hn >= nn && (at = memmem(h, hn, n, nn))) {
		c++;
		hn -= (size_t)(at - h) + 1;
		h = at + 1;
	}
	return c;
}

/* Run one option set with and without the PatientName value. */
static void differential(const struct dicom_parsed *p, const uint8_t *data,
			 size_t size, unsigned opts, const char *name,
			 const char *pseudo, const struct served *ref)
{
	struct served a, b;
	int oka, okb;
	size_t nl = strlen(name);

	oka = pipeline(p, data, size, opts, 0, &a);
	okb = pipeline(p, data, size, opts, 1, &b);
	CHECK(oka == okb, "success does not depend on PatientName");
	if (ref) {
		CHECK(oka == (ref->b != NULL),
		      "memory pipeline agrees with analysis_run");
		CHECK(!oka || (a.n == ref->n && !memcmp(a.b, ref->b, a.n)),
		      "memory pipeline gives analysis_run's bytes");
	}
	if (oka) {
		CHECK(a.n == b.n && !memcmp(a.b, b.b, a.n),
		      "output does not depend on PatientName");
		if (nl >= 6 && count(data, size, name, nl) == 1)
			CHECK(!memmem(a.b, a.hlen, name, nl),
			      "PatientName value absent from the output");
		check_reparse(&a, p, pseudo, opts == 0);
	}
	served_free(&a);
	served_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char wl_json[] =
		"{\"0008,103E\": [\"L CC\", \"R MLO\", \"Screening\"],"
		" \"0008,1030\": [\"Mammografi screening\"],"
		" \"0008,0104\": [\"medio-lateral oblique\"]}";
	char err[128];

	if (dicom_init() || rules_new(&rules) ||
	    rules_whitelist_parse(wl_json, strlen(wl_json), &wl, err,
				  sizeof(err)))
		abort();
	memfd = memfd_create("fuzz_dicom", 0);
	if (memfd < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct analysis_input in;
	struct analysis an;
	struct dicom_parsed p;
	struct served ref = { NULL, 0, 0 };
	char name[256], pid[256], pseudo[KEYED_PSEUDONYM_LEN + 1] = "";
	int err;

	/* 1. the real path, from a file descriptor */
	CHECK(ftruncate(memfd, 0) == 0 &&
		      pwrite(memfd, data, size, 0) == (ssize_t)size,
	      "memfd write");
	memset(&in, 0, sizeof(in));
	in.rules = rules;
	in.key = key;
	in.modalities = "MG,OT";
	memset(&an, 0, sizeof(an));
	an.collect = 1;
	err = analysis_run(&in, memfd, &an);
	CHECK(err == 0 || err == -ENOMEM, "analysis_run: 0 or -ENOMEM");
	if (err)
		return 0;
	CHECK(an.header || an.rec.status != RULES_OK,
	      "a header or a quarantine reason");
	if (an.header && an.inflated) {
		uint8_t *px = mem_inflated(data, size, &an.deflate, an.src_off,
					   an.src_len);

		CHECK(px, "the pixel data of a deflated source inflates");
		served_make(&ref, an.header, an.header_len, px,
			    (size_t)an.src_len, 0, an.src_len);
		free(px);
	} else if (an.header) {
		served_make(&ref, an.header, an.header_len, data, size,
			    an.src_off, an.src_len);
	}

	/* 2. step by step, from memory */
	err = parse_mem(data, size, &p);
	CHECK(err == 0 || err == -EBADMSG || err == -ENOMEM,
	      "dicom_parse: 0, -EBADMSG or -ENOMEM");
	if (!err) {
		dcm_ds_get_str(&p.ds, TAG_PATIENT_NAME, name, sizeof(name));
		if (dcm_ds_get_str(&p.ds, TAG_PATIENT_ID, pid, sizeof(pid)))
			keyed_pseudonym(key, pid, strlen(pid), pseudo,
					sizeof(pseudo));
		differential(&p, data, size, 0, name, pseudo, &ref);
		differential(&p, data, size, RICH_OPTIONS, name, pseudo, NULL);
		dicom_parsed_free(&p);
	} else {
		CHECK(!an.header, "fd and memory sources agree");
	}
	served_free(&ref);
	analysis_clear(&an);
	return 0;
}
