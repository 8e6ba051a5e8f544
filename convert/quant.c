/* quant.c - see quant.h. The scalar kernels, the type table, dispatch.
 *
 * Every kernel below quantizes whole blocks and repeats, operation for
 * operation, the arithmetic of llama.cpp's reference quantizers (ggml-quants.c
 * of the bundled release): the same float expressions evaluated left to
 * right, the same comparisons, the same conversions. Those have x86-64
 * semantics that C leaves open, spelled out here:
 *   - a float converted to a narrow integer is truncated to int32 first
 *     (CVTTSS2SI: INT32_MIN for NaN or out-of-range values), then wrapped;
 *   - nearest_int is llama.cpp's magic-number rounding (add 1.5 * 2^23, take
 *     the low mantissa bits), which rounds half to even for |x| < 2^22 and
 *     gives a defined garbage value beyond, reproduced as is;
 *   - F32 -> F16 is round to nearest even, NaN -> sign | 0x7e00 (ggml's
 *     bit-trick conversion); F16 -> F32 is exact.
 * This file is compiled with -ffp-contract=off (meson.build): a fused
 * multiply-add would round once where the reference rounds twice.
 */
#include "quant.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

#include "gguf_reader.h"
#include "quant_impl.h"

/* ---- conversions with the reference's semantics ---------------------- */

uint16_t gg_q_f16(float f)
{
	if (isnan(f))
		return (uint16_t)(signbit(f) ? 0xfe00 : 0x7e00);
	return gg_f32_to_f16(f);
}

int32_t gg_q_trunc(float f)
{
	return _mm_cvtt_ss2si(_mm_set_ss(f));
}

int gg_q_nearest(float f)
{
	float v = f + 12582912.f;
	int32_t i;
	memcpy(&i, &v, 4);
	return (i & 0x007fffff) - 0x00400000;
}

static void put_f16(uint8_t *p, float f)
{
	uint16_t h = gg_q_f16(f);
	memcpy(p, &h, 2);
}

static float get_f16(const uint8_t *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return gg_f16_to_f32(h);
}

static int imin(int a, int b)
{
	return a < b ? a : b;
}

static int imax(int a, int b)
{
	return a > b ? a : b;
}

/* ---- 32-element blocks ------------------------------------------------- */

/* The value of largest magnitude (the first of equal magnitudes). */
static float signed_absmax(const float *x, int n)
{
	float amax = 0.0f, max = 0.0f;
	for (int j = 0; j < n; j++) {
		if (amax < fabsf(x[j])) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	}
	return max;
}

static void min_max(const float *x, int n, float *min, float *max)
{
	float lo = FLT_MAX, hi = -FLT_MAX;
	for (int j = 0; j < n; j++) {
		if (x[j] < lo)
			lo = x[j];
		if (x[j] > hi)
			hi = x[j];
	}
	*min = lo;
	*max = hi;
}

/* 32 levels as 16 bytes of nibbles: element j low, j + 16 high (Q4_0,
 * Q4_1), the high bits of negative levels kept as the reference's byte
 * arithmetic keeps them. */
static void pack4(const uint8_t *q, uint8_t *out)
{
	for (int j = 0; j < 16; j++)
		out[j] = (uint8_t)(q[j] | q[16 + j] << 4);
}

/* 32 five-bit levels: 4 bytes of fifth bits (bit j for element j), then
 * 16 bytes of low nibbles (Q5_0, Q5_1). */
static void pack5(const uint8_t *q, uint8_t *out)
{
	uint32_t qh = 0;
	for (int j = 0; j < 16; j++) {
		out[4 + j] = (uint8_t)((q[j] & 0x0f) | ((q[16 + j] & 0x0f) << 4));
		qh |= (uint32_t)((q[j] & 0x10u) >> 4) << j;
		qh |= (uint32_t)((q[16 + j] & 0x10u) >> 4) << (j + 16);
	}
	memcpy(out, &qh, 4);
}

/* Q4_0 / Q5_0: f16 d = signed absmax / div, levels MIN(top, (int8)(x * id
 * + add)), nibbles (top 15) or pack5 (top 31). */
