/*
 * mount.c - `deidfs mount`: the view served as a read-only FUSE filesystem
 * (libfuse3 low-level API).  A front end: every name, size, mtime and byte
 * comes from the view model, so the mount shows exactly what `export`
 * writes; this file only translates between the kernel and the view.
 *
 * Views are immutable.  The mount holds the current one behind a small
 * mutex; open files, open directories and in-flight operations each hold a
 * reference, so a rebuild can swap in a new view while old readers finish
 * against the old one.  The read path takes no lock at all.
 */
#define FUSE_USE_VERSION 312

#include "mount.h"
#include "log.h"
#include "mtloop.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The view only changes through a rebuild, which tells the kernel what
 * changed; until then cached entries and attributes stay right. */
#define CACHE_TIMEOUT 3600.0
#define BLKSIZE (128 * 1024)
/* Largest reply we build for a readdir (the kernel asks for a page). */
#define READDIR_MAX (1u << 20)

/* A built view and what the mount needs to know about how it was built. */
struct mview {
	struct view *v;			/* owned; freed with the last ref */
	unsigned long refs;		/* guarded by mount->lock */
	uint64_t gen;			/* mount->gen when it was current */
	int csv_known;			/* csv_st is the registry CSV's stat */
	struct stat csv_st;		/* taken before the build read it */
	uint64_t bytes;			/* statfs: sum of file sizes */
	uint64_t nodes;
};

/*
 * An open file or directory, linked into mount->handles so that handles
 * the kernel never released (a signal ended the session first) are freed
 * at exit rather than leaked.
 */
struct handle {
	struct handle *prev, *next;	/* guarded by mount->lock */
	int is_dir;
};

struct mount {
	struct view_engine *e;		/* borrowed; store locks itself */
	struct fuse_session *se;
	uid_t uid;
	gid_t gid;
	/*
	 * Lock order: rebuild_lock before lock, never after.  rebuild_lock
	 * serialises refresh + build + swap + kernel notification (long);
	 * lock is a leaf held only for a few instructions (cur, gen, refs).
	 * Neither is held across fuse_reply_*().
	 */
	pthread_mutex_t rebuild_lock;
	pthread_mutex_t lock;
	struct mview *cur;		/* holds one reference */
	struct handle handles;		/* open handles (sentinel), under lock */
	uint64_t gen;			/* bumped by every swap */
	int quiet;
};

/*
 * An open file: fi->fh.  Immutable after open, so reads need no lock.
 *
 * refs counts the open handle plus each read or getattr in progress; the
 * last mfile_put() frees.  The kernel sends RELEASE only once it has the
 * replies to every read of the handle, but it takes a reply inside our
 * writev(), so the release may run (and free the header a reply points
 * to) before the replying thread has returned: harmless for the kernel,
 * a use after free for the sanitizers, which cannot see its ordering
 * (ASan checks writev's buffers after the call; TSan saw no
 * happens-before).  op_open publishes refs with a release store after
 * every other field, and mfile_get() acquires it, so the fields are also
 * ordered for any thread that uses them.  Atomic, no lock.
 */
struct mfile {
	struct handle h;		/* first member */
	atomic_uint refs;
	struct mview *mv;		/* reference: keeps n and text alive */
	const struct view_node *n;	/* borrowed from mv->v */
	struct view_file *vf;		/* VIEW_DICOM, else NULL */
};

/* An open directory: fi->fh.  Listing one view keeps offsets stable. */
struct mdir {
	struct handle h;		/* first member */
	struct mview *mv;		/* reference */
	const struct view_node *dir;	/* borrowed from mv->v */
};

/* ------------------------------------------------------------ views */

static void mview_free(struct mview *mv)
{
	if (!mv)
		return;
	view_free(mv->v);
	free(mv);
}

/* Wrap a built view (takes ownership of v, also on error). */
static int mview_new(struct view *v, const struct stat *csv_st,
		     struct mview **out)
{
	struct mview *mv = calloc(1, sizeof(*mv));
	size_t i, n;

	*out = NULL;
	if (!mv) {
		view_free(v);
		return -ENOMEM;
	}
	mv->v = v;
	mv->refs = 1;
	if (csv_st) {
		mv->csv_known = 1;
		mv->csv_st = *csv_st;
	}
	n = view_node_count(v);
	mv->nodes = n;
	for (i = 0; i < n; i++) {
		const struct view_node *nd = view_node_at(v, i);

		if (nd->kind != VIEW_DIR)
			mv->bytes += nd->size;
	}
	*out = mv;
	return 0;
}

