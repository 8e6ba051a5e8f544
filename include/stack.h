/* stack.h - stacking per-expert source tensors, in numeric order of their
 * index, into one output tensor per block (lazily: the output is a
 * multi-source plan tensor, so a read touches only the experts it covers).
 *
 * A rule names the members by a pattern over the SOURCE names, with two
 * '#': the block, then the index to stack by; the output name has one %u
 * for the block:
 *
 *   static const struct gg_stack_rule qwen3moe_experts[] = {
 *       { "model.layers.#.mlp.experts.#.gate_proj.weight", "blk.%u.ffn_gate_exps.weight" },
 *       ...
 *   };
 *
 * Each output is [n_index, <member shape>] (ne {member ne..., n_index}),
 * typed like its first member (Ollama's mergeTensors), members checked to
 * be one shape and dtype. A block whose members are all absent is a dense
 * block and gets no tensor; one missing some members is refused, as are an
 * index >= n_index, a non-numeric index, and two members with one index.
 * Not thread-safe; freed with gg_stacker_free.
 */
#ifndef GGUFFS_STACK_H
#define GGUFFS_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"

struct gg_stack_rule {
	const char *src; /* source-name pattern with two '#' (block, index) */
	const char *dst; /* output name, one %u for the block */
};

struct gg_stacker;

/* n_blocks blocks of n_index members each; count_key names n_index in
 * messages ("num_experts"). Blocks >= n_blocks are left to the caller
 * (gg_stacker_offer returns 0 for them). Fails when the table would be
 * absurdly large. */
struct gg_stacker *gg_stacker_new(const struct gg_stack_rule *rules, size_t nrules,
				  uint32_t n_blocks, uint32_t n_index,
				  const char *count_key, const char *dir, gg_err *e);
void gg_stacker_free(struct gg_stacker *s);

/* 1 when st is a member (kept for gg_stacker_emit), 0 when it is not,
 * -1 (with e) when it looks like one but cannot be one. */
int gg_stacker_offer(struct gg_stacker *s, const struct st_tensor *st, gg_err *e);

/* Add the stacked tensors of every block, rule by rule, to f. */
int gg_stacker_emit(struct gg_stacker *s, struct gg_outfile *f, gg_err *e);

#endif
