/*
 * view.c - the view model (see include/view.h): index refresh, naming,
 * cohort linking, the tree, and opening files for reading.
 */
#include "view.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "analyze.h"
#include "dicom.h"
#include "keyed.h"
#include "layout.h"
#include "registry.h"
#include "store.h"

#define WALK_MAX_DEPTH 64
#define WINDOW 512		/* analysed results waiting to be written */
#define COMMIT_EVERY 256
#define CSV_MAX_BYTES (1ull << 30)

struct view_engine {
	struct view_config cfg;		/* strings borrowed from the caller */
	int root_fd;
	struct rules *rules;
	uint8_t key[KEYED_KEY_LEN];
	struct layout *layout;
	struct registry_spec *spec;
	char opts_fp[256];		/* options fingerprint of an analysis */
	struct analysis_input ain;
};

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
	snprintf(e->opts_fp, sizeof(e->opts_fp), "v1;o=%u;m=%s;wl=%s",
		 e->cfg.rules_options, e->cfg.modalities,
		 e->cfg.whitelist_digest ? e->cfg.whitelist_digest : "-");
	e->ain.rules = e->rules;
	e->ain.key = e->key;
	e->ain.modalities = e->cfg.modalities;
	e->ain.rules_ctx_template.options = e->cfg.rules_options;
	e->ain.rules_ctx_template.wl = e->cfg.wl;
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
	if (e->root_fd >= 0)
		close(e->root_fd);
	rules_free(e->rules);
	layout_free(e->layout);
	registry_spec_free(e->spec);
	explicit_bzero(e->key, sizeof(e->key));
	free(e);
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
static int open_regular(int root_fd, const char *rel, struct stat *st)
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

/* ------------------------------------------------------------------ walk */

struct entry {
	char *path;
	struct stat st;
};

struct entries {
	struct entry *v;
	size_t n, cap;
	uint64_t skipped;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(int dirfd, const char *prefix, unsigned depth,
		struct entries *es)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int err = 0;

	if (depth > WALK_MAX_DEPTH) {
		es->skipped++;
		close(dirfd);
		return 0;
	}
	d = fdopendir(dirfd);
	if (!d) {
		err = -errno;
		close(dirfd);
		return err;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **p = realloc(names, nc * sizeof(*names));

			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			names = p;
			cap = nc;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			err = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n)		/* an empty directory: names is NULL (UB for qsort) */
		qsort(names, n, sizeof(*names), cmp_name);
	for (i = 0; i < n && !err; i++) {
		struct stat st;
		char *path;
		size_t plen = strlen(prefix) + strlen(names[i]) + 2;

		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW)) {
			es->skipped++;
			continue;
		}
		if (plen > PATH_MAX) {
			es->skipped++;
			continue;
		}
		path = malloc(plen);
		if (!path) {
			err = -ENOMEM;
			break;
		}
		snprintf(path, plen, "%s%s%s", prefix, *prefix ? "/" : "",
			 names[i]);
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, names[i],
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub < 0)
				es->skipped++;
			else
				err = walk(sub, path, depth + 1, es);
			free(path);
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			/* symlinks, FIFOs, devices, sockets: never opened */
			es->skipped++;
			free(path);
			continue;
		}
		if (es->n == es->cap) {
			size_t nc = es->cap ? es->cap * 2 : 1024;
			struct entry *p = realloc(es->v, nc * sizeof(*p));

			if (!p) {
				free(path);
				err = -ENOMEM;
				break;
			}
			es->v = p;
			es->cap = nc;
		}
		es->v[es->n].path = path;
		es->v[es->n].st = st;
		es->n++;
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return err;
}

static void entries_free(struct entries *es)
{
	size_t i;

	for (i = 0; i < es->n; i++) {
		explicit_bzero(es->v[i].path, strlen(es->v[i].path));
		free(es->v[i].path);
	}
	free(es->v);
	memset(es, 0, sizeof(*es));
}

/* --------------------------------------------------------------- refresh */

struct job {
	const struct entry *ent;
	struct analysis an;
	int err;
	int done;
};

struct pool {
	struct view_engine *e;
	struct job *jobs;
	size_t njobs;
	size_t next;		/* next job to claim */
	size_t written;		/* jobs consumed by the writer */
	int stop;
	pthread_mutex_t lock;	/* leaf lock; never held across a store call */
	pthread_cond_t cond;
};

static int64_t now_ns_rounded(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Whole seconds: every file system and rsync agree on them. */
	return (int64_t)ts.tv_sec * 1000000000LL;
}

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		struct job *j;
		struct stat st;
		int fd;

		pthread_mutex_lock(&p->lock);
		while (!p->stop && p->next < p->njobs &&
		       p->next >= p->written + WINDOW)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop || p->next >= p->njobs) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		j = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->lock);

		j->an.collect = 1;
		fd = open_regular(p->e->root_fd, j->ent->path, &st);
		if (fd < 0) {
			j->err = fd;
		} else {
			j->err = analysis_run(&p->e->ain, fd, &j->an);
			close(fd);
		}
		pthread_mutex_lock(&p->lock);
		j->done = 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
}

static int put_result(struct view_engine *e, struct job *j, int64_t gen)
{
	struct store_audit *audit = NULL;
	struct store_pair *uids = NULL, pseud;
	size_t i;
	int err;

	j->an.rec.path = strdup(j->ent->path);
	j->an.rec.opts = strdup(e->opts_fp);
	if (!j->an.rec.path || !j->an.rec.opts)
		return -ENOMEM;
	j->an.rec.out_mtime_ns = now_ns_rounded();
	audit = calloc(j->an.naudit + 1, sizeof(*audit));
	uids = calloc(j->an.nuids + 1, sizeof(*uids));
	if (!audit || !uids) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < j->an.naudit; i++) {
		audit[i].path = j->an.audit[i].path;
		audit[i].action = j->an.audit[i].action;
		audit[i].old = j->an.audit[i].old;
		audit[i].oldlen = j->an.audit[i].oldlen;
		audit[i].newv = j->an.audit[i].newv;
		audit[i].newlen = j->an.audit[i].newlen;
	}
	for (i = 0; i < j->an.nuids; i++) {
		uids[i].orig = j->an.uids[i].orig;
		uids[i].pseudo = j->an.uids[i].pseudo;
	}
	pseud.orig = j->an.rec.patient_id;
	pseud.pseudo = j->an.rec.pseudonym;
	err = store_file_put(e->cfg.store, &j->an.rec, audit, j->an.naudit,
			     &pseud, pseud.orig && pseud.pseudo ? 1 : 0, uids,
			     j->an.nuids);
	if (!err)
		err = store_file_touch(e->cfg.store, j->an.rec.id, gen);
out:
	free(audit);
	free(uids);
	return err;
}

static int unchanged(const struct view_engine *e, const struct store_file *f,
		     const struct stat *st)
{
	return f->src_size == (uint64_t)st->st_size &&
	       f->src_mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000LL +
					  st->st_mtim.tv_nsec &&
	       f->src_ino == (uint64_t)st->st_ino && f->opts &&
	       strcmp(f->opts, e->opts_fp) == 0;
}