/* A reference to the current view.  Never NULL while mounted. */
static struct mview *view_get(struct mount *m)
{
	struct mview *mv;

	pthread_mutex_lock(&m->lock);
	mv = m->cur;
	mv->refs++;
	pthread_mutex_unlock(&m->lock);
	return mv;
}

static void view_put(struct mount *m, struct mview *mv)
{
	unsigned long left;

	if (!mv)
		return;
	pthread_mutex_lock(&m->lock);
	left = --mv->refs;
	pthread_mutex_unlock(&m->lock);
	if (!left)
		mview_free(mv);
}

/* fi->fh of an open file, with a reference (see struct mfile). */
static struct mfile *mfile_get(const struct fuse_file_info *fi)
{
	struct mfile *f = (struct mfile *)(uintptr_t)fi->fh;

	atomic_fetch_add_explicit(&f->refs, 1, memory_order_acquire);
	return f;
}

static void handle_add(struct mount *m, struct handle *h, int is_dir)
{
	h->is_dir = is_dir;
	pthread_mutex_lock(&m->lock);
	h->next = m->handles.next;
	h->prev = &m->handles;
	h->next->prev = h;
	m->handles.next = h;
	pthread_mutex_unlock(&m->lock);
}

static void handle_del(struct mount *m, struct handle *h)
{
	pthread_mutex_lock(&m->lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&m->lock);
}

static void mfile_put(struct mount *m, struct mfile *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	handle_del(m, &f->h);
	view_file_free(f->vf);
	view_put(m, f->mv);
	free(f);
}

static struct mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ------------------------------------------------------- attributes */

static void ts_from_ns(struct timespec *ts, int64_t ns)
{
	if (ns < 0)
		ns = 0;
	ts->tv_sec = (time_t)(ns / 1000000000LL);
	ts->tv_nsec = (long)(ns % 1000000000LL);
}

static void fill_attr(const struct mount *m, const struct view *v,
		      const struct view_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)n->ino;
	st->st_uid = m->uid;
	st->st_gid = m->gid;
	st->st_blksize = BLKSIZE;
	ts_from_ns(&st->st_mtim, n->mtime_ns);
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
	if (n->kind == VIEW_DIR) {
		const struct view_node *c;
		uint32_t i;
		nlink_t nl = 2;

		/* listed subdirectories only, as in a plain export */
		for (i = 0; (c = view_child(v, n, i)); i++)
			if (c->kind == VIEW_DIR && !c->hidden)
				nl++;
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = nl;
		st->st_size = 4096;
		st->st_blocks = 8;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	}
}

static void fill_entry(const struct mount *m, const struct view *v,
		       const struct view_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = CACHE_TIMEOUT;
	e->entry_timeout = CACHE_TIMEOUT;
	fill_attr(m, v, n, &e->attr);
}

/* -------------------------------------------------------- rebuilding */

static int csv_stat(struct view_engine *e, struct stat *st)
{
	const char *p = view_engine_config(e)->csv_path;

	if (!p)
		return 0;
	if (stat(p, st))
		return -errno;
	return 1;
}

/* Refresh the index and build a view.  Returns 0 or -errno; err says why
 * (never PHI: the view's messages carry none). */
static int build(struct view_engine *e, int refresh, struct view_stats *vs,
		 view_progress_fn progress, void *parg, struct mview **out,
		 char *err, size_t errsz)
{
	struct view *v = NULL;
	struct stat cst;
	int ret, have_csv;

	*out = NULL;
	if (refresh) {
		ret = view_refresh(e, vs, progress, parg);
		if (ret == -ELOOP && vs->inside) {
			snprintf(err, errsz, "%s",
				 view_place_error(vs->inside, 1));
			return ret;
		}
		if (ret == -EBUSY) {
			snprintf(err, errsz, "--db: %s", view_db_error(ret));
			return ret;
		}
		if (ret) {
			snprintf(err, errsz,
				 "cannot index the source tree (%s)",
				 strerror(-ret));
			return ret;
		}
	}
	/* Stat before the build reads it: a change made during the build
	 * is then seen as a change at the next open. */
	have_csv = csv_stat(e, &cst);
	if (have_csv < 0) {
		snprintf(err, errsz, "cannot read the registry CSV (%s)",
			 strerror(-have_csv));
		return have_csv;
	}
	ret = view_build(e, vs, &v, err, errsz);
	if (ret)
		return ret;
	return mview_new(v, have_csv ? &cst : NULL, out);
}

