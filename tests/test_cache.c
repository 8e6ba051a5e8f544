/* test_cache.c - the chunk cache's contract (cache.h): hits and misses, LRU
 * eviction order, the byte budget, pinning, thread safety under load,
 * coalescing of concurrent loads and error propagation. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "cache.h"

#define CHUNK 4096

/* Deterministic bytes of a key: byte i of key k. */
static uint8_t key_byte(uint64_t k, size_t i)
{
	uint64_t x = k * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
	return (uint8_t)(x >> 56);
}

/* Chunks of key k have length k % 3 == 0 ? CHUNK : CHUNK - k % 100 - 1 (so
 * most are full but some are short, exercising the length). */
static size_t key_len(uint64_t k)
{
	return k % 3 == 0 ? CHUNK : CHUNK - (k % 100) - 1;
}

struct loader_state {
	atomic_int calls;
	int fail_with;        /* nonzero: return this error */
	unsigned delay_us;    /* sleep in the loader */
	size_t fixed_len;     /* nonzero: every chunk has this length */
};

static int loader(uint64_t key, void *buf, size_t cap, size_t *len, void *arg)
{
	struct loader_state *ls = arg;
	atomic_fetch_add(&ls->calls, 1);
	if (ls->delay_us)
		usleep(ls->delay_us);
	if (ls->fail_with)
		return ls->fail_with;
	size_t n = ls->fixed_len ? ls->fixed_len : key_len(key);
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++)
		((uint8_t *)buf)[i] = key_byte(key, i);
	*len = n;
	return 0;
}

/* A loader reporting more bytes than the buffer holds is an error. */
static int bad_loader(uint64_t key, void *buf, size_t cap, size_t *len,
		      void *arg)
{
	(void)key; (void)buf; (void)arg;
	*len = cap + 1;
	return 0;
}

static void check_chunk(const struct chunk *ch, uint64_t key, size_t len)
{
	assert_int_equal(ch->key, key);
	assert_int_equal(ch->len, len);
	for (size_t i = 0; i < len; i++)
		if (ch->data[i] != key_byte(key, i))
			fail_msg("key %llu byte %zu differs",
				 (unsigned long long)key, i);
}

/* get + verify + put; returns the loader's error if any. */
static int touch(struct chunk_cache *c, uint64_t key, struct loader_state *ls)
{
	struct chunk *ch;
	int rc = chunk_cache_get(c, key, loader, ls, &ch);
	if (rc)
		return rc;
	check_chunk(ch, key, ls->fixed_len ? ls->fixed_len : key_len(key));
	chunk_cache_put(c, ch);
	return 0;
}

static void test_hits_and_misses(void **state)
{
	(void)state;
	struct loader_state ls = {.fixed_len = CHUNK};
	struct chunk_cache *c = chunk_cache_new(10 * CHUNK, CHUNK);
	assert_non_null(c);
	for (uint64_t k = 1; k <= 5; k++)
		assert_int_equal(touch(c, k, &ls), 0);
	for (uint64_t k = 1; k <= 5; k++)
		assert_int_equal(touch(c, k, &ls), 0);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.misses, 5);
	assert_int_equal(s.hits, 5);
	assert_int_equal(s.evictions, 0);
	assert_int_equal(s.entries, 5);
	assert_int_equal(s.cur_bytes, 5 * CHUNK);
	assert_int_equal(s.bytes_loaded, 5 * CHUNK);
	assert_int_equal(atomic_load(&ls.calls), 5);
	chunk_cache_free(c);
}

static void test_lru_order(void **state)
{
	(void)state;
	struct loader_state ls = {.fixed_len = CHUNK};
	struct chunk_cache *c = chunk_cache_new(3 * CHUNK, CHUNK);
	assert_int_equal(touch(c, 1, &ls), 0);
	assert_int_equal(touch(c, 2, &ls), 0);
	assert_int_equal(touch(c, 3, &ls), 0);
	assert_int_equal(touch(c, 1, &ls), 0); /* 1 is now the newest; 2 oldest */
	assert_int_equal(touch(c, 4, &ls), 0); /* evicts 2 */
	assert_int_equal(atomic_load(&ls.calls), 4);
	assert_int_equal(touch(c, 1, &ls), 0); /* hit */
	assert_int_equal(touch(c, 3, &ls), 0); /* hit */
	assert_int_equal(atomic_load(&ls.calls), 4);
	assert_int_equal(touch(c, 2, &ls), 0); /* miss: was evicted; evicts 4 */
	assert_int_equal(atomic_load(&ls.calls), 5);
	assert_int_equal(touch(c, 4, &ls), 0); /* miss again: evicts 1 */
	assert_int_equal(atomic_load(&ls.calls), 6);
	assert_int_equal(touch(c, 3, &ls), 0); /* 3 still there */
	assert_int_equal(atomic_load(&ls.calls), 6);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.evictions, 3);
	assert_int_equal(s.entries, 3);
	chunk_cache_free(c);
}

