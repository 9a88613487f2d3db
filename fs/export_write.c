/*
 * export_write.c - the export's writer (export_write.h): a built view
 * written to disk by a pool of threads, every byte through the view's map,
 * each file renamed into place once whole and marked; what an earlier run
 * left is resumed or removed.  It walks the view model and copies bytes;
 * it decides nothing about names or content.
 */
#include "export_write.h"
#include "log.h"
#include "shard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define TMP_PREFIX ".deidfs-"
#define TMP_SUFFIX ".tmp"
#define COPY_BUF (1u << 20)
/*
 * Every file and folder an export writes carries its mark (view.h) in this
 * extended attribute.  A re-run trusts a file under its final name only
 * when its mark says it is this version of this name, and removes what an
 * earlier run of this project wrote that the view no longer has.
 */
#define MARK_XATTR "user.deidfs.mark"

struct xpool {
	struct view_engine *e;
	const struct view *v;
	const struct export_opts *o;
	int dest_fd;
	const struct view_node **files;	/* folder by folder */
	size_t nfiles;
	struct xrun *runs;	/* the files of one folder each */
	size_t nruns;
	size_t next_run;	/* guarded by lock: first never claimed */
	size_t done;
	struct export_stats st;	/* guarded by lock */
	int stop;		/* guarded by lock: a destination error that
				 * every further file would meet (-errno) */
	int no_marks;		/* guarded by lock: the destination keeps no
				 * extended attributes (-errno) */
	pthread_mutex_t lock;	/* leaf lock */
};

/*
 * The files of one folder, [start, end) of xpool.files.  A worker keeps to
 * one folder while another is free: creating an entry locks its folder,
 * and two writers in one folder wait on each other (measured: a fifth of
 * the export's CPU time spinning on that lock, with 2 workers).
 */
struct xrun {
	size_t start, end;
	size_t next;		/* guarded by lock */
	unsigned busy;		/* guarded by lock: workers in it */
};

/*
 * Errors of the destination as a whole: once one is seen, every remaining
 * file would fail the same way, each after a full header build and a
 * partial write.  The run stops there and reports it once (export_write()
 * returns it); the files already renamed into place are complete, and a
 * re-run after the cause is fixed resumes from them.
 */
int export_dest_wide(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EROFS;
}

static int included(const struct export_opts *o, const struct view_node *n)
{
	return o->with_quarantine || !n->quarantined;
}

/* Whether this run writes the file n: all of them, or a shard's share
 * (export.h), or none when it finishes a sharded export. */