static int csv_changed(struct mount *m, const struct mview *mv)
{
	struct stat st;
	int r = csv_stat(m->e, &st);

	if (r < 0)
		return 1;	/* gone: the rebuild will say so */
	if (!r || !mv->csv_known)
		return r != mv->csv_known;
	return !view_stat_same(&st, &mv->csv_st);
}

static int same_entry(const struct view_node *a, const struct view_node *b)
{
	return a->parent == b->parent && a->kind == b->kind &&
	       a->hidden == b->hidden && strcmp(a->name, b->name) == 0;
}

static uint32_t listed_subdirs(const struct view *v,
			       const struct view_node *n)
{
	const struct view_node *c;
	uint32_t i, k = 0;

	for (i = 0; (c = view_child(v, n, i)); i++)
		if (c->kind == VIEW_DIR && !c->hidden)
			k++;
	return k;
}

/*
 * Tell the kernel what differs between two views: entries that are gone
 * or moved lose their dentry; inodes whose size, mtime or link count
 * changed lose their attributes and cached pages.  New entries need
 * nothing: we never let the kernel cache a negative lookup.  Called with
 * rebuild_lock only (the kernel may wait for reads we have yet to serve,
 * which take no lock).
 */
static void notify_changes(struct mount *m, const struct view *ov,
			   const struct view *nv)
{
	size_t i, n = view_node_count(ov);

	for (i = 0; i < n; i++) {
		const struct view_node *o = view_node_at(ov, i);
		const struct view_node *x = view_lookup_ino(nv, o->ino);

		if (o->ino != VIEW_INO_ROOT && (!x || !same_entry(o, x)))
			fuse_lowlevel_notify_inval_entry(m->se, o->parent,
							 o->name,
							 strlen(o->name));
		if (!x)
			continue;
		if (x->size != o->size || x->mtime_ns != o->mtime_ns ||
		    x->kind != o->kind ||
		    (o->kind == VIEW_DIR &&
		     (x->nchildren != o->nchildren ||
		      listed_subdirs(ov, o) != listed_subdirs(nv, x))))
			fuse_lowlevel_notify_inval_inode(m->se, o->ino, 0, 0);
	}
}

/*
 * Bring the view up to date after an open found it stale.  seen is the
 * generation the caller worked with: if another thread has swapped since,
 * its view is already newer and nothing is done.  Returns 0 or -errno
 * (the old view stays in service on failure).
 */
static int rebuild(struct mount *m, uint64_t seen)
{
	struct view_stats vs;
	struct mview *nmv = NULL, *old;
	char err[512] = "";
	uint64_t gen;
	int ret;

	pthread_mutex_lock(&m->rebuild_lock);
	pthread_mutex_lock(&m->lock);
	gen = m->gen;
	pthread_mutex_unlock(&m->lock);
	if (gen != seen) {
		ret = 0;
		goto out;
	}
	memset(&vs, 0, sizeof(vs));
	ret = build(m->e, 1, &vs, NULL, NULL, &nmv, err, sizeof(err));
	if (ret) {
		/* view messages carry no PHI (view.h) */
		if (!m->quiet)
			log_error("rebuild failed: %s",
				err[0] ? err : strerror(-ret));
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	old = m->cur;		/* its reference passes to us */
	nmv->gen = ++m->gen;
	m->cur = nmv;
	pthread_mutex_unlock(&m->lock);
	notify_changes(m, old->v, nmv->v);
	view_put(m, old);
out:
	pthread_mutex_unlock(&m->rebuild_lock);
	return ret;
}

/* ------------------------------------------------------- operations */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Pixel data goes from the source fd to the kernel by splice. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* We invalidate explicitly on a rebuild; mtimes alone (auto inval)
	 * would also drop pages on every attribute refresh. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Bigger requests: libfuse derives max_pages from max_write, and
	 * the kernel sizes reads by max_pages. */
	conn->max_write = 1u << 20;
	conn->max_readahead = UINT32_MAX;	/* the kernel clamps it */
	conn->time_gran = 1;
}

