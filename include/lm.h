/* lm.h - the builder of a Llama-like causal LM: one model.gguf of renamed
 * source tensors, optionally experts stacked by index, Q/K permuted, a
 * rope_freqs tensor, and the KVs of a hyperparameter table; checked against
 * llama.cpp's loader (tensorspec.h).
 *
 * A converter for such an architecture is a description and one call:
 *
 *   static const struct gg_lm qwen3 = {
 *       .arch = "qwen3", .renames = &qwen3_renames,
 *       .hparams = qwen3_hparams, .nhparams = COUNT(qwen3_hparams),
 *       .spec = &qwen3_spec, .no_ollama = "...",
 *   };
 *   static int build_qwen3(struct gg_build *b) { return gg_lm_build(b, &qwen3); }
 *
 * Hooks cover what a table cannot say (a family reading its own table, a
 * refusal that compares values, KVs computed from several values).
 */
#ifndef GGUFFS_LM_H
#define GGUFFS_LM_H

#include "hparams.h"
#include "model.h"
#include "stack.h"

enum {
	GG_LM_PERMUTE_QK     = 1u << 0, /* Llama's rotary Q/K permutation */
	GG_LM_ROPE_FREQS     = 1u << 1, /* rope_freqs.weight for llama3 rope scaling */
	GG_LM_DROP_INV_FREQ  = 1u << 2, /* llamacpp: drop legacy rotary_emb.inv_freq */
};

enum gg_lm_vocab {
	GG_LM_VOCAB_OLLAMA = 0, /* tokenizer.h's, as Ollama builds it */
	/* gpt2: tokenizer.h's retyped as convert_hf_to_gguf's gpt2 path
	 * (tok_llamacpp_retype_bpe: padding UNUSED, special-looking added
	 * tokens CONTROL), as cheap as the cached KVs */
	GG_LM_VOCAB_BPE,
	/* SentencePiece: tokenizer.model as tokenizer.h reads it; without one,
	 * a byte-fallback BPE tokenizer.json as a SentencePiece vocabulary
	 * (tok_llamacpp.h TOK_STYLE_SPM_JSON) */
	GG_LM_VOCAB_SPM,
};

struct gg_lm {
	const char *arch;                 /* general.architecture */
	const struct gg_renames *renames;
	const struct gg_hparam *hparams;  /* read from config.json ... */
	size_t nhparams;
	/* ... or by this (then hparams, if any, are added after it) */
	int (*read_hp)(struct gg_build *b, struct gg_hp *hp, enum gg_profile p);
	/* Refusals the table cannot express; NULL: none. */
	int (*check)(struct gg_build *b, const struct gg_hp *hp, enum gg_profile p);
	/* The arch KVs; NULL: gg_hp_write_kv. */
	void (*write_kv)(const struct gg_build *b, struct gguf_kvs *kv, const char *arch,
			 const struct gg_hp *hp, enum gg_profile p);
	/* The vocabulary in the llamacpp profile (the ollama profiles keep
	 * tokenizer.h's, Ollama's). */
	enum gg_lm_vocab vocab;
	const struct gg_stack_rule *stacks; /* expert stacking, or NULL */
	size_t nstacks;
	const char *n_experts;            /* hyperparameter holding the expert count */
	const struct gg_tensor_spec *spec;
	unsigned flags;
	/* Ollama's converter has no case for this class: in the ollama
	 * profiles the llamacpp output is given and the model carries this
	 * notice. NULL: Ollama converts it. */
	const char *no_ollama;
};

int gg_lm_build(struct gg_build *b, const struct gg_lm *lm);

#endif
