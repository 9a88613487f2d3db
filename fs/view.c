/*
 * view.c - the view model's engine (see include/view.h) and view_build(),
 * a pipeline of steps over one struct build: the index's records, the
 * cohort (view_cohort.c), names (view_naming.c), the texts, the tree
 * (view_tree.c).  The other modules are named in view_impl.h.
 */
#include "view_cohort.h"
#include "view_naming.h"
#include "view_report.h"
#include "view_reuse.h"
#include "view_snap.h"
#include "view_scan.h"
#include "view_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>
#include <sys/syscall.h>

#include "dicom.h"
#include "iod.h"

/* ---------------------------------------------------------------- engine */

int view_engine_new(const struct view_config *cfg, struct view_engine **out,
		    char *err, size_t errsz)
{
	struct view_engine *e;
	int ret;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	e->root_fd = -1;
	if (!e->cfg.map_cache_bytes)
		e->cfg.map_cache_bytes = e->cfg.maps == VIEW_MAPS_ONCE
						 ? MAPS_ONCE_MAX
						 : MAPS_KEEP_MAX;
	mapcache_init(&e->maps, (size_t)e->cfg.map_cache_bytes);
	view_ahead_init(e);
	if (!e->cfg.modalities)
		e->cfg.modalities = "MG,OT";
	if (!e->cfg.layout)
		e->cfg.layout = VIEW_DEFAULT_LAYOUT;
	if (!e->cfg.csv_name)
		e->cfg.csv_name = VIEW_DEFAULT_CSV_NAME;
	if (!e->cfg.csv_spec)
		e->cfg.csv_spec = REGISTRY_DEFAULT_SPEC;
	if (!e->cfg.csv_delimiter)
		e->cfg.csv_delimiter = ';';
	if (e->cfg.jobs < 1)
		e->cfg.jobs = 1;
	if (!e->cfg.csv_name[0] || strchr(e->cfg.csv_name, '/') ||
	    e->cfg.csv_name[0] == '.') {
		snprintf(err, errsz,
			 "--csv-name: a plain file name not starting with '.'");
		ret = -EINVAL;
		goto fail;
	}
	ret = layout_parse(e->cfg.layout, &e->layout, err, errsz);
	if (ret)
		goto fail;
	if (e->cfg.csv_path) {
		ret = registry_spec_parse(e->cfg.csv_spec, &e->spec, err,
					  errsz);
		if (ret)
			goto fail;
	}
	ret = rules_new(&e->rules);
	if (ret) {
		snprintf(err, errsz, "cannot load the de-identification "
				     "tables (%s)", strerror(-ret));
		goto fail;
	}
	ret = store_key(e->cfg.store, e->key);
	if (ret) {
		snprintf(err, errsz, "cannot read the key from the db (%s)",
			 strerror(-ret));
		goto fail;
	}
	e->root_fd = open(cfg->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (e->root_fd < 0) {
		ret = -errno;
		snprintf(err, errsz, "cannot open the source directory (%s)",
			 strerror(errno));
		goto fail;
	}
	/* GDCM's version too: its dictionary and IOD tables decide what is
	 * kept, so another GDCM may give other bytes; and whether the layout
	 * names the month, which StudyDescription then says */
	snprintf(e->opts_fp, sizeof(e->opts_fp),
		 "v%d;o=%u;m=%s;wl=%s;gdcm=%s;iod=%s;sm=%d", VIEW_FORMAT,
		 e->cfg.rules_options, e->cfg.modalities,
		 e->cfg.whitelist_digest ? e->cfg.whitelist_digest : "-",
		 dicom_gdcm_version(), iod_edition(),
		 layout_has_month(e->layout));
	view_scan_fingerprint(e);
	e->ain.rules = e->rules;
	e->ain.key = e->key;
	e->ain.modalities = e->cfg.modalities;
	e->ain.rules_ctx_template.options = e->cfg.rules_options;
	e->ain.rules_ctx_template.wl = e->cfg.wl;
	ret = budget_new(e->cfg.parse_budget, &e->budget);
	if (ret) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	e->ain.budget = e->budget;
	e->ain.study_month = layout_has_month(e->layout);	/* as opts_fp */
	*out = e;
	return 0;
fail:
	view_engine_free(e);
	return ret;
}

const struct view_config *view_engine_config(const struct view_engine *e)
{
	return &e->cfg;
}

void view_engine_free(struct view_engine *e)
{
	if (!e)
		return;
	/* first: its jobs open sources under root_fd and make maps into
	 * the cache */
	view_ahead_stop(e);
	view_scan_end(e);
	if (e->root_fd >= 0)
		close(e->root_fd);
	mapcache_destroy(&e->maps);
	budget_free(e->budget);
	rules_free(e->rules);
	layout_free(e->layout);
	registry_spec_free(e->spec);
	explicit_bzero(e->key, sizeof(e->key));
	free(e);
}

/* ---------------------------------------------------------------- startup */

struct view_whitelist {
	struct rules_whitelist *wl;
	char digest[65];	/* SHA-256 of the file, hex */
};

void view_whitelist_free(struct view_whitelist *w)
{
	if (!w)
		return;
	rules_whitelist_free(w->wl);
	free(w);
}

/* The bytes of the white list file, at most 1 MiB.  Returns 0, -EINVAL
 * (not a regular file of at most 1 MiB) or -errno. */
static int whitelist_read(const char *path, char **buf, size_t *len,
			  char *err, size_t errsz)
{
	struct stat st;
	size_t at = 0;
	int fd, ret = 0;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errsz, "--whitelist: %s", strerror(errno));
		return ret == -EINVAL ? -EIO : ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
		snprintf(err, errsz, "--whitelist: not a regular file of at "
				     "most 1 MiB");
		close(fd);
		return -EINVAL;
	}
	*buf = malloc((size_t)st.st_size + 1);
	while (*buf && at < (size_t)st.st_size) {
		ssize_t r = read(fd, *buf + at, (size_t)st.st_size - at);

		if (r <= 0)
			break;
		at += (size_t)r;
	}
	close(fd);
	if (!*buf || at != (size_t)st.st_size) {
		ret = *buf ? -EIO : -ENOMEM;
		free(*buf);
		*buf = NULL;
		snprintf(err, errsz, "--whitelist: cannot read the file");
		return ret;
	}
	*len = at;
	return 0;
}