int view_refresh(struct view_engine *e, struct view_stats *vs,
		 view_progress_fn progress, void *arg)
{
	struct entries es = { 0 };
	struct pool p;
	pthread_t *th = NULL;
	size_t *todo = NULL, ntodo = 0, i, nth = 0;
	int64_t gen;
	int dfd, err, in_tx = 0;

	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	dfd = dup(e->root_fd);
	if (dfd < 0)
		return -errno;
	/* fdopendir() takes over the fd and its offset: rewind our dup. */
	lseek(dfd, 0, SEEK_SET);
	err = walk(dfd, "", 0, &es);
	if (err)
		goto out;
	vs->files_seen += es.n;
	vs->skipped += es.skipped;

	err = store_next_generation(e->cfg.store, &gen);
	if (err)
		goto out;
	todo = calloc(es.n + 1, sizeof(*todo));
	if (!todo) {
		err = -ENOMEM;
		goto out;
	}
	err = store_begin(e->cfg.store);
	if (err)
		goto out;
	in_tx = 1;
	for (i = 0; i < es.n; i++) {
		struct store_file f;
		int r;

		memset(&f, 0, sizeof(f));
		r = store_file_get(e->cfg.store, es.v[i].path, &f);
		if (r == 0 && unchanged(e, &f, &es.v[i].st)) {
			err = store_file_touch(e->cfg.store, f.id, gen);
			vs->files_unchanged++;
		} else if (r == 0 || r == -ENOENT) {
			todo[ntodo++] = i;
		} else {
			err = r;
		}
		store_file_clear(&f);
		if (err)
			goto out;
	}
	err = store_commit(e->cfg.store);
	in_tx = 0;
	if (err)
		goto out;

	p.e = e;
	p.njobs = ntodo;
	p.jobs = calloc(ntodo + 1, sizeof(*p.jobs));
	th = calloc(e->cfg.jobs, sizeof(*th));
	if (!p.jobs || !th) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ntodo; i++)
		p.jobs[i].ent = &es.v[todo[i]];
	for (nth = 0; nth < e->cfg.jobs && ntodo; nth++)
		if (pthread_create(&th[nth], NULL, worker, &p))
			break;
	if (ntodo && nth == 0) {
		err = -EAGAIN;
		goto out;
	}

	/* The writer: results go to the store in source order, so row ids
	 * (inode numbers) do not depend on thread timing. */
	for (i = 0; i < ntodo; i++) {
		struct job *j = &p.jobs[i];

		pthread_mutex_lock(&p.lock);
		while (!j->done)
			pthread_cond_wait(&p.cond, &p.lock);
		pthread_mutex_unlock(&p.lock);
		if (!in_tx) {
			err = store_begin(e->cfg.store);
			if (err)
				break;
			in_tx = 1;
		}
		if (j->err) {
			/* Unreadable now (vanished, permissions, I/O): not
			 * indexed; counted.  A later refresh retries. */
			vs->errors++;
		} else {
			err = put_result(e, j, gen);
			if (err)
				break;
			vs->files_analysed++;
		}
		analysis_clear(&j->an);
		if ((i + 1) % COMMIT_EVERY == 0 || i + 1 == ntodo) {
			err = store_commit(e->cfg.store);
			in_tx = 0;
			if (err)
				break;
		}
		pthread_mutex_lock(&p.lock);
		p.written = i + 1;
		pthread_cond_broadcast(&p.cond);
		pthread_mutex_unlock(&p.lock);
		if (progress)
			progress(arg, "index", i + 1, ntodo);
	}
	pthread_mutex_lock(&p.lock);
	p.stop = 1;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (in_tx) {
		int c = store_commit(e->cfg.store);

		in_tx = 0;
		if (!err)
			err = c;
	}
	if (!err)
		err = store_file_prune(e->cfg.store, gen);
out:
	if (in_tx)
		store_commit(e->cfg.store);
	if (p.jobs)
		for (i = 0; i < ntodo; i++)
			analysis_clear(&p.jobs[i].an);
	free(p.jobs);
	free(th);
	free(todo);
	entries_free(&es);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
	return err;
}

/* ------------------------------------------------------------ the model */

struct vnode {
	struct view_node pub;
	char *name;		/* owned */
	char *src;		/* VIEW_DICOM: source path (PHI, owned) */
	uint64_t src_size;
	int64_t src_mtime_ns;
	uint64_t src_ino;
	uint64_t header_len;
};

struct view {
	struct vnode *nodes;
	size_t n;
	uint64_t *ino_keys;	/* open addressing: ino -> node index */
	uint32_t *ino_vals;
	size_t ino_cap;
	char *csv;
	size_t csv_len;
	char *reasons;
	size_t reasons_len;
};

#define NODE(v, i) (&(v)->nodes[i].pub)

static const struct vnode *vn(const struct view_node *n)
{
	return (const struct vnode *)n;	/* pub is the first member */
}

const struct view_node *view_root(const struct view *v)
{
	return NODE(v, 0);
}

static size_t ino_hash(uint64_t ino, size_t cap)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)ino & (cap - 1);
}

const struct view_node *view_lookup_ino(const struct view *v, uint64_t ino)
{
	size_t h;

	if (!v->ino_cap)
		return NULL;
	for (h = ino_hash(ino, v->ino_cap); v->ino_keys[h];
	     h = (h + 1) & (v->ino_cap - 1))
		if (v->ino_keys[h] == ino)
			return NODE(v, v->ino_vals[h]);
	return NULL;
}

const struct view_node *view_child(const struct view *v,
				   const struct view_node *dir, uint32_t i)
{
	if (dir->kind != VIEW_DIR || i >= dir->nchildren)
		return NULL;
	return NODE(v, dir->first_child + i);
}

const struct view_node *view_lookup(const struct view *v,
				    const struct view_node *dir,
				    const char *name)
{
	uint32_t lo = 0, hi;

	if (dir->kind != VIEW_DIR)
		return NULL;
	hi = dir->nchildren;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(NODE(v, dir->first_child + mid)->name, name);

		if (c == 0)
			return NODE(v, dir->first_child + mid);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int view_path(const struct view *v, const struct view_node *n, char *buf,
	      size_t bufsz)
{
	const struct view_node *chain[LAYOUT_MAX_COMPONENTS + 4];
	size_t depth = 0, at = 0;

	while (n->ino != VIEW_INO_ROOT) {
		if (depth == sizeof(chain) / sizeof(chain[0]))
			return -ENAMETOOLONG;
		chain[depth++] = n;
		n = view_lookup_ino(v, n->parent);
		if (!n)
			return -EINVAL;
	}
	if (bufsz)
		buf[0] = 0;
	while (depth--) {
		size_t len = strlen(chain[depth]->name);

		if (at + len + 2 > bufsz)
			return -ENAMETOOLONG;
		if (at)
			buf[at++] = '/';
		memcpy(buf + at, chain[depth]->name, len);
		at += len;
		buf[at] = 0;
	}
	return (int)at;
}

const char *view_text(const struct view *v, const struct view_node *n,
		      size_t *len)
{
	if (n->kind == VIEW_CSV) {
		*len = v->csv_len;
		return v->csv;
	}
	if (n->kind == VIEW_REASONS) {
		*len = v->reasons_len;
		return v->reasons;
	}
	*len = 0;
	return NULL;
}

size_t view_node_count(const struct view *v)
{
	return v->n;
}

const struct view_node *view_node_at(const struct view *v, size_t i)
{
	return i < v->n ? NODE(v, i) : NULL;
}

void view_free(struct view *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->n; i++) {
		free(v->nodes[i].name);
		if (v->nodes[i].src) {
			explicit_bzero(v->nodes[i].src,
				       strlen(v->nodes[i].src));
			free(v->nodes[i].src);
		}
	}
	free(v->nodes);
	free(v->ino_keys);
	free(v->ino_vals);
	if (v->csv)
		explicit_bzero(v->csv, v->csv_len);
	free(v->csv);
	free(v->reasons);
	free(v);
}

