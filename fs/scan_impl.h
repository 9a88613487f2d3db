/*
 * scan_impl.h - the stages of the burned-in text scan that scan_file()
 * (scan_worker.c) chains, internal to fs/scan_*.c; the contract is scan.h.
 */
#ifndef DEIDFS_SCAN_IMPL_H
#define DEIDFS_SCAN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "dicom.h"
#include "scan.h"

/*
 * The pixels of one file as the scan reads them: the geometry in px, and
 * the samples either decoded whole in px.buf (GDCM: compressed syntaxes)
 * or, px.buf NULL, native little-endian bytes read from src at off (the
 * published file's own bytes, read a strip at a time and never held
 * whole).  Both borrowed.
 */
struct scan_pixels {
	struct dicom_pixels px;
	const struct dicom_source *src;
	uint64_t off;
};

/* Read the raw bytes [off, off + n) of the pixel data (frames one after
 * another).  Returns 0 or -EBADMSG (short: the file changed or lies). */
int scan_pixels_read(const struct scan_pixels *sp, uint64_t off, void *buf,
		     size_t n);

/*
 * One frame seen coarsely, made in one streaming pass over its samples:
 * for each cell of cell x cell pixels (one pixel more right and down, so
 * that an edge along a cell border is inside a cell all the same), the
 * lowest and highest brightness value in it.  Values are samples as
 * numbers (Bits Stored, Pixel Representation), the Y of YBR, the luma
 * (0-255) of RGB.  flo, fhi: the frame's range that contrast is measured
 * against (0-255 for RGB, the frame's own for one sample: text burned in
 * at the top of any range reads as white).
 */
struct scan_grid {
	uint32_t rows, cols, cell, gr, gc;
	int32_t *lo, *hi;	/* gr * gc, owned */
	int32_t flo, fhi;
	int mono1;		/* MONOCHROME1: low values are bright */
	int mg;			/* a mammogram (Modality MG, one sample):
				 * candidates in its background only (set
				 * by the caller, kept by scan_grid_frame()) */
};

/* Fill g for frame of sp (g's arrays are reused when big enough).
 * Returns 0, -ENOMEM or -EBADMSG. */
int scan_grid_frame(const struct scan_pixels *sp, uint32_t frame,
		    struct scan_grid *g);
void scan_grid_free(struct scan_grid *g);	/* accepts NULL */

struct scan_box {
	uint32_t x, y, w, h;
};

#define SCAN_MAX_BOXES 48

/*
 * The background of a mammogram's frame seen as g (scan_breast.c): bg[i]
 * (g->gr * g->gc) is 1 for the cells outside the breast and a margin
 * around it, reached from the frame's border.  Returns 1 when the frame
 * shows a clear split of breast and background, else 0 (bg is then not
 * to be used: look at the whole frame).
 */
int scan_grid_background(const struct scan_grid *g, uint8_t *bg);

/*
 * The text candidates of a frame: small high-contrast components of the
 * grid (cells whose darkest and brightest values differ by a quarter of
 * the range, joined along rows as letters of a word are, 8-connected),
 * each box at full resolution with a margin; of a mammogram (g->mg), in
 * its background only when scan_grid_background() finds one.  Writes up to max boxes;
 * returns how many there are, or max + 1 when there are more (too many to
 * read one by one: read the whole frame).  Pure.
 */
size_t scan_grid_candidates(const struct scan_grid *g, struct scan_box *box,
			    size_t max);

/*
 * The box b of frame as 8-bit brightness (b->w * b->h bytes into out):
 * stretched over g's range, MONOCHROME1 turned around.  Reads only the
 * box's rows.  Returns 0 or -EBADMSG.
 */
int scan_crop_gray(const struct scan_pixels *sp, uint32_t frame,
		   const struct scan_grid *g, const struct scan_box *b,
		   uint8_t *out);

/*
 * The background of box b of frame: per sample, the median raw value of
 * the pixels on its border (the value a mask paints with).  Returns 0,
 * -ENOMEM or -EBADMSG.
 */
int scan_box_background(const struct scan_pixels *sp, uint32_t frame,
			const struct scan_box *b, uint16_t fill[3]);

/* One line of text read in a box: UTF-8 (owned by the reader, valid until
 * the next call), where it is in the frame. */
struct scan_line {
	const char *text;
	struct scan_box at;
};

typedef void (*scan_line_fn)(void *arg, const struct scan_line *l);

/*
 * Tesseract (eng+nor, through its C API, loaded with dlopen() in the
 * worker only, so that the main process never carries it or its OpenMP
 * threads).  scan_ocr_init() once per worker: 0, or -ENOENT when the
 * library or its language data cannot be loaded.  scan_ocr_box() reads
 * crop, the box b of a frame as 8-bit brightness (b->w * b->h bytes), and
 * calls fn for each line read, in the frame's coordinates (words below a
 * confidence floor are left out).  candidate: b is a candidate's box (its
 * text at most about half its height: a tall one is read smaller), not a
 * whole frame (read at full size whatever its height).  Returns 0,
 * -E2BIG or -ENOMEM.
 */
int scan_ocr_init(void);
int scan_ocr_box(const uint8_t *crop, const struct scan_box *b,
		 int candidate, scan_line_fn fn, void *arg);

#endif
