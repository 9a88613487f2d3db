/*
 * mount.c - `deidfs mount` (mount.h): the view served as a read-only FUSE
 * filesystem (libfuse3 low-level API).  A front end: every name, size,
 * mtime and byte comes from the view model, so the mount shows exactly
 * what `export` writes; these files only translate between the kernel and
 * the view.  Here: the run (options, the first index, the session, the
 * background, the loop) and the views with their rebuilds; the operations
 * are in mount_ops.c and mount_read.c (mount_impl.h).
 */
#include "mount_impl.h"
#include "log.h"
#include "mtloop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ views */

static void mount_view_free(struct mount_view *mv)
{
	if (!mv)
		return;
	view_free(mv->v);
	free(mv);
}

/* Wrap a built view (takes ownership of v, also on error). */
static int mount_view_new(struct view *v, const struct stat *csv_st,
		     struct mount_view **out)
{
	struct mount_view *mv = calloc(1, sizeof(*mv));
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

struct mount_view *mount_view_get(struct mount *m)
{
	struct mount_view *mv;

	pthread_mutex_lock(&m->lock);
	mv = m->cur;
	mv->refs++;
	pthread_mutex_unlock(&m->lock);
	return mv;
}

void mount_view_put(struct mount *m, struct mount_view *mv)
{
	unsigned long left;

	if (!mv)
		return;
	pthread_mutex_lock(&m->lock);
	left = --mv->refs;
	pthread_mutex_unlock(&m->lock);
	if (!left)
		mount_view_free(mv);
}

struct mount_file *mount_file_get(const struct fuse_file_info *fi)
{
	struct mount_file *f = (struct mount_file *)(uintptr_t)fi->fh;

	atomic_fetch_add_explicit(&f->refs, 1, memory_order_acquire);
	return f;
}

void mount_handle_add(struct mount *m, struct mount_handle *h, int is_dir)
{
	h->is_dir = is_dir;
	pthread_mutex_lock(&m->lock);
	h->next = m->handles.next;
	h->prev = &m->handles;
	h->next->prev = h;
	m->handles.next = h;
	pthread_mutex_unlock(&m->lock);
}

void mount_handle_del(struct mount *m, struct mount_handle *h)
{
	pthread_mutex_lock(&m->lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&m->lock);
}

void mount_file_put(struct mount *m, struct mount_file *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
		return;
	mount_handle_del(m, &f->h);
	view_file_free(f->vf);
	mount_view_put(m, f->mv);
	free(f);
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
		 view_progress_fn progress, void *parg, struct mount_view **out,
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
		if (view_db_error(ret)) {	/* busy, disk full */
			const char *db = view_engine_config(e)->db_path;

			snprintf(err, errsz, "--db %s: %s", db ? db : "",
				 view_db_error(ret));
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
	/*
	 * The build's working memory (every index record with its strings,
	 * the entries) is freed by now, in pieces between the view's own, so
	 * the heap's top cannot shrink and M_TRIM_THRESHOLD never applies:
	 * give the free pages back.  Three times the view's size for an index
	 * of a million files (1.2 GB resident before, 0.44 GB after;
	 * BENCHMARKS.md).  Opens then fault in fresh pages again, once.
	 */
	malloc_trim(0);
	if (ret)
		return ret;
	return mount_view_new(v, have_csv ? &cst : NULL, out);
}

int mount_csv_changed(struct mount *m, const struct mount_view *mv)
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

/* See mount_impl.h. */
int mount_rebuild(struct mount *m, uint64_t seen)
{
	struct view_stats vs;
	struct mount_view *nmv = NULL, *old;
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
			log_error("rebuild failed: %s (the previous view "
				  "is served until a rebuild succeeds: fix the "
				  "cause, or unmount and mount again)",
				  err[0] ? err : strerror(-ret));
		goto out;
	}
	pthread_mutex_lock(&m->lock);
	old = m->cur;		/* its reference passes to us */
	nmv->gen = ++m->gen;
	m->cur = nmv;
	pthread_mutex_unlock(&m->lock);
	notify_changes(m, old->v, nmv->v);
	mount_view_put(m, old);
out:
	pthread_mutex_unlock(&m->rebuild_lock);
	return ret;
}

/* ---------------------------------------------------------- options */

/* Write a whole line of libfuse's through our log. */
__attribute__((format(printf, 2, 3)))
static void fuse_log_line(enum fuse_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level <= FUSE_LOG_ERR ? LOG_LEVEL_ERROR :
		 level == FUSE_LOG_WARNING ? LOG_LEVEL_WARNING :
		 level == FUSE_LOG_DEBUG ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		 fmt, ap);
	va_end(ap);
}