/* ------------------------------------------------------------- building */

struct rec {
	struct store_file f;
	int included;		/* in the cohort (or no CSV) */
	int quarantine;		/* goes under .quarantine */
	uint64_t study_ord, series_ord, inst_ord;
	char *parent;		/* resolved path so far (owned) */
	char *raw;		/* raw name of the current component */
	char *ekey;		/* entity key of the current component */
	size_t first;		/* first record of the same entity */
	char *path;		/* final view path, without .quarantine/ */
};

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int copy_rec(struct store_file *d, const struct store_file *s)
{
	*d = *s;
	d->path = xstrdup(s->path);
	d->opts = xstrdup(s->opts);
	d->patient_id = xstrdup(s->patient_id);
	d->study_date = xstrdup(s->study_date);
	d->pseudonym = xstrdup(s->pseudonym);
	d->study_uid = xstrdup(s->study_uid);
	d->series_uid = xstrdup(s->series_uid);
	d->sop_uid = xstrdup(s->sop_uid);
	d->modality = xstrdup(s->modality);
	d->laterality = xstrdup(s->laterality);
	d->view_position = xstrdup(s->view_position);
	d->view_path = xstrdup(s->view_path);
	d->study_time = xstrdup(s->study_time);
	if ((s->path && !d->path) || (s->opts && !d->opts) ||
	    (s->patient_id && !d->patient_id) ||
	    (s->study_date && !d->study_date) ||
	    (s->pseudonym && !d->pseudonym) ||
	    (s->study_uid && !d->study_uid) ||
	    (s->series_uid && !d->series_uid) ||
	    (s->sop_uid && !d->sop_uid) || (s->modality && !d->modality) ||
	    (s->laterality && !d->laterality) ||
	    (s->view_position && !d->view_position) ||
	    (s->view_path && !d->view_path) ||
	    (s->study_time && !d->study_time))
		return -ENOMEM;
	return 0;
}

struct recs {
	struct rec *v;
	size_t n, cap;
};

static int collect_cb(void *arg, const struct store_file *f)
{
	struct recs *rs = arg;
	int err;

	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 1024;
		struct rec *p = realloc(rs->v, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		rs->v = p;
		rs->cap = nc;
	}
	memset(&rs->v[rs->n], 0, sizeof(rs->v[0]));
	err = copy_rec(&rs->v[rs->n].f, f);
	rs->n++;
	return err;
}

static void recs_free(struct recs *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		store_file_clear(&rs->v[i].f);
		free(rs->v[i].parent);
		free(rs->v[i].raw);
		free(rs->v[i].ekey);
		free(rs->v[i].path);
	}
	free(rs->v);
}

static int scmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int icmp(int64_t a, int64_t b)
{
	/* absent (STORE_MISSING) sorts last */
	if (a == b)
		return 0;
	if (a == STORE_MISSING)
		return 1;
	if (b == STORE_MISSING)
		return -1;
	return a < b ? -1 : 1;
}

