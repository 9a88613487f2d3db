/*
 * scan_breast.c - where text on a mammogram can be (scan_impl.h:
 * scan_grid_background()): the dark background outside the breast.
 *
 * Text on a mammogram (the laterality and view marker, technique values,
 * and burned-in identity when there is any) is drawn on the background,
 * never over the tissue a reader must see; the texture of the tissue, on
 * the other hand, is where the cheap stage finds most of its false
 * candidates, each an OCR of 0.1-0.4 s.  So on a mammogram the candidates
 * are looked for in the background only, when the frame shows a clear
 * split: at the grid's reduced resolution (a cell of 8 x 8 px on a
 * full-field image), cells whose darkest pixel is bright (Otsu's threshold
 * over the cells) form one large component, the breast, well apart from
 * the dark cells in brightness; the background is what is connected to
 * the frame's border without crossing it (so dark fat inside the breast
 * is not background), less a margin around the breast.  Without a clear
 * split the whole frame is looked at: when in doubt, look.
 */
#include "scan_impl.h"

#include <stdlib.h>
#include <string.h>

#define BINS 256
/* The breast and the background must differ by this share (of 100) of
 * the frame's range, in the cells' mean brightness. */
#define SPLIT_CONTRAST 20
/* The breast: at least this share (of 100) of the cells, at most
 * BREAST_MAX; the background at least BG_MIN. */
#define BREAST_MIN 5
#define BREAST_MAX 90
#define BG_MIN 5
/* Cells around the breast that are not background (its skin line). */
#define MARGIN_CELLS 2

/* The brightness of cell i as seen at its darkest pixel, 0 .. range. */
static int64_t dark_side(const struct scan_grid *g, size_t i)
{
	return g->mono1 ? (int64_t)g->fhi - g->hi[i]
			: (int64_t)g->lo[i] - g->flo;
}

/* Otsu's threshold over the cells' dark_side(), in bins of BINS. */
static unsigned otsu(const struct scan_grid *g, size_t n, int64_t range)
{
	uint64_t hist[BINS] = { 0 }, total = 0, sum = 0, wb = 0, sb = 0;
	double best = -1;
	unsigned t = 0, k;

	for (size_t i = 0; i < n; i++)
		hist[dark_side(g, i) * (BINS - 1) / range]++;
	for (k = 0; k < BINS; k++) {
		total += hist[k];
		sum += (uint64_t)k * hist[k];
	}
	for (k = 0; k < BINS; k++) {
		double mb, mf, between;

		wb += hist[k];
		sb += (uint64_t)k * hist[k];
		if (!wb || wb == total)
			continue;
		mb = (double)sb / (double)wb;
		mf = (double)(sum - sb) / (double)(total - wb);
		between = (double)wb * (double)(total - wb) * (mb - mf) *
			  (mb - mf);
		if (between > best) {
			best = between;
			t = k;
		}
	}
	return t;
}

/* The 4-neighbours of cell k of a cr x cc grid into nb; returns how many. */
static int neighbours(uint32_t k, uint32_t cr, uint32_t cc, uint32_t nb[4])
{
	uint32_t x = k % cc, y = k / cc;
	int m = 0;

	if (x)
		nb[m++] = k - 1;
	if (x + 1 < cc)
		nb[m++] = k + 1;
	if (y)
		nb[m++] = k - cc;
	if (y + 1 < cr)
		nb[m++] = k + cc;
	return m;
}

int scan_grid_background(const struct scan_grid *g, uint8_t *bg)
{
	uint32_t cr = g->gr, cc = g->gc, ncomp = 0, breast = 0;
	size_t n = (size_t)cr * cc, sp = 0, largest = 0, nbright = 0, nbg = 0;
	int64_t range = (int64_t)g->fhi - g->flo;
	uint32_t *comp = NULL, *stack = NULL, nb[4];
	uint64_t sdark = 0, sbright = 0, ndark = 0;
	unsigned t;
	int ok = 0;

	if (range <= 0 || cr < 8 || cc < 8)
		return 0;
	comp = calloc(n, sizeof(*comp));
	stack = malloc(n * sizeof(*stack));
	if (!comp || !stack)
		goto out;
	t = otsu(g, n, range);
	/* UINT32_MAX: a bright (tissue-like) cell not yet in a component;
	 * the two classes' mean brightness must differ clearly */
	for (size_t i = 0; i < n; i++) {
		uint64_t b = (uint64_t)(dark_side(g, i) * (BINS - 1) / range);

		if (b > t) {
			comp[i] = UINT32_MAX;
			nbright++;
			sbright += b;
		} else {
			ndark++;
			sdark += b;
		}
	}
	if (!nbright || !ndark ||
	    (sbright / nbright - sdark / ndark) * 100 <
		    (uint64_t)SPLIT_CONTRAST * (BINS - 1))
		goto out;
	/* the largest 4-connected bright component is the breast */
	for (size_t i = 0; i < n; i++) {
		size_t size = 0;

		if (comp[i] != UINT32_MAX)
			continue;
		comp[i] = ++ncomp;
		stack[sp++] = (uint32_t)i;
		while (sp) {
			uint32_t k = stack[--sp];
			int m = neighbours(k, cr, cc, nb);

			size++;
			for (int j = 0; j < m; j++)
				if (comp[nb[j]] == UINT32_MAX) {
					comp[nb[j]] = ncomp;
					stack[sp++] = nb[j];
				}
		}
		if (size > largest) {
			largest = size;
			breast = ncomp;
		}
	}
	if (largest * 100 < BREAST_MIN * n || largest * 100 > BREAST_MAX * n)
		goto out;
	/* the background: what the border reaches without crossing the
	 * breast (bg 1), less a margin around the breast */
	memset(bg, 0, n);
	for (size_t i = 0; i < n; i++) {
		uint32_t x = (uint32_t)(i % cc), y = (uint32_t)(i / cc);

		if ((y && y + 1 < cr && x && x + 1 < cc) || bg[i] ||
		    comp[i] == breast)
			continue;
		bg[i] = 1;
		stack[sp++] = (uint32_t)i;
		while (sp) {
			uint32_t k = stack[--sp];
			int m = neighbours(k, cr, cc, nb);

			for (int j = 0; j < m; j++)
				if (!bg[nb[j]] && comp[nb[j]] != breast) {
					bg[nb[j]] = 1;
					stack[sp++] = nb[j];
				}
		}
	}
	for (size_t i = 0; i < n; i++) {
		int64_t x = (int64_t)(i % cc), y = (int64_t)(i / cc);

		for (int64_t yy = y - MARGIN_CELLS;
		     bg[i] == 1 && yy <= y + MARGIN_CELLS; yy++)
			for (int64_t xx = x - MARGIN_CELLS;
			     xx <= x + MARGIN_CELLS; xx++)
				if (xx >= 0 && yy >= 0 && xx < cc && yy < cr &&
				    comp[(size_t)yy * cc + (size_t)xx] ==
					    breast) {
					bg[i] = 0;
					break;
				}
		nbg += bg[i];
	}
	ok = nbg * 100 >= BG_MIN * n;
out:
	free(stack);
	free(comp);
	return ok;
}
