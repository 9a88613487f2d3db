/*
 * scan_worker.c - scan_file() (scan.h): one file through the stages of the
 * scan, in the process that calls it (the pool's worker, or a test).
 * Decode every frame (GDCM), find candidates at reduced resolution, read
 * them with Tesseract at full resolution, classify each line read.  The
 * text read is classified and wiped here; only regions and kinds leave.
 */
#include "scan_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Decoded bytes a worker will hold for one file (all frames). */
#define SCAN_DECODE_MAX (2ull << 30)

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct frame_ctx {
	const struct scan_ident *id;
	const struct scan_allow *allow;
	struct scan_result *res;
	uint32_t frame;
};

static void on_line(void *arg, const struct scan_line *l)
{
	struct frame_ctx *c = arg;
	struct scan_result *r = c->res;
	uint32_t k = scan_line_kind(l->text, c->id, c->allow);
	struct scan_region *g;

	if (!k)
		return;
	r->kinds |= k;
	if (r->nregions == SCAN_MAX_REGIONS)
		return;
	g = &r->region[r->nregions++];
	g->frame = c->frame;
	g->x = l->at.x;
	g->y = l->at.y;
	g->w = l->at.w;
	g->h = l->at.h;
	g->kind = k;
}

#ifdef DEIDFS_SCAN_FAULTS
/*
 * Test builds only (make scantest): pixel data whose first decoded bytes
 * spell CRASH!!! or HANGHANG make this worker crash or spin, as a codec
 * might on a hostile file, so that the tests can show it costs that file
 * only.  Not compiled into deidfs.
 */
static void injected_fault(const struct dicom_pixels *px)
{
	if (px->len >= 8 && !memcmp(px->buf, "CRASH!!!", 8))
		raise(SIGSEGV);
	if (px->len >= 8 && !memcmp(px->buf, "HANGHANG", 8))
		for (volatile unsigned long n = 0;; n++)
			;
}
#endif

int scan_file(const struct dicom_source *src, const struct scan_ident *id,
	      const struct scan_allow *allow, struct scan_result *res)
{
	struct dicom_pixels px;
	struct scan_box box[SCAN_MAX_BOXES];
	uint8_t *gray = NULL;
	uint64_t t0 = now_us(), t1;
	int err;

	memset(res, 0, sizeof(*res));
	err = dicom_decode_pixels(src, SCAN_DECODE_MAX, &px);
	res->us_decode = now_us() - t0;
	if (err == -ENOMEM || err == -E2BIG || err == -EBADMSG ||
	    err == -ENOTSUP) {
		/* cannot be shown to hold no text: fail closed */
		res->status = SCAN_UNREADABLE;
		return 0;
	}
	if (err)
		return err;
#ifdef DEIDFS_SCAN_FAULTS
	injected_fault(&px);
#endif
	gray = malloc((size_t)px.rows * px.cols);
	if (!gray) {
		dicom_pixels_free(&px);
		res->status = SCAN_UNREADABLE;
		return 0;
	}
	for (uint32_t f = 0; f < px.frames; f++) {
		struct frame_ctx c = { id, allow, res, f };
		size_t n, i;

		t1 = now_us();
		scan_frame_gray(&px, f, gray);
		n = scan_find_candidates(gray, px.rows, px.cols, box,
					 SCAN_MAX_BOXES);
		if (n > SCAN_MAX_BOXES) {
			/* too many to read one by one: the whole frame */
			box[0] = (struct scan_box){ 0, 0, px.cols, px.rows };
			n = 1;
		}
		res->us_find += now_us() - t1;
		t1 = now_us();
		for (i = 0; i < n; i++) {
			if (!err)
				err = scan_ocr_init();
			if (!err)
				err = scan_ocr_box(gray, px.rows, px.cols,
						   &box[i], on_line, &c);
			if (err)
				break;
			res->candidates++;
		}
		res->us_ocr += now_us() - t1;
		res->frames++;
		if (err)
			break;
	}
	explicit_bzero(gray, (size_t)px.rows * px.cols);
	free(gray);
	dicom_pixels_free(&px);
	if (err) {
		/* no reader, or a region too big to read: not shown clean */
		res->status = SCAN_UNREADABLE;
		err = 0;
	}
	return err;
}
