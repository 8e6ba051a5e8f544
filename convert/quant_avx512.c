/* quant_avx512.c - the vector quantization kernels on 16 lanes (AVX-512F/BW/VL),
 * built from quant_vec.h. Compiled with -mavx512*; quant.c calls these only
 * when the CPU has those extensions. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <immintrin.h>

#include "quant_impl.h"

#define W 16
typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;

static inline vf f_set(float a) { return _mm512_set1_ps(a); }
static inline vf f_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void f_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf f_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf f_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf f_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf f_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf f_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf f_abs(vf a) { return _mm512_abs_ps(a); }
static inline vf f_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline float f_hmax(vf a) { return _mm512_reduce_max_ps(a); }
static inline float f_hmin(vf a) { return _mm512_reduce_min_ps(a); }
static inline vf f_trunc(vf a)
{
	return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}
static inline vi f_trunc_i(vf a) { return _mm512_cvttps_epi32(a); }
static inline vm m_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vm m_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vm m_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vm m_eq(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline vm m_ne(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
static inline vf f_sel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
static inline vi i_sel(vm m, vi a, vi b) { return _mm512_mask_blend_epi32(m, b, a); }
static inline vm m_and(vm a, vm b) { return (vm)(a & b); }
static inline vm m_or(vm a, vm b) { return (vm)(a | b); }
static inline vm m_andnot(vm a, vm b) { return (vm)(a & ~b); }
static inline bool m_any(vm a) { return a != 0; }
static inline bool m_none(vm a) { return a == 0; }
static inline int m_bits(vm a) { return (int)a; }
static inline vi i_set(int a) { return _mm512_set1_epi32(a); }
static inline void i_store(int32_t *p, vi v) { _mm512_storeu_si512(p, v); }
static inline vi i_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi i_min(vi a, vi b) { return _mm512_min_epi32(a, b); }
static inline vi i_max(vi a, vi b) { return _mm512_max_epi32(a, b); }
static inline vi i_and(vi a, vi b) { return _mm512_and_si512(a, b); }
static inline vi i_or(vi a, vi b) { return _mm512_or_si512(a, b); }
static inline vi i_sll(vi a, int n) { return _mm512_slli_epi32(a, (unsigned)n); }
static inline vi i_sext8(vi a) { return _mm512_srai_epi32(_mm512_slli_epi32(a, 24), 24); }
static inline vm i_eq(vi a, vi b) { return _mm512_cmpeq_epi32_mask(a, b); }
static inline int i_testbits(vi a, int bit) { return (int)_mm512_test_epi32_mask(a, _mm512_set1_epi32(bit)); }
static inline vf i_tof(vi a) { return _mm512_cvtepi32_ps(a); }
static inline void i_store8(uint8_t *p, vi a)
{
	_mm_storeu_si128((__m128i *)p, _mm512_cvtepi32_epi8(a));
}
static inline vi f_nearest(vf a)
{
	vi b = _mm512_castps_si512(_mm512_add_ps(a, _mm512_set1_ps(12582912.f)));
	return _mm512_sub_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x007fffff)),
				_mm512_set1_epi32(0x00400000));
}

#include "quant_vec.h"

const struct gg_quant_kernels gg_quant_avx512 = { "avx512", QUANT_VEC_KERNELS };
