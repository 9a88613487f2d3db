/*
 * test_dicom.c - the DICOM bridge: round trips over tests/data and over
 * synthetic files built here, malformed inputs, dictionary and UID lookups.
 * Run from the repository root (tests/data is found relative to it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcm.h"
#include "dicom.h"
#include "../mem_source.h"

/* ---- byte builder ----------------------------------------------------- */

struct bb {
	uint8_t *p;
	size_t n, cap;
	int be, expl;
};

static void bb_put(struct bb *b, const void *v, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, v, n);
	b->n += n;
}

static void bb16(struct bb *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	if (b->be) {
		x[0] = (uint8_t)(v >> 8);
		x[1] = (uint8_t)v;
	}
	bb_put(b, x, 2);
}

static void bb32(struct bb *b, uint32_t v)
{
	if (b->be) {
		bb16(b, (uint16_t)(v >> 16));
		bb16(b, (uint16_t)v);
	} else {
		bb16(b, (uint16_t)v);
		bb16(b, (uint16_t)(v >> 16));
	}
}

static int vr32(const char *vr)
{
	static const char l[] = "OBODOFOLOVOWSQSVUCUNURUTUV";

	for (size_t i = 0; l[i]; i += 2)
		if (l[i] == vr[0] && l[i + 1] == vr[1])
			return 1;
	return 0;
}

/* Element header in b's encoding. */
static void bb_hdr(struct bb *b, uint16_t g, uint16_t e, const char *vr,
		   uint32_t len)
{
	bb16(b, g);
	bb16(b, e);
	if (!b->expl || g == 0xfffe) {
		bb32(b, len);
		return;
	}
	bb_put(b, vr, 2);
	if (vr32(vr)) {
		bb16(b, 0);
		bb32(b, len);
	} else {
		bb16(b, (uint16_t)len);
	}
}

static void bb_el(struct bb *b, uint16_t g, uint16_t e, const char *vr,
		  const void *v, uint32_t len)
{
	bb_hdr(b, g, e, vr, len);
	bb_put(b, v, len);
}

static void bb_str(struct bb *b, uint16_t g, uint16_t e, const char *vr,
		   const char *s)
{
	bb_el(b, g, e, vr, s, (uint32_t)strlen(s));
}

/* UI value, NUL-padded to even length. */
static void bb_uid(struct bb *b, uint16_t g, uint16_t e, const char *uid)
{
	size_t n = strlen(uid);

	bb_el(b, g, e, "UI", uid, (uint32_t)((n + 1) & ~(size_t)1));
}

/* Preamble and explicit LE meta with transfer syntax ts. */
static void bb_meta(struct bb *b, const char *ts)
{
	struct bb m = {0};
	uint8_t zero[128] = {0};
	m.expl = 1;
	bb_el(&m, 2, 1, "OB", "\0\1", 2);
	bb_uid(&m, 2, 2, "1.2.840.10008.5.1.4.1.1.7");
	bb_uid(&m, 2, 3, "1.2.3.4");
	bb_uid(&m, 2, 0x10, ts);
	bb_put(b, zero, 128);
	bb_put(b, "DICM", 4);
	{
		int be = b->be, ex = b->expl;

		b->be = 0;
		b->expl = 1;
		bb_hdr(b, 2, 0, "UL", 4);
		bb32(b, (uint32_t)m.n);
		bb_put(b, m.p, m.n);
		b->be = be;
		b->expl = ex;
	}
	free(m.p);
}

/*
 * A small dataset exercising what matters: strings, a binary US value, a
 * private block, a defined-length and an undefined-length sequence with a
 * nested one, then native (or encapsulated) pixel data and a trailing
 * element that must be dropped.
 */
