/* srcdrop.h - keep the model in memory once: drop source pages once used.
 *
 * Serving model.gguf copies or converts source bytes into replies that the
 * kernel keeps in the mount's page cache; the source pages the daemon read
 * are then a second copy. gg_srcdrop counts, per 2 MiB block of each source
 * file, the source bytes that output tensors have consumed, and once every
 * byte the plans read from a block has been consumed, drops the block from
 * the page cache (MADV_DONTNEED on the daemon's mapping, then
 * POSIX_FADV_DONTNEED). Blocks, not pages: ext4 caches files in large
 * folios (up to 2 MiB), and a folio that a range only partly covers is not
 * dropped at all.
 *
 * Dropping never changes a byte served: a dropped page is read again from
 * the file when needed. Counting is exact for byte copies and for tensors
 * read through a contiguous view (dtype conversions); a tensor read through
 * any other view (permutation, transpose, slice) counts its sources whole
 * once all of its output bytes have been produced. Bytes consumed twice
 * (a chunk loaded again, tensors/ files beside model.gguf) only make a
 * block drop early; after each drop the block's count restarts, so a second
 * full pass drops again.
 *
 * Thread-safe (atomic counters); costs one atomic add per block touched.
 */
#ifndef GGUFFS_SRCDROP_H
#define GGUFFS_SRCDROP_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "safetensors.h"

#define GG_SRCDROP_BLOCK (2u << 20)

struct gg_srcdrop;

struct gg_srcdrop_stats {
	uint64_t blocks;        /* blocks that hold bytes some plan reads */
	uint64_t drops;         /* blocks dropped (a block may drop again) */
	uint64_t bytes_dropped; /* bytes of the ranges dropped */
};

/* Counters for the sources of set, expecting the reads of every tensor of
 * files[0..nfiles) whose sources are in set (others are ignored). Aborts
 * on out-of-memory, like gg_malloc. */
struct gg_srcdrop *gg_srcdrop_new(const struct st_set *set,
				  const struct gg_outfile *files,
				  size_t nfiles);
void gg_srcdrop_free(struct gg_srcdrop *d);

/* Bytes [off, off+len) of tensor t of f were produced once (copied into
 * a reply or materialised into a chunk). Drops the blocks this completes.
 * d NULL, or f not one of the files given to gg_srcdrop_new: no-op. */
void gg_srcdrop_consumed(struct gg_srcdrop *d, const struct gg_outfile *f,
			 const struct gg_tensor *t, uint64_t off, uint64_t len);

void gg_srcdrop_stats_get(const struct gg_srcdrop *d,
			  struct gg_srcdrop_stats *out);

#endif
