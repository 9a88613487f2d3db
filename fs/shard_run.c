/*
 * shard_run.c - a sharded run's three phases (shard_run.h): the index of one
 * share into a shard db, the merge of the shard dbs into the project db
 * (and of the export tasks' logs into its audit trail), the export of one
 * share.  A front end: the core decides which share a file is in
 * (include/shard.h); this file finds, checks and names the files a run
 * leaves beside the db, and tells the user.
 */
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

#include "export_write.h"
#include "log.h"
#include "shard_run.h"
#include "shard.h"

#define LOG_MAGIC "deidfs export log 1"
#define COMMIT_EVERY 1024

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

/* "<db>.<kind>-I-of-N" into buf.  Returns 0 or -ENAMETOOLONG. */
static int task_file(const char *db, const char *kind, unsigned i,
		     unsigned n, char *buf, size_t bufsz)
{
	int len = snprintf(buf, bufsz, "%s.%s-%u-of-%u", db, kind, i, n);

	return len < 0 || (size_t)len >= bufsz - 64 ? -ENAMETOOLONG : 0;
}

/* Remove a db file and what sqlite keeps beside it. */
static void unlink_db(const char *path)
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

/* What to say when the db cannot be used, and the exit status 1. */
static int db_fail(const char *what, int err)
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

/* ------------------------------------------------------ finding tasks */

/*
 * The task files of kind beside db: for each share of one run, whether its
 * file is there.  *n is the number of shares (0: none found), have[i] 1
 * for each present (have is SHARD_MAX long).  Two runs' files at once
 * (another N) are an error: -EEXIST.
 */
static int find_tasks(const char *db, const char *kind, unsigned *n,
		      unsigned char *have)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 32];
	const char *slash = strrchr(db, '/');
	struct dirent *de;
	DIR *d;
	int err = 0;
	size_t pl;

	*n = 0;
	memset(have, 0, SHARD_MAX);
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - db) + 1 : 1,
		 slash ? db : ".");
	snprintf(prefix, sizeof(prefix), "%s.%s-", slash ? slash + 1 : db,
		 kind);
	pl = strlen(prefix);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		unsigned i, m;
		int used = 0;

		if (strncmp(de->d_name, prefix, pl) ||
		    sscanf(de->d_name + pl, "%u-of-%u%n", &i, &m, &used) != 2 ||
		    de->d_name[pl + (size_t)used] || m < 1 || m > SHARD_MAX ||
		    i >= m)
			continue;	/* temporary names, others' files */
		if (*n && m != *n) {
			err = -EEXIST;
			break;
		}
		*n = m;
		have[i] = 1;
	}
	closedir(d);
	return err;
}

/* The shares of n missing in have, said to the user; 0 when none. */
static unsigned say_missing(const char *what, unsigned n,
			    const unsigned char *have)
{
	unsigned i, missing = 0;

	for (i = 0; i < n; i++)
		if (!have[i]) {
			if (missing < 32)
				log_error("merge: %s of task %u/%u is missing: "
					  "run that task again (README: \"On "
					  "a cluster\")", what, i, n);
			missing++;
		}
	if (missing > 32)
		log_error("merge: and %u more tasks", missing - 32);
	return missing;
}

/*
 * Whether name (in the db's folder, base the db's own name) is a temporary
 * file a killed task of a sharded run left: "<base>.new-<pid>[-wal|-shm|
 * -journal]" (the project db being created, store_open()), or
 * "<base>.shard-I-of-N.new-..." and "<base>.export-I-of-N.new-..." (a
 * task's db or list before its rename).
 */
static int leftover(const char *name, const char *base)
{
	size_t bl = strlen(base);
	const char *p;
	unsigned i, m;
	int used = 0;

	if (strncmp(name, base, bl) || name[bl] != '.')
		return 0;
	p = name + bl + 1;
	if (!strncmp(p, "new-", 4)) {
		p += 4;
		if (*p < '0' || *p > '9')
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
		return !*p || !strcmp(p, "-wal") || !strcmp(p, "-shm") ||
		       !strcmp(p, "-journal");
	}
	if (!strncmp(p, "shard-", 6))
		p += 6;
	else if (!strncmp(p, "export-", 7))
		p += 7;
	else
		return 0;
	return sscanf(p, "%u-of-%u%n", &i, &m, &used) == 2 &&
	       !strncmp(p + used, ".new-", 5);
}