static void bb_dataset(struct bb *b, int encapsulated)
{
	static const uint8_t pix[16] = {1, 2, 3, 4, 5, 6, 7, 8,
					9, 10, 11, 12, 13, 14, 15, 16};
	struct bb item = {0};
	uint16_t rows = 2;

	item.be = b->be;
	item.expl = b->expl;
	bb_uid(&item, 8, 0x1150, "1.2.840.10008.5.1.4.1.1.7");
	bb_uid(&item, 8, 0x1155, "1.2.3.4.5.6");

	bb_uid(b, 8, 0x16, "1.2.840.10008.5.1.4.1.1.7");
	bb_uid(b, 8, 0x18, "1.2.3.4.5.6");
	bb_str(b, 8, 0x1110, "SQ", "");	/* empty SQ, defined length 0 */
	/* defined-length sequence, one defined-length item */
	bb_hdr(b, 8, 0x1140, "SQ", (uint32_t)item.n + 8);
	bb_hdr(b, 0xfffe, 0xe000, "", (uint32_t)item.n);
	bb_put(b, item.p, item.n);
	bb_str(b, 0x10, 0x10, "PN", "Doe^Jane");
	bb_str(b, 0x10, 0x20, "LO", "MRN0042 ");
	/* undefined-length sequence with a nested undefined one */
	bb_hdr(b, 0x10, 0x1002, "SQ", 0xffffffff);
	bb_hdr(b, 0xfffe, 0xe000, "", 0xffffffff);
	bb_str(b, 0x10, 0x20, "LO", "OTHER1");
	bb_hdr(b, 0x40, 0x275, "SQ", 0xffffffff);
	bb_hdr(b, 0xfffe, 0xe000, "", 0xffffffff);
	bb_str(b, 0x40, 0x1001, "SH", "TEXT");
	bb_hdr(b, 0xfffe, 0xe00d, "", 0);
	bb_hdr(b, 0xfffe, 0xe0dd, "", 0);
	bb_hdr(b, 0xfffe, 0xe00d, "", 0);
	bb_hdr(b, 0xfffe, 0xe0dd, "", 0);
	bb_el(b, 0x28, 0, "UL", "\0\0\0\0", 4);	/* group length: dropped */
	bb16(b, 0x28);
	bb16(b, 0x10);
	if (b->expl) {
		bb_put(b, "US", 2);
		bb16(b, 2);
	} else {
		bb32(b, 2);
	}
	bb16(b, rows);
	bb_str(b, 0x29, 0x10, "LO", "ACME 1.0");
	bb_str(b, 0x29, 0x1001, "LO", "secret");
	/* a private sequence stored as UN: implicit VR LE inside (CP-246) */
	{
		static const uint8_t un[] = {
			0xfe, 0xff, 0x00, 0xe0, 16, 0, 0, 0,	/* item */
			0x10, 0x00, 0x10, 0x00, 8, 0, 0, 0,	/* PN */
			'H', 'i', 'd', 'd', 'e', 'n', '^', 'X',
		};
		bb_el(b, 0x29, 0x1002, "UN", un, sizeof(un));
	}
	if (!encapsulated) {
		bb_el(b, 0x7fe0, 0x10, "OW", pix, sizeof(pix));
	} else {
		bb_hdr(b, 0x7fe0, 0x10, "OB", 0xffffffff);
		bb_hdr(b, 0xfffe, 0xe000, "", 0);	/* empty BOT */
		bb_hdr(b, 0xfffe, 0xe000, "", 6);
		bb_put(b, pix, 6);
		bb_hdr(b, 0xfffe, 0xe000, "", 10);
		bb_put(b, pix + 6, 10);
		bb_hdr(b, 0xfffe, 0xe0dd, "", 0);
	}
	bb_el(b, 0xfffc, 0xfffc, "OB", "\0\0", 2);	/* after pixels */
	free(item.p);
}

/* ---- comparison and round trip ---------------------------------------- */

static int ds_equal(const struct dcm_ds *a, const struct dcm_ds *b)
{
	uint32_t i, j;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		const struct dcm_elem *x = &a->el[i], *y = &b->el[i];

		if (x->tag != y->tag || strcmp(x->vr, y->vr) ||
		    x->encapsulated != y->encapsulated || x->len != y->len ||
		    x->nitems != y->nitems)
			return 0;
		if (x->len && memcmp(x->val, y->val, x->len))
			return 0;
		for (j = 0; j < x->nitems; j++)
			if (!ds_equal(&x->items[j], &y->items[j]))
				return 0;
	}
	return 1;
}

/* The writer refuses what is not a UID; damaged inputs may carry one. */
static const char *uid_or(const char *uid, const char *dflt)
{
	size_t i;

	for (i = 0; uid[i]; i++)
		if (!((uid[i] >= '0' && uid[i] <= '9') || uid[i] == '.'))
			return dflt;
	return i ? uid : dflt;
}

