/*
 * view_scan.c - the burned-in text scan in the index (view_scan.h).
 *
 * Every file the header would let through (status RULES_OK, pixel data
 * present) is scanned when it is indexed, never when it is opened: the
 * refresh of export and of the mount.  Results are kept in the db per
 * source version and scanner (store_scan_*), so a re-run or a remount
 * reads no unchanged file again.  What the scan found decides:
 * harmless text or none publishes, anything else quarantines with the
 * kind of the strongest match, and pixels that could not be read
 * quarantine as unreadable-pixels (fail closed).
 */
#include "view_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze.h"
#include "keyed.h"
#include "scan.h"

/* Bump when the scan would find otherwise on the same pixels (stages,
 * thresholds, word lists, Tesseract's languages), or keep more of it (3:
 * the digests of the text's forms; 4: a mammogram's candidates in its
 * background only, large text read smaller). */
#define SCAN_VERSION 4

static int mask_at_open(void *arg, struct analysis *an);

void view_scan_fingerprint(struct view_engine *e)
{
	size_t n = strlen(e->opts_fp);

	if (e->cfg.no_scan)
		snprintf(e->scan_fp, sizeof(e->scan_fp), "off");
	else
		snprintf(e->scan_fp, sizeof(e->scan_fp), "s%d:eng+nor:%.64s",
			 SCAN_VERSION,
			 e->cfg.scan_allow_digest ? e->cfg.scan_allow_digest
						  : "-");
	/* masking changes bytes, not what the scan found: in the options,
	 * not in the scanner's fingerprint (the kept results serve both) */
	snprintf(e->opts_fp + n, sizeof(e->opts_fp) - n, ";scan=%s%s",
		 e->scan_fp,
		 !e->cfg.no_scan && e->cfg.mask_burned_in ? ";mask" : "");
	if (!e->cfg.no_scan && e->cfg.mask_burned_in) {
		e->ain.mask = mask_at_open;
		e->ain.mask_arg = e;
	}
}

int view_scan_begin(struct view_engine *e)
{
	struct scan_config cfg;

	if (e->cfg.no_scan || e->scan_pool)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.allow = e->cfg.scan_allow;
	cfg.timeout_s = e->cfg.scan_timeout_s;
	return scan_pool_new(&cfg, e->cfg.jobs, &e->scan_pool);
}

void view_scan_end(struct view_engine *e)
{
	scan_pool_free(e->scan_pool);
	e->scan_pool = NULL;
}

/*
 * The regions as text for the db: "frame:x,y,wxh:kinds:fill/fill/fill:m"
 * separated by ';' (m: 1 when the region is a box of text that a mask may
 * paint), and a last "!" when not every region was kept (more than
 * SCAN_MAX_REGIONS, or not room for them): then nothing is masked.
 */
static void regions_text(const struct scan_result *r, char *out,
			 size_t outsz)
{
	size_t at = 0;
	uint32_t i;

	out[0] = 0;
	for (i = 0; i < r->nregions && at + 96 < outsz; i++) {
		const struct scan_region *g = &r->region[i];

		at += (size_t)snprintf(out + at, outsz - at,
				       "%s%" PRIu32 ":%" PRIu32 ",%" PRIu32
				       ",%" PRIu32 "x%" PRIu32 ":%#" PRIx32
				       ":%u/%u/%u:%u",
				       i ? ";" : "", g->frame, g->x, g->y,
				       g->w, g->h, g->kind, g->fill[0],
				       g->fill[1], g->fill[2], g->maskable);
	}
	if (i < r->nregions || r->nregions == SCAN_MAX_REGIONS)
		snprintf(out + at, outsz - at, "%s!", at ? ";" : "");
}

void view_scan_token_key(const struct view_engine *e,
			 const uint8_t sha[32], char out[17])
{
	uint8_t d[32];

	keyed_hmac(e->key, sizeof(e->key), "scan token", sha, 32, d);
	base_hex_encode(d, 8, out, 17);
	explicit_bzero(d, sizeof(d));
}

