/*
 * scan_pool.c - the scan's worker processes (scan.h).
 *
 * A decoder or OCR engine that crashes, loops or eats memory on a hostile
 * file must cost that file only: so they run in worker processes, forked
 * and exec'd afresh (this binary, scan_worker_exec_main(): a fork alone
 * would copy locks the parent's other threads held), each with
 * every inherited descriptor closed, no core dumps, an address space limit
 * and the parent's death as its own.  A worker serves one file at a time
 * over a SOCK_SEQPACKET socket: the source's descriptor and a memfd with
 * the published file's map (SCM_RIGHTS) and its identity values go in, a
 * struct scan_result comes back.  The worker reads the published bytes
 * (generated header, blanked segments, source ranges), so what is scanned
 * is what is served.  A worker
 * that spends more than the timeout of CPU time on one file is killed, so
 * that what is published does not depend on how busy the machine was (a
 * wall-clock limit made a file unreadable on a loaded machine and
 * published on an idle one); a worker that uses no CPU and does not answer
 * (a hang in I/O) is killed after WALL_FACTOR times the timeout of wall
 * clock; one that dies is reaped; either way the file is SCAN_UNREADABLE
 * and the next file gets a new worker.
 */
#include "scan.h"
#include "bytemap.h"
#include "dicom.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#define REQ_MAGIC 0x64534331u	/* "dSC1" */

struct request {
	uint32_t magic;
	uint32_t has_map;	/* a second descriptor: the map (memfd) */
	uint32_t inflated;	/* the map has inflated pieces: deflate
				 * says where the source's dataset is */
	struct inflate_where deflate;
	struct scan_ident id;
};

struct worker {
	pid_t pid;		/* 0: none running */
	int sock;		/* our end */
	int busy;
};

struct scan_pool {
	struct scan_config cfg;
	int allow_fd;		/* memfd: the allow-list's text, or -1 */
	char exe[4096];		/* this binary (read before any fork: under
				 * valgrind /proc/self/exe is valgrind) */
	char arg_timeout[24], arg_mem[24];	/* the workers' argv */
	pthread_mutex_t lock;	/* leaf lock: guards w[].busy */
	pthread_cond_t cond;
	unsigned n;
	struct worker *w;
};

/* ------------------------------------------------------------ worker */

/* The address space the worker has now, in bytes (0 if unknown). */
static uint64_t vm_now(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void limit_self(const struct scan_config *cfg)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);	/* a crash leaves no image behind */
#ifndef SANITIZED
	/* what it inherits, and mem_max more (sanitizers reserve terabytes
	 * of shadow memory: no limit under them) */
	rl.rlim_cur = rl.rlim_max = vm_now() + cfg->mem_max;
	setrlimit(RLIMIT_AS, &rl);
#endif
}

/* Receive one request and the descriptors with it (the source's, and
 * the map's or -1); -1 at the end. */
static int recv_request(int sock, struct request *rq, int fd[2])
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { rq, sizeof(*rq) };
	struct msghdr mh;
	struct cmsghdr *cm;
	size_t nfd = 0;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	fd[0] = fd[1] = -1;
	cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
	if (cm && cm->cmsg_level == SOL_SOCKET &&
	    cm->cmsg_type == SCM_RIGHTS) {
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fd, CMSG_DATA(cm), (nfd > 2 ? 2 : nfd) * sizeof(int));
	}
	if (n != (ssize_t)sizeof(*rq) || rq->magic != REQ_MAGIC || fd[0] < 0 ||
	    nfd != 1u + (rq->has_map != 0)) {
		if (fd[0] >= 0)
			close(fd[0]);
		if (fd[1] >= 0)
			close(fd[1]);
		return -1;
	}
	return 0;
}

/* The published file, as the worker reads it: the map's pieces over the
 * source (and over its inflated dataset, read in order through a cursor:
 * the pixel data of a deflated source is never held whole here either). */
struct published {
	int src;
	uint64_t src_size;
	struct bytemap m;	/* borrowed pieces and gen from buf */
	uint8_t *buf;
	const struct inflate_where *deflate;	/* NULL: not deflated */
	struct inflate_cursor *zc;	/* made at the first inflated read */
};

