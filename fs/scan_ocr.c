/*
 * scan_ocr.c - Tesseract through its C API (tesseract/capi.h), eng+nor,
 * for the scan's worker process (scan_impl.h).
 *
 * The library is loaded with dlopen() in the worker, after the worker set
 * OMP_THREAD_LIMIT=1: Tesseract's LSTM asks OpenMP for many threads, and
 * libgomp reads its limits once, when it is loaded; one thread per worker
 * (one worker per index thread) keeps the CPUs for the workers, and the
 * main process never carries Tesseract, libcurl or OpenMP at all.
 */
#include "scan_impl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tesseract/capi.h>

#define TESS_LIB "libtesseract.so.5"
#define TESS_LANGS "eng+nor"

/*
 * Which words count.  Tesseract reads the edge of a shape or a speck as a
 * letter or two with little confidence (0-100; up to 79 for one or two
 * characters on the generated breast borders of tests/e2e/burnin.py),
 * while printed text reads at 85 and more.  A word counts when it has
 * two letters or digits at least, and is read with WORD_CONF_SURE, or
 * with WORD_CONF_MIN and at least 3 letters or digits (noise is rarely
 * that long).  One character alone identifies nobody, and tissue reads as
 * one now and then (an Å at 95 on a real mammogram, tests/data/GH133.dcm).
 */
#define WORD_CONF_SURE 75.0f
#define WORD_CONF_MIN 50.0f

static int counts(const char *w, float conf)
{
	size_t alnum = 0;

	for (; *w; w++)
		alnum += (*w >= '0' && *w <= '9') || (*w >= 'A' && *w <= 'Z') ||
			 (*w >= 'a' && *w <= 'z') ||
			 ((unsigned char)*w >= 0xC0); /* a UTF-8 letter once */
	return alnum >= 2 && (conf >= WORD_CONF_SURE ||
			 (conf >= WORD_CONF_MIN && alnum >= 3));
}

/* The functions we use, with the types capi.h gives them. */
static struct {
	void *lib;
	TessBaseAPI *api;
	__typeof__(&TessBaseAPICreate) create;
	__typeof__(&TessBaseAPIInit3) init3;
	__typeof__(&TessBaseAPISetVariable) setvar;
	__typeof__(&TessBaseAPISetPageSegMode) psm;
	__typeof__(&TessBaseAPISetImage) setimage;
	__typeof__(&TessBaseAPIRecognize) recognize;
	__typeof__(&TessBaseAPIGetIterator) iterator;
	__typeof__(&TessResultIteratorGetPageIterator) pageit;
	__typeof__(&TessPageIteratorIsAtBeginningOf) atbegin;
	__typeof__(&TessPageIteratorBoundingBox) bbox;
	__typeof__(&TessResultIteratorGetUTF8Text) text;
	__typeof__(&TessResultIteratorConfidence) conf;
	__typeof__(&TessResultIteratorNext) next;
	__typeof__(&TessResultIteratorDelete) itdelete;
	__typeof__(&TessDeleteText) deltext;
	__typeof__(&TessBaseAPIClear) clear;
} t;

#define LOAD(field, name)                                                  \
	do {                                                               \
		*(void **)&t.field = dlsym(t.lib, name);                   \
		if (!t.field)                                              \
			return -ENOENT;                                    \
	} while (0)

int scan_ocr_init(void)
{
	if (t.api)
		return 0;
	/* before libgomp is loaded: it reads this once */
	setenv("OMP_THREAD_LIMIT", "1", 1);
	t.lib = dlopen(TESS_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!t.lib)
		return -ENOENT;
	LOAD(create, "TessBaseAPICreate");
	LOAD(init3, "TessBaseAPIInit3");
	LOAD(setvar, "TessBaseAPISetVariable");
	LOAD(psm, "TessBaseAPISetPageSegMode");
	LOAD(setimage, "TessBaseAPISetImage");
	LOAD(recognize, "TessBaseAPIRecognize");
	LOAD(iterator, "TessBaseAPIGetIterator");
	LOAD(pageit, "TessResultIteratorGetPageIterator");
	LOAD(atbegin, "TessPageIteratorIsAtBeginningOf");
	LOAD(bbox, "TessPageIteratorBoundingBox");
	LOAD(text, "TessResultIteratorGetUTF8Text");
	LOAD(conf, "TessResultIteratorConfidence");
	LOAD(next, "TessResultIteratorNext");
	LOAD(itdelete, "TessResultIteratorDelete");
	LOAD(deltext, "TessDeleteText");
	LOAD(clear, "TessBaseAPIClear");
	t.api = t.create();
	if (!t.api)
		return -ENOMEM;
	if (t.init3(t.api, NULL, TESS_LANGS)) {
		t.api = NULL;	/* the worker exits soon: not freed */
		return -ENOENT;
	}
	/* crops carry no resolution; say one so that Tesseract does not
	 * guess (and warn) */
	t.setvar(t.api, "user_defined_dpi", "300");
	t.setvar(t.api, "debug_file", "/dev/null");
	t.psm(t.api, PSM_SINGLE_BLOCK);
	return 0;
}

