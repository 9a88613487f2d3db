/*
 * view.h - the view model: the de-identified research tree that both front
 * ends (`deidfs export` and `deidfs mount`) present.  One model, so their
 * names, sizes, inode numbers, mtimes and bytes match by construction.
 *
 *   <root>/<pseudonym>/<study>/<series>/<instance>.dcm   (--layout)
 *   <root>/cleaned_variables.csv                          (--csv)
 *   <root>/.quarantine/...  and  .quarantine/reasons.csv
 *
 * Life cycle:
 *   view_engine_new()   options, rules, key, store, source root (startup)
 *   view_refresh()      index the source tree into the store: only new or
 *                       changed files are analysed, in parallel
 *   view_build()        names, cohort, quarantine, CSV -> struct view
 *   view_file_open()    regenerate one file's header and open its source
 *   view_map_read()     map (off, size) onto header bytes / source range
 *
 * A struct view is immutable once built: any number of threads may read it.
 * The engine is read-only after view_engine_new() except for its store,
 * which locks itself.
 */
#ifndef DEIDFS_VIEW_H
#define DEIDFS_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "rules.h"

struct store;
struct view_engine;
struct view;

#define VIEW_DEFAULT_LAYOUT \
	"{patient}/{study_month}/{series_number}_{modality}/{instance_number:4}.dcm"
#define VIEW_DEFAULT_CSV_NAME "cleaned_variables.csv"
#define VIEW_QUARANTINE ".quarantine"
#define VIEW_REASONS_NAME "reasons.csv"

/*
 * Inode numbers: directories odd (the root 1, others 2 * dirs row id + 1),
 * files even.  A DICOM file is 2 * (id | (version & 0x3fffff) << 40) + 4,
 * id its files row id (1 .. 2^40 - 1), so a new version of a file is a new
 * inode: the kernel caches pages by inode, and one inode for two versions
 * could hand a reader pages of both.  The generated texts (the CSV,
 * reasons.csv) change too, so they take the numbers no DICOM file has
 * (id 0): 4 + (slot << 41), slot 2 * gen + 1 for the CSV and 2 * gen for
 * reasons.csv, gen the count of changes of that text's bytes, kept in the
 * db (modulo VIEW_INO_TEXT_GENS).  The same bytes with the same db keep
 * their inode.  All are below 2^63.
 */
#define VIEW_INO_ROOT 1
#define VIEW_INO_TEXT_GENS (1u << 21)
#define VIEW_INO_TEXT(is_csv, gen) \
	(4 + ((2 * ((uint64_t)(gen) % VIEW_INO_TEXT_GENS) + !!(is_csv)) << 41))

/*
 * A folder the source tree must not contain, by device and inode: the db's
 * folder or one above it (the db would be inside the source), the view's
 * (the destination or the mount point) or one above it.  Names cannot show
 * it when the tree reaches the folder under another name, such as a bind
 * mount of one of its subfolders; the walk of the source sees it.
 */
enum view_place { VIEW_PLACE_DB = 1, VIEW_PLACE_VIEW };
struct view_guard {
	dev_t dev;
	ino_t ino;
	enum view_place what;
};

/* What the engine keeps of the content maps it makes (view_config.maps). */
enum view_maps {
	VIEW_MAPS_NONE = 0,	/* nothing: every open parses its source */
	VIEW_MAPS_ONCE,		/* the refresh's, each for the one open that
				 * follows (an export writes each file once) */
	VIEW_MAPS_KEEP,		/* the refresh's and the opens', for every
				 * open of the same source version, least
				 * recently used dropped first (a mount) */
};

struct scan_allow;

