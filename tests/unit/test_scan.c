/*
 * test_scan.c - the pure stages of the burned-in text scan (fs/scan.h,
 * fs/scan_impl.h): what a line read off the pixels is (harmless markers
 * and technique values, the allow-list, the file's names with and without
 * their diacritics, personal IDs, dates in the common forms), folding,
 * the identifying values of a dataset, and the candidate stage on
 * synthetic frames.  Tesseract and the worker processes are tested end to
 * end (tests/e2e/test_burnin.py).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "analyze.h"
#include "bytemap.h"
#include "dcm.h"
#include "scan.h"
#include "scan_impl.h"

/* A valid personal ID (both check digits hold) born 03.05.1961, and
 * another person's. */
#define FNR "03056106838"
#define OTHER_FNR "17117529150"

static void ident(struct scan_ident *id)
{
	struct dcm_ds ds = { 0 };

	/* "Østby^Kari Åse" in UTF-8, as the header holds it */
	assert_int_equal(dcm_ds_set_str(&ds, DCM_TAG(0x0010, 0x0010), "PN",
					"\xc3\x98stby^Kari \xc3\x85se"), 0);
	assert_int_equal(dcm_ds_set_str(&ds, DCM_TAG(0x0010, 0x0020), "LO",
					FNR), 0);
	assert_int_equal(dcm_ds_set_str(&ds, DCM_TAG(0x0010, 0x0030), "DA",
					"19610503"), 0);
	assert_int_equal(dcm_ds_set_str(&ds, DCM_TAG(0x0008, 0x0020), "DA",
					"20240601"), 0);
	scan_ident_from_ds(&ds, id);
	dcm_ds_free(&ds);
}

static void test_harmless(void **state)
{
	static const char *const ok[] = {
		"L CC", "R MLO", "LMLO", "RCC", "28kV 63mAs", "28 kV",
		"Mo/Rh 29 kV", "L MLO 120 N", "R CC 45 mm", "W/Rh", "(L)",
		"R: MLO", "1.5 mGy",
	};
	struct scan_ident id;
	size_t i;

	(void)state;
	ident(&id);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(scan_line_kind(ok[i], &id, NULL),
				 SCAN_K_HARMLESS);
	/* nothing readable */
	assert_int_equal(scan_line_kind("", &id, NULL), 0);
	assert_int_equal(scan_line_kind(" - | . ", &id, NULL), 0);
	/* a word beside a marker is text */
	assert_int_equal(scan_line_kind("L CC Haukeland", &id, NULL),
			 SCAN_K_TEXT);
	/* long numbers are no technique values */
	assert_true(scan_line_kind("123456", &id, NULL) & SCAN_K_TEXT);
	scan_ident_clear(&id);
}

static void test_allow_list(void **state)
{
	static const char list[] = "# site words\nSCREENING\n  tomo  \n\n"
				   "H\xc3\xb8yre # right\n";
	struct scan_allow *a = NULL;
	char err[128] = "";

	(void)state;
	assert_int_equal(scan_allow_parse(list, strlen(list), &a, err,
					  sizeof(err)), 0);
	assert_int_equal(scan_line_kind("Screening L CC", NULL, NULL),
			 SCAN_K_TEXT);
	assert_int_equal(scan_line_kind("Screening L CC", NULL, a),
			 SCAN_K_HARMLESS);
	assert_int_equal(scan_line_kind("TOMO", NULL, a), SCAN_K_HARMLESS);
	/* compared folded: Høyre, HOYRE */
	assert_int_equal(scan_line_kind("HOYRE", NULL, a), SCAN_K_HARMLESS);
	assert_int_equal(scan_line_kind("Screening Kari", NULL, a),
			 SCAN_K_TEXT);
	scan_allow_free(a);
	/* a bad line is named by its number, never its text */
	assert_int_equal(scan_allow_parse("ok\nKari Nordmann\n", 16, &a, err,
					  sizeof(err)), -EINVAL);
	assert_null(a);
	assert_non_null(strstr(err, "line 2"));
	assert_null(strstr(err, "Kari"));
	scan_allow_free(NULL);
}

