/*
 * scan_image.c - the cheap stages of the scan (scan_impl.h): a frame as
 * 8-bit brightness, and the text candidates in it.  Pure arithmetic.
 *
 * Burned-in text is drawn to be read: strokes at (or near) one end of the
 * range against a flat background, in lines of small, similar shapes.  The
 * candidates are cells of a coarse grid whose own darkest and brightest
 * pixels differ by much (an edge of a stroke falls inside the cell, whatever
 * the polarity), joined along rows as letters of a word are; a component
 * no taller than text can be is a candidate.  The border of the breast is
 * an edge too, but one component as tall as the image.
 */
#include "scan_impl.h"

#include <stdlib.h>
#include <string.h>

/* Sample k (0-based, of samples) of pixel i of the frame starting at f. */
static uint32_t sample(const struct dicom_pixels *px, const uint8_t *f,
		       size_t i, uint32_t k)
{
	size_t npix = (size_t)px->rows * px->cols;
	size_t at = px->planar ? k * npix + i : i * px->samples + k;

	if (px->bits_allocated == 8)
		return f[at];
	return (uint32_t)f[2 * at] | ((uint32_t)f[2 * at + 1] << 8);
}

/* A sample as a signed number per its Bits Stored and Pixel
 * Representation. */
static int32_t value(const struct dicom_pixels *px, uint32_t v)
{
	uint32_t bs = px->bits_stored;

	if (bs == 0 || bs > px->bits_allocated)
		bs = px->bits_allocated;
	v &= bs >= 32 ? 0xffffffffu : (1u << bs) - 1;
	if (px->is_signed && (v >> (bs - 1)) & 1)
		return (int32_t)v - (int32_t)(1u << bs);
	return (int32_t)v;
}

void scan_frame_gray(const struct dicom_pixels *px, uint32_t frame,
		     uint8_t *out)
{
	size_t npix = (size_t)px->rows * px->cols, i;
	size_t fbytes = npix * px->samples * (px->bits_allocated / 8);
	const uint8_t *f = px->buf + (size_t)frame * fbytes;
	int32_t lo = INT32_MAX, hi = INT32_MIN;
	int32_t *tmp = NULL;

	if (px->samples == 3 && !px->ybr) {
		/* brightness of RGB (BT.601 weights) */
		for (i = 0; i < npix; i++) {
			uint32_t r = sample(px, f, i, 0), g = sample(px, f, i, 1),
				 b = sample(px, f, i, 2);

			if (px->bits_allocated == 16) {
				r >>= 8;
				g >>= 8;
				b >>= 8;
			}
			out[i] = (uint8_t)((77 * r + 150 * g + 29 * b) >> 8);
		}
		return;
	}
	/* one sample (or Y of YBR): stretched to the frame's own range */
	tmp = malloc(npix * sizeof(*tmp));
	for (i = 0; i < npix; i++) {
		int32_t v = px->samples == 3 ? (int32_t)sample(px, f, i, 0)
					     : value(px, sample(px, f, i, 0));

		if (tmp)
			tmp[i] = v;
		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
	}
	for (i = 0; i < npix; i++) {
		int32_t v = tmp ? tmp[i]
				: (px->samples == 3
					   ? (int32_t)sample(px, f, i, 0)
					   : value(px, sample(px, f, i, 0)));
		int64_t s = hi > lo ? ((int64_t)(v - lo) * 255) / (hi - lo) : 0;

		out[i] = (uint8_t)(px->mono1 ? 255 - s : s);
	}
	free(tmp);
}

/* --------------------------------------------------------- candidates */

/* Contrast within a cell that marks an edge of a stroke, of 255. */
#define EDGE_CONTRAST 64
/* Text is at most this tall (pixels, full resolution): taller components
 * are shapes, not letters. */
#define TEXT_MAX_H 200

/* Cell size: coarser on big images (a 14 px letter still spans 3 cells of
 * 4), fine on small ones. */
static uint32_t cell_size(uint32_t rows, uint32_t cols)
{
	uint32_t m = rows < cols ? rows : cols;

	return m >= 1024 ? 4 : m >= 256 ? 2 : 1;
}

struct comp {
	uint32_t x0, y0, x1, y1;	/* cells, inclusive */
	uint32_t n;
};

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

size_t scan_find_candidates(const uint8_t *g, uint32_t rows, uint32_t cols,
			    struct scan_box *box, size_t max)
{
	uint32_t f = cell_size(rows, cols);
	uint32_t cr = (rows + f - 1) / f, cc = (cols + f - 1) / f;
	size_t ncell = (size_t)cr * cc, nbox = 0, i, j;
	uint8_t *mask = calloc(ncell ? ncell : 1, 1);
	uint32_t *stack = NULL;
	uint32_t gap = f >= 4 ? 3 : f == 2 ? 4 : 6;	/* ~12 px */
	int more = 0;

	if (!mask)
		return max + 1;	/* no memory: read it all (fails closed) */
	/* the cells with an edge in them */
	for (uint32_t y = 0; y < cr; y++)
		for (uint32_t x = 0; x < cc; x++) {
			uint8_t lo = 255, hi = 0;

			/* one pixel more right and down: an edge that runs
			 * along a cell border is inside a cell all the same
			 * (else a curve would break into short pieces) */
			for (uint32_t dy = 0; dy <= f && y * f + dy < rows;
			     dy++) {
				const uint8_t *row = g + (size_t)(y * f + dy) * cols;

				for (uint32_t dx = 0; dx <= f && x * f + dx < cols;
				     dx++) {
					uint8_t v = row[x * f + dx];

					lo = v < lo ? v : lo;
					hi = v > hi ? v : hi;
				}
			}
			if (hi - lo >= EDGE_CONTRAST)
				mask[(size_t)y * cc + x] = 1;
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
	if (!stack) {
		free(mask);
		return max + 1;
	}
	for (i = 0; i < ncell; i++) {
		struct comp c;
		size_t sp = 0;
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
			uint32_t nb[8];
			int nn = 0;

			c.n++;
			c.x0 = x < c.x0 ? x : c.x0;
			c.x1 = x > c.x1 ? x : c.x1;
			c.y0 = y < c.y0 ? y : c.y0;
			c.y1 = y > c.y1 ? y : c.y1;
			/* 8-connected: an edge running diagonally steps
			 * from corner to corner of its cells */
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					if ((!dx && !dy) || (dx < 0 && !x) ||
					    (dx > 0 && x + 1 >= cc) ||
					    (dy < 0 && !y) ||
					    (dy > 0 && y + 1 >= cr))
						continue;
					nb[nn++] = (uint32_t)((int64_t)k +
							      dy * (int64_t)cc + dx);
				}
			while (nn--)
				if (mask[nb[nn]] && mask[nb[nn]] != 3) {
					mask[nb[nn]] = 3;
					stack[sp++] = nb[nn];
				}
		}
		h = (c.y1 - c.y0 + 1) * f;
		w = (c.x1 - c.x0 + 1) * f;
		/* a speck (noise, a calcification) or a shape taller than
		 * text */
		if (c.n < 3 || h > TEXT_MAX_H || h > rows / 2 + 1 || w < 4)
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
	free(stack);
	free(mask);
	return more ? max + 1 : nbox;
}
