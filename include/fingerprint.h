/* fingerprint.h - a 128-bit digest of everything a tensor's bytes depend
 * on, so computed chunks can be kept on disk (store.h) and found again by a
 * later mount only while they are still right.
 *
 * It covers the output type, the type the values pass through, the op, the
 * shape, the view, and each source: its name, type, size and position and
 * the identity of its file (path, device, inode, size, mtime, ctime), or
 * the bytes of a synthetic source; plus gguffs's version and a format
 * number. A change of any of these (a rewritten shard, another -o type=,
 * another profile that changes a view, a new gguffs) gives another
 * fingerprint.
 *
 * Pure; thread-safe.
 */
#ifndef GGUFFS_FINGERPRINT_H
#define GGUFFS_FINGERPRINT_H

#include <stdint.h>

#include "plan.h"
#include "safetensors.h"

struct gg_fingerprint {
	uint8_t b[16];
};

/* The fingerprint of tensor t, whose sources are in set (t's file's). */
void gg_tensor_fingerprint(const struct st_set *set, const struct gg_tensor *t,
			   struct gg_fingerprint *out);

/* The key of the chunk [off, off+len) of a tensor with fingerprint fp. */
void gg_chunk_fingerprint(const struct gg_fingerprint *fp, uint64_t off,
			  uint64_t len, struct gg_fingerprint *out);

#endif