struct view_config {
	const char *source;		/* source tree root */
	struct store *store;		/* borrowed, open */
	unsigned rules_options;		/* RULES_* */
	const struct rules_whitelist *wl;	/* borrowed, may be NULL */
	const char *whitelist_digest;	/* hex digest of the white list */
	const char *whitelist_path;	/* its file (view_init() sets it) */
	const char *modalities;		/* "MG,OT" or "all" */
	const char *layout;		/* template, VIEW_DEFAULT_LAYOUT */
	const char *csv_name;		/* VIEW_DEFAULT_CSV_NAME */
	/* registry CSV, NULL for none */
	const char *db_path;		/* the db's path, for messages */
	const char *csv_path;
	const char *csv_spec;		/* REGISTRY_DEFAULT_SPEC */
	char csv_delimiter;
	int csv_header;
	int include_unlinked;
	/* CSV column (1-based) whose date must equal StudyDate for a row to
	 * link a study; 0 = the default (3), -1 = link on the ID alone */
	int csv_date_column;
	unsigned jobs;			/* worker threads, >= 1 */
	int quiet;			/* no per-row CSV reports */
	/* a registry row that was reported (a bad date, an ID emptied...):
	 * its number and a fixed reason, never a value; may be NULL */
	void (*row_report)(void *arg, uint64_t row, const char *reason);
	void *report_arg;
	/* Content maps kept to answer opens without parsing again (see
	 * enum view_maps), within map_cache_bytes (0: a default for the
	 * kind, 256 MiB for VIEW_MAPS_ONCE, 16 MiB for VIEW_MAPS_KEEP) */
	int maps;
	uint64_t map_cache_bytes;
	uint64_t parse_budget;		/* bytes all parses hold at once
					 * (budget.h); 0: BUDGET_DEFAULT */
	const struct view_guard *guard;	/* folders the source must not
					 * contain (borrowed), or NULL */
	size_t nguard;
	/* the burned-in text scan (fs/scan.h, fs/view_scan.c) */
	int no_scan;			/* --no-scan: at the user's risk */
	const struct scan_allow *scan_allow;	/* --scan-allow, borrowed,
						 * may be NULL */
	const char *scan_allow_digest;	/* hex digest of that file */
	unsigned scan_timeout_s;	/* per file; 0: SCAN_TIMEOUT_DEFAULT */
	int mask_burned_in;		/* --mask-burned-in: paint text
					 * regions of native pixel data and
					 * publish, instead of quarantine */
	/* A sharded index (shard.h): the refresh sees only the source files
	 * of share shard_i of shard_n (0 or 1: all of them); shard_base,
	 * when not NULL, is the project db (a snapshot): a file it holds
	 * unchanged is listed as seen (store_shard_seen()), not analysed */
	unsigned shard_i, shard_n;
	struct store *shard_base;
	/* An export task of a sharded run: view_build() gives only the files
	 * of the patients of share build_share_i of build_share_n
	 * (view_node_shard()), named as in the whole view, and their folders;
	 * not the generated texts.  Only where the names of one patient
	 * depend on her records alone (the layout's first component is the
	 * patient) and not for share 0 (it writes the texts, which speak of
	 * every patient): there it builds the whole view.  0: the whole. */
	unsigned build_share_i, build_share_n;
	/* view_build() makes the view from the rows, neither loading nor
	 * keeping the db's snapshot of it (fs/view_snap.c): verify, which
	 * checks a dataset against the view, takes nothing on trust */
	int no_snapshot;
};

/*
 * The allow-list of --scan-allow (words, one a line, see fs/scan.h) from
 * the file path, into *out (free with view_scan_allow_free()), with the
 * hex SHA-256 of the file in digest.  Returns 0, -EINVAL (not a regular
 * file of at most 1 MiB, or a bad line: err says which, never its text)
 * or another -errno.
 */
int view_scan_allow_load(const char *path, struct scan_allow **out,
			 char digest[65], char *err, size_t errsz);
void view_scan_allow_free(struct scan_allow *a);

/* Counters of a refresh and a build (the run report).  A counter added
 * here is added to fs/view_snap.c's STATS_U64 too (a loaded view adds
 * what the build that kept it counted). */
/* Quarantined files counted by cause: reason, rule and attribute (struct
 * rules_cause; names only).  The first VIEW_CAUSES_MAX distinct causes
 * are kept, the files of any further one counted in causes_other. */
#define VIEW_CAUSES_MAX 64
struct view_cause_count {
	int reason;			/* enum rules_reason */
	char rule[64];
	char path[256];			/* tag path, as the audit writes it */
	uint64_t files;
};

