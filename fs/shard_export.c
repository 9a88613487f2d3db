/*
 * shard_export.c - the export phase of a sharded run (shard_run.h): task i
 * of n writes the files of the patients whose pseudonym falls in share i,
 * reading the project db as a snapshot, and lists them in its log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_write.h"
#include "log.h"
#include "shard_impl.h"

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

int shard_run_export(struct shard_opts *so, struct view_engine *e,
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
	if (shard_find_tasks(so->db, "shard", &ndb, have) || ndb) {
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
	rc = shard_build(e, &vs, &v);
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
	else if ((ret = shard_log_write(so, o.with_quarantine, w.v,
					      w.n)))
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