static int to_write(const struct export_opts *o, const struct view *v,
		    const struct view_node *n)
{
	if (o->finish)
		return 0;
	return !o->shard_n ||
	       view_node_shard(v, n, o->shard_n) == o->shard_i;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Copy len bytes at off of src into dst (at its current offset): in the
 * kernel where it can, through buf where it cannot. */
static int copy_range(int src, uint64_t off, uint64_t len, int dst,
		      char *buf);

/* Bytes [off, off + len) of the inflated dataset of a deflated source,
 * through buf: inflated a buffer at a time, never held whole. */
static int copy_inflated(struct view_file *vf, uint64_t off, uint64_t len,
			 int dst, char *buf)
{
	int err;

	while (len) {
		size_t n = len > COPY_BUF ? COPY_BUF : (size_t)len;

		err = view_file_inflate(vf, off, buf, n);
		if (!err)
			err = write_all(dst, buf, n);
		if (err)
			return err;
		off += n;
		len -= n;
	}
	return 0;
}

/* Write a view file's bytes to dst, as the mount serves them: through the
 * view's map (view_map_read()). */
static int write_map(struct view_file *vf, int dst, char *buf)
{
	struct view_span span[16];
	uint64_t off = 0;
	int err = 0;

	while (!err && off < view_file_size(vf)) {
		unsigned n = view_map_read(vf, off, view_file_size(vf) - off, span, 16);
		unsigned i;

		if (!n)
			return -EIO;	/* cannot happen: off < size */
		for (i = 0; !err && i < n; i++) {
			switch (span[i].kind) {
			case VIEW_SPAN_GEN:
				err = write_all(dst, span[i].mem,
						(size_t)span[i].len);
				break;
			case VIEW_SPAN_INFLATED:
				err = copy_inflated(vf, span[i].off,
						    span[i].len, dst, buf);
				break;
			default:
				err = copy_range(view_file_fd(vf), span[i].off,
						 span[i].len, dst, buf);
				break;
			}
			off += span[i].len;
		}
	}
	return err;
}

static int copy_range(int src, uint64_t off, uint64_t len, int dst,
		      char *buf)
{
	loff_t o = (loff_t)off;
	int use_cfr = 1, r;

	while (len) {
		ssize_t n;

		if (use_cfr) {
			n = copy_file_range(src, &o, dst, NULL,
					    len > (1u << 30) ? (1u << 30)
							     : (size_t)len,
					    0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL ||
				      errno == ENOSYS || errno == EOPNOTSUPP)) {
				use_cfr = 0;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return -ESTALE;	/* source shrank */
			len -= (uint64_t)n;
			continue;
		}
		n = pread(src, buf, len > COPY_BUF ? COPY_BUF : (size_t)len,
			  o);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ESTALE;	/* source shrank */
		r = write_all(dst, buf, (size_t)n);
		if (r)
			return r;
		o += n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Whether the entry name (relative to dirfd; a symbolic link is never
 * followed, and is never ours) carries exactly the mark want (len bytes;
 * an owner mark alone matches a full mark of the same owner).  Read
 * through a descriptor: no /proc needed. */
static int mark_is(int dirfd, const char *name, const char *want,
		   size_t len)
{
	char got[VIEW_MARK_LEN + 1];
	ssize_t n;
	int fd;

	fd = openat(dirfd, name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = fgetxattr(fd, MARK_XATTR, got, sizeof(got));
	close(fd);
	return n >= 0 && (size_t)n >= len && memcmp(got, want, len) == 0 &&
	       ((size_t)n == len || got[len] == '.');
}

/* Mark an open file or folder.  A destination that keeps no extended
 * attributes is noted (the run goes on: its files are complete, only a
 * re-run cannot trust or remove them); any other failure is an error. */
static int set_mark(struct xpool *p, int fd, const char *mark)
{
	int e;

	if (fsetxattr(fd, MARK_XATTR, mark, strlen(mark), 0) == 0)
		return 0;
	e = errno;
	if (e != ENOTSUP && e != EOPNOTSUPP && e != EPERM)
		return -e;
	pthread_mutex_lock(&p->lock);
	if (!p->no_marks)
		p->no_marks = -e;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* The bytes of n into fd, then its times and mark. */
static int write_body(struct xpool *p, const struct view_node *n,
		      struct view_file *vf, int fd, const char *mark,
		      char *buf, uint64_t *bytes)
{
	struct timespec ts[2];
	int err;

	if (vf) {
		err = write_map(vf, fd, buf);
		if (!err && view_file_changed(vf))
			err = -ESTALE;
		*bytes = view_file_size(vf);
	} else {
		size_t tlen;
		const char *text = view_text(p->v, n, &tlen);

		err = write_all(fd, text, tlen);
		*bytes = tlen;
	}
	if (err)
		return err;
	ts[0].tv_sec = n->mtime_ns / 1000000000LL;
	ts[0].tv_nsec = n->mtime_ns % 1000000000LL;
	ts[1] = ts[0];
	if (futimens(fd, ts))
		return -errno;
	return set_mark(p, fd, mark);
}

/*
 * The header was generated from the source as view_file_open() found it;
 * pixel bytes copied while the source was being rewritten in place would
 * make a file that never existed.  A write during the copy changes the
 * size, mtime or ctime (ctime even when the writer restores the mtime), so
 * checking once after the copy is enough.  Limit: a rewrite within the
 * filesystem's timestamp granularity of the indexed version, keeping the
 * size, is not seen here (view_file_open() has the same limit).
 */
static int write_node(struct xpool *p, const struct view_node *n, char *buf,
		      uint64_t *bytes)
{
	char path[PATH_MAX], tmp[PATH_MAX + 64], *slash;
	char mark[VIEW_MARK_LEN + 1];
	struct view_file *vf = NULL;
	struct stat st;
	int fd = -1, err, len, there;

	len = view_path(p->v, n, path, sizeof(path));
	if (len < 0)
		return len;
	err = view_node_mark(p->e, p->v, n, mark, sizeof(mark));
	if (err)
		return err;
	/* Resume: a file under its final name is complete (it was renamed
	 * there whole); its mark says whether it is this version of this
	 * name.  Size and mtime alone cannot: a new version of the same
	 * size may be dated the same second, and names move to other files
	 * when studies are added. */
	there = fstatat(p->dest_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		S_ISREG(st.st_mode);
	if (there && (uint64_t)st.st_size == n->size &&
	    (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec ==
		    n->mtime_ns &&
	    mark_is(p->dest_fd, path, mark, strlen(mark)))
		return 1;
	slash = strrchr(path, '/');
	snprintf(tmp, sizeof(tmp), "%.*s%s" TMP_PREFIX "%" PRIu64 TMP_SUFFIX,
		 slash ? (int)(slash - path) : 0, path, slash ? "/" : "",
		 n->ino);
	if (n->kind == VIEW_DICOM) {
		err = view_file_open(p->e, p->v, n, &vf);
		if (err)
			return err;
	}
	fd = openat(p->dest_fd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0644);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = write_body(p, n, vf, fd, mark, buf, bytes);
	if (err)
		goto out;
	err = close(fd) ? -errno : 0;	/* NFS reports ENOSPC here */
	fd = -1;
	if (err)
		goto out;
	if (renameat(p->dest_fd, tmp, p->dest_fd, path))
		err = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (err) {
		unlinkat(p->dest_fd, tmp, 0);
		/* What an earlier run of ours left under this name is not
		 * this version (the view's file may even be another one):
		 * no name may keep stale bytes because this write failed. */
		if (there && mark_is(p->dest_fd, path, mark, VIEW_OWNER_LEN))
			unlinkat(p->dest_fd, path, 0);
	}
	view_file_free(vf);
	return err;
}

/*
 * The next file for a worker in run *cur (SIZE_MAX: none yet), under
 * p->lock: from its own folder while that has files, else from a folder
 * no worker is in, else (the last folders) from the one with the most
 * left, shared.  NULL when every file is claimed.
 */
static const struct view_node *claim(struct xpool *p, size_t *cur)
{
	struct xrun *r = *cur < p->nruns ? &p->runs[*cur] : NULL;
	size_t i, best = SIZE_MAX, left = 0;

	if (r && r->next < r->end)
		return p->files[r->next++];
	if (r)
		r->busy--;
	while (p->next_run < p->nruns &&
	       p->runs[p->next_run].next >= p->runs[p->next_run].end)
		p->next_run++;
	for (i = p->next_run; i < p->nruns; i++) {
		size_t l = p->runs[i].end - p->runs[i].next;

		if (!l)
			continue;
		if (!p->runs[i].busy) {
			best = i;
			break;
		}
		if (l > left) {
			left = l;
			best = i;
		}
	}
	*cur = best;
	if (best == SIZE_MAX)
		return NULL;
	r = &p->runs[best];
	r->busy++;
	return p->files[r->next++];
}

static void *xworker(void *arg)
{
	struct xpool *p = arg;
	char *buf = malloc(COPY_BUF);	/* reused for every file */
	size_t cur = SIZE_MAX;

	for (;;) {
		const struct view_node *n;
		uint64_t bytes = 0;
		int r;

		pthread_mutex_lock(&p->lock);
		n = p->stop ? NULL : claim(p, &cur);
		pthread_mutex_unlock(&p->lock);
		if (!n)
			break;

		r = buf ? write_node(p, n, buf, &bytes) : -ENOMEM;
		pthread_mutex_lock(&p->lock);
		if ((r == 0 || r == 1) && p->o->wrote)
			p->o->wrote(p->o->wrote_arg, n, r);
		if (r == 1) {
			p->st.kept++;
		} else if (r == 0) {
			p->st.written++;
			p->st.bytes_written += bytes;
		} else if (export_dest_wide(r)) {
			/* reported once, by the caller */
			p->st.failed++;
			if (!p->stop)
				p->stop = r;
		} else {
			p->st.failed++;
			/* inode numbers only: names may be all a reader
			 * needs to find the file, but carry no PHI; the
			 * source path does */
			if (r == -ESTALE)
				log_warning("export: file %" PRIu64
					": the source file changed during "
					"the export: not written (run again "
					"to export its new version)",
					n->ino);
			else
				log_warning("export: file %" PRIu64
					": %s",
					n->ino, strerror(-r));
		}
		p->done++;
		if (p->o->progress)
			p->o->progress(p->o->progress_arg, "export", p->done,
				       p->nfiles);
		pthread_mutex_unlock(&p->lock);
	}
	if (buf)	/* it held source and inflated pixel bytes */
		explicit_bzero(buf, COPY_BUF);
	free(buf);
	return NULL;
}

/* A directory stream over dirfd from its first entry, leaving dirfd
 * itself open and at its offset; NULL on error. */
static DIR *open_dir_of(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return NULL;
	}
	rewinddir(d);	/* the dup shares dirfd's offset */
	return d;
}

/* Remove temporary files a killed run left behind. */
static void sweep_tmp(int dirfd, unsigned depth)
{
	DIR *d;
	struct dirent *de;

	if (depth > 64 || !(d = open_dir_of(dirfd)))
		return;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub >= 0) {
				sweep_tmp(sub, depth + 1);
				close(sub);
			}
			continue;
		}
		if (l > strlen(TMP_PREFIX) + strlen(TMP_SUFFIX) &&
		    !strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) &&
		    !strcmp(de->d_name + l - strlen(TMP_SUFFIX), TMP_SUFFIX))
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
}

/* Whether the entry name in dirfd, at path in the destination, was put
 * there by an export of this project (its owner mark for this very path,
 * under this project's key). */
static int ours(struct xpool *p, int dirfd, const char *name,
		const char *path)
{
	char mark[VIEW_MARK_LEN + 1];

	return view_owner_mark(p->e, path, mark, sizeof(mark)) == 0 &&
	       mark_is(dirfd, name, mark, strlen(mark));
}

/*
 * Make the destination hold what the view holds: remove the files an
 * earlier export of this project wrote that the view no longer has (their
 * source was removed or quarantined, their name moved, .quarantine/ is not
 * asked for), and a folder the view does not have once that leaves it
 * empty.  A file without this project's owner mark for its path, and a
 * folder that held none of ours, are never touched.  dir is the view's
 * folder at rel, or NULL where the view has none.  Every step is relative
 * to the folder's own descriptor, opened without following links.
 * Returns how many entries it removed.
 */
static uint64_t sweep_stale(struct xpool *p, int dirfd,
			    const struct view_node *dir, const char *rel,
			    unsigned depth)
{
	uint64_t removed = 0;
	DIR *d;
	struct dirent *de;

	if (depth > 64 || !(d = open_dir_of(dirfd)))
		return 0;
	while ((de = readdir(d))) {
		const struct view_node *n = NULL;
		char path[PATH_MAX];
		unsigned char type = de->d_type;
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", rel,
			     *rel ? "/" : "", de->d_name) >= (int)sizeof(path))
			continue;
		if (dir)
			n = view_lookup(p->v, dir, de->d_name);
		if (n && !included(p->o, n))
			n = NULL;
		if (type == DT_UNKNOWN) {
			if (fstatat(dirfd, de->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW))
				continue;
			type = S_ISDIR(sb.st_mode) ? DT_DIR :
			       S_ISREG(sb.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (type == DT_DIR) {
			int sub = openat(dirfd, de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			uint64_t below;

			if (sub < 0)
				continue;
			below = sweep_stale(p, sub,
					    n && n->kind == VIEW_DIR ? n
								     : NULL,
					    path, depth + 1);
			close(sub);
			removed += below;
			/* empty now, and only because we removed ours */
			if ((!n || n->kind != VIEW_DIR) && below &&
			    unlinkat(dirfd, de->d_name, AT_REMOVEDIR) == 0) {
				p->st.removed++;
				removed++;
			}
		} else if (type == DT_REG && (!n || n->kind == VIEW_DIR) &&
			   ours(p, dirfd, de->d_name, path) &&
			   unlinkat(dirfd, de->d_name, 0) == 0) {
			p->st.removed++;
			removed++;
		}
	}
	closedir(d);
	return removed;
}

/* Whether the directory at fd holds anything (an error counts as yes). */
static int has_entries(int fd)
{
	struct dirent *de;
	DIR *d = open_dir_of(fd);
	int any = 0;

	if (!d)
		return 1;
	while (!any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return any;
}

/* One export at a time into a destination: another one's sweep would
 * remove our temporary files and its renames race ours.  The second waits
 * (a file system without locks: we go on). */
static void lock_dest(int dest_fd)
{
	if (!flock(dest_fd, LOCK_EX | LOCK_NB))
		return;
	if (errno == EWOULDBLOCK) {
		log_info("export: another export is writing into the "
			 "destination; waiting for it");
		while (flock(dest_fd, LOCK_EX) && errno == EINTR)
			;
	} else {
		log_warning("export: warning: cannot lock the destination "
			    "(%s): do not run two exports into it at once",
			    strerror(errno));
	}
}

static int cmp_parent(const void *a, const void *b)
{
	const struct view_node *x = *(const struct view_node *const *)a;
	const struct view_node *y = *(const struct view_node *const *)b;

	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* p->files grouped by folder, and p->runs over them. */
static int make_runs(struct xpool *p)
{
	size_t i;

	qsort(p->files, p->nfiles, sizeof(*p->files), cmp_parent);
	p->runs = calloc(p->nfiles + 1, sizeof(*p->runs));
	if (!p->runs)
		return -ENOMEM;
	for (i = 0; i < p->nfiles; i++) {
		if (!i || p->files[i]->parent != p->files[i - 1]->parent) {
			p->runs[p->nruns].start = i;
			p->runs[p->nruns].next = i;
			p->nruns++;
		}
		p->runs[p->nruns - 1].end = i + 1;
	}
	return 0;
}

/* The files, by o->jobs workers (or this thread, if none starts). */
static int run_workers(struct xpool *p)
{
	unsigned jobs = p->o->jobs ? p->o->jobs : 1, nth = 0, t;
	pthread_t *th = calloc(jobs, sizeof(*th));

	if (!th)
		return -ENOMEM;
	for (t = 0; t < jobs; t++)
		if (pthread_create(&th[nth], NULL, xworker, p) == 0)
			nth++;
	if (!nth)
		xworker(p);
	for (t = 0; t < nth; t++)
		pthread_join(th[t], NULL);
	free(th);
	return 0;
}

int export_write(struct view_engine *e, const struct view *v,
		 const struct export_opts *o, struct export_stats *st)
{
	struct xpool p;
	size_t i, nnodes = view_node_count(v);
	int err = 0, fresh, sharded;

	memset(&p, 0, sizeof(p));
	memset(st, 0, sizeof(*st));
	p.e = e;
	p.v = v;
	p.o = o;
	if (mkdir(o->dest, 0755) && errno != EEXIST)
		return -errno;
	p.dest_fd = open(o->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.dest_fd < 0)
		return -errno;
	/* a shard's task writes its own files beside the others' */
	sharded = o->shard_n && !o->finish;
	if (!sharded)
		lock_dest(p.dest_fd);
	pthread_mutex_init(&p.lock, NULL);
	/* nothing to resume or sweep (a shard's task sweeps nothing) */
	fresh = sharded || !has_entries(p.dest_fd);
	if (!fresh)
		sweep_tmp(p.dest_fd, 0);

	p.files = calloc(nnodes + 1, sizeof(*p.files));
	if (!p.files) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 1; i < nnodes; i++) {
		const struct view_node *n = view_node_at(v, i);

		if (n->kind != VIEW_DIR && included(o, n) &&
		    to_write(o, v, n)) {
			p.files[p.nfiles++] = n;
			p.st.bytes_total += n->size;
		}
	}
	err = make_runs(&p);
	if (!err)
		err = export_dirs_make(v, o, p.dest_fd, p.files, p.nfiles,
				       sharded);
	if (err)
		goto out;
	/* Stale files go first: they are not in the view, so nothing of
	 * this run is at stake, and their space is free for it. */
	if (!fresh)
		(void)sweep_stale(&p, p.dest_fd, view_root(v), "", 0);
	err = run_workers(&p);
	if (!err && p.stop)
		err = p.stop;
	if (!err && !sharded)
		export_dirs_times(v, o, p.dest_fd);
out:
	p.st.total = p.nfiles;
	p.st.no_marks = p.no_marks;
	*st = p.st;
	free(p.runs);
	free(p.files);
	close(p.dest_fd);
	pthread_mutex_destroy(&p.lock);
	return err;
}