static void test_kinds(void **state)
{
	struct scan_ident id;

	(void)state;
	ident(&id);
	/* name words with and without their diacritics, any case, and the
	 * O that OCR reads as 0 or @ */
	assert_int_equal(scan_line_kind("\xc3\x98STBY, Kari", &id, NULL),
			 SCAN_K_TEXT | SCAN_K_NAME);
	assert_int_equal(scan_line_kind("Ostby", &id, NULL),
			 SCAN_K_TEXT | SCAN_K_NAME);
	assert_int_equal(scan_line_kind("@STBY", &id, NULL),
			 SCAN_K_TEXT | SCAN_K_NAME);
	assert_int_equal(scan_line_kind("Ase", &id, NULL),
			 SCAN_K_TEXT | SCAN_K_NAME);
	/* the same words in Latin-1 */
	assert_int_equal(scan_line_kind("\xc5se", &id, NULL),
			 SCAN_K_TEXT | SCAN_K_NAME);
	assert_int_equal(scan_line_kind("Nordmann", &id, NULL), SCAN_K_TEXT);
	/* her ID, split or whole; another valid ID; her ID in other text */
	assert_true(scan_line_kind(FNR, &id, NULL) & SCAN_K_ID);
	assert_true(scan_line_kind("030561 06838", &id, NULL) & SCAN_K_ID);
	assert_true(scan_line_kind(OTHER_FNR, &id, NULL) & SCAN_K_ID);
	assert_true(scan_line_kind("ID:" FNR, &id, NULL) & SCAN_K_ID);
	/* her dates in the common forms, and anything shaped like a date */
	assert_true(scan_line_kind("03.05.1961", &id, NULL) & SCAN_K_DATE);
	assert_true(scan_line_kind("1961-05-03", &id, NULL) & SCAN_K_DATE);
	assert_true(scan_line_kind("3.5.1961", &id, NULL) & SCAN_K_DATE);
	assert_true(scan_line_kind("03/05/61", &id, NULL) & SCAN_K_DATE);
	assert_true(scan_line_kind("20240601", &id, NULL) & SCAN_K_DATE);
	assert_true(scan_line_kind("12.11.2023", &id, NULL) & SCAN_K_DATE);
	assert_true(scan_line_kind("2023/11/12", &id, NULL) & SCAN_K_DATE);
	assert_int_equal(scan_line_kind("Radiology", &id, NULL), SCAN_K_TEXT);
	/* the reason names: the strongest match */
	assert_string_equal(scan_kind_name(SCAN_K_TEXT), "text");
	assert_string_equal(scan_kind_name(SCAN_K_TEXT | SCAN_K_DATE),
			    "date");
	assert_string_equal(scan_kind_name(SCAN_K_DATE | SCAN_K_NAME),
			    "name");
	assert_string_equal(scan_kind_name(SCAN_K_NAME | SCAN_K_ID),
			    "personal-id");
	/* without a file's values: IDs and dates are still found */
	assert_true(scan_line_kind(FNR, NULL, NULL) & SCAN_K_ID);
	assert_true(scan_line_kind("Ostby", NULL, NULL) == SCAN_K_TEXT);
	scan_ident_clear(&id);
}

static void test_ident_and_fold(void **state)
{
	struct scan_ident id;
	char out[32];
	const char *p;
	int n = 0;

	(void)state;
	ident(&id);
	assert_string_equal(id.pid, FNR);
	assert_int_equal(id.ndates, 2);
	for (p = id.names; *p; p += strlen(p) + 1)
		n++;
	assert_int_equal(n, 3);		/* OSTBY, KARI, ASE */
	assert_string_equal(id.names, "OSTBY");
	scan_ident_clear(&id);
	assert_int_equal(id.names[0], 0);

	assert_int_equal(scan_fold("\xc3\x86r\xc3\xb8", 5, out, sizeof(out)),
			 4);
	assert_string_equal(out, "AERO");
	scan_fold("\xc6r\xf8", 3, out, sizeof(out));	/* Latin-1 */
	assert_string_equal(out, "AERO");
	scan_fold("\xe2\x82\xac", 3, out, sizeof(out));	/* not Latin-1 */
	assert_string_equal(out, "?");
	scan_fold("abcdef", 6, out, 4);
	assert_string_equal(out, "ABC");
}

/* ------------------------------------------------------- candidates */

#define ROWS 600
#define COLS 800

/* Draw a "word": n letters of w x h pixels (a frame with a bar), 3 px
 * apart, at (x, y). */
