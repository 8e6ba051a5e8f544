/* llamaref.h - llama.cpp's own quantizer, loaded from the bundled binaries
 * (npm @node-llama-cpp/linux-x64) with dlopen, so tests compare gguffs with
 * the real thing instead of a copy of its code.
 *
 * The binaries are looked up in $GGUFFS_LLAMA_BINS, else
 * $GGUFFS_SOURCE_ROOT/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64.
 * Every function fails the running cmocka test when they cannot be loaded.
 * Not thread-safe (tests call it from one thread). */
#ifndef GGUFFS_LLAMAREF_H
#define GGUFFS_LLAMAREF_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

/* ggml_quantize_chunk(t, src, dst, 0, nrows, n_per_row, NULL): llama.cpp's
 * quantization of whole rows without an importance matrix. Returns the
 * bytes written. */
size_t llamaref_quantize_chunk(enum gg_type t, const float *src, void *dst,
			       int64_t nrows, int64_t n_per_row);

/* llama_model_quantize(in, out, params) with the default parameters but
 * ftype (a llama_ftype value) and nthread. Returns its result (0 = ok).
 * llama.cpp's log output is discarded unless GGUFFS_LLAMA_LOG is set. */
int llamaref_model_quantize(const char *in, const char *out, int ftype,
			    int nthread);

/* The two GGUF files hold the same KVs (key, type, value; any order) and
 * the same tensors (name, type, shape, bytes; any order): llama-quantize
 * reorders tensors and moves KVs, so files are compared this way. Fails
 * the test naming the first difference. */
void llamaref_assert_same_gguf(const char *got, const char *want);

#endif
