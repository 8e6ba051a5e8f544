/* dtype.h - the element types gguffs reads and writes, and conversions.
 *
 * Values are the GGML type ids used in GGUF tensor infos. Conversions are
 * bit-exact with Ollama's converter: F16 is IEEE-754 round-to-nearest-even
 * (x448/float16), BF16 -> F32 is exact. F32 -> BF16 rounds to nearest even
 * and quiets NaNs (never exercised by Ollama's families: every BF16 output
 * comes from a BF16 source, so the value round-trips exactly).
 *
 * The bulk converters pick a vectorised kernel at run time (F16C/AVX2/AVX-512
 * when the CPU has them) and produce the same bits as the scalar functions.
 */
#ifndef GGUFFS_DTYPE_H
#define GGUFFS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

enum gg_type {
	GG_TYPE_F32 = 0,
	GG_TYPE_F16 = 1,
	/* Block-quantized types (quant.h): no per-element size. */
	GG_TYPE_Q4_0 = 2,
	GG_TYPE_Q4_1 = 3,
	GG_TYPE_Q5_0 = 6,
	GG_TYPE_Q5_1 = 7,
	GG_TYPE_Q8_0 = 8,
	GG_TYPE_Q2_K = 10,
	GG_TYPE_Q3_K = 11,
	GG_TYPE_Q4_K = 12,
	GG_TYPE_Q5_K = 13,
	GG_TYPE_Q6_K = 14,
	GG_TYPE_BF16 = 30,
	/* MXFP4 (GGML's block_mxfp4: one E8M0 scale byte, then 16 bytes with
	 * elements j and j + 16 in byte j). Only produced by repacking MXFP4
	 * sources (plan.h GG_OP_MXFP4_REPACK), never by conversion. */
	GG_TYPE_MXFP4 = 39,
	/* Source-only: a safetensors U8 tensor (packed 4-bit codes, E8M0
	 * scales). Not a GGML type id; never written to a GGUF file. */
	GG_TYPE_U8 = 256,
};

/* Bytes per element of F32/F16/BF16 (and 1 for the source-only U8); 0 for
 * a block type or an unknown id. */
size_t gg_type_size(enum gg_type t);
/* "F32", "Q4_K", "U8", ... for the ids above; NULL for any other id. */
const char *gg_type_name(enum gg_type t);
/* Parse a safetensors dtype string ("F32", "F16", "BF16", "U8"); -1 if
 * unsupported. */
int gg_type_from_safetensors(const char *s);

/* Scalar reference conversions. */
float gg_f16_to_f32(uint16_t h);
uint16_t gg_f32_to_f16(float f);
float gg_bf16_to_f32(uint16_t b);
uint16_t gg_f32_to_bf16(float f);

/* Convert n elements from type `from` at src to type `to` at dst. src and
 * dst must not overlap. Same type: memcpy. Same bits as the scalar path. */
void gg_convert(enum gg_type from, const void *src, enum gg_type to, void *dst,
		size_t n);

/* Name of the kernel set chosen at run time ("avx512", "f16c", "scalar"),
 * for benchmarks and logs. The environment can force one:
 * GGUFFS_KERNEL=scalar|f16c|avx512 (tests run every set the CPU has),
 * and GGUFFS_SCALAR=1 overrides it with the scalar path. */
const char *gg_convert_kernel(void);

#endif
