/*
 * scan_image.c - the cheap stages of the scan (scan_impl.h): a frame seen
 * coarsely in one streaming pass, the text candidates in it, and the crops
 * that OCR reads.  Integer arithmetic only.
 *
 * Burned-in text is drawn to be read: strokes at (or near) one end of the
 * range against a flat background, in lines of small, similar shapes.  The
 * candidates are cells of a coarse grid whose own darkest and brightest
 * pixels differ by much (an edge of a stroke falls inside the cell, whatever
 * the polarity), joined along rows as letters of a word are; a component
 * no taller than text can be is a candidate.  The border of the breast is
 * an edge too, but one component as tall as the image; the smooth ramps of
 * tissue (and of the benchmark's synthetic pattern) are no edge inside a
 * cell, so a frame without text costs one pass over its bytes and no OCR.
 *
 * Native pixel data is read from the published bytes a strip of rows at a
 * time (never held whole: a 160 MB frame costs a few hundred KiB here);
 * decoded pixel data (GDCM, compressed syntaxes) is read from memory the
 * same way.
 */
#include "scan_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Rows read at once by the streaming pass. */
#define STRIP_ROWS 32

int scan_pixels_read(const struct scan_pixels *sp, uint64_t off, void *buf,
		     size_t n)
{
	size_t done = 0;

	if (sp->px.buf) {
		if (off > sp->px.len || n > sp->px.len - off)
			return -EBADMSG;
		memcpy(buf, sp->px.buf + off, n);
		return 0;
	}
	while (done < n) {
		ssize_t r = sp->src->pread(sp->src->ctx, (uint8_t *)buf + done,
					   n - done, sp->off + off + done);

		if (r <= 0)
			return -EBADMSG;
		done += (size_t)r;
	}
	return 0;
}

static uint32_t bytes_per_sample(const struct dicom_pixels *px)
{
	return px->bits_allocated / 8;
}

/*
 * Raw bytes of rows [y, y + n), columns [x, x + w) of frame into raw:
 * interleaved as the source is (n * w pixels), or, planar, plane k at
 * raw + k * n * w * bytes.  Full rows are one read.
 */
static int read_rows(const struct scan_pixels *sp, uint32_t frame,
		     uint32_t y, uint32_t n, uint32_t x, uint32_t w,
		     uint8_t *raw)
{
	const struct dicom_pixels *px = &sp->px;
	uint64_t bps = bytes_per_sample(px);
	uint64_t npix = (uint64_t)px->rows * px->cols;
	uint64_t fbytes = npix * px->samples * bps;
	uint32_t planes = px->planar ? px->samples : 1;
	uint64_t pixb = px->planar ? bps : bps * px->samples;	/* per pixel
								 * in a plane */
	int err = 0;

	for (uint32_t k = 0; k < planes && !err; k++) {
		uint64_t base = (uint64_t)frame * fbytes + k * npix * bps;
		uint8_t *dst = raw + (uint64_t)k * n * w * pixb;

		if (x == 0 && w == px->cols) {
			err = scan_pixels_read(sp, base + (uint64_t)y * w * pixb,
					       dst, (size_t)((uint64_t)n * w * pixb));
			continue;
		}
		for (uint32_t r = 0; r < n && !err; r++)
			err = scan_pixels_read(
				sp, base + ((uint64_t)(y + r) * px->cols + x) * pixb,
				dst + (uint64_t)r * w * pixb, (size_t)(w * pixb));
	}
	return err;
}

/* Sample k of pixel i of npix raw pixels laid out as read_rows() does. */
static uint32_t raw_sample(const struct dicom_pixels *px, const uint8_t *raw,
			   size_t npix, size_t i, uint32_t k)
{
	size_t at = px->planar ? k * npix + i : i * px->samples + k;

	if (px->bits_allocated == 8)
		return raw[at];
	return (uint32_t)raw[2 * at] | ((uint32_t)raw[2 * at + 1] << 8);
}