/* The pixel value as served: a range of the file, or of the inflated
 * dataset (then a copy, freed with the file's cleanup: *owned). */
static const uint8_t *pixel_bytes(const struct dicom_parsed *p,
				  const uint8_t *file, size_t n,
				  uint8_t **owned)
{
	if (!p->deflated)
		return file + p->pixel_off;
	if (!*owned)
		*owned = mem_inflated(file, n, &p->deflate, p->pixel_off,
				      p->pixel_len);
	assert_non_null(*owned);
	return *owned;
}

/*
 * Parse, write a header for the same dataset, append the pixel bytes, parse
 * the result: everything must match.  Returns 1 when the input parsed, 0
 * when it was rejected (which must be -EBADMSG).
 */
static int roundtrip(const uint8_t *file, size_t n)
{
	struct dicom_parsed a, b;
	char inst[65];
	const char *sop;
	uint8_t *hdr = NULL, *hdr2 = NULL, *out, *inflated = NULL;
	size_t hlen = 0, hlen2 = 0;
	int err;

	err = parse_mem(file, n, &a);
	if (err) {
		assert_int_equal(err, -EBADMSG);
		return 0;
	}
	assert_true(a.trailing_off == a.pixel_off + a.pixel_len ||
		    !a.has_pixel);
	if (!a.deflated)
		assert_true(!a.has_pixel || a.trailing_off <= n);
	dcm_ds_get_str(&a.ds, DCM_TAG(8, 0x18), inst, sizeof(inst));
	sop = uid_or(a.sop_class_uid, "1.2.3");
	err = dicom_write_header(&a.ds, &a, sop, uid_or(inst, "1.2.3.4"),
				 &hdr, &hlen);
	assert_int_equal(err, 0);
	/* deterministic */
	assert_int_equal(dicom_write_header(&a.ds, &a, sop,
					    uid_or(inst, "1.2.3.4"), &hdr2,
					    &hlen2),
			 0);
	assert_int_equal(hlen, hlen2);
	assert_memory_equal(hdr, hdr2, hlen);
	free(hdr2);

	out = malloc(hlen + a.pixel_len + 1);
	assert_non_null(out);
	memcpy(out, hdr, hlen);
	if (a.has_pixel)
		memcpy(out + hlen, pixel_bytes(&a, file, n, &inflated),
		       a.pixel_len);
	err = parse_mem(out, hlen + a.pixel_len, &b);
	assert_int_equal(err, 0);
	assert_true(ds_equal(&a.ds, &b.ds));
	assert_string_equal(b.ts_uid, dicom_output_ts(&a));
	assert_int_equal(b.has_meta, 1);
	assert_int_equal(b.has_pixel, a.has_pixel);
	assert_int_equal(b.big_endian, a.big_endian);
	if (a.has_pixel) {
		assert_int_equal(b.pixel_off, hlen);
		assert_int_equal(b.pixel_len, a.pixel_len);
		assert_int_equal(b.pixel_encapsulated, a.pixel_encapsulated);
		assert_string_equal(b.pixel_vr, a.pixel_vr);
		assert_memory_equal(out + b.pixel_off,
				    pixel_bytes(&a, file, n, &inflated),
				    a.pixel_len);
	}
	dicom_parsed_free(&b);
	dicom_parsed_free(&a);
	free(out);
	free(hdr);
	free(inflated);
	return 1;
}

/* Regular files below dir (MANIFEST.tsv and README.md aside). */
static int count_files(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.' || (!depth &&
		    (!strcmp(de->d_name, "MANIFEST.tsv") ||
		     !strcmp(de->d_name, "README.md"))))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode) && depth < 4)
			n += count_files(path, depth + 1);
		else if (S_ISREG(st.st_mode))
			n++;
	}
	closedir(d);
	return n;
}

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long sz;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		p = malloc((size_t)sz + 1);
		if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
			free(p);
			p = NULL;
		}
		*n = (size_t)sz;
	}
	fclose(f);
	return p;
}

/* ---- tests ------------------------------------------------------------ */

/*
 * Every sample of tests/data has the outcome its MANIFEST.tsv row states
 * (column "outcome"): "parses" (and then round-trips through the writer) or
 * "rejected" (-EBADMSG).  Every file on disk is listed.
 */