/*
 * libfuse's messages, through our log (to syslog in the background).
 * libfuse writes some lines in pieces ("fuse: unknown option(s): `", "-o
 * ", "bogus'\n"): each thread keeps its pieces until the newline, so a
 * line stays one line.
 */
__attribute__((format(printf, 2, 0)))
static void fuse_log_sink(enum fuse_log_level level, const char *fmt,
			  va_list ap)
{
	static __thread char line[1024];
	static __thread size_t len;
	int n;

	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n < 0)
		return;
	len += (size_t)n < sizeof(line) - len ? (size_t)n
					      : sizeof(line) - len - 1;
	if (len && line[len - 1] != '\n' && len < sizeof(line) - 1)
		return;		/* more of this line to come */
	fuse_log_line(level, "%s", line);
	len = 0;
	line[0] = 0;
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

/*
 * Whether libfuse takes the session options in args (a copy is parsed:
 * fuse_session_new() consumes what it knows).  Nothing is mounted or
 * opened; an unknown option is said by libfuse.  So a bad -o is a usage
 * error before anything is indexed or created, not a failure after.
 */
static int session_accepts(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	int i, ok = 0;

	for (i = 0; i < args->argc; i++)
		if (fuse_opt_add_arg(&copy, args->argv[i]))
			goto out;
	se = fuse_session_new(&copy, &mount_ops, sizeof(mount_ops), NULL);
	ok = se != NULL;
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&copy);
	return ok;
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
		log_error("bad -o options (deidfs --help and deidfs(1) list "
			  "them)");
		return 2;
	}
	free(c.mountpoint);	/* none: the command line took both paths */
	/* Taken by fuse_parse_cmdline(), but the loop is ours (mtloop.h):
	 * say so rather than ignore them. */
	if (c.clone_fd || c.max_idle_threads != UINT_MAX ||
	    c.max_threads != 10) {
		log_error("-o clone_fd, max_threads, max_idle_threads: not "
			  "supported (deidfs runs its own session loop)");
		return 2;
	}
	if (fuse_opt_parse(args, &ids, id_opts, id_proc) || ids.bad) {
		log_error("bad -o options (deidfs --help and deidfs(1) list "
			  "them)");
		return 2;
	}
	if (!session_accepts(args)) {
		log_error("bad -o options (see above, deidfs(1) and "
			  "mount.fuse3(8))");
		return 2;
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

/* Whether the canonical path dir is a mount point now: a line of
 * /proc/self/mountinfo names it (its 5th field, with \ooo escapes). */
static int is_mount_point(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, path[PATH_MAX];
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		const char *p = line;
		size_t n = 0;
		int field;

		for (field = 0; field < 4 && p; field++) {
			p = strchr(p, ' ');
			if (p)
				p++;
		}
		if (!p)
			continue;
		while (*p && *p != ' ' && n + 1 < sizeof(path)) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
			    p[3] <= '7') {
				path[n++] = (char)((p[1] - '0') * 64 +
						   (p[2] - '0') * 8 +
						   (p[3] - '0'));
				p += 4;
			} else {
				path[n++] = *p++;
			}
		}
		path[n] = 0;
		found = strcmp(path, dir) == 0;
	}
	free(line);
	fclose(f);
	return found;
}

/* Whether the folder path holds any entry. */
static int has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int any = 0;

	if (!d)
		return 0;
	while (!any && (de = readdir(d)))
		any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return any;
}

