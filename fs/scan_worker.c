/*
 * scan_worker.c - scan_file() (scan.h): one file through the stages of the
 * scan, in the process that calls it (the pool's worker, or a test).
 *
 * The published file's header is parsed (our own bounded parser); native
 * pixel data in little endian is read from the published bytes a strip at
 * a time, with no decoder and no copy of the image (scan_image.c); other
 * pixel data (encapsulated, big endian, YBR_FULL_422 and the like) is
 * decoded whole by GDCM.  Each frame: the grid and its candidates in one
 * pass, then Tesseract on the candidates at full resolution, none when
 * there are none; each line read is classified.  The text read is
 * classified and wiped here; only regions and kinds leave.
 */
#include "scan_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Decoded bytes a worker will hold for one file (all frames; GDCM). */
#define SCAN_DECODE_MAX (2ull << 30)
/* Pixels of one crop that OCR reads (a whole frame when a frame has too
 * many candidates): beyond it the frame is not shown clean. */
#define SCAN_CROP_MAX (16ull << 20)

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* What the lines read in one box were. */
struct box_ctx {
	const struct scan_ident *id;
	const struct scan_allow *allow;
	uint32_t kinds;
	struct scan_result *res;
};

/* A form of identifying text, kept as its digest for the registry's
 * match (scan_tokens.c). */
static void on_form(void *arg, const char *form, size_t n)
{
	struct scan_result *res = arg;
	uint8_t d[32];

	scan_token_sha(form, n, d);
	for (uint32_t i = 0; i < res->ntokens; i++)
		if (!memcmp(res->token[i], d, 32))
			return;
	if (res->ntokens < SCAN_TOKENS_MAX)
		memcpy(res->token[res->ntokens++], d, 32);
}

static void on_line(void *arg, const struct scan_line *l)
{
	struct box_ctx *c = arg;
	uint32_t k = scan_line_kind(l->text, c->id, c->allow);

	c->kinds |= k;
	if (k & SCAN_K_IDENTIFYING)
		scan_token_forms(l->text, strlen(l->text), 0, on_form,
				 c->res);
}

/* A US value of the (little-endian) published header, or -1. */
static long get_us(const struct dcm_ds *ds, uint32_t tag)
{
	const struct dcm_elem *e = dcm_ds_get(ds, tag);

	if (!e || e->len != 2 || !e->val)
		return -1;
	return (long)(e->val[0] | (e->val[1] << 8));
}

/*
 * The native pixel data of the published file p as sp, when this worker
 * reads it itself: little endian, not encapsulated, 8 or 16 bits, one
 * sample (MONOCHROME1/2) or three (RGB, YBR_FULL), every frame present.
 * Returns 1 when it does, 0 when GDCM is to decode it.
 */
static int native(const struct dicom_parsed *p, struct scan_pixels *sp)
{
	struct dicom_pixels *px = &sp->px;
	const struct dcm_ds *ds = &p->ds;
	char pi[32] = "", nf[24] = "";
	long rows = get_us(ds, DCM_TAG(0x0028, 0x0010));
	long cols = get_us(ds, DCM_TAG(0x0028, 0x0011));
	long spp = get_us(ds, DCM_TAG(0x0028, 0x0002));
	long ba = get_us(ds, DCM_TAG(0x0028, 0x0100));
	long bs = get_us(ds, DCM_TAG(0x0028, 0x0101));
	long rep = get_us(ds, DCM_TAG(0x0028, 0x0103));
	long planar = get_us(ds, DCM_TAG(0x0028, 0x0006));
	unsigned long long frames = 1;
	uint64_t fbytes;
	char *end;

	if (p->pixel_encapsulated || p->big_endian || p->deflated ||
	    rows <= 0 || cols <= 0 || (ba != 8 && ba != 16) ||
	    (spp != 1 && spp != 3))
		return 0;
	dcm_ds_get_str(ds, DCM_TAG(0x0028, 0x0004), pi, sizeof(pi));
	if (dcm_ds_get_str(ds, DCM_TAG(0x0028, 0x0008), nf, sizeof(nf))) {
		frames = strtoull(nf, &end, 10);
		while (*end == ' ')
			end++;
		if (*end || !frames || frames > INT32_MAX)
			return 0;
	}
	memset(sp, 0, sizeof(*sp));
	px->rows = (uint32_t)rows;
	px->cols = (uint32_t)cols;
	px->samples = (uint32_t)spp;
	px->bits_allocated = (uint32_t)ba;
	px->bits_stored = bs > 0 && bs <= ba ? (uint32_t)bs : (uint32_t)ba;
	px->is_signed = rep == 1;
	px->frames = (uint32_t)frames;
	if (spp == 1 && !strcmp(pi, "MONOCHROME1"))
		px->mono1 = 1;
	else if (spp == 1 && !strcmp(pi, "MONOCHROME2"))
		;
	else if (spp == 3 && !strcmp(pi, "RGB"))
		px->planar = planar == 1;
	else if (spp == 3 && !strcmp(pi, "YBR_FULL"))
		px->planar = planar == 1, px->ybr = 1;
	else
		return 0;	/* palettes, subsampled YBR: GDCM's */
	fbytes = (uint64_t)rows * (uint64_t)cols * (uint64_t)spp *
		 (uint64_t)(ba / 8);
	/* every frame there (the map ends the value where the image does:
	 * a shorter one is a file that lies) */
	if (frames > p->pixel_len / fbytes)
		return -1;
	sp->off = p->pixel_off;
	return 1;
}