static void test_data_dir(void **state)
{
	FILE *m = fopen("tests/data/MANIFEST.tsv", "r");
	char line[8192];
	int col = -1, rows = 0, parsed = 0, rejected = 0;

	(void)state;
	assert_non_null(m);	/* run from the project root */
	while (fgets(line, sizeof(line), m)) {
		char *f[16], *save = NULL, *t, path[4096];
		int nf = 0, i;
		uint8_t *p;
		size_t n = 0;

		line[strcspn(line, "\n")] = 0;
		for (t = strtok_r(line, "\t", &save); t && nf < 16;
		     t = strtok_r(NULL, "\t", &save))
			f[nf++] = t;
		if (col < 0) {	/* the header */
			for (i = 0; i < nf; i++)
				if (!strcmp(f[i], "outcome"))
					col = i;
			assert_true(col > 0);
			continue;
		}
		assert_true(nf > col);
		snprintf(path, sizeof(path), "tests/data/%s", f[0]);
		p = slurp(path, &n);
		assert_non_null(p);
		if (!strcmp(f[col], "parses")) {
			if (!roundtrip(p, n))
				fail_msg("%s: rejected, MANIFEST says parses",
					 f[0]);
			parsed++;
		} else {
			assert_string_equal(f[col], "rejected");
			if (roundtrip(p, n))
				fail_msg("%s: parses, MANIFEST says rejected",
					 f[0]);
			rejected++;
		}
		free(p);
		rows++;
	}
	fclose(m);
	print_message("tests/data: %d parse and round-trip, %d rejected, as "
		      "MANIFEST.tsv says\n", parsed, rejected);
	assert_true(parsed >= 15 && rejected >= 3);
	assert_int_equal(rows, count_files("tests/data", 0));
}

static void synth(struct bb *b, const char *ts, int be, int expl, int meta,
		  int encapsulated)
{
	memset(b, 0, sizeof(*b));
	if (meta)
		bb_meta(b, ts);
	b->be = be;
	b->expl = expl;
	bb_dataset(b, encapsulated);
}

