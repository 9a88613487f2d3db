/*
 * test_layout.c - the --layout template language and view_map_read().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "layout.h"
#include "view.h"
#include "view_impl.h"	/* struct view_file, to build one by hand */

static struct layout_values sample(void)
{
	struct layout_values v;

	memset(&v, 0, sizeof(v));
	v.patient = "abcdefgh23456712";
	v.study_date = "20150302";
	v.study_ordinal = 2;
	v.series_number = 7;
	v.series_ordinal = 1;
	v.modality = "MG";
	v.instance_number = 3;
	v.instance_ordinal = 4;
	v.laterality = "L";
	v.view = "CC";
	return v;
}

static void render_all(const char *tmpl, const char *expect)
{
	struct layout_values v = sample();
	struct layout *l = NULL;
	char err[256], buf[256], path[1024] = "";
	unsigned i;

	assert_int_equal(layout_parse(tmpl, &l, err, sizeof(err)), 0);
	for (i = 0; i < layout_ncomponents(l); i++) {
		assert_true(layout_render(l, i, &v, buf, sizeof(buf)) >= 0);
		if (i)
			strcat(path, "/");
		strcat(path, buf);
	}
	assert_string_equal(path, expect);
	layout_free(l);
}

static void test_default_layout(void **state)
{
	(void)state;
	render_all(VIEW_DEFAULT_LAYOUT, "abcdefgh23456712/2015-03/7_MG/0003.dcm");
}

static void test_other_layouts(void **state)
{
	(void)state;
	render_all("{patient}/study-{study_ordinal:2}/{series_ordinal}/"
		   "{laterality}_{view}_{instance_ordinal}.dcm",
		   "abcdefgh23456712/study-02/1/L_CC_4.dcm");
	render_all("{study_year}/{patient}_{instance_number}.dcm",
		   "2015/abcdefgh23456712_3.dcm");
}

static void test_levels(void **state)
{
	struct layout *l = NULL;
	char err[256];

	(void)state;
	assert_int_equal(layout_parse("{patient}/{study_month}/x/"
				      "{series_number}.dcm",
				      &l, err, sizeof(err)),
			 0);
	assert_int_equal(layout_component_level(l, 0), LAYOUT_PATIENT);
	assert_int_equal(layout_component_level(l, 1), LAYOUT_STUDY);
	assert_int_equal(layout_component_level(l, 2), LAYOUT_NONE);
	/* the file name always identifies an instance */
	assert_int_equal(layout_component_level(l, 3), LAYOUT_INSTANCE);
	layout_free(l);
}

