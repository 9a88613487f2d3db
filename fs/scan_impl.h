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
 * One frame of px as 8-bit brightness, rows * cols bytes into out, its
 * values stretched from the frame's darkest to its brightest (so that text
 * burned in at the top of any range reads as white), MONOCHROME1 turned
 * around.  Pure.
 */
void scan_frame_gray(const struct dicom_pixels *px, uint32_t frame,
		     uint8_t *out);

struct scan_box {
	uint32_t x, y, w, h;
};

#define SCAN_MAX_BOXES 48

/*
 * The text candidates of a gray frame: small high-contrast components,
 * found at reduced resolution (cells of up to 4 x 4 pixels whose darkest
 * and brightest pixels differ by a quarter of the range, joined along
 * rows, as letters of a word are), each box at full resolution with a
 * margin.  Writes up to max boxes; returns how many there are, or max + 1
 * when there are more (too many to read one by one: read the whole frame).
 * Pure.
 */
size_t scan_find_candidates(const uint8_t *g, uint32_t rows, uint32_t cols,
			    struct scan_box *box, size_t max);

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
 * the box b of the gray frame g and calls fn for each line read (words
 * below a confidence floor are left out).  Returns 0 or -ENOMEM.
 */
int scan_ocr_init(void);
int scan_ocr_box(const uint8_t *g, uint32_t rows, uint32_t cols,
		 const struct scan_box *b, scan_line_fn fn, void *arg);

#endif