static ssize_t source_pread(void *ctx, void *buf, size_t n, uint64_t off);

/* Inflated bytes [off, off + n) of the source's dataset.  Returns bytes
 * read or -errno. */
static ssize_t inflated_pread(struct published *p, void *buf, size_t n,
			      uint64_t off)
{
	if (!p->deflate)
		return -EBADMSG;
	if (!p->zc && inflate_cursor_new(source_pread, p, p->deflate,
					 p->src_size, 1u << 18, &p->zc))
		return -ENOMEM;
	return inflate_read(p->zc, off, buf, n);
}

static ssize_t published_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct published *p = ctx;
	size_t done = 0;

	while (done < n && off < p->m.size) {
		const struct bytemap_piece *q =
			&p->m.piece[bytemap_find(&p->m, off)];
		uint64_t in = off - q->out, take = q->len - in;
		ssize_t r;

		if (take > n - done)
			take = n - done;
		if (q->kind == BYTEMAP_GEN) {
			memcpy((uint8_t *)buf + done, p->m.gen + q->at + in,
			       (size_t)take);
			r = (ssize_t)take;
		} else if (q->kind == BYTEMAP_INFLATED) {
			r = inflated_pread(p, (uint8_t *)buf + done,
					   (size_t)take, q->at + in);
			if (r <= 0)
				return done ? (ssize_t)done : r < 0 ? r : 0;
		} else {
			do
				r = pread(p->src, (uint8_t *)buf + done,
					  (size_t)take, (off_t)(q->at + in));
			while (r < 0 && errno == EINTR);
			if (r <= 0)
				return done ? (ssize_t)done : r < 0 ? -errno
								    : 0;
		}
		done += (size_t)r;
		off += (uint64_t)r;
	}
	return (ssize_t)done;
}

static ssize_t source_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	ssize_t r;

	do
		r = pread(((struct published *)ctx)->src, buf, n, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

struct map_head {
	uint64_t n, gen_len, size;
};

/* Read the map the parent wrote into memfd fd (our own bytes: checked as
 * a map must be, all the same).  Returns 0 or -1. */
static int map_read(int fd, struct published *p, int inflated)
{
	struct map_head h;
	uint64_t pos = 0;
	size_t bytes, i;

	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    h.n == 0 || h.n > BYTEMAP_MAX_PIECES || h.gen_len > (1ull << 32))
		return -1;
	bytes = (size_t)(h.n * sizeof(struct bytemap_piece) + h.gen_len);
	p->buf = malloc(bytes ? bytes : 1);
	if (!p->buf || pread(fd, p->buf, bytes, sizeof(h)) != (ssize_t)bytes)
		return -1;
	p->m.piece = (struct bytemap_piece *)p->buf;
	p->m.n = (size_t)h.n;
	p->m.gen = p->buf + h.n * sizeof(struct bytemap_piece);
	p->m.gen_len = (size_t)h.gen_len;
	p->m.size = h.size;
	for (i = 0; i < p->m.n; i++) {
		const struct bytemap_piece *q = &p->m.piece[i];

		if (q->out != pos || !q->len ||
		    (q->kind != BYTEMAP_GEN && q->kind != BYTEMAP_SRC &&
		     (q->kind != BYTEMAP_INFLATED || !inflated)) ||
		    (q->kind == BYTEMAP_GEN &&
		     (q->at > h.gen_len || q->len > h.gen_len - q->at)))
			return -1;
		pos += q->len;
	}
	return pos == h.size ? 0 : -1;
}

/* The wall-clock backstop: this many times the CPU timeout. */
#define WALL_FACTOR 4

/* CPU seconds this process has used (all its threads), rounded up. */
static rlim_t cpu_used_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (rlim_t)ru.ru_utime.tv_sec + (rlim_t)ru.ru_stime.tv_sec + 1;
}

/*
 * The kernel's own guard of the file's CPU time: RLIMIT_CPU is counted
 * over the process's life, so its soft limit is moved to what this worker
 * has used so far plus the timeout and a second (the parent's accounting,
 * in milliseconds, normally acts first).  Beyond it, SIGXCPU ends the
 * worker (no core: RLIMIT_CORE is 0).
 */