int mount_check_target(const struct mount_opts *o)
{
	const char *why = NULL;
	char canon[PATH_MAX];
	struct stat mst;
	int rc = 1;

	if (stat(o->mountpoint, &mst))
		why = errno == ENOTCONN ? "a mount whose daemon is gone is "
					  "there (remove it with "
					  "'fusermount3 -u')"
					: strerror(errno);
	else if (!S_ISDIR(mst.st_mode))
		why = "not a directory";
	if (!why && realpath(o->mountpoint, canon) && is_mount_point(canon)) {
		why = "something is mounted there already (unmount it "
		      "first: 'fusermount3 -u' or 'umount')";
		rc = 2;
	} else if (!why && !o->nonempty && has_entries(o->mountpoint)) {
		why = "not empty (its files would be hidden while mounted; "
		      "give an empty directory, or -o nonempty)";
		rc = 2;
	}
	if (why) {
		log_error("mount point %s: %s", o->mountpoint, why);
		return rc;
	}
	if (access("/dev/fuse", R_OK | W_OK)) {
		log_error("/dev/fuse: %s (load the fuse module with 'modprobe "
			  "fuse', or give the container the device)",
			  strerror(errno));
		return 1;
	}
	return 0;
}

/* An empty mount of e, with its locks.  Returns 0 or -errno. */
static int mount_init(struct mount *m, struct view_engine *e,
		      const struct mount_opts *o)
{
	int err;

	memset(m, 0, sizeof(*m));
	m->handles.next = m->handles.prev = &m->handles;
	m->e = e;
	m->quiet = o->quiet;
	m->uid = o->uid;
	m->gid = o->gid;
	err = -pthread_mutex_init(&m->lock, NULL);
	if (err)
		return err;
	err = -pthread_mutex_init(&m->rebuild_lock, NULL);
	if (err)
		pthread_mutex_destroy(&m->lock);
	return err;
}

/* The summary of the first index (unless quiet) and its --report: what
 * the mount serves.  Returns 0 or an exit status. */
static int first_report(struct mount *m, const struct mount_opts *o,
			const struct view_stats *vs, double elapsed_s)
{
	struct view_run run = o->run;
	char fp[VIEW_FINGERPRINT_LEN + 1];
	char *text, *json;
	int ret, rc = 0;

	run.elapsed_s = elapsed_s;
	run.served = 1;
	clock_gettime(CLOCK_REALTIME, &run.end);
	view_key_fingerprint(m->e, fp);
	run.fingerprint = fp;
	text = view_stats_text(vs, &run);
	if (!o->quiet && text)
		fputs(text, stderr);
	if (o->report) {
		json = view_stats_json(vs, &run);
		ret = json ? view_report_write(o->report, json) : -ENOMEM;
		if (ret) {
			log_error("--report %s: %s", o->report,
				  strerror(-ret));
			rc = 1;
		}
		free(json);
	}
	free(text);
	return rc;
}

/* The first view, complete before the mount appears (refreshed unless
 * --no-refresh), and its summary.  Returns 0 or an exit status. */
static int first_view(struct mount *m, const struct mount_opts *o,
		      const struct timespec *t0)
{
	struct view_stats vs;
	char err[512] = "";
	int ret;

	memset(&vs, 0, sizeof(vs));
	ret = build(m->e, !o->no_refresh, &vs, o->progress, o->progress_arg,
		    &m->cur, err, sizeof(err));
	if (ret) {
		log_error("%s", err[0] ? err : strerror(-ret));
		/* the source holds the db or the mount point: a usage
		 * error, as in main.c */
		return ret == -ELOOP && vs.inside ? 2 : 1;
	}
	return first_report(m, o, &vs, seconds_since(t0));
}

/* The FUSE session, mounted (*mounted says so).  Returns 0 or an exit
 * status. */
