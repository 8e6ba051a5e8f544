/* llamaref.c - see llamaref.h. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "llamaref.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* include/llama.h of the bundled release: llama_model_quantize_params. */
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

typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst,
				    int64_t start, int64_t nrows,
				    int64_t n_per_row, const float *imatrix);
typedef struct llama_quantize_params (*default_params_fn)(void);
typedef uint32_t (*model_quantize_fn)(const char *in, const char *out,
				      const struct llama_quantize_params *p);
typedef void (*log_cb)(int level, const char *text, void *user);
typedef void (*log_set_fn)(log_cb cb, void *user);

static void *base_lib, *llama_lib;

static void *open_lib(const char *name)
{
	char path[4096];
	const char *dir = getenv("GGUFFS_LLAMA_BINS");
	if (dir)
		snprintf(path, sizeof path, "%s/%s", dir, name);
	else
		snprintf(path, sizeof path, "%s/node_modules/@node-llama-cpp/"
			 "linux-x64/bins/linux-x64/%s",
			 getenv("GGUFFS_SOURCE_ROOT") ? getenv("GGUFFS_SOURCE_ROOT") : ".",
			 name);
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		fail_msg("llamaref: cannot load %s: %s", path, dlerror());
	return h;
}

static void *sym(void *lib, const char *name)
{
	void *p = dlsym(lib, name);
	if (!p)
		fail_msg("llamaref: %s not exported", name);
	return p;
}

size_t llamaref_quantize_chunk(enum gg_type t, const float *src, void *dst,
			       int64_t nrows, int64_t n_per_row)
{
	if (!base_lib)
		base_lib = open_lib("libggml-base.so");
	quantize_chunk_fn fn = (quantize_chunk_fn)sym(base_lib, "ggml_quantize_chunk");
	return fn((int)t, src, dst, 0, nrows, n_per_row, NULL);
}

static void quiet(int level, const char *text, void *user)
{
	(void)level;
	(void)user;
	if (getenv("GGUFFS_LLAMA_LOG"))
		fputs(text, stderr);
}

int llamaref_model_quantize(const char *in, const char *out, int ftype,
			    int nthread)
{
	if (!llama_lib)
		llama_lib = open_lib("libllama.v0.5.0.so");
	((log_set_fn)sym(llama_lib, "llama_log_set"))(quiet, NULL);
	struct llama_quantize_params p =
		((default_params_fn)sym(llama_lib, "llama_model_quantize_default_params"))();
	p.ftype = ftype;
	p.nthread = nthread;
	return (int)((model_quantize_fn)sym(llama_lib, "llama_model_quantize"))(in, out, &p);
}