static void test_missing_values(void **state)
{
	struct layout_values v = sample();
	struct layout *l = NULL;
	char err[256], buf[256];

	(void)state;
	v.study_date = "2015";	/* invalid */
	v.series_number = INT64_MIN;
	v.modality = NULL;
	assert_int_equal(layout_parse("{study_month}_{series_number}_"
				      "{modality}",
				      &l, err, sizeof(err)),
			 0);
	assert_true(layout_render(l, 0, &v, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "unknown_x_unknown");
	layout_free(l);
}

static void test_sanitised(void **state)
{
	struct layout_values v = sample();
	struct layout *l = NULL;
	char err[256], buf[256];

	(void)state;
	v.modality = "../M G/\n";
	assert_int_equal(layout_parse("{modality}", &l, err, sizeof(err)), 0);
	assert_true(layout_render(l, 0, &v, buf, sizeof(buf)) > 0);
	assert_null(strchr(buf, '/'));
	assert_null(strchr(buf, '.'));
	assert_null(strchr(buf, '\n'));
	layout_free(l);
}

/* Names only from validated values (issue 11): a date or a personal ID
 * in a number, a name in a code or its second value, never becomes a
 * name; the standard's terms and ordinary numbers still do. */
static void test_validated_values(void **state)
{
	static const struct {
		int64_t series, instance;
		const char *modality, *laterality, *view, *expect;
	} cases[] = {
		{ 7, 3, "MG", "L", "CC", "7_MG_3_L_CC" },
		{ 99999, -2, "OT ", " R", "MLO", "99999_OT_-2_R_MLO" },
		{ 20200115, 12345678901LL, "MG", "B", "XCCL",
		  "x_MG_x_B_XCCL" },
		{ 100000, -100000, "MG\\NORDMANN", "L\\KARI", "CC\\OLA",
		  "x_MG_x_L_CC" },
		{ 1, 1, "NORDMANN", "LEFT", "KARIANNE",
		  "1_unknown_1_unknown_unknown" },
		{ 1, 1, "mg", "l", "cc", "1_unknown_1_unknown_unknown" },
		{ 1, 1, "", "", "", "1_unknown_1_unknown_unknown" },
	};
	struct layout *l = NULL;
	char err[256], buf[256];
	size_t i;

	(void)state;
	assert_int_equal(layout_parse("{series_number}_{modality}_"
				      "{instance_number}_{laterality}_{view}",
				      &l, err, sizeof(err)),
			 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct layout_values v = sample();

		v.series_number = cases[i].series;
		v.instance_number = cases[i].instance;
		v.modality = cases[i].modality;
		v.laterality = cases[i].laterality;
		v.view = cases[i].view;
		assert_true(layout_render(l, 0, &v, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, cases[i].expect);
	}
	layout_free(l);
}

static void test_rejected(void **state)
{
	static const char *bad[] = {
		"", "/abs/{patient}", "{patient}//x", "{nope}", "{patient",
		"{patient}/../x", "{patient}/.hidden", "{patient:3}",
		"{instance_number:0}", "{instance_number:10}", "a/b\\c",
		"{patient}/", "x\ny",
	};
	struct layout *l;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l = NULL;
		err[0] = 0;
		assert_int_equal(layout_parse(bad[i], &l, err, sizeof(err)),
				 -EINVAL);
		assert_null(l);
		assert_true(err[0] != 0);
	}
}

static void test_suffix(void **state)
{
	char buf[64];

	(void)state;
	assert_true(layout_suffix("0003.dcm", 1, 2, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "0003_2.dcm");
	assert_true(layout_suffix("2015-03", 0, 3, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "2015-03_3");
	assert_true(layout_suffix("a.b", 0, 2, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "a.b_2");
}

/* view_map_read at every boundary of a 100-byte header + 50-byte range
 * starting at source offset 1000. */
static void test_map_read(void **state)
{
	static const uint8_t hdr[100] = { 7 };
	struct view_file vf;
	struct bytemap map = { 0 };
	struct view_span s[2];

	(void)state;
	memset(&vf, 0, sizeof(vf));
	vf.map = &map;
	assert_int_equal(bytemap_add_gen(&map, hdr, sizeof(hdr)), 0);
	assert_int_equal(bytemap_add_src(&map, 1000, 50), 0);
	assert_int_equal(view_file_size(&vf), 150);

	assert_int_equal(view_map_read(&vf, 0, 10, s, 2), 1);
	assert_int_equal(s[0].kind, VIEW_SPAN_GEN);
	assert_ptr_equal(s[0].mem, map.gen);
	assert_int_equal(s[0].len, 10);

	assert_int_equal(view_map_read(&vf, 99, 1, s, 2), 1);
	assert_int_equal(s[0].kind, VIEW_SPAN_GEN);
	assert_int_equal(s[0].len, 1);

	assert_int_equal(view_map_read(&vf, 99, 2, s, 2), 2);
	assert_int_equal(s[0].kind, VIEW_SPAN_GEN);
	assert_ptr_equal(s[0].mem, map.gen + 99);
	assert_int_equal(s[0].len, 1);
	assert_int_equal(s[1].kind, VIEW_SPAN_SOURCE);
	assert_int_equal(s[1].off, 1000);
	assert_int_equal(s[1].len, 1);
	/* room for one span: the read's beginning */
	assert_int_equal(view_map_read(&vf, 99, 2, s, 1), 1);
	assert_int_equal(s[0].len, 1);
	assert_int_equal(view_map_spans(&vf, 99, 2), 2);

	assert_int_equal(view_map_read(&vf, 100, 1, s, 2), 1);
	assert_int_equal(s[0].kind, VIEW_SPAN_SOURCE);
	assert_int_equal(s[0].off, 1000);

	assert_int_equal(view_map_read(&vf, 149, 100, s, 2), 1);
	assert_int_equal(s[0].off, 1049);
	assert_int_equal(s[0].len, 1);

	assert_int_equal(view_map_read(&vf, 0, 1000, s, 2), 2);
	assert_int_equal(s[0].len, 100);
	assert_int_equal(s[1].len, 50);

	assert_int_equal(view_map_read(&vf, 150, 1, s, 2), 0);
	assert_int_equal(view_map_read(&vf, 1u << 30, 1, s, 2), 0);
	assert_int_equal(view_map_read(&vf, 10, 0, s, 2), 0);
	/* no overflow near UINT64_MAX */
	assert_int_equal(view_map_read(&vf, 120, UINT64_MAX, s, 2), 1);
	assert_int_equal(s[0].len, 30);
	bytemap_clear(&map);

	/* header only (no pixel data) */
	assert_int_equal(bytemap_add_gen(&map, hdr, sizeof(hdr)), 0);
	assert_int_equal(view_map_read(&vf, 50, 100, s, 2), 1);
	assert_int_equal(s[0].len, 50);
	bytemap_clear(&map);
}

/* A map of many pieces (source ranges with generated bytes between, as
 * blanked segments make): every read gives exactly the bytes of the whole
 * rendered file, and adjacent pieces of one kind join. */
static void test_map_pieces(void **state)
{
	uint8_t src[4096], want[8192], got[8192];
	struct view_file vf;
	struct bytemap map = { 0 };
	struct view_span s[3];
	uint64_t off, len, w = 0;
	size_t i;

	(void)state;
	memset(&vf, 0, sizeof(vf));
	vf.map = &map;
	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < 40; i++) {	/* src 100 bytes, 3 zeros, ... */
		assert_int_equal(bytemap_add_src(&map, i * 100, 97), 0);
		memcpy(want + w, src + i * 100, 97);
		w += 97;
		assert_int_equal(bytemap_add_zero(&map, 3), 0);
		memset(want + w, 0, 3);
		w += 3;
	}
	/* joins: a source range right after the previous one */
	assert_int_equal(bytemap_add_src(&map, 5000, 10), 0);
	assert_int_equal(bytemap_add_src(&map, 5010, 10), 0);
	assert_int_equal(map.n, 81);
	memset(want + w, 0, 20);	/* past the source: not compared */
	w += 20;
	assert_int_equal(view_file_size(&vf), w);
	for (off = 0; off < 4000; off += 37)
		for (len = 1; len < 400; len += 53) {
			uint64_t at = off, end = off + len;

			if (end > 4000)
				end = 4000;
			assert_int_equal(view_map_spans(&vf, off, end - off),
					 bytemap_find(&map, end - 1) -
						 bytemap_find(&map, off) + 1);
			while (at < end) {
				unsigned n = view_map_read(&vf, at, end - at,
							   s, 3);
				unsigned k;

				assert_true(n >= 1 && n <= 3);
				for (k = 0; k < n; k++) {
					if (s[k].kind == VIEW_SPAN_GEN)
						memcpy(got + at, s[k].mem,
						       s[k].len);
					else
						memcpy(got + at,
						       src + s[k].off,
						       s[k].len);
					at += s[k].len;
				}
			}
			assert_int_equal(at, end);
			assert_memory_equal(got + off, want + off, end - off);
		}
	bytemap_clear(&map);
	bytemap_clear(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_layout),
		cmocka_unit_test(test_other_layouts),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_missing_values),
		cmocka_unit_test(test_sanitised),
		cmocka_unit_test(test_validated_values),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_suffix),
		cmocka_unit_test(test_map_read),
		cmocka_unit_test(test_map_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
