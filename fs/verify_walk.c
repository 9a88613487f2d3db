/*
 * verify_walk.c - DATASET walked against the view, folder by folder in
 * name order: each entry the view has is checked (verify_file.c), each it
 * lacks is a finding under its folder's path (its own name may be
 * anything: never printed) and its bytes are searched too; what the view
 * has and the listing lacks is missing.  See verify_impl.h.
 */
#include "verify_impl.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "budget.h"

/* An entry the view does not have, at full, in the folder vdir: a finding
 * under the folder's path; its bytes (a file) or its entries (a folder)
 * are searched too. */
static int walk_extra(struct vwork *w, const char *vdir, const char *full,
		      const char *name, int depth);

static int is_tmp_name(const char *name)
{
	size_t n = strlen(name);

	return n >= 4 && !strcmp(name + n - 4, ".tmp");
}

static int scan_name(struct vwork *w, const char *name)
{
	struct hit_ctx h = { w, "name" };

	w->r->names++;
	return acm_scan_buf(w->r->acm, name, strlen(name), verify_raw_hit,
			    &h);
}

/* The current unit is checked later, by a worker. */
static int add_job(struct vwork *w, enum vjob job,
		   const struct view_node *n, const char *full)
{
	w->u->full = strdup(full);
	if (!w->u->full)
		return -ENOMEM;
	w->u->job = job;
	w->u->n = n;
	return 0;
}

