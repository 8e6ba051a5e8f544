/* store.h - an on-disk store of computed chunks (-o cache_dir=).
 *
 * One file per chunk, named by its 128-bit key (dir/xx/<32 hex>.chunk),
 * holding a header (magic, key, length, XXH3 of the header and of the
 * payload) and the payload. A chunk is served only when every check passes;
 * a file that is corrupt, truncated, of another key or another format is
 * removed and the chunk counts as a miss (the caller recomputes and puts
 * it again). Writes go to a temporary file renamed into place, so any
 * number of processes may share one directory: a reader sees a whole old
 * file or a whole new one.
 *
 * Bounded: the files' total size is kept under the budget by removing the
 * least recently used ones (a hit refreshes a file's mtime; eviction scans
 * the directory, so it also counts what other processes wrote).
 *
 * Thread-safe. Nothing here decides what a key means: callers build keys
 * from everything a chunk's bytes depend on (fingerprint.h).
 */
#ifndef GGUFFS_STORE_H
#define GGUFFS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct chunk_store;

struct chunk_store_key {
	uint8_t b[16];
};

struct chunk_store_stats {
	uint64_t hits, misses;
	uint64_t bad_files;    /* corrupt, truncated or foreign files removed */
	uint64_t writes, write_errors;
	uint64_t evictions;    /* files removed to stay within the budget */
	uint64_t bytes;        /* the directory's size at the last count */
	uint64_t budget;
};

/* Open (creating it and its parents if needed) dir as a store of at most
 * budget bytes (> 0). Leftover temporary files of dead processes are
 * removed, and files beyond the budget evicted. */
int chunk_store_open(const char *dir, uint64_t budget, struct chunk_store **out,
		     gg_err *e);
void chunk_store_close(struct chunk_store *s);

/* Fill buf with the len bytes stored under k. 0 on a hit; -1 on a miss
 * (absent, or a bad file, which is removed). */
int chunk_store_get(struct chunk_store *s, const struct chunk_store_key *k,
		    void *buf, size_t len);

/* Keep buf[0..len) under k (best effort: a failed write is counted, never
 * reported, and leaves no partial file). */
void chunk_store_put(struct chunk_store *s, const struct chunk_store_key *k,
		     const void *buf, size_t len);

void chunk_store_stats(struct chunk_store *s, struct chunk_store_stats *out);

#endif