static void word(uint8_t *g, uint32_t x, uint32_t y, int n, uint32_t w,
		 uint32_t h, uint8_t v)
{
	for (int k = 0; k < n; k++)
		for (uint32_t dy = 0; dy < h; dy++)
			for (uint32_t dx = 0; dx < w; dx++) {
				int stroke = dx < 2 || dx >= w - 2 || dy < 2 ||
					     (dy >= h / 2 - 1 && dy <= h / 2);

				if (stroke)
					g[(y + dy) * COLS + x + k * (w + 3) + dx] = v;
			}
}

static int covers(const struct scan_box *b, uint32_t x0, uint32_t y0,
		  uint32_t x1, uint32_t y1)
{
	return b->x <= x0 && b->y <= y0 && b->x + b->w >= x1 &&
	       b->y + b->h >= y1;
}

/* A frame of 8-bit samples in memory as the scan reads it. */
static struct scan_pixels mem_pixels(uint8_t *g, uint32_t rows,
				     uint32_t cols)
{
	struct scan_pixels sp;

	memset(&sp, 0, sizeof(sp));
	sp.px.rows = rows;
	sp.px.cols = cols;
	sp.px.frames = 1;
	sp.px.samples = 1;
	sp.px.bits_allocated = 8;
	sp.px.bits_stored = 8;
	sp.px.buf = g;
	sp.px.len = (size_t)rows * cols;
	return sp;
}

static size_t candidates(uint8_t *g, uint32_t rows, uint32_t cols,
			 struct scan_box *box, size_t max)
{
	struct scan_pixels sp = mem_pixels(g, rows, cols);
	struct scan_grid grid;
	size_t n;

	memset(&grid, 0, sizeof(grid));
	assert_int_equal(scan_grid_frame(&sp, 0, &grid), 0);
	n = scan_grid_candidates(&grid, box, max);
	scan_grid_free(&grid);
	return n;
}

static void test_candidates(void **state)
{
	uint8_t *g = calloc(ROWS, COLS);
	struct scan_box box[SCAN_MAX_BOXES];
	size_t n;

	(void)state;
	assert_non_null(g);
	/* nothing */
	assert_int_equal(candidates(g, ROWS, COLS, box, SCAN_MAX_BOXES), 0);
	/* a big bright disc (the breast): one tall component, no text */
	for (int y = 0; y < ROWS; y++)
		for (int x = 0; x < COLS; x++)
			if ((x - 400) * (x - 400) + (y - 300) * (y - 300) <
			    250 * 250)
				g[y * COLS + x] = 180;
	assert_int_equal(candidates(g, ROWS, COLS, box, SCAN_MAX_BOXES), 0);
	/* light text in two corners, dark text on a light label */
	word(g, 20, 20, 6, 10, 14, 255);
	word(g, 650, 560, 4, 10, 14, 255);
	for (int y = 500; y < 540; y++)
		memset(g + y * COLS + 20, 230, 120);
	word(g, 30, 510, 5, 8, 14, 10);
	n = candidates(g, ROWS, COLS, box, SCAN_MAX_BOXES);
	assert_int_equal(n, 3);
	assert_true(covers(&box[0], 20, 20, 20 + 6 * 13 - 3, 34));
	{
		int found_br = 0, found_label = 0;

		for (size_t i = 0; i < n; i++) {
			found_br |= covers(&box[i], 650, 560, 650 + 4 * 13 - 3,
					   574);
			found_label |= covers(&box[i], 30, 510, 30 + 5 * 11 - 3,
					      524);
		}
		assert_true(found_br && found_label);
	}
	free(g);
}

/* A mammogram-sized frame (cells of 8): a smooth ramp with wrap-around
 * edges as tall as the image (the benchmark's pattern) is no candidate;
 * a 14 px word on it is, at full resolution, in the frame's coordinates;
 * and an edge that runs exactly along a cell border is still seen. */