static int extra_entry(struct vwork *w, const char *vdir, const char *full,
		       const char *name, int depth)
{
	struct stat st;
	int err;

	err = verify_begin(w, vdir, 1);
	if (!err)
		err = scan_name(w, name);
	if (err)
		return err;
	if (lstat(full, &st))
		return verify_add_finding(w, "-", "unreadable", 0);
	err = verify_add_finding(w, "-",
				 is_tmp_name(name) ? "stray-tmp" : "extra", 0);
	if (err)
		return err;
	if (S_ISDIR(st.st_mode))
		return walk_extra(w, vdir, full, name, depth + 1);
	if (!S_ISREG(st.st_mode))
		return 0;
	return add_job(w, VJOB_EXTRA, NULL, full);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the folder full, sorted (deterministic output).  *names
 * freed with free_names(). */
static int list_dir(const char *full, char ***names, size_t *n)
{
	DIR *d = opendir(full);
	struct dirent *de;
	size_t cap = 0;
	int err = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (BASE_GROW(*names, cap, *n, *n + 1, 64, 0)) {
			err = -ENOMEM;
			break;
		}
		(*names)[*n] = strdup(de->d_name);
		if (!(*names)[*n]) {
			err = -ENOMEM;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return err;
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int join(char *out, size_t outsz, const char *a, const char *b)
{
	int k = snprintf(out, outsz, "%s%s%s", a, *a ? "/" : "", b);

	return k < 0 || (size_t)k >= outsz ? -ENAMETOOLONG : 0;
}

static int walk_extra(struct vwork *w, const char *vdir, const char *full,
		      const char *name, int depth)
{
	char **names = NULL, sub[PATH_MAX];
	size_t n = 0, i;
	int err;

	(void)name;
	if (depth > 64)
		return 0;
	err = list_dir(full, &names, &n);
	if (err) {
		free_names(names, n);
		return verify_add_finding(w, "-", "unreadable", 0);
	}
	for (i = 0; i < n && !err; i++) {
		err = join(sub, sizeof(sub), full, names[i]);
		if (!err)
			err = extra_entry(w, vdir, sub, names[i], depth);
	}
	free_names(names, n);
	return err;
}

/* The position of child c in dir (children are in name order). */
static uint32_t child_index(const struct view *v, const struct view_node *dir,
			    const struct view_node *c)
{
	uint32_t lo = 0, hi = dir->nchildren;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct view_node *m = view_child(v, dir, mid);
		int k = strcmp(m->name, c->name);

		if (!k)
			return mid;
		if (k < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return dir->nchildren;	/* the spare slot of seen[] */
}

/* Whether the view expects node n in DATASET. */
static int expected(const struct vrun *r, const struct view_node *n)
{
	if (n->hidden || n->quarantined)
		return r->with_quarantine;
	if (n->kind == VIEW_CSV && r->csv_out)
		return 0;	/* checked at --csv-out */
	return 1;
}

/* An entry of DATASET that the view has (c), at sub; vsub its view path. */
static int view_entry(struct vwork *w, const struct view_node *c,
		      const char *vsub, const char *sub, const char *name,
		      int depth)
{
	struct stat st;
	int err;

	err = verify_begin(w, vsub, 0);
	if (!err)
		err = scan_name(w, name);
	if (err)
		return err;
	if (lstat(sub, &st))
		return verify_add_finding(w, "-", "unreadable", 0);
	if (c->kind == VIEW_DIR)
		return S_ISDIR(st.st_mode)
			       ? verify_walk_view(w, c, vsub, sub, depth + 1)
			       : verify_add_finding(w, "-", "not-a-folder", 0);
	if (!S_ISREG(st.st_mode))
		return verify_add_finding(w, "-", "not-a-file", 0);
	return add_job(w, VJOB_FILE, c, sub);
}

int verify_walk_view(struct vwork *w, const struct view_node *dir,
		     const char *vpath, const char *full, int depth)
{
	struct vrun *r = w->r;
	char **names = NULL, sub[PATH_MAX], vsub[PATH_MAX];
	uint8_t *seen = NULL;
	size_t n = 0, i;
	struct stat st;
	int err;

	if (depth > 64)
		return 0;
	err = list_dir(full, &names, &n);
	seen = calloc(dir->nchildren + 1, 1);
	if (err || !seen) {
		free_names(names, n);
		free(seen);
		if (err == -ENOMEM || !seen)
			return -ENOMEM;
		if (err == -EMFILE || err == -ENFILE)
			return err;	/* not the folder's doing */
		err = verify_begin(w, vpath, 0);
		return err ? err : verify_add_finding(w, "-", "unreadable", 0);
	}
	for (i = 0; i < n && !err; i++) {
		const struct view_node *c = view_lookup(r->v, dir, names[i]);

		r->entries++;
		err = join(sub, sizeof(sub), full, names[i]);
		if (err)
			break;
		if (!c ||
		    !(c->kind == VIEW_CSV && r->csv_out ? 1 : expected(r, c))) {
			err = extra_entry(w, vpath, sub, names[i], depth);
			continue;
		}
		seen[child_index(r->v, dir, c)] = 1;
		err = join(vsub, sizeof(vsub), vpath, names[i]);
		if (!err)
			err = view_entry(w, c, vsub, sub, names[i], depth);
	}
	/* what the listing did not show: missing, or hidden (.quarantine of
	 * a mount is not listed, yet there) */
	for (i = 0; i < dir->nchildren && !err; i++) {
		const struct view_node *c = view_child(r->v, dir, (uint32_t)i);

		if (seen[i] || !expected(r, c))
			continue;
		r->expected += c->kind != VIEW_DIR;
		err = join(vsub, sizeof(vsub), vpath, c->name);
		if (!err)
			err = join(sub, sizeof(sub), full, c->name);
		if (err)
			break;
		if (c->hidden && !lstat(sub, &st) && S_ISDIR(st.st_mode)) {
			err = verify_walk_view(w, c, vsub, sub, depth + 1);
			continue;
		}
		err = verify_begin(w, vsub, 0);
		if (!err)
			err = verify_add_finding(w, "-", "missing", 0);
	}
	for (i = 0; i < dir->nchildren; i++)
		if (seen[i] && view_child(r->v, dir, (uint32_t)i)->kind !=
				       VIEW_DIR)
			r->expected++;
	free(seen);
	free_names(names, n);
	return err;
}

/* --csv-out: the view's CSV, at that file. */
int verify_check_csv_out(struct vwork *w)
{
	struct vrun *r = w->r;
	const struct view_node *root = view_root(r->v), *c;
	uint32_t i;
	int err;

	for (i = 0; (c = view_child(r->v, root, i)); i++)
		if (c->kind == VIEW_CSV) {
			r->expected++;
			err = verify_begin(w, c->name, 0);
			return err ? err : add_job(w, VJOB_FILE, c, r->csv_out);
		}
	err = verify_begin(w, "-", 0);
	return err ? err : verify_add_finding(w, "-", "no-csv-in-view", 0);
}

/* ------------------------------------------------------------ the pool */

/* A unit's work, to share it out: its bytes, and a little for the file. */
static uint64_t unit_work(const struct unit *u)
{
	return (u->job == VJOB_FILE ? u->n->size : 0) + (64u << 10);
}

/*
 * The next unit with a job for a worker with mine bytes of work left, or
 * NULL: when none is left (*left 0) or one failed, or when the worker has
 * its share of the work left (so the last files are spread over the
 * workers, not all taken by the first with free slots).
 */
static struct unit *next_unit(struct vrun *r, int failed, uint64_t mine,
			      int *left)
{
	struct unit *u = NULL;

	pthread_mutex_lock(&r->lock);
	if (failed) {
		r->next = r->nunits;	/* the others stop too */
		r->failed = 1;
	}
	if (!mine || mine * r->workers < r->queued + r->open)
		while (r->next < r->nunits && !u) {
			u = r->units[r->next++];
			if (u->job == VJOB_NONE)
				u = NULL;
		}
	if (u) {
		r->queued -= unit_work(u);
		r->open += unit_work(u);
	}
	*left = r->next < r->nunits;
	pthread_mutex_unlock(&r->lock);
	return u;
}

static int run_failed(struct vrun *r)
{
	int failed;

	pthread_mutex_lock(&r->lock);
	failed = r->failed;
	pthread_mutex_unlock(&r->lock);
	return failed;
}

/* done bytes of the open work are done. */
static void work_done(struct vrun *r, uint64_t done)
{
	pthread_mutex_lock(&r->lock);
	r->open -= done < r->open ? done : r->open;
	pthread_mutex_unlock(&r->lock);
}

/* A worker: a thread with its slots, each a file being read, and the
 * budget its slots' parsed headers are counted in. */
struct vthread {
	struct vrun *r;
	struct vwork *slot;
	unsigned nslots;
	struct budget *bud;
	pthread_t thread;
	int err;
};

/* The header bytes the worker's parsed headers hold now. */
static uint64_t headers_held(struct vthread *t)
{
	uint64_t now = 0, peak;

	budget_usage(t->bud, &now, &peak);
	return now;
}

/* Every slot's chunk read since the last hash, hashed together. */
static void hash_pending(struct vthread *t)
{
	struct keyed_sha256 *c[SHA256_LANES];
	const void *d[SHA256_LANES];
	size_t n[SHA256_LANES], k = 0;
	unsigned i;

	for (i = 0; i < t->nslots; i++) {
		struct vwork *w = &t->slot[i];

		if (!w->rd.pending)
			continue;
		c[k] = &w->rd.sha;
		d[k] = w->buf;
		n[k++] = w->rd.pending;
		w->rd.pending = 0;
		if (k == SHA256_LANES) {
			keyed_sha256_update_many(c, d, n, k);
			k = 0;
		}
	}
	if (k)
		keyed_sha256_update_many(c, d, n, k);
}

/* The header bytes a worker's open files may hold before it takes no
 * more: a header can be 256 MiB (dcm.h), and sixteen of them at once are
 * too many.  Counted by the parser itself (values, inflated or not) in the
 * worker's budget, whose cap is never reached: nothing waits for it (a
 * worker waiting for its own slots would wait for ever). */
#define HELD_MAX (64ull << 20)
#define HELD_CAP (1ull << 62)

/*
 * Each slot takes the next unit when it has none (while the worker holds
 * less than HELD_MAX of headers); then every busy slot reads its next
 * chunk, the chunks are hashed together, and the slots at the end of their
 * file end their unit.  On an error every busy slot still ends (releasing
 * what it holds), and the other workers stop at their next round.
 */
static void *worker(void *arg)
{
	struct vthread *t = arg;
	uint8_t busy[SHA256_LANES] = { 0 };
	uint64_t work[SHA256_LANES] = { 0 }, mine = 0, done;
	unsigned i, nbusy = 0;
	int more = 1, err = 0;

	while (!err) {
		if (run_failed(t->r)) {
			err = -ECANCELED;
			break;
		}
		for (i = 0; i < t->nslots && more && !err; i++) {
			struct unit *u;

			if (busy[i])
				continue;
			if (nbusy && headers_held(t) >= HELD_MAX)
				break;
			u = next_unit(t->r, 0, mine, &more);
			if (!u)
				break;
			busy[i] = 1;
			work[i] = unit_work(u);
			mine += work[i];
			nbusy++;
			err = verify_unit_begin(&t->slot[i], u);
		}
		if (!nbusy || err)
			break;
		done = 0;
		for (i = 0; i < t->nslots && !err; i++)
			if (busy[i] && !t->slot[i].rd.eof) {
				uint64_t off = t->slot[i].rd.off, k;

				err = verify_unit_step(&t->slot[i]);
				k = t->slot[i].rd.off - off;
				k = k < work[i] ? k : work[i];
				work[i] -= k;
				done += k;
			}
		if (err)
			break;
		hash_pending(t);
		for (i = 0; i < t->nslots && !err; i++)
			if (busy[i] && t->slot[i].rd.eof) {
				busy[i] = 0;
				nbusy--;
				done += work[i];
				work[i] = 0;
				err = verify_unit_end(&t->slot[i], 0);
			}
		mine -= done;
		work_done(t->r, done);
	}
	for (i = 0; i < t->nslots; i++)
		if (busy[i]) {
			int e = verify_unit_end(&t->slot[i], err ? err : -EIO);

			err = err ? err : e;
		}
	if (err)
		next_unit(t->r, 1, 0, &more);
	t->err = err;
	return NULL;
}

static void tally_add(struct vtally *to, const struct vtally *t)
{
	to->checked += t->checked;
	to->dicom += t->dicom;
	to->texts += t->texts;
	to->compared += t->compared;
	to->bytes += t->bytes;
	to->extra_scanned += t->extra_scanned;
	to->oracle_files += t->oracle_files;
}

/* Descriptors kept for all but the slots' files (the db, the walk, the
 * libraries), and what a slot holds open: its file and its source, and one
 * to spare. */
#define FDS_KEPT 64
#define FDS_PER_SLOT 3

/*
 * Slots a worker reads at once: as many as the CPU hashes at once, but one
 * when dciodvfy runs (two processes a file, and it is most of the time),
 * and no more than the descriptors allow: the soft limit is raised to the
 * hard one first, and every slot of every worker must fit under it (out of
 * descriptors, a run stops rather than call files unreadable).
 */
static unsigned slots_per_worker(const struct vrun *r)
{
	struct rlimit rl;
	uint64_t fit;
	unsigned n;

	n = sha256_forms() & SHA256_USE_X16 ? SHA256_LANES : 1;
	if (r->oracle == VORACLE_ON)
		n = 1;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl))
				getrlimit(RLIMIT_NOFILE, &rl);
		}
		fit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20)
			      ? (1u << 20) : (uint64_t)rl.rlim_cur;
		fit = fit > FDS_KEPT ? (fit - FDS_KEPT) / FDS_PER_SLOT / r->jobs
				     : 0;
		if (fit < n)
			n = fit ? (unsigned)fit : 1;
	}
	return n;
}