/* Hierarchical order: patient, study, series, instance; ties by id. */
static int cmp_hier(const void *pa, const void *pb)
{
	const struct store_file *a = &((const struct rec *)pa)->f;
	const struct store_file *b = &((const struct rec *)pb)->f;
	int c;

	if ((c = scmp(a->pseudonym, b->pseudonym)))
		return c;
	if ((c = scmp(a->study_date, b->study_date)))
		return c;
	if ((c = scmp(a->study_time, b->study_time)))
		return c;
	if ((c = scmp(a->study_uid, b->study_uid)))
		return c;
	if ((c = icmp(a->series_number, b->series_number)))
		return c;
	if ((c = scmp(a->series_uid, b->series_uid)))
		return c;
	if ((c = icmp(a->instance_number, b->instance_number)))
		return c;
	if ((c = scmp(a->sop_uid, b->sop_uid)))
		return c;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Orders over an index array of records (qsort_r: the records are the
 * context). */
static int cmp_entity(const void *pa, const void *pb, void *arg)
{
	const struct rec *base = arg;
	const struct rec *a = &base[*(const size_t *)pa];
	const struct rec *b = &base[*(const size_t *)pb];
	int c;

	if ((c = scmp(a->parent, b->parent)))
		return c;
	if ((c = scmp(a->raw, b->raw)))
		return c;
	if ((c = scmp(a->ekey, b->ekey)))
		return c;
	return *(const size_t *)pa < *(const size_t *)pb ? -1 : 1;
}

static int cmp_first(const void *pa, const void *pb, void *arg)
{
	const struct rec *base = arg;
	const struct rec *a = &base[*(const size_t *)pa];
	const struct rec *b = &base[*(const size_t *)pb];
	int c;

	if ((c = scmp(a->parent, b->parent)))
		return c;
	if ((c = scmp(a->raw, b->raw)))
		return c;
	if (a->first != b->first)
		return a->first < b->first ? -1 : 1;
	return *(const size_t *)pa < *(const size_t *)pb ? -1 : 1;
}

static char *entity_key(const struct rec *r, enum layout_level lvl)
{
	char buf[512];

	switch (lvl) {
	case LAYOUT_NONE:
		return strdup("");
	case LAYOUT_PATIENT:
		snprintf(buf, sizeof(buf), "%s", r->f.pseudonym ? r->f.pseudonym : "");
		break;
	case LAYOUT_STUDY:
		snprintf(buf, sizeof(buf), "%s|%s",
			 r->f.pseudonym ? r->f.pseudonym : "",
			 r->f.study_uid ? r->f.study_uid : "");
		break;
	case LAYOUT_SERIES:
		snprintf(buf, sizeof(buf), "%s|%s|%s",
			 r->f.pseudonym ? r->f.pseudonym : "",
			 r->f.study_uid ? r->f.study_uid : "",
			 r->f.series_uid ? r->f.series_uid : "");
		break;
	default:
		snprintf(buf, sizeof(buf), "%020" PRId64, r->f.id);
		break;
	}
	return strdup(buf);
}

/* Study date as the view shows it: shifted under the modified-dates
 * option, so that the folder month agrees with the headers. */
static void view_study_date(const struct view_engine *e,
			    const struct store_file *f, char out[9])
{
	struct tm tm;
	time_t t;
	int shift;

	out[0] = 0;
	if (!f->study_date || strlen(f->study_date) != 8)
		return;
	memcpy(out, f->study_date, 9);
	if (!(e->cfg.rules_options & RULES_RTN_LONG_MODIF_DATES) ||
	    (e->cfg.rules_options & RULES_RTN_LONG_FULL_DATES) ||
	    !f->patient_id)
		return;
	shift = keyed_date_shift(e->key, f->patient_id,
				 strlen(f->patient_id));
	memset(&tm, 0, sizeof(tm));
	if (sscanf(f->study_date, "%4d%2d%2d", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday) != 3)
		return;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_mday += shift;
	tm.tm_hour = 12;
	t = timegm(&tm);
	if (t == (time_t)-1 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 ||
	    tm.tm_year + 1900 > 9999) {
		out[0] = 0;
		return;
	}
	snprintf(out, 9, "%04u%02u%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

/*
 * Name the records idx[0..n) (already in hierarchical order) with the
 * layout, component by component, adding collision suffixes.
 */
static int assign_names(struct view_engine *e, struct rec *rs, size_t *idx,
			size_t n)
{
	unsigned nc = layout_ncomponents(e->layout), d;
	size_t i, *ord = NULL;
	int err = 0;

	/* ordinals, in hierarchical order */
	for (i = 0; i < n; i++) {
		struct rec *r = &rs[idx[i]];
		struct rec *pr = i ? &rs[idx[i - 1]] : NULL;

		if (!pr || scmp(pr->f.pseudonym, r->f.pseudonym)) {
			r->study_ord = 1;
			r->series_ord = 1;
			r->inst_ord = 1;
		} else if (scmp(pr->f.study_uid, r->f.study_uid)) {
			r->study_ord = pr->study_ord + 1;
			r->series_ord = 1;
			r->inst_ord = 1;
		} else if (scmp(pr->f.series_uid, r->f.series_uid)) {
			r->study_ord = pr->study_ord;
			r->series_ord = pr->series_ord + 1;
			r->inst_ord = 1;
		} else {
			r->study_ord = pr->study_ord;
			r->series_ord = pr->series_ord;
			r->inst_ord = pr->inst_ord + 1;
		}
		free(rs[idx[i]].parent);
		rs[idx[i]].parent = strdup("");
		if (!rs[idx[i]].parent)
			return -ENOMEM;
	}
	ord = malloc((n + 1) * sizeof(*ord));
	if (!ord)
		return -ENOMEM;
	for (d = 0; d < nc && !err; d++) {
		enum layout_level lvl = layout_component_level(e->layout, d);
		int last = d + 1 == nc;

		for (i = 0; i < n; i++) {
			struct rec *r = &rs[idx[i]];
			struct layout_values lv;
			char name[LAYOUT_MAX_NAME + 1], date[9];
			int len;

			view_study_date(e, &r->f, date);
			memset(&lv, 0, sizeof(lv));
			lv.patient = r->f.pseudonym;
			lv.study_date = date;
			lv.study_ordinal = r->study_ord;
			lv.series_number = r->f.series_number;
			lv.series_ordinal = r->series_ord;
			lv.modality = r->f.modality;
			lv.instance_number = r->f.instance_number;
			lv.instance_ordinal = r->inst_ord;
			lv.laterality = r->f.laterality;
			lv.view = r->f.view_position;
			len = layout_render(e->layout, d, &lv, name,
					    sizeof(name));
			if (len < 0) {
				err = len;
				break;
			}
			free(r->raw);
			free(r->ekey);
			r->raw = strdup(name);
			r->ekey = entity_key(r, lvl);
			if (!r->raw || !r->ekey) {
				err = -ENOMEM;
				break;
			}
			ord[i] = idx[i];
		}
		if (err)
			break;
		/* first record of each entity, in hierarchical order */
		qsort_r(ord, n, sizeof(*ord), cmp_entity, rs);
		for (i = 0; i < n; i++) {
			struct rec *r = &rs[ord[i]];
			struct rec *pr = i ? &rs[ord[i - 1]] : NULL;

			if (pr && !scmp(pr->parent, r->parent) &&
			    !scmp(pr->raw, r->raw) && !scmp(pr->ekey, r->ekey))
				r->first = pr->first;
			else
				r->first = ord[i];
		}
		/* positions of idx[] in hierarchical order, for "first" */
		qsort_r(ord, n, sizeof(*ord), cmp_first, rs);
		{
			uint64_t k = 0;

			for (i = 0; i < n && !err; i++) {
				struct rec *r = &rs[ord[i]];
				struct rec *pr = i ? &rs[ord[i - 1]] : NULL;
				char name[LAYOUT_MAX_NAME + 1];
				char *np;
				size_t plen;
				int len;

				if (!pr || scmp(pr->parent, r->parent) ||
				    scmp(pr->raw, r->raw))
					k = 1;
				else if (pr->first != r->first)
					k++;
				if (k == 1) {
					snprintf(name, sizeof(name), "%s",
						 r->raw);
				} else {
					len = layout_suffix(r->raw, last, k,
							    name,
							    sizeof(name));
					if (len < 0) {
						err = len;
						break;
					}
				}
				plen = strlen(r->parent) + strlen(name) + 2;
				np = malloc(plen);
				if (!np) {
					err = -ENOMEM;
					break;
				}
				snprintf(np, plen, "%s%s%s", r->parent,
					 *r->parent ? "/" : "", name);
				/* parent of the next level: stored after all
				 * siblings were compared, see below */
				free(r->path);
				r->path = np;
			}
		}
		for (i = 0; i < n; i++) {
			struct rec *r = &rs[idx[i]];

			free(r->parent);
			r->parent = r->path;
			r->path = NULL;
		}
	}
	for (i = 0; i < n; i++) {
		struct rec *r = &rs[idx[i]];

		free(r->path);
		r->path = r->parent;
		r->parent = NULL;
	}
	free(ord);
	return err;
}

/* --- registry linking --- */

struct keyent {
	const char *pid;
	const char *date;
	size_t i;
};

static int cmp_key(const void *pa, const void *pb)
{
	const struct keyent *a = pa, *b = pb;
	int c = strcmp(a->pid, b->pid);

	return c ? c : strcmp(a->date, b->date);
}

/* Nothing but a BOM and blank lines: no header, no rows. */
static int blank_csv(const char *buf, size_t len)
{
	size_t i = len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0;

	for (; i < len; i++)
		if (!strchr(" \t\r\n", buf[i]) || !buf[i])
			return 0;
	return 1;
}

static int read_all(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t at = 0;
	int err = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > CSV_MAX_BYTES) {
		err = -E2BIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (at < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + at, (size_t)st.st_size - at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -EIO;
			goto out;
		}
		at += (size_t)r;
	}
	buf[at] = 0;
	*out = buf;
	*len = at;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

struct report_ctx {
	struct view_stats *st;
	int quiet;
};

static void row_report(void *arg, uint64_t row, const char *reason)
{
	struct report_ctx *rc = arg;

	rc->st->csv_row_problems++;
	/* row numbers and fixed reasons only: never a value */
	if (!rc->quiet)
		fprintf(stderr, "deidfs: registry row %" PRIu64 ": %s\n", row,
			reason);
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

/* --- tree --- */

struct tent {
	char *path;		/* full view path (borrowed from recs or owned
				 * for directories) */
	int owned;
	enum view_kind kind;
	struct rec *r;		/* VIEW_DICOM */
	int quarantined;
	unsigned depth;
};

/* Compare paths component-wise ('/' sorts before every other byte). */
static int pathcmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;

		if (ca == '/')
			ca = 1;
		if (cb == '/')
			cb = 1;
		if (ca != cb || !ca)
			return (int)ca - (int)cb;
	}
}

static size_t dirlen(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? (size_t)(s - p) : 0;
}

/*
 * BFS order: by depth, then by path.  At one depth, comparing whole paths
 * component-wise orders entries by parent path and then by name, so the
 * children of each directory form one run, in the order of their parents.
 */
static int cmp_tent(const void *pa, const void *pb)
{
	const struct tent *a = pa, *b = pb;

	if (a->depth != b->depth)
		return a->depth < b->depth ? -1 : 1;
	return pathcmp(a->path, b->path);
}

static unsigned depth_of(const char *p)
{
	unsigned d = 1;

	for (; *p; p++)
		if (*p == '/')
			d++;
	return d;
}

struct tents {
	struct tent *v;
	size_t n, cap;
};

static int tents_add(struct tents *t, char *path, int owned,
		     enum view_kind kind, struct rec *r, int quarantined)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 1024;
		struct tent *p = realloc(t->v, nc * sizeof(*p));

		if (!p) {
			if (owned)
				free(path);
			return -ENOMEM;
		}
		t->v = p;
		t->cap = nc;
	}
	t->v[t->n].path = path;
	t->v[t->n].owned = owned;
	t->v[t->n].kind = kind;
	t->v[t->n].r = r;
	t->v[t->n].quarantined = quarantined;
	t->v[t->n].depth = depth_of(path);
	t->n++;
	return 0;
}

