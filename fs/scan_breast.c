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
 * split: at a reduced resolution (blocks of the grid's cells, 32 x 32 px
 * on a full-field image), blocks whose darkest pixel is bright (Otsu's
 * threshold over the blocks) form one large component, the breast, well
 * apart from the dark blocks in brightness; the background is what is connected to
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
/* Pixels around the breast that are not background (its skin line). */
#define MARGIN_PX 16
/* The breast is looked for on a grid of at most this many cells (blocks
 * of the scan's cells, 32 x 32 px on a full-field mammogram): its shape
 * needs no finer one, and the fills cost by the cell. */
#define COARSE_CELLS 16384

/*
 * The cells' brightness as seen at their darkest pixel, in bins of BINS
 * over the frame's range, into bin (n).  A fixed-point reciprocal instead
 * of a division per cell.
 */
static void bins_of(const struct scan_grid *g, size_t n, uint8_t *bin)
{
	uint64_t range = (uint64_t)((int64_t)g->fhi - g->flo);
	uint64_t mul = ((uint64_t)(BINS - 1) << 32) / range;

	for (size_t i = 0; i < n; i++) {
		uint64_t v = g->mono1 ? (uint64_t)((int64_t)g->fhi - g->hi[i])
				      : (uint64_t)((int64_t)g->lo[i] - g->flo);
		uint64_t b = (v * mul) >> 32;

		bin[i] = (uint8_t)(b > BINS - 1 ? BINS - 1 : b);
	}
}