static void test_candidates_big(void **state)
{
	const uint32_t rows = 2304, cols = 2048;
	uint8_t *g = malloc((size_t)rows * cols);
	struct scan_box box[SCAN_MAX_BOXES];
	size_t n;

	(void)state;
	assert_non_null(g);
	for (uint32_t y = 0; y < rows; y++)
		for (uint32_t x = 0; x < cols; x++)
			g[(size_t)y * cols + x] = (uint8_t)(x * 3 / 4);
	assert_int_equal(candidates(g, rows, cols, box, SCAN_MAX_BOXES), 0);
	/* a row of short bright bars whose left edges lie on cell borders */
	for (uint32_t k = 0; k < 6; k++)
		for (uint32_t y = 1600; y < 1614; y++)
			memset(g + (size_t)y * cols + 800 + k * 16, 255, 8);
	n = candidates(g, rows, cols, box, SCAN_MAX_BOXES);
	assert_int_equal(n, 1);
	assert_true(covers(&box[0], 800, 1600, 800 + 5 * 16 + 8, 1614));
	assert_true(box[0].h < 80);
	free(g);
}

/* A small MR-like slice (64 x 64, cells of one pixel): a head of tissue
 * levels that change from ring to ring and blob to blob, whose edges
 * join many levels, is no candidate (each such slice cost an OCR before);
 * a word drawn in one colour on a flat ground beside it still is. */
static void test_candidates_small(void **state)
{
	const uint32_t rows = 64, cols = 128;
	const int cx[4] = { 12, 42, 14, 44 }, cy[4] = { 12, 14, 44, 46 };
	uint8_t *g = calloc(rows, cols);
	struct scan_box box[SCAN_MAX_BOXES];

	(void)state;
	assert_non_null(g);
	/* structures of tissue whose level changes across them, on air */
	for (uint32_t y = 0; y < rows; y++)
		for (uint32_t x = 0; x < 64; x++)
			for (int k = 0; k < 4; k++) {
				int dx = (int)x - cx[k], dy = (int)y - cy[k];

				if (dx * dx + dy * dy < 81)
					g[y * cols + x] = (uint8_t)(
						60 + (x * 11 + y * 7) % 150);
			}
	assert_int_equal(candidates(g, rows, cols, box, SCAN_MAX_BOXES), 0);
	/* "letters" 6 x 10 in one colour, 2 px apart, on the flat ground */
	for (int k = 0; k < 3; k++)
		for (uint32_t y = 40; y < 50; y++)
			for (uint32_t x = 0; x < 6; x++)
				if (x < 2 || x >= 4 || y < 42 ||
				    (y >= 44 && y < 46))
					g[y * cols + 90 + k * 8 + x] = 250;
	assert_int_equal(candidates(g, rows, cols, box, SCAN_MAX_BOXES), 1);
	assert_true(covers(&box[0], 90, 40, 90 + 22, 50));
	free(g);
}

/* A mammogram (cells of 4): a breast of textured tissue against the
 * left border, text in the dark background.  Looked at whole, the texture
 * makes candidates; as a mammogram, only the text in the background is
 * one.  A frame without a clear breast (flat noise) is looked at whole. */
static size_t mg_candidates(uint8_t *g, uint32_t rows, uint32_t cols,
			    int mg, struct scan_box *box, int *split)
{
	struct scan_pixels sp = mem_pixels(g, rows, cols);
	struct scan_grid grid;
	uint8_t *bg;
	size_t n;

	memset(&grid, 0, sizeof(grid));
	assert_int_equal(scan_grid_frame(&sp, 0, &grid), 0);
	grid.mg = mg;
	bg = malloc((size_t)grid.gr * grid.gc);
	assert_non_null(bg);
	*split = scan_grid_background(&grid, bg);
	free(bg);
	n = scan_grid_candidates(&grid, box, SCAN_MAX_BOXES);
	scan_grid_free(&grid);
	return n;
}

