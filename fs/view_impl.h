/*
 * view_impl.h - what the modules of the view model share (internal; the
 * contract to the front ends is include/view.h).
 *
 *   view.c          the engine, and view_build() as a pipeline of steps
 *   view_index.c    the source walk and the index refresh (parallel
 *                   parse, one writer), the header cache
 *   view_cohort.c   linking records with the registry's rows
 *   view_naming.c   names from the layout (pure; per patient)
 *   view_tree.c     the tree: entries, nodes, inode table, lookups
 *   view_reuse.c    the names of an unchanged index, from the rows
 *   view_content.c  opening a file, its byte map, marks
 *   view_report.c   reasons.csv and the run report
 *
 * Each module's functions are declared in its own header (view_index.h,
 * view_cohort.h, view_naming.h, view_tree.h, view_report.h); this one holds
 * the types they share.
 */
#ifndef DEIDFS_VIEW_IMPL_H
#define DEIDFS_VIEW_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "analyze.h"
#include "base.h"
#include "budget.h"
#include "bytemap.h"
#include "inflate.h"
#include "keyed.h"
#include "layout.h"
#include "mapcache.h"
#include "registry.h"
#include "store.h"
#include "strarena.h"
#include "view.h"

/* Bounds of the map cache (cfg.map_cache_bytes 0): an export keeps the
 * refresh's maps for the writes that follow; a mount keeps the maps of the
 * files read most recently. */
#define MAPS_ONCE_MAX (256u << 20)
#define MAPS_KEEP_MAX (16u << 20)
/* Maps made ahead: queued at most, and how many files past an open. */
#define AHEAD_MAX 16
#define AHEAD_DEPTH 4

/*
 * Version of the bytes deidfs generates for a given input, options and
 * key.  It is part of every index record's options fingerprint: bump it
 * whenever a change to the rules or the writer changes the output (2: the
 * file meta is padded to align the pixel data; 3: compound codes decided
 * by the IOD, PatientName "<pseudonym>^", unassigned public tags removed,
 * UIDs kept only when in the registry; 4: kept values only as valid
 * instances, screened for personal IDs and the words of every person name
 * of the file, CS values only their attribute's terms; encapsulated pixel
 * data walked, comments blanked, the offset table made again; 5: a public
 * attribute written as UN read as its string VR, the cause of a
 * quarantine recorded; 6: StudyID a keyed token of the study,
 * StudyDescription its month), so that a
 * db indexed by an earlier version is re-analysed instead of disagreeing
 * with the bytes served (which view_file_open() would refuse as a changed
 * source).
 */
#define VIEW_FORMAT 6

/* Bump whenever view_naming.c or view.c's build_names() would name the
 * same records otherwise: names recorded by an older naming are then
 * computed again (view_reuse.c), and snapshots taken by it are not loaded
 * (view_snap.c). */
#define VIEW_NAMING_VERSION 1

struct view_engine {
	struct view_config cfg;		/* strings borrowed from the caller */
	int root_fd;
	struct rules *rules;
	uint8_t key[KEYED_KEY_LEN];
	struct layout *layout;
	struct registry_spec *spec;
	char opts_fp[256];		/* options fingerprint of an analysis */
	struct analysis_input ain;
	struct budget *budget;		/* parse memory of every analysis:
					 * refresh workers and opens alike */
	/*
	 * Content maps made by the refresh and by opens, kept so that an open
	 * of a version already seen parses nothing (cfg.maps says which, and
	 * for how many opens; bounded by cfg.map_cache_bytes).
	 */
	struct mapcache maps;
	/*
	 * Maps made ahead of the opens (view_ahead.c; VIEW_MAPS_KEEP only):
	 * a reader going through a folder opens its files in order, and the
	 * next ones' maps are made by one thread while this one is read.
	 */
	pthread_mutex_t ahead_lock;	/* taken before maps.lock, never
					 * after it */
	pthread_cond_t ahead_cond;	/* a job queued, made, or stop */
	pthread_t ahead_thread;
	int ahead_started, ahead_stop;
	struct ahead_job {
		int64_t id;		/* 0: none */
		uint64_t ino, out_size;	/* its node's: the version */
	} ahead_q[AHEAD_MAX];
	unsigned ahead_head, ahead_n;
	int64_t ahead_making;		/* id being made, 0 when none */
	/* The burned-in text scan (view_scan.c): its fingerprint (part of
	 * opts_fp and of every kept result), and its workers, which live
	 * for one view_refresh() (NULL otherwise, or with --no-scan). */
	char scan_fp[128];
	struct scan_pool *scan_pool;
	/* view_build() calls made (view_snap.c keeps the first's view only:
	 * a live mount's rebuilds keep none) */
	unsigned builds;
};