static void op_destroy(void *userdata)
{
	(void)userdata;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mount *m = mnt(req);
	struct mview *mv = view_get(m);
	const struct view_node *dir, *n = NULL;
	struct fuse_entry_param e;

	dir = view_lookup_ino(mv->v, parent);
	if (dir)
		n = view_lookup(mv->v, dir, name);	/* hidden ones too */
	if (n)
		fill_entry(m, mv->v, n, &e);
	view_put(m, mv);
	if (!n) {
		fuse_reply_err(req, dir ? ENOENT : ESTALE);
		return;
	}
	fuse_reply_entry(req, &e);
}

/* Inode numbers are stable view numbers, not objects: nothing to drop. */
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct mount *m = mnt(req);
	struct mview *mv = view_get(m);
	const struct view_node *n = view_lookup_ino(mv->v, ino);
	struct stat st;

	if (n) {
		fill_attr(m, mv->v, n, &st);
	} else if (fi && fi->fh) {
		/* fstat of a file opened before a rebuild removed it */
		struct mfile *f = mfile_get(fi);

		n = f->n;
		fill_attr(m, f->mv->v, n, &st);
		mfile_put(m, f);
	}
	view_put(m, mv);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_reply_attr(req, &st, CACHE_TIMEOUT);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount *m = mnt(req);
	struct mview *mv = NULL;
	const struct view_node *n;
	struct view_file *vf = NULL;
	struct mfile *f = NULL;
	int err = 0, retried = 0;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
again:
	mv = view_get(m);
	n = view_lookup_ino(mv->v, ino);
	if (!n) {
		/* the kernel walks the path again on ESTALE */
		err = -ESTALE;
		goto fail;
	}
	switch (n->kind) {
	case VIEW_DIR:
		err = -EISDIR;
		goto fail;
	case VIEW_CSV:
		if (!retried && csv_changed(m, mv))
			goto stale;
		break;
	case VIEW_REASONS:
		break;
	case VIEW_DICOM:
		mtloop_yield();	/* parses the source header */
		err = view_file_open(m->e, mv->v, n, &vf);
		if (err == -ESTALE && !retried)
			goto stale;
		if (err)
			goto fail;
		/* vf remembers the version its header came from: reads
		 * refuse any other (view_file_changed()). */
		break;
	default:
		err = -EIO;
		goto fail;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		err = -ENOMEM;
		goto fail;
	}
	f->mv = mv;
	f->n = n;
	f->vf = vf;
	handle_add(m, &f->h, 0);
	/* last: publishes the fields above to mfile_get() */
	atomic_store_explicit(&f->refs, 1, memory_order_release);
	fi->fh = (uint64_t)(uintptr_t)f;
	/* Content is a pure function of the inode until a rebuild, which
	 * invalidates what changed.  After a rebuild this open drops the
	 * pages itself, in case the kernel still holds old ones. */
	fi->keep_cache = !retried;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* the open was interrupted: no release will come */
		handle_del(m, &f->h);
		view_file_free(vf);
		view_put(m, mv);
		free(f);
	}
	return;
stale:
	{
		uint64_t gen = mv->gen;

		view_put(m, mv);
		mv = NULL;
		mtloop_yield();	/* may wait for reads to be answered */
		err = rebuild(m, gen);
		if (err) {
			log_warning("inode %" PRIu64
					": source changed, rebuild failed",
				(uint64_t)ino);
			err = -EIO;
			goto fail;
		}
		retried = 1;
		goto again;
	}
fail:
	view_file_free(vf);
	view_put(m, mv);
	if (err == -ESTALE && retried && n)
		err = -EIO;	/* still changing after a rebuild */
	if (err == -EBADMSG || err == -EINVAL)
		err = -EIO;	/* fail closed: never an original header */
	fuse_reply_err(req, -err);
}

/* The second buf of a two-buf vector is the member right after the
 * vector's own one-element array. */
struct bufvec2 {
	struct fuse_bufvec bv;
	struct fuse_buf extra;
};
_Static_assert(offsetof(struct bufvec2, extra) ==
		       offsetof(struct bufvec2, bv) +
			       offsetof(struct fuse_bufvec, buf) +
			       sizeof(struct fuse_buf),
	       "fuse_bufvec layout");

/* inflated: the bytes of a VIEW_SPAN_INFLATED span, already read */
static void set_buf(struct fuse_buf *fb, const struct view_file *vf,
		    const struct view_span *sp)
{
	memset(fb, 0, sizeof(*fb));
	fb->size = (size_t)sp->len;
	if (sp->kind == VIEW_SPAN_GEN) {
		fb->mem = (void *)sp->mem;	/* lives until release() */
		fb->fd = -1;
	} else {
		fb->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		fb->fd = vf->src_fd;
		fb->pos = (off_t)sp->off;	/* original pixel offset */
	}
}