#ifdef DEIDFS_SCAN_FAULTS
/*
 * Test builds only (make scantest): pixel data whose first bytes spell
 * CRASH!!! or HANGHANG make this worker crash or spin, as a codec might on
 * a hostile file, so that the tests can show it costs that file only;
 * SLOWSLOW makes it wait 5 s without using the CPU, as a worker on a
 * loaded machine does, so that they can show the timeout counts CPU time.
 * Not compiled into deidfs.
 */
static void injected_fault(const struct scan_pixels *sp)
{
	char b[8];

	if (scan_pixels_read(sp, 0, b, 8))
		return;
	if (!memcmp(b, "CRASH!!!", 8))
		raise(SIGSEGV);
	if (!memcmp(b, "HANGHANG", 8))
		for (volatile unsigned long n = 0;; n++)
			;
	if (!memcmp(b, "SLOWSLOW", 8)) {
		struct timespec ts = { 5, 0 };

		while (nanosleep(&ts, &ts))
			;
	}
}
#endif

/* Read box b of frame: OCR, and a region when it held text.  Returns 0,
 * -E2BIG (too big to read) or -ENOMEM / -ENOENT / -EBADMSG. */
static int read_box(const struct scan_pixels *sp, uint32_t frame,
		    const struct scan_grid *g, const struct scan_box *b,
		    int whole, const struct scan_ident *id,
		    const struct scan_allow *allow, struct scan_result *res)
{
	struct box_ctx c = { id, allow, 0, res };
	struct scan_region *r;
	uint8_t *crop;
	int err;

	if ((uint64_t)b->w * b->h > SCAN_CROP_MAX)
		return -E2BIG;
	crop = malloc((size_t)b->w * b->h + 1);
	if (!crop)
		return -ENOMEM;
	err = scan_crop_gray(sp, frame, g, b, crop);
	if (!err)
		err = scan_ocr_init();
	if (!err)
		err = scan_ocr_box(crop, b, !whole, on_line, &c);
	explicit_bzero(crop, (size_t)b->w * b->h);
	free(crop);
	if (err || !c.kinds)
		return err;
	res->kinds |= c.kinds;
	if (res->nregions == SCAN_MAX_REGIONS)
		return 0;
	r = &res->region[res->nregions++];
	memset(r, 0, sizeof(*r));
	r->frame = frame;
	r->x = b->x;
	r->y = b->y;
	r->w = b->w;
	r->h = b->h;
	r->kind = c.kinds;
	r->maskable = !whole;
	if (!whole)
		err = scan_box_background(sp, frame, b, r->fill);
	return err;
}

int scan_file(const struct dicom_source *src, const struct scan_ident *id,
	      const struct scan_allow *allow, struct scan_result *res)
{
	struct dicom_parsed p;
	struct scan_pixels sp;
	struct scan_grid g;
	struct scan_box box[SCAN_MAX_BOXES];
	uint64_t t0 = now_us(), t1;
	int err, nat;

	memset(res, 0, sizeof(*res));
	memset(&sp, 0, sizeof(sp));
	memset(&g, 0, sizeof(g));
	err = dicom_parse(src, &p);
	if (err == -ENOMEM || err == -EIO) {
		res->status = SCAN_UNREADABLE;
		return 0;
	}
	if (err) {
		res->status = SCAN_UNREADABLE;
		return 0;
	}
	nat = p.has_pixel ? native(&p, &sp) : -1;
	{
		char mod[20] = "";

		dcm_ds_get_str(&p.ds, DCM_TAG(0x0008, 0x0060), mod,
			       sizeof(mod));
		g.mg = !strcmp(mod, "MG");
	}
	dicom_parsed_free(&p);
	if (nat < 0) {	/* no pixels, or fewer than the image needs */
		res->status = SCAN_UNREADABLE;
		return 0;
	}
	if (nat) {
		sp.src = src;
	} else {
		err = dicom_decode_pixels(src, SCAN_DECODE_MAX, &sp.px);
		if (err) {
			/* cannot be shown to hold no text: fail closed */
			res->status = SCAN_UNREADABLE;
			return 0;
		}
	}
	res->us_decode = now_us() - t0;
#ifdef DEIDFS_SCAN_FAULTS
	injected_fault(&sp);
#endif
	for (uint32_t f = 0; f < sp.px.frames && !err; f++) {
		size_t n, i;
		int whole = 0;

		t1 = now_us();
		err = scan_grid_frame(&sp, f, &g);
		if (err)
			break;
		g.mg = g.mg && sp.px.samples == 1;
		n = scan_grid_candidates(&g, box, SCAN_MAX_BOXES);
		if (n > SCAN_MAX_BOXES) {
			/* too many to read one by one: the whole frame */
			box[0] = (struct scan_box){ 0, 0, sp.px.cols,
						    sp.px.rows };
			n = 1;
			whole = 1;
		}
		res->us_find += now_us() - t1;
		t1 = now_us();
		for (i = 0; i < n && !err; i++) {
			err = read_box(&sp, f, &g, &box[i], whole, id, allow,
				       res);
			res->candidates++;
		}
		res->us_ocr += now_us() - t1;
		res->frames++;
	}
	scan_grid_free(&g);
	if (sp.px.buf) {
		explicit_bzero(sp.px.buf, sp.px.len);
		dicom_pixels_free(&sp.px);
	}
	if (err) {
		/* no reader, a region too big to read, pixels that ended
		 * early: not shown clean */
		res->status = SCAN_UNREADABLE;
	}
	return 0;
}