static void test_budget_never_exceeded(void **state)
{
	(void)state;
	struct loader_state ls = {0};
	size_t budget = 7 * CHUNK + 123; /* not a multiple of the chunk size */
	struct chunk_cache *c = chunk_cache_new(budget, CHUNK);
	srand(42);
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(touch(c, (uint64_t)(rand() % 40), &ls), 0);
		struct chunk_cache_stats s;
		chunk_cache_stats(c, &s);
		assert_true(s.cur_bytes <= budget);
	}
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_true(s.peak_bytes <= budget);
	assert_true(s.evictions > 0);
	assert_int_equal(s.hits + s.misses, 5000);
	chunk_cache_free(c);
}

/* Short chunks are accounted by their length, so many fit in the budget. */
static void test_short_chunks_shrunk(void **state)
{
	(void)state;
	struct loader_state ls = {.fixed_len = 100};
	struct chunk_cache *c = chunk_cache_new(4 * CHUNK, CHUNK);
	for (uint64_t k = 0; k < 20; k++)
		assert_int_equal(touch(c, k, &ls), 0);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.entries, 20);
	assert_int_equal(s.cur_bytes, 20 * 100);
	assert_int_equal(s.evictions, 0);
	chunk_cache_free(c);
}

/* Sized gets: big (mapped) buffers of the requested size, page-rounded in
 * the accounting; buffers recycled; bad sizes refused. */
static void test_sized_gets(void **state)
{
	(void)state;
	const size_t MiB = 1 << 20, want = 300000, rounded = 303104; /* 74 pages */
	struct chunk_cache *c = chunk_cache_new(3 * MiB, MiB);
	struct loader_state ls = {.fixed_len = want};
	struct chunk *ch;
	assert_int_equal(chunk_cache_get_sized(c, 1, want, loader, &ls, &ch), 0);
	check_chunk(ch, 1, want);
	chunk_cache_put(c, ch);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.cur_bytes, rounded);
	/* Full-size chunks: two fit next to it, the third evicts key 1. */
	ls.fixed_len = MiB;
	for (uint64_t k = 2; k <= 4; k++) {
		assert_int_equal(chunk_cache_get_sized(c, k, MiB, loader, &ls, &ch), 0);
		check_chunk(ch, k, MiB);
		chunk_cache_put(c, ch);
		chunk_cache_stats(c, &s);
		assert_true(s.cur_bytes <= 3 * MiB);
	}
	assert_int_equal(s.evictions, 1);
	/* Recycled buffers hold the new chunk's bytes, not the old ones. */
	for (uint64_t k = 5; k <= 12; k++)
		assert_int_equal(touch(c, k, &ls), 0);
	chunk_cache_stats(c, &s);
	assert_int_equal(s.cur_bytes, 3 * MiB);
	assert_int_equal(chunk_cache_get_sized(c, 99, MiB + 1, loader, &ls, &ch),
			 -EINVAL);
	assert_int_equal(chunk_cache_get_sized(c, 99, 0, loader, &ls, &ch),
			 -EINVAL);
	/* A loader may not write more than it was asked for. */
	ls.fixed_len = 0;
	assert_int_equal(chunk_cache_get_sized(c, 100, 1000, bad_loader, NULL, &ch),
			 -EOVERFLOW);
	chunk_cache_free(c);
}

static void test_pinned_never_evicted(void **state)
{
	(void)state;
	struct loader_state ls = {.fixed_len = CHUNK};
	struct chunk_cache *c = chunk_cache_new(3 * CHUNK, CHUNK);
	struct chunk *p1, *p2;
	assert_int_equal(chunk_cache_get(c, 100, loader, &ls, &p1), 0);
	assert_int_equal(chunk_cache_get(c, 200, loader, &ls, &p2), 0);
	/* One free slot: many other keys cycle through it. */
	for (uint64_t k = 1; k <= 50; k++)
		assert_int_equal(touch(c, k, &ls), 0);
	check_chunk(p1, 100, CHUNK);
	check_chunk(p2, 200, CHUNK);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_true(s.peak_bytes <= 3 * CHUNK);
	assert_int_equal(s.evictions, 49);
	int calls = atomic_load(&ls.calls);
	/* Unpinned, they are hits until evicted. */
	chunk_cache_put(c, p1);
	chunk_cache_put(c, p2);
	assert_int_equal(touch(c, 100, &ls), 0);
	assert_int_equal(touch(c, 200, &ls), 0);
	assert_int_equal(atomic_load(&ls.calls), calls);
	chunk_cache_free(c);
}

/* A get that finds every chunk pinned waits for a put (the budget is a
 * hard cap) instead of exceeding the budget. */