static int whitelist_load(const char *path, struct view_whitelist **out,
			  char *err, size_t errsz)
{
	struct view_whitelist *w;
	char msg[256] = "", *buf = NULL;
	uint8_t dg[32];
	size_t len = 0;
	int ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	ret = whitelist_read(path, &buf, &len, err, errsz);
	if (ret)
		goto out;
	keyed_sha256(buf, len, dg);
	base_hex_encode(dg, sizeof(dg), w->digest, sizeof(w->digest));
	ret = rules_whitelist_parse(buf, len, &w->wl, msg, sizeof(msg));
	if (ret) {
		snprintf(err, errsz, "--whitelist: %s",
			 msg[0] ? msg : strerror(-ret));
		ret = -EINVAL;	/* whatever the cause: a usage error */
	}
out:
	free(buf);
	if (ret)
		view_whitelist_free(w);
	else
		*out = w;
	return ret;
}

int view_init(struct view_config *cfg, const char *whitelist,
	      struct view_whitelist **wl, char *err, size_t errsz)
{
	int ret;

	*wl = NULL;
	if (whitelist) {
		ret = whitelist_load(whitelist, wl, err, errsz);
		if (ret)
			return ret;
		cfg->wl = (*wl)->wl;
		cfg->whitelist_digest = (*wl)->digest;
		cfg->whitelist_path = whitelist;
	}
	ret = dicom_init();
	if (ret) {
		snprintf(err, errsz, "cannot initialise the DICOM dictionaries");
		return ret == -EINVAL ? -EIO : ret;
	}
	return 0;
}

int view_engine_detach(struct view_engine *e)
{
	return store_detach(e->cfg.store);
}

int view_engine_attach(struct view_engine *e)
{
	return store_attach(e->cfg.store);
}