/* Up to this many pixels of crop (scaled) are read at once. */
#define CROP_MAX (16u << 20)

/* Candidate boxes this tall or more may hold text far larger than
 * Tesseract needs: read at 1/2 to 1/4 of their size when their tallest
 * line (a row profile: runs of rows with ink, tallest_line()) is 48 px or
 * more, so that its letters stay 24 px and taller.  At full size and at
 * half size, the 96 px marker of a mammogram (make_bench_trees.py
 * mgbreast40, "L CC" over "28kV 63mAs": lines about 70 px) read as "EE",
 * "Eee" or "bee": text, quarantined; at a third, "LCC".  Not by the box's
 * height: a block of several lines of small text is a tall box too, and
 * read smaller it read as nothing. */
#define DOWN_FROM 200

/* crop (b->w x b->h) averaged over squares of down x down into out
 * (b->w / down x b->h / down). */
static void shrink(const uint8_t *crop, const struct scan_box *b,
		   uint32_t down, uint8_t *out)
{
	uint32_t w = b->w / down, h = b->h / down;

	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint32_t sum = 0;

			for (uint32_t dy = 0; dy < down; dy++)
				for (uint32_t dx = 0; dx < down; dx++)
					sum += crop[(size_t)(y * down + dy) *
							    b->w +
						    x * down + dx];
			out[(size_t)y * w + x] =
				(uint8_t)(sum / (down * down));
		}
}

static int read_box(const uint8_t *crop, const struct scan_box *b,
		    uint32_t down, scan_line_fn fn, void *arg);

/*
 * The height of the tallest line of crop: the longest run of rows with
 * ink, ink being what lies beyond the middle of the crop's range from its
 * border's side (the background).  Lines that touch count as one, too
 * tall: the box is then read too small, which is why a smaller read that
 * finds nothing is made again at full size.
 */
static uint32_t tallest_line(const uint8_t *crop, const struct scan_box *b)
{
	uint64_t border = 0, nb = 0;
	uint8_t lo = 255, hi = 0, mid;
	uint32_t run = 0, best = 0;
	int dark_bg;

	for (size_t i = 0; i < (size_t)b->w * b->h; i++) {
		lo = crop[i] < lo ? crop[i] : lo;
		hi = crop[i] > hi ? crop[i] : hi;
	}
	for (uint32_t x = 0; x < b->w; x++) {
		border += crop[x] + crop[(size_t)(b->h - 1) * b->w + x];
		nb += 2;
	}
	mid = (uint8_t)((lo + hi) / 2);
	dark_bg = nb && border / nb < mid;
	for (uint32_t y = 0; y < b->h; y++) {
		const uint8_t *r = crop + (size_t)y * b->w;
		int ink = 0;

		for (uint32_t x = 0; x < b->w && !ink; x++)
			ink = dark_bg ? r[x] > mid : r[x] < mid;
		run = ink ? run + 1 : 0;
		best = run > best ? run : best;
	}
	return best;
}

struct counted {
	scan_line_fn fn;
	void *arg;
	unsigned lines;
};

static void count_line(void *arg, const struct scan_line *l)
{
	struct counted *c = arg;

	c->lines++;
	c->fn(c->arg, l);
}

int scan_ocr_box(const uint8_t *crop, const struct scan_box *b,
		 int candidate, scan_line_fn fn, void *arg)
{
	struct counted c = { fn, arg, 0 };
	struct scan_box sb;
	uint32_t down;
	uint8_t *small;
	int err;

	if (!candidate || b->h < DOWN_FROM)
		return read_box(crop, b, 1, fn, arg);
	down = tallest_line(crop, b) / 24;
	down = down > 4 ? 4 : down;
	sb = (struct scan_box){ b->x, b->y, down ? b->w / down : 0,
				down ? b->h / down : 0 };
	if (down < 2 || !sb.w || !sb.h)
		return read_box(crop, b, 1, fn, arg);
	small = malloc((size_t)sb.w * sb.h);
	if (!small)
		return -ENOMEM;
	shrink(crop, b, down, small);
	err = read_box(small, &sb, down, count_line, &c);
	explicit_bzero(small, (size_t)sb.w * sb.h);
	free(small);
	/* nothing read smaller: when in doubt, the full size */
	if (!err && !c.lines)
		err = read_box(crop, b, 1, fn, arg);
	return err;
}

