/* llamaref.c - see llamaref.h. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "llama_abi.h"
#include "llamaref.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_reader.h"

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
		base_lib = open_lib(LLAMA_ABI_LIB_BASE);
	ggml_quantize_chunk_fn fn = (ggml_quantize_chunk_fn)sym(base_lib, "ggml_quantize_chunk");
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
		llama_lib = open_lib(LLAMA_ABI_LIB_LLAMA);
	((llama_log_set_fn)sym(llama_lib, "llama_log_set"))(quiet, NULL);
	struct llama_quantize_params p =
		((llama_default_params_fn)sym(llama_lib, "llama_model_quantize_default_params"))();
	p.ftype = ftype;
	p.nthread = nthread;
	return (int)((llama_model_quantize_fn)sym(llama_lib, "llama_model_quantize"))(in, out, &p);
}

static bool kv_equal(const struct gguf_kv *a, const struct gguf_kv *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case GGUF_VT_STRING:
		return a->str.n == b->str.n && memcmp(a->str.s, b->str.s, a->str.n) == 0;
	case GGUF_VT_ARRAY:
		if (a->arr_type != b->arr_type || a->arr_n != b->arr_n)
			return false;
		if (a->arr_type == GGUF_VT_STRING) {
			const struct gguf_str *x = a->arr, *y = b->arr;
			for (uint64_t i = 0; i < a->arr_n; i++)
				if (x[i].n != y[i].n || memcmp(x[i].s, y[i].s, x[i].n) != 0)
					return false;
			return true;
		}
		return memcmp(a->arr, b->arr, a->arr_n * gguf_vtype_size(a->arr_type)) == 0;
	default:
		return memcmp(&a->v, &b->v, sizeof a->v) == 0;
	}
}

static uint8_t *tensor_bytes(FILE *fp, const struct gguf_file *g,
			     const struct gguf_tensor_info *t)
{
	uint8_t *b = malloc(t->nbytes ? t->nbytes : 1);
	if (fseek(fp, (long)(g->data_offset + t->offset), SEEK_SET) != 0 ||
	    fread(b, 1, t->nbytes, fp) != t->nbytes)
		fail_msg("short tensor data for %s", t->name);
	return b;
}

void llamaref_assert_same_gguf(const char *got, const char *want)
{
	struct gguf_file *a, *b;
	gg_err e;
	if (gguf_read_file(got, &a, &e) || gguf_read_file(want, &b, &e))
		fail_msg("%s", e.msg);
	if (a->kvs->n != b->kvs->n)
		fail_msg("%s has %zu KVs, %s %zu", got, a->kvs->n, want, b->kvs->n);
	for (size_t i = 0; i < b->kvs->n; i++) {
		const struct gguf_kv *w = &b->kvs->kv[i];
		const struct gguf_kv *g = gguf_kvs_get(a->kvs, w->key);
		if (!g || !kv_equal(g, w))
			fail_msg("%s: KV %s %s", got, w->key, g ? "differs" : "missing");
	}
	if (a->ntensors != b->ntensors)
		fail_msg("%s has %llu tensors, %s %llu", got,
			 (unsigned long long)a->ntensors, want,
			 (unsigned long long)b->ntensors);
	FILE *fa = fopen(got, "rb"), *fb = fopen(want, "rb");
	for (uint64_t i = 0; i < b->ntensors; i++) {
		const struct gguf_tensor_info *w = &b->tensors[i], *g = NULL;
		for (uint64_t j = 0; j < a->ntensors && !g; j++)
			if (strcmp(a->tensors[j].name, w->name) == 0)
				g = &a->tensors[j];
		if (!g)
			fail_msg("%s: no tensor %s", got, w->name);
		if (g->type != w->type || g->n_dims != w->n_dims ||
		    memcmp(g->ne, w->ne, sizeof g->ne) != 0)
			fail_msg("%s: tensor %s is %s, llama.cpp's %s (or shapes differ)",
				 got, w->name, gguf_ggml_type_name(g->type),
				 gguf_ggml_type_name(w->type));
		uint8_t *x = tensor_bytes(fa, a, g), *y = tensor_bytes(fb, b, w);
		if (memcmp(x, y, w->nbytes) != 0)
			fail_msg("%s: tensor %s (%s): bytes differ", got, w->name,
				 gguf_ggml_type_name(w->type));
		free(x);
		free(y);
	}
	fclose(fa);
	fclose(fb);
	gguf_file_free(a);
	gguf_file_free(b);
}
