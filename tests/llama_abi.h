/* llama_abi.h - the few declarations of the bundled llama.cpp release
 * (include/llama.h, ggml.h) that tests/llamaref.c and bench/llama-quantize.c
 * call through dlopen: restated by hand so that no llama.cpp header or code
 * is copied into gguffs. Must match the bundled release's ABI. */
#ifndef GGUFFS_LLAMA_ABI_H
#define GGUFFS_LLAMA_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* include/llama.h: struct llama_model_quantize_params */
struct llama_quantize_params {
	int32_t nthread;
	int ftype;                /* enum llama_ftype */
	int output_tensor_type;   /* enum ggml_type */
	int token_embedding_type; /* enum ggml_type */
	bool allow_requantize;
	bool quantize_output_tensor;
	bool only_copy;
	bool pure;
	bool keep_split;
	bool dry_run;
	const void *imatrix;
	const void *kv_overrides;
	const void *tt_overrides;
	const int32_t *prune_layers;
	size_t max_buf_size;
};

/* llama_model_quantize_default_params, llama_model_quantize, llama_log_set */
typedef struct llama_quantize_params (*llama_default_params_fn)(void);
typedef uint32_t (*llama_model_quantize_fn)(const char *in, const char *out,
					    const struct llama_quantize_params *p);
typedef void (*llama_log_cb)(int level, const char *text, void *user);
typedef void (*llama_log_set_fn)(llama_log_cb cb, void *user);

/* ggml.h: ggml_quantize_chunk */
typedef size_t (*ggml_quantize_chunk_fn)(int type, const float *src, void *dst,
					 int64_t start, int64_t nrows,
					 int64_t n_per_row, const float *imatrix);

/* The bundled shared objects, in the npm package's bins directory. */
#define LLAMA_ABI_LIB_BASE "libggml-base.so"
#define LLAMA_ABI_LIB_LLAMA "libllama.v0.5.0.so"

#endif
