/*
 * mtloop.c - the mount's session loop: leader and followers (mtloop.h).
 *
 * State, all under lock:
 *   receiving  a worker holds the receiver role (reads /dev/fuse next);
 *   nidle      followers waiting in cond_wait(follow) for that role;
 *   nworkers   threads started and not yet ended.
 *
 * A worker takes the role when it is free, reads one request with the
 * lock released, and processes it; it keeps the role across requests
 * unless the handler calls mtloop_yield(), which frees the role and wakes
 * a follower (or starts a worker), or more requests already wait in the
 * kernel's queue while a follower is idle (several readers: they are then
 * served in parallel).  A worker back from a request it gave the role up
 * for becomes a follower, or ends when max_idle already wait.
 *
 * Shutdown mirrors libfuse's own multithreaded loop: workers run with
 * every signal blocked, so SIGINT/SIGTERM/SIGHUP reach the thread in
 * mtloop_run(), whose wait they interrupt (libfuse's handlers mark the
 * session exited); an unmount ends the receiver's read() with ENODEV.
 * The receiver is then cancelled (it enables cancellation only around
 * that read()) and every worker is joined before mtloop_run() returns.
 */
#define FUSE_USE_VERSION 312
#include "mtloop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct worker {
	struct worker *next;
	struct mtloop *l;
	pthread_t tid;
	int done;		/* ended: join it */
};

struct mtloop {
	struct fuse_session *se;
	pthread_mutex_t lock;	/* a leaf: taken with no other lock held
				 * (handlers yield holding none) */
	pthread_cond_t follow;	/* followers wait for the role */
	pthread_cond_t gone;	/* a worker ended */
	sem_t finish;		/* a worker saw the session end */
	struct worker *workers;
	pthread_t receiver;	/* valid while receiving */
	unsigned nworkers, nidle, max_idle, max_threads;
	int receiving, exiting, error;
};

static _Thread_local struct worker *t_self;
static _Thread_local int t_receiver;

static void *work(void *arg);

/* Join workers that have ended.  With lock held. */
static void reap(struct mtloop *l)
{
	struct worker **p = &l->workers, *w;

	while ((w = *p)) {
		if (w->done) {
			*p = w->next;
			pthread_join(w->tid, NULL);
			free(w);
		} else {
			p = &w->next;
		}
	}
}

/* With lock held.  Returns 0 or -errno. */
static int start_worker(struct mtloop *l)
{
	struct worker *w;
	sigset_t all, old;
	int err;

	reap(l);
	if (l->nworkers >= l->max_threads)
		return -EAGAIN;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->l = l;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&w->tid, NULL, work, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		free(w);
		return -err;
	}
	w->next = l->workers;
	l->workers = w;
	l->nworkers++;
	return 0;
}

/* Give up the receiver role.  With lock held. */
static void release_role(struct mtloop *l)
{
	l->receiving = 0;
	t_receiver = 0;
	if (l->exiting)
		return;
	if (l->nidle)
		pthread_cond_signal(&l->follow);
	else
		(void)start_worker(l);	/* failing that, we take the role
					 * back once done */
}

void mtloop_yield(void)
{
	struct mtloop *l = t_self ? t_self->l : NULL;

	if (!l || !t_receiver)
		return;
	pthread_mutex_lock(&l->lock);
	release_role(l);
	pthread_mutex_unlock(&l->lock);
}

struct cancel_ctx {
	struct worker *w;
	struct fuse_buf *buf;
};

static void end_worker(struct worker *w, struct fuse_buf *buf)
{
	struct mtloop *l = w->l;

	free(buf->mem);
	buf->mem = NULL;
	pthread_mutex_lock(&l->lock);
	if (t_receiver)
		l->receiving = 0;
	t_receiver = 0;
	l->nworkers--;
	w->done = 1;
	pthread_cond_broadcast(&l->gone);
	pthread_mutex_unlock(&l->lock);
}

static void on_cancel(void *arg)
{
	struct cancel_ctx *c = arg;

	end_worker(c->w, c->buf);
}

/* Whether more requests wait in the kernel's queue. */
static int more_pending(struct fuse_session *se)
{
	struct pollfd p = { fuse_session_fd(se), POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct mtloop *l = w->l;
	struct fuse_buf buf;
	struct cancel_ctx c = { w, &buf };
	int res;

	memset(&buf, 0, sizeof(buf));
	t_self = w;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_mutex_lock(&l->lock);
	for (;;) {
		if (!t_receiver) {
			while (l->receiving && !l->exiting) {
				if (l->nidle >= l->max_idle)
					goto out;	/* enough wait */
				l->nidle++;
				pthread_cond_wait(&l->follow, &l->lock);
				l->nidle--;
			}
			if (l->exiting)
				break;
			l->receiving = 1;
			t_receiver = 1;
			l->receiver = pthread_self();
		}
		if (l->exiting)
			break;
		pthread_mutex_unlock(&l->lock);

		pthread_cleanup_push(on_cancel, &c);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(l->se, &buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_cleanup_pop(0);

		if (res == -EINTR || res == -EAGAIN) {
			pthread_mutex_lock(&l->lock);
			continue;
		}
		if (res <= 0) {
			/* unmounted (0) or the device failed */
			fuse_session_exit(l->se);
			pthread_mutex_lock(&l->lock);
			if (res < 0 && !l->error)
				l->error = res;
			l->exiting = 1;
			pthread_cond_broadcast(&l->follow);
			sem_post(&l->finish);
			break;
		}
		if (more_pending(l->se)) {
			/* readers in parallel: a waiting follower takes the
			 * next request while we answer this one */
			pthread_mutex_lock(&l->lock);
			if (t_receiver && l->nidle)
				release_role(l);
			pthread_mutex_unlock(&l->lock);
		}
		fuse_session_process_buf(l->se, &buf);
		pthread_mutex_lock(&l->lock);
	}
out:
	pthread_mutex_unlock(&l->lock);
	end_worker(w, &buf);
	return NULL;
}

int mtloop_run(struct fuse_session *se, unsigned max_idle,
	       unsigned max_threads)
{
	struct mtloop l;
	int err;

	memset(&l, 0, sizeof(l));
	l.se = se;
	l.max_idle = max_idle ? max_idle : 1;
	l.max_threads = max_threads > 1 ? max_threads : 2;
	if (pthread_mutex_init(&l.lock, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&l.follow, NULL) ||
	    pthread_cond_init(&l.gone, NULL) || sem_init(&l.finish, 0, 0)) {
		pthread_mutex_destroy(&l.lock);
		return -ENOMEM;
	}
	pthread_mutex_lock(&l.lock);
	err = start_worker(&l);
	pthread_mutex_unlock(&l.lock);
	if (err)
		goto out;

	/* A signal interrupts the wait (workers block every signal); the
	 * timeout covers one that lands between the check and the wait. */
	while (!fuse_session_exited(se)) {
		struct timespec t;

		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec += 1;
		sem_timedwait(&l.finish, &t);
	}

	pthread_mutex_lock(&l.lock);
	l.exiting = 1;
	pthread_cond_broadcast(&l.follow);
	if (l.receiving)
		pthread_cancel(l.receiver);	/* out of its read() */
	while (l.nworkers)
		pthread_cond_wait(&l.gone, &l.lock);
	reap(&l);
	err = l.error;
	pthread_mutex_unlock(&l.lock);
out:
	sem_destroy(&l.finish);
	pthread_cond_destroy(&l.gone);
	pthread_cond_destroy(&l.follow);
	pthread_mutex_destroy(&l.lock);
	return err;
}
