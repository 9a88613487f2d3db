/*
 * shard_index.c - the index phase of a sharded run (shard_run.h): task i
 * of n indexes the source files of its share (view_shard_of()) into a
 * shard db of its own; shard_done() then gives it its final name.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "shard_impl.h"

int shard_run_index(struct shard_opts *so, struct view_engine *e,
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
		return shard_db_fail("cannot index the share", ret);
	/* records below an unreadable folder were not seen, not removed:
	 * the merge then removes nothing (as an export keeps them) */
	if (vs.dirs_unreadable)
		ret = store_setting_set(st, "shard.lost", "1");
	if (ret)
		return shard_db_fail("cannot write the shard db", ret);
	if (!so->quiet)
		fprintf(stderr,
			"index %u/%u: %" PRIu64 " files of this share, %" PRIu64
			" analysed, %" PRIu64 " unchanged, %" PRIu64
			" unreadable\n",
			so->i, so->n, vs.files_seen, vs.files_analysed,
			vs.files_unchanged, vs.errors);
	return vs.errors ? 3 : 0;
}