static int cmp_token(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

/* The digests of the scan's forms for the db: keyed (view_scan_token_key()),
 * sorted, separated by ','. */
static void tokens_text(const struct view_engine *e,
			const struct scan_result *r, char *out, size_t outsz)
{
	char t[SCAN_TOKENS_MAX][17];
	size_t at = 0;
	uint32_t i;

	out[0] = 0;
	for (i = 0; i < r->ntokens; i++)
		view_scan_token_key(e, r->token[i], t[i]);
	qsort(t, r->ntokens, sizeof(t[0]), cmp_token);
	for (i = 0; i < r->ntokens && at + 18 <= outsz; i++)
		at += (size_t)snprintf(out + at, outsz - at, "%s%s",
				       i ? "," : "", t[i]);
}

/* The regions of a kept result (our own text, read back all the same as
 * anything from a file).  Returns the count, or -EINVAL (malformed, or
 * not every region kept). */
static int regions_parse(const char *t, struct scan_region *out,
			 size_t max)
{
	size_t n = 0;

	while (*t) {
		struct scan_region *g;
		unsigned f0, f1, f2, m;
		unsigned long fr, x, y, w, h, k;
		int used = 0;

		if (n == max || *t == '!')
			return -EINVAL;
		g = &out[n++];
		if (sscanf(t, "%lu:%lu,%lu,%lux%lu:%lx:%u/%u/%u:%u%n", &fr, &x,
			   &y, &w, &h, &k, &f0, &f1, &f2, &m, &used) != 10 ||
		    !used || fr > UINT32_MAX || x > UINT32_MAX ||
		    y > UINT32_MAX || w > UINT32_MAX || h > UINT32_MAX ||
		    k > UINT32_MAX || f0 > 65535 || f1 > 65535 ||
		    f2 > 65535 || m > 1)
			return -EINVAL;
		g->frame = (uint32_t)fr;
		g->x = (uint32_t)x;
		g->y = (uint32_t)y;
		g->w = (uint32_t)w;
		g->h = (uint32_t)h;
		g->kind = (uint32_t)k;
		g->fill[0] = (uint16_t)f0;
		g->fill[1] = (uint16_t)f1;
		g->fill[2] = (uint16_t)f2;
		g->maskable = (uint16_t)m;
		t += used;
		if (*t == ';')
			t++;
		else if (*t)
			return -EINVAL;
	}
	return (int)n;
}

/*
 * What a mask paints for a kept result: the regions where identifying
 * text was read, each a box of text (not a whole frame read because it
 * had too many candidates), and together every kind that was found.
 * Returns the count (0: nothing identifying), or -EINVAL when the text
 * cannot be masked (the file then stays in quarantine).
 */
static int mask_plan(const struct store_scan *sc, struct scan_region *out,
		     size_t max)
{
	struct scan_region all[SCAN_MAX_REGIONS];
	uint32_t kinds = 0;
	int n, i, k = 0;

	if (sc->status != SCAN_DONE)
		return -EINVAL;
	if (!(sc->kinds & SCAN_K_IDENTIFYING))
		return 0;
	n = regions_parse(sc->regions, all, SCAN_MAX_REGIONS);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (!(all[i].kind & SCAN_K_IDENTIFYING))
			continue;
		if (!all[i].maskable || (size_t)k == max)
			return -EINVAL;
		kinds |= all[i].kind;
		out[k++] = all[i];
	}
	if ((sc->kinds & SCAN_K_IDENTIFYING) & ~kinds)
		return -EINVAL;	/* text found where no region says */
	return k;
}

/* The audit rows of a mask: one per region, where (not what). */
static int audit_masks(struct analysis *an, const struct scan_region *r,
		       int n)
{
	for (int i = 0; i < n; i++) {
		struct store_audit *row;
		char v[96];
		int len;

		if (an->naudit == an->capaudit) {
			size_t cap = an->capaudit ? an->capaudit * 2 : 64;
			void *p = realloc(an->audit, cap * sizeof(*an->audit));

			if (!p)
				return -ENOMEM;
			an->audit = p;
			an->capaudit = cap;
		}
		len = snprintf(v, sizeof(v),
			       "frame %" PRIu32 " x %" PRIu32 " y %" PRIu32
			       " w %" PRIu32 " h %" PRIu32 " %s",
			       r[i].frame, r[i].x, r[i].y, r[i].w, r[i].h,
			       scan_kind_name(r[i].kind));
		row = &an->audit[an->naudit];
		memset(row, 0, sizeof(*row));
		snprintf(row->path, sizeof(row->path), "7FE00010");
		snprintf(row->action, sizeof(row->action), "mask-burned-in");
		row->newv = strdup(v);
		if (!row->newv)
			return -ENOMEM;
		row->newlen = (size_t)len;
		an->naudit++;
	}
	return 0;
}

int view_scan_kept(const struct view_engine *e, const struct store_file *rec,
		   const char *path, struct store_scan **out)
{
	struct store_scan *sc = calloc(1, sizeof(*sc));

	*out = sc;
	if (!sc)
		return -ENOMEM;
	sc->path = path;
	sc->src_size = rec->src_size;
	sc->src_mtime_ns = rec->src_mtime_ns;
	sc->src_ino = rec->src_ino;
	sc->src_ctime_ns = rec->src_ctime_ns;
	sc->fp = e->scan_fp;
	return store_scan_get(e->cfg.store, sc);
}