const char *view_db_error(int err)
{
	switch (err) {
	case -EBUSY:
		return "it is locked by another process (waited 10 s): "
		       "another deidfs or an sqlite3 session is writing to "
		       "it; run again when that has finished";
	case -ENOSPC:
		return "the disk that holds it is full (free space there and "
		       "run again; the db is left as it was before the "
		       "failed write)";
	default:
		return NULL;
	}
}

/*
 * Open a source file below the root without following any symlink and
 * without leaving the tree (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS;
 * plain O_NOFOLLOW on the last component where openat2 is missing).
 * O_NONBLOCK so that a FIFO swapped in after the scan cannot block us.
 */
static int open_source(int root_fd, const char *rel)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		      RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(root_fd, rel,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	return fd;
}

/* Open and check a regular file; returns fd or -errno. */
int view_open_regular(int root_fd, const char *rel, struct stat *st)
{
	int fd = open_source(root_fd, rel);

	if (fd < 0)
		return fd;
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int64_t view_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Whole seconds: every file system and rsync agree on them. */
	return (int64_t)ts.tv_sec * 1000000000LL;
}

int view_scmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* ------------------------------------------------------------- building */

/* The record's strings are in b->rstrs already: no copy. */
static int collect_cb(void *arg, const struct store_file *f)
{
	struct build *b = arg;
	struct recs *rs = &b->rs;

	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 1024;
		struct rec *p = realloc(rs->v, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		rs->v = p;
		rs->cap = nc;
	}
	memset(&rs->v[rs->n], 0, sizeof(rs->v[0]));
	rs->v[rs->n].f = *f;
	rs->v[rs->n].row_status = f->status;
	view_reuse_add(&b->names_had, &rs->v[rs->n].f,
		       rs->v[rs->n].f.view_path);
	rs->n++;
	return 0;
}

/* A record's own strings; those of its row are in b->rstrs, its paths in
 * b->pstrs when the names were kept. */
static void rec_clear(const struct build *b, struct rec *r)
{
	free(r->parent);
	free(r->raw);
	free(r->ekey);
	if (!b->names_kept) {
		free(r->path);
		free(r->study_path);
	}
}

static void recs_free(struct build *b)
{
	struct recs *rs = &b->rs;
	size_t i;

	for (i = 0; i < rs->n; i++)
		rec_clear(b, &rs->v[i]);
	free(rs->v);
	strarena_free(&b->rstrs);
	strarena_free(&b->pstrs);
}

/* Whether this build is an export task's share (view_config's
 * build_share_*): names per patient, and not share 0. */
static int share_only(const struct build *b)
{
	const struct view_config *cfg = &b->e->cfg;

	return cfg->build_share_n > 1 && cfg->build_share_i != 0 &&
	       cfg->build_share_i < cfg->build_share_n &&
	       layout_ncomponents(b->e->layout) > 1 &&
	       layout_component_level(b->e->layout, 0) == LAYOUT_PATIENT;
}

/*
 * Keep the records of the share's patients only, once the cohort has been
 * decided on all of them (a registry row is written when any record links
 * it, and that is recorded): the names of a patient's files depend on her
 * records alone (view_naming.h), so naming these names them as the whole
 * view does.  A record without a pseudonym is share 0's.
 */
static void keep_share(struct build *b)
{
	const struct view_config *cfg = &b->e->cfg;
	struct recs *rs = &b->rs;
	size_t i, k = 0;

	for (i = 0; i < rs->n; i++) {
		uint32_t h = view_shard_hash(rs->v[i].f.pseudonym);

		if (h && h % cfg->build_share_n == cfg->build_share_i)
			rs->v[k++] = rs->v[i];
		else
			rec_clear(b, &rs->v[i]);
	}
	rs->n = k;
	/* they index the records as they were */
	free(b->reckeys);
	b->reckeys = NULL;
	b->nreckeys = 0;
}

/* The records of the index, in hierarchical order. */
static int build_collect(struct build *b)
{
	int ret = store_file_read_all(b->e->cfg.store, &b->rstrs, collect_cb,
				      b);

	if (ret)
		snprintf(b->err, b->errsz, "cannot read the index (%s)",
			 strerror(-ret));
	return ret;
}