/*
 * Remove what killed tasks left beside the db (leftover()): once a merge
 * has succeeded, every task it needed has finished under its final name,
 * so a temporary file is an earlier attempt's, and a shard db holds PHI.
 * A task of the run still running meanwhile (started twice) then fails at
 * its rename and says so.
 */
static void sweep_leftovers(const char *db)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(db, '/'), *base = slash ? slash + 1 : db;
	struct dirent *de;
	DIR *d;
	int fd;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - db) + 1 : 1,
		 slash ? db : ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (leftover(de->d_name, base))
			unlinkat(fd, de->d_name, 0);
	closedir(d);
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

	if (task_file(so->db, "shard", so->i, so->n, final, sizeof(final)))
		return db_fail("the path is too long", -ENAMETOOLONG);
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
			return db_fail("cannot create it", err);
	}
	err = store_open_snapshot(so->db, &so->base);
	if (err)
		return db_fail("cannot read it", err);
	store_key(so->base, key);
	unlink_db(work);		/* a killed run's, with our pid */
	err = store_open(work, 1, st);
	if (!err)
		err = store_shard_rekey(*st, key);
	explicit_bzero(key, sizeof(key));
	so->work = strdup(work);
	so->final = strdup(final);
	if (!err && (!so->work || !so->final))
		err = -ENOMEM;
	if (err)
		return db_fail("cannot make the shard db beside it", err);
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
		err = store_open_snapshot(so->db, st);
		return err ? db_fail("cannot read it", err) : 0;
	case SHARD_MERGE:
		err = store_open(so->db, 0, st);
		return err ? db_fail("cannot open it", err) : 0;
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
			unlink_db(so->work);
	}
	store_close(so->base);
	so->base = NULL;
	free(so->work);
	free(so->final);
	so->work = so->final = NULL;
	return rc;
}

/* -------------------------------------------------------------- index */

static int run_index(struct shard_opts *so, struct view_engine *e,
		     const struct export_opts *xo)
{
	struct store *st = view_engine_config(e)->store;
	struct view_stats vs;
	int ret;

	memset(&vs, 0, sizeof(vs));
	ret = view_refresh(e, &vs, xo->progress, xo->progress_arg);
	if (ret == -ELOOP && vs.inside) {
		log_error("%s", view_place_error(vs.inside, 0));
		return 2;
	}
	if (ret)
		return db_fail("cannot index the share", ret);
	/* records below an unreadable folder were not seen, not removed:
	 * the merge then removes nothing (as an export keeps them) */
	if (vs.dirs_unreadable)
		ret = store_setting_set(st, "shard.lost", "1");
	if (ret)
		return db_fail("cannot write the shard db", ret);
	if (!so->quiet)
		fprintf(stderr,
			"index %u/%u: %" PRIu64 " files of this share, %" PRIu64
			" analysed, %" PRIu64 " unchanged, %" PRIu64
			" unreadable\n",
			so->i, so->n, vs.files_seen, vs.files_analysed,
			vs.files_unchanged, vs.errors);
	return vs.errors ? 3 : 0;
}

/* -------------------------------------------------------------- merge */

/* One file of a shard db, for the merge's order. */
struct mfile {
	char *path;		/* PHI: wiped */
	unsigned shard;
	int64_t id;		/* its row in the shard db */
};

struct collect {
	struct mfile *v;
	size_t n, cap;
	unsigned shard;
};

static int collect_cb(void *arg, const struct store_file *f)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 4096;
		struct mfile *p = realloc(c->v, nc * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->v = p;
		c->cap = nc;
	}
	c->v[c->n].path = strdup(f->path);
	if (!c->v[c->n].path)
		return -ENOMEM;
	c->v[c->n].shard = c->shard;
	c->v[c->n].id = f->id;
	c->n++;
	return 0;
}

/*
 * The order of the source walk (view_index.c): folder by folder, names
 * in strcmp() order, so a '/' sorts before any other byte.  New files get
 * their row ids (inode numbers) in this order, as one machine's index
 * gives them.
 */