static int cmp_path_only(const void *pa, const void *pb)
{
	const struct tent *a = pa, *b = pb;
	int c = pathcmp(a->path, b->path);

	/* directories before files of the same path (cannot both exist) */
	return c ? c : (int)a->kind - (int)b->kind;
}

static int ino_put(struct view *v, uint64_t ino, uint32_t idx)
{
	size_t h;

	for (h = ino_hash(ino, v->ino_cap); v->ino_keys[h];
	     h = (h + 1) & (v->ino_cap - 1))
		if (v->ino_keys[h] == ino)
			return -EEXIST;
	v->ino_keys[h] = ino;
	v->ino_vals[h] = idx;
	return 0;
}

/* Stable mtime of a generated text (CSV, reasons.csv): the time its
 * content last changed, kept in the store under name. */
static int text_mtime(struct store *st, const char *name, const char *buf,
		      size_t len, int64_t *mtime)
{
	uint8_t dg[32];
	char hex[65], key[64], old[128], val[128];
	int i, err;

	keyed_sha256(buf, len, dg);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", dg[i]);
	snprintf(key, sizeof(key), "mtime:%s", name);
	err = store_setting_get(st, key, old, sizeof(old));
	if (!err && strncmp(old, hex, 64) == 0 && old[64] == ' ') {
		*mtime = strtoll(old + 65, NULL, 10);
		return 0;
	}
	*mtime = now_ns_rounded();
	snprintf(val, sizeof(val), "%s %" PRId64, hex, *mtime);
	return store_setting_set(st, key, val);
}

int view_build(struct view_engine *e, struct view_stats *st,
	       struct view **out, char *err, size_t errsz)
{
	struct recs rs = { 0 };
	struct registry *reg = NULL;
	struct registry_opts ro;
	struct keyent *rowkeys = NULL, *reckeys = NULL;
	size_t nrowkeys = 0, nreckeys = 0;
	uint8_t *row_include = NULL;
	struct tents te = { 0 };
	struct view *v = NULL;
	char *csvbuf = NULL;
	size_t csvlen = 0, *idx_main = NULL, *idx_q = NULL, nmain = 0, nq = 0;
	size_t i, j, nrows = 0;
	char *reasons = NULL;
	size_t reasons_len = 0;
	struct report_ctx rctx = { st, e->cfg.quiet };
	/* link on the personal ID alone (--link-date-column none) */
	int by_id = e->cfg.csv_date_column < 0;
	int ret;

	*out = NULL;
	ret = store_file_foreach(e->cfg.store, collect_cb, &rs);
	if (ret) {
		snprintf(err, errsz, "cannot read the index (%s)",
			 strerror(-ret));
		goto out;
	}