static void test_synthetic(void **state)
{
	static const struct {
		const char *ts;
		int be, expl, meta, encaps;
	} cases[] = {
		{DICOM_TS_EXPLICIT_LE, 0, 1, 1, 0},
		{DICOM_TS_IMPLICIT_LE, 0, 0, 1, 0},
		{DICOM_TS_EXPLICIT_BE, 1, 1, 1, 0},
		{"1.2.840.10008.1.2.4.70", 0, 1, 1, 1},
		{NULL, 0, 0, 0, 0},	/* raw implicit, no meta */
		{NULL, 0, 1, 0, 0},	/* raw explicit, no meta */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dicom_parsed p;
		struct dcm_elem *e;
		struct bb b;
		char s[65];

		synth(&b, cases[i].ts, cases[i].be, cases[i].expl,
		      cases[i].meta, cases[i].encaps);
		assert_int_equal(parse_mem(b.p, b.n, &p), 0);
		assert_int_equal(p.has_meta, cases[i].meta);
		assert_int_equal(p.big_endian, cases[i].be);
		assert_int_equal(p.explicit_vr, cases[i].expl);
		if (cases[i].ts)
			assert_string_equal(p.ts_uid, cases[i].ts);
		assert_string_equal(p.sop_class_uid,
				    "1.2.840.10008.5.1.4.1.1.7");
		assert_int_equal(p.has_pixel, 1);
		assert_int_equal(p.pixel_encapsulated, cases[i].encaps);
		/* pixel value ends 12 bytes (the FFFC element) before EOF */
		assert_int_equal(p.trailing_off, b.n - (cases[i].expl ? 14 : 10));
		assert_int_equal(p.pixel_len,
				 cases[i].encaps ? 8 + 8 + 6 + 8 + 10 + 8 : 16);
		/* group length, meta and the trailing element are gone */
		assert_null(dcm_ds_get(&p.ds, DCM_TAG(0x28, 0)));
		assert_null(dcm_ds_get(&p.ds, DCM_TAG(0xfffc, 0xfffc)));
		assert_null(dcm_ds_get(&p.ds, DCM_TAG(2, 0x10)));
		/* US value raw as in the file */
		e = dcm_ds_get(&p.ds, DCM_TAG(0x28, 0x10));
		assert_non_null(e);
		assert_string_equal(e->vr, "US");
		assert_int_equal(e->len, 2);
		assert_int_equal(e->val[cases[i].be ? 1 : 0], 2);
		/* private element VR: explicit from file, else UN */
		e = dcm_ds_get(&p.ds, DCM_TAG(0x29, 0x1001));
		assert_non_null(e);
		assert_string_equal(e->vr, cases[i].expl ? "LO" : "UN");
		/* ... UN read as a sequence, except in big endian files */
		e = dcm_ds_get(&p.ds, DCM_TAG(0x29, 0x1002));
		assert_non_null(e);
		if (cases[i].be) {
			assert_string_equal(e->vr, "UN");
		} else {
			assert_string_equal(e->vr, "SQ");
			assert_int_equal(e->nitems, 1);
			assert_true(dcm_ds_get_str(&e->items[0],
						   DCM_TAG(0x10, 0x10), s,
						   sizeof(s)) > 0);
			assert_string_equal(s, "Hidden^X");
		}
		assert_true(dcm_ds_get_str(&p.ds, DCM_TAG(0x10, 0x10), s,
					   sizeof(s)) > 0);
		assert_string_equal(s, "Doe^Jane");
		/* sequences, nested */
		e = dcm_ds_get(&p.ds, DCM_TAG(8, 0x1140));
		assert_non_null(e);
		assert_string_equal(e->vr, "SQ");
		assert_int_equal(e->nitems, 1);
		assert_int_equal(e->items[0].n, 2);
		e = dcm_ds_get(&p.ds, DCM_TAG(8, 0x1110));
		assert_non_null(e);
		assert_string_equal(e->vr, cases[i].expl ? "SQ" : "SQ");
		e = dcm_ds_get(&p.ds, DCM_TAG(0x10, 0x1002));
		assert_non_null(e);
		assert_int_equal(e->nitems, 1);
		e = dcm_ds_get(&e->items[0], DCM_TAG(0x40, 0x275));
		assert_non_null(e);
		assert_string_equal(e->vr, "SQ");
		assert_int_equal(e->nitems, 1);
		assert_int_equal(e->items[0].n, 1);
		dicom_parsed_free(&p);
		assert_int_equal(roundtrip(b.p, b.n), 1);
		free(b.p);
	}
}

static void test_header_layout(void **state)
{
	struct dicom_parsed p;
	uint8_t *h;
	size_t n, glen;
	struct bb b;

	(void)state;
	synth(&b, DICOM_TS_EXPLICIT_LE, 0, 1, 1, 0);
	assert_int_equal(parse_mem(b.p, b.n, &p), 0);
	assert_int_equal(dicom_write_header(&p.ds, &p, "1.2.840.10008.5.1.4.1.1.7",
					    "2.25.1", &h, &n), 0);
	assert_true(n > 132 + 12);
	for (size_t i = 0; i < 128; i++)
		assert_int_equal(h[i], 0);
	assert_memory_equal(h + 128, "DICM", 4);
	assert_memory_equal(h + 132, "\2\0\0\0UL\4\0", 8);
	glen = h[140] | h[141] << 8 | h[142] << 16 | (size_t)h[143] << 24;
	/* the group ends where the dataset begins: (0008,0016) */
	assert_memory_equal(h + 144 + glen, "\x08\0\x16\0UI", 6);
	assert_memory_equal(h + 144, "\2\0\1\0OB\0\0\2\0\0\0\0\1", 14);
	assert_non_null(memmem(h, 144 + glen, DICOM_IMPL_CLASS_UID,
			       strlen(DICOM_IMPL_CLASS_UID)));
	assert_non_null(memmem(h, 144 + glen, "\2\0\3\0UI\6\0" "2.25.1", 14));
	/* ends with the pixel data element header */
	assert_memory_equal(h + n - 12, "\xe0\x7f\x10\0OW\0\0\x10\0\0\0", 12);
	free(h);

	/* bad arguments and unencodable values */
	assert_int_equal(dicom_write_header(&p.ds, &p, "", "2.25.1", &h, &n),
			 -EINVAL);
	{
		char *big = malloc(70000);

		memset(big, 'A', 70000);
		assert_int_equal(dcm_ds_set(&p.ds, DCM_TAG(0x10, 0x4000), "LO",
					    big, 70000), 0);
		assert_int_equal(dicom_write_header(&p.ds, &p, "1.2.3",
						    "2.25.1", &h, &n),
				 -EINVAL);
		free(big);
	}
	dicom_parsed_free(&p);
	free(b.p);
}