struct view_stats {
	uint64_t files_seen;		/* regular files in the source */
	uint64_t files_analysed;	/* parsed this run (new or changed) */
	uint64_t files_unchanged;	/* reused from the index */
	uint64_t files_removed;		/* gone from the source */
	uint64_t skipped;		/* DICOMDIR + non-regular entries */
	uint64_t skipped_dicomdir;	/* of which DICOMDIR files */
	uint64_t published;		/* files in the main tree */
	uint64_t quarantined[RULES_REASON_COUNT];
	struct view_cause_count causes[VIEW_CAUSES_MAX];	/* in the
						 * order first met */
	size_t ncauses;
	uint64_t causes_other;
	uint64_t unlinked_studies;	/* studies left out: no CSV row */
	uint64_t unlinked_files;	/* their files */
	uint64_t csv_rows;		/* data rows in the CSV */
	uint64_t csv_rows_written;
	uint64_t csv_rows_unlinked;	/* rows without a study */
	uint64_t csv_row_problems;	/* rows reported (bad dates, ...) */
	uint64_t errors;		/* I/O errors reading the source */
	uint64_t dirs_unreadable;	/* source folders that could not be
					 * read (also counted in errors) */
	uint64_t bytes;			/* bytes of the published files */
	enum view_place inside;		/* view_refresh() failed with -ELOOP:
					 * the source tree holds this place */
};

/* Progress callback (may be NULL): done of total files so far. */
typedef void (*view_progress_fn)(void *arg, const char *phase, uint64_t done,
				 uint64_t total);

/*
 * Create an engine: checks and compiles options (layout, CSV spec), loads
 * the rules and the key, opens the source root.  On error, err holds a
 * message for the user (never PHI).  Returns 0, -EINVAL (bad option),
 * -ENOENT/-EACCES (source), -ENOMEM.  *out freed with view_engine_free().
 */
int view_engine_new(const struct view_config *cfg, struct view_engine **out,
		    char *err, size_t errsz);
void view_engine_free(struct view_engine *e);

/* The configuration the engine was built with (borrowed). */
const struct view_config *view_engine_config(const struct view_engine *e);

/*
 * Startup, before the db is opened (so that a bad option leaves nothing
 * behind) and before any thread: loads the white list of
 * --clean-descriptors from the file whitelist (when not NULL) into *wl,
 * which cfg->wl and cfg->whitelist_digest (the hex SHA-256 of the file,
 * part of the options fingerprint) then borrow; and loads the DICOM
 * dictionaries.  Returns 0, -EINVAL when the white list is not a regular
 * file of at most 1 MiB or not a valid list (a usage error), or another
 * -errno; err says why (never a value of the list).  *wl is NULL without a
 * white list, and freed with view_whitelist_free() after the last engine
 * that borrows it.
 */
struct view_whitelist;
int view_init(struct view_config *cfg, const char *whitelist,
	      struct view_whitelist **wl, char *err, size_t errsz);
void view_whitelist_free(struct view_whitelist *wl);

/*
 * The configuration of the last view built with a db (the source tree, the
 * registry CSV and every option that shapes the view), recorded in the db
 * by view_build() so that `deidfs verify` can build the very same view
 * from the db alone.  view_config_record() writes only when it changed;
 * returns 0 or -errno.  view_config_recall() fills the view options of cfg
 * (its other fields are left as they are) with strings owned by r, valid
 * until view_recall_free(r); r->whitelist is the white list's file, or
 * NULL.  Returns 0, -ENOENT (no view was built with this version), -EBADMSG
 * or -errno.
 */
struct view_recall {
	char *text;		/* owned: the recorded lines */
	const char *whitelist;	/* into text, or NULL */
};
int view_config_record(struct view_engine *e);
int view_config_recall(struct store *st, struct view_recall *r,
		       struct view_config *cfg);
void view_recall_free(struct view_recall *r);	/* accepts a zeroed r */

/*
 * An sqlite connection must not cross fork(): a front end that forks (the
 * mount, to run in the background) detaches the engine's store before and
 * attaches it again in the child (store_detach(), store_attach()); nothing
 * may use the engine in between.  Return 0 or -errno: -EBUSY when a
 * transaction is open; attach fails with -EBADMSG when the db is no longer
 * the one that was open, or with the errors of opening it.
 */
int view_engine_detach(struct view_engine *e);
int view_engine_attach(struct view_engine *e);

/*
 * What to tell the user when view_refresh() or view_build() failed with
 * err because of the db: -EBUSY (another process holds it) or -ENOSPC (the
 * disk that holds it is full).  Static text, or NULL for any other error.
 */
const char *view_db_error(int err);

/*
 * Bring the store's file index up to date with the source tree: walk it
 * (never following symlinks, skipping non-regular entries), analyse new or
 * changed files (size, mtime, inode, options) with cfg->jobs workers, prune
 * records of removed files.  Returns 0, or -errno when the walk or the
 * store fails (a bad file is never an error: it is quarantined); -ELOOP
 * when the walk meets a folder of cfg->guard (st->inside says which),
 * before anything is written to the store.
 */