	/* Registry: parse and index rows by (personal ID, screening date). */
	if (e->cfg.csv_path) {
		char perr[256] = "";

		ret = read_all(e->cfg.csv_path, &csvbuf, &csvlen);
		if (ret) {
			snprintf(err, errsz, "cannot read the CSV (%s)",
				 strerror(-ret));
			goto out;
		}
		if (blank_csv(csvbuf, csvlen)) {
			/* an empty cohort by accident (a failed registry
			 * export) must not pass for an empty one by intent */
			snprintf(err, errsz, "cannot read the CSV: the file is "
				 "empty (no header line, no rows)");
			ret = -EBADMSG;
			goto out;
		}
		memset(&ro, 0, sizeof(ro));
		ro.delimiter = e->cfg.csv_delimiter;
		ro.has_header = e->cfg.csv_header;
		ro.spec = e->spec;
		ro.date_column = e->cfg.csv_date_column > 0
					 ? (unsigned)e->cfg.csv_date_column
					 : 3;
		ret = registry_parse(csvbuf, csvlen, &ro, row_report, &rctx, &reg,
				     perr, sizeof(perr));
		if (ret) {
			snprintf(err, errsz, "cannot read the CSV: %s", perr);
			goto out;
		}
		nrows = registry_row_count(reg);
		rowkeys = calloc(nrows + 1, sizeof(*rowkeys));
		row_include = calloc(nrows + 1, 1);
		if (!rowkeys || !row_include) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < nrows; i++) {
			const struct registry_row *row = registry_row(reg, i);

			if (!row->valid)
				continue;
			st->csv_rows++;
			if (!row->patient_id || (!by_id && !row->study_date[0]))
				continue;
			rowkeys[nrowkeys].pid = row->patient_id;
			rowkeys[nrowkeys].date = by_id ? "" : row->study_date;
			rowkeys[nrowkeys].i = i;
			nrowkeys++;
		}
		qsort(rowkeys, nrowkeys, sizeof(*rowkeys), cmp_key);
		/* Rows with one key link to the same studies: both are
		 * written, and reported against the first of them. */
		for (i = 0; i < nrowkeys; i = j) {
			size_t first = rowkeys[i].i, k;
			char why[96];

			for (j = i + 1; j < nrowkeys &&
			     !cmp_key(&rowkeys[i], &rowkeys[j]); j++)
				if (rowkeys[j].i < first)
					first = rowkeys[j].i;
			snprintf(why, sizeof(why), "same personal ID %sas row %"
				 PRIu64, by_id ? "" : "and key date ",
				 registry_row(reg, first)->number);
			for (k = i; k < j; k++)
				if (rowkeys[k].i != first)
					row_report(&rctx, registry_row(
						   reg, rowkeys[k].i)->number,
						   why);
		}
		reckeys = calloc(rs.n + 1, sizeof(*reckeys));
		if (!reckeys) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < rs.n; i++) {
			if (!rs.v[i].f.patient_id ||
			    (!by_id && !rs.v[i].f.study_date))
				continue;
			reckeys[nreckeys].pid = rs.v[i].f.patient_id;
			reckeys[nreckeys].date = by_id ? "" : rs.v[i].f.study_date;
			reckeys[nreckeys].i = i;
			nreckeys++;
		}
		qsort(reckeys, nreckeys, sizeof(*reckeys), cmp_key);
		/* Linking is decided before quarantine: any indexed study,
		 * published or quarantined, links its rows. */
		for (i = 0; i < nrows; i++) {
			const struct registry_row *row = registry_row(reg, i);
			struct keyent k;

			if (!row->valid)
				continue;
			if (!by_id && !row->study_date[0] &&
			    !e->cfg.include_unlinked) {
				/* never linked, so never written: say why
				 * (with --include-unlinked the renderer
				 * reports the cell it leaves empty) */
				char why[96];

				snprintf(why, sizeof(why),
					 "column %u: key date missing or not "
					 "dd.mm.yyyy: row cannot be linked",
					 ro.date_column);
				row_report(&rctx, row->number, why);
			}
			if (row->patient_id && (by_id || row->study_date[0])) {
				k.pid = row->patient_id;
				k.date = by_id ? "" : row->study_date;
				if (bsearch(&k, reckeys, nreckeys,
					    sizeof(k), cmp_key))
					row_include[i] = 1;
			}
			if (!row_include[i]) {
				st->csv_rows_unlinked++;
				if (e->cfg.include_unlinked)
					row_include[i] = 1;
			}
		}
	}

	/* Cohort and destination of every record. */
	for (i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];

		if (r->f.status == ANALYSIS_SKIP) {
			st->skipped++;
			st->skipped_dicomdir++;
			continue;
		}
		r->included = 1;
		if (reg && r->f.pseudonym) {
			struct keyent k = { r->f.patient_id ? r->f.patient_id : "",
					    by_id || !r->f.study_date
						    ? ""
						    : r->f.study_date,
					    0 };

			r->included = e->cfg.include_unlinked ||
				      ((by_id || r->f.study_date) &&
				       bsearch(&k, rowkeys, nrowkeys, sizeof(k),
					       cmp_key));
		}
		if (!r->included) {
			st->unlinked_files++;
			continue;
		}
		if (r->f.status != RULES_OK) {
			r->quarantine = 1;
			if (r->f.status >= 0 && r->f.status < RULES_REASON_COUNT)
				st->quarantined[r->f.status]++;
		}
	}
	if (reg) {
		/* distinct unlinked studies */
		char **uids = calloc(rs.n + 1, sizeof(char *));
		size_t nu = 0;

		if (!uids) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < rs.n; i++)
			if (!rs.v[i].included && rs.v[i].f.status != ANALYSIS_SKIP)
				uids[nu++] = rs.v[i].f.study_uid
						     ? rs.v[i].f.study_uid
						     : (char *)"";
		qsort(uids, nu, sizeof(*uids), cmp_name);
		for (i = 0; i < nu; i++)
			if (i == 0 || strcmp(uids[i], uids[i - 1]))
				st->unlinked_studies++;
		free(uids);
	}

	/* Names, in hierarchical order. */
	if (rs.n)	/* an empty index: rs.v is NULL (UB for qsort) */
		qsort(rs.v, rs.n, sizeof(*rs.v), cmp_hier);
	idx_main = calloc(rs.n + 1, sizeof(size_t));
	idx_q = calloc(rs.n + 1, sizeof(size_t));
	if (!idx_main || !idx_q) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < rs.n; i++) {
		if (!rs.v[i].included || rs.v[i].f.status == ANALYSIS_SKIP)
			continue;
		if (!rs.v[i].quarantine)
			idx_main[nmain++] = i;
		else if (rs.v[i].f.pseudonym)
			idx_q[nq++] = i;
		else {
			/* Nothing to name it by: a reason line only. */
			char name[64];

			snprintf(name, sizeof(name), "unidentified/file-%" PRId64,
				 rs.v[i].f.id);
			rs.v[i].path = strdup(name);
			if (!rs.v[i].path) {
				ret = -ENOMEM;
				goto out;
			}
		}
	}
	ret = assign_names(e, rs.v, idx_main, nmain);
	if (!ret)
		ret = assign_names(e, rs.v, idx_q, nq);
	if (ret) {
		snprintf(err, errsz, "cannot name the files (%s)",
			 strerror(-ret));
		goto out;
	}

	/* The CSV. */
	v = calloc(1, sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		goto out;
	}
	if (reg) {
		struct registry_keys keys = { csv_pseudonym, csv_shift, e };

		ret = registry_render(reg, row_include, &keys, row_report, &rctx,
				      &v->csv, &v->csv_len);
		if (ret) {
			snprintf(err, errsz, "cannot write the CSV (%s)",
				 strerror(-ret));
			goto out;
		}
		for (i = 0; i < nrows; i++)
			if (row_include[i] && registry_row(reg, i)->valid)
				st->csv_rows_written++;
	}

	/* Tree entries: files, then every directory above them. */
	for (i = 0; i < rs.n; i++) {
		struct rec *r = &rs.v[i];
		char *p;
		size_t plen;

		if (!r->path)
			continue;
		if (!r->quarantine) {
			ret = tents_add(&te, r->path, 0, VIEW_DICOM, r, 0);
			st->published++;
			st->bytes += r->f.out_size;
		} else {
			if (!r->f.header_len)
				continue;	/* listed in reasons only */
			plen = strlen(r->path) + sizeof(VIEW_QUARANTINE) + 1;
			p = malloc(plen);
			if (!p) {
				ret = -ENOMEM;
				goto out;
			}
			snprintf(p, plen, "%s/%s", VIEW_QUARANTINE, r->path);
			ret = tents_add(&te, p, 1, VIEW_DICOM, r, 1);
		}
		if (ret)
			goto out;
	}
	/* reasons.csv: sorted by name */
	{
		struct rec **qs = calloc(rs.n + 1, sizeof(*qs));
		size_t nqs = 0;

		if (!qs) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < rs.n; i++)
			if (rs.v[i].path && rs.v[i].quarantine)
				qs[nqs++] = &rs.v[i];
		for (i = 1; i < nqs; i++)	/* insertion sort by path */
			for (j = i; j > 0 && pathcmp(qs[j - 1]->path,
						     qs[j]->path) > 0; j--) {
				struct rec *t = qs[j];

				qs[j] = qs[j - 1];
				qs[j - 1] = t;
			}
		reasons_len = 0;
		{
			size_t need = 32;
			char *np;

			for (i = 0; i < nqs; i++)
				need += strlen(qs[i]->path) + 40;
			np = realloc(reasons, need);
			if (!np) {
				free(qs);
				ret = -ENOMEM;
				goto out;
			}
			reasons = np;
			reasons_len = (size_t)sprintf(reasons, "file,reason\n");
			for (i = 0; i < nqs; i++)
				reasons_len += (size_t)sprintf(
					reasons + reasons_len, "%s,%s\n",
					qs[i]->path,
					rules_reason_name((enum rules_reason)
								  qs[i]->f.status));
		}
		free(qs);
	}
	v->reasons = reasons;
	v->reasons_len = reasons_len;
	reasons = NULL;

	if (v->csv) {
		ret = tents_add(&te, (char *)e->cfg.csv_name, 0, VIEW_CSV, NULL,
				0);
		if (ret)
			goto out;
	}
	ret = tents_add(&te, (char *)VIEW_QUARANTINE "/" VIEW_REASONS_NAME, 0,
			VIEW_REASONS, NULL, 1);
	if (ret)
		goto out;
	{
		size_t nfiles = te.n;

		for (i = 0; i < nfiles; i++) {
			const char *p = te.v[i].path;
			const char *s;

			for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
				char *d = strndup(p, (size_t)(s - p));

				if (!d) {
					ret = -ENOMEM;
					goto out;
				}
				ret = tents_add(&te, d, 1, VIEW_DIR, NULL,
						strncmp(p, VIEW_QUARANTINE,
							strlen(VIEW_QUARANTINE)) == 0);
				if (ret)
					goto out;
			}
		}
	}
	/* dedupe directories; a file and another entry with one path means
	 * the layout produced a clash that suffixes did not resolve */
	qsort(te.v, te.n, sizeof(*te.v), cmp_path_only);
	for (i = 0, j = 0; i < te.n; i++) {
		if (j && pathcmp(te.v[j - 1].path, te.v[i].path) == 0) {
			if (te.v[i].kind != VIEW_DIR ||
			    te.v[j - 1].kind != VIEW_DIR) {
				snprintf(err, errsz,
					 "the layout gives two entries one "
					 "name; use a layout with more "
					 "variables");
				ret = -EINVAL;
				for (; i < te.n; i++)
					if (te.v[i].owned)
						free(te.v[i].path);
				te.n = j;
				goto out;
			}
			if (te.v[i].owned)
				free(te.v[i].path);
			continue;
		}
		te.v[j++] = te.v[i];
	}
	te.n = j;
	qsort(te.v, te.n, sizeof(*te.v), cmp_tent);

	/* Nodes: 0 is the root, then BFS order. */
	v->n = te.n + 1;
	v->nodes = calloc(v->n, sizeof(*v->nodes));
	for (v->ino_cap = 16; v->ino_cap < v->n * 2; v->ino_cap *= 2)
		;
	v->ino_keys = calloc(v->ino_cap, sizeof(*v->ino_keys));
	v->ino_vals = calloc(v->ino_cap, sizeof(*v->ino_vals));
	if (!v->nodes || !v->ino_keys || !v->ino_vals) {
		ret = -ENOMEM;
		goto out;
	}
	v->nodes[0].name = strdup("");
	v->nodes[0].pub.name = v->nodes[0].name;
	v->nodes[0].pub.ino = VIEW_INO_ROOT;
	v->nodes[0].pub.parent = VIEW_INO_ROOT;
	v->nodes[0].pub.kind = VIEW_DIR;
	if (!v->nodes[0].name) {
		ret = -ENOMEM;
		goto out;
	}
	ret = store_begin(e->cfg.store);
	if (ret)
		goto out;
	for (i = 0; i < te.n && !ret; i++) {
		struct tent *t = &te.v[i];
		struct vnode *nd = &v->nodes[i + 1];
		const char *base = strrchr(t->path, '/');
		uint64_t dino;

		nd->name = strdup(base ? base + 1 : t->path);
		if (!nd->name) {
			ret = -ENOMEM;
			break;
		}
		nd->pub.name = nd->name;
		nd->pub.kind = t->kind;
		nd->pub.quarantined = (uint8_t)t->quarantined;
		nd->pub.hidden = strcmp(t->path, VIEW_QUARANTINE) == 0;
		switch (t->kind) {
		case VIEW_DIR:
			ret = store_dir_ino(e->cfg.store, t->path, &dino);
			nd->pub.ino = 2 * dino + 1;
			break;
		case VIEW_DICOM:
			nd->pub.ino = 2 * (uint64_t)t->r->f.id + 4;
			nd->pub.size = t->r->f.out_size;
			nd->pub.mtime_ns = t->r->f.out_mtime_ns;
			nd->pub.file_id = t->r->f.id;
			nd->src = strdup(t->r->f.path);
			nd->src_size = t->r->f.src_size;
			nd->src_mtime_ns = t->r->f.src_mtime_ns;
			nd->src_ino = t->r->f.src_ino;
			nd->header_len = t->r->f.header_len;
			if (!nd->src)
				ret = -ENOMEM;
			break;
		case VIEW_CSV:
			nd->pub.ino = VIEW_INO_CSV;
			nd->pub.size = v->csv_len;
			ret = text_mtime(e->cfg.store, "csv", v->csv,
					 v->csv_len, &nd->pub.mtime_ns);
			break;
		case VIEW_REASONS:
			nd->pub.ino = VIEW_INO_REASONS;
			nd->pub.size = v->reasons_len;
			ret = text_mtime(e->cfg.store, "reasons", v->reasons,
					 v->reasons_len, &nd->pub.mtime_ns);
			break;
		}
		if (!ret && ino_put(v, nd->pub.ino, (uint32_t)(i + 1)))
			ret = -EEXIST;
	}
	if (!ret)
		ret = ino_put(v, VIEW_INO_ROOT, 0);
	/* Persist view paths (an authorised person can map a view name to
	 * its source through the db). */
	for (i = 0; i < rs.n && !ret; i++) {
		struct rec *r = &rs.v[i];
		char full[PATH_MAX];
		const char *vp = NULL;

		if (r->path) {
			snprintf(full, sizeof(full), "%s%s",
				 r->quarantine ? VIEW_QUARANTINE "/" : "",
				 r->path);
			vp = full;
		}
		if (scmp(vp, r->f.view_path) || (!vp) != (!r->f.view_path))
			ret = store_file_set_view_path(e->cfg.store, r->f.id,
						       vp);
	}
	{
		int c = store_commit(e->cfg.store);

		if (!ret)
			ret = c;
	}
	if (ret) {
		snprintf(err, errsz, "cannot build the view (%s)",
			 strerror(-ret));
		goto out;
	}
	/* Parents and children: nodes are in BFS order, so the children of
	 * each directory are one contiguous run. */
	for (i = 1; i < v->n; i++) {
		const char *p = te.v[i - 1].path;
		size_t dl = dirlen(p);
		const struct view_node *par;

		if (dl == 0) {
			par = NODE(v, 0);
		} else {
			/* binary search among the directories one level up,
			 * which are sorted by path */
			unsigned pd = te.v[i - 1].depth - 1;
			size_t lo = 0, hi = i - 1;
			char *pp = strndup(p, dl);

			if (!pp) {
				ret = -ENOMEM;
				goto out;
			}
			par = NULL;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				const struct tent *m = &te.v[mid];
				int c = m->depth != pd
						? (m->depth < pd ? -1 : 1)
						: pathcmp(m->path, pp);

				if (c == 0) {
					if (m->kind == VIEW_DIR)
						par = NODE(v, mid + 1);
					break;
				}
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			free(pp);
			if (!par) {
				ret = -EINVAL;
				goto out;
			}
		}
		v->nodes[i].pub.parent = par->ino;
		{
			struct vnode *pn = (struct vnode *)vn(par);

			if (pn->pub.nchildren == 0)
				pn->pub.first_child = (uint32_t)i;
			pn->pub.nchildren++;
		}
	}
	/* Directory mtimes: the newest entry below them. */
	for (i = v->n; i-- > 1;) {
		struct vnode *nd = &v->nodes[i];
		struct vnode *pn = (struct vnode *)vn(
			view_lookup_ino(v, nd->pub.parent));

		if (pn && nd->pub.mtime_ns > pn->pub.mtime_ns)
			pn->pub.mtime_ns = nd->pub.mtime_ns;
	}
	*out = v;
	v = NULL;
	ret = 0;
