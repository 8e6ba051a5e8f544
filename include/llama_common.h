/* llama_common.h - the Llama family's hyperparameters, KVs, rope factors
 * and Q/K permutation, shared by the Llama, Llama 4 and Mllama converters.
 * Semantics: Ollama's convert_llama.go (llamaModel.KV, ropeFactors,
 * repack); the llamacpp profile departs only where dialects.md §1 says.
 */
#ifndef GGUFFS_LLAMA_COMMON_H
#define GGUFFS_LLAMA_COMMON_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "model.h"

struct llama_rope_scaling {
	const char *type;      /* "type" (points into the cJSON tree) */
	const char *rope_type; /* "rope_type" */
	float factor, low_freq_factor, high_freq_factor;
	uint32_t original_max_position_embeddings;
};

/* The config fields Ollama's llamaModel reads, raw (0 / NULL if absent). */
struct llama_hparams {
	uint32_t vocab_size;
	uint32_t n_layers, num_hidden_layers, n_layer;
	uint32_t max_position_embeddings, n_ctx;
	uint32_t hidden_size, n_embd;
	uint32_t intermediate_size, n_inner;
	uint32_t num_attention_heads, n_head;
	uint32_t num_key_value_heads;
	uint32_t head_dim;
	float rope_theta;
	float rms_norm_eps, layer_norm_eps, layer_norm_epsilon, norm_epsilon;
	struct llama_rope_scaling rope_scaling;
};

/* Read the fields from a config object (config.json or its text_config).
 * Wrong JSON types fail with "<file>: <key>: expected ...". */
int llama_hparams_parse(const cJSON *obj, const char *file,
			struct llama_hparams *hp, gg_err *e);

/* Write <arch>.* KVs as llamaModel.KV does (arch "llama", "llama4", ...). */
void llama_write_kv(struct gguf_kvs *kv, const char *arch,
		    const struct llama_hparams *hp, enum gg_profile profile);

/* The rope_freqs.weight values for rope_type "llama3" (float64 wavelengths
 * as Ollama computes them). dim is the rotary dimension. Returns the count
 * (dim / 2) written to out (capacity dim / 2), or 0 when not applicable. */
uint32_t llama_rope_factors(const struct llama_hparams *hp, uint32_t dim,
			    float *out);

/* Add rope_freqs.weight when the config asks for llama3 rope scaling. */
void llama_add_rope_freqs(struct gg_outfile *f, const struct llama_hparams *hp,
			  enum gg_profile profile);

/* Apply the rotary row permutation to attn_q/attn_k weights (suffixes
 * attn_q.weight, attn_k.weight, attn_q_proj.weight, attn_k_proj.weight)
 * and, in the llamacpp profile, to attn_q.bias/attn_k.bias. */
int llama_permute_qk(struct gg_outfile *f, const struct llama_hparams *hp,
		     enum gg_profile profile, gg_err *e);

/* Ollama's llama tensor renames (pairs for gg_rename). */
extern const char *const llama_renames[];
extern const size_t llama_nrenames;

#endif