struct pinned_waiter {
	struct chunk_cache *c;
	struct loader_state *ls;
	atomic_int done;
};

static void *pinned_waiter_main(void *arg)
{
	struct pinned_waiter *w = arg;
	assert_int_equal(touch(w->c, 999, w->ls), 0);
	atomic_store(&w->done, 1);
	return NULL;
}

static void test_full_of_pins_waits(void **state)
{
	(void)state;
	struct loader_state ls = {.fixed_len = CHUNK};
	struct chunk_cache *c = chunk_cache_new(2 * CHUNK, CHUNK);
	struct chunk *p1, *p2;
	assert_int_equal(chunk_cache_get(c, 1, loader, &ls, &p1), 0);
	assert_int_equal(chunk_cache_get(c, 2, loader, &ls, &p2), 0);
	struct pinned_waiter w = {.c = c, .ls = &ls};
	pthread_t t;
	pthread_create(&t, NULL, pinned_waiter_main, &w);
	usleep(50000);
	assert_int_equal(atomic_load(&w.done), 0);
	chunk_cache_put(c, p1);
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&w.done), 1);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_true(s.peak_bytes <= 2 * CHUNK);
	chunk_cache_put(c, p2);
	chunk_cache_free(c);
}

/* A chunk larger than the budget still loads into an empty cache, and is
 * dropped as soon as it is unpinned. */
static void test_budget_smaller_than_chunk(void **state)
{
	(void)state;
	struct loader_state ls = {.fixed_len = CHUNK};
	struct chunk_cache *c = chunk_cache_new(CHUNK / 2, CHUNK);
	assert_int_equal(touch(c, 1, &ls), 0);
	assert_int_equal(touch(c, 2, &ls), 0);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.cur_bytes, 0);
	assert_int_equal(s.misses, 2);
	chunk_cache_free(c);
}

/* ---- concurrency ---- */

struct hammer {
	struct chunk_cache *c;
	struct loader_state *ls;
	unsigned seed;
	uint64_t nkeys;
	int iters;
	atomic_int *errors;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	for (int i = 0; i < h->iters; i++) {
		uint64_t k = (uint64_t)rand_r(&h->seed) % h->nkeys;
		uint64_t key = XXH3_64bits(&k, sizeof k);
		struct chunk *ch;
		if (chunk_cache_get(h->c, key, loader, h->ls, &ch)) {
			atomic_fetch_add(h->errors, 1);
			continue;
		}
		size_t n = key_len(key);
		int bad = ch->key != key || ch->len != n;
		for (size_t j = 0; !bad && j < n; j++)
			bad = ch->data[j] != key_byte(key, j);
		if (bad)
			atomic_fetch_add(h->errors, 1);
		chunk_cache_put(h->c, ch);
	}
	return NULL;
}

static void test_threads_hammer(void **state)
{
	(void)state;
	struct loader_state ls = {0};
	size_t budget = 16 * CHUNK;
	struct chunk_cache *c = chunk_cache_new(budget, CHUNK);
	atomic_int errors = 0;
	struct hammer h[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		h[i] = (struct hammer){c, &ls, (unsigned)i * 7919u + 1, 64, 20000,
				       &errors};
		pthread_create(&t[i], NULL, hammer_main, &h[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&errors), 0);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.hits + s.misses + s.coalesced, 8 * 20000);
	assert_int_equal(s.misses, (uint64_t)atomic_load(&ls.calls));
	assert_true(s.peak_bytes <= budget);
	assert_true(s.cur_bytes <= budget);
	assert_true(s.evictions > 0);
	chunk_cache_free(c);
}

struct getter {
	struct chunk_cache *c;
	struct loader_state *ls;
	uint64_t key;
	int rc;
	pthread_barrier_t *bar;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;
	pthread_barrier_wait(g->bar);
	struct chunk *ch;
	g->rc = chunk_cache_get(g->c, g->key, loader, g->ls, &ch);
	if (g->rc == 0) {
		size_t n = g->ls->fixed_len;
		for (size_t i = 0; i < n; i++)
			if (ch->data[i] != key_byte(g->key, i)) {
				g->rc = -1000;
				break;
			}
		chunk_cache_put(g->c, ch);
	}
	return NULL;
}

/* Run n concurrent gets of one key; returns the loader call count. */
static int get_concurrently(struct chunk_cache *c, struct loader_state *ls,
			    uint64_t key, int n, int *rcs)
{
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, (unsigned)n);
	struct getter g[16];
	pthread_t t[16];
	int before = atomic_load(&ls->calls);
	for (int i = 0; i < n; i++) {
		g[i] = (struct getter){c, ls, key, 0, &bar};
		pthread_create(&t[i], NULL, getter_main, &g[i]);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		rcs[i] = g[i].rc;
	}
	pthread_barrier_destroy(&bar);
	return atomic_load(&ls->calls) - before;
}

