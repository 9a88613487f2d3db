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
static int walk_extra(struct vrun *r, const char *vdir, const char *full,
		      const char *name, int depth);

static int is_tmp_name(const char *name)
{
	size_t n = strlen(name);

	return n >= 4 && !strcmp(name + n - 4, ".tmp");
}

static int scan_name(struct vrun *r, const char *name)
{
	struct hit_ctx h = { r, "name", 0 };

	r->names++;
	return acm_scan_buf(r->acm, name, strlen(name), verify_raw_hit, &h);
}

static int extra_entry(struct vrun *r, const char *vdir, const char *full,
		       const char *name, int depth)
{
	struct stat st;
	uint64_t diff;
	int fd, err;

	verify_begin_file(r, vdir, 1);
	err = scan_name(r, name);
	if (err)
		return err;
	if (lstat(full, &st))
		return verify_add_finding(r, vdir, 1, "-", "unreadable", 0);
	err = verify_add_finding(r, vdir, 1, "-",
			  is_tmp_name(name) ? "stray-tmp" : "extra", 0);
	if (err)
		return err;
	if (S_ISDIR(st.st_mode))
		return walk_extra(r, vdir, full, name, depth + 1);
	if (!S_ISREG(st.st_mode))
		return 0;
	fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return verify_add_finding(r, vdir, 1, "-", "unreadable", 0);
	r->extra_scanned++;
	err = verify_read_file(r, fd,
			(uint64_t)st.st_size < EXTRA_SCAN_MAX
				? (uint64_t)st.st_size : EXTRA_SCAN_MAX,
			EXTRA_SCAN_MAX, "content", NULL, NULL, 0, &diff);
	close(fd);
	return err;
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

static int walk_extra(struct vrun *r, const char *vdir, const char *full,
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
		return verify_add_finding(r, vdir, 1, "-", "unreadable", 0);
	}
	for (i = 0; i < n && !err; i++) {
		err = join(sub, sizeof(sub), full, names[i]);
		if (!err)
			err = extra_entry(r, vdir, sub, names[i], depth);
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

int verify_walk_view(struct vrun *r, const struct view_node *dir,
		     const char *vpath, const char *full, int depth)
{
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
		verify_begin_file(r, vpath, 0);
		return err == -ENOMEM || !seen ? -ENOMEM
			: verify_add_finding(r, vpath, 0, "-", "unreadable", 0);
	}
	for (i = 0; i < n && !err; i++) {
		const struct view_node *c = view_lookup(r->v, dir, names[i]);

		r->entries++;
		err = join(sub, sizeof(sub), full, names[i]);
		if (err)
			break;
		if (!c || !(c->kind == VIEW_CSV && r->csv_out ? 1
							       : expected(r, c))) {
			err = extra_entry(r, vpath, sub, names[i], depth);
			continue;
		}
		seen[child_index(r->v, dir, c)] = 1;
		err = join(vsub, sizeof(vsub), vpath, names[i]);
		if (!err) {
			verify_begin_file(r, vsub, 0);
			err = scan_name(r, names[i]);
		}
		if (err)
			break;
		if (lstat(sub, &st)) {
			err = verify_add_finding(r, vsub, 0, "-", "unreadable", 0);
		} else if (c->kind == VIEW_DIR) {
			err = S_ISDIR(st.st_mode)
				      ? verify_walk_view(r, c, vsub, sub, depth + 1)
				      : verify_add_finding(r, vsub, 0, "-",
						    "not-a-folder", 0);
		} else if (!S_ISREG(st.st_mode)) {
			err = verify_add_finding(r, vsub, 0, "-", "not-a-file", 0);
		} else {
			err = verify_check_file(r, c, vsub, sub);
		}
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
			err = verify_walk_view(r, c, vsub, sub, depth + 1);
			continue;
		}
		verify_begin_file(r, vsub, 0);
		err = verify_add_finding(r, vsub, 0, "-", "missing", 0);
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
int verify_check_csv_out(struct vrun *r)
{
	const struct view_node *root = view_root(r->v), *c;
	uint32_t i;

	for (i = 0; (c = view_child(r->v, root, i)); i++)
		if (c->kind == VIEW_CSV) {
			r->expected++;
			return verify_check_file(r, c, c->name, r->csv_out);
		}
	verify_begin_file(r, "-", 0);
	return verify_add_finding(r, "-", 0, "-", "no-csv-in-view", 0);
}