/*
 * Whether the source bytes of a span are in the page cache, judged by its
 * last byte (reads are sequential as a rule: readahead fills the range in
 * order).  A hint for the session loop only: a wrong guess costs a wait or
 * a thread switch, never wrong bytes.
 */
static int source_cached(const struct view_file *vf,
			 const struct view_span *sp)
{
	char c;
	struct iovec iov = { &c, 1 };

	if (sp->kind == VIEW_SPAN_GEN || !sp->len)
		return 1;
	if (sp->kind == VIEW_SPAN_INFLATED)
		return 0;	/* inflating takes a while, and reads */
	return preadv2(vf->src_fd, &iov, 1, (off_t)(sp->off + sp->len - 1),
		       RWF_NOWAIT) == 1;
}

/* A read over more than two pieces of the map (pixel data with blanked
 * segments): the bytes are gathered into one buffer. */
static void reply_pieces(fuse_req_t req, const struct mfile *f,
			 uint64_t off, size_t size)
{
	struct view_file *vf = f->vf;
	struct view_span span[16];
	uint8_t *buf;
	size_t got = 0;
	int err = 0;

	if (size > vf->size - off)
		size = (size_t)(vf->size - off);
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	while (!err && got < size) {
		unsigned n = view_map_read(vf, off + got, size - got, span, 16);
		unsigned i;

		if (!n)
			break;
		for (i = 0; !err && i < n; i++) {
			ssize_t r;

			switch (span[i].kind) {
			case VIEW_SPAN_GEN:
				memcpy(buf + got, span[i].mem, span[i].len);
				break;
			case VIEW_SPAN_INFLATED:
				err = -view_file_inflate(vf, span[i].off,
							 buf + got,
							 (size_t)span[i].len);
				if (err)
					log_warning("inode %" PRIu64
						    ": cannot inflate the "
						    "source: %s",
						    f->n->ino, strerror(err));
				break;
			default:
				r = pread(vf->src_fd, buf + got, span[i].len,
					  (off_t)span[i].off);
				if (r != (ssize_t)span[i].len)
					err = r < 0 ? errno : EIO;
				break;
			}
			got += span[i].len;
		}
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, (const char *)buf, got);
	explicit_bzero(buf, got);	/* inflated pixels: wiped like headers */
	free(buf);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct mount *m = mnt(req);
	struct mfile *f = mfile_get(fi);	/* until our reply is sent */
	struct view_span span[2];
	struct bufvec2 b;	/* on the stack: no allocation per read */
	unsigned n;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		goto out;
	}
	if (!f->vf) {
		size_t len;
		const char *text = view_text(f->mv->v, f->n, &len);

		if (!text || (uint64_t)off >= len) {
			fuse_reply_buf(req, NULL, 0);
			goto out;
		}
		if (size > len - (size_t)off)
			size = len - (size_t)off;
		fuse_reply_buf(req, text + off, size);
		goto out;
	}
	n = view_map_read(f->vf, (uint64_t)off, size, span, 2);
	if (n && !source_cached(f->vf, &span[n - 1]))
		mtloop_yield();	/* the splice will wait for the disk */
	/*
	 * The map was made from the version we opened; pixel bytes of
	 * another version would make a file that never existed.  (A write
	 * landing between this check and the splice below is not caught:
	 * the window is one syscall wide.)
	 */
	if (view_file_changed(f->vf)) {
		log_warning("inode %" PRIu64
				": source changed while open: EIO",
			f->n->ino);
		fuse_reply_err(req, EIO);
		goto out;
	}
	if (!n) {
		fuse_reply_buf(req, NULL, 0);
		goto out;
	}
	if ((n == 2 && view_map_spans(f->vf, (uint64_t)off, size) > 2) ||
	    span[0].kind == VIEW_SPAN_INFLATED ||
	    span[n - 1].kind == VIEW_SPAN_INFLATED) {
		/* blanked segments, or inflated pixel data: gathered */
		reply_pieces(req, f, (uint64_t)off, size);
		goto out;
	}
	b.bv = FUSE_BUFVEC_INIT(0);
	b.bv.count = n;
	/* Name the second buf by its own member: indexing bv.buf[1] would
	 * be out of bounds, and the compiler may drop such stores. */
	set_buf(&b.bv.buf[0], f->vf, &span[0]);
	if (n == 2)
		set_buf(&b.extra, f->vf, &span[1]);
	fuse_reply_data(req, &b.bv, FUSE_BUF_SPLICE_MOVE);
