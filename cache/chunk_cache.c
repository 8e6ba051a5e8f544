/* chunk_cache.c - LRU cache of materialised chunks (contract in cache.h).
 *
 * One mutex guards everything; it is never held while a loader runs or
 * while a buffer is allocated or freed, so the critical sections are a few
 * pointer updates. Entries live in a chained hash table; the bucket of a
 * key is taken from an XXH3 of it, so callers may use plain structured
 * keys (file index and offset) and still get short chains. Only entries that are loaded and
 * unpinned sit on the LRU list, so eviction pops the list's tail in O(1)
 * and can never meet a pinned chunk. One condition variable serves both
 * kinds of waiters (a load finishing, room being released): both are rare,
 * so a broadcast is cheaper than per-entry condition variables.
 *
 * Chunk buffers of MAP_MIN bytes or more are mapped directly rather than
 * malloc'd: buffers of evicted chunks are recycled for loads of the same
 * size, so mapping is rare, and unmapping a dropped one gives its memory
 * back at once. The daemon's RSS thus follows the budget instead of
 * malloc arenas keeping freed chunks in fragments. Sizes are known before
 * loading (chunk_cache_get_sized), so the short last chunk of a tensor
 * gets a buffer of its own size.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <xxhash.h>

#include "cache.h"

enum entry_state { E_LOADING, E_READY, E_FAILED };

struct entry {
	struct chunk ch;            /* ch.priv points back here */
	size_t cap;                 /* bytes allocated and accounted */
	unsigned pins;
	enum entry_state state;
	int err;                    /* E_FAILED: the loader's error */
	struct entry *hnext;        /* hash chain */
	struct entry *prev, *next;  /* LRU list (E_READY && pins == 0 only) */
};

struct chunk_cache {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t budget, chunk_size;
	struct entry **buckets;
	size_t nbuckets;            /* power of two */
	size_t nentries;
	struct entry lru;           /* sentinel: next = newest, prev = oldest */
	unsigned room_waiters;      /* gets waiting for a chunk to be unpinned */
	struct chunk_cache_stats st;
};

/* A chunk shorter than this fraction of its buffer is copied into a buffer
 * of its own size, so that chunks of unknown size do not each cost a full
 * chunk of the budget. */
#define SHRINK_DIVISOR 2
/* Buffers this big or bigger are mmap'd (see the top of the file). */
#define MAP_MIN (64u << 10)
#define PAGE 4096u

/* ---- hash table ---- */

/* Bucket of key in a table of n (a power of two) buckets. */
static size_t slot_of(uint64_t key, size_t n)
{
	return (size_t)XXH3_64bits(&key, sizeof key) & (n - 1);
}

static struct entry **bucket_of(struct chunk_cache *c, uint64_t key)
{
	return &c->buckets[slot_of(key, c->nbuckets)];
}

static struct entry *hash_find(struct chunk_cache *c, uint64_t key)
{
	for (struct entry *e = *bucket_of(c, key); e; e = e->hnext)
		if (e->ch.key == key)
			return e;
	return NULL;
}

/* Double the table when it gets crowded; failure to grow only costs
 * longer chains, so it is ignored. */
