/* ftype.h - output file types (-o type=) and llama-quantize's choice of
 * each tensor's type.
 *
 * A file type is a llama_ftype value (the number llama-quantize writes as
 * general.file_type). gg_ftype_tensor_types chooses every tensor's type
 * for a quantized file type exactly as llama_model_quantize does without
 * an importance matrix (llama-quant.cpp of the bundled release): which
 * tensors are never quantized, the output / token_embd types (tied or
 * not), the attn_v / ffn_down / attn_output bumps by layer index, layer
 * count, GQA and expert count, the 70B rule, and the fallbacks when a row
 * is not a multiple of the block size. The rules read only GGUF tensor
 * names, shapes and a few KVs, so they hold for every architecture.
 *
 * Pure functions; thread-safe.
 */
#ifndef GGUFFS_FTYPE_H
#define GGUFFS_FTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "gguf.h"
#include "util.h"

enum gg_ftype {
	GG_FTYPE_F32 = 0,
	GG_FTYPE_F16 = 1,
	GG_FTYPE_Q4_0 = 2,
	GG_FTYPE_Q4_1 = 3,
	GG_FTYPE_Q8_0 = 7,
	GG_FTYPE_Q5_0 = 8,
	GG_FTYPE_Q5_1 = 9,
	GG_FTYPE_Q2_K = 10,
	GG_FTYPE_Q3_K_S = 11,
	GG_FTYPE_Q3_K_M = 12,
	GG_FTYPE_Q3_K_L = 13,
	GG_FTYPE_Q4_K_S = 14,
	GG_FTYPE_Q4_K_M = 15,
	GG_FTYPE_Q5_K_S = 16,
	GG_FTYPE_Q5_K_M = 17,
	GG_FTYPE_Q6_K = 18,
	GG_FTYPE_BF16 = 32,
	/* MXFP4 experts kept, the rest F16/BF16 (gpt-oss): what
	 * convert_hf_to_gguf writes for MXFP4 checkpoints; not a type= value */
	GG_FTYPE_MXFP4_MOE = 38,
};

/* Parse a type= value, case-insensitively: F32, F16, BF16 and the
 * llama-quantize file types Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M
 * Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K (and llama-quantize's aliases
 * Q3_K, Q4_K, Q5_K for the _M types). Anything else (a type needing an
 * importance matrix, one gguffs does not produce, an unknown name) fails
 * with one line that says why and lists the valid names. */
int gg_ftype_parse(const char *name, enum gg_ftype *out, gg_err *e);

/* Canonical name ("Q4_K_M", "BF16", ...); NULL for a value not above. */
const char *gg_ftype_name(enum gg_ftype f);

/* True for the quantized file types (not F32/F16/BF16). */
bool gg_ftype_is_quantized(enum gg_ftype f);

/* The type llama-quantize starts every quantizable tensor from (Q4_K for
 * Q4_K_M, F16 for F16, ...). */
enum gg_type gg_ftype_base_type(enum gg_ftype f);

/* The model facts the rules read, as llama.cpp's loader reads them. */
struct gg_qmodel {
	char arch[64];          /* general.architecture */
	uint32_t n_layer;       /* {arch}.block_count (all blocks) */
	uint32_t n_layer_nextn; /* {arch}.nextn_predict_layers */
	uint32_t n_head;        /* {arch}.attention.head_count (layer 0) */
	uint32_t n_head_kv;     /* {arch}.attention.head_count_kv, else n_head */
	uint32_t n_expert;      /* {arch}.expert_count */
};

/* Fill m from a file's KVs; fails (naming `what`) when the architecture
 * or the block count is missing. */
int gg_qmodel_from_kvs(const struct gguf_kvs *kvs, struct gg_qmodel *m,
		       const char *what, gg_err *e);

/* One tensor as the rules see it: GGUF name, dims (ne, innermost first),
 * current type. */
struct gg_qtensor {
	const char *name;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	enum gg_type type;
};

/* True when llama-quantize may change t's type at all (2-D or 3-D,
 * name ending "weight", not a norm, router, positional table, ...). */
bool gg_qtensor_quantizable(const struct gg_qtensor *t);

/* The type of each of the n tensors (in any order: the rules walk them in
 * llama-quantize's order, non-block tensors by name, then blocks by layer
 * and name) under a quantized file type f. types[i] is tensors[i]'s type.
 * Fails, as llama_model_quantize would, when a tensor's layer cannot be
 * read from an expert model's tensor name or is out of range, or when a
 * tensor already in a block type would have to be requantized. */
int gg_ftype_tensor_types(const struct gg_qmodel *m, enum gg_ftype f,
			  const struct gg_qtensor *tensors, size_t n,
			  enum gg_type *types, gg_err *e);

/* general.file_type of an unquantized output file, as convert_hf_to_gguf's
 * --outtype auto writes it: from the type of its first tensor of two or
 * more dimensions that is not F32, BF16 for BF16 and F16 for anything
 * else; F32 when every such tensor is F32; MXFP4_MOE when a tensor is
 * MXFP4 (experts repacked from an MXFP4 checkpoint). The one place that
 * computes it (the llamacpp profile; Ollama's converter always writes F16). */
struct gg_outfile;
enum gg_ftype gg_ftype_of_outfile(const struct gg_outfile *f);

#endif