static void test_breast_background(void **state)
{
	const uint32_t rows = 1024, cols = COLS;	/* word() draws in COLS */
	uint8_t *g = malloc((size_t)rows * cols);
	struct scan_box box[SCAN_MAX_BOXES];
	uint32_t seed = 1;
	int split;
	size_t n;

	(void)state;
	assert_non_null(g);
	for (uint32_t y = 0; y < rows; y++)
		for (uint32_t x = 0; x < cols; x++) {
			double dx = x / (0.62 * cols),
			       dy = (y - rows / 2.0) / (0.36 * rows);
			uint8_t v = 12;

			seed = seed * 1103515245u + 12345u;
			if (dx * dx + dy * dy <= 1) {
				/* tissue: blocks of two levels, lines of
				 * small bright specks (calcification-like) */
				v = ((x / 24 + y / 24) % 2) ? 120 : 160;
				if (x % 20 < 4 && y % 40 < 12)
					v = 250;
			}
			g[(size_t)y * cols + x] = (uint8_t)(v + (seed >> 29));
		}
	word(g, 600, 60, 6, 10, 14, 255);
	n = mg_candidates(g, rows, cols, 0, box, &split);
	assert_true(split);
	assert_true(n > 1);	/* the texture */
	n = mg_candidates(g, rows, cols, 1, box, &split);
	assert_int_equal(n, 1);
	assert_true(covers(&box[0], 600, 60, 600 + 6 * 13 - 3, 74));
	/* no breast: flat noise with the word, looked at whole */
	for (size_t i = 0; i < (size_t)rows * cols; i++) {
		seed = seed * 1103515245u + 12345u;
		g[i] = (uint8_t)(100 + (seed >> 28));
	}
	word(g, 600, 60, 6, 10, 14, 255);
	n = mg_candidates(g, rows, cols, 1, box, &split);
	assert_false(split);
	assert_int_equal(n, 1);
	free(g);
}

static void test_gray(void **state)
{
	uint16_t px16[4] = { 100, 4095, 100, 2000 };
	uint8_t rgb[6] = { 255, 255, 255, 0, 0, 0 }, out[4];
	struct scan_pixels sp;
	struct scan_grid g;
	struct scan_box all = { 0, 0, 2, 2 };
	uint16_t fill[3];

	(void)state;
	memset(&sp, 0, sizeof(sp));
	memset(&g, 0, sizeof(g));
	sp.px.rows = 2;
	sp.px.cols = 2;
	sp.px.frames = 1;
	sp.px.samples = 1;
	sp.px.bits_allocated = 16;
	sp.px.bits_stored = 12;
	sp.px.buf = (uint8_t *)px16;	/* little-endian host */
	sp.px.len = sizeof(px16);
	assert_int_equal(scan_grid_frame(&sp, 0, &g), 0);
	assert_int_equal(g.flo, 100);
	assert_int_equal(g.fhi, 4095);
	assert_int_equal(scan_crop_gray(&sp, 0, &g, &all, out), 0);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 255);
	assert_true(out[3] > 100 && out[3] < 140);
	/* the background a mask paints: the median of the border */
	assert_int_equal(scan_box_background(&sp, 0, &all, fill), 0);
	assert_int_equal(fill[0], 2000);
	sp.px.mono1 = 1;	/* low values bright */
	assert_int_equal(scan_grid_frame(&sp, 0, &g), 0);
	assert_int_equal(scan_crop_gray(&sp, 0, &g, &all, out), 0);
	assert_int_equal(out[0], 255);
	/* a crop reads only its box */
	all = (struct scan_box){ 1, 1, 1, 1 };
	assert_int_equal(scan_crop_gray(&sp, 0, &g, &all, out), 0);
	assert_true(out[0] > 115 && out[0] < 155);
	/* pixel data shorter than the frame: an error, not a read past */
	sp.px.len = 6;
	assert_int_equal(scan_grid_frame(&sp, 0, &g), -EBADMSG);
	memset(&sp, 0, sizeof(sp));
	sp.px.rows = 1;
	sp.px.cols = 2;
	sp.px.frames = 1;
	sp.px.samples = 3;
	sp.px.bits_allocated = 8;
	sp.px.bits_stored = 8;
	sp.px.buf = rgb;
	sp.px.len = sizeof(rgb);
	all = (struct scan_box){ 0, 0, 2, 1 };
	assert_int_equal(scan_grid_frame(&sp, 0, &g), 0);
	assert_int_equal(scan_crop_gray(&sp, 0, &g, &all, out), 0);
	assert_int_equal(out[0], 255);
	assert_int_equal(out[1], 0);
	scan_grid_free(&g);
}

/* A mask over native pixel data: a generated range per row of a region,
 * the source's bytes around them, the size unchanged; a region outside
 * its frame is refused, the map left as it was. */
