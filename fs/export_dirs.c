/*
 * export_dirs.c - the folders of an export's destination
 * (export_write.h): made before the files, parents first, and given the
 * view's times after them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export_write.h"

static int included(const struct export_opts *o, const struct view_node *n)
{
	return o->with_quarantine || !n->quarantined;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The folders a shard's task needs: those above the files it writes (the
 * inos, sorted, into *out, *n).  The others are other tasks' to make, or
 * the last merge's (it makes every folder, empty ones included).
 */
static int needed_dirs(const struct view *vw, const struct view_node **files,
		       size_t nfiles, uint64_t **out, size_t *n)
{
	size_t f, k = 0, cap = 64;
	uint64_t *v = malloc(cap * sizeof(*v));

	*out = NULL;
	*n = 0;
	if (!v)
		return -ENOMEM;
	for (f = 0; f < nfiles; f++) {
		const struct view_node *d;

		if (f && files[f]->parent == files[f - 1]->parent)
			continue;
		/* up to the root, which is its own parent */
		for (d = view_lookup_ino(vw, files[f]->parent); d;
		     d = d->parent == d->ino ? NULL
					     : view_lookup_ino(vw, d->parent)) {
			if (k == cap) {
				uint64_t *q = realloc(v, 2 * cap * sizeof(*v));

				if (!q) {
					free(v);
					return -ENOMEM;
				}
				v = q;
				cap *= 2;
			}
			v[k++] = d->ino;
		}
	}
	qsort(v, k, sizeof(*v), cmp_u64);
	*out = v;
	*n = k;
	return 0;
}

int export_dirs_make(const struct view *v, const struct export_opts *o,
		     int dest_fd, const struct view_node **files, size_t nfiles,
		     int sharded)
{
	size_t i, nnodes = view_node_count(v), nneed = 0;
	uint64_t *need = NULL;
	int err = sharded ? needed_dirs(v, files, nfiles, &need, &nneed) : 0;

	for (i = 1; i < nnodes && !err; i++) {
		const struct view_node *n = view_node_at(v, i);
		char path[PATH_MAX];
		struct stat sb;

		if (n->kind != VIEW_DIR || !included(o, n))
			continue;
		if (sharded && !bsearch(&n->ino, need, nneed, sizeof(*need),
					cmp_u64))
			continue;
		if (view_path(v, n, path, sizeof(path)) < 0) {
			err = -ENAMETOOLONG;
			break;
		}
		if (mkdirat(dest_fd, path, 0755) && errno != EEXIST) {
			err = -errno;
			break;
		}
		if (fstatat(dest_fd, path, &sb, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISDIR(sb.st_mode))
			err = -ENOTDIR;
	}
	free(need);
	return err;
}

void export_dirs_times(const struct view *v, const struct export_opts *o,
		       int dest_fd)
{
	size_t i;

	for (i = view_node_count(v); i-- > 0;) {
		const struct view_node *n = view_node_at(v, i);
		char path[PATH_MAX];
		struct timespec ts[2];

		if (n->kind != VIEW_DIR || !included(o, n))
			continue;
		if (view_path(v, n, path, sizeof(path)) < 0)
			continue;
		ts[0].tv_sec = n->mtime_ns / 1000000000LL;
		ts[0].tv_nsec = n->mtime_ns % 1000000000LL;
		ts[1] = ts[0];
		utimensat(dest_fd, *path ? path : ".", ts,
			  AT_SYMLINK_NOFOLLOW);
	}
}

