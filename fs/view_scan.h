/*
 * view_scan.h - the burned-in text scan in the view model (view_scan.c):
 * which files are scanned, when, and what their result does to them.
 */
#ifndef DEIDFS_VIEW_SCAN_H
#define DEIDFS_VIEW_SCAN_H

#include "view_impl.h"

/* The scan's fingerprint into e->scan_fp, appended to e->opts_fp (so that
 * turning the scan on or off, or another allow-list, analyses every file
 * again; the pixels are read again only when the scan itself changed),
 * with ";mask" under --mask-burned-in; then also e->ain.mask, which paints
 * the kept regions on every map made at an open or ahead of one. */
void view_scan_fingerprint(struct view_engine *e);

/* Start the scan's workers for a refresh that analyses files (one per
 * index thread), and stop them after it.  Start returns 0 or -ENOMEM;
 * nothing is started with --no-scan. */
int view_scan_begin(struct view_engine *e);
void view_scan_end(struct view_engine *e);

/*
 * At index time, after analysis_run() of the source at path (open at fd):
 * if the file would be published and has pixel data, scan it (or take the
 * kept result of this source version) and quarantine it as
 * burned-in-text:<kind> or unreadable-pixels; under --mask-burned-in,
 * paint native pixel data's text regions instead (analysis_mask(), an
 * audit row per region) and publish.  Returns 0, -ENOMEM or
 * -EIO (the file is then not indexed this run).
 */
int view_scan_file(struct view_engine *e, const char *path, int fd,
		   struct analysis *an);

/*
 * The kept scan of the source version rec names (size, mtime, inode,
 * ctime), by this engine's scanner, of path (NULL: of any path of this
 * version), into a new *out (caller frees with free(), wiping nothing:
 * no text is kept).  Returns 0, -ENOENT (never scanned: *out is still
 * set, its key filled, for store_scan_put()) or -errno.
 */
int view_scan_kept(const struct view_engine *e, const struct store_file *rec,
		   const char *path, struct store_scan **out);

/* The form of a scan_token_sha() digest kept in the db and compared: the
 * first 8 bytes of HMAC(key, "scan token", sha) as 16 hex digits. */
void view_scan_token_key(const struct view_engine *e,
			 const uint8_t sha[32], char out[17]);

/*
 * A view step, after the cohort is read (view_cohort_read()) and before
 * the records are placed (view_cohort_assign()): a record quarantined for
 * text in its pixels that is not a personal ID or a name of its own
 * (burned-in-text:text or :date) whose text holds an identifying cell of
 * a registry row that links it becomes burned-in-text:registry-value (a
 * dropped column such as the invitation number, the personal ID column)
 * or :registry-date (a date of the row) (view_scan_reg.c).  Returns 0 or
 * -ENOMEM.
 */
struct build;
int view_scan_registry(struct build *b);

#endif
