/*
 * verify_impl.h - what the parts of `deidfs verify` share (a front end;
 * include/verify.h): the run (options, what the db says, the results) and
 * the functions each part gives the others.
 *
 *   verify.c         the command line, the db and the recorded view, main
 *   verify_file.c    findings; one file read once (SHA-256, the automaton,
 *                    the comparison with the view); the checks of a file
 *   verify_walk.c    DATASET walked against the view: missing, extra,
 *                    stray entries, names
 *   verify_report.c  the summary on stdout and the JSON report
 *
 * Findings name view paths, tags and kinds, never a value.
 */
#ifndef DEIDFS_VERIFY_IMPL_H
#define DEIDFS_VERIFY_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "acmatch.h"
#include "rules.h"
#include "store.h"
#include "verify_values.h"
#include "view.h"

#define CHUNK (1u << 20)
#define MAX_SPANS 16
/* an extra file is searched this far (it is a finding anyway) */
#define EXTRA_SCAN_MAX (1ull << 30)

struct finding {
	char *path;		/* a view path (of the folder, for an entry
				 * that is not in the view) */
	char tag[96];		/* a tag path, "name", or "-" */
	const char *kind;	/* static */
	uint8_t review;		/* a short value: may be chance */
	uint8_t outside;	/* an entry the view does not have */
};

struct manifest {
	char *path;
	uint64_t size;
	char sha[65];
};

struct kind_count {
	const char *kind;
	uint64_t n;
};

struct vrun {
	/* options */
	const char *db, *csv_out, *report, *dataset;
	int quiet;
	/* what the db says */
	struct store *st;
	struct view_engine *e;
	struct view *v;
	struct view_config cfg;
	struct view_recall recall;
	struct view_whitelist *wl;
	struct vval *vals;
	const struct acm *acm;
	char fingerprint[33];
	int check_uids;
	int with_quarantine;	/* DATASET has .quarantine/ */
	/* results */
	struct finding *f;
	size_t nf, capf;
	size_t file_first;	/* findings of the current file from here */
	struct manifest *m;
	size_t nm, capm;
	struct kind_count counts[64];
	size_t ncounts;
	uint64_t expected, checked, dicom, texts, compared, entries, names,
		 bytes, extra_scanned;
	/* the current file */
	const char *cur_path;
	int cur_outside;
	uint8_t raw_hit[VVAL_COUNT][2];
	/* buffers */
	uint8_t *buf, *ref;
	EVP_MD_CTX *md;
};

/* A hit of the raw stream (a header, a text, a name): remembered by kind;
 * where_tag says where, or NULL to report later (headers: by tag). */
struct hit_ctx {
	struct vrun *r;
	const char *where_tag;
	int err;
};

/* verify_file.c */
int verify_add_finding(struct vrun *r, const char *path, int outside,
		       const char *tag, const char *kind, int review);
void verify_begin_file(struct vrun *r, const char *path, int outside);
int verify_raw_hit(void *arg, uint32_t id, uint64_t end, size_t len);
int verify_read_file(struct vrun *r, int fd, uint64_t size,
		     uint64_t scan_len, const char *where_tag,
		     struct view_file *vf, const char *want, size_t wantlen,
		     uint64_t *diff);
int verify_check_file(struct vrun *r, const struct view_node *n,
		      const char *vpath, const char *full);

/* verify_walk.c */
int verify_walk_view(struct vrun *r, const struct view_node *dir,
		     const char *vpath, const char *full, int depth);
int verify_check_csv_out(struct vrun *r);

/* verify_report.c */
size_t verify_failing(const struct vrun *r);
int verify_write_report(struct vrun *r, const char *version,
			const char *date);
void verify_print_summary(struct vrun *r);

#endif