/* The first error of the workers that is their own, not a stop because
 * another failed. */
static int pool_error(int err, int werr)
{
	if (!err || (err == -ECANCELED && werr))
		return werr;
	return err;
}

int verify_run_pool(struct vrun *r)
{
	struct vthread *t;
	unsigned i, j, nslots = slots_per_worker(r), started = 0;
	size_t k;
	int err = 0;

	t = calloc(r->jobs, sizeof(*t));
	if (!t)
		return -ENOMEM;
	r->next = r->open = r->queued = 0;
	r->failed = 0;
	r->workers = r->jobs;
	for (k = 0; k < r->nunits; k++)
		if (r->units[k]->job != VJOB_NONE)
			r->queued += unit_work(r->units[k]);
	for (i = 0; i < r->jobs && !err; i++) {
		t[i].r = r;
		t[i].slot = calloc(nslots, sizeof(*t[i].slot));
		if (!t[i].slot) {
			err = -ENOMEM;
			break;
		}
		t[i].nslots = nslots;
		err = budget_new(HELD_CAP, &t[i].bud);
		for (j = 0; j < nslots && !err; j++) {
			err = verify_work_init(&t[i].slot[j], r);
			t[i].slot[j].bud = t[i].bud;
		}
		/* the first runs in this thread */
		if (!err && i > 0 &&
		    pthread_create(&t[i].thread, NULL, worker, &t[i])) {
			pthread_mutex_lock(&r->lock);
			r->workers = i;	/* fewer workers: enough */
			pthread_mutex_unlock(&r->lock);
			break;
		}
		if (!err)
			started = i + 1;
	}
	if (err) {	/* the workers started stop at their next round */
		pthread_mutex_lock(&r->lock);
		r->failed = 1;
		pthread_mutex_unlock(&r->lock);
	} else if (started) {
		worker(&t[0]);
	}
	for (i = 0; i < r->jobs; i++) {
		if (i > 0 && i < started)
			pthread_join(t[i].thread, NULL);
		if (i < started)
			err = pool_error(err, t[i].err);
		for (j = 0; t[i].slot && j < t[i].nslots; j++) {
			tally_add(&r->t, &t[i].slot[j].t);
			verify_work_done(&t[i].slot[j]);
		}
		base_wipe_free(t[i].slot,
			       t[i].slot ? nslots * sizeof(*t[i].slot) : 0);
		budget_free(t[i].bud);
	}
	free(t);
	return err;
}