out:
	mfile_put(m, f);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	if (fi->fh)	/* the handle's reference (acq_rel: see mfile) */
		mfile_put(mnt(req), (struct mfile *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct mount *m = mnt(req);
	struct mview *mv = view_get(m);
	const struct view_node *n = view_lookup_ino(mv->v, ino);
	struct mdir *d;
	int err;

	if (!n || n->kind != VIEW_DIR) {
		err = n ? ENOTDIR : ENOENT;
		goto fail;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		err = ENOMEM;
		goto fail;
	}
	d->mv = mv;
	d->dir = n;
	handle_add(m, &d->h, 1);
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		handle_del(m, &d->h);
		view_put(m, mv);
		free(d);
	}
	return;
fail:
	view_put(m, mv);
	fuse_reply_err(req, err);
}

/*
 * Offsets: 0 ".", 1 "..", then 2 + i for the i-th child.  Hidden children
 * (.quarantine) keep their offset but are never listed.
 */
static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct mount *m = mnt(req);
	struct mdir *d = (struct mdir *)(uintptr_t)fi->fh;
	const struct view *v = d->mv->v;
	char *buf;
	size_t used = 0;
	off_t pos;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > READDIR_MAX)
		size = READDIR_MAX;
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (pos = off;; pos++) {
		const struct view_node *n;
		struct fuse_entry_param e;
		const char *name;
		size_t ent;

		if (pos == 0) {
			n = d->dir;
			name = ".";
		} else if (pos == 1) {
			n = view_lookup_ino(v, d->dir->parent);
			if (!n)
				n = d->dir;
			name = "..";
		} else {
			if (pos - 2 > (off_t)UINT32_MAX)
				break;
			n = view_child(v, d->dir, (uint32_t)(pos - 2));
			if (!n)
				break;
			if (n->hidden)
				continue;
			name = n->name;
		}
		fill_entry(m, v, n, &e);
		if (pos < 2)
			e.ino = 0;	/* no lookup reference for . and .. */
		if (plus)
			ent = fuse_add_direntry_plus(req, buf + used,
						     size - used, name, &e,
						     pos + 1);
		else
			ent = fuse_add_direntry(req, buf + used, size - used,
						name, &e.attr, pos + 1);
		if (ent > size - used)
			break;
		used += ent;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, 1);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct mdir *d = (struct mdir *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		handle_del(mnt(req), &d->h);
		view_put(mnt(req), d->mv);
		free(d);
	}
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mount *m = mnt(req);
	struct mview *mv = view_get(m);
	struct statvfs s;

	(void)ino;
	memset(&s, 0, sizeof(s));
	s.f_bsize = BLKSIZE;
	s.f_frsize = 4096;
	s.f_blocks = (fsblkcnt_t)((mv->bytes + 4095) / 4096);
	s.f_files = (fsfilcnt_t)mv->nodes;
	s.f_namemax = 255;
	s.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	view_put(m, mv);
	fuse_reply_statfs(req, &s);
}

/* Source xattrs are never passed through; the view has none. */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)ino;
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	fuse_reply_err(req, EINVAL);	/* no symlinks in a view */
}