int view_refresh(struct view_engine *e, struct view_stats *st,
		 view_progress_fn progress, void *arg);

/*
 * Walk the folders of the source tree (only them: cheaper than a refresh)
 * for a folder of guard, for a check before anything is written: the
 * refresh's walk checks too, but a new db is created before it, and a
 * mount without refresh has none.  Returns 0, -ELOOP (*hit says which
 * place), or -errno when the source cannot be opened; folders that cannot
 * be read are passed over (the refresh reports them).
 */
int view_guard_walk(const char *source, const struct view_guard *guard,
		    size_t nguard, enum view_place *hit);

/* What to tell the user when the source tree holds a guarded place
 * (static text, no path). */
const char *view_place_error(enum view_place what, int mount);

/*
 * Build the view from the index: cohort linking with the CSV, names,
 * quarantine, rendered CSV and reasons.csv, directory inodes.  Persists each
 * file's view path.  *out freed with view_free().  Returns 0 or -errno
 * (err says why).
 */
int view_build(struct view_engine *e, struct view_stats *st,
	       struct view **out, char *err, size_t errsz);
void view_free(struct view *v);

enum view_kind {
	VIEW_DIR = 1,
	VIEW_DICOM,		/* a de-identified DICOM file */
	VIEW_CSV,		/* the cleaned registry CSV */
	VIEW_REASONS,		/* .quarantine/reasons.csv */
};

/* A node of the view tree.  Borrowed from its struct view. */
struct view_node {
	uint64_t ino;
	uint64_t parent;	/* parent's ino (root: itself) */
	const char *name;	/* one path component */
	enum view_kind kind;
	uint8_t hidden;		/* not listed by readdir (.quarantine) */
	uint8_t quarantined;	/* under .quarantine */
	uint64_t size;
	int64_t mtime_ns;
	int64_t file_id;	/* VIEW_DICOM: store row id */
	uint32_t nchildren;	/* VIEW_DIR */
	uint32_t first_child;	/* index into the children array */
};

const struct view_node *view_root(const struct view *v);
const struct view_node *view_lookup_ino(const struct view *v, uint64_t ino);
/* Child of a directory by name (binary search), or NULL. */
const struct view_node *view_lookup(const struct view *v,
				    const struct view_node *dir,
				    const char *name);
/* i-th child of a directory in name order (hidden ones included; callers
 * that list skip n->hidden), or NULL past the end. */
const struct view_node *view_child(const struct view *v,
				   const struct view_node *dir, uint32_t i);
/* Path of a node relative to the root, into buf.  Returns length or
 * -ENAMETOOLONG. */
int view_path(const struct view *v, const struct view_node *n, char *buf,
	      size_t bufsz);
/* Generated content of a VIEW_CSV or VIEW_REASONS node (borrowed). */
const char *view_text(const struct view *v, const struct view_node *n,
		      size_t *len);
size_t view_node_count(const struct view *v);
const struct view_node *view_node_at(const struct view *v, size_t i);

/* An opened DICOM file of the view (opaque): where each of its bytes
 * comes from. */
struct view_file;

/* Its size in bytes. */
uint64_t view_file_size(const struct view_file *vf);
/* Its source, open for reading: VIEW_SPAN_SOURCE spans are read from this
 * descriptor (valid until view_file_free()). */
int view_file_fd(const struct view_file *vf);

/*
 * Open the file behind a VIEW_DICOM node: open the source (O_NOFOLLOW),
 * check it is the version that was indexed (size, mtime, inode), take its
 * kept map or regenerate the header, and check the size matches the node.  Returns 0, -ESTALE when
 * the source changed since the index (refresh and rebuild, then retry),
 * -EBADMSG, -EIO, -ENOMEM.  *out freed with view_file_free().
 */
int view_file_open(struct view_engine *e, const struct view *v,
		   const struct view_node *n, struct view_file **out);
void view_file_free(struct view_file *vf);
/* Whether view_file_open() of n would find its map kept, for the version
 * indexed (a hint: it parses nothing then, unless the source changed). */
int view_file_kept(struct view_engine *e, const struct view_node *n);

/* True when a and b describe the same version of a file: device, inode,
 * size, mtime and ctime (ctime catches a writer that restores the mtime).
 * A rewrite within the file system's timestamp granularity that keeps the
 * size is not seen. */
int view_stat_same(const struct stat *a, const struct stat *b);

