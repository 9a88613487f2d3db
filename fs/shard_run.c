/*
 * shard_run.c - a sharded run's front end (shard_run.h; the files of each
 * phase are named in shard_impl.h): the task's I/N, the db each phase
 * opens, the names of the files a run leaves beside it, and the dispatch.
 * The core decides which share a file is in (include/shard.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shard_impl.h"

int shard_parse(const char *arg, unsigned *i, unsigned *n)
{
	unsigned long a, b;
	char *end;

	errno = 0;
	if (*arg < '0' || *arg > '9')
		return -EINVAL;
	a = strtoul(arg, &end, 10);
	if (errno || *end != '/' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	b = strtoul(end + 1, &end, 10);
	if (errno || *end || b < 1 || b > SHARD_MAX || a >= b)
		return -EINVAL;
	*i = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

int shard_task_file(const char *db, const char *kind, unsigned i,
		    unsigned n, char *buf, size_t bufsz)
{
	int len = snprintf(buf, bufsz, "%s.%s-%u-of-%u", db, kind, i, n);

	return len < 0 || (size_t)len >= bufsz - 64 ? -ENAMETOOLONG : 0;
}

void shard_unlink_db(const char *path)
{
	char buf[PATH_MAX + 16];

	unlink(path);
	snprintf(buf, sizeof(buf), "%s-wal", path);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-shm", path);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-journal", path);
	unlink(buf);
}

int shard_db_fail(const char *what, int err)
{
	const char *why = view_db_error(err);

	if (err == -EBUSY)
		why = "it is open in another process (a mount?), or a process "
		      "that wrote it was killed: the tasks read it as a "
		      "snapshot, which needs it closed (unmount, or open it "
		      "once with deidfs merge)";
	log_error("--db: %s: %s", what, why ? why : strerror(-err));
	return 1;
}

/* ------------------------------------------------------------ opening */

/* The project db's key, into a new shard db at its temporary name. */
static int open_index(struct shard_opts *so, struct view_config *cfg,
		      struct store **st)
{
	char final[PATH_MAX], work[PATH_MAX + 64], host[64] = "host";
	uint8_t key[KEYED_KEY_LEN];
	struct store *p = NULL;
	int err;

	if (shard_task_file(so->db, "shard", so->i, so->n, final,
			    sizeof(final)))
		return shard_db_fail("the path is too long", -ENAMETOOLONG);
	gethostname(host, sizeof(host) - 1);
	snprintf(work, sizeof(work), "%s.new-%.32s-%ld", final, host,
		 (long)getpid());
	/* The first task to find no project db makes it (complete or not
	 * at all, store_open()); the others then open that one. */
	if (access(so->db, F_OK) && errno == ENOENT) {
		err = store_open(so->db, 1, &p);
		store_close(p);
		p = NULL;
		if (err)
			return shard_db_fail("cannot create it", err);
	}
	err = store_open_snapshot(so->db, &so->base);
	if (err)
		return shard_db_fail("cannot read it", err);
	store_key(so->base, key);
	shard_unlink_db(work);		/* a killed run's, with our pid */
	err = store_open(work, 1, st);
	if (!err)
		err = store_shard_rekey(*st, key);
	explicit_bzero(key, sizeof(key));
	so->work = strdup(work);
	so->final = strdup(final);
	if (!err && (!so->work || !so->final))
		err = -ENOMEM;
	if (err)
		return shard_db_fail("cannot make the shard db beside it", err);
	cfg->shard_i = so->i;
	cfg->shard_n = so->n;
	cfg->shard_base = so->base;
	return 0;
}

int shard_store_open(struct shard_opts *so, struct view_config *cfg,
		     struct store **st)
{
	int err;

	switch (so->mode) {
	case SHARD_INDEX:
		return open_index(so, cfg, st);
	case SHARD_EXPORT:
		/* the task builds its own share of the view only */
		cfg->build_share_i = so->i;
		cfg->build_share_n = so->n;
		err = store_open_snapshot(so->db, st);
		return err ? shard_db_fail("cannot read it", err) : 0;
	case SHARD_MERGE:
		err = store_open(so->db, 0, st);
		return err ? shard_db_fail("cannot open it", err) : 0;
	default:
		return 1;
	}
}

int shard_done(struct shard_opts *so, int rc)
{
	if (so->mode == SHARD_INDEX && so->work) {
		if ((rc == 0 || rc == 3) && rename(so->work, so->final)) {
			log_error("--db: cannot place the shard db (%s)",
				  strerror(errno));
			rc = 1;
		}
		if (rc != 0 && rc != 3)
			shard_unlink_db(so->work);
	}
	store_close(so->base);
	so->base = NULL;
	free(so->work);
	free(so->final);
	so->work = so->final = NULL;
	return rc;
}

int shard_build(struct view_engine *e, struct view_stats *vs,
		struct view **v)
{
	char err[512] = "";
	int ret = view_build(e, vs, v, err, sizeof(err));

	if (ret && view_db_error(ret))
		return shard_db_fail("cannot build the view", ret);
	if (ret) {
		log_error("%s", err);
		return 1;
	}
	return 0;
}

int shard_run(struct shard_opts *so, struct view_engine *e,
	      const struct export_opts *xo)
{
	switch (so->mode) {
	case SHARD_INDEX:
		return shard_run_index(so, e, xo);
	case SHARD_EXPORT:
		return shard_run_export(so, e, xo);
	case SHARD_MERGE:
		return shard_run_merge(so, e, xo);
	default:
		return 1;
	}
}
