/* tensorspec.h - the tensors an architecture's llama.cpp loader creates,
 * as data, and the check of an output file against them.
 *
 * llama.cpp's loader (src/models/<arch>.cpp, load_arch_tensors) creates
 * each tensor with create_tensor(name, {ne0, ne1, ...}, flags) from
 * hyperparameters it reads from the GGUF KVs, fails on a wrong shape or a
 * missing required tensor, and fails on any tensor it did not create
 * ("wrong number of tensors"). A struct gg_tensor_spec transcribes that:
 * symbols read from the output's KVs as the loader reads them, and one
 * rule per create_tensor call. gg_spec_check then refuses, at open, a file
 * llama.cpp would refuse at load, naming the tensor:
 *   - an output tensor no rule matches: "cannot map tensor X" (X is the
 *     source tensor it came from, as convert_hf_to_gguf says it);
 *   - a shape that differs from the rule's;
 *   - a required tensor that is missing.
 *
 *   static const struct gg_tsym syms[] = {
 *       { "n_embd", "embedding_length" },
 *       { "n_head", "attention.head_count" },
 *       { "head_dim", "attention.key_length", "n_embd/n_head" },
 *       { "n_vocab", "@tokens" },
 *       ...
 *   };
 *   static const struct gg_trule rules[] = {
 *       { "token_embd.weight", "n_embd, n_vocab" },
 *       { "output.weight", "n_embd, n_vocab", GG_T_OPTIONAL },
 *       { "blk.#.attn_q.weight", "n_embd, n_head*head_dim" },
 *       { "blk.#.ffn_gate.weight", "n_embd, n_ff", 0, "n_expert == 0" },
 *       ...
 *   };
 *
 * Constant data; gg_spec_check only reads the file. Thread-safe.
 */
#ifndef GGUFFS_TENSORSPEC_H
#define GGUFFS_TENSORSPEC_H

#include <stddef.h>

#include "options.h"
#include "plan.h"

struct gg_tsym {
	const char *name; /* as shapes and conditions name it */
	/* The GGUF key it is read from, after "<arch>."; "@tokens" is the
	 * length of tokenizer.ggml.tokens (llama.cpp's n_vocab); NULL: only
	 * the default. */
	const char *key;
	const char *def;  /* expression when the key is absent; NULL: 0 */
};

/* The symbols every attention loader reads the same way, as llama.cpp's
 * llama_model_loader does: block count, embedding width, head counts
 * (KV heads default to the heads) and the head size (default
 * n_embd / n_head). */
#define GG_TSYMS_HEADS \
	{ "n_layer", "block_count", NULL }, \
	{ "n_embd", "embedding_length", NULL }, \
	{ "n_head", "attention.head_count", NULL }, \
	{ "n_head_kv", "attention.head_count_kv", "n_head" }, \
	{ "head_dim", "attention.key_length", "n_embd/n_head" }

enum {
	GG_T_OPTIONAL = 1u << 0, /* TENSOR_NOT_REQUIRED */
	GG_T_LLAMACPP = 1u << 1, /* a rule of the llamacpp profile only */
	GG_T_OLLAMA   = 1u << 2, /* ... of the ollama profiles only */
};

struct gg_trule {
	/* "blk.#.attn_q.weight": '#' stands for a block number below the
	 * block count; a final '*' matches any rest of the name. */
	const char *name;
	/* ne[] innermost first, ", " between dims, each a sum or difference
	 * of products and quotients of integers and symbols
	 * ("n_head*head_dim", "n_rot/2", "kv_lora+rope"); NULL: any shape. */
	const char *shape;
	unsigned flags;
	/* "a OP b" (OP: == != < <= > >=) over expressions (which may also
	 * take a remainder, '%') and "layer" (the block number); NULL: always. */
	const char *when;
};

struct gg_tensor_spec {
	const char *loader;          /* e.g. "qwen2", for messages */
	const char *layers;          /* the symbol holding the block count */
	const struct gg_tsym *syms;
	size_t nsyms;
	const struct gg_trule *rules;
	size_t nrules;
};

#define GG_TENSOR_SPEC(loader, layers, syms, rules) \
	{ (loader), (layers), (syms), sizeof(syms) / sizeof *(syms), \
	  (rules), sizeof(rules) / sizeof *(rules) }

/* Check every tensor of f against spec (rules active in profile p) and
 * every required tensor's presence. f->kvs must hold the architecture's
 * KVs ("<general.architecture>.<key>"). Returns 0, or -1 with e naming the
 * first offending tensor. */
int gg_spec_check(const struct gg_tensor_spec *spec, const struct gg_outfile *f,
		  enum gg_profile p, gg_err *e);

#endif
