/* quant.h - GGML block quantization, bit-identical to llama-quantize.
 *
 * gg_quantize writes exactly the bytes llama.cpp's ggml_quantize_chunk
 * writes for the same F32 rows when no importance matrix is given (the
 * reference kernels quantize_row_*_ref of ggml-quants.c, which is what
 * llama-quantize runs without --imatrix). Formats: Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0 (blocks of 32) and Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256).
 *
 * Bit-exactness: the scalar kernels perform, for each block, the same IEEE
 * single-precision operations in the same order as the reference, and are
 * compiled without floating-point contraction or fast-math so the compiler
 * cannot fuse or reorder them. The vector kernels (AVX2, AVX-512) run one
 * block (or sub-block) per lane, so every lane repeats the scalar operation
 * sequence exactly; they are tested equal to the scalar kernels on random
 * and adversarial rows (zeros, constants, huge ranges, tiny values).
 *
 * Inputs must be NaN-free for the results to be defined; infinities and
 * values of any magnitude are fine (they give llama.cpp's bytes).
 *
 * Thread safety: every function is reentrant and allocates nothing; the
 * kernel set is chosen once (thread-safely) at first use.
 */
#ifndef GGUFFS_QUANT_H
#define GGUFFS_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"

/* True for the block types gg_quantize produces. */
bool gg_quant_supported(enum gg_type t);

/* Elements per block of t (32 or 256); 0 if t is not a supported type. */
uint32_t gg_quant_block(enum gg_type t);

/* Bytes of one row of n elements of type t: n / block * bytes-per-block
 * for a block type, n * element size for F32/F16/BF16. 0 if t is unknown
 * or n is not a multiple of t's block size. */
uint64_t gg_row_size(enum gg_type t, uint64_t n);

/* Quantize nrows rows of n_per_row floats (src, contiguous) to type t into
 * dst (nrows * gg_row_size(t, n_per_row) bytes). n_per_row must be a
 * multiple of gg_quant_block(t) and t supported (callers check; anything
 * else aborts as a programming error). src needs float alignment; dst any. */
void gg_quantize(enum gg_type t, const float *src, void *dst, uint64_t nrows,
		 uint64_t n_per_row);

/* The scalar kernels only, whatever the CPU: the definition the vector
 * kernels are tested against. Same contract as gg_quantize. */
void gg_quantize_scalar(enum gg_type t, const float *src, void *dst,
			uint64_t nrows, uint64_t n_per_row);

/* Name of the kernel set gg_quantize uses ("avx512", "avx2", "scalar").
 * GGUFFS_KERNEL=scalar|avx2|avx512 forces one the CPU has (as for the dtype
 * conversions; "f16c" means avx2 here), GGUFFS_SCALAR=1 forces scalar. */
const char *gg_quant_kernel(void);

#endif