/* True when vf's source is no longer the version its header was generated
 * from (or cannot be checked): readers must not serve its pixel bytes. */
int view_file_changed(const struct view_file *vf);

/*
 * Read len bytes at off of an inflated source range (a VIEW_SPAN_INFLATED
 * span) into buf.  The pixel data of a deflated source is inflated as it
 * is read, never held: the file keeps a cursor (a few MiB, see inflate.h)
 * that reads in order cheaply and anywhere else from its nearest access
 * point.  Any thread; reads of one file take turns (vf->z_lock).  Returns
 * 0, -EIO (the stream is not what the index found: the source changed),
 * -ENOMEM.
 */
int view_file_inflate(struct view_file *vf, uint64_t off, void *buf,
		      size_t len);

enum view_span_kind {
	VIEW_SPAN_GEN = 1,
	VIEW_SPAN_SOURCE,
	VIEW_SPAN_INFLATED,	/* view_file_inflate() */
};
struct view_span {
	enum view_span_kind kind;
	uint64_t off;		/* source file offset (VIEW_SPAN_SOURCE), or
				 * offset in the inflated dataset
				 * (VIEW_SPAN_INFLATED) */
	uint64_t len;
	const uint8_t *mem;	/* generated bytes (VIEW_SPAN_GEN), borrowed
				 * from the view_file */
};

/*
 * Map a read of size bytes at off onto spans, in order: at most max of
 * them; when the read needs more, they cover its beginning and the caller
 * goes on from where they end.  Pure, cannot fail; returns the number of
 * spans (0 at or past EOF).  Both front ends read files through this.
 */
unsigned view_map_read(const struct view_file *vf, uint64_t off,
		       uint64_t size, struct view_span *span, unsigned max);
/* The number of spans a read of size bytes at off needs. */
uint64_t view_map_spans(const struct view_file *vf, uint64_t off,
			uint64_t size);

/*
 * Marks of a written copy of the view (for front ends that write it to
 * disk, see export.c).  A mark is keyed with the project's secret key and
 * carries no identifying value:
 * - the owner mark of a view path, view_owner_mark(): proves that this
 *   project put a file or folder there (VIEW_OWNER_LEN hex characters);
 * - the mark of a node, view_node_mark(): its owner mark, '.', and a
 *   version tag that changes whenever the node's bytes may have changed
 *   (another source version, other options, another file behind the same
 *   name, other generated text).  VIEW_MARK_LEN characters.
 * out must hold VIEW_MARK_LEN + 1 bytes.  Returns 0 or -ENAMETOOLONG.
 */
#define VIEW_OWNER_LEN 32
#define VIEW_MARK_LEN (2 * VIEW_OWNER_LEN + 1)
int view_owner_mark(const struct view_engine *e, const char *path,
		    char *out, size_t outsz);
int view_node_mark(const struct view_engine *e, const struct view *v,
		   const struct view_node *n, char *out, size_t outsz);

/*
 * What a run report says about the run itself, so that it stands alone as
 * the record of a release: the tool's version, the command line as given
 * (the user's own paths and options; nothing read from the source), wall
 * clock start and end, and the key's fingerprint.  All borrowed.
 */
struct view_run {
	const char *version;
	int argc;			/* argv[0] is left out of the report */
	char *const *argv;
	struct timespec start, end;	/* CLOCK_REALTIME */
	double elapsed_s;
	const char *fingerprint;	/* view_key_fingerprint(), or NULL */
	int served;			/* a mount: bytes are the view's size,
					 * not bytes written */
};

/*
 * The fingerprint of the project's key: HMAC-SHA256 under the key of a
 * fixed label, its first 16 bytes in hex.  Tells which key made a release
 * (two releases with the same fingerprint share pseudonyms) and reveals
 * nothing of the key.  out holds VIEW_FINGERPRINT_LEN + 1 bytes.
 */
#define VIEW_FINGERPRINT_LEN 32
void view_key_fingerprint(const struct view_engine *e,
			  char out[VIEW_FINGERPRINT_LEN + 1]);

/* JSON run report (the run, counters, bytes).  Malloc'd; caller frees.
 * Contains no PHI. */
char *view_stats_json(const struct view_stats *st, const struct view_run *r);
/* The counters for humans, multi-line. */
char *view_stats_text(const struct view_stats *st, const struct view_run *r);
/* Write text to path whole or not at all (a temporary file beside it,
 * renamed).  Returns 0 or -errno. */
int view_report_write(const char *path, const char *text);

#endif