static int start_session(struct mount *m, const struct mount_opts *o,
			 int *mounted)
{
	m->se = fuse_session_new(o->args, &mount_ops, sizeof(mount_ops), m);
	if (!m->se) {
		log_error("bad -o options (see above and mount.fuse3(8))");
		return 1;
	}
	if (fuse_set_signal_handlers(m->se)) {
		log_error("cannot install signal handlers: mount again");
		return 1;
	}
	if (fuse_session_mount(m->se, o->mountpoint)) {
		log_error("cannot mount at %s: it must be a directory you own "
			  "and not already mounted (a stale mount is removed "
			  "with 'fusermount3 -u %s'); non-root users need "
			  "fusermount3 (package fuse3)",
			  o->mountpoint, o->mountpoint);
		return 1;
	}
	*mounted = 1;
	if (!o->quiet)
		log_info("mounted at %s (unmount with 'fusermount3 -u %s')",
			 o->mountpoint, o->mountpoint);
	return 0;
}

/*
 * Into the background, unless -f.  fuse_daemonize() forks and changes to
 * /.  An sqlite connection must not cross fork(), so the engine's store is
 * closed here and opened again in the daemon; and relative paths (--db,
 * --csv) must still resolve, so the daemon returns to our working
 * directory.  From here on, messages go to syslog in the background.
 * Returns 0 or an exit status.
 */
static int go_background(struct mount *m, const struct mount_opts *o)
{
	int cwd_fd, ret, rc = 1;

	cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fflush(stderr);
	ret = view_engine_detach(m->e);
	if (ret) {
		log_error("cannot close the db before going to the background "
			  "(%s): mount again, or with -f to stay in the "
			  "foreground", strerror(-ret));
		goto out;
	}
	if (fuse_daemonize(o->foreground)) {
		log_error("cannot run in the background (%s): mount with -f "
			  "to stay in the foreground", strerror(errno));
		goto out;
	}
	if (!o->foreground)
		log_to_syslog();	/* stderr is /dev/null from here on */
	if (cwd_fd >= 0 && fchdir(cwd_fd))
		log_warning("cannot return to the working directory");
	ret = view_engine_attach(m->e);
	if (ret) {
		log_error("cannot open the db again after going to the "
			  "background (%s): check that the db and its folder "
			  "are still there and writable, unmount (fusermount3 "
			  "-u) and mount again", strerror(-ret));
		goto out;
	}
	rc = 0;
out:
	if (cwd_fd >= 0)
		close(cwd_fd);
	return rc;
}

/* Serve until unmounted or signalled.  Returns the exit status. */
static int serve(struct mount *m)
{
	int ret;

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
	ret = mtloop_run(m->se, 10, 256);
	if (ret < 0)
		log_error("session ended with %s: unmount (fusermount3 -u) if "
			  "the mount point is still listed, then mount again",
			  strerror(-ret));
	return ret < 0 ? 1 : 0;	/* unmount, SIGINT/SIGTERM/SIGHUP: clean */
}

/* Unmount, and free what the session left: every request is answered by
 * now, no thread runs.  Handles the kernel never released (the session
 * ended first) go too. */
static void mount_teardown(struct mount *m, int mounted)
{
	if (m->se) {
		if (mounted)
			fuse_session_unmount(m->se);
		fuse_remove_signal_handlers(m->se);
		fuse_session_destroy(m->se);
	}
	while (m->handles.next != &m->handles) {
		struct mount_handle *h = m->handles.next;

		if (h->is_dir) {
			struct mount_dir *d = (struct mount_dir *)h;

			mount_handle_del(m, h);
			mount_view_put(m, d->mv);
			free(d);
		} else {
			struct mount_file *f = (struct mount_file *)h;

			atomic_store(&f->refs, 1);
			mount_file_put(m, f);	/* unlinks it */
		}
	}
	if (m->cur)
		mount_view_put(m, m->cur);
	pthread_mutex_destroy(&m->rebuild_lock);
	pthread_mutex_destroy(&m->lock);
}

int mount_run(struct view_engine *e, const struct mount_opts *o)
{
	struct mount m;
	struct timespec t0;
	int rc, mounted = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (o->debug)
		log_set_level(LOG_LEVEL_DEBUG);	/* libfuse's request trace */
	if (mount_init(&m, e, o))
		return 1;
	rc = first_view(&m, o, &t0);
	if (!rc)
		rc = start_session(&m, o, &mounted);
	if (!rc)
		rc = go_background(&m, o);
	if (!rc)
		rc = serve(&m);
	mount_teardown(&m, mounted);
	return rc;
}
