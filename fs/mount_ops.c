/*
 * mount_ops.c - the mount's FUSE operations (mount_impl.h) but open and
 * read (mount_read.c): names, attributes and listings from the current
 * view, and EROFS for everything that would write.  Every answer comes
 * from the view model; nothing here decides.
 */
#include "mount_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* Largest reply we build for a readdir (the kernel asks for a page). */
#define READDIR_MAX (1u << 20)

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
	st->st_blksize = MOUNT_BLKSIZE;
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
	e->attr_timeout = MOUNT_CACHE_TIMEOUT;
	e->entry_timeout = MOUNT_CACHE_TIMEOUT;
	fill_attr(m, v, n, &e->attr);
}

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
	struct mount *m = mount_of(req);
	struct mount_view *mv = mount_view_get(m);
	const struct view_node *dir, *n = NULL;
	struct fuse_entry_param e;

	dir = view_lookup_ino(mv->v, parent);
	if (dir)
		n = view_lookup(mv->v, dir, name);	/* hidden ones too */
	if (n)
		fill_entry(m, mv->v, n, &e);
	mount_view_put(m, mv);
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
	struct mount *m = mount_of(req);
	struct mount_view *mv = mount_view_get(m);
	const struct view_node *n = view_lookup_ino(mv->v, ino);
	struct stat st;

	if (n) {
		fill_attr(m, mv->v, n, &st);
	} else if (fi && fi->fh) {
		/* fstat of a file opened before a rebuild removed it */
		struct mount_file *f = mount_file_get(fi);

		n = f->n;
		fill_attr(m, f->mv->v, n, &st);
		mount_file_put(m, f);
	}
	mount_view_put(m, mv);
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_reply_attr(req, &st, MOUNT_CACHE_TIMEOUT);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct mount_view *mv = mount_view_get(m);
	const struct view_node *n = view_lookup_ino(mv->v, ino);
	struct mount_dir *d;
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
	mount_handle_add(m, &d->h, 1);
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		mount_handle_del(m, &d->h);
		mount_view_put(m, mv);
		free(d);
	}
	return;
fail:
	mount_view_put(m, mv);
	fuse_reply_err(req, err);
}

/*
 * Offsets: 0 ".", 1 "..", then 2 + i for the i-th child.  Hidden children
 * (.quarantine) keep their offset but are never listed.
 */
static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct mount *m = mount_of(req);
	struct mount_dir *d = (struct mount_dir *)(uintptr_t)fi->fh;
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
	struct mount_dir *d = (struct mount_dir *)(uintptr_t)fi->fh;

	(void)ino;
	if (d) {
		mount_handle_del(mount_of(req), &d->h);
		mount_view_put(mount_of(req), d->mv);
		free(d);
	}
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct mount *m = mount_of(req);
	struct mount_view *mv = mount_view_get(m);
	struct statvfs s;

	(void)ino;
	memset(&s, 0, sizeof(s));
	s.f_bsize = MOUNT_BLKSIZE;
	s.f_frsize = 4096;
	s.f_blocks = (fsblkcnt_t)((mv->bytes + 4095) / 4096);
	s.f_files = (fsfilcnt_t)mv->nodes;
	s.f_namemax = 255;
	s.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	mount_view_put(m, mv);
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

const struct fuse_lowlevel_ops mount_ops = {
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
	.open = mount_op_open,
	.read = mount_op_read,
	.write = op_write,
	.release = mount_op_release,
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
