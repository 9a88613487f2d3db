/*
 * mtloop.h - the mount's multithreaded FUSE session loop.
 *
 * libfuse's own loop keeps up to ten idle workers blocked in read() on
 * /dev/fuse, and the kernel hands each request to the one that has waited
 * longest: a stream of reads hops from thread to thread, each hop a wakeup
 * on another CPU.  Here one worker at a time (the receiver) reads requests
 * and answers them itself while they cannot block, so a stream of reads
 * from the page cache stays on one thread; when requests queue up (several
 * readers), an idle worker takes over receiving and they run in parallel.  A handler that may block (an
 * open that parses a header or waits for a rebuild, a read whose source
 * bytes are not in memory) first calls mtloop_yield(): another worker
 * takes over receiving, so nothing waits behind it.
 */
#ifndef DEIDFS_MTLOOP_H
#define DEIDFS_MTLOOP_H

#include <fuse_lowlevel.h>

/*
 * Serve se until it exits (unmount, or a signal handled by libfuse's
 * handlers).  Workers are started on demand, up to max_threads; at most
 * max_idle wait for their turn, the rest end.  Returns 0, or -errno of the
 * error that ended the session.
 */
int mtloop_run(struct fuse_session *se, unsigned max_idle,
	       unsigned max_threads);

/*
 * Called by a request handler before it does something that may block:
 * hands the receiving to another worker (started if none waits).  A no-op
 * outside the loop or when this worker has yielded already.
 */
void mtloop_yield(void);

#endif
