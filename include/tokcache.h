/* tokcache.h - an on-disk cache of tokenizer metadata.
 *
 * Parsing a large tokenizer.json (Llama 3: 9 MB, 128k tokens, 280k merges)
 * is most of the time a mount takes. The KVs it produces depend only on the
 * tokenizer files and the vocabulary size, so they are kept, as a GGUF file
 * holding only KVs, under a name derived (XXH3) from the identity of every
 * tokenizer input file (device, inode, size, mtime, ctime) and the
 * vocabulary size. A file changed in any way gets a new name; stale entries
 * are never read again, so every store prunes the directory to a budget
 * ($GGUFFS_CACHE_MAX bytes, default 1 GiB), least recently used first (a hit
 * refreshes the entry's mtime), and removes temporary files of writers dead
 * for an hour. Only files named tok-* are ever removed.
 *
 * Directory: $GGUFFS_CACHE_DIR, else $XDG_CACHE_HOME/gguffs, else
 * $HOME/.cache/gguffs. GGUFFS_CACHE_DIR=off disables the cache. Every
 * failure (no home, read-only directory, a damaged entry) falls back to
 * parsing, silently: the cache can only make a mount faster. An input
 * refused by the input policy (util.h, -o allow_other) is never served
 * from the cache: the parse then refuses it with its message.
 */
#ifndef GGUFFS_TOKCACHE_H
#define GGUFFS_TOKCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"

/* If an entry exists for (dir, vocab), move its KVs into kvs and return
 * true; else leave kvs untouched and return false. */
bool tokcache_load(const char *dir, uint32_t vocab, struct gguf_kvs *kvs);

/* Store the tokenizer KVs of (dir, vocab), atomically (temporary file and
 * rename). Errors are ignored. */
void tokcache_store(const char *dir, uint32_t vocab, const struct gguf_kvs *kvs);

/* The same for a variant of the metadata (another vocabulary style, e.g.
 * "llamacpp-bpe"): a separate entry per variant name. */
bool tokcache_load_variant(const char *dir, uint32_t vocab, const char *variant,
			   struct gguf_kvs *kvs);
void tokcache_store_variant(const char *dir, uint32_t vocab, const char *variant,
			    const struct gguf_kvs *kvs);

#endif