static void test_coalescing(void **state)
{
	(void)state;
	enum { N = 8 };
	struct loader_state ls = {.fixed_len = CHUNK, .delay_us = 200000};
	struct chunk_cache *c = chunk_cache_new(8 * CHUNK, CHUNK);
	int rcs[N];
	assert_int_equal(get_concurrently(c, &ls, 77, N, rcs), 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(rcs[i], 0);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.misses, 1);
	assert_int_equal(s.coalesced, N - 1);
	assert_int_equal(s.hits, 0);
	chunk_cache_free(c);
}

static void test_error_propagates_and_retries(void **state)
{
	(void)state;
	enum { N = 6 };
	struct loader_state ls = {.fixed_len = CHUNK, .delay_us = 200000,
				  .fail_with = -EIO};
	struct chunk_cache *c = chunk_cache_new(8 * CHUNK, CHUNK);
	int rcs[N];
	assert_int_equal(get_concurrently(c, &ls, 5, N, rcs), 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(rcs[i], -EIO);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.cur_bytes, 0);
	assert_int_equal(s.load_errors, 1);
	assert_int_equal(s.coalesced, N - 1);
	/* The failed entry was dropped: the next get runs the loader again. */
	ls.fail_with = 0;
	ls.delay_us = 0;
	assert_int_equal(touch(c, 5, &ls), 0);
	assert_int_equal(atomic_load(&ls.calls), 2);
	assert_int_equal(touch(c, 5, &ls), 0);
	assert_int_equal(atomic_load(&ls.calls), 2);
	chunk_cache_free(c);
}


static void test_bad_loader_length(void **state)
{
	(void)state;
	struct chunk_cache *c = chunk_cache_new(8 * CHUNK, CHUNK);
	struct chunk *ch;
	assert_int_equal(chunk_cache_get(c, 1, bad_loader, NULL, &ch),
			 -EOVERFLOW);
	assert_null(ch);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.cur_bytes, 0);
	chunk_cache_free(c);
}

/* Keys built the way fs/vfs.c builds them (file index << 48 | byte offset)
 * differ only in their high bits or by a few low ones; each must stay its
 * own chunk, and every one must still be cached on a second pass. */
static void test_structured_keys(void **state)
{
	(void)state;
	enum { FILES = 4, PER_FILE = 512 };
	struct loader_state ls = {0};
	struct chunk_cache *c = chunk_cache_new(FILES * PER_FILE * CHUNK, CHUNK);
	assert_non_null(c);
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t f = 0; f < FILES; f++)
			for (uint64_t i = 0; i < PER_FILE; i++)
				assert_int_equal(touch(c, f << 48 | i * 32, &ls), 0);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.misses, FILES * PER_FILE);
	assert_int_equal(s.hits, FILES * PER_FILE);
	assert_int_equal(s.entries, FILES * PER_FILE);
	assert_int_equal(atomic_load(&ls.calls), FILES * PER_FILE);
	chunk_cache_free(c);
}

/* After a clear nothing is served from before it: every get loads again. */
static void test_clear(void **state)
{
	(void)state;
	struct loader_state ls = {0};
	struct chunk_cache *c = chunk_cache_new(64 * CHUNK, CHUNK);
	for (uint64_t k = 1; k <= 8; k++)
		assert_int_equal(touch(c, k, &ls), 0);
	chunk_cache_clear(c);
	struct chunk_cache_stats s;
	chunk_cache_stats(c, &s);
	assert_int_equal(s.entries, 0);
	assert_int_equal(s.cur_bytes, 0);
	assert_int_equal(s.misses, 8); /* counters kept */
	for (uint64_t k = 1; k <= 8; k++)
		assert_int_equal(touch(c, k, &ls), 0);
	chunk_cache_stats(c, &s);
	assert_int_equal(s.misses, 16);
	assert_int_equal(s.hits, 0);
	assert_int_equal(atomic_load(&ls.calls), 16);
	chunk_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hits_and_misses),
		cmocka_unit_test(test_lru_order),
		cmocka_unit_test(test_budget_never_exceeded),
		cmocka_unit_test(test_short_chunks_shrunk),
		cmocka_unit_test(test_sized_gets),
		cmocka_unit_test(test_pinned_never_evicted),
		cmocka_unit_test(test_full_of_pins_waits),
		cmocka_unit_test(test_budget_smaller_than_chunk),
		cmocka_unit_test(test_threads_hammer),
		cmocka_unit_test(test_coalescing),
		cmocka_unit_test(test_error_propagates_and_retries),
		cmocka_unit_test(test_bad_loader_length),
		cmocka_unit_test(test_structured_keys),
		cmocka_unit_test(test_clear),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