/* An opened DICOM file of the view (view.h): where each of its bytes comes
 * from. */
struct view_file {
	struct made *made;	/* its content map (a reference) */
	const struct bytemap *map;	/* made->map */
	int src_fd;		/* source, open for reading; -1 if none */
	struct stat src_st;	/* the source as it was when the map was
				 * made: readers refuse any other */
	uint8_t inflated;	/* a deflated source: the map's inflated
				 * pieces lie in the inflated dataset; read
				 * them with view_file_inflate(), never
				 * from src_fd */
	struct inflate_where deflate;
	pthread_mutex_t z_lock;	/* guards z; leaf lock */
	struct inflate_cursor *z;	/* created by the first such read */
};

/* ------------------------------------------------------------ the model */

/*
 * A node: 72 bytes, folders and files alike, for millions of them.  Where
 * a file's bytes come from (its source path, the source version indexed,
 * the header length) is not held here but read from its index row when
 * it is opened (view_source_get()): about 110 bytes a file less.
 */
struct vnode {
	struct view_node pub;	/* pub.name in the view's strs */
	uint32_t phash;		/* VIEW_DICOM: view_shard_hash() of its
				 * pseudonym, 0 without (view_shard.c) */
};

/* The source of a view file as its index row has it. */
struct view_source {
	char *path;		/* relative to the root (PHI; owned, wiped
				 * by view_source_clear()) */
	uint64_t size, ino, header_len;
	int64_t mtime_ns, ctime_ns;
};

/*
 * view_content.c: the source of the view file of row id whose node has
 * inode number ino and size size, from the store.  Returns 0, -ESTALE
 * when the row is gone or holds another version than the node's (the
 * source was replaced since the view was built: the next view has it),
 * or the store's error.  Clear *out with view_source_clear().
 */
int view_source_get(struct view_engine *e, int64_t id, uint64_t ino,
		    uint64_t size, struct view_source *out);
void view_source_clear(struct view_source *s);

/* A pseudonym's hash for view_node_shard() (never 0; 0 for NULL). */
uint32_t view_shard_hash(const char *pseudonym);

struct view {
	struct vnode *nodes;
	size_t n;
	struct strarena strs;	/* the nodes' names */
	uint64_t *ino_keys;	/* open addressing: ino -> node index */
	uint32_t *ino_vals;
	size_t ino_cap;
	char *csv;
	size_t csv_len;
	char *reasons;
	size_t reasons_len;
};

#define NODE(v, i) (&(v)->nodes[i].pub)

static inline const struct vnode *vn(const struct view_node *n)
{
	return (const struct vnode *)n;
}

/* --------------------------------------------------------------- records */

/* One file record of the index while a view is built. */
struct rec {
	struct store_file f;	/* strings in build.rstrs: never
				 * store_file_clear() it */
	int included;		/* in the cohort (or no CSV) */
	int quarantine;		/* goes under .quarantine */
	int row_status;		/* f.status as the row has it (the registry
				 * match may tell a finer kind in f) */
	uint64_t study_ord, series_ord, inst_ord;
	char *parent;		/* resolved path so far (owned) */
	char *raw;		/* raw name of the current component */
	char *ekey;		/* entity key of the current component */
	size_t first;		/* first record of the same entity */
	char *path;		/* final view path, without .quarantine/ */
	char *study_path;	/* the folder of its study: path through the
				 * layout's last study-level component, or
				 * NULL (both owned, or in build.pstrs when
				 * build.names_kept) */
};

struct recs {
	struct rec *v;
	size_t n, cap;
};

/* Strings compared with NULL as "". */
int view_scmp(const char *a, const char *b);

