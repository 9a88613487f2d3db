/*
 * view_ahead.c - content maps made ahead of the opens (view_impl.h).
 *
 * A reader of a mount (cat, rsync, a viewer loading a series) opens the
 * files of a folder one after the other; each open of a file whose map is
 * not kept parses its source header first.  When an open comes, the maps
 * of the next AHEAD_DEPTH files of its folder are queued, and one thread
 * makes them into the map cache while the reader reads: the parse moves
 * off the reader's path onto the second CPU.
 *
 * A map made ahead is made exactly as an open makes it (analysis_run() on
 * the source as it is now) and kept only when that source is still the
 * version the view indexed: the cache then serves it to the open of that
 * very version, as any kept map (mapcache.h).  Best effort throughout: a
 * full queue drops the job, and an error drops the map (the open will
 * parse, and report, as it would have).
 */
#include "view_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void view_ahead_init(struct view_engine *e)
{
	pthread_mutex_init(&e->ahead_lock, NULL);
	pthread_cond_init(&e->ahead_cond, NULL);
}

static void job_clear(struct ahead_job *j)
{
	memset(j, 0, sizeof(*j));
}

/* Make the map of job j into the cache: its source as its index row
 * says, when that is still its node's version. */
static void make(struct view_engine *e, const struct ahead_job *j)
{
	struct view_source src;
	struct made *m;
	struct stat st;
	int fd, err;

	if (view_source_get(e, j->id, j->ino, j->out_size, &src))
		return;
	fd = view_open_regular(e->root_fd, src.path, &st);
	if (fd < 0)
		goto out;
	if ((uint64_t)st.st_size != src.size ||
	    (uint64_t)st.st_ino != src.ino ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec !=
		    src.mtime_ns ||
	    (int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec !=
		    src.ctime_ns) {
		close(fd);	/* not the version indexed: the open rebuilds */
		goto out;
	}
	m = mapcache_get(&e->maps, j->id, &st, 0);
	if (m) {
		made_put(m);	/* kept already */
		close(fd);
		goto out;
	}
	err = view_make_map(e, j->id, fd, &st, &m);
	close(fd);
	if (!err && m->map.gen_len == src.header_len &&
	    m->map.size == j->out_size)
		mapcache_add(&e->maps, m);
	made_put(m);
out:
	view_source_clear(&src);
}

static void *ahead_main(void *arg)
{
	struct view_engine *e = arg;
	struct ahead_job j;

	pthread_mutex_lock(&e->ahead_lock);
	for (;;) {
		while (!e->ahead_stop && !e->ahead_n)
			pthread_cond_wait(&e->ahead_cond, &e->ahead_lock);
		if (e->ahead_stop)
			break;
		j = e->ahead_q[e->ahead_head];
		memset(&e->ahead_q[e->ahead_head], 0, sizeof(j));
		e->ahead_head = (e->ahead_head + 1) % AHEAD_MAX;
		e->ahead_n--;
		e->ahead_making = j.id;
		pthread_mutex_unlock(&e->ahead_lock);

		make(e, &j);
		job_clear(&j);

		pthread_mutex_lock(&e->ahead_lock);
		e->ahead_making = 0;
		pthread_cond_broadcast(&e->ahead_cond);
	}
	pthread_mutex_unlock(&e->ahead_lock);
	return NULL;
}

/* Whether id is queued or being made (under the lock). */
static int pending(const struct view_engine *e, int64_t id)
{
	unsigned i;

	if (e->ahead_making == id)
		return 1;
	for (i = 0; i < e->ahead_n; i++)
		if (e->ahead_q[(e->ahead_head + i) % AHEAD_MAX].id == id)
			return 1;
	return 0;
}

void view_ahead_queue(struct view_engine *e, const struct view *v,
		      const struct view_node *n)
{
	const struct view_node *dir = view_lookup_ino(v, n->parent);
	size_t idx = (size_t)(vn(n) - v->nodes), end, i;
	unsigned queued = 0;

	if (!dir || dir->kind != VIEW_DIR)
		return;
	end = (size_t)dir->first_child + dir->nchildren;
	if (idx < dir->first_child || idx >= end)
		return;
	pthread_mutex_lock(&e->ahead_lock);
	if (!e->ahead_started && !e->ahead_stop) {
		e->ahead_started = pthread_create(&e->ahead_thread, NULL,
						  ahead_main, e) == 0;
	}
	for (i = idx + 1; e->ahead_started && i < end && queued < AHEAD_DEPTH;
	     i++) {
		const struct vnode *s = &v->nodes[i];
		struct ahead_job *j;

		if (s->pub.kind != VIEW_DICOM)
			continue;
		queued++;
		if (pending(e, s->pub.file_id) || e->ahead_n == AHEAD_MAX ||
		    mapcache_holds_id(&e->maps, s->pub.file_id, s->pub.size))
			continue;
		j = &e->ahead_q[(e->ahead_head + e->ahead_n) % AHEAD_MAX];
		j->id = s->pub.file_id;
		j->ino = s->pub.ino;
		j->out_size = s->pub.size;
		e->ahead_n++;
		pthread_cond_broadcast(&e->ahead_cond);
	}
	pthread_mutex_unlock(&e->ahead_lock);
}

void view_ahead_wait(struct view_engine *e, int64_t id)
{
	pthread_mutex_lock(&e->ahead_lock);
	while (e->ahead_making == id && !e->ahead_stop)
		pthread_cond_wait(&e->ahead_cond, &e->ahead_lock);
	pthread_mutex_unlock(&e->ahead_lock);
}

void view_ahead_stop(struct view_engine *e)
{
	pthread_mutex_lock(&e->ahead_lock);
	e->ahead_stop = 1;
	pthread_cond_broadcast(&e->ahead_cond);
	pthread_mutex_unlock(&e->ahead_lock);
	if (e->ahead_started)
		pthread_join(e->ahead_thread, NULL);
	while (e->ahead_n) {
		job_clear(&e->ahead_q[e->ahead_head]);
		e->ahead_head = (e->ahead_head + 1) % AHEAD_MAX;
		e->ahead_n--;
	}
	pthread_cond_destroy(&e->ahead_cond);
	pthread_mutex_destroy(&e->ahead_lock);
}