static int cmp_hier_at(const void *pa, const void *pb, void *arg)
{
	const struct rec *v = arg;

	return view_rec_cmp_hier(&v[*(const size_t *)pa],
				 &v[*(const size_t *)pb]);
}

/*
 * The records in hierarchical order.  qsort() of the records themselves
 * (296 bytes each) takes a copy of the whole array for its merge, 300 MB
 * of new pages at a million files, each page a fault: sort their
 * positions instead and move each record once, cycle by cycle.  The order
 * is total (ties by id): any sort gives the same one.
 */
static int sort_hier(struct recs *rs)
{
	size_t *ix, i, j, k;
	struct rec tmp;

	if (rs->n < 2)
		return 0;
	ix = malloc(rs->n * sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	for (i = 0; i < rs->n; i++)
		ix[i] = i;
	qsort_r(ix, rs->n, sizeof(*ix), cmp_hier_at, rs->v);
	/* position j takes the record at ix[j] */
	for (i = 0; i < rs->n; i++) {
		if (ix[i] == i)
			continue;
		tmp = rs->v[i];
		for (j = i; (k = ix[j]) != i; j = k) {
			rs->v[j] = rs->v[k];
			ix[j] = j;
		}
		rs->v[j] = tmp;
		ix[j] = j;
	}
	free(ix);
	return 0;
}

/* Names: published and quarantined records, each in hierarchical order;
 * a quarantined record without a pseudonym gets a reason line only. */
static int build_names(struct build *b)
{
	struct recs *rs = &b->rs;
	struct view_naming nm = { b->e->layout, b->e->key,
				  b->e->cfg.rules_options };
	size_t i;
	int ret, kept = 0;

	ret = sort_hier(rs);
	if (!ret)
		ret = view_reuse_begin(b);
	if (ret)
		return ret;
	if (view_reuse_possible(b)) {
		ret = view_reuse_names(b);
		if (ret == -ENOMEM)
			return ret;
		kept = !ret;
	}
	b->names_kept = kept;
	b->idx_main = calloc(rs->n + 1, sizeof(size_t));
	b->idx_q = calloc(rs->n + 1, sizeof(size_t));
	if (!b->idx_main || !b->idx_q)
		return -ENOMEM;
	for (i = 0; i < rs->n; i++) {
		struct rec *r = &rs->v[i];

		if (!r->included || r->f.status == ANALYSIS_SKIP)
			continue;
		if (!r->quarantine) {
			b->idx_main[b->nmain++] = i;
		} else if (r->f.pseudonym) {
			b->idx_q[b->nq++] = i;
		} else {
			char name[64];

			snprintf(name, sizeof(name), "unidentified/file-%" PRId64,
				 r->f.id);
			r->path = kept ? (char *)strarena_dup(&b->pstrs, name,
							      strlen(name))
				       : strdup(name);
			if (!r->path)
				return -ENOMEM;
		}
	}
	ret = kept ? 0 : view_names_assign(&nm, rs->v, b->idx_main, b->nmain);
	if (!ret && !kept)
		ret = view_names_assign(&nm, rs->v, b->idx_q, b->nq);
	if (ret)
		snprintf(b->err, b->errsz, "cannot name the files (%s)",
			 strerror(-ret));
	return ret;
}

static int csv_pseudonym(void *arg, const char *id, char *out, size_t outsz)
{
	const struct view_engine *e = arg;

	return keyed_pseudonym(e->key, id, strlen(id), out, outsz);
}

static int csv_shift(void *arg, const char *id)
{
	const struct view_engine *e = arg;

	return keyed_date_shift(e->key, id, strlen(id));
}

/* The generated texts: the cleaned CSV and reasons.csv. */
static int build_texts(struct build *b)
{
	size_t i;
	int ret;

	b->v = calloc(1, sizeof(*b->v));
	if (!b->v)
		return -ENOMEM;
	if (b->reg && !b->share) {
		struct registry_keys keys = { csv_pseudonym, csv_shift, b->e,
					      VIEW_FOLDER_COLUMN,
					      (const char *const *)
						      b->row_folders };

		ret = registry_render(b->reg, b->row_include, &keys,
				      view_row_report, &b->rctx, &b->v->csv,
				      &b->v->csv_len);
		if (ret) {
			snprintf(b->err, b->errsz, "cannot write the CSV (%s)",
				 strerror(-ret));
			return ret;
		}
		for (i = 0; i < b->nrows; i++)
			if (b->row_include[i] &&
			    registry_row(b->reg, i)->valid)
				b->st->csv_rows_written++;
	}
	if (b->share)		/* share 0 writes the texts */
		return 0;
	return view_reasons_render(&b->rs, &b->v->reasons,
				   &b->v->reasons_len);
}

static void build_free(struct build *b)
{
	size_t i;

	view_tents_free(&b->te);
	view_free(b->v);
	free(b->idx_main);
	free(b->idx_q);
	free(b->rowkeys);
	free(b->reckeys);
	free(b->row_include);
	if (b->row_folders)
		for (i = 0; i < b->nrows; i++)
			free(b->row_folders[i]);
	free(b->row_folders);
	registry_free(b->reg);
	if (b->csvbuf) {
		explicit_bzero(b->csvbuf, b->csvlen);
		free(b->csvbuf);
	}
	recs_free(b);
	free(b->snap_pre);
	free(b->rctx.log);
}

/* The view from the index's rows (view_build() without a snapshot to
 * load), kept as the snapshot for the next build. */
static int build_from_rows(struct build *b)
{
	int ret;

	ret = build_collect(b);
	if (!ret && b->e->cfg.csv_path)
		ret = view_cohort_read(b);
	if (!ret)
		ret = view_scan_registry(b);
	if (!ret)
		ret = view_cohort_assign(b);
	if (!ret)
		ret = view_cohort_record(b);
	b->share = share_only(b);
	if (!ret && b->share)
		keep_share(b);
	if (!ret)
		ret = build_names(b);
	if (!ret && b->reg && !b->share)
		ret = view_cohort_folders(b);
	if (!ret)
		ret = build_texts(b);
	if (!ret)
		ret = view_tree_entries(b);
	if (!ret)
		ret = view_tree_nodes(b);
	if (!ret)
		ret = view_tree_link(b);
	if (!ret)
		view_snap_save(b);
	return ret;
}

int view_build(struct view_engine *e, struct view_stats *st,
	       struct view **out, char *err, size_t errsz)
{
	struct build b;
	int ret;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.e = e;
	b.st = st;
	b.err = err;
	b.errsz = errsz;
	b.rctx.st = st;
	b.rctx.cfg = &e->cfg;
	b.by_id = e->cfg.csv_date_column < 0;
	__atomic_add_fetch(&e->builds, 1, __ATOMIC_RELAXED);
	ret = view_snap_load(&b);
	if (ret == 1)
		ret = 0;
	else if (!ret)
		ret = build_from_rows(&b);
	if (!ret) {
		*out = b.v;
		b.v = NULL;
		/* for verify (view_recall.c); a view that could not be
		 * recorded is still this run's view: verify then says it
		 * has no recorded view */
		(void)view_config_record(e);
	}
	if (ret && err && errsz && !err[0])
		snprintf(err, errsz, "cannot build the view (%s)",
			 strerror(-ret));
	build_free(&b);
	return ret;
}

/* See view.h.  The label is the fingerprint's alone: the value equals no
 * other keyed value (pseudonyms, UIDs, marks, the db's key check). */
void view_key_fingerprint(const struct view_engine *e,
			  char out[VIEW_FINGERPRINT_LEN + 1])
{
	uint8_t mac[32];

	keyed_hmac(e->key, sizeof(e->key), "report key fingerprint", "", 0,
		   mac);
	base_hex_encode(mac, VIEW_FINGERPRINT_LEN / 2, out,
			VIEW_FINGERPRINT_LEN + 1);
	explicit_bzero(mac, sizeof(mac));
}
