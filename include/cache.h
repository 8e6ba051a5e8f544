/* cache.h - LRU cache of materialised chunks of computed tensors.
 *
 * Contract (squashfuse-style):
 * - A chunk is identified by a 64-bit key that the caller must make
 *   injective: two different chunks never share a key (gguffs packs the
 *   output file index and the chunk's byte offset in that file; a hash
 *   would let two chunks serve each other's bytes on a collision). Keys
 *   need not be mixed: the cache hashes them into its buckets itself.
 *   Chunks are at most chunk_size bytes.
 * - chunk_cache_get returns a pinned chunk: its bytes stay valid and
 *   unchanged until chunk_cache_put. Pinned chunks are never evicted.
 * - Concurrent gets of one key that is not yet cached are coalesced: one
 *   caller runs the loader, the others wait for its result (and share an
 *   error if it fails: the failed entry is then dropped, so a later get
 *   retries).
 * - Memory is accounted as the bytes allocated for chunks: a load reserves
 *   chunk_size (or the size given to chunk_cache_get_sized), and a chunk
 *   that turns out much shorter is shrunk to its length. Unpinned chunks are evicted least-recently-used first whenever
 *   the bytes held would exceed the budget. The budget is a hard cap: a
 *   miss that finds everything pinned waits until a chunk is released,
 *   except when the cache holds nothing at all (so a chunk larger than the
 *   budget still loads). Hence a caller must not hold a pin while getting
 *   another key, or it may wait for itself.
 * - Errors follow the serve path (util.h): -ENOMEM or the loader's
 *   negative errno, never an abort.
 * - Thread-safe; loaders run without the cache lock held, and buffers of
 *   evicted chunks are reused for new loads (no allocation once full).
 */
#ifndef GGUFFS_CACHE_H
#define GGUFFS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct chunk_cache;

struct chunk {
	uint64_t key;
	uint8_t *data;
	size_t len;
	/* private */
	void *priv;
};

/* Fill buf (capacity cap) with the chunk's bytes; set *len. Return 0 or a
 * negative errno. */
typedef int (*chunk_loader_fn)(uint64_t key, void *buf, size_t cap, size_t *len,
			       void *arg);

/* hits + misses + coalesced = number of gets. A coalesced get waited for
 * another caller's load of the same key (counted neither hit nor miss). */
struct chunk_cache_stats {
	uint64_t hits, misses, evictions, coalesced;
	uint64_t load_errors;
	uint64_t bytes_loaded; /* bytes materialised by loaders */
	uint64_t cur_bytes, peak_bytes, budget;
	uint64_t entries;
	uint64_t chunk_size;
};

/* A cache holding at most budget_bytes of chunks of at most chunk_size
 * bytes each (chunk_size > 0). Returns NULL on allocation failure. */
struct chunk_cache *chunk_cache_new(size_t budget_bytes, size_t chunk_size);
/* Free everything. No chunk may be pinned and no get may be running. */
void chunk_cache_free(struct chunk_cache *c);
/* Drop every chunk, keeping the counters: what the keys named has been
 * replaced (a model reloaded), so no chunk may be served again. Same
 * precondition as chunk_cache_free. */
void chunk_cache_clear(struct chunk_cache *c);

/* Get key, loading it with loader(key, ..., arg) on a miss. On success
 * *out is a pinned chunk and 0 is returned; else a negative errno (the
 * loader's, or -ENOMEM). */
int chunk_cache_get(struct chunk_cache *c, uint64_t key, chunk_loader_fn loader,
		    void *arg, struct chunk **out);
/* The same, for a chunk known to hold at most want bytes (0 < want <=
 * chunk_size): its buffer, its share of the budget and the loader's cap
 * are want bytes (rounded up to a page for big buffers) instead of
 * chunk_size. -EINVAL for a want out of range. */
int chunk_cache_get_sized(struct chunk_cache *c, uint64_t key, size_t want,
			  chunk_loader_fn loader, void *arg, struct chunk **out);
/* Unpin a chunk obtained from chunk_cache_get. */
void chunk_cache_put(struct chunk_cache *c, struct chunk *ch);

/* A consistent snapshot of the counters. */
void chunk_cache_stats(struct chunk_cache *c, struct chunk_cache_stats *out);

#endif
