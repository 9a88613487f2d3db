/*
 * verify_impl.h - what the parts of `deidfs verify` share (a front end;
 * include/verify.h): the run (options, what the db says, the results) and
 * the functions each part gives the others.
 *
 *   verify.c         the command line, the db and the recorded view, main
 *   verify_file.c    findings; one file read once (SHA-256, the automaton,
 *                    the comparison with the view); the checks of a file,
 *                    dciodvfy among them (verify_oracle.h)
 *   verify_walk.c    DATASET walked against the view: missing, extra,
 *                    stray entries, names; then the files, by a pool of
 *                    workers
 *   verify_report.c  the summary on stdout and the JSON report
 *
 * Threads: the walk runs alone and makes the units (one per entry, in
 * name order); then -j workers take the units that hold a file to check,
 * each unit by one worker, which writes only that unit and its own struct
 * vwork.  What they share is read-only (the view, the automaton) or locks
 * itself (the store, the view's engine; vrun.lock for the next unit).  The
 * output is made from the units in their order, so it does not depend on
 * which worker took what.
 *
 * Findings name view paths, tags and kinds, never a value.
 */
#ifndef DEIDFS_VERIFY_IMPL_H
#define DEIDFS_VERIFY_IMPL_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/stat.h>

#include "acmatch.h"
#include "dicom.h"
#include "keyed.h"
#include "rules.h"
#include "store.h"
#include "verify_values.h"
#include "view.h"

/* A read of DATASET: small enough that a chunk and its source's bytes
 * stay in the core's own cache from the read to the hash and the compare
 * (1 MiB did not), large enough that system calls cost nothing. */
#define CHUNK (1u << 17)
#define MAX_SPANS 16
/* an extra file is searched this far (it is a finding anyway) */
#define EXTRA_SCAN_MAX (1ull << 30)

struct finding {
	char tag[96];		/* a tag path, "name", or "-" */
	const char *kind;	/* static */
	uint8_t review;		/* a short value: may be chance */
};

enum vjob {
	VJOB_NONE = 0,
	VJOB_FILE,		/* a file of the view, at full */
	VJOB_EXTRA,		/* a file the view does not have: searched */
};

/* One entry of DATASET (or of the view, when it is missing), in walk
 * order, with its findings: the same (tag, kind) once. */
struct unit {
	char *path;		/* a view path (of the folder, for an entry
				 * that is not in the view) */
	uint8_t outside;	/* an entry the view does not have */
	enum vjob job;
	const struct view_node *n;	/* VJOB_FILE */
	char *full;		/* VJOB_*: its path in DATASET */
	struct finding *f;
	size_t nf, capf;
	uint8_t listed;		/* in the manifest */
	uint64_t size;
	char sha[65];
};

/* What the workers count; summed when they are done. */
struct vtally {
	uint64_t checked, dicom, texts, compared, bytes, extra_scanned,
		 oracle_files;
};

/* A hit of the raw stream (a header, a text, a name): remembered by kind;
 * where_tag says where, or NULL to report later (headers: by tag). */
struct hit_ctx {
	struct vwork *w;
	const char *where_tag;
};

struct voracle;
struct budget;

/* The file a slot is reading (verify_file.c): what its checks need from
 * before the read to after it, and where the read is. */
struct vread {
	int fd;			/* -1: none open */
	struct stat st;
	struct dicom_parsed p;	/* a DICOM file's header, when parsed */
	uint8_t parsed, scanning, hash, eof;
	uint64_t hdr_end;	/* where the pixel data starts, or the size */
	struct view_file *vf;	/* the view's file (owned) */
	struct voracle *o;	/* dciodvfy running on it, or NULL */
	/* the read: size bytes from off; the first scan_len through the
	 * automaton; compared with cmp_vf's bytes or want's */
	uint64_t size, off, scan_len, diff;
	struct hit_ctx h;
	struct acm_scan sc;
	struct view_file *cmp_vf;
	const char *want;
	size_t wantlen;
	struct keyed_sha256 sha;	/* of every byte, for the manifest */
	size_t pending;		/* bytes in buf read and not yet hashed */
	uint8_t short_read;	/* it ended before its size */
};