/* Otsu's threshold over the bins. */
static unsigned otsu(const uint8_t *bin, size_t n)
{
	uint64_t hist[BINS] = { 0 }, total = 0, sum = 0, wb = 0, sb = 0;
	double best = -1;
	unsigned t = 0, k;

	for (size_t i = 0; i < n; i++)
		hist[bin[i]]++;
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

/* How many sides of the frame (cr x cc cells inside a ring, rows W wide)
 * component id touches. */
static unsigned sides_touched(const uint32_t *comp, uint32_t W, uint32_t cr,
			      uint32_t cc, uint32_t id)
{
	unsigned top = 0, bottom = 0, left = 0, right = 0;

	for (uint32_t x = 1; x <= cc; x++) {
		top |= comp[(size_t)1 * W + x] == id;
		bottom |= comp[(size_t)cr * W + x] == id;
	}
	for (uint32_t y = 1; y <= cr; y++) {
		left |= comp[(size_t)y * W + 1] == id;
		right |= comp[(size_t)y * W + cc] == id;
	}
	return top + bottom + left + right;
}

/*
 * The working arrays are the grid with a ring of one cell around it (W x
 * H), so that the 4 neighbours of an inner cell k are k - 1, k + 1, k - W,
 * k + W, with no bounds to check: the ring is a wall to every fill.
 */
#define WALL UINT32_MAX

static int background(const struct scan_grid *g, uint8_t *bg,
		      uint32_t margin)
{
	uint32_t cr = g->gr, cc = g->gc, W = cc + 2, H = cr + 2;
	size_t n = (size_t)cr * cc, N = (size_t)W * H, sp = 0;
	size_t largest = 0, nbright = 0, nbg = 0;
	uint32_t *comp = NULL, *stack = NULL, ncomp = 0, breast = 0;
	uint8_t *bin = NULL, *near = NULL;
	uint64_t sdark = 0, sbright = 0, ndark = 0;
	unsigned t, sides;
	int ok = 0;

	if (g->fhi <= g->flo || cr < 8 || cc < 8)
		return 0;
	bin = malloc(n);
	near = calloc(N, 1);
	comp = calloc(N, sizeof(*comp));
	stack = malloc(N * sizeof(*stack));
	if (!bin || !near || !comp || !stack)
		goto out;
	bins_of(g, n, bin);
	t = otsu(bin, n);
	/* comp: WALL on the ring, 1 for a bright (tissue-like) cell not yet
	 * in a component (labels start at 2), 0 for a dark one; the two
	 * classes' mean brightness must differ clearly */
	for (uint32_t x = 0; x < W; x++)
		comp[x] = comp[(size_t)(H - 1) * W + x] = WALL;
	for (uint32_t y = 0; y < cr; y++) {
		size_t row = (size_t)(y + 1) * W;

		comp[row] = comp[row + W - 1] = WALL;
		for (uint32_t x = 0; x < cc; x++) {
			uint8_t b = bin[(size_t)y * cc + x];

			if (b > t) {
				comp[row + x + 1] = 1;
				nbright++;
				sbright += b;
			} else {
				ndark++;
				sdark += b;
			}
		}
	}
	if (!nbright || !ndark ||
	    (sbright / nbright - sdark / ndark) * 100 <
		    (uint64_t)SPLIT_CONTRAST * (BINS - 1))
		goto out;
	/* the largest 4-connected bright component is the breast */
	ncomp = 1;
	for (size_t i = W; i < N - W; i++) {
		size_t size = 0;

		if (comp[i] != 1)
			continue;
		comp[i] = ++ncomp;
		stack[sp++] = (uint32_t)i;
		while (sp) {
			uint32_t k = stack[--sp];
			uint32_t nb[4] = { k - 1, k + 1, k - W, k + W };

			size++;
			for (int j = 0; j < 4; j++)
				if (comp[nb[j]] == 1) {
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
	/* A breast lies against the chest wall: one side of the frame, two
	 * when it also reaches the top or the bottom.  A bright region on
	 * three or four sides is a background (an inverted image, a
	 * Presentation LUT Shape INVERSE this does not read): no split. */
	sides = sides_touched(comp, W, cr, cc, breast);
	if (sides < 1 || sides > 2)
		goto out;
	/* near: within margin cells of the breast (a row pass, then a
	 * column pass over it: 2 the breast itself, 1 near it) */
	for (uint32_t y = 1; y <= cr; y++) {
		const uint32_t *c = comp + (size_t)y * W;
		uint8_t *m = near + (size_t)y * W;
		uint32_t last = UINT32_MAX;

		for (uint32_t x = 1; x <= cc; x++) {
			if (c[x] == breast) {
				m[x] = 2;
				last = x;
			} else if (last != UINT32_MAX &&
				   x - last <= margin) {
				m[x] = 1;
			}
		}
		last = UINT32_MAX;
		for (uint32_t x = cc; x >= 1; x--) {
			if (c[x] == breast)
				last = x;
			else if (last != UINT32_MAX &&
				 last - x <= margin && !m[x])
				m[x] = 1;
		}
	}
	for (uint32_t x = 1; x <= cc; x++) {
		uint32_t last = UINT32_MAX;

		for (uint32_t y = 1; y <= cr; y++) {
			uint8_t *m = near + (size_t)y * W + x;

			if (*m && *m != 3)	/* not what this pass marked */
				last = y;
			else if (last != UINT32_MAX &&
				 y - last <= margin)
				*m = 3;
		}
		last = UINT32_MAX;
		for (uint32_t y = cr; y >= 1; y--) {
			uint8_t *m = near + (size_t)y * W + x;

			if (*m && *m != 3)
				last = y;
			else if (last != UINT32_MAX &&
				 last - y <= margin && !*m)
				*m = 3;
		}
	}
	/* the background: what the frame's border reaches without crossing
	 * the breast (comp set to 0 where reached, the ring stays a wall),
	 * less what is near the breast */
	memset(bg, 0, n);
	for (uint32_t y = 1; y <= cr; y++)
		for (uint32_t x = 1; x <= cc; x++) {
			size_t i = (size_t)y * W + x;

			if ((y > 1 && y < cr && x > 1 && x < cc) ||
			    comp[i] == breast || comp[i] == WALL - 1)
				continue;
			comp[i] = WALL - 1;
			stack[sp++] = (uint32_t)i;
			while (sp) {
				uint32_t k = stack[--sp];
				uint32_t nb[4] = { k - 1, k + 1, k - W, k + W };

				for (int j = 0; j < 4; j++)
					if (comp[nb[j]] != WALL &&
					    comp[nb[j]] != WALL - 1 &&
					    comp[nb[j]] != breast) {
						comp[nb[j]] = WALL - 1;
						stack[sp++] = nb[j];
					}
			}
		}
	for (uint32_t y = 1; y <= cr; y++)
		for (uint32_t x = 1; x <= cc; x++) {
			size_t i = (size_t)y * W + x;

			if (comp[i] == WALL - 1 && !near[i]) {
				bg[(size_t)(y - 1) * cc + x - 1] = 1;
				nbg++;
			}
		}
	ok = nbg * 100 >= BG_MIN * n;
out:
	free(stack);
	free(comp);
	free(near);
	free(bin);
	return ok;
}

int scan_grid_background(const struct scan_grid *g, uint8_t *bg)
{
	struct scan_grid c;
	uint32_t f = 1, margin;
	uint8_t *cbg = NULL;
	int ok = 0;

	while ((uint64_t)((g->gr + f - 1) / f) * ((g->gc + f - 1) / f) >
	       COARSE_CELLS)
		f *= 2;
	margin = (MARGIN_PX + g->cell * f - 1) / (g->cell * f);
	if (f == 1)
		return background(g, bg, margin);
	/* blocks of f x f cells: a block's darkest pixel is its cells'
	 * darkest (MONOCHROME1: the highest value), so a block is tissue
	 * only when all of it is */
	memset(&c, 0, sizeof(c));
	c.gr = (g->gr + f - 1) / f;
	c.gc = (g->gc + f - 1) / f;
	c.flo = g->flo;
	c.fhi = g->fhi;
	c.mono1 = g->mono1;
	c.cell = g->cell * f;
	c.lo = malloc((size_t)c.gr * c.gc * sizeof(*c.lo));
	c.hi = malloc((size_t)c.gr * c.gc * sizeof(*c.hi));
	cbg = malloc((size_t)c.gr * c.gc);
	if (!c.lo || !c.hi || !cbg)
		goto out;
	for (size_t i = 0; i < (size_t)c.gr * c.gc; i++) {
		c.lo[i] = INT32_MAX;
		c.hi[i] = INT32_MIN;
	}
	for (uint32_t y = 0; y < g->gr; y++)
		for (uint32_t x = 0; x < g->gc; x++) {
			size_t i = (size_t)y * g->gc + x;
			size_t k = (size_t)(y / f) * c.gc + x / f;

			c.lo[k] = g->lo[i] < c.lo[k] ? g->lo[i] : c.lo[k];
			c.hi[k] = g->hi[i] > c.hi[k] ? g->hi[i] : c.hi[k];
		}
	ok = background(&c, cbg, margin);
	if (ok)
		for (uint32_t y = 0; y < g->gr; y++)
			for (uint32_t x = 0; x < g->gc; x++)
				bg[(size_t)y * g->gc + x] =
					cbg[(size_t)(y / f) * c.gc + x / f];
out:
	free(cbg);
	free(c.lo);
	free(c.hi);
	return ok;
}