static unsigned walk_rank(unsigned char c)
{
	return c == 0 ? 0 : c == '/' ? 1 : (unsigned)c + 1;
}

static int walk_cmp(const void *pa, const void *pb)
{
	const unsigned char *a = (const unsigned char *)
				 ((const struct mfile *)pa)->path;
	const unsigned char *b = (const unsigned char *)
				 ((const struct mfile *)pb)->path;

	while (*a && *a == *b) {
		a++;
		b++;
	}
	return walk_rank(*a) < walk_rank(*b) ? -1
					     : walk_rank(*a) > walk_rank(*b);
}

/* Put one file of shard sh (row id) into the project db. */
static int merge_one(struct store *st, struct store *sh, int64_t id)
{
	struct store_file f;
	struct store_audit *rows = NULL;
	struct store_pair pseud;
	size_t n = 0;
	int err;

	err = store_file_get_id(sh, id, &f);
	if (!err)
		err = store_audit_rows(sh, id, &rows, &n);
	if (!err) {
		pseud.orig = f.patient_id;
		pseud.pseudo = f.pseudonym;
		err = store_file_put(st, &f, rows, n, &pseud,
				     f.patient_id && f.pseudonym ? 1 : 0,
				     NULL, 0);
	}
	store_audit_rows_free(rows, n);
	store_file_clear(&f);
	return err;
}

/* The shard dbs of n tasks into the project db st, in one generation. */
static int merge_dbs(const struct shard_opts *so, struct store *st,
		     unsigned n, uint64_t *merged, uint64_t *seen)
{
	struct store **sh = calloc(n, sizeof(*sh));
	struct collect c = { 0 };
	char path[PATH_MAX], lost[8];
	int64_t gen;
	int err = 0, keep = 0, ret, in_tx = 0;
	size_t i;

	*merged = *seen = 0;
	if (!sh)
		return -ENOMEM;
	for (c.shard = 0; c.shard < n && !err; c.shard++) {
		err = task_file(so->db, "shard", c.shard, n, path,
				sizeof(path));
		if (!err)
			err = store_open(path, 0, &sh[c.shard]);
		if (!err)
			err = store_file_foreach(sh[c.shard], collect_cb, &c);
		if (!err && store_setting_get(sh[c.shard], "shard.lost", lost,
					      sizeof(lost)) == 0)
			keep = 1;
	}
	if (!err && c.n)
		qsort(c.v, c.n, sizeof(*c.v), walk_cmp);
	if (!err)
		err = store_next_generation(st, &gen);
	if (!err) {
		err = store_begin(st);
		in_tx = !err;
	}
	for (i = 0; i < c.n && !err; i++) {
		err = merge_one(st, sh[c.v[i].shard], c.v[i].id);
		if (!err && (i + 1) % COMMIT_EVERY == 0) {
			err = store_commit(st);
			in_tx = 0;
			if (!err) {
				err = store_begin(st);
				in_tx = !err;
			}
		}
	}
	*merged = c.n;
	if (in_tx) {
		ret = store_commit(st);
		if (!err)
			err = ret;
	}
	/* sqlite attaches a db only outside a transaction: each step below
	 * is one statement, and a merge killed meanwhile is run again (the
	 * shard dbs stay until the merge is done) */
	for (i = 0; i < n && !err; i++) {
		uint64_t k = 0;

		err = task_file(so->db, "shard", (unsigned)i, n, path,
				sizeof(path));
		if (!err)
			err = store_shard_copy_maps(st, path);
		if (!err)
			err = store_shard_touch_seen(st, path, gen, &k);
		*seen += k;
	}
	/* what no share saw is gone from the source, as a refresh prunes */
	if (!err && !keep)
		err = store_file_prune(st, gen);
	for (i = 0; i < c.n; i++) {
		explicit_bzero(c.v[i].path, strlen(c.v[i].path));
		free(c.v[i].path);
	}
	free(c.v);
	for (i = 0; i < n; i++)
		store_close(sh[i]);
	free(sh);
	return err;
}

/* One row of an export log into w (action borrowed from a constant).
 * Returns 0 or -EBADMSG. */