static void expect_bad(const uint8_t *p, size_t n)
{
	struct dicom_parsed d;

	assert_int_equal(parse_mem(p, n, &d), -EBADMSG);
	/* released and zeroed on failure */
	assert_null(d.ds.el);
	dicom_parsed_free(&d);
}

static void test_malformed(void **state)
{
	uint8_t dicm[132] = {0};
	struct bb b;
	size_t cut;

	(void)state;
	expect_bad((const uint8_t *)"", 0);
	memcpy(dicm + 128, "DICM", 4);
	expect_bad(dicm, sizeof(dicm));
	expect_bad((const uint8_t *)"hello, this is not DICOM at all; "
				    "just some text long enough to look "
				    "like a file of some sort, really.",
		   100);

	/* truncated inside an element (the PN value) */
	synth(&b, DICOM_TS_EXPLICIT_LE, 0, 1, 1, 0);
	cut = (size_t)((uint8_t *)memmem(b.p, b.n, "Doe^", 4) - b.p) + 2;
	expect_bad(b.p, cut);
	/* native pixel data with a length past EOF */
	expect_bad(b.p, b.n - 14 - 3);
	free(b.p);

	/* length past EOF in the dataset */
	memset(&b, 0, sizeof(b));
	bb_meta(&b, DICOM_TS_EXPLICIT_LE);
	b.expl = 1;
	bb_hdr(&b, 8, 0x18, "UI", 200);
	bb_put(&b, "1.2", 4);
	expect_bad(b.p, b.n);
	free(b.p);

	/* encapsulated pixel data without a sequence delimiter */
	memset(&b, 0, sizeof(b));
	bb_meta(&b, "1.2.840.10008.1.2.4.50");
	b.expl = 1;
	bb_str(&b, 8, 0x18, "UI", "1.2.3.4 ");
	bb_hdr(&b, 0x7fe0, 0x10, "OB", 0xffffffff);
	bb_hdr(&b, 0xfffe, 0xe000, "", 0);
	bb_hdr(&b, 0xfffe, 0xe000, "", 4);
	bb_put(&b, "abcd", 4);
	expect_bad(b.p, b.n);
	/* ... or with a fragment running past EOF */
	bb_hdr(&b, 0xfffe, 0xe000, "", 400);
	bb_put(&b, "abcd", 4);
	expect_bad(b.p, b.n);
	free(b.p);

	/* a meta header that claims explicit VR over an implicit dataset */
	memset(&b, 0, sizeof(b));
	bb_meta(&b, DICOM_TS_EXPLICIT_LE);
	bb_str(&b, 8, 0x18, "UI", "1.2.3.4 ");
	expect_bad(b.p, b.n);
	free(b.p);

	/* nesting: DCM_MAX_DEPTH levels parse, one more does not */
	for (int depth = DCM_MAX_DEPTH; depth <= DCM_MAX_DEPTH + 1; depth++) {
		struct dicom_parsed d;

		memset(&b, 0, sizeof(b));
		bb_meta(&b, DICOM_TS_EXPLICIT_LE);
		b.expl = 1;
		bb_str(&b, 8, 0x16, "UI", "1.2.3.4 ");
		for (int i = 0; i < depth; i++) {
			bb_hdr(&b, 0x10, 0x1002, "SQ", 0xffffffff);
			bb_hdr(&b, 0xfffe, 0xe000, "", 0xffffffff);
		}
		bb_str(&b, 0x10, 0x10, "PN", "X^Y ");
		for (int i = 0; i < depth; i++) {
			bb_hdr(&b, 0xfffe, 0xe00d, "", 0);
			bb_hdr(&b, 0xfffe, 0xe0dd, "", 0);
		}
		if (depth == DCM_MAX_DEPTH) {
			assert_int_equal(parse_mem(b.p, b.n, &d), 0);
			dicom_parsed_free(&d);
			assert_int_equal(roundtrip(b.p, b.n), 1);
		} else {
			expect_bad(b.p, b.n);
		}
		free(b.p);
	}
}