/* npix raw pixels as brightness values (scan_grid says which). */
static void to_values(const struct dicom_pixels *px, const uint8_t *raw,
		      size_t npix, int32_t *out)
{
	uint32_t bs = px->bits_stored;
	uint32_t mask;
	size_t i;

	if (bs == 0 || bs > px->bits_allocated)
		bs = px->bits_allocated;
	mask = bs >= 32 ? 0xffffffffu : (1u << bs) - 1;
	if (px->samples == 3) {
		for (i = 0; i < npix; i++) {
			uint32_t r = raw_sample(px, raw, npix, i, 0);
			uint32_t g, b;

			if (px->ybr) {	/* Y is the brightness */
				out[i] = (int32_t)r;
				continue;
			}
			g = raw_sample(px, raw, npix, i, 1);
			b = raw_sample(px, raw, npix, i, 2);
			if (px->bits_allocated == 16) {
				r >>= 8;
				g >>= 8;
				b >>= 8;
			}
			/* BT.601 weights */
			out[i] = (int32_t)((77 * r + 150 * g + 29 * b) >> 8);
		}
		return;
	}
	if (px->bits_allocated == 16 && !px->is_signed) {
		/* the mammogram: a loop the compiler vectorises */
		for (i = 0; i < npix; i++)
			out[i] = (int32_t)(((uint32_t)raw[2 * i] |
					    ((uint32_t)raw[2 * i + 1] << 8)) &
					   mask);
		return;
	}
	for (i = 0; i < npix; i++) {
		uint32_t v = raw_sample(px, raw, npix, i, 0) & mask;

		if (px->is_signed && (v >> (bs - 1)) & 1)
			out[i] = (int32_t)v - (int32_t)(1u << (bs - 1)) -
				 (int32_t)(1u << (bs - 1));
		else
			out[i] = (int32_t)v;
	}
}

/* Cell size: coarser on big images (a 14 px letter still spans two cells
 * of 8), fine on small ones. */
static uint32_t cell_size(uint32_t rows, uint32_t cols)
{
	uint32_t m = rows < cols ? rows : cols;

	return m >= 2048 ? 8 : m >= 1024 ? 4 : m >= 256 ? 2 : 1;
}

void scan_grid_free(struct scan_grid *g)
{
	if (!g)
		return;
	free(g->lo);
	free(g->hi);
	memset(g, 0, sizeof(*g));
}

/* One sample of 16 bits, unsigned, on a little-endian host: the
 * mammogram, read without a copy into values. */