static void absmax_scalar(const float *x, uint8_t *y, size_t nb, int div,
			  float add, int top, size_t bytes)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += bytes) {
		const float d = signed_absmax(x, 32) / div;
		const float id = d ? 1.0f / d : 0.0f;
		uint8_t q[32];
		for (int j = 0; j < 32; j++)
			q[j] = (uint8_t)imin(top, (int8_t)gg_q_trunc(x[j] * id + add));
		put_f16(y, d);
		(top == 15 ? pack4 : pack5)(q, y + 2);
	}
}

/* Q4_1 / Q5_1: f16 d = (max - min) / top, f16 min, levels of (x - min) *
 * id + 0.5 (Q4_1: MIN(15, (int8)...), Q5_1: the low byte). */
static void minmax_scalar(const float *x, uint8_t *y, size_t nb, int top,
			  size_t bytes)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += bytes) {
		float min, max;
		min_max(x, 32, &min, &max);
		const float d = (max - min) / top;
		const float id = d ? 1.0f / d : 0.0f;
		uint8_t q[32];
		for (int j = 0; j < 32; j++) {
			int32_t t = gg_q_trunc((x[j] - min) * id + 0.5f);
			q[j] = (uint8_t)(top == 15 ? imin(15, (int8_t)t) : t);
		}
		put_f16(y, d);
		put_f16(y + 2, min);
		(top == 15 ? pack4 : pack5)(q, y + 4);
	}
}

void gg_q4_0_scalar(const float *x, uint8_t *y, size_t nb)
{
	absmax_scalar(x, y, nb, -8, 8.5f, 15, 18);
}

void gg_q5_0_scalar(const float *x, uint8_t *y, size_t nb)
{
	absmax_scalar(x, y, nb, -16, 16.5f, 31, 22);
}

void gg_q4_1_scalar(const float *x, uint8_t *y, size_t nb)
{
	minmax_scalar(x, y, nb, 15, 20);
}

void gg_q5_1_scalar(const float *x, uint8_t *y, size_t nb)
{
	minmax_scalar(x, y, nb, 31, 24);
}

/* Q8_0: f16 d, 32 signed bytes. */
void gg_q8_0_scalar(const float *x, uint8_t *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 34) {
		float amax = 0.0f;
		for (int j = 0; j < 32; j++)
			amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
		const float d = amax / 127;
		const float id = d ? 1.0f / d : 0.0f;
		put_f16(y, d);
		for (int j = 0; j < 32; j++)
			y[2 + j] = (uint8_t)(int8_t)gg_q_trunc(roundf(x[j] * id));
	}
}

/* ---- k-quant helpers --------------------------------------------------- */

#define EPS_ZERO 1e-15f /* a group whose |max| is below this is all zero */

/* Levels of iscale * x clamped to [-nmax, nmax-1], stored + off in L, and
 * their sums weighted by x^2: *sumlx = sum w x l, *suml2 = sum w l^2. */
static void sym_levels(int n, int nmax, const float *x, float iscale,
		       int8_t *L, int off, float *sumlx, float *suml2)
{
	float slx = 0, sl2 = 0;
	for (int i = 0; i < n; i++) {
		int l = imax(-nmax, imin(nmax - 1, gg_q_nearest(iscale * x[i])));
		L[i] = (int8_t)(l + off);
		float w = x[i] * x[i];
		slx += w * x[i] * l;
		sl2 += w * l * l;
	}
	*sumlx = slx;
	*suml2 = sl2;
}

/* The first guess of both symmetric quantizers: iscale = -nmax / max.
 * False (levels all 0) when the group is all (near) zero. */
static bool sym_first_guess(int n, int nmax, const float *x, int8_t *L,
			    int off, float *max, float *sumlx, float *suml2)
{
	*max = signed_absmax(x, n);
	if (fabsf(*max) < EPS_ZERO) {
		memset(L, 0, (size_t)n);
		return false;
	}
	sym_levels(n, nmax, x, -nmax / *max, L, off, sumlx, suml2);
	return true;
}

/* Symmetric quantization of a group to [-nmax, nmax-1] (stored + nmax),
 * choosing among 19 trial scales by weighted error with weights x^2; the
 * reference's make_qx_quants with rmse_type 1 and no importance weights. */
