/* test_pool.c - the worker pool: every loop index runs exactly once, also
 * with several loops at once and loops nested inside pool threads; queued
 * tasks run, a full queue refuses, and freeing the pool runs what is left. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool.h"

struct counts {
	size_t n;
	atomic_uint *hits;
	struct gg_pool *pool; /* for nested loops */
	size_t inner;
};

static void bump(size_t i, void *arg)
{
	struct counts *c = arg;
	atomic_fetch_add(&c->hits[i], 1);
}

static void check_once(struct counts *c)
{
	for (size_t i = 0; i < c->n; i++)
		assert_int_equal(atomic_load(&c->hits[i]), 1);
}

static struct counts *counts_new(size_t n)
{
	struct counts *c = calloc(1, sizeof *c);
	c->n = n;
	c->hits = calloc(n ? n : 1, sizeof *c->hits);
	return c;
}

static void counts_free(struct counts *c)
{
	free(c->hits);
	free(c);
}

static void test_loop_covers_each_index_once(void **state)
{
	(void)state;
	struct gg_pool *p = gg_pool_new(3);
	assert_non_null(p);
	assert_int_equal(gg_pool_threads(p), 3);
	size_t sizes[] = {0, 1, 2, 7, 1000, 100000};
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		struct counts *c = counts_new(sizes[k]);
		gg_pool_for(p, c->n, bump, c);
		check_once(c);
		counts_free(c);
	}
	struct counts *c = counts_new(500); /* no pool: the caller alone */
	gg_pool_for(NULL, c->n, bump, c);
	check_once(c);
	counts_free(c);
	gg_pool_free(p);
}

/* Each outer iteration runs a whole inner loop (on a pool thread or the
 * caller): the caller's participation means nesting cannot deadlock. */
static void nested(size_t i, void *arg)
{
	struct counts *outer = arg;
	struct counts *c = counts_new(outer->inner);
	gg_pool_for(outer->pool, c->n, bump, c);
	check_once(c);
	counts_free(c);
	atomic_fetch_add(&outer->hits[i], 1);
}

static void test_nested_loops(void **state)
{
	(void)state;
	struct gg_pool *p = gg_pool_new(2);
	struct counts *c = counts_new(64);
	c->pool = p;
	c->inner = 300;
	gg_pool_for(p, c->n, nested, c);
	check_once(c);
	counts_free(c);
	gg_pool_free(p);
}

struct caller { struct gg_pool *p; int ok; };

static void *one_caller(void *arg)
{
	struct caller *k = arg;
	k->ok = 1;
	for (int r = 0; r < 50; r++) {
		struct counts *c = counts_new(1000 + (size_t)r);
		gg_pool_for(k->p, c->n, bump, c);
		for (size_t i = 0; i < c->n; i++)
			if (atomic_load(&c->hits[i]) != 1)
				k->ok = 0;
		counts_free(c);
	}
	return NULL;
}

static void test_concurrent_callers(void **state)
{
	(void)state;
	struct gg_pool *p = gg_pool_new(2);
	pthread_t t[4];
	struct caller k[4];
	for (int i = 0; i < 4; i++) {
		k[i].p = p;
		pthread_create(&t[i], NULL, one_caller, &k[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(k[i].ok, 1);
	}
	gg_pool_free(p);
}

/* A task that blocks until released, to hold the only pool thread. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, open;
};

static void hold(void *arg)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->mu);
	g->started = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void count_task(void *arg)
{
	atomic_fetch_add((atomic_uint *)arg, 1);
}

static void test_submit_and_full_queue(void **state)
{
	(void)state;
	struct gg_pool *p = gg_pool_new(1);
	struct gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	atomic_uint ran = 0;
	assert_int_equal(gg_pool_submit(p, hold, &g), 0);
	pthread_mutex_lock(&g.mu);
	while (!g.started)
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	unsigned queued = 0;
	while (gg_pool_submit(p, count_task, &ran) == 0)
		queued++;
	assert_true(queued >= 16);                 /* a real queue */
	assert_int_equal(atomic_load(&ran), 0);    /* none ran: the thread is held */
	/* A loop still completes: its caller runs it. */
	struct counts *c = counts_new(100);
	gg_pool_for(p, c->n, bump, c);
	check_once(c);
	counts_free(c);
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	gg_pool_free(p); /* runs every queued task before returning */
	assert_int_equal(atomic_load(&ran), queued);
	assert_int_equal(gg_pool_submit(NULL, count_task, &ran), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_covers_each_index_once),
		cmocka_unit_test(test_nested_loops),
		cmocka_unit_test(test_concurrent_callers),
		cmocka_unit_test(test_submit_and_full_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
