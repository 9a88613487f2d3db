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

#include "scan.h"

/* Bump when the scan would find otherwise on the same pixels (stages,
 * thresholds, word lists, Tesseract's languages). */
#define SCAN_VERSION 2

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
	snprintf(e->opts_fp + n, sizeof(e->opts_fp) - n, ";scan=%s",
		 e->scan_fp);
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

/* The regions as text for the db: "frame:x,y,wxh:kinds;..." */
static void regions_text(const struct scan_result *r, char *out,
			 size_t outsz)
{
	size_t at = 0;
	uint32_t i;

	out[0] = 0;
	for (i = 0; i < r->nregions && at + 64 < outsz; i++) {
		const struct scan_region *g = &r->region[i];

		at += (size_t)snprintf(out + at, outsz - at,
				       "%s%" PRIu32 ":%" PRIu32 ",%" PRIu32
				       ",%" PRIu32 "x%" PRIu32 ":%#" PRIx32,
				       i ? ";" : "", g->frame, g->x, g->y,
				       g->w, g->h, g->kind);
	}
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
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->path = path;
	sc->src_size = an->rec.src_size;
	sc->src_mtime_ns = an->rec.src_mtime_ns;
	sc->src_ino = an->rec.src_ino;
	sc->src_ctime_ns = an->rec.src_ctime_ns;
	sc->fp = e->scan_fp;
	err = store_scan_get(e->cfg.store, sc);
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
		err = store_scan_put(e->cfg.store, sc);
	}
	if (err)
		goto out;
	an->rec.status = decide(sc->status, sc->kinds);
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
