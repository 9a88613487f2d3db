/*
 * verify_walk.c - DATASET walked against the view, folder by folder in
 * name order: each entry the view has is checked (verify_file.c), each it
 * lacks is a finding under its folder's path (its own name may be
 * anything: never printed) and its bytes are searched too; what the view
 * has and the listing lacks is missing.  See verify_impl.h.
 */
#include "verify_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"

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

/* The next unit with a job, or NULL when none is left or one failed. */
static struct unit *next_unit(struct vrun *r, int failed)
{
	struct unit *u = NULL;

	pthread_mutex_lock(&r->lock);
	if (failed)
		r->next = r->nunits;	/* the others stop too */
	while (r->next < r->nunits && !u) {
		u = r->units[r->next++];
		if (u->job == VJOB_NONE)
			u = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	return u;
}

static void *worker(void *arg)
{
	struct vwork *w = arg;
	struct unit *u;

	while ((u = next_unit(w->r, 0))) {
		w->err = verify_unit_run(w, u);
		if (w->err) {
			next_unit(w->r, 1);
			break;
		}
	}
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

int verify_run_pool(struct vrun *r)
{
	struct vwork *w;
	unsigned i, started = 0;
	int err = 0;

	w = calloc(r->jobs, sizeof(*w));
	if (!w)
		return -ENOMEM;
	r->next = 0;
	for (i = 0; i < r->jobs && !err; i++) {
		err = verify_work_init(&w[i], r);
		/* the first runs in this thread */
		if (!err && i > 0 &&
		    pthread_create(&w[i].thread, NULL, worker, &w[i]))
			break;	/* fewer workers: enough */
		if (!err)
			started = i + 1;
	}
	if (started)
		worker(&w[0]);
	for (i = 0; i < r->jobs; i++) {
		if (i > 0 && i < started)
			pthread_join(w[i].thread, NULL);
		if (!err && i < started)
			err = w[i].err;
		tally_add(&r->t, &w[i].t);
		verify_work_done(&w[i]);
	}
	free(w);
	return err;
}
