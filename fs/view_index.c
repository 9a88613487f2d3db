/*
 * view_index.c - the source walk and the index refresh (view_refresh(),
 * view_guard_walk()): new or changed files are analysed by a pool of
 * workers, one writer puts the results into the store in order, records of
 * removed files are pruned; the maps the refresh made are kept for the
 * export's opens (the header cache).
 */
#include "view_index.h"
#include "view_scan.h"
#include "shard.h"

#include <dirent.h>
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

#define WALK_MAX_DEPTH 64
#define WINDOW 512		/* analysed results waiting to be written */
#define COMMIT_EVERY 256

/* ------------------------------------------------------------------ walk */

struct entry {
	char *path;
	struct stat st;
};

struct entries {
	struct entry *v;
	size_t n, cap;
	uint64_t skipped;
	uint64_t unreadable;	/* folders that could not be read */
	char **lost;		/* their paths (PHI, owned), up to LOST_MAX */
	size_t nlost;
	int lost_all;		/* too many to note: prune nothing */
	const struct view_guard *guard;	/* borrowed from the config */
	size_t nguard;
	unsigned shard_i, shard_n;	/* a sharded index: only share i */
	enum view_place inside;	/* a guarded folder met: the walk stops */
};

#define LOST_MAX 1024

/* The place of guard that the folder st is, or 0.  A handful of pairs per
 * folder. */
static enum view_place guarded(const struct view_guard *g, size_t n,
			       const struct stat *st)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (g[i].dev == st->st_dev && g[i].ino == st->st_ino)
			return g[i].what;
	return 0;
}

const char *view_place_error(enum view_place what, int mount)
{
	if (what == VIEW_PLACE_DB)
		return "--db must not be inside the source tree or the view: "
		       "it holds the key and the original identities (a "
		       "folder of the source tree is the db's folder or one "
		       "above it, under another name: a bind mount?)";
	return mount ? "the mount point must not be inside the source tree, "
		       "nor the source inside it (a folder of the source tree "
		       "is the mount point or one above it, under another "
		       "name: a bind mount?)"
		     : "the destination must not be inside the source tree, "
		       "nor the source inside it (a folder of the source tree "
		       "is the destination or one above it, under another "
		       "name: a bind mount?)";
}

/* A folder that could not be read: what the index has below it is kept
 * (see keep_lost()).  Past LOST_MAX folders, or out of memory, nothing at
 * all is pruned (lost_all). */
static void note_lost(struct entries *es, const char *path)
{
	es->unreadable++;
	if (es->lost_all)
		return;
	if (es->nlost == LOST_MAX ||
	    (!es->lost && !(es->lost = calloc(LOST_MAX, sizeof(char *))))) {
		es->lost_all = 1;
		return;
	}
	es->lost[es->nlost] = strdup(path);
	if (!es->lost[es->nlost]) {
		es->lost_all = 1;
		return;
	}
	es->nlost++;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the entry prefix/name (or the path prefix, name NULL) is of
 * another share than es's: each source file is in exactly one. */
static int other_share(const struct entries *es, const char *prefix,
		       const char *name)
{
	char path[PATH_MAX];

	if (name && snprintf(path, sizeof(path), "%s%s%s", prefix,
			     *prefix ? "/" : "", name) >= (int)sizeof(path))
		return 0;	/* the walk skips it anyway */
	return view_shard_of(name ? path : prefix, es->shard_n) !=
	       es->shard_i;
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
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)	/* the rest of this folder is unknown */
				note_lost(es, prefix);
			break;
		}
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
		/* the name, and its d_type after its NUL: a sharded index
		 * stats only its own share's files */
		names[n] = malloc(strlen(de->d_name) + 2);
		if (!names[n]) {
			err = -ENOMEM;
			goto out;
		}
		strcpy(names[n], de->d_name);
		names[n][strlen(de->d_name) + 1] = (char)de->d_type;
		n++;
	}
	if (n)		/* an empty directory: names is NULL (UB for qsort) */
		qsort(names, n, sizeof(*names), cmp_name);
	for (i = 0; i < n && !err; i++) {
		struct stat st;
		char *path;
		size_t plen = strlen(prefix) + strlen(names[i]) + 2;
		unsigned char dt =
			(unsigned char)names[i][strlen(names[i]) + 1];

		if (es->shard_n > 1 && dt != DT_DIR && dt != DT_UNKNOWN &&
		    other_share(es, prefix, names[i]))
			continue;
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
			int sub;

			es->inside = guarded(es->guard, es->nguard, &st);
			if (es->inside) {
				free(path);
				err = -ELOOP;
				break;
			}
			sub = openat(dirfd, names[i],
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);

			if (sub < 0 && depth == 0 && errno == EACCES &&
			    !strcmp(names[i], "lost+found"))
				es->skipped++;	/* a file system's, not ours */
			else if (sub < 0)
				note_lost(es, path);
			else
				err = walk(sub, path, depth + 1, es);
			free(path);
			continue;
		}
		if (es->shard_n > 1 && other_share(es, path, NULL)) {
			free(path);	/* another task's */
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
	for (i = 0; i < es->nlost; i++) {
		explicit_bzero(es->lost[i], strlen(es->lost[i]));
		free(es->lost[i]);
	}
	free(es->lost);
	memset(es, 0, sizeof(*es));
}

