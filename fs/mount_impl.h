/*
 * mount_impl.h - what the files of the mount front end share: the mount,
 * its views, its open files and folders (mount.c: the run, the views and
 * their rebuilds; mount_ops.c: the FUSE operations; mount_read.c: open and
 * read).  Internal to them; the contract is mount.h.
 *
 * Views are immutable.  The mount holds the current one behind a small
 * mutex; open files, open directories and in-flight operations each hold a
 * reference, so a rebuild can swap in a new view while old readers finish
 * against the old one.  The read path takes no lock at all.
 */
#ifndef DEIDFS_MOUNT_IMPL_H
#define DEIDFS_MOUNT_IMPL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mount.h"

/* The view only changes through a rebuild, which tells the kernel what
 * changed; until then cached entries and attributes stay right. */
#define MOUNT_CACHE_TIMEOUT 3600.0
#define MOUNT_BLKSIZE (128 * 1024)

/* A built view and what the mount needs to know about how it was built. */
struct mount_view {
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
struct mount_handle {
	struct mount_handle *prev, *next;	/* guarded by mount->lock */
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
	struct mount_view *cur;		/* holds one reference */
	struct mount_handle handles;	/* open handles (sentinel), under
					 * lock */
	uint64_t gen;			/* bumped by every swap */
	int quiet;
};

/*
 * An open file: fi->fh.  Immutable after open, so reads need no lock.
 *
 * refs counts the open handle plus each read or getattr in progress; the
 * last mount_file_put() frees.  The kernel sends RELEASE only once it has
 * the replies to every read of the handle, but it takes a reply inside our
 * writev(), so the release may run (and free the header a reply points
 * to) before the replying thread has returned: harmless for the kernel,
 * a use after free for the sanitizers, which cannot see its ordering
 * (ASan checks writev's buffers after the call; TSan saw no
 * happens-before).  mount_op_open() publishes refs with a release store
 * after every other field, and mount_file_get() acquires it, so the fields
 * are also ordered for any thread that uses them.  Atomic, no lock.
 */
struct mount_file {
	struct mount_handle h;		/* first member */
	atomic_uint refs;
	struct mount_view *mv;		/* reference: keeps n and text alive */
	const struct view_node *n;	/* borrowed from mv->v */
	struct view_file *vf;		/* VIEW_DICOM, else NULL */
};

/* An open directory: fi->fh.  Listing one view keeps offsets stable. */
struct mount_dir {
	struct mount_handle h;		/* first member */
	struct mount_view *mv;		/* reference */
	const struct view_node *dir;	/* borrowed from mv->v */
};

/* The mount of a request. */
static inline struct mount *mount_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* A reference to the current view.  Never NULL while mounted. */
struct mount_view *mount_view_get(struct mount *m);
/* Drop a reference (mv may be NULL); the last one frees the view. */
void mount_view_put(struct mount *m, struct mount_view *mv);

/* Link an open file or folder into m->handles, and unlink it. */
void mount_handle_add(struct mount *m, struct mount_handle *h, int is_dir);
void mount_handle_del(struct mount *m, struct mount_handle *h);

/* fi->fh of an open file, with a reference (see struct mount_file); the
 * last mount_file_put() frees the file. */
struct mount_file *mount_file_get(const struct fuse_file_info *fi);
void mount_file_put(struct mount *m, struct mount_file *f);

/*
 * Bring the view up to date after an open found it stale.  seen is the
 * generation the caller worked with: if another thread has swapped since,
 * its view is already newer and nothing is done.  Takes rebuild_lock.
 * Returns 0 or -errno (the old view stays in service on failure).
 */
int mount_rebuild(struct mount *m, uint64_t seen);

/* Whether the registry CSV changed since mv was built from it. */
int mount_csv_changed(struct mount *m, const struct mount_view *mv);

/* The FUSE operations (mount_ops.c); open, read and release are
 * mount_read.c's. */
extern const struct fuse_lowlevel_ops mount_ops;
void mount_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void mount_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void mount_op_release(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);

#endif