out:
	if (ret && err && errsz && !err[0])
		snprintf(err, errsz, "cannot build the view (%s)",
			 strerror(-ret));
	for (i = 0; i < te.n; i++)
		if (te.v[i].owned)
			free(te.v[i].path);
	free(te.v);
	view_free(v);
	free(reasons);
	free(idx_main);
	free(idx_q);
	free(rowkeys);
	free(reckeys);
	free(row_include);
	registry_free(reg);
	if (csvbuf) {
		explicit_bzero(csvbuf, csvlen);
		free(csvbuf);
	}
	recs_free(&rs);
	return ret;
}

/* ---------------------------------------------------------------- files */

int view_file_open(struct view_engine *e, const struct view *v,
		   const struct view_node *n, struct view_file **out)
{
	const struct vnode *nd = vn(n);
	struct analysis an;
	struct view_file *vf = NULL;
	struct stat st;
	int fd, err;

	(void)v;
	*out = NULL;
	if (n->kind != VIEW_DICOM || !nd->src)
		return -EINVAL;
	fd = open_regular(e->root_fd, nd->src, &st);
	if (fd < 0)
		return fd == -ENOENT ? -ESTALE : fd;
	if ((uint64_t)st.st_size != nd->src_size ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec !=
		    nd->src_mtime_ns ||
	    (uint64_t)st.st_ino != nd->src_ino) {
		close(fd);
		return -ESTALE;
	}
	memset(&an, 0, sizeof(an));
	err = analysis_run(&e->ain, fd, &an);
	if (err)
		goto fail;
	if (!an.header || an.header_len != nd->header_len ||
	    an.header_len + an.src_len != n->size) {
		/* Same stat, other bytes: the file was rewritten within the
		 * mtime granularity.  Never serve a mix. */
		err = -ESTALE;
		goto fail;
	}
	{
		/* changed while we generated the header: not this version */
		struct stat st2;

		if (fstat(fd, &st2) || st2.st_size != st.st_size ||
		    st2.st_mtim.tv_sec != st.st_mtim.tv_sec ||
		    st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec ||
		    st2.st_ctim.tv_sec != st.st_ctim.tv_sec ||
		    st2.st_ctim.tv_nsec != st.st_ctim.tv_nsec) {
			err = -ESTALE;
			goto fail;
		}
	}
	vf = calloc(1, sizeof(*vf));
	if (!vf) {
		err = -ENOMEM;
		goto fail;
	}
	vf->src_st = st;
	vf->header = an.header;
	vf->header_len = an.header_len;
	an.header = NULL;
	an.header_len = 0;
	vf->src_fd = fd;
	vf->src_off = an.src_off;
	vf->src_len = an.src_len;
	vf->size = vf->header_len + vf->src_len;
	analysis_clear(&an);
	*out = vf;
	return 0;
fail:
	analysis_clear(&an);
	close(fd);
	return err;
}