static int log_row(const char *line, struct store_log_row *w)
{
	long long id, mt;
	unsigned long long ino, size;
	char act;
	int used = 0;

	if (sscanf(line, "%lld %llu %llu %lld %c%n", &id, &ino, &size, &mt,
		   &act, &used) != 5 || line[used] || id < 0 ||
	    (act != 'w' && act != 'k'))
		return -EBADMSG;
	w->file_id = id;
	w->ino = ino;
	w->size = size;
	w->mtime_ns = mt;
	w->action = act == 'w' ? "written" : "kept";
	return 0;
}

/*
 * Read the export log of task i of n (written by this program, but read
 * as any input: a damaged or foreign one is -EBADMSG) into *rows, *nrows;
 * *quar says whether it wrote .quarantine/.
 */
static int read_log(const char *path, unsigned i, unsigned n,
		    struct store_log_row **rows, size_t *nrows, int *quar)
{
	char line[256];
	FILE *f = fopen(path, "re");
	struct store_log_row *v = NULL;
	size_t cnt = 0, cap = 0;
	unsigned li, ln;
	unsigned long long end = 0;
	int err = 0, ended = 0;

	*rows = NULL;
	*nrows = 0;
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strcmp(line, LOG_MAGIC "\n") ||
	    !fgets(line, sizeof(line), f) ||
	    sscanf(line, "shard %u %u", &li, &ln) != 2 || li != i || ln != n ||
	    !fgets(line, sizeof(line), f) ||
	    sscanf(line, "quarantine %d", quar) != 1)
		err = -EBADMSG;
	while (!err && fgets(line, sizeof(line), f)) {
		size_t l = strlen(line);

		if (!l || line[l - 1] != '\n' || ended) {
			err = -EBADMSG;
			break;
		}
		line[l - 1] = 0;
		if (!strncmp(line, "end ", 4)) {
			ended = sscanf(line, "end %llu", &end) == 1;
			if (!ended || end != cnt)
				err = -EBADMSG;
			continue;
		}
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 1024;
			struct store_log_row *p = realloc(v, nc * sizeof(*p));

			if (!p) {
				err = -ENOMEM;
				break;
			}
			v = p;
			cap = nc;
		}
		err = log_row(line, &v[cnt]);
		if (!err)
			cnt++;
	}
	fclose(f);
	if (!err && !ended)
		err = -EBADMSG;		/* cut short */
	if (err) {
		free(v);
		return err;
	}
	*rows = v;
	*nrows = cnt;
	return 0;
}

/* Build the view the export tasks built, from the project db. */
static int build(struct view_engine *e, struct view_stats *vs,
		 struct view **v)
{
	char err[512] = "";
	int ret = view_build(e, vs, v, err, sizeof(err));

	if (ret && view_db_error(ret))
		return db_fail("cannot build the view", ret);
	if (ret) {
		log_error("%s", err);
		return 1;
	}
	return 0;
}

/*
 * Fold the export logs of n tasks into the db, and finish the destination
 * as one machine's export does at its end: stray temporary files and
 * files of an earlier export that the view no longer has removed, the
 * folders' times set.  The logs go once this is done.
 */