static void hash_maybe_grow(struct chunk_cache *c)
{
	if (c->nentries < c->nbuckets)
		return;
	size_t n = c->nbuckets * 2;
	struct entry **b = calloc(n, sizeof *b);
	if (!b)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct entry *e = c->buckets[i], *next;
		for (; e; e = next) {
			next = e->hnext;
			struct entry **head = &b[slot_of(e->ch.key, n)];
			e->hnext = *head;
			*head = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->nbuckets = n;
}

static void hash_insert(struct chunk_cache *c, struct entry *e)
{
	hash_maybe_grow(c);
	struct entry **head = bucket_of(c, e->ch.key);
	e->hnext = *head;
	*head = e;
	c->nentries++;
}

static void hash_remove(struct chunk_cache *c, struct entry *e)
{
	for (struct entry **p = bucket_of(c, e->ch.key); *p; p = &(*p)->hnext) {
		if (*p == e) {
			*p = e->hnext;
			c->nentries--;
			return;
		}
	}
}

/* ---- LRU list ---- */

static void lru_push_front(struct chunk_cache *c, struct entry *e)
{
	e->prev = &c->lru;
	e->next = c->lru.next;
	c->lru.next->prev = e;
	c->lru.next = e;
}

static void lru_remove(struct entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static bool lru_empty(const struct chunk_cache *c)
{
	return c->lru.next == &c->lru;
}

/* ---- accounting ---- */

static void account_add(struct chunk_cache *c, size_t n)
{
	c->st.cur_bytes += n;
	if (c->st.cur_bytes > c->st.peak_bytes)
		c->st.peak_bytes = c->st.cur_bytes;
}

/* Unlink the least recently used unpinned chunk and return it (the caller
 * frees or reuses it after dropping the lock). */
static struct entry *evict_one(struct chunk_cache *c)
{
	struct entry *e = c->lru.prev;
	lru_remove(e);
	hash_remove(c, e);
	c->st.cur_bytes -= e->cap;
	c->st.evictions++;
	e->hnext = NULL;
	return e;
}

/* Bytes allocated (and accounted) for a buffer holding n bytes. */
static size_t buf_cap(size_t n)
{
	if (n >= MAP_MIN)
		return (n + PAGE - 1) / PAGE * PAGE;
	return n ? n : 1;
}

/* A buffer of cap bytes (a value of buf_cap). */
static void *buf_new(size_t cap)
{
	if (cap < MAP_MIN)
		return malloc(cap);
	void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, cap, MADV_HUGEPAGE); /* fewer faults; a hint only */
	return p;
}

static void buf_free(void *p, size_t cap)
{
	if (!p)
		return;
	if (cap < MAP_MIN)
		free(p);
	else
		munmap(p, cap);
}

static void entries_free(struct entry *list)
{
	while (list) {
		struct entry *next = list->hnext;
		buf_free(list->ch.data, list->cap);
		free(list);
		list = next;
	}
}

/* ---- public API ---- */

struct chunk_cache *chunk_cache_new(size_t budget_bytes, size_t chunk_size)
{
	if (chunk_size == 0)
		return NULL;
	struct chunk_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->nbuckets = 256;
	c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->budget = budget_bytes;
	c->chunk_size = chunk_size;
	c->lru.next = c->lru.prev = &c->lru;
	c->st.budget = budget_bytes;
	c->st.chunk_size = chunk_size;
	return c;
}

void chunk_cache_clear(struct chunk_cache *c)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nbuckets; i++) {
		entries_free(c->buckets[i]);
		c->buckets[i] = NULL;
	}
	c->nentries = 0;
	c->lru.next = c->lru.prev = &c->lru;
	c->st.cur_bytes = 0;
	pthread_mutex_unlock(&c->mu);
}

void chunk_cache_free(struct chunk_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nbuckets; i++)
		entries_free(c->buckets[i]);
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

/* Wait (lock held) for the load of e to finish and return its outcome,
 * dropping the pin the waiter took if the load failed. */
static int wait_for_load(struct chunk_cache *c, struct entry *e)
{
	while (e->state == E_LOADING)
		pthread_cond_wait(&c->cv, &c->mu);
	if (e->state == E_READY)
		return 0;
	int err = e->err;
	if (--e->pins == 0)
		free(e); /* its buffer was freed by the loader */
	return err;
}

/* Make room (lock held) for a buffer of cap bytes by evicting unpinned
 * chunks; victims are chained on *victims for the caller to reuse or free
 * unlocked. Returns false when the room cannot be made now because
 * everything held is pinned (the caller then waits). */
static bool make_room(struct chunk_cache *c, size_t cap, struct entry **victims)
{
	while (c->st.cur_bytes + cap > c->budget && !lru_empty(c)) {
		struct entry *v = evict_one(c);
		v->hnext = *victims;
		*victims = v;
	}
	return c->st.cur_bytes + cap <= c->budget || c->st.cur_bytes == 0;
}

/* Take a victim whose buffer holds at least cap bytes out of *victims (to
 * reuse it whole, at its own size, when the budget has room for that), or
 * NULL. Without this, the
 * short last chunk of every tensor made buffers of two sizes alternate,
 * and each mismatch mapped and zeroed fresh memory. */
static struct entry *take_reusable(const struct chunk_cache *c,
				   struct entry **victims, size_t cap)
{
	for (struct entry **p = victims; *p; p = &(*p)->hnext) {
		size_t have = (*p)->cap;
		/* make_room found room for cap; a larger buffer needs its own. */
		bool fits = have == cap ||
			    (have > cap && c->st.cur_bytes + have <= c->budget);
		if (fits && (have >= MAP_MIN) == (cap >= MAP_MIN)) {
			struct entry *e = *p;
			*p = e->hnext;
			return e;
		}
	}
	return NULL;
}

/* Finish a load (lock held): publish the chunk, or drop the failed entry
 * and hand its buffer back to the caller to free. */
static void *finish_load(struct chunk_cache *c, struct entry *e, int rc)
{
	void *garbage = NULL;
	if (rc == 0) {
		e->state = E_READY;
		c->st.bytes_loaded += e->ch.len;
	} else {
		hash_remove(c, e);
		c->st.cur_bytes -= e->cap;
		c->st.load_errors++;
		garbage = e->ch.data;
		e->ch.data = NULL;
		e->state = E_FAILED;
		e->err = rc;
	}
	if (e->pins > 1 || c->room_waiters)
		pthread_cond_broadcast(&c->cv);
	return garbage;
}