/* Folders only, for view_guard_walk(). */
static int guard_walk(int dirfd, unsigned depth, const struct view_guard *g,
		      size_t n, enum view_place *hit)
{
	struct dirent *de;
	DIR *d;
	int err = 0;

	if (depth > WALK_MAX_DEPTH) {
		close(dirfd);
		return 0;
	}
	d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return 0;	/* unreadable: the refresh reports it */
	}
	while (!err && (de = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(st.st_mode))
			continue;
		*hit = guarded(g, n, &st);
		if (*hit)
			err = -ELOOP;
		else if ((sub = openat(dirfd, de->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					       O_CLOEXEC)) >= 0)
			err = guard_walk(sub, depth + 1, g, n, hit);
	}
	closedir(d);
	return err;
}

int view_guard_walk(const char *source, const struct view_guard *guard,
		    size_t nguard, enum view_place *hit)
{
	struct stat st;
	int fd;

	*hit = 0;
	fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && (*hit = guarded(guard, nguard, &st))) {
		close(fd);
		return -ELOOP;
	}
	return guard_walk(fd, 0, guard, nguard, hit);
}

/* --------------------------------------------------------------- refresh */

struct job {
	const struct entry *ent;
	struct stat st;		/* the source when it was opened */
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
		fd = view_open_regular(p->e->root_fd, j->ent->path, &st);
		j->st = st;
		if (fd < 0) {
			j->err = fd;
		} else {
			j->err = analysis_run(&p->e->ain, fd, &j->an);
			if (!j->err)	/* burned-in text, at index time */
				j->err = view_scan_file(p->e, j->ent->path,
							fd, &j->an);
			close(fd);
		}
		pthread_mutex_lock(&p->lock);
		j->done = 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
}

/* Keep the map of a just-analysed file for the opens that follow, as
 * cfg.maps says.  Best effort: without memory an open parses again. */
static void cache_header(struct view_engine *e, struct job *j)
{
	struct made *m;

	if (e->cfg.maps == VIEW_MAPS_NONE || !j->an.map.n)
		return;
	m = made_new(j->an.rec.id, &j->st, &j->an.map, j->an.inflated,
		     j->an.deflate);
	if (!m)
		return;
	mapcache_add(&e->maps, m);
	made_put(m);
}