static int merge_logs(const struct shard_opts *so, struct view_engine *e,
		      struct view **v, struct view_stats *vs,
		      const struct export_opts *xo, unsigned n)
{
	struct store *st = view_engine_config(e)->store;
	struct export_opts fo = *xo;
	struct export_stats xs;
	struct store_log_row *rows;
	uint64_t total = 0, written = 0;
	size_t nrows, k;
	char path[PATH_MAX];
	int64_t run;
	unsigned i;
	int ret, quar = 0, rc = 0;

	if (!*v && (rc = build(e, vs, v)))
		return rc;
	ret = store_shard_log_run(st, &run);
	if (!ret)
		ret = store_begin(st);
	for (i = 0; i < n && !ret; i++) {
		rows = NULL;
		nrows = 0;
		ret = task_file(so->db, "export", i, n, path, sizeof(path));
		if (!ret)
			ret = read_log(path, i, n, &rows, &nrows, &quar);
		if (ret == -EBADMSG) {
			log_error("merge: the log of export task %u/%u is "
				  "damaged: remove it and run that task "
				  "again", i, n);
			rc = 1;
			break;
		}
		if (!ret && quar != xo->with_quarantine) {
			log_error("merge: export task %u/%u ran %s "
				  "--with-quarantine: give the merge the "
				  "same options", i, n,
				  quar ? "with" : "without");
			free(rows);
			rc = 2;
			break;
		}
		if (!ret)
			ret = store_shard_log_put(st, run, i, n, rows, nrows);
		for (k = 0; k < nrows; k++)
			written += !strcmp(rows[k].action, "written");
		total += nrows;
		free(rows);
	}
	if (rc || ret) {
		store_commit(st);	/* nothing was written: ends the
					 * transaction */
		return rc ? rc : db_fail("cannot record the logs", ret);
	}
	fo.finish = 1;
	fo.shard_n = 0;
	fo.wrote = NULL;
	ret = export_write(e, *v, &fo, &xs);
	if (ret) {
		store_commit(st);
		log_error("merge: cannot finish the destination (%s)",
			  strerror(-ret));
		return 1;
	}
	ret = store_commit(st);
	if (ret)
		return db_fail("cannot record the logs", ret);
	for (i = 0; i < n; i++)
		if (!task_file(so->db, "export", i, n, path, sizeof(path)))
			unlink(path);
	if (!so->quiet)
		fprintf(stderr,
			"merged the logs of %u export tasks: %" PRIu64
			" files (%" PRIu64 " written, %" PRIu64 " already "
			"complete), %" PRIu64 " stale entries removed\n",
			n, total, written, total - written, xs.removed);
	return 0;
}

static int run_merge(struct shard_opts *so, struct view_engine *e,
		     const struct export_opts *xo)
{
	static unsigned char have_db[SHARD_MAX], have_log[SHARD_MAX];
	struct store *st = view_engine_config(e)->store;
	struct view_stats vs;
	struct view *v = NULL;
	unsigned ndb, nlog, i;
	uint64_t merged = 0, seen = 0;
	char path[PATH_MAX];
	int ret, rc = 0;

	memset(&vs, 0, sizeof(vs));
	if (find_tasks(so->db, "shard", &ndb, have_db) ||
	    find_tasks(so->db, "export", &nlog, have_log)) {
		log_error("merge: the files of two sharded runs (a different "
			  "number of tasks) lie beside the db: remove the "
			  "older run's");
		return 1;
	}
	if (!ndb && !nlog) {
		log_error("merge: nothing to merge: no finished index or "
			  "export task beside the db");
		return 1;
	}
	if (ndb && say_missing("the index", ndb, have_db))
		return 1;
	if (!ndb && nlog && say_missing("the export log", nlog, have_log))
		return 1;
	if (ndb) {
		ret = merge_dbs(so, st, ndb, &merged, &seen);
		if (ret == -EBADMSG) {
			log_error("merge: a shard db is damaged or was made "
				  "with another project db's key: remove it "
				  "and run its task again");
			return 1;
		}
		if (ret == -ENOENT) {
			log_error("merge: a shard's index relies on files the "
				  "project db no longer has: run the index "
				  "tasks again");
			return 1;
		}
		if (ret)
			return db_fail("cannot merge", ret);
		rc = build(e, &vs, &v);
		if (rc)
			goto out;
		for (i = 0; i < ndb; i++)
			if (!task_file(so->db, "shard", i, ndb, path,
				       sizeof(path)))
				unlink_db(path);
		if (!so->quiet)
			fprintf(stderr,
				"merged the indexes of %u tasks: %" PRIu64
				" files analysed, %" PRIu64 " unchanged; the "
				"view has %" PRIu64 " files (%" PRIu64
				" bytes), %" PRIu64 " unlinked studies\n",
				ndb, merged, seen, vs.published, vs.bytes,
				vs.unlinked_studies);
	} else {
		rc = merge_logs(so, e, &v, &vs, xo, nlog);
	}
	if (!rc)
		sweep_leftovers(so->db);
out:
	view_free(v);
	return rc;
}

/* ------------------------------------------------------------- export */

struct written {
	struct store_log_row *v;
	size_t n, cap;
	int err;
};