/* (analysis_input.mask) The masks the index painted on this version,
 * painted again on a map made at an open or ahead of one. */
static int mask_at_open(void *arg, struct analysis *an)
{
	struct view_engine *e = arg;
	struct scan_region r[SCAN_MAX_REGIONS];
	struct store_scan *sc;
	int err, n;

	err = view_scan_kept(e, &an->rec, NULL, &sc);
	if (err == -ENOENT) {
		/* never scanned: the index did not publish it (its header
		 * length would differ, and the open refuses the map) */
		err = 0;
		goto out;
	}
	if (err)
		goto out;
	n = mask_plan(sc, r, SCAN_MAX_REGIONS);
	if (n > 0)
		err = analysis_mask(an, r, (size_t)n);
	/* not maskable: quarantined, served (with --with-quarantine) as
	 * the source has it, as the index decided */
	if (n <= 0 || err == -EINVAL)
		err = 0;
out:
	free(sc);
	return err;
}

/* The quarantine reason of a scan, or RULES_OK. */
static int decide(int status, uint32_t kinds)
{
	if (status != SCAN_DONE)
		return RULES_Q_UNREADABLE_PIXELS;
	if (!(kinds & SCAN_K_IDENTIFYING))
		return RULES_OK;	/* nothing, or only harmless text */
	if (kinds & SCAN_K_ID)
		return RULES_Q_TEXT_ID;
	if (kinds & SCAN_K_NAME)
		return RULES_Q_TEXT_NAME;
	if (kinds & SCAN_K_DATE)
		return RULES_Q_TEXT_DATE;
	return RULES_Q_TEXT;
}

int view_scan_file(struct view_engine *e, const char *path, int fd,
		   struct analysis *an)
{
	struct store_scan *sc = NULL;
	struct scan_result res;
	int err;

	if (!e->scan_pool || an->rec.status != RULES_OK || !an->has_pixels ||
	    !an->ident)
		return 0;
	err = view_scan_kept(e, &an->rec, path, &sc);
	if (err == -ENOENT) {
		err = scan_pool_run(e->scan_pool, fd, &an->map,
				    an->inflated ? &an->deflate : NULL,
				    an->ident, &res);
		if (err)
			goto out;
		sc->status = res.status;
		sc->kinds = res.kinds;
		sc->frames = res.frames;
		sc->candidates = res.candidates;
		regions_text(&res, sc->regions, sizeof(sc->regions));
		sc->us_decode = res.us_decode;
		sc->us_find = res.us_find;
		sc->us_ocr = res.us_ocr;
		tokens_text(e, &res, sc->tokens, sizeof(sc->tokens));
		explicit_bzero(res.token, sizeof(res.token));
		err = store_scan_put(e->cfg.store, sc);
	}
	if (err)
		goto out;
	an->rec.status = decide(sc->status, sc->kinds);
	if (e->cfg.mask_burned_in && an->rec.status != RULES_OK &&
	    an->rec.status != RULES_Q_UNREADABLE_PIXELS) {
		struct scan_region r[SCAN_MAX_REGIONS];
		int n = mask_plan(sc, r, SCAN_MAX_REGIONS);

		/* compressed pixel data, a whole frame of text, regions not
		 * all kept: quarantined as it was */
		if (n > 0 && !analysis_mask(an, r, (size_t)n)) {
			err = audit_masks(an, r, n);
			if (err)
				goto out;
			an->rec.status = RULES_OK;
			/* what every open's map must have too */
			an->rec.header_len = an->map.gen_len;
		}
	}
out:
	free(sc);
	return err;
}

/* ------------------------------------------------------------ allow-list */

int view_scan_allow_load(const char *path, struct scan_allow **out,
			 char digest[65], char *err, size_t errsz)
{
	struct stat st;
	char *buf = NULL, msg[128] = "";
	uint8_t dg[32];
	size_t at = 0;
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errsz, "--scan-allow: %s", strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		snprintf(err, errsz, "--scan-allow: not a regular file of at "
				     "most 1 MiB");
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && at < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + at, (size_t)st.st_size - at);

		if (r <= 0)
			break;
		at += (size_t)r;
	}
	close(fd);
	if (!buf || at != (size_t)st.st_size) {
		snprintf(err, errsz, "--scan-allow: cannot read the file");
		free(buf);
		return buf ? -EIO : -ENOMEM;
	}
	keyed_sha256(buf, at, dg);
	base_hex_encode(dg, sizeof(dg), digest, 65);
	ret = scan_allow_parse(buf, at, out, msg, sizeof(msg));
	if (ret == -EINVAL)
		snprintf(err, errsz, "--scan-allow: %s", msg);
	free(buf);
	return ret;
}

void view_scan_allow_free(struct scan_allow *a)
{
	scan_allow_free(a);
}
