/*
 * main.c - the deidfs command line: parses the options (cli_opts.c),
 * checks where the db and the view may go (places.c), opens the db and
 * the view engine, and hands over to a front end: export_run(),
 * mount_run() or shard_run().  It translates; it does not decide.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse_opt.h>

#include "export.h"
#include "log.h"
#include "mount.h"
#include "places.h"
#include "registry.h"
#include "shard_run.h"
#include "rules.h"
#include "scan.h"
#include "store.h"
#include "verify.h"
#include "view.h"
#include "cli.h"

#define fail(...) log_error(__VA_ARGS__)


struct progress {
	int on;
	struct timespec last;
};

static void progress_cb(void *arg, const char *phase, uint64_t done,
			uint64_t total)
{
	struct progress *p = arg;
	struct timespec now;
	int width = 30, filled;

	if (!p->on || !total)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (done != total && (now.tv_sec - p->last.tv_sec) * 1000000000L +
					 (now.tv_nsec - p->last.tv_nsec) <
				 100000000L)
		return;
	p->last = now;
	filled = (int)((double)done / (double)total * width);
	fprintf(stderr, "\r%-6s [%.*s%*s] %" PRIu64 "/%" PRIu64, phase, filled,
		"##############################", width - filled, "", done,
		total);
	if (done == total)
		fputc('\n', stderr);
}

/* What went wrong with the db, and what to do: for errors of store_open()
 * and of any later step that writes to the db. */
static const char *store_error(int err)
{
	const char *why = view_db_error(err);

	if (why)
		return why;
	switch (err) {
	case -EBADMSG:
		return "it is not a deidfs db, or it is damaged (refusing to "
		       "create a new key: pseudonyms would change). Restore "
		       "it from a backup; start a new db only for a new "
		       "dataset";
	case -EACCES:
		return "it cannot be opened for writing (permission denied "
		       "or a read-only file system). deidfs records the "
		       "index and new pseudonyms in it, and sqlite keeps "
		       "FILE-wal and FILE-shm beside it: give a db you can "
		       "write, in a directory you can write";
	default:
		return strerror(-err);
	}
}

/*
 * Every file opened is parsed into fresh buffers of about its header's size
 * (a mammogram with an overlay plane: 1 MB or more), freed again at once.
 * glibc serves blocks over 128 KiB by mmap and trims freed heap early, so
 * each open paid hundreds of first-touch page faults: 4.8 ms per open on
 * these VMs, 0.5 ms once memory is kept for reuse (BENCHMARKS.md).  So
 * blocks up to 32 MiB come from the heap and up to 64 MiB of freed heap is
 * kept.  Larger blocks are still mapped and returned at once, which bounds
 * what a hostile header leaves resident.  The arena count stays glibc's
 * (one per thread, up to 8 per CPU) for the parallel index: one arena for
 * all threads slowed it by a third.  The mount limits it for its workers
 * (mount.c).
 */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

/*
 * Open the db (creating it, with a new key, when it does not exist) and
 * the view engine: *st and *e, freed by the caller.  Returns 0 or an exit
 * status, said to the user.
 */
static int open_engine(struct options *o, struct view_whitelist **wl,
		       struct scan_allow **allow, struct store **st,
		       struct view_engine **e)
{
	char err[512] = "";
	int ret, created;

