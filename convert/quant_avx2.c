/* quant_avx2.c - the vector quantization kernels on 8 lanes (AVX2), built
 * from quant_vec.h. Compiled with -mavx2; quant.c calls these only when the
 * CPU has AVX2 and F16C. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include <immintrin.h>

#include "quant_impl.h"

#define W 8
typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm; /* all-ones lanes */

static inline vf f_set(float a) { return _mm256_set1_ps(a); }
static inline vf f_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void f_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf f_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf f_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf f_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf f_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf f_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf f_abs(vf a)
{
	return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
}
static inline vf f_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline float f_hmax(vf a)
{
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}
static inline float f_hmin(vf a)
{
	__m128 m = _mm_min_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	m = _mm_min_ps(m, _mm_movehl_ps(m, m));
	m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
	return _mm_cvtss_f32(m);
}
static inline vf f_trunc(vf a)
{
	return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}
static inline vi f_trunc_i(vf a) { return _mm256_cvttps_epi32(a); }
static inline vm m_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm m_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm m_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vm m_eq(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vm m_ne(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
static inline vf f_sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
static inline vi i_sel(vm m, vi a, vi b)
{
	return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b),
						    _mm256_castsi256_ps(a), m));
}
static inline vm m_and(vm a, vm b) { return _mm256_and_ps(a, b); }
static inline vm m_or(vm a, vm b) { return _mm256_or_ps(a, b); }
static inline vm m_andnot(vm a, vm b) { return _mm256_andnot_ps(b, a); }
static inline int m_bits(vm a) { return _mm256_movemask_ps(a); }
static inline bool m_any(vm a) { return m_bits(a) != 0; }
static inline bool m_none(vm a) { return m_bits(a) == 0; }
static inline vi i_set(int a) { return _mm256_set1_epi32(a); }
static inline void i_store(int32_t *p, vi v) { _mm256_storeu_si256((__m256i *)p, v); }
static inline vi i_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi i_min(vi a, vi b) { return _mm256_min_epi32(a, b); }
static inline vi i_max(vi a, vi b) { return _mm256_max_epi32(a, b); }
static inline vi i_and(vi a, vi b) { return _mm256_and_si256(a, b); }
static inline vi i_or(vi a, vi b) { return _mm256_or_si256(a, b); }
static inline vi i_sll(vi a, int n) { return _mm256_slli_epi32(a, n); }
static inline vi i_sext8(vi a) { return _mm256_srai_epi32(_mm256_slli_epi32(a, 24), 24); }
static inline vm i_eq(vi a, vi b) { return _mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b)); }
static inline int i_testbits(vi a, int bit)
{
	vi z = _mm256_cmpeq_epi32(_mm256_and_si256(a, _mm256_set1_epi32(bit)),
				  _mm256_setzero_si256());
	return ~_mm256_movemask_ps(_mm256_castsi256_ps(z)) & 0xff;
}
static inline vf i_tof(vi a) { return _mm256_cvtepi32_ps(a); }
static inline void i_store8(uint8_t *p, vi a)
{
	/* Low byte of each lane (truncation, not saturation). */
	const __m256i pick = _mm256_setr_epi8(
		0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
		0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
	__m256i b = _mm256_shuffle_epi8(a, pick);
	uint32_t lo = (uint32_t)_mm256_extract_epi32(b, 0);
	uint32_t hi = (uint32_t)_mm256_extract_epi32(b, 4);
	memcpy(p, &lo, 4);
	memcpy(p + 4, &hi, 4);
}
static inline vi f_nearest(vf a)
{
	vi b = _mm256_castps_si256(_mm256_add_ps(a, _mm256_set1_ps(12582912.f)));
	return _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007fffff)),
				_mm256_set1_epi32(0x00400000));
}

#include "quant_vec.h"

const struct gg_quant_kernels gg_quant_avx2 = { "avx2", QUANT_VEC_KERNELS };