void view_file_free(struct view_file *vf)
{
	if (!vf)
		return;
	if (vf->header) {
		explicit_bzero(vf->header, vf->header_len);
		free(vf->header);
	}
	if (vf->src_fd >= 0)
		close(vf->src_fd);
	free(vf);
}

unsigned view_map_read(const struct view_file *vf, uint64_t off,
		       uint64_t size, struct view_span span[2])
{
	unsigned n = 0;
	uint64_t end;

	if (off >= vf->size || size == 0)
		return 0;
	end = size > vf->size - off ? vf->size : off + size;
	if (off < vf->header_len) {
		uint64_t e1 = end < vf->header_len ? end : vf->header_len;

		span[n].kind = VIEW_SPAN_HEADER;
		span[n].off = off;
		span[n].len = e1 - off;
		n++;
		off = e1;
	}
	if (off < end) {
		span[n].kind = VIEW_SPAN_SOURCE;
		span[n].off = vf->src_off + (off - vf->header_len);
		span[n].len = end - off;
		n++;
	}
	return n;
}

/* --------------------------------------------------------------- report */

char *view_stats_json(const struct view_stats *st, double elapsed_s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t q = 0;
	int i;

	if (!f)
		return NULL;
	for (i = 1; i < RULES_REASON_COUNT; i++)
		q += st->quarantined[i];
	fprintf(f, "{\n  \"files_seen\": %" PRIu64 ",\n", st->files_seen);
	fprintf(f, "  \"files_analysed\": %" PRIu64 ",\n", st->files_analysed);
	fprintf(f, "  \"files_unchanged\": %" PRIu64 ",\n",
		st->files_unchanged);
	fprintf(f, "  \"exported\": %" PRIu64 ",\n", st->published);
	fprintf(f, "  \"quarantined\": %" PRIu64 ",\n", q);
	fprintf(f, "  \"quarantined_by_reason\": {");
	for (i = 1; i < RULES_REASON_COUNT; i++)
		fprintf(f, "%s\n    \"%s\": %" PRIu64, i > 1 ? "," : "",
			rules_reason_name((enum rules_reason)i),
			st->quarantined[i]);
	fprintf(f, "\n  },\n");
	fprintf(f, "  \"skipped\": %" PRIu64 ",\n", st->skipped);
	fprintf(f, "  \"skipped_dicomdir\": %" PRIu64 ",\n",
		st->skipped_dicomdir);
	fprintf(f, "  \"skipped_special\": %" PRIu64 ",\n",
		st->skipped - st->skipped_dicomdir);
	fprintf(f, "  \"unlinked_studies\": %" PRIu64 ",\n",
		st->unlinked_studies);
	fprintf(f, "  \"unlinked_files\": %" PRIu64 ",\n", st->unlinked_files);
	fprintf(f, "  \"csv_rows\": %" PRIu64 ",\n", st->csv_rows);
	fprintf(f, "  \"csv_rows_written\": %" PRIu64 ",\n",
		st->csv_rows_written);
	fprintf(f, "  \"unlinked_rows\": %" PRIu64 ",\n",
		st->csv_rows_unlinked);
	fprintf(f, "  \"csv_row_problems\": %" PRIu64 ",\n",
		st->csv_row_problems);
	fprintf(f, "  \"errors\": %" PRIu64 ",\n", st->errors);
	fprintf(f, "  \"bytes\": %" PRIu64 ",\n", st->bytes);
	fprintf(f, "  \"elapsed_s\": %.3f,\n", elapsed_s);
	fprintf(f, "  \"throughput_mb_s\": %.1f,\n",
		elapsed_s > 0 ? (double)st->bytes / 1e6 / elapsed_s : 0.0);
	fprintf(f, "  \"files_per_s\": %.1f\n}\n",
		elapsed_s > 0 ? (double)(st->published + q) / elapsed_s : 0.0);
	fclose(f);
	return buf;
}

char *view_stats_text(const struct view_stats *st, double elapsed_s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	uint64_t q = 0;
	int i;

	if (!f)
		return NULL;
	for (i = 1; i < RULES_REASON_COUNT; i++)
		q += st->quarantined[i];
	fprintf(f, "files seen        %" PRIu64 " (%" PRIu64
		   " analysed, %" PRIu64 " unchanged)\n",
		st->files_seen, st->files_analysed, st->files_unchanged);
	fprintf(f, "published         %" PRIu64 "\n", st->published);
	fprintf(f, "quarantined       %" PRIu64 "\n", q);
	for (i = 1; i < RULES_REASON_COUNT; i++)
		if (st->quarantined[i])
			fprintf(f, "  %-22s %" PRIu64 "\n",
				rules_reason_name((enum rules_reason)i),
				st->quarantined[i]);
	fprintf(f, "skipped           %" PRIu64 " (DICOMDIR, links, special "
		   "files)\n", st->skipped);
	fprintf(f, "unlinked studies  %" PRIu64 " (%" PRIu64 " files)\n",
		st->unlinked_studies, st->unlinked_files);
	fprintf(f, "registry rows     %" PRIu64 " read, %" PRIu64
		   " written, %" PRIu64 " unlinked, %" PRIu64 " with problems\n",
		st->csv_rows, st->csv_rows_written, st->csv_rows_unlinked,
		st->csv_row_problems);
	fprintf(f, "errors            %" PRIu64 "\n", st->errors);
	fprintf(f, "bytes             %" PRIu64 " in %.2f s (%.1f MB/s)\n",
		st->bytes, elapsed_s,
		elapsed_s > 0 ? (double)st->bytes / 1e6 / elapsed_s : 0.0);
	fclose(f);
	return buf;
}