/* One slot of a worker (the walk has one too): the unit it is on, the
 * hits of the raw stream of the current file by kind, its buffers, the
 * file it reads. */
struct vwork {
	struct vrun *r;
	struct unit *u;
	uint8_t raw_hit[VVAL_COUNT][2];
	uint8_t *buf, *ref;	/* CHUNK each, on a slot's first unit */
	size_t buf_used, ref_used;	/* the most of each written since its
					 * last wipe */
	struct vread rd;
	struct budget *bud;	/* the worker's, counting parsed headers;
				 * borrowed (NULL: the walk's) */
	struct vtally t;
};

enum voracle_use {
	VORACLE_ON = 0,		/* dciodvfy found: run */
	VORACLE_OFF,		/* --no-dciodvfy */
	VORACLE_ABSENT,		/* not installed: skipped, said so */
};

struct kind_count {
	const char *kind;
	uint64_t n;
};

struct vrun {
	/* options */
	const char *db, *csv_out, *report, *dataset;
	int quiet;
	unsigned jobs;
	enum voracle_use oracle;
	char oracle_path[4096];	/* dciodvfy, found on PATH */
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
	uint64_t scope_patients;	/* patients whose values are searched */
	/* the units, in walk order (each its own block: workers hold
	 * pointers while nothing is added) */
	struct unit **units;
	size_t nunits, capunits;
	/* the pool */
	pthread_mutex_t lock;	/* guards next, queued, open, workers */
	size_t next;
	unsigned workers;	/* started, of jobs */
	int failed;		/* a worker failed: the others stop */
	/* the work left, in bytes (and a little a file): of the units not
	 * yet taken, of those taken and not yet read */
	uint64_t queued, open;
	/* results */
	struct kind_count counts[64];
	size_t ncounts;
	uint64_t expected, entries, names;
	struct vtally t;
};

/* verify_file.c */
int verify_work_init(struct vwork *w, struct vrun *r);
void verify_work_done(struct vwork *w);
/* A new unit, made w's current one.  Returns 0 or -ENOMEM. */
int verify_begin(struct vwork *w, const char *path, int outside);
int verify_add_finding(struct vwork *w, const char *tag, const char *kind,
		       int review);
int verify_raw_hit(void *arg, uint32_t id, uint64_t end, size_t len);
/*
 * The check of unit u (u->job) by slot w, in three parts, so that one
 * worker reads many files at once and hashes their bytes together:
 * verify_unit_begin() (the checks before the bytes), verify_unit_step()
 * until w->rd.eof (a chunk into w->buf, through the automaton and the
 * comparison; w->rd.pending of them to hash into w->rd.sha, which the
 * caller does and zeroes), then verify_unit_end(w, err) (the checks after
 * the bytes; everything released), which must follow a begin whatever it
 * returned.  Each returns 0 or -errno (the check cannot go on: out of
 * memory, a read failed); end returns the first error, its own or err.
 */
int verify_unit_begin(struct vwork *w, struct unit *u);
int verify_unit_step(struct vwork *w);
int verify_unit_end(struct vwork *w, int err);
void verify_units_free(struct vrun *r);

/* verify_walk.c */
int verify_walk_view(struct vwork *w, const struct view_node *dir,
		     const char *vpath, const char *full, int depth);
int verify_check_csv_out(struct vwork *w);
/* The units with a job, by r->jobs workers.  Returns 0 or -errno. */
int verify_run_pool(struct vrun *r);

/* verify_report.c */
size_t verify_failing(const struct vrun *r);
void verify_count_kinds(struct vrun *r);
int verify_write_report(struct vrun *r, const char *version,
			const char *date);
void verify_print_summary(struct vrun *r);

#endif