/* Run the loader for e, which may fill up to want bytes (lock NOT held).
 * Allocates the buffer if e has none and shrinks a much shorter result
 * (*new_cap is then its new size). Returns 0 or a negative errno. */
static int run_loader(struct entry *e, size_t want, chunk_loader_fn loader,
		      void *arg, size_t *new_cap)
{
	*new_cap = e->cap;
	if (!e->ch.data) {
		e->ch.data = buf_new(e->cap);
		if (!e->ch.data)
			return -ENOMEM;
	}
	size_t len = 0;
	int rc = loader(e->ch.key, e->ch.data, want, &len, arg);
	if (rc > 0)
		rc = -EIO; /* a loader must return 0 or a negative errno */
	if (rc == 0 && len > want)
		rc = -EOVERFLOW;
	if (rc)
		return rc;
	e->ch.len = len;
	size_t small_cap = buf_cap(len);
	if (len < e->cap / SHRINK_DIVISOR && small_cap < e->cap) {
		uint8_t *small = buf_new(small_cap);
		if (small) {
			memcpy(small, e->ch.data, len);
			buf_free(e->ch.data, e->cap);
			e->ch.data = small;
			*new_cap = small_cap;
		}
	}
	return 0;
}

int chunk_cache_get(struct chunk_cache *c, uint64_t key, chunk_loader_fn loader,
		    void *arg, struct chunk **out)
{
	return chunk_cache_get_sized(c, key, c->chunk_size, loader, arg, out);
}

int chunk_cache_get_sized(struct chunk_cache *c, uint64_t key, size_t want,
			  chunk_loader_fn loader, void *arg, struct chunk **out)
{
	struct entry *victims = NULL, *e;
	*out = NULL;
	if (want == 0 || want > c->chunk_size)
		return -EINVAL;
	const size_t cap = buf_cap(want);
	/* Allocated before locking: dropping the lock later to allocate
	 * would let other loads take the room make_room just found. */
	struct entry *spare = calloc(1, sizeof *spare);
	if (!spare)
		return -ENOMEM;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		e = hash_find(c, key);
		if (e && e->state == E_READY) {
			c->st.hits++;
			if (e->pins++ == 0)
				lru_remove(e);
			pthread_mutex_unlock(&c->mu);
			entries_free(victims);
			free(spare);
			*out = &e->ch;
			return 0;
		}
		if (e) { /* loading: share its result */
			c->st.coalesced++;
			e->pins++;
			int rc = wait_for_load(c, e);
			pthread_mutex_unlock(&c->mu);
			entries_free(victims);
			free(spare);
			if (rc == 0)
				*out = &e->ch;
			return rc;
		}
		if (make_room(c, cap, &victims))
			break;
		c->room_waiters++;
		pthread_cond_wait(&c->cv, &c->mu);
		c->room_waiters--;
	}

	/* Miss: publish a loading entry so that other gets of key wait. */
	e = take_reusable(c, &victims, cap);
	size_t own_cap = e ? e->cap : cap;
	if (e) {
		free(spare);
	} else {
		e = spare;
	}
	e->ch.key = key;
	e->ch.priv = e;
	e->ch.len = 0;
	e->cap = own_cap;
	e->pins = 1;
	e->state = E_LOADING;
	e->err = 0;
	e->prev = e->next = NULL;
	hash_insert(c, e);
	account_add(c, e->cap);
	c->st.misses++;
	pthread_mutex_unlock(&c->mu);
	entries_free(victims);

	size_t new_cap;
	int rc = run_loader(e, want, loader, arg, &new_cap);

	pthread_mutex_lock(&c->mu);
	if (rc == 0 && new_cap != e->cap) {
		c->st.cur_bytes -= e->cap - new_cap;
		e->cap = new_cap;
	}
	size_t garbage_cap = e->cap;
	void *garbage = finish_load(c, e, rc);
	if (rc && --e->pins == 0) {
		free(e);
		e = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	buf_free(garbage, garbage_cap);
	if (rc)
		return rc;
	*out = &e->ch;
	return 0;
}

void chunk_cache_put(struct chunk_cache *c, struct chunk *ch)
{
	if (!ch)
		return;
	struct entry *e = ch->priv, *victims = NULL;
	pthread_mutex_lock(&c->mu);
	if (--e->pins == 0) {
		lru_push_front(c, e);
		/* Only an oversized chunk loaded into an empty cache can leave
		 * the cache above budget; trim it now that it is unpinned. */
		while (c->st.cur_bytes > c->budget && !lru_empty(c)) {
			struct entry *v = evict_one(c);
			v->hnext = victims;
			victims = v;
		}
		if (c->room_waiters)
			pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	entries_free(victims);
}

void chunk_cache_stats(struct chunk_cache *c, struct chunk_cache_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	out->entries = c->nentries;
	pthread_mutex_unlock(&c->mu);
}