static void limit_cpu(const struct scan_config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_CPU, &rl))
		return;
	rl.rlim_cur = cpu_used_s() + cfg->timeout_s + 1;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_CPU, &rl);
}

static void worker_main(int sock, const struct scan_config *cfg)
{
	struct request *rq = malloc(sizeof(*rq));
	struct scan_result res;
	int fd[2];

	if (!rq)
		_exit(1);
	while (recv_request(sock, rq, fd) == 0) {
		struct published pub;
		struct dicom_source src;
		struct stat st;

		memset(&pub, 0, sizeof(pub));
		memset(&src, 0, sizeof(src));
		pub.src = fd[0];
		pub.src_size = fstat(fd[0], &st) ? 0 : (uint64_t)st.st_size;
		pub.deflate = rq->inflated ? &rq->deflate : NULL;
		src.ctx = &pub;
		if (fd[1] >= 0) {
			src.pread = published_pread;
			if (map_read(fd[1], &pub, rq->inflated != 0))
				_exit(1);	/* the parent's bug */
			src.size = pub.m.size;
		} else {
			src.pread = source_pread;
			src.size = pub.src_size;
		}
		limit_cpu(cfg);
		if (scan_file(&src, &rq->id, cfg->allow, &res)) {
			memset(&res, 0, sizeof(res));
			res.status = SCAN_UNREADABLE;
		}
		inflate_cursor_free(pub.zc);
		free(pub.buf);
		close(fd[0]);
		if (fd[1] >= 0)
			close(fd[1]);
		scan_ident_clear(&rq->id);
		if (send(sock, &res, sizeof(res), MSG_NOSIGNAL) !=
		    (ssize_t)sizeof(res))
			break;
	}
	_exit(0);
}

void scan_worker_exec_main(int argc, char **argv)
{
	struct scan_config cfg;
	struct scan_allow *allow = NULL;
	char err[128];

	memset(&cfg, 0, sizeof(cfg));
	signal(SIGSEGV, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXCPU, SIG_DFL);
	if (argc != 4 || dicom_init())
		_exit(1);
	cfg.timeout_s = (unsigned)strtoul(argv[2], NULL, 10);
	cfg.mem_max = strtoull(argv[3], NULL, 10);
	if (fcntl(4, F_GETFD) >= 0) {
		struct stat st;
		char *buf;

		if (fstat(4, &st) || st.st_size < 0 ||
		    st.st_size > (16 << 20))
			_exit(1);
		buf = malloc((size_t)st.st_size + 1);
		if (!buf || pread(4, buf, (size_t)st.st_size, 0) !=
				    (ssize_t)st.st_size ||
		    scan_allow_parse(buf, (size_t)st.st_size, &allow, err,
				     sizeof(err)))
			_exit(1);
		free(buf);
		close(4);
		cfg.allow = allow;
	}
	limit_self(&cfg);
	worker_main(3, &cfg);
}

/* Start worker w.  Returns 0 or -errno. */
static int spawn(struct scan_pool *p, struct worker *w)
{
	int sv[2];
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		/* async-signal-safe calls only until the exec: this is a
		 * copy of a process with threads */
		char *argv[] = { "deidfs", SCAN_WORKER_COMMAND,
				 p->arg_timeout, p->arg_mem, NULL };
		sigset_t all;
		int null, sock, allow;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		/* nothing of the parent's stays open: the db, the mount's
		 * device, other sources; the socket goes to 3 and the
		 * allow-list to 4, by way of descriptors above both */
		sock = fcntl(sv[1], F_DUPFD, 10);
		allow = p->allow_fd >= 0 ? fcntl(p->allow_fd, F_DUPFD, 10)
					 : -1;
		if (sock < 0 || (p->allow_fd >= 0 && allow < 0) ||
		    dup2(sock, 3) != 3)
			_exit(1);
		if (allow >= 0) {
			if (dup2(allow, 4) != 4)
				_exit(1);
		} else {
			close(4);
		}
		null = open("/dev/null", O_RDWR);
		if (null < 0)
			_exit(1);
		/* Tesseract and GDCM write to stderr; nothing of theirs is
		 * ours to show */
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		close_range(5, ~0u, 0);
		execv(p->exe, argv);
		_exit(127);
	}
	close(sv[1]);
	w->pid = pid;
	w->sock = sv[0];
	return 0;
}

