/* pool.c - worker threads for parallel loops and queued tasks (pool.h).
 *
 * One mutex guards the list of open loops and the task ring. A loop's
 * iterations are handed out by an atomic counter, so the lock is taken
 * only to join or leave a loop, not per iteration. The caller of a loop
 * leaves it open until its own share is done, then unlinks it (so no new
 * thread joins) and waits for the threads still inside: after that nobody
 * touches the loop, which lives on the caller's stack.
 */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define QUEUE_CAP 256

struct loop {
	void (*fn)(size_t i, void *arg);
	void *arg;
	size_t n;
	atomic_size_t next;
	unsigned inside;          /* pool threads running its iterations */
	struct loop *prev, *nxt;  /* open loops (lock held) */
};

struct task {
	void (*fn)(void *arg);
	void *arg;
};

struct gg_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;      /* a loop opened, a task queued, or stop */
	pthread_cond_t left;      /* a thread left a loop */
	struct loop *loops;       /* open loops, newest first */
	struct task ring[QUEUE_CAP];
	size_t head, count;
	bool stop;
	unsigned nthreads;
	pthread_t *threads;
};

static void loop_run(struct loop *l)
{
	for (;;) {
		size_t i = atomic_fetch_add_explicit(&l->next, 1,
						     memory_order_relaxed);
		if (i >= l->n)
			return;
		l->fn(i, l->arg);
	}
}

/* An open loop with iterations left, or NULL (lock held). */
static struct loop *loop_with_work(struct gg_pool *p)
{
	for (struct loop *l = p->loops; l; l = l->nxt)
		if (atomic_load_explicit(&l->next, memory_order_relaxed) < l->n)
			return l;
	return NULL;
}

static void *worker(void *arg)
{
	struct gg_pool *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct loop *l = loop_with_work(p);
		if (l) {
			l->inside++;
			pthread_mutex_unlock(&p->mu);
			loop_run(l);
			pthread_mutex_lock(&p->mu);
			if (--l->inside == 0)
				pthread_cond_broadcast(&p->left);
			continue;
		}
		if (p->count) {
			struct task t = p->ring[p->head];
			p->head = (p->head + 1) % QUEUE_CAP;
			p->count--;
			pthread_mutex_unlock(&p->mu);
			t.fn(t.arg);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (p->stop)
			break;
		pthread_cond_wait(&p->work, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct gg_pool *gg_pool_new(unsigned nthreads)
{
	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
	}
	struct gg_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->threads = calloc(nthreads, sizeof *p->threads);
	if (!p->threads) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->left, NULL);
	for (; p->nthreads < nthreads; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], NULL, worker, p))
			break;
	if (p->nthreads == 0) {
		gg_pool_free(p);
		return NULL;
	}
	return p;
}

void gg_pool_free(struct gg_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->left);
	free(p->threads);
	free(p);
}

void gg_pool_for(struct gg_pool *p, size_t n, void (*fn)(size_t i, void *arg),
		 void *arg)
{
	struct loop l = { .fn = fn, .arg = arg, .n = n };
	atomic_init(&l.next, 0);
	if (!p || n < 2) {
		loop_run(&l);
		return;
	}
	pthread_mutex_lock(&p->mu);
	l.nxt = p->loops;
	if (p->loops)
		p->loops->prev = &l;
	p->loops = &l;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);

	loop_run(&l);

	pthread_mutex_lock(&p->mu);
	if (l.prev)
		l.prev->nxt = l.nxt;
	else
		p->loops = l.nxt;
	if (l.nxt)
		l.nxt->prev = l.prev;
	while (l.inside)
		pthread_cond_wait(&p->left, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

int gg_pool_submit(struct gg_pool *p, void (*fn)(void *arg), void *arg)
{
	if (!p)
		return -1;
	pthread_mutex_lock(&p->mu);
	if (p->count == QUEUE_CAP || p->stop) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	p->ring[(p->head + p->count) % QUEUE_CAP] = (struct task){ fn, arg };
	p->count++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

unsigned gg_pool_threads(const struct gg_pool *p)
{
	return p ? p->nthreads : 0;
}