	ret = view_init(&o->cfg, o->whitelist, wl, err, sizeof(err));
	if (!ret && o->scan_allow) {
		ret = view_scan_allow_load(o->scan_allow, allow, o->scan_allow_digest,
					   err, sizeof(err));
		o->cfg.scan_allow = *allow;
		o->cfg.scan_allow_digest = o->scan_allow_digest;
	}
	if (ret) {
		fail("%s", err);
		return ret == -EINVAL ? EXIT_USAGE : EXIT_FATAL;
	}
	created = access(o->db, F_OK) && errno == ENOENT;
	if (created || (o->cmd == CMD_MOUNT && o->no_refresh)) {
		/* The refresh's walk checks the guard too, but a new db is
		 * written before it, and a mount without refresh has none. */
		enum view_place hit;

		if (view_guard_walk(o->pos[0], o->places.guard,
				    o->places.nguard, &hit) == -ELOOP) {
			fail("%s", view_place_error(hit, o->cmd == CMD_MOUNT));
			return EXIT_USAGE;
		}
	}
	if (o->shard.mode) {
		/* the db of a sharded run's phase (shard_run.c) */
		ret = shard_store_open(&o->shard, &o->cfg, st);
		if (ret)
			return ret;
		created = 0;
	} else if (o->cmd == CMD_MOUNT && o->no_refresh) {
		/* an unchanged index writes nothing: no page by page check
		 * of the db unless something is written */
		ret = store_open_lazy(o->db, 1, st);
	} else {
		ret = store_open(o->db, 1, st);
	}
	if (ret) {
		fail("--db %s: %s", o->db, store_error(ret));
		return EXIT_FATAL;
	}
	if (created && !o->quiet)
		fail("--db: created a new db with a new secret key: keep it "
		     "safe, and keep it (later runs need it to give the same "
		     "pseudonyms)");
	o->cfg.store = *st;
	o->cfg.guard = o->places.guard;
	o->cfg.nguard = o->places.nguard;
	ret = view_engine_new(&o->cfg, e, err, sizeof(err));
	if (ret) {
		fail("%s", err);
		return ret == -EINVAL ? EXIT_USAGE : EXIT_FATAL;
	}
	return 0;
}

static int run_main(int argc, char **argv);

int main(int argc, char **argv)
{
	/* a scan worker, exec'd by the scan pool (scan.h): nothing else */
	if (argc > 1 && !strcmp(argv[1], SCAN_WORKER_COMMAND))
		scan_worker_exec_main(argc, argv);
	return run_main(argc, argv);
}

static int run_main(int argc, char **argv)
{
	struct options o;
	struct view_whitelist *wl = NULL;
	struct scan_allow *allow = NULL;
	struct store *st = NULL;
	struct view_engine *e = NULL;
	struct progress prog = { 0 };
	struct timespec t0;
	int rc;

	/* verify and lookup read a db and have options of their own */
	if (argc > 1 && !strcmp(argv[1], "verify"))
		return verify_main(argc - 1, argv + 1, DEIDFS_VERSION);
	if (argc > 1 && !strcmp(argv[1], "lookup"))
		return lookup_main(argc - 1, argv + 1);
	tune_malloc();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = cli_parse(argc, argv, &o);
	o.export.started = t0;
	o.export.run.version = DEIDFS_VERSION;
	o.export.run.argc = argc;
	o.export.run.argv = argv;
	clock_gettime(CLOCK_REALTIME, &o.export.run.start);
	o.mount.run = o.export.run;
	/* Everything that can fail before the work is checked before the
	 * db is opened: a failed run creates no db (and no key). */
	if (!rc)
		rc = places_usable(o.pos[0], o.pos[1], o.csv, o.report,
				   o.cmd == CMD_MOUNT);
	if (!rc)
		rc = places_check(o.pos[0], o.pos[1], o.db, o.csv,
				  o.cmd == CMD_MOUNT, &o.places);
	if (!rc && o.cmd == CMD_MOUNT)
		rc = mount_check_target(&o.mount);
	if (!rc)
		rc = open_engine(&o, &wl, &allow, &st, &e);
	if (rc)
		goto out;
	prog.on = !o.quiet && isatty(STDERR_FILENO);
	if (o.cmd == CMD_MOUNT) {
		/* also in the background: it indexes before it detaches,
		 * with the terminal still its stderr */
		o.mount.progress = prog.on ? progress_cb : NULL;
		o.mount.progress_arg = &prog;
		rc = mount_run(e, &o.mount);
	} else {
		o.export.progress = prog.on ? progress_cb : NULL;
		o.export.progress_arg = &prog;
		rc = o.shard.mode ? shard_run(&o.shard, e, &o.export)
				  : export_run(e, &o.export);
	}
out:
	view_engine_free(e);
	store_close(st);
	rc = shard_done(&o.shard, rc);
	view_whitelist_free(wl);
	view_scan_allow_free(allow);
	cli_options_free(&o);
	return rc < 0 ? EXIT_OK : rc;
}