int view_stat_same(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_ino == b->st_ino &&
	       a->st_dev == b->st_dev &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The analysis goes to the store as it is: its audit rows and UID pairs
 * are already in the store's form. */
static int put_result(struct view_engine *e, struct job *j, int64_t gen)
{
	struct store_pair pseud;
	int err;

	j->an.rec.path = strdup(j->ent->path);
	j->an.rec.opts = strdup(e->opts_fp);
	if (!j->an.rec.path || !j->an.rec.opts)
		return -ENOMEM;
	j->an.rec.out_mtime_ns = view_now_ns();
	pseud.orig = j->an.rec.patient_id;
	pseud.pseudo = j->an.rec.pseudonym;
	err = store_file_put(e->cfg.store, &j->an.rec, j->an.audit,
			     j->an.naudit, &pseud,
			     pseud.orig && pseud.pseudo ? 1 : 0, j->an.uids,
			     j->an.nuids);
	if (!err)
		err = store_file_touch(e->cfg.store, j->an.rec.id, gen);
	if (!err)
		cache_header(e, j);
	return err;
}

static int unchanged(const struct view_engine *e, const struct store_file *f,
		     const struct stat *st)
{
	return f->src_size == (uint64_t)st->st_size &&
	       f->src_mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000LL +
					  st->st_mtim.tv_nsec &&
	       f->src_ino == (uint64_t)st->st_ino &&
	       f->src_ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000LL +
					  st->st_ctim.tv_nsec &&
	       f->opts &&
	       strcmp(f->opts, e->opts_fp) == 0;
}

struct lost_ctx {
	const struct entries *es;
	int64_t *ids;
	size_t n, cap;
	int err;
};

static int lost_cb(void *arg, const struct store_file *f)
{
	struct lost_ctx *c = arg;
	size_t i;

	for (i = 0; i < c->es->nlost; i++) {
		const char *d = c->es->lost[i];
		size_t dl = strlen(d);

		if (!dl || (!strncmp(f->path, d, dl) && f->path[dl] == '/'))
			break;
	}
	if (i == c->es->nlost)
		return 0;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		int64_t *p = realloc(c->ids, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->ids = p;
		c->cap = nc;
	}
	c->ids[c->n++] = f->id;
	return 0;
}

/* Mark the records below the folders that could not be read as seen in
 * generation gen, so that the prune keeps them. */
static int keep_lost(struct view_engine *e, const struct entries *es,
		     int64_t gen)
{
	struct lost_ctx c = { es, NULL, 0, 0, 0 };
	size_t i;
	int err;

	err = store_file_foreach(e->cfg.store, lost_cb, &c);
	for (i = 0; i < c.n && !err; i++)
		err = store_file_touch(e->cfg.store, c.ids[i], gen);
	free(c.ids);
	return err;
}

/* Walk the source tree into es, stopping at a guarded folder. */
static int refresh_walk(struct view_engine *e, struct entries *es,
			struct view_stats *vs)
{
	struct stat rst;
	int dfd, err;

	/* The source tree must not hold the db or the view under another
	 * name: checked folder by folder as the walk meets them, before the
	 * store is written. */
	es->guard = e->cfg.guard;
	es->nguard = e->cfg.nguard;
	es->shard_i = e->cfg.shard_i;
	es->shard_n = e->cfg.shard_n;
	if (fstat(e->root_fd, &rst) == 0)
		es->inside = guarded(es->guard, es->nguard, &rst);
	if (es->inside) {
		err = -ELOOP;
	} else {
		dfd = dup(e->root_fd);
		if (dfd < 0)
			return -errno;
		/* fdopendir() takes over the fd and its offset: rewind our
		 * dup. */
		lseek(dfd, 0, SEEK_SET);
		err = walk(dfd, "", 0, es);
	}
	if (es->inside)
		vs->inside = es->inside;
	if (err)
		return err;
	vs->files_seen += es->n;
	vs->skipped += es->skipped;
	vs->dirs_unreadable += es->unreadable;
	vs->errors += es->unreadable;
	return 0;
}

/* Unchanged files are touched into generation gen; the others (new or
 * changed) are listed in todo. */
static int refresh_sort(struct view_engine *e, const struct entries *es,
			int64_t gen, size_t *todo, size_t *ntodo,
			struct view_stats *vs)
{
	size_t i;
	int err = store_begin(e->cfg.store), c;

	for (i = 0; i < es->n && !err; i++) {
		struct store_file f;
		int r;

		memset(&f, 0, sizeof(f));
		r = store_file_get(e->cfg.store, es->v[i].path, &f);
		if (r == -ENOENT && e->cfg.shard_base) {
			/* a shard's index: the project db may hold it */
			r = store_file_get(e->cfg.shard_base, es->v[i].path,
					   &f);
			if (r == 0 && unchanged(e, &f, &es->v[i].st)) {
				err = store_shard_seen(e->cfg.store,
						       es->v[i].path);
				vs->files_unchanged++;
				store_file_clear(&f);
				continue;
			}
			if (r == 0)
				r = -ENOENT;	/* analysed anew */
		}
		if (r == 0 && unchanged(e, &f, &es->v[i].st)) {
			err = store_file_touch(e->cfg.store, f.id, gen);
			vs->files_unchanged++;
		} else if (r == 0 || r == -ENOENT) {
			todo[(*ntodo)++] = i;
		} else {
			err = r;
		}
		store_file_clear(&f);
	}
	c = store_commit(e->cfg.store);
	return err ? err : c;
}

/* The writer: results go to the store in source order, so row ids (inode
 * numbers) do not depend on thread timing. */
static int refresh_write(struct view_engine *e, struct pool *p, int64_t gen,
			 struct view_stats *vs, view_progress_fn progress,
			 void *arg)
{
	size_t i;
	int err = 0, in_tx = 0;

	for (i = 0; i < p->njobs; i++) {
		struct job *j = &p->jobs[i];

		pthread_mutex_lock(&p->lock);
		while (!j->done)
			pthread_cond_wait(&p->cond, &p->lock);
		pthread_mutex_unlock(&p->lock);
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
		if ((i + 1) % COMMIT_EVERY == 0 || i + 1 == p->njobs) {
			err = store_commit(e->cfg.store);
			in_tx = 0;
			if (err)
				break;
		}
		pthread_mutex_lock(&p->lock);
		p->written = i + 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (progress)
			progress(arg, "index", i + 1, p->njobs);
	}
	if (in_tx) {
		int c = store_commit(e->cfg.store);

		if (!err)
			err = c;
	}
	return err;
}

/* Analyse the listed files with the engine's workers and write them. */
static int refresh_analyse(struct view_engine *e, const struct entries *es,
			   const size_t *todo, size_t ntodo, int64_t gen,
			   struct view_stats *vs, view_progress_fn progress,
			   void *arg)
{
	struct pool p;
	pthread_t *th = NULL;
	size_t i, nth = 0;
	int err = 0;

	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	p.e = e;
	p.njobs = ntodo;
	p.jobs = calloc(ntodo + 1, sizeof(*p.jobs));
	th = calloc(e->cfg.jobs, sizeof(*th));
	if (!p.jobs || !th) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ntodo; i++)
		p.jobs[i].ent = &es->v[todo[i]];
	/* the scan's workers, forked before the index threads start */
	if (ntodo && (err = view_scan_begin(e)))
		goto out;
	for (nth = 0; nth < e->cfg.jobs && ntodo; nth++)
		if (pthread_create(&th[nth], NULL, worker, &p))
			break;
	if (ntodo && nth == 0) {
		err = -EAGAIN;
		goto out;
	}
	err = refresh_write(e, &p, gen, vs, progress, arg);
	pthread_mutex_lock(&p.lock);
	p.stop = 1;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
out:
	view_scan_end(e);
	if (p.jobs)
		for (i = 0; i < ntodo; i++)
			analysis_clear(&p.jobs[i].an);
	free(p.jobs);
	free(th);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.cond);
	return err;
}

int view_refresh(struct view_engine *e, struct view_stats *vs,
		 view_progress_fn progress, void *arg)
{
	struct entries es = { 0 };
	size_t *todo = NULL, ntodo = 0;
	int64_t gen;
	int err;

	err = refresh_walk(e, &es, vs);
	if (!err)
		err = store_next_generation(e->cfg.store, &gen);
	if (err)
		goto out;
	todo = calloc(es.n + 1, sizeof(*todo));
	if (!todo) {
		err = -ENOMEM;
		goto out;
	}
	err = refresh_sort(e, &es, gen, todo, &ntodo, vs);
	if (!err)
		err = refresh_analyse(e, &es, todo, ntodo, gen, vs, progress,
				      arg);
	/* Files below a folder that could not be read were not seen, not
	 * removed: their records stay (so the view keeps them, their outputs
	 * are not swept, and reading them fails as it should) until a walk
	 * sees that folder again.  Everything else is pruned as usual. */
	if (!err && es.unreadable && !es.lost_all)
		err = keep_lost(e, &es, gen);
	if (!err && !es.lost_all)
		err = store_file_prune(e->cfg.store, gen);
out:
	free(todo);
	entries_free(&es);
	return err;
}