static int is_fast(const struct dicom_pixels *px)
{
	return px->samples == 1 && px->bits_allocated == 16 &&
	       !px->is_signed && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

/*
 * Row r of a strip into the column minima and maxima cl, ch (first: the
 * row starts them).  From raw when is_fast(), else from vals
 * (to_values()).  Loops the compiler vectorises.
 */
static void accumulate(const struct dicom_pixels *px, const uint8_t *raw,
		       const int32_t *vals, uint32_t r, int first,
		       int32_t *restrict cl, int32_t *restrict ch)
{
	uint32_t cols = px->cols, x;

	if (is_fast(px)) {
		const uint16_t *w = (const uint16_t *)raw + (size_t)r * cols;
		uint32_t bs = px->bits_stored;
		uint16_t mask = (uint16_t)(bs >= 16 ? 0xffffu
						    : (1u << bs) - 1);

		if (first) {
			for (x = 0; x < cols; x++)
				cl[x] = ch[x] = (int32_t)(w[x] & mask);
			return;
		}
		for (x = 0; x < cols; x++) {
			int32_t v = (int32_t)(w[x] & mask);

			cl[x] = v < cl[x] ? v : cl[x];
			ch[x] = v > ch[x] ? v : ch[x];
		}
		return;
	}
	vals += (size_t)r * cols;
	if (first) {
		memcpy(cl, vals, (size_t)cols * sizeof(*cl));
		memcpy(ch, vals, (size_t)cols * sizeof(*ch));
		return;
	}
	for (x = 0; x < cols; x++) {
		cl[x] = vals[x] < cl[x] ? vals[x] : cl[x];
		ch[x] = vals[x] > ch[x] ? vals[x] : ch[x];
	}
}

/* Cell row cy of g from the column minima and maxima of its rows (cl,
 * ch): each cell's own columns and the first of the next cell. */
static void close_cell_row(struct scan_grid *g, uint32_t cy,
			   const int32_t *cl, const int32_t *ch)
{
	uint32_t f = g->cell, cols = g->cols;
	int32_t *L = g->lo + (size_t)cy * g->gc, *H = g->hi + (size_t)cy * g->gc;

	for (uint32_t cx = 0; cx < g->gc; cx++) {
		uint32_t x0 = cx * f, x1 = x0 + f;
		int32_t lo = cl[x0], hi = ch[x0];

		if (x1 >= cols)
			x1 = cols - 1;
		for (uint32_t x = x0 + 1; x <= x1; x++) {
			lo = cl[x] < lo ? cl[x] : lo;
			hi = ch[x] > hi ? ch[x] : hi;
		}
		L[cx] = lo;
		H[cx] = hi;
	}
}

int scan_grid_frame(const struct scan_pixels *sp, uint32_t frame,
		    struct scan_grid *g)
{
	const struct dicom_pixels *px = &sp->px;
	uint32_t f = cell_size(px->rows, px->cols), cols = px->cols;
	uint32_t gr = (px->rows + f - 1) / f, gc = (cols + f - 1) / f;
	size_t ncell = (size_t)gr * gc, i;
	size_t rowraw = (size_t)cols * px->samples * bytes_per_sample(px);
	uint8_t *raw = NULL;
	int32_t *vals = NULL, *cl = NULL, *ch = NULL;
	int fast = is_fast(px), err = -ENOMEM;

	if (!ncell)
		return -EBADMSG;
	if (ncell > (size_t)g->gr * g->gc || !g->lo) {
		free(g->lo);
		free(g->hi);
		g->lo = malloc(ncell * sizeof(*g->lo));
		g->hi = malloc(ncell * sizeof(*g->hi));
	}
	g->rows = px->rows;
	g->cols = cols;
	g->cell = f;
	g->gr = gr;
	g->gc = gc;
	g->mono1 = px->mono1;
	raw = malloc(rowraw * STRIP_ROWS);
	vals = fast ? malloc(1) : malloc((size_t)cols * STRIP_ROWS *
					    sizeof(*vals));
	/* per column, the lowest and highest value of the current cell
	 * row's rows so far: a vertical pass the compiler vectorises, and a
	 * horizontal one per cell row only */
	cl = malloc((size_t)cols * sizeof(*cl));
	ch = malloc((size_t)cols * sizeof(*ch));
	if (!g->lo || !g->hi || !raw || !vals || !cl || !ch)
		goto out;
	for (uint32_t y0 = 0; y0 < px->rows; y0 += STRIP_ROWS) {
		uint32_t n = px->rows - y0 < STRIP_ROWS ? px->rows - y0
							: STRIP_ROWS;

		err = read_rows(sp, frame, y0, n, 0, cols, raw);
		if (err)
			goto out;
		if (!fast)
			to_values(px, raw, (size_t)n * cols, vals);
		for (uint32_t r = 0; r < n; r++) {
			uint32_t y = y0 + r;

			if (y % f == 0 && y) {
				/* the first row of a cell row is the last
				 * of the one above too (one pixel more
				 * down), which it closes */
				accumulate(px, raw, vals, r, 0, cl, ch);
				close_cell_row(g, y / f - 1, cl, ch);
			}
			accumulate(px, raw, vals, r, y % f == 0, cl, ch);
		}
	}
	close_cell_row(g, gr - 1, cl, ch);
	if (px->samples == 3 && !px->ybr) {
		g->flo = 0;	/* luma: not stretched */
		g->fhi = 255;
	} else {
		g->flo = INT32_MAX;
		g->fhi = INT32_MIN;
		for (i = 0; i < ncell; i++) {
			g->flo = g->lo[i] < g->flo ? g->lo[i] : g->flo;
			g->fhi = g->hi[i] > g->fhi ? g->hi[i] : g->fhi;
		}
	}
	err = 0;
out:
	free(raw);
	free(vals);
	free(cl);
	free(ch);
	return err;
}

/* --------------------------------------------------------- candidates */

/* Contrast within a cell that marks an edge of a stroke, of 255. */
#define EDGE_CONTRAST 64
/* Text is at most this tall (pixels, full resolution): taller components
 * are shapes, not letters. */
#define TEXT_MAX_H 200
/* ... and at least this tall: a cap height of 8 px (smaller text is not
 * read reliably anyway; README says 14 px).  Below it, edges of anatomy on
 * small images (64 x 64 MR slices) were candidates. */
#define TEXT_MIN_H 8
/* Of a component's edge cells, this share (of 100) must have their darkest
 * pixel at the component's background (or ink) level and their brightest at
 * its ink (or background) level, within a quarter of the contrast between
 * the two: burned-in text is drawn in one colour on a flat ground.  Edges
 * of anatomy join many levels. */
#define TWO_LEVEL_SHARE 75

struct comp {
	uint32_t x0, y0, x1, y1;	/* cells, inclusive */
	uint32_t n;
};

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Whether the n cells of a component (indices into g) look like text drawn
 * in one colour on a flat ground: their minima cluster at one level and
 * their maxima at another.  Only the cells with an edge of their own count
 * (not those that close gaps between letters).  lo, hi: scratch of n.
 */
static int two_level(const struct scan_grid *g, const uint32_t *cells,
		     size_t n, int64_t range, int32_t *lo, int32_t *hi)
{
	size_t m = 0, okl = 0, okh = 0, i;
	int64_t ml, mh, tol;

	for (i = 0; i < n; i++) {
		int32_t l = g->lo[cells[i]], h = g->hi[cells[i]];

		if (((int64_t)h - l) * 255 >= EDGE_CONTRAST * range) {
			lo[m] = l;
			hi[m++] = h;
		}
	}
	if (!m)
		return 0;
	qsort(lo, m, sizeof(*lo), cmp_i32);
	qsort(hi, m, sizeof(*hi), cmp_i32);
	ml = lo[m / 2];
	mh = hi[m / 2];
	tol = (mh - ml) / 4;
	for (i = 0; i < m; i++) {
		okl += lo[i] - ml <= tol && ml - lo[i] <= tol;
		okh += hi[i] - mh <= tol && mh - hi[i] <= tol;
	}
	return okl * 100 >= TWO_LEVEL_SHARE * m &&
	       okh * 100 >= TWO_LEVEL_SHARE * m;
}

static void box_merge(struct scan_box *a, const struct scan_box *b)
{
	uint32_t x1 = a->x + a->w > b->x + b->w ? a->x + a->w : b->x + b->w;
	uint32_t y1 = a->y + a->h > b->y + b->h ? a->y + a->h : b->y + b->h;

	a->x = a->x < b->x ? a->x : b->x;
	a->y = a->y < b->y ? a->y : b->y;
	a->w = x1 - a->x;
	a->h = y1 - a->y;
}

static int box_overlap(const struct scan_box *a, const struct scan_box *b)
{
	return a->x < b->x + b->w && b->x < a->x + a->w &&
	       a->y < b->y + b->h && b->y < a->y + a->h;
}

size_t scan_grid_candidates(const struct scan_grid *g, struct scan_box *box,
			    size_t max)
{
	uint32_t f = g->cell, cr = g->gr, cc = g->gc;
	uint32_t rows = g->rows, cols = g->cols;
	size_t ncell = (size_t)cr * cc, nbox = 0, i, j;
	uint8_t *mask = calloc(ncell ? ncell : 1, 1);
	uint32_t *stack = NULL, *cells = NULL;
	int32_t *slo = NULL, *shi = NULL;
	/* letters of a word: gaps of up to ~12-16 px are closed */
	uint32_t gap = f >= 8 ? 2 : f >= 4 ? 3 : f == 2 ? 4 : 6;
	int64_t range = (int64_t)g->fhi - g->flo;
	int more = 0;

	if (!mask)
		return max + 1;	/* no memory: read it all (fails closed) */
	if (range <= 0) {	/* one flat value: nothing drawn */
		free(mask);
		return 0;
	}
	/* the cells with an edge in them: contrast of EDGE_CONTRAST / 255
	 * of the range */
	for (i = 0; i < ncell; i++)
		if (((int64_t)g->hi[i] - g->lo[i]) * 255 >=
		    EDGE_CONTRAST * range)
			mask[i] = 1;
	/* a mammogram: in its background only, when there is a clear one
	 * (the texture of tissue made most of the false candidates) */
	if (g->mg) {
		uint8_t *bg = malloc(ncell);

		if (bg && scan_grid_background(g, bg))
			for (i = 0; i < ncell; i++)
				mask[i] &= bg[i];
		free(bg);
	}
	/* letters of a word: close short gaps along each row */
	for (uint32_t y = 0; y < cr; y++) {
		uint8_t *m = mask + (size_t)y * cc;
		uint32_t last = UINT32_MAX;

		for (uint32_t x = 0; x < cc; x++) {
			if (m[x] != 1)
				continue;
			if (last != UINT32_MAX && x - last > 1 &&
			    x - last <= gap + 1)
				for (uint32_t k = last + 1; k < x; k++)
					m[k] = 2;
			last = x;
		}
	}
	/* components (8-connected), with an explicit stack */
	stack = malloc(ncell * sizeof(*stack));
	cells = malloc(ncell * sizeof(*cells));
	slo = malloc(ncell * sizeof(*slo));
	shi = malloc(ncell * sizeof(*shi));
	if (!stack || !cells || !slo || !shi) {
		more = 1;
		goto out;
	}
	for (i = 0; i < ncell; i++) {
		struct comp c;
		size_t sp = 0, ncells = 0;
		struct scan_box b;
		uint32_t h, w, margin;

		if (!mask[i] || mask[i] == 3)
			continue;
		c.x0 = c.x1 = (uint32_t)(i % cc);
		c.y0 = c.y1 = (uint32_t)(i / cc);
		c.n = 0;
		mask[i] = 3;
		stack[sp++] = (uint32_t)i;
		while (sp) {
			uint32_t k = stack[--sp], x = k % cc, y = k / cc;

			c.n++;
			cells[ncells++] = k;
			c.x0 = x < c.x0 ? x : c.x0;
			c.x1 = x > c.x1 ? x : c.x1;
			c.y0 = y < c.y0 ? y : c.y0;
			c.y1 = y > c.y1 ? y : c.y1;
			/* 8-connected: an edge running diagonally steps
			 * from corner to corner of its cells */
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					uint32_t nb;

					if ((!dx && !dy) || (dx < 0 && !x) ||
					    (dx > 0 && x + 1 >= cc) ||
					    (dy < 0 && !y) ||
					    (dy > 0 && y + 1 >= cr))
						continue;
					nb = (uint32_t)((int64_t)k +
							dy * (int64_t)cc + dx);
					if (mask[nb] && mask[nb] != 3) {
						mask[nb] = 3;
						stack[sp++] = nb;
					}
				}
		}
		h = (c.y1 - c.y0 + 1) * f;
		w = (c.x1 - c.x0 + 1) * f;
		/* a speck (noise, a calcification) or a shape taller than
		 * text */
		if (c.n < 3 || h > TEXT_MAX_H || h > rows / 2 + 1 || w < 4 ||
		    h < TEXT_MIN_H)
			continue;
		/* edges of anatomy, of a textured ground: not drawn text */
		if (!two_level(g, cells, ncells, range, slo, shi))
			continue;
		margin = 6 + h / 2;
		b.x = c.x0 * f > margin ? c.x0 * f - margin : 0;
		b.y = c.y0 * f > margin ? c.y0 * f - margin : 0;
		b.w = (c.x1 + 1) * f + margin - b.x;
		b.h = (c.y1 + 1) * f + margin - b.y;
		if (b.x + b.w > cols)
			b.w = cols - b.x;
		if (b.y + b.h > rows)
			b.h = rows - b.y;
		/* overlapping boxes are one (a line and its margins) */
		for (j = 0; j < nbox; j++)
			if (box_overlap(&box[j], &b))
				break;
		if (j < nbox) {
			box_merge(&box[j], &b);
			continue;
		}
		if (nbox == max) {
			more = 1;
			break;
		}
		box[nbox++] = b;
	}
	/* merging may make boxes overlap others: again until none do */
	for (int again = 1; again && !more;) {
		again = 0;
		for (i = 0; i < nbox; i++)
			for (j = i + 1; j < nbox; j++)
				if (box_overlap(&box[i], &box[j])) {
					box_merge(&box[i], &box[j]);
					box[j] = box[--nbox];
					again = 1;
					j--;
				}
	}
out:
	free(shi);
	free(slo);
	free(cells);
	free(stack);
	free(mask);
	return more ? max + 1 : nbox;
}

