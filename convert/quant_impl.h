/* quant_impl.h - what the quantization kernel files share (private to
 * convert/quant*.c): kernel sets, the scalar group quantizers the vector
 * kernels call for leftovers, and the per-super-block tails they reuse.
 *
 * A kernel quantizes nb consecutive blocks of its type from x (floats) to y
 * (nb * block bytes). Every kernel of one type gives the same bytes.
 */
#ifndef GGUFFS_QUANT_IMPL_H
#define GGUFFS_QUANT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	GG_QSLOT_Q4_0, GG_QSLOT_Q4_1, GG_QSLOT_Q5_0, GG_QSLOT_Q5_1,
	GG_QSLOT_Q8_0, GG_QSLOT_Q2_K, GG_QSLOT_Q3_K, GG_QSLOT_Q4_K,
	GG_QSLOT_Q5_K, GG_QSLOT_Q6_K, GG_QSLOT_COUNT
};

typedef void (*gg_qkernel)(const float *x, uint8_t *y, size_t nb);

struct gg_quant_kernels {
	const char *name;
	gg_qkernel fn[GG_QSLOT_COUNT];
};

/* Defined in quant_avx2.c and quant_avx512.c (compiled for those ISAs;
 * called only when the CPU has them). */
extern const struct gg_quant_kernels gg_quant_avx2, gg_quant_avx512;

/* The reference's scalar conversions (see quant.c). */
uint16_t gg_q_f16(float f);
int32_t gg_q_trunc(float f);
int gg_q_nearest(float f);

/* Scalar kernels, one per type. */
void gg_q4_0_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q4_1_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q5_0_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q5_1_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q8_0_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q2_k_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q3_k_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q4_k_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q5_k_scalar(const float *x, uint8_t *y, size_t nb);
void gg_q6_k_scalar(const float *x, uint8_t *y, size_t nb);

/* Group quantizers (one group of n <= 32 values). */
float gg_qx_group(int n, int nmax, const float *x, int8_t *L);
float gg_q3_group(int n, int nmax, const float *x, int8_t *L);
float gg_qkx_group(int n, int nmax, const float *x, const float *w,
		   uint8_t *L, float *the_min, float rmin, float rdelta,
		   int nstep, bool use_mad);
/* Q4_K/Q5_K group weights of 32 values. */
void gg_qk_weights32(const float *x, float *w);

/* Levels of one group of n values from its rounded scale d and min dm:
 * L[i] = clamp(nearest_int((x[i] + dm) / d), lo, hi) + off. */
typedef void (*gg_requant_fn)(const float *x, int n, float d, float dm,
			      int lo, int hi, int off, uint8_t *L);
void gg_requant_scalar(const float *x, int n, float d, float dm, int lo,
		       int hi, int off, uint8_t *L);

/* Given each group's scale (and min) and first levels L (stored with their
 * offset), write one super-block y of the 256 values x; rq requantizes the
 * groups (L is updated in place). */
typedef void (*gg_qk_finish_fn)(const float *x, uint8_t *y, const float *scales,
				const float *mins, uint8_t *L, gg_requant_fn rq);
void gg_q2_k_finish(const float *x, uint8_t *y, const float *scales,
		    const float *mins, uint8_t *L, gg_requant_fn rq);
typedef void (*gg_sym_finish_fn)(const float *x, uint8_t *y, const float *scales,
				 uint8_t *L, gg_requant_fn rq);
void gg_q3_k_finish(const float *x, uint8_t *y, const float *scales,
		    uint8_t *L, gg_requant_fn rq);
void gg_q4_k_finish(const float *x, uint8_t *y, const float *scales,
		    const float *mins, uint8_t *L, gg_requant_fn rq);
void gg_q5_k_finish(const float *x, uint8_t *y, const float *scales,
		    const float *mins, uint8_t *L, gg_requant_fn rq);
void gg_q6_k_finish(const float *x, uint8_t *y, const float *scales,
		    uint8_t *L, gg_requant_fn rq);

#endif