float gg_qx_group(int n, int nmax, const float *x, int8_t *L)
{
	float max, sumlx, suml2;
	if (!sym_first_guess(n, nmax, x, L, nmax, &max, &sumlx, &suml2))
		return 0.f;
	float scale = suml2 ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;
	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		int8_t T[32];
		sym_levels(n, nmax, x, -(nmax + 0.1f * is) / max, T, nmax,
			   &sumlx, &suml2);
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			memcpy(L, T, (size_t)n);
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

/* Q3_K's group quantizer (make_q3_quants with do_rmse): a first guess,
 * then up to 5 passes moving single values to a better level. L is stored
 * + nmax. */
float gg_q3_group(int n, int nmax, const float *x, int8_t *L)
{
	float max, sumlx, suml2;
	if (!sym_first_guess(n, nmax, x, L, 0, &max, &sumlx, &suml2))
		return 0.f;
	for (int itry = 0; itry < 5; itry++) {
		int changed = 0;
		for (int i = 0; i < n; i++) {
			float w = x[i] * x[i];
			float slx = sumlx - w * x[i] * L[i];
			if (!(slx > 0))
				continue;
			float sl2 = suml2 - w * L[i] * L[i];
			int nl = imax(-nmax, imin(nmax - 1, gg_q_nearest(x[i] * sl2 / slx)));
			if (nl == L[i])
				continue;
			slx += w * x[i] * nl;
			sl2 += w * nl * nl;
			if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
				L[i] = (int8_t)nl;
				sumlx = slx;
				suml2 = sl2;
				changed++;
			}
		}
		if (!changed)
			break;
	}
	for (int i = 0; i < n; i++)
		L[i] = (int8_t)(L[i] + nmax);
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric quantization of a group to [0, nmax] with a min <= 0: a first
 * guess, then nstep + 1 trial scales, each refined by weighted least
 * squares (make_qkx2_quants). Returns the scale, *the_min = -min. */
float gg_qkx_group(int n, int nmax, const float *x, const float *w,
		   uint8_t *L, float *the_min, float rmin, float rdelta,
		   int nstep, bool use_mad)
{
	uint8_t Laux[32];
	float min = x[0], max = x[0];
	float sum_w = w[0], sum_x = sum_w * x[0];
	for (int i = 1; i < n; i++) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	if (min > 0)
		min = 0;
	if (max == min) {
		memset(L, 0, (size_t)n);
		*the_min = -min;
		return 0.f;
	}
	float iscale = nmax / (max - min);
	float scale = 1 / iscale;
	float best_error = 0;
	for (int i = 0; i < n; i++) {
		int l = gg_q_nearest(iscale * (x[i] - min));
		L[i] = (uint8_t)imax(0, imin(nmax, l));
		float diff = scale * L[i] + min - x[i];
		diff = use_mad ? fabsf(diff) : diff * diff;
		best_error += w[i] * diff;
	}
	if (nstep < 1) {
		*the_min = -min;
		return scale;
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * is + nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; i++) {
			int l = imax(0, imin(nmax, gg_q_nearest(iscale * (x[i] - min))));
			Laux[i] = (uint8_t)l;
			sum_l += w[i] * l;
			sum_l2 += w[i] * l * l;
			sum_xl += w[i] * l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;
		if (!(D > 0))
			continue;
		float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
		float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
		if (this_min > 0) {
			this_min = 0;
			this_scale = sum_xl / sum_l2;
		}
		float cur_error = 0;
		for (int i = 0; i < n; i++) {
			float diff = this_scale * Laux[i] + this_min - x[i];
			diff = use_mad ? fabsf(diff) : diff * diff;
			cur_error += w[i] * diff;
		}
		if (cur_error < best_error) {
			memcpy(L, Laux, (size_t)n);
			best_error = cur_error;
			scale = this_scale;
			min = this_min;
		}
	}
	*the_min = -min;
	return scale;
}

/* ---- k-quant super-blocks (256 elements) -------------------------------- */

/* Q3_K and Q6_K requantize x / d where the others use (x + dm) / d: with
 * dm = 0 both give the same levels (x + 0 is x but for the sign of a zero,
 * and nearest_int(+-0) is 0), so one routine serves all five. */
void gg_requant_scalar(const float *x, int n, float d, float dm, int lo,
		       int hi, int off, uint8_t *L)
{
	for (int i = 0; i < n; i++)
		L[i] = (uint8_t)(imax(lo, imin(hi, gg_q_nearest((x[i] + dm) / d))) + off);
}

/* 256 two-bit levels in 64 bytes: byte 32 * h + l holds elements
 * 128 * h + l + 32 * k in bits 2k, 2k + 1 (Q2_K and Q3_K). */
static void pack2(const uint8_t *L, uint8_t *qs)
{
	for (int j = 0; j < 256; j += 128)
		for (int l = 0; l < 32; l++)
			qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) |
						  (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* Q2_K: scales[16] (4-bit scale | 4-bit min << 4), qs[64], f16 d, dmin.
 * Each super-block's 16 groups come from gg_qkx_group. */
void gg_q2_k_finish(const float *x, uint8_t *y, const float *scales,
		    const float *mins, uint8_t *L, gg_requant_fn rq)
{
	const float q4scale = 15.f;
	float max_scale = 0, max_min = 0;
	for (int j = 0; j < 16; j++) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	uint8_t *sc = y, *qs = y + 16;
	if (max_scale > 0) {
		float iscale = q4scale / max_scale;
		for (int j = 0; j < 16; j++)
			sc[j] = (uint8_t)gg_q_nearest(iscale * scales[j]);
		put_f16(y + 80, max_scale / q4scale);
	} else {
		memset(sc, 0, 16);
		put_f16(y + 80, 0.f);
	}
	if (max_min > 0) {
		float iscale = q4scale / max_min;
		for (int j = 0; j < 16; j++)
			sc[j] |= (uint8_t)((unsigned)gg_q_nearest(iscale * mins[j]) << 4);
		put_f16(y + 82, max_min / q4scale);
	} else {
		put_f16(y + 82, 0.f);
	}
	for (int j = 0; j < 16; j++) {
		const float d = get_f16(y + 80) * (sc[j] & 0xF);
		if (!d)
			continue;
		const float dm = get_f16(y + 82) * (sc[j] >> 4);
		rq(x + 16 * j, 16, d, dm, 0, 3, 0, L + 16 * j);
	}
	pack2(L, qs);
}

void gg_q2_k_scalar(const float *x, uint8_t *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 256, y += 84) {
		uint8_t L[256];
		float w[16], scales[16], mins[16];
		for (int j = 0; j < 16; j++) {
			for (int l = 0; l < 16; l++)
				w[l] = fabsf(x[16 * j + l]);
			scales[j] = gg_qkx_group(16, 3, x + 16 * j, w, L + 16 * j,
						 &mins[j], -0.5f, 0.1f, 15, true);
		}
		gg_q2_k_finish(x, y, scales, mins, L, gg_requant_scalar);
	}
}

/* Q3_K: hmask[32], qs[64], scales[12] (16 six-bit scales), f16 d. */
void gg_q3_k_finish(const float *x, uint8_t *y, const float *scales,
		    uint8_t *L, gg_requant_fn rq)
{
	uint8_t *hmask = y, *qs = y + 32, *sc = y + 96;
	float max_scale = 0, amax = 0;
	for (int j = 0; j < 16; j++) {
		if (fabsf(scales[j]) > amax) {
			amax = fabsf(scales[j]);
			max_scale = scales[j];
		}
	}
	memset(sc, 0, 12);
	if (max_scale) {
		float iscale = -32.f / max_scale;
		for (int j = 0; j < 16; j++) {
			int8_t l = (int8_t)gg_q_nearest(iscale * scales[j]);
			l = (int8_t)(imax(-32, imin(31, l)) + 32);
			if (j < 8)
				sc[j] = (uint8_t)(l & 0xF);
			else
				sc[j - 8] |= (uint8_t)((l & 0xF) << 4);
			l = (int8_t)(l >> 4);
			sc[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
		}
		put_f16(y + 108, 1 / iscale);
	} else {
		put_f16(y + 108, 0.f);
	}
	for (int j = 0; j < 16; j++) {
		int s = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
		s = (int8_t)(s | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4));
		float d = get_f16(y + 108) * (s - 32);
		if (!d)
			continue;
		rq(x + 16 * j, 16, d, 0.0f, -4, 3, 4, L + 16 * j);
	}
	memset(hmask, 0, 32);
	int m = 0;
	uint8_t hm = 1;
	for (int j = 0; j < 256; j++) {
		if (L[j] > 3) {
			hmask[m] |= hm;
			L[j] = (uint8_t)(L[j] - 4);
		}
		if (++m == 32) {
			m = 0;
			hm = (uint8_t)(hm << 1);
		}
	}
	pack2(L, qs);
}

/* Q3_K and Q6_K: 16 symmetric groups of 16 per super-block. */
static void sym_k_scalar(const float *x, uint8_t *y, size_t nb, size_t bytes,
			 int nmax, float (*group)(int, int, const float *, int8_t *),
			 gg_sym_finish_fn finish)
{
	for (size_t i = 0; i < nb; i++, x += 256, y += bytes) {
		int8_t L[256];
		float scales[16];
		for (int j = 0; j < 16; j++)
			scales[j] = group(16, nmax, x + 16 * j, L + 16 * j);
		finish(x, y, scales, (uint8_t *)L, gg_requant_scalar);
	}
}

void gg_q3_k_scalar(const float *x, uint8_t *y, size_t nb)
{
	sym_k_scalar(x, y, nb, 110, 4, gg_q3_group, gg_q3_k_finish);
}

/* Q4_K/Q5_K group weights: the group's RMS plus each |x|. */
void gg_qk_weights32(const float *x, float *w)
{
	float sum_x2 = 0;
	for (int l = 0; l < 32; l++)
		sum_x2 += x[l] * x[l];
	float av_x = sqrtf(sum_x2 / 32);
	for (int l = 0; l < 32; l++)
		w[l] = av_x + fabsf(x[l]);
}

/* The 12 bytes holding eight 6-bit scales and eight 6-bit mins. */
static void pack_scale_min_k4(const float *scales, const float *mins,
			      float max_scale, float max_min, uint8_t *q)
{
	float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
	float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
	for (int j = 0; j < 8; j++) {
		uint8_t ls = (uint8_t)gg_q_nearest(inv_scale * scales[j]);
		uint8_t lm = (uint8_t)gg_q_nearest(inv_min * mins[j]);
		ls = ls < 63 ? ls : 63;
		lm = lm < 63 ? lm : 63;
		if (j < 4) {
			q[j] = ls;
			q[j + 4] = lm;
		} else {
			q[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
			q[j - 4] |= (uint8_t)((ls >> 4) << 6);
			q[j] |= (uint8_t)((lm >> 4) << 6);
		}
	}
}

static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* Shared tail of Q4_K and Q5_K: d, dmin, scales at y[0..16), then each
 * element requantized to [0, nmax] with its group's rounded scale and min
 * (groups whose scale rounds to 0 keep their first levels). */
static void qk4_header(const float *x, uint8_t *y, const float *scales,
		       const float *mins, uint8_t *L, int nmax, gg_requant_fn rq)
{
	float max_scale = 0, max_min = 0;
	for (int j = 0; j < 8; j++) {
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	pack_scale_min_k4(scales, mins, max_scale, max_min, y + 4);
	put_f16(y, max_scale / 63.f);
	put_f16(y + 2, max_min / 63.f);
	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;
		scale_min_k4(j, y + 4, &sc, &m);
		const float d = get_f16(y) * sc;
		if (!d)
			continue;
		const float dm = get_f16(y + 2) * m;
		rq(x + 32 * j, 32, d, dm, 0, nmax, 0, L + 32 * j);
	}
}

/* Q4_K: f16 d, dmin, scales[12], qs[128] (64-element chunks: the first 32
 * in low nibbles, the next 32 in high nibbles). */
void gg_q4_k_finish(const float *x, uint8_t *y, const float *scales,
		    const float *mins, uint8_t *L, gg_requant_fn rq)
{
	qk4_header(x, y, scales, mins, L, 15, rq);
	uint8_t *q = y + 16;
	for (int j = 0; j < 256; j += 64, q += 32)
		for (int l = 0; l < 32; l++)
			q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

/* Q5_K: f16 d, dmin, scales[12], qh[32], qs[128]. */
void gg_q5_k_finish(const float *x, uint8_t *y, const float *scales,
		    const float *mins, uint8_t *L, gg_requant_fn rq)
{
	qk4_header(x, y, scales, mins, L, 31, rq);
	uint8_t *qh = y + 16, *ql = y + 48;
	memset(qh, 0, 32);
	uint8_t m1 = 1, m2 = 2;
	for (int n = 0; n < 256; n += 64, ql += 32) {
		for (int j = 0; j < 32; j++) {
			int l1 = L[n + j], l2 = L[n + j + 32];
			if (l1 > 15) {
				l1 -= 16;
				qh[j] |= m1;
			}
			if (l2 > 15) {
				l2 -= 16;
				qh[j] |= m2;
			}
			ql[j] = (uint8_t)(l1 | (l2 << 4));
		}
		m1 = (uint8_t)(m1 << 2);
		m2 = (uint8_t)(m2 << 2);
	}
}

static void qk_scalar(const float *x, uint8_t *y, size_t nb, int nmax,
		      float rmin, int nstep, size_t bytes,
		      gg_qk_finish_fn finish)
{
	for (size_t i = 0; i < nb; i++, x += 256, y += bytes) {
		uint8_t L[256];
		float w[32], scales[8], mins[8];
		for (int j = 0; j < 8; j++) {
			gg_qk_weights32(x + 32 * j, w);
			scales[j] = gg_qkx_group(32, nmax, x + 32 * j, w, L + 32 * j,
						 &mins[j], rmin, 0.1f, nstep, false);
		}
		finish(x, y, scales, mins, L, gg_requant_scalar);
	}
}

void gg_q4_k_scalar(const float *x, uint8_t *y, size_t nb)
{
	qk_scalar(x, y, nb, 15, -1.f, 20, 144, gg_q4_k_finish);
}

void gg_q5_k_scalar(const float *x, uint8_t *y, size_t nb)
{
	qk_scalar(x, y, nb, 31, -0.5f, 15, 176, gg_q5_k_finish);
}

/* Q6_K: ql[128], qh[64], int8 scales[16], f16 d. */
void gg_q6_k_finish(const float *x, uint8_t *y, const float *scales,
		    uint8_t *L, gg_requant_fn rq)
{
	float max_scale = 0, max_abs_scale = 0;
	for (int ib = 0; ib < 16; ib++) {
		if (fabsf(scales[ib]) > max_abs_scale) {
			max_abs_scale = fabsf(scales[ib]);
			max_scale = scales[ib];
		}
	}
	if (max_abs_scale < EPS_ZERO) {
		memset(y, 0, 210);
		return;
	}
	uint8_t *ql = y, *qh = y + 128;
	int8_t *sc = (int8_t *)(y + 192);
	float iscale = -128.f / max_scale;
	put_f16(y + 208, 1 / iscale);
	for (int ib = 0; ib < 16; ib++)
		sc[ib] = (int8_t)imin(127, gg_q_nearest(iscale * scales[ib]));
	for (int j = 0; j < 16; j++) {
		float d = get_f16(y + 208) * sc[j];
		if (!d)
			continue;
		rq(x + 16 * j, 16, d, 0.0f, -32, 31, 32, L + 16 * j);
	}
	for (int j = 0; j < 256; j += 128, ql += 64, qh += 32) {
		for (int l = 0; l < 32; l++) {
			int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
			int q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
			ql[l] = (uint8_t)(q1 | (q3 << 4));
			ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
			qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
					  ((L[j + l + 64] >> 4) << 4) |
					  ((L[j + l + 96] >> 4) << 6));
		}
	}
}

void gg_q6_k_scalar(const float *x, uint8_t *y, size_t nb)
{
	sym_k_scalar(x, y, nb, 210, 32, gg_qx_group, gg_q6_k_finish);
}

/* ---- type table and dispatch ------------------------------------------- */

static const struct gg_quant_kernels scalar_set = {
	"scalar",
	{ gg_q4_0_scalar, gg_q4_1_scalar, gg_q5_0_scalar, gg_q5_1_scalar,
	  gg_q8_0_scalar, gg_q2_k_scalar, gg_q3_k_scalar, gg_q4_k_scalar,
	  gg_q5_k_scalar, gg_q6_k_scalar },
};

/* Slot of t in gg_quant_kernels.fn, or -1. */
static int slot(enum gg_type t)
{
	switch (t) {
	case GG_TYPE_Q4_0: return GG_QSLOT_Q4_0;
	case GG_TYPE_Q4_1: return GG_QSLOT_Q4_1;
	case GG_TYPE_Q5_0: return GG_QSLOT_Q5_0;
	case GG_TYPE_Q5_1: return GG_QSLOT_Q5_1;
	case GG_TYPE_Q8_0: return GG_QSLOT_Q8_0;
	case GG_TYPE_Q2_K: return GG_QSLOT_Q2_K;
	case GG_TYPE_Q3_K: return GG_QSLOT_Q3_K;
	case GG_TYPE_Q4_K: return GG_QSLOT_Q4_K;
	case GG_TYPE_Q5_K: return GG_QSLOT_Q5_K;
	case GG_TYPE_Q6_K: return GG_QSLOT_Q6_K;
	default: return -1;
	}
}

bool gg_quant_supported(enum gg_type t)
{
	return slot(t) >= 0;
}

uint32_t gg_quant_block(enum gg_type t)
{
	uint32_t block, bytes;
	if (!gg_quant_supported(t) || !gguf_ggml_type_geom((uint32_t)t, &block, &bytes))
		return 0;
	return block;
}

uint64_t gg_row_size(enum gg_type t, uint64_t n)
{
	uint32_t block, bytes;
	if (!gguf_ggml_type_geom((uint32_t)t, &block, &bytes) || n % block)
		return 0;
	return n / block * bytes;
}

static const struct gg_quant_kernels *active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static bool env_is(const char *name, const char *value)
{
	const char *v = getenv(name);
	return v && strcmp(v, value) == 0;
}

static void choose(void)
{
	__builtin_cpu_init();
	bool avx512 = gg_quant_avx512.fn[0] && __builtin_cpu_supports("avx512f") &&
		      __builtin_cpu_supports("avx512bw") &&
		      __builtin_cpu_supports("avx512vl") &&
		      gg_cpu_f16c();
	bool avx2 = gg_quant_avx2.fn[0] && __builtin_cpu_supports("avx2") &&
		    gg_cpu_f16c();
	const char *s = getenv("GGUFFS_SCALAR");
	if ((s && *s && strcmp(s, "0") != 0) || env_is("GGUFFS_KERNEL", "scalar"))
		active = &scalar_set;
	else if ((env_is("GGUFFS_KERNEL", "avx2") || env_is("GGUFFS_KERNEL", "f16c")) && avx2)
		active = &gg_quant_avx2;
	else if (avx512)
		active = &gg_quant_avx512;
	else if (avx2)
		active = &gg_quant_avx2;
	else
		active = &scalar_set;
}

const char *gg_quant_kernel(void)
{
	pthread_once(&active_once, choose);
	return active->name;
}

static void run(const struct gg_quant_kernels *k, enum gg_type t,
		const float *src, void *dst, uint64_t nrows, uint64_t n_per_row)
{
	int s = slot(t);
	uint32_t block = gg_quant_block(t);
	if (s < 0 || block == 0 || n_per_row % block)
		abort(); /* callers validate types and shapes */
	/* Blocks never straddle rows, so the rows are one run of blocks. */
	k->fn[s](src, dst, (size_t)(nrows * (n_per_row / block)));
}

void gg_quantize(enum gg_type t, const float *src, void *dst, uint64_t nrows,
		 uint64_t n_per_row)
{
	pthread_once(&active_once, choose);
	run(active, t, src, dst, nrows, n_per_row);
}

void gg_quantize_scalar(enum gg_type t, const float *src, void *dst,
			uint64_t nrows, uint64_t n_per_row)
{
	run(&scalar_set, t, src, dst, nrows, n_per_row);
}