/* scan_ocr_box() of crop, the box b of a frame at 1/down of its size. */
static int read_box(const uint8_t *crop, const struct scan_box *b,
		    uint32_t down, scan_line_fn fn, void *arg)
{
	/* Tesseract reads dark text on a light page best, with letters
	 * 20-40 px tall, and a margin around them: the crop is turned to
	 * that polarity (by its border: the background), small text
	 * doubled, and padded. */
	uint32_t scale = b->h < 64 ? 2 : 1, pad = 16;
	uint32_t w = b->w * scale + 2 * pad, h = b->h * scale + 2 * pad;
	uint64_t border = 0, nb = 0;
	uint8_t *img, lo = 255, hi = 0;
	int invert, err = 0;
	TessResultIterator *it;
	char line[1024];
	size_t ll = 0;
	struct scan_box lb = { 0, 0, 0, 0 };

	if (!b->w || !b->h)
		return 0;
	if ((uint64_t)w * h > CROP_MAX)
		return -E2BIG;
	for (uint32_t x = 0; x < b->w; x++) {
		border += crop[x];
		border += crop[(size_t)(b->h - 1) * b->w + x];
		nb += 2;
	}
	for (uint32_t y = 0; y < b->h; y++) {
		border += crop[(size_t)y * b->w];
		border += crop[(size_t)y * b->w + b->w - 1];
		nb += 2;
	}
	invert = nb && border / nb < 128;
	/* stretched to the crop's own range, background white: the padding
	 * then continues it without an edge */
	for (size_t i = 0; i < (size_t)b->w * b->h; i++) {
		lo = crop[i] < lo ? crop[i] : lo;
		hi = crop[i] > hi ? crop[i] : hi;
	}
	img = malloc((size_t)w * h);
	if (!img)
		return -ENOMEM;
	memset(img, 255, (size_t)w * h);
	for (uint32_t y = 0; y < b->h * scale; y++) {
		const uint8_t *src = crop + (size_t)(y / scale) * b->w;
		uint8_t *dst = img + (size_t)(y + pad) * w + pad;

		for (uint32_t x = 0; x < b->w * scale; x++) {
			uint32_t v = hi > lo ? (uint32_t)(src[x / scale] - lo) *
						       255 / (uint32_t)(hi - lo)
					     : 255;

			dst[x] = (uint8_t)(invert ? 255 - v : v);
		}
	}
	t.setimage(t.api, img, (int)w, (int)h, 1, (int)w);
	if (t.recognize(t.api, NULL)) {
		err = -ENOMEM;
		goto out;
	}
	it = t.iterator(t.api);
	if (!it)
		goto out;
	line[0] = 0;
	do {
		const TessPageIterator *pi = t.pageit(it);
		char *word;
		int x0, y0, x1, y1;
		struct scan_box wb;

		if (t.atbegin(pi, RIL_TEXTLINE) && ll) {
			fn(arg, &(struct scan_line){ line, lb });
			ll = 0;
			line[0] = 0;
		}
		word = t.text(it, RIL_WORD);
		if (!word)
			continue;
		if (counts(word, t.conf(it, RIL_WORD)) &&
		    t.bbox(pi, RIL_WORD, &x0, &y0, &x1, &y1)) {
			size_t n = strlen(word);

			/* back to the frame's coordinates */
			x0 = x0 < (int)pad ? 0 : (x0 - (int)pad) / (int)scale;
			y0 = y0 < (int)pad ? 0 : (y0 - (int)pad) / (int)scale;
			x1 = x1 < (int)pad ? 0 : (x1 - (int)pad) / (int)scale;
			y1 = y1 < (int)pad ? 0 : (y1 - (int)pad) / (int)scale;
			if (x1 > (int)b->w)
				x1 = (int)b->w;
			if (y1 > (int)b->h)
				y1 = (int)b->h;
			x0 *= (int)down;
			y0 *= (int)down;
			x1 *= (int)down;
			y1 *= (int)down;
			wb.x = b->x + (uint32_t)x0;
			wb.y = b->y + (uint32_t)y0;
			wb.w = x1 > x0 ? (uint32_t)(x1 - x0) : 1;
			wb.h = y1 > y0 ? (uint32_t)(y1 - y0) : 1;
			if (ll + n + 2 < sizeof(line)) {
				if (ll)
					line[ll++] = ' ';
				memcpy(line + ll, word, n);
				ll += n;
				line[ll] = 0;
				if (lb.w == 0 || ll == n)
					lb = wb;
				else {
					uint32_t ex = lb.x + lb.w > wb.x + wb.w
							      ? lb.x + lb.w
							      : wb.x + wb.w;
					uint32_t ey = lb.y + lb.h > wb.y + wb.h
							      ? lb.y + lb.h
							      : wb.y + wb.h;

					lb.x = lb.x < wb.x ? lb.x : wb.x;
					lb.y = lb.y < wb.y ? lb.y : wb.y;
					lb.w = ex - lb.x;
					lb.h = ey - lb.y;
				}
			}
		}
		explicit_bzero(word, strlen(word));
		t.deltext(word);
	} while (t.next(it, RIL_WORD));
	if (ll)
		fn(arg, &(struct scan_line){ line, lb });
	explicit_bzero(line, sizeof(line));
	t.itdelete(it);
out:
	t.clear(t.api);
	free(img);
	return err;
}