/* Open a source file below the root (never through a symlink) and check
 * it is a regular file; returns fd or -errno. */
int view_open_regular(int root_fd, const char *rel, struct stat *st);

/* view_content.c: make the content map of file id from its source, open
 * as fd at version st (analysis_run()): 0 and *out (one reference), or
 * -ESTALE when the source changed meanwhile, or the analysis's error. */
int view_make_map(struct view_engine *e, int64_t id, int fd,
		  const struct stat *st, struct made **out);

/* view_ahead.c: queue the maps of the files after n in its folder (the
 * engine's VIEW_MAPS_KEEP); wait while n's own is being made ahead; stop
 * the thread (view_engine_free()). */
void view_ahead_queue(struct view_engine *e, const struct view *v,
		      const struct view_node *n);
void view_ahead_wait(struct view_engine *e, int64_t id);
void view_ahead_init(struct view_engine *e);
void view_ahead_stop(struct view_engine *e);

/* Now, in whole seconds, as nanoseconds: every file system and rsync agree
 * on whole seconds. */
int64_t view_now_ns(void);

/* ------------------------------------------------------------------ build */

struct keyent {
	const char *pid;
	const char *date;
	size_t i;
};

struct report_ctx {
	struct view_stats *st;
	const struct view_config *cfg;
	/* the reports of this build, "row reason" lines, for its snapshot
	 * (view_snap.c); full: too many to keep, no snapshot */
	char *log;
	size_t log_len, log_cap;
	int log_full;
};

/* 24 bytes: qsort() sorts elements of up to 32 bytes in place of
 * pointers to them, millions of them. */
struct tent {
	char *path;		/* full view path (borrowed from recs or owned
				 * for directories) */
	struct rec *r;		/* VIEW_DICOM */
	unsigned depth;
	uint8_t kind;		/* enum view_kind */
	uint8_t owned;
	uint8_t quarantined;
};

struct tents {
	struct tent *v;
	size_t n, cap;
};

/* Records summed as view_reuse.c does. */
struct view_digest {
	uint64_t sum[2];
	size_t n;
};

/* view_recall.c: the text view_config_record() records for cfg (caller
 * frees): 0, -ENOENT (a path that is not there), -E2BIG or -ENOMEM. */
int view_config_text(const struct view_config *cfg, char **out);

/* The state of one view_build(), passed from step to step. */
struct build {
	struct view_engine *e;
	struct view_stats *st;
	char *err;
	size_t errsz;
	struct recs rs;			/* the index */
	struct strarena rstrs;		/* the strings of rs's rows (PHI:
					 * wiped when freed) */
	/* names kept from the last build (view_reuse.c) */
	char names_cfg[65];		/* "": never reused */
	uint8_t cfg_dg[32];		/* view_config_digest(), once: */
	int cfg_dg_state;		/* 0 not yet, 1 made, or -errno */
	struct view_digest names_had;	/* the rows as read */
	struct view_digest names_now;	/* the rows as persisted */
	int names_kept;			/* the rows' names taken: the
					 * records' path and study_path are
					 * in pstrs, not malloc'ed */
	struct strarena pstrs;
	/* the registry and the links */
	struct registry *reg;
	struct registry_opts ro;
	char *csvbuf;			/* the CSV as read (PHI, wiped) */
	size_t csvlen, nrows;
	struct keyent *rowkeys, *reckeys;
	size_t nrowkeys, nreckeys;
	uint8_t *row_include;		/* nrows: written to the CSV */
	char **row_folders;		/* nrows: the view folders of the
					 * studies a row links, or NULL */
	struct report_ctx rctx;
	int by_id;			/* link on the personal ID alone */
	int share;			/* an export task's share only
					 * (view_config.build_share_*) */
	/* names */
	size_t *idx_main, *idx_q, nmain, nq;
	/* the tree */
	struct tents te;
	struct view *v;
	/* the snapshot (view_snap.c): usable at all, the view generation
	 * read before the rows, the bumps of it this build made (a view
	 * path written, one each), and the counters before the build */
	int snap_ok;
	int64_t snap_gen, snap_own;
	uint8_t snap_stamp[32];
	struct view_stats *snap_pre;
};

#endif
