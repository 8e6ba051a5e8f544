/* pool.h - a shared pool of worker threads.
 *
 * Two kinds of work:
 * - gg_pool_for: a parallel loop the caller waits for. The caller runs
 *   iterations itself too, so a loop always finishes even when every pool
 *   thread is busy (or when it is called from a pool thread: nesting is
 *   safe and cannot deadlock).
 * - gg_pool_submit: fire-and-forget tasks (prefetch) in a bounded queue.
 *   Loops take precedence over queued tasks, since someone waits for them.
 *
 * Thread safety: every function except gg_pool_free may be called from
 * any thread at once, pool threads included. Memory: the pool allocates
 * only in gg_pool_new; a loop's state lives on its caller's stack.
 */
#ifndef GGUFFS_POOL_H
#define GGUFFS_POOL_H

#include <stddef.h>

struct gg_pool;

/* A pool of nthreads threads (0: the number of online CPUs). Returns NULL
 * when no thread can be started or memory runs out. */
struct gg_pool *gg_pool_new(unsigned nthreads);

/* Run every task still queued, stop the threads and free the pool. No
 * gg_pool_for may be running and no other thread may submit meanwhile.
 * NULL is a no-op. */
void gg_pool_free(struct gg_pool *p);

/* fn(i, arg) for every i in [0, n), on the pool threads and the caller, in
 * no particular order; returns when all calls have returned. fn must not
 * fail (it records its own errors in arg). p NULL runs the loop on the
 * caller alone. */
void gg_pool_for(struct gg_pool *p, size_t n, void (*fn)(size_t i, void *arg),
		 void *arg);

/* Queue fn(arg) to run later on a pool thread. Returns 0, or -1 when the
 * queue is full (or p is NULL): fn is then not run and arg stays the
 * caller's. */
int gg_pool_submit(struct gg_pool *p, void (*fn)(void *arg), void *arg);

/* Number of pool threads (0 for NULL). */
unsigned gg_pool_threads(const struct gg_pool *p);

#endif
