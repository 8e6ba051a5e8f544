/* llama_common.h - the Llama family's hyperparameters, KVs, rope factors,
 * Q/K permutation, renames and llama.cpp tensor spec, shared by the Llama,
 * Mistral, Mixtral, Llama 4 and Mllama converters.
 * Semantics: Ollama's convert_llama.go (llamaModel.KV, ropeFactors,
 * repack); the llamacpp profile departs only where dialects.md §1 says.
 */
#ifndef GGUFFS_LLAMA_COMMON_H
#define GGUFFS_LLAMA_COMMON_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "hparams.h"
#include "model.h"

/* The config fields Ollama's llamaModel reads, as a hyperparameter table
 * (hparams.h); names: vocab_size, n_layer, n_ctx, n_embd, n_ff, n_head,
 * n_head_kv, head_dim, rope_theta, rms_eps, norm_eps, hidden_size and
 * num_attention_heads (the raw keys some Ollama rules use), and
 * rope_scaling.{type, rope_type, factor, low_freq_factor,
 * high_freq_factor, original_max_position_embeddings}. */
extern const struct gg_hparam llama_hparams[];
extern const size_t llama_nhparams;

/* Read llama_hparams from obj (config.json or its text_config; prefix for
 * messages, e.g. "text_config.") and check what the family needs: heads
 * divisible by KV heads, a whole head size. On failure hp is freed. */
int llama_hp_read(struct gg_hp *hp, const cJSON *obj, const char *file,
		  const char *prefix, enum gg_profile p, gg_err *e);

/* Write <arch>.* KVs as llamaModel.KV does (arch "llama", "llama4", ...). */
void llama_write_kv(struct gguf_kvs *kv, const char *arch, const struct gg_hp *hp,
		    enum gg_profile profile);

/* What the llama3 rope factors depend on (Ollama's llamaModel fields). */
struct llama_rope {
	uint32_t hidden_size, num_attention_heads;
	float rope_theta;
	const char *rope_type; /* rope_scaling.rope_type */
	float factor, low_freq_factor, high_freq_factor;
	uint32_t original_max_position_embeddings;
};

/* The rope_freqs.weight values for rope_type "llama3" (float64 wavelengths
 * as Ollama computes them). dim is the rotary dimension. Returns the count
 * (dim / 2) written to out (capacity dim / 2), or 0 when not applicable. */
uint32_t llama_rope_factors(const struct llama_rope *r, uint32_t dim, float *out);

/* Add rope_freqs.weight when the config asks for llama3 rope scaling. */
int llama_add_rope_freqs(struct gg_outfile *f, const struct gg_hp *hp,
			 enum gg_profile profile, gg_err *e);

/* Apply the rotary row permutation to attn_q/attn_k weights (suffixes
 * attn_q.weight, attn_k.weight, attn_q_proj.weight, attn_k_proj.weight)
 * and, in the llamacpp profile, to attn_q.bias/attn_k.bias. */
int llama_permute_qk(struct gg_outfile *f, const struct gg_hp *hp,
		     enum gg_profile profile, gg_err *e);

/* Ollama's llama tensor renames, and the projections' part of them. */
extern const struct gg_renames llama_renames, llama_proj_renames;

/* llama.cpp's llama loader (src/models/llama.cpp): dense or MoE blocks. */
extern const struct gg_tensor_spec llama_spec;

#endif