/* export_write()'s wrote callback, under its lock. */
static void wrote_cb(void *arg, const struct view_node *n, int kept)
{
	struct written *w = arg;

	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 1024;
		struct store_log_row *p = realloc(w->v, nc * sizeof(*p));

		if (!p) {
			w->err = -ENOMEM;
			return;
		}
		w->v = p;
		w->cap = nc;
	}
	w->v[w->n].file_id = n->file_id;
	w->v[w->n].ino = n->ino;
	w->v[w->n].size = n->size;
	w->v[w->n].mtime_ns = n->mtime_ns;
	w->v[w->n].action = kept ? "kept" : "written";
	w->n++;
}

/* The log of this task: complete (ends with its count) or not at all,
 * mode 0600 like the db it sits beside. */
static int write_log(const struct shard_opts *so, int quar,
		     const struct written *w)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32];
	FILE *f;
	size_t i;
	int fd, bad;

	if (task_file(so->db, "export", so->i, so->n, path, sizeof(path)))
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), "%s.new-%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	fprintf(f, LOG_MAGIC "\nshard %u %u\nquarantine %d\n", so->i, so->n,
		quar);
	for (i = 0; i < w->n; i++)
		fprintf(f, "%" PRId64 " %" PRIu64 " %" PRIu64 " %" PRId64
			" %c\n", w->v[i].file_id, w->v[i].ino, w->v[i].size,
			w->v[i].mtime_ns, w->v[i].action[0]);
	fprintf(f, "end %zu\n", w->n);
	bad = fflush(f) || fsync(fileno(f));
	if (fclose(f) || bad || rename(tmp, path)) {
		unlink(tmp);
		return -EIO;
	}
	return 0;
}

static int run_export(struct shard_opts *so, struct view_engine *e,
		      const struct export_opts *xo)
{
	static unsigned char have[SHARD_MAX];
	struct export_opts o = *xo;
	struct written w = { 0 };
	struct export_stats xs;
	struct view_stats vs;
	struct view *v = NULL;
	unsigned ndb;
	int ret, rc;

	memset(&vs, 0, sizeof(vs));
	if (find_tasks(so->db, "shard", &ndb, have) || ndb) {
		log_error("export --shard: the index tasks' dbs are not "
			  "merged yet: run deidfs merge first");
		return 1;
	}
	ret = view_config_same(e);
	if (ret) {
		log_error("export --shard: the project db holds no view built "
			  "with these options and this source: run deidfs "
			  "merge with the options of the export tasks first");
		return ret == -ESTALE ? 2 : 1;
	}
	rc = build(e, &vs, &v);
	if (rc == 1 && !v)
		log_error("export --shard: the view differs from the one the "
			  "merge built (the registry CSV changed since?): run "
			  "the merge again");
	if (rc)
		goto out;
	o.shard_i = so->i;
	o.shard_n = so->n;
	o.wrote = wrote_cb;
	o.wrote_arg = &w;
	ret = export_write(e, v, &o, &xs);
	rc = 1;
	if (ret)
		log_error("export %u/%u: cannot write to the destination (%s)",
			  so->i, so->n, strerror(-ret));
	else if (w.err)
		log_error("export %u/%u: %s", so->i, so->n, strerror(-w.err));
	else if (xs.failed)
		/* no log: the merge then asks for this task again */
		rc = 3;
	else if ((ret = write_log(so, o.with_quarantine, &w)))
		log_error("export %u/%u: cannot write its log beside the db "
			  "(%s)", so->i, so->n, strerror(-ret));
	else
		rc = 0;
	if (!so->quiet && (rc == 0 || rc == 3))
		fprintf(stderr,
			"export %u/%u: %" PRIu64 " files of this share: %" PRIu64
			" written, %" PRIu64 " already complete, %" PRIu64
			" failed%s\n",
			so->i, so->n, xs.total, xs.written, xs.kept, xs.failed,
			xs.failed ? " (run this task again)" : "");
out:
	free(w.v);
	view_free(v);
	return rc;
}

int shard_run(struct shard_opts *so, struct view_engine *e,
	      const struct export_opts *xo)
{
	switch (so->mode) {
	case SHARD_INDEX:
		return run_index(so, e, xo);
	case SHARD_EXPORT:
		return run_export(so, e, xo);
	case SHARD_MERGE:
		return run_merge(so, e, xo);
	default:
		return 1;
	}
}