/* -------------------------------------------------------------- crops */

int scan_crop_gray(const struct scan_pixels *sp, uint32_t frame,
		   const struct scan_grid *g, const struct scan_box *b,
		   uint8_t *out)
{
	const struct dicom_pixels *px = &sp->px;
	size_t rowraw = (size_t)b->w * px->samples * bytes_per_sample(px);
	uint8_t *raw = malloc(rowraw * STRIP_ROWS);
	int32_t *vals = malloc((size_t)b->w * STRIP_ROWS * sizeof(*vals));
	int64_t range = (int64_t)g->fhi - g->flo;
	int err = -ENOMEM;

	if (!raw || !vals)
		goto out;
	for (uint32_t y0 = 0; y0 < b->h; y0 += STRIP_ROWS) {
		uint32_t n = b->h - y0 < STRIP_ROWS ? b->h - y0 : STRIP_ROWS;
		size_t npix = (size_t)n * b->w;

		err = read_rows(sp, frame, b->y + y0, n, b->x, b->w, raw);
		if (err)
			goto out;
		to_values(px, raw, npix, vals);
		for (size_t i = 0; i < npix; i++) {
			int64_t s = range > 0
					    ? ((int64_t)vals[i] - g->flo) * 255 / range
					    : 0;

			s = s < 0 ? 0 : s > 255 ? 255 : s;
			out[(size_t)y0 * b->w + i] =
				(uint8_t)(g->mono1 ? 255 - s : s);
		}
	}
	err = 0;
out:
	free(raw);
	free(vals);
	return err;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int scan_box_background(const struct scan_pixels *sp, uint32_t frame,
			const struct scan_box *b, uint16_t fill[3])
{
	const struct dicom_pixels *px = &sp->px;
	size_t npix = (size_t)b->w * b->h, nb = 0;
	uint8_t *raw = malloc(npix * px->samples * bytes_per_sample(px));
	uint32_t *v = malloc((2 * (size_t)b->w + 2 * (size_t)b->h) *
			     sizeof(*v));
	int err = -ENOMEM;

	fill[0] = fill[1] = fill[2] = 0;
	if (!raw || !v || !npix)
		goto out;
	err = read_rows(sp, frame, b->y, b->h, b->x, b->w, raw);
	if (err)
		goto out;
	for (uint32_t k = 0; k < px->samples && k < 3; k++) {
		nb = 0;
		for (uint32_t y = 0; y < b->h; y++)
			for (uint32_t x = 0; x < b->w; x++)
				if (!y || !x || y + 1 == b->h || x + 1 == b->w)
					v[nb++] = raw_sample(
						px, raw, npix,
						(size_t)y * b->w + x, k);
		qsort(v, nb, sizeof(*v), cmp_u32);
		fill[k] = (uint16_t)v[nb / 2];
	}
out:
	free(raw);
	free(v);
	return err;
}