static void test_mask_map(void **state)
{
	struct analysis an;
	struct scan_region r;
	uint8_t hdr[10] = { 0 };
	size_t i;

	(void)state;
	memset(&an, 0, sizeof(an));
	assert_int_equal(bytemap_add_gen(&an.map, hdr, sizeof(hdr)), 0);
	/* 2 frames of 5 rows x 10 columns, 16 bits, at source offset 1000 */
	assert_int_equal(bytemap_add_src(&an.map, 1000, 200), 0);
	an.pix = (struct analysis_pixels){ 1, 5, 10, 2, 1, 16, 0, 10, 200 };
	memset(&r, 0, sizeof(r));
	r.frame = 1;
	r.x = 2;
	r.y = 1;
	r.w = 3;
	r.h = 2;
	r.fill[0] = 0x1234;
	assert_int_equal(analysis_mask(&an, &r, 1), 0);
	assert_int_equal(an.map.size, 210);
	/* header, source up to frame 1 row 1 column 2, 6 painted bytes, the
	 * source to the next row's column 2, 6 more, the source to its end */
	assert_int_equal(an.map.n, 6);
	assert_int_equal(an.map.piece[1].kind, BYTEMAP_SRC);
	assert_int_equal(an.map.piece[1].at, 1000);
	assert_int_equal(an.map.piece[1].len, 100 + 20 + 4);
	assert_int_equal(an.map.piece[2].kind, BYTEMAP_GEN);
	assert_int_equal(an.map.piece[2].len, 6);
	for (i = 0; i < 6; i += 2) {
		assert_int_equal(an.map.gen[an.map.piece[2].at + i], 0x34);
		assert_int_equal(an.map.gen[an.map.piece[2].at + i + 1], 0x12);
	}
	assert_int_equal(an.map.piece[3].at, 1000 + 124 + 6);
	assert_int_equal(an.map.piece[3].len, 14);
	assert_int_equal(an.map.piece[5].at + an.map.piece[5].len, 1200);
	/* outside the frame: refused, the map unchanged */
	r.x = 8;
	assert_int_equal(analysis_mask(&an, &r, 1), -EINVAL);
	assert_int_equal(an.map.n, 6);
	bytemap_clear(&an.map);
}

/* The forms of text matched against the registry row (scan_tokens.c):
 * a number across OCR's separators, dates in their common forms. */
struct formset {
	char all[2048];
};

static void add_form(void *arg, const char *form, size_t n)
{
	struct formset *f = arg;
	size_t at = strlen(f->all);

	assert_true(at + n + 2 < sizeof(f->all));
	memcpy(f->all + at, form, n);
	f->all[at + n] = '|';
	f->all[at + n + 1] = 0;
}

static const char *forms_of(const char *text, int whole)
{
	static struct formset f;

	f.all[0] = '|';
	f.all[1] = 0;
	scan_token_forms(text, strlen(text), whole, add_form, &f);
	return f.all;
}

static void test_token_forms(void **state)
{
	(void)state;
	assert_non_null(strstr(forms_of("Inv: 7345678901", 0),
			       "|W7345678901|"));
	assert_non_null(strstr(forms_of("734567 8901", 0), "|W7345678901|"));
	assert_non_null(strstr(forms_of("Diagnose 14.08.2024", 0),
			       "|D20240814|"));
	assert_non_null(strstr(forms_of("14 08 2024", 0), "|D20240814|"));
	assert_non_null(strstr(forms_of("2024-08-14", 0), "|D20240814|"));
	assert_non_null(strstr(forms_of("20240814", 0), "|D20240814|"));
	assert_non_null(strstr(forms_of("14/8/24", 0), "|D20240814|"));
	assert_non_null(strstr(forms_of("Øst-By", 0), "|WOSTBY|"));
	/* too short to be a value; not a date */
	assert_string_equal(forms_of("L CC", 0), "|");
	assert_null(strstr(forms_of("32.13.2024", 0), "|D"));
	/* whole: a cell of many words as one run too */
	assert_non_null(strstr(forms_of("a b c d e", 1), "|WABCDE|"));
	assert_null(strstr(forms_of("a b c d e", 0), "|WABCDE|"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_harmless),
		cmocka_unit_test(test_token_forms),
		cmocka_unit_test(test_allow_list),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_ident_and_fold),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_candidates_big),
		cmocka_unit_test(test_candidates_small),
		cmocka_unit_test(test_breast_background),
		cmocka_unit_test(test_mask_map),
		cmocka_unit_test(test_gray),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