/* Every modifying operation: the view is read-only by construction. */
static void rofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)ino;
	(void)attr;
	(void)to_set;
	(void)fi;
	rofs(req);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	rofs(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	rofs(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	rofs(req);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	rofs(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	rofs(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	rofs(req);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)buf;
	(void)size;
	(void)off;
	(void)fi;
	rofs(req);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	rofs(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	rofs(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	rofs(req);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	(void)ino;
	(void)mode;
	(void)offset;
	(void)length;
	(void)fi;
	rofs(req);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
			       off_t off_in, struct fuse_file_info *fi_in,
			       fuse_ino_t ino_out, off_t off_out,
			       struct fuse_file_info *fi_out, size_t len,
			       int flags)
{
	(void)ino_in;
	(void)off_in;
	(void)fi_in;
	(void)ino_out;
	(void)off_out;
	(void)fi_out;
	(void)len;
	(void)flags;
	rofs(req);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.access = op_access,
	.create = op_create,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
};

/* ---------------------------------------------------------- options */

/* libfuse's messages, through our log (to syslog in the background). */
__attribute__((format(printf, 2, 0)))
static void fuse_log_sink(enum fuse_log_level level, const char *fmt,
			  va_list ap)
{
	log_vmsg(level <= FUSE_LOG_ERR ? LOG_LEVEL_ERROR :
		 level == FUSE_LOG_WARNING ? LOG_LEVEL_WARNING :
		 level == FUSE_LOG_DEBUG ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		 fmt, ap);
}

enum { KEY_UID, KEY_GID };

struct ids {
	uid_t uid;
	gid_t gid;
	int bad;
};

static const struct fuse_opt id_opts[] = {
	FUSE_OPT_KEY("uid=", KEY_UID),
	FUSE_OPT_KEY("gid=", KEY_GID),
	FUSE_OPT_END,
};

/* Take uid=N and gid=N out of the options (they set our attributes; the
 * kernel's own user_id/group_id mean something else). */
static int id_proc(void *data, const char *arg, int key,
		   struct fuse_args *outargs)
{
	struct ids *ids = data;
	const char *val = strchr(arg, '=');
	unsigned long n;
	char *end;

	(void)outargs;
	if (key != KEY_UID && key != KEY_GID)
		return 1;	/* keep everything else */
	errno = 0;
	n = val ? strtoul(val + 1, &end, 10) : 0;
	if (!val || !val[1] || errno || *end || n >= UINT32_MAX ||
	    val[1] == '-') {
		log_error("-o %s: give a numeric id",
			key == KEY_UID ? "uid=N" : "gid=N");
		ids->bad = 1;
		return 0;
	}
	if (key == KEY_UID)
		ids->uid = (uid_t)n;
	else
		ids->gid = (gid_t)n;
	return 0;
}

int mount_parse_args(struct fuse_args *args, struct mount_opts *o)
{
	struct fuse_cmdline_opts c;
	struct ids ids;

	fuse_set_log_func(fuse_log_sink);
	ids.uid = getuid();
	ids.gid = getgid();
	ids.bad = 0;
	/* ours first: the user's come after them */
	if (fuse_opt_insert_arg(args, 1, "-oro,default_permissions,"
					 "fsname=deidfs,subtype=deidfs")) {
		log_error("out of memory");
		return 1;
	}
	if (fuse_parse_cmdline(args, &c)) {
		log_error("bad -o options");
		return 1;
	}
	free(c.mountpoint);	/* none: the command line took both paths */
	/* Taken by fuse_parse_cmdline(), but the loop is ours (mtloop.h):
	 * say so rather than ignore them. */
	if (c.clone_fd || c.max_idle_threads != UINT_MAX ||
	    c.max_threads != 10) {
		log_error("-o clone_fd, max_threads, max_idle_threads: not "
			  "supported (deidfs runs its own session loop)");
		return 1;
	}
	if (fuse_opt_parse(args, &ids, id_opts, id_proc) || ids.bad) {
		log_error("bad -o options");
		return 1;
	}
	o->foreground = c.foreground;
	o->debug = c.debug;
	o->uid = ids.uid;
	o->gid = ids.gid;
	o->args = args;
	return 0;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------- run */

int mount_run(struct view_engine *e, const struct mount_opts *o)
{
	struct mount m;
	struct view_stats vs;
	struct timespec t0;
	struct stat mst;
	char err[512] = "";
	int rc = 1, ret, cwd_fd = -1, locks = 0, mounted = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (o->debug)
		log_set_level(LOG_LEVEL_DEBUG);	/* libfuse's request trace */
	memset(&m, 0, sizeof(m));
	m.handles.next = m.handles.prev = &m.handles;
	memset(&vs, 0, sizeof(vs));
	m.e = e;
	m.quiet = o->quiet;
	m.uid = o->uid;
	m.gid = o->gid;

	/* Cheap checks first: tell the user before a long index run. */
	{
		const char *why = NULL;

		if (stat(o->mountpoint, &mst))
			why = strerror(errno);
		else if (!S_ISDIR(mst.st_mode))
			why = "not a directory";
		if (why) {
			log_error("mount point %s: %s (give an existing, "
				"empty directory)",
				o->mountpoint, why);
			return 1;
		}
	}
	if (access("/dev/fuse", R_OK | W_OK)) {
		log_error("/dev/fuse: %s (load the fuse module with "
			"'modprobe fuse', or give the container the device)",
			strerror(errno));
		return 1;
	}
	if (pthread_mutex_init(&m.lock, NULL))
		goto out;
	if (pthread_mutex_init(&m.rebuild_lock, NULL)) {
		pthread_mutex_destroy(&m.lock);
		goto out;
	}
	locks = 1;

	/* The index is complete before the mount appears. */
	ret = build(e, !o->no_refresh, &vs, o->progress, o->progress_arg,
		    &m.cur, err, sizeof(err));
	if (ret) {
		log_error("%s", err);
		if (ret == -ELOOP && vs.inside)
			rc = 2;		/* a usage error, as in main.c */
		goto out;
	}
	if (!o->quiet) {
		char *text = view_stats_text(&vs, seconds_since(&t0));

		if (text)
			fputs(text, stderr);
		free(text);
	}

	m.se = fuse_session_new(o->args, &ops, sizeof(ops), &m);
	if (!m.se) {
		log_error("bad -o options (see above and "
				"mount.fuse3(8))");
		goto out;
	}
	if (fuse_set_signal_handlers(m.se)) {
		log_error("cannot install signal handlers");
		goto out;
	}
	if (fuse_session_mount(m.se, o->mountpoint)) {
		log_error("cannot mount at %s: it must be a directory "
			"you own and not already mounted (a stale mount is "
			"removed with 'fusermount3 -u %s'); non-root users "
			"need fusermount3 (package fuse3)",
			o->mountpoint, o->mountpoint);
		goto out;
	}
	mounted = 1;
	if (!o->quiet)
		log_info("mounted at %s (unmount with "
				"'fusermount3 -u %s')",
			o->mountpoint, o->mountpoint);
	/*
	 * fuse_daemonize() forks and changes to /.  An sqlite connection must
	 * not cross fork(), so the engine's store is closed here and opened
	 * again in the daemon; and relative paths (--db, --csv) must still
	 * resolve, so the daemon returns to our working directory.
	 */
	cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fflush(stderr);
	ret = view_engine_detach(e);
	if (ret) {
		log_error("cannot close the db before going to "
				"the background (%s)", strerror(-ret));
		goto out;
	}
	if (fuse_daemonize(o->foreground)) {
		log_error("cannot run in the background");
		goto out;
	}
	if (!o->foreground)
		log_to_syslog();	/* stderr is /dev/null from here on */
	if (cwd_fd >= 0 && fchdir(cwd_fd))
		log_warning("cannot return to the working "
				"directory");
	ret = view_engine_attach(e);
	if (ret) {
		log_error("cannot open the db again (%s)",
			strerror(-ret));
		goto out;
	}

	/*
	 * From here on the threads are the loop's workers, which come and
	 * go; one malloc arena for all of them, so that a new worker's first
	 * open reuses warm memory instead of faulting in an arena of its own
	 * (main.c: tune_malloc()).  It takes effect while glibc has made few
	 * arenas, as after an index run on a small machine; otherwise the
	 * arenas the index warmed are shared.  The index at mount time, before
	 * this point, keeps one arena per thread (it runs a third faster so);
	 * a rebuild while mounted shares the workers' arena.
	 */
	mallopt(M_ARENA_MAX, 1);
	/*
	 * Opens that wait for a rebuild and reads that a cache invalidation
	 * waits for must never starve each other of threads: up to 256
	 * workers, ten of them kept waiting.
	 */
	ret = mtloop_run(m.se, 10, 256);
	rc = ret < 0 ? 1 : 0;	/* unmount, SIGINT/SIGTERM/SIGHUP: clean */
	if (ret < 0)
		log_error("session ended with %s",
			strerror(-ret));
out:
	if (m.se) {
		if (mounted)
			fuse_session_unmount(m.se);
		fuse_remove_signal_handlers(m.se);
		fuse_session_destroy(m.se);
	}
	if (cwd_fd >= 0)
		close(cwd_fd);
	/* Every request is answered by now: no thread runs.  Handles the
	 * kernel never released (the session ended first) go too. */
	while (m.handles.next && m.handles.next != &m.handles) {
		struct handle *h = m.handles.next;

		if (h->is_dir) {
			struct mdir *d = (struct mdir *)h;

			handle_del(&m, h);
			view_put(&m, d->mv);
			free(d);
		} else {
			struct mfile *f = (struct mfile *)h;

			atomic_store(&f->refs, 1);
			mfile_put(&m, f);	/* unlinks it */
		}
	}
	if (m.cur)
		view_put(&m, m.cur);
	if (locks) {
		pthread_mutex_destroy(&m.rebuild_lock);
		pthread_mutex_destroy(&m.lock);
	}
	return rc;
}
