/* rename.h - tensor renaming with Go's strings.NewReplacer semantics, as
 * Ollama's converters rename (each converter's Replacements()).
 *
 * The input is scanned left to right; at each position the earliest-listed
 * pair whose old string matches there is replaced, and the scan goes on
 * after it (no overlaps); where nothing matches one byte is copied.
 *
 * A table may extend another: `first` is consulted before its own pairs,
 * which is Go's append(base.Replacements(), more...). Tables are constant
 * data, usually static:
 *
 *   static const char *const pairs[] = { "block_sparse_moe.gate", "ffn_gate_inp", ... };
 *   static const struct gg_renames mixtral_renames = GG_RENAMES(&llama_renames, pairs);
 */
#ifndef GGUFFS_RENAME_H
#define GGUFFS_RENAME_H

#include <stddef.h>

struct gg_renames {
	const struct gg_renames *first; /* consulted before pairs, or NULL */
	const char *const *pairs;       /* old, new, old, new, ... */
	size_t n;                       /* number of pairs */
};

#define GG_RENAMES(first, arr) { (first), (arr), sizeof(arr) / sizeof *(arr) / 2 }

/* in renamed by r; malloc'd (aborts on OOM). */
char *gg_rename(const struct gg_renames *r, const char *in);

/* The same rules compiled for renaming many names (a table per first
 * byte): build once per model. Immutable once built, so any thread may
 * apply it. */
struct gg_replacer;
struct gg_replacer *gg_replacer_new(const struct gg_renames *r);
char *gg_replacer_apply(const struct gg_replacer *rp, const char *in);
void gg_replacer_free(struct gg_replacer *rp);

#endif