/* Every truncation and many single-byte changes of the synthetic files:
 * 0 or -EBADMSG, never a crash (run under ASan for the full effect). */
static void test_mutations(void **state)
{
	static const struct {
		const char *ts;
		int be, expl, encaps;
	} cases[] = {
		{DICOM_TS_EXPLICIT_LE, 0, 1, 0},
		{DICOM_TS_IMPLICIT_LE, 0, 0, 0},
		{DICOM_TS_EXPLICIT_BE, 1, 1, 0},
		{"1.2.840.10008.1.2.4.70", 0, 1, 1},
	};
	unsigned seed = 1;

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct dicom_parsed d;
		struct bb b;

		synth(&b, cases[c].ts, cases[c].be, cases[c].expl, 1,
		      cases[c].encaps);
		for (size_t n = 0; n < b.n; n++) {
			int err = parse_mem(b.p, n, &d);

			assert_true(err == 0 || err == -EBADMSG);
			dicom_parsed_free(&d);
		}
		for (size_t i = 128; i < b.n; i++) {
			static const uint8_t vals[] = {0, 0xff, 0xfe, 0xe0,
						       0x80, 0x7f};
			uint8_t keep = b.p[i];

			for (size_t v = 0; v < sizeof(vals) + 1; v++) {
				int err;

				seed = seed * 1103515245u + 12345u;
				b.p[i] = v < sizeof(vals) ? vals[v]
							  : (uint8_t)(seed >> 16);
				err = parse_mem(b.p, b.n, &d);
				assert_true(err == 0 || err == -EBADMSG);
				if (!err)
					assert_true(roundtrip(b.p, b.n) == 1);
				dicom_parsed_free(&d);
			}
			b.p[i] = keep;
		}
		free(b.p);
	}
}

static void test_dict_and_uids(void **state)
{
	char vr[3];

	(void)state;
	dicom_dict_vr(DCM_TAG(0x10, 0x10), NULL, vr);
	assert_string_equal(vr, "PN");
	dicom_dict_vr(DCM_TAG(8, 0x16), NULL, vr);
	assert_string_equal(vr, "UI");
	dicom_dict_vr(DCM_TAG(8, 0x1140), NULL, vr);
	assert_string_equal(vr, "SQ");
	dicom_dict_vr(DCM_TAG(0x7fe0, 0x10), NULL, vr);
	assert_string_equal(vr, "OW");
	dicom_dict_vr(DCM_TAG(0x29, 0x10), NULL, vr);
	assert_string_equal(vr, "LO");
	dicom_dict_vr(DCM_TAG(0x29, 0x1010), "SIEMENS CSA HEADER", vr);
	assert_string_equal(vr, "OB");
	dicom_dict_vr(DCM_TAG(0x29, 0x1010), NULL, vr);
	assert_string_equal(vr, "UN");
	dicom_dict_vr(DCM_TAG(0x29, 0x1010), "NO SUCH CREATOR", vr);
	assert_string_equal(vr, "UN");
	dicom_dict_vr(DCM_TAG(0x0001, 0x0001), NULL, vr);
	assert_string_equal(vr, "UN");
	dicom_dict_vr(DCM_TAG(0x0008, 0xeeee), NULL, vr);
	assert_string_equal(vr, "UN");
	dicom_dict_vr(DCM_TAG(0x0009, 0x0005), NULL, vr);
	assert_string_equal(vr, "UN");

	assert_true(dicom_uid_is_well_known(DICOM_TS_EXPLICIT_LE));
	assert_true(dicom_uid_is_well_known("1.2.840.10008.5.1.4.1.1.1.2"));
	assert_true(dicom_uid_is_well_known("2.16.840.1.113883.6.96"));
	assert_false(dicom_uid_is_well_known("1.2.3.4"));
	assert_false(dicom_uid_is_well_known("1.2.826.0.1.3680043.2.1125.1"));
	assert_false(dicom_uid_is_well_known(""));
}

static int setup(void **state)
{
	(void)state;
	return dicom_init();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_dict_and_uids),
		cmocka_unit_test(test_data_dir),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