/* Stop worker w (kill it if it is still running) and reap it. */
static void stop(struct worker *w)
{
	if (!w->pid)
		return;
	close(w->sock);
	kill(w->pid, SIGKILL);
	while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	w->sock = -1;
}

/* -------------------------------------------------------------- pool */

int scan_pool_new(const struct scan_config *cfg, unsigned n,
		  struct scan_pool **out)
{
	struct scan_pool *p = calloc(1, sizeof(*p));
	unsigned i;

	*out = NULL;
	if (!p || !n || !(p->w = calloc(n, sizeof(*p->w)))) {
		free(p);
		return -ENOMEM;
	}
	p->cfg = *cfg;
	if (!p->cfg.timeout_s)
		p->cfg.timeout_s = SCAN_TIMEOUT_DEFAULT;
	if (!p->cfg.mem_max)
		p->cfg.mem_max = SCAN_MEM_DEFAULT;
	p->n = n;
	p->allow_fd = -1;
	{
		ssize_t k = readlink("/proc/self/exe", p->exe,
				     sizeof(p->exe) - 1);

		if (k <= 0) {
			free(p->w);
			free(p);
			return -ENOMEM;
		}
		p->exe[k] = 0;
	}
	snprintf(p->arg_timeout, sizeof(p->arg_timeout), "%u",
		 p->cfg.timeout_s);
	snprintf(p->arg_mem, sizeof(p->arg_mem), "%llu",
		 (unsigned long long)p->cfg.mem_max);
	if (p->cfg.allow) {
		char *text;
		size_t len;

		if (scan_allow_text(p->cfg.allow, &text, &len)) {
			free(p->w);
			free(p);
			return -ENOMEM;
		}
		p->allow_fd = memfd_create("deidfs-scan-allow", MFD_CLOEXEC);
		if (p->allow_fd < 0 ||
		    write(p->allow_fd, text, len) != (ssize_t)len) {
			if (p->allow_fd >= 0)
				close(p->allow_fd);
			free(text);
			free(p->w);
			free(p);
			return -ENOMEM;
		}
		free(text);
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	/* started now; each is exec'd, so the caller's threads do not
	 * matter */
	for (i = 0; i < n; i++)
		if (spawn(p, &p->w[i]))
			break;
	*out = p;
	return 0;
}

void scan_pool_free(struct scan_pool *p)
{
	unsigned i;

	if (!p)
		return;
	for (i = 0; i < p->n; i++)
		stop(&p->w[i]);
	if (p->allow_fd >= 0)
		close(p->allow_fd);
	free(p->w);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

/* The map of the published file into a new memfd: its head, pieces and
 * generated bytes.  Returns the fd or -errno. */
static int map_memfd(const struct bytemap *m)
{
	struct map_head h = { m->n, m->gen_len, m->size };
	int fd;
	size_t pb = m->n * sizeof(*m->piece), i;
	/* field by field into zeroed memory: no padding byte of ours
	 * crosses to the worker uninitialised */
	struct bytemap_piece *pc = calloc(m->n ? m->n : 1, sizeof(*pc));
	ssize_t w;

	if (!pc)
		return -ENOMEM;
	for (i = 0; i < m->n; i++) {
		pc[i].out = m->piece[i].out;
		pc[i].len = m->piece[i].len;
		pc[i].at = m->piece[i].at;
		pc[i].kind = m->piece[i].kind;
	}
	fd = memfd_create("deidfs-scan-map", MFD_CLOEXEC);
	if (fd < 0) {
		free(pc);
		return -errno;
	}
	w = pwrite(fd, pc, pb, sizeof(h));
	free(pc);
	if (pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    w != (ssize_t)pb ||
	    (m->gen_len && pwrite(fd, m->gen, m->gen_len, (off_t)(sizeof(h) +
					 pb)) != (ssize_t)m->gen_len)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static int send_request(struct worker *w, const int *fds, int nfd,
			const struct request *rq)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { (void *)rq, sizeof(*rq) };
	struct msghdr mh;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, (size_t)nfd * sizeof(int));
	do
		n = sendmsg(w->sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*rq) ? 0 : -EPIPE;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CPU time of process pid in ms (all its threads), or -1. */
static int64_t cpu_ms(pid_t pid)
{
	clockid_t cid;
	struct timespec ts;

	if (clock_getcpuclockid(pid, &cid) || clock_gettime(cid, &ts))
		return -1;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait for the answer of w: until it has spent the timeout of CPU time on
 * this file (cpu0: its CPU time when the file was sent), or WALL_FACTOR
 * times the timeout has passed (a worker that waits on I/O forever); when
 * its CPU time cannot be read, the timeout of wall clock.  Returns 0, or
 * -1 when the worker died, answered nonsense or took too long.
 */
static int await(struct scan_pool *p, struct worker *w, int64_t cpu0,
		 struct scan_result *res)
{
	int64_t limit = (int64_t)p->cfg.timeout_s * 1000;
	int64_t end = mono_ms() + (cpu0 < 0 ? limit : WALL_FACTOR * limit);
	struct pollfd pf = { w->sock, POLLIN, 0 };
	ssize_t n;

	for (;;) {
		int64_t left = end - mono_ms(), cpu;
		int r;

		if (left <= 0)
			return -1;
		if (cpu0 >= 0) {
			cpu = cpu_ms(w->pid);
			/* a worker gone (cpu < 0) is seen on its socket */
			if (cpu >= 0 && cpu - cpu0 >= limit)
				return -1;
			/* look again when it could have used the rest */
			if (cpu >= 0 && limit - (cpu - cpu0) < left)
				left = limit - (cpu - cpu0);
		}
		r = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			break;
	}
	do
		n = recv(w->sock, res, sizeof(*res), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*res) ||
	    (res->status != SCAN_DONE && res->status != SCAN_UNREADABLE) ||
	    res->nregions > SCAN_MAX_REGIONS ||
	    res->ntokens > SCAN_TOKENS_MAX)
		return -1;
	return 0;
}

int scan_pool_run(struct scan_pool *p, int fd, const struct bytemap *map,
		  const struct inflate_where *deflate,
		  const struct scan_ident *id, struct scan_result *res)
{
	struct request *rq = calloc(1, sizeof(*rq));	/* padding too */
	struct worker *w = NULL;
	unsigned i;
	int err = 0, tries, fds[2] = { fd, -1 };
	int64_t cpu0 = -1;

	if (!rq)
		return -ENOMEM;
	if (map && map->n) {
		fds[1] = map_memfd(map);
		if (fds[1] < 0) {
			free(rq);
			return fds[1] == -ENOMEM ? -ENOMEM : -EIO;
		}
	}
	rq->magic = REQ_MAGIC;
	rq->has_map = fds[1] >= 0;
	rq->inflated = deflate != NULL;
	memset(&rq->deflate, 0, sizeof(rq->deflate));
	if (deflate)
		rq->deflate = *deflate;
	rq->id = *id;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (i = 0; i < p->n && p->w[i].busy; i++)
			;
		if (i < p->n)
			break;
		pthread_cond_wait(&p->cond, &p->lock);
	}
	w = &p->w[i];
	w->busy = 1;
	pthread_mutex_unlock(&p->lock);

	/* a worker that died idle (killed from outside) is started again
	 * once */
	for (tries = 0; tries < 2; tries++) {
		if (!w->pid && (err = spawn(p, w)))
			break;
		cpu0 = cpu_ms(w->pid);
		err = send_request(w, fds, fds[1] >= 0 ? 2 : 1, rq);
		if (!err)
			break;
		stop(w);
	}
	if (!err && await(p, w, cpu0, res)) {
		/* crashed, hung, or out of its memory: this file only */
		stop(w);
		memset(res, 0, sizeof(*res));
		res->status = SCAN_UNREADABLE;
	}
	if (err)
		err = err == -EPIPE ? -EAGAIN : err;
	scan_ident_clear(&rq->id);
	free(rq);
	if (fds[1] >= 0)
		close(fds[1]);
	pthread_mutex_lock(&p->lock);
	w->busy = 0;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return err;
}
