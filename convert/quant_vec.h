/* quant_vec.h - the vector quantization kernels, written once over a small
 * set of lane-wise primitives that quant_avx2.c (8 lanes) and
 * quant_avx512.c (16 lanes) define before including this file.
 *
 * Bit-exactness: a vector kernel never reassociates. The k-quants run one
 * group per lane: lane k performs exactly the scalar sequence of
 * operations of gg_qkx_group / gg_qx_group / gg_q3_group for group k, with
 * the scalar branches turned into per-lane selects (a lane takes a branch's
 * result only where the scalar code would have taken the branch). The
 * 32-element types work inside one block; only order-independent
 * reductions are done horizontally (the maximum of |x|), and where the
 * scalar code keeps the first of equal values (signed zeros) that element
 * is picked explicitly.
 *
 * Primitives the includer defines (vf: floats, vi: int32s, vm: lane mask):
 *   W                         lanes
 *   f_set f_load f_store      broadcast / unaligned load / store
 *   f_add f_sub f_mul f_div f_sqrt f_abs
 *   m_lt m_gt m_eq m_ne       ordered <, >, ==; unordered != (NaN is !=)
 *   f_sel i_sel (m, a, b)     m ? a : b per lane
 *   m_and m_or m_andnot(a, b) (a & ~b), m_any, m_none
 *   i_set i_store i_add i_min i_max i_and i_or i_sll i_eq i_tof
 *   f_nearest                 llama.cpp's nearest_int per lane
 *   f_trunc f_trunc_i         round toward zero (float / CVTTPS2DQ int32)
 *   f_max f_hmax f_hmin       lane-wise max, horizontal max / min (NaN-free)
 *   m_ge m_bits               ordered >=, the lane mask as an int of bits
 *   i_sext8                   sign-extend each lane's low byte
 *   i_testbits(v, bit)        bits of the lanes where v & bit is non-zero
 *   i_store8                  the low byte of each lane (truncation)
 */

/* ---- per-lane helpers ---------------------------------------------------- */

static inline vi i_clamp(vi v, int lo, int hi)
{
	return i_max(i_set(lo), i_min(i_set(hi), v));
}

/* Copy W groups of n values (group k at x + k * n) into lane order:
 * xt[i * W + k] = x[k * n + i]. */
static inline void lanes_in(const float *x, int n, float *xt)
{
	for (int k = 0; k < W; k++)
		for (int i = 0; i < n; i++)
			xt[i * W + k] = x[k * n + i];
}

/* The largest-magnitude value of each lane's group (first of equals), as
 * signed_absmax. */
static inline vf lanes_signed_absmax(int n, const float *xt, vf *amax_out)
{
	vf amax = f_set(0.0f), max = f_set(0.0f);
	for (int i = 0; i < n; i++) {
		vf x = f_load(xt + i * W), ax = f_abs(x);
		vm m = m_lt(amax, ax);
		amax = f_sel(m, ax, amax);
		max = f_sel(m, x, max);
	}
	*amax_out = amax;
	return max;
}

/* ---- k-quant group quantizers, one group per lane ------------------------ */

/* gg_qkx_group for W groups: xt, wt in lane order; levels to Lt (lane
 * order), scales to scale_out, -min to min_out. */
static void qkx_lanes(int n, int nmax, const float *xt, const float *wt,
		      int32_t *Lt, float *scale_out, float *min_out,
		      float rmin, float rdelta, int nstep, bool use_mad)
{
	vi L[32], Laux[32];
	vf min = f_load(xt), max = min;
	vf sum_w = f_load(wt), sum_x = f_mul(sum_w, min);
	for (int i = 1; i < n; i++) {
		vf x = f_load(xt + i * W), w = f_load(wt + i * W);
		min = f_sel(m_lt(x, min), x, min);
		max = f_sel(m_gt(x, max), x, max);
		sum_w = f_add(sum_w, w);
		sum_x = f_add(sum_x, f_mul(w, x));
	}
	vf zero = f_set(0.0f);
	min = f_sel(m_gt(min, zero), zero, min);
	vm flat = m_eq(max, min);
	vf min0 = min;
	vf range = f_sub(max, min);
	vf iscale = f_div(f_set((float)nmax), range);
	vf scale = f_div(f_set(1.0f), iscale);
	vf best_error = zero;
	for (int i = 0; i < n; i++) {
		vf x = f_load(xt + i * W), w = f_load(wt + i * W);
		L[i] = i_clamp(f_nearest(f_mul(iscale, f_sub(x, min))), 0, nmax);
		vf diff = f_sub(f_add(f_mul(scale, i_tof(L[i])), min), x);
		diff = use_mad ? f_abs(diff) : f_mul(diff, diff);
		best_error = f_add(best_error, f_mul(w, diff));
	}
	for (int is = 0; nstep >= 1 && is <= nstep; is++) {
		const float c = rmin + rdelta * is + nmax;
		range = f_sub(max, min);
		iscale = f_div(f_set(c), range);
		vf sum_l = zero, sum_l2 = zero, sum_xl = zero;
		for (int i = 0; i < n; i++) {
			vf x = f_load(xt + i * W), w = f_load(wt + i * W);
			Laux[i] = i_clamp(f_nearest(f_mul(iscale, f_sub(x, min))), 0, nmax);
			vf wl = f_mul(w, i_tof(Laux[i]));
			sum_l = f_add(sum_l, wl);
			sum_l2 = f_add(sum_l2, f_mul(wl, i_tof(Laux[i])));
			sum_xl = f_add(sum_xl, f_mul(wl, x));
		}
		vf D = f_sub(f_mul(sum_w, sum_l2), f_mul(sum_l, sum_l));
		vm ok = m_gt(D, zero);
		if (m_none(ok))
			continue;
		vf this_scale = f_div(f_sub(f_mul(sum_w, sum_xl), f_mul(sum_x, sum_l)), D);
		vf this_min = f_div(f_sub(f_mul(sum_l2, sum_x), f_mul(sum_l, sum_xl)), D);
		vm pos = m_gt(this_min, zero);
		this_scale = f_sel(pos, f_div(sum_xl, sum_l2), this_scale);
		this_min = f_sel(pos, zero, this_min);
		vf cur_error = zero;
		for (int i = 0; i < n; i++) {
			vf x = f_load(xt + i * W), w = f_load(wt + i * W);
			vf diff = f_sub(f_add(f_mul(this_scale, i_tof(Laux[i])), this_min), x);
			diff = use_mad ? f_abs(diff) : f_mul(diff, diff);
			cur_error = f_add(cur_error, f_mul(w, diff));
		}
		vm better = m_and(ok, m_lt(cur_error, best_error));
		if (m_none(better))
			continue;
		for (int i = 0; i < n; i++)
			L[i] = i_sel(better, Laux[i], L[i]);
		best_error = f_sel(better, cur_error, best_error);
		scale = f_sel(better, this_scale, scale);
		min = f_sel(better, this_min, min);
	}
	for (int i = 0; i < n; i++)
		i_store(Lt + i * W, i_sel(flat, i_set(0), L[i]));
	f_store(scale_out, f_sel(flat, zero, scale));
	f_store(min_out, f_sub(zero, f_sel(flat, min0, min)));
}

/* sym_levels per lane: levels of iscale * x in [-nmax, nmax-1], stored
 * + off in L, and their x^2-weighted sums. */
static inline void sym_levels_lanes(int n, int nmax, const float *xt, vf iscale,
				    vi *L, int off, vf *sumlx, vf *suml2)
{
	vf slx = f_set(0.0f), sl2 = slx;
	for (int i = 0; i < n; i++) {
		vf x = f_load(xt + i * W);
		vi l = i_clamp(f_nearest(f_mul(iscale, x)), -nmax, nmax - 1);
		L[i] = i_add(l, i_set(off));
		vf w = f_mul(x, x), fl = i_tof(l);
		slx = f_add(slx, f_mul(f_mul(w, x), fl));
		sl2 = f_add(sl2, f_mul(f_mul(w, fl), fl));
	}
	*sumlx = slx;
	*suml2 = sl2;
}

/* gg_qx_group (rmse_type 1) for W groups of n values. */
static void qx_lanes(int n, int nmax, const float *xt, int32_t *Lt,
		     float *scale_out)
{
	vi L[32], T[32];
	vf amax, max = lanes_signed_absmax(n, xt, &amax), zero = f_set(0.0f);
	vm tiny = m_lt(amax, f_set(1e-15f));
	vf sumlx, suml2;
	sym_levels_lanes(n, nmax, xt, f_div(f_set((float)-nmax), max), L, nmax,
			 &sumlx, &suml2);
	vf scale = f_sel(m_ne(suml2, zero), f_div(sumlx, suml2), zero);
	vf best = f_mul(scale, sumlx);
	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		const float c = -(nmax + 0.1f * is);
		sym_levels_lanes(n, nmax, xt, f_div(f_set(c), max), T, nmax,
				 &sumlx, &suml2);
		vm upd = m_and(m_gt(suml2, zero),
			       m_gt(f_mul(sumlx, sumlx), f_mul(best, suml2)));
		if (m_none(upd))
			continue;
		for (int i = 0; i < n; i++)
			L[i] = i_sel(upd, T[i], L[i]);
		scale = f_sel(upd, f_div(sumlx, suml2), scale);
		best = f_sel(upd, f_mul(scale, sumlx), best);
	}
	for (int i = 0; i < n; i++)
		i_store(Lt + i * W, i_sel(tiny, i_set(0), L[i]));
	f_store(scale_out, f_sel(tiny, zero, scale));
}

/* gg_q3_group for W groups of n values. */
static void q3_lanes(int n, int nmax, const float *xt, int32_t *Lt,
		     float *scale_out)
{
	vi L[32];
	vf amax, max = lanes_signed_absmax(n, xt, &amax), zero = f_set(0.0f);
	vm tiny = m_lt(amax, f_set(1e-15f));
	vf sumlx, suml2;
	sym_levels_lanes(n, nmax, xt, f_div(f_set((float)-nmax), max), L, 0,
			 &sumlx, &suml2);
	/* Lanes drop out of the refinement the first pass they change
	 * nothing, as the scalar loop breaks. */
	vm active = m_andnot(m_eq(zero, zero), tiny);
	for (int itry = 0; itry < 5 && m_any(active); itry++) {
		vm changed = m_andnot(active, active);
		for (int i = 0; i < n; i++) {
			vf x = f_load(xt + i * W), w = f_mul(x, x);
			vf wx = f_mul(w, x), fL = i_tof(L[i]);
			vf slx = f_sub(sumlx, f_mul(wx, fL));
			vm c = m_and(active, m_gt(slx, zero));
			vf sl2 = f_sub(suml2, f_mul(f_mul(w, fL), fL));
			vi nl = i_clamp(f_nearest(f_div(f_mul(x, sl2), slx)), -nmax, nmax - 1);
			c = m_andnot(c, i_eq(nl, L[i]));
			vf fn = i_tof(nl);
			slx = f_add(slx, f_mul(wx, fn));
			sl2 = f_add(sl2, f_mul(f_mul(w, fn), fn));
			c = m_and(c, m_and(m_gt(sl2, zero),
					   m_gt(f_mul(f_mul(slx, slx), suml2),
						f_mul(f_mul(sumlx, sumlx), sl2))));
			L[i] = i_sel(c, nl, L[i]);
			sumlx = f_sel(c, slx, sumlx);
			suml2 = f_sel(c, sl2, suml2);
			changed = m_or(changed, c);
		}
		active = m_and(active, changed);
	}
	for (int i = 0; i < n; i++)
		i_store(Lt + i * W, i_sel(tiny, i_set(0), i_add(L[i], i_set(nmax))));
	vf r = f_sel(m_gt(suml2, zero), f_div(sumlx, suml2), zero);
	f_store(scale_out, f_sel(tiny, zero, r));
}

/* ---- k-quant kernels ----------------------------------------------------- */

/* gg_requant_scalar, W values at a time (n is 16 or 32: whole vectors).
 * Element-wise, so the order of elements does not matter. */
static void requant_vec(const float *x, int n, float d, float dm, int lo,
			int hi, int off, uint8_t *L)
{
	for (int i = 0; i < n; i += W) {
		vf v = f_div(f_add(f_load(x + i), f_set(dm)), f_set(d));
		i_store8(L + i, i_add(i_clamp(f_nearest(v), lo, hi), i_set(off)));
	}
}

/* Groups of g values, G per super-block, W per step: the step's lanes hold
 * groups [s * W, s * W + W) of the run of super-blocks, consecutive in x. */

/* Lane-order levels of W groups of g values back to element order. */
static inline void lanes_out_u8(const int32_t *Lt, int g, uint8_t *L)
{
	for (int k = 0; k < W; k++)
		for (int i = 0; i < g; i++)
			L[k * g + i] = (uint8_t)Lt[i * W + k];
}

/* Q4_K / Q5_K: groups of 32 with weights RMS + |x|; W / 8 super-blocks per
 * step (AVX2: 1, AVX-512: 2). */
static void qk_vec(const float *x, uint8_t *y, size_t nb, int nmax,
		   float rmin, int nstep, size_t bytes,
		   gg_qk_finish_fn finish,
		   void (*scalar)(const float *, uint8_t *, size_t))
{
	enum { SB = W / 8 };
	float xt[32 * W], wt[32 * W], sc[W], mn[W];
	int32_t Lt[32 * W];
	uint8_t L[256 * SB];
	size_t i = 0;
	for (; i + SB <= nb; i += SB, x += 256 * SB, y += bytes * SB) {
		lanes_in(x, 32, xt);
		vf sum_x2 = f_set(0.0f);
		for (int l = 0; l < 32; l++) {
			vf v = f_load(xt + l * W);
			sum_x2 = f_add(sum_x2, f_mul(v, v));
		}
		vf av_x = f_sqrt(f_div(sum_x2, f_set(32.0f)));
		for (int l = 0; l < 32; l++)
			f_store(wt + l * W, f_add(av_x, f_abs(f_load(xt + l * W))));
		qkx_lanes(32, nmax, xt, wt, Lt, sc, mn, rmin, 0.1f, nstep, false);
		lanes_out_u8(Lt, 32, L);
		for (int s = 0; s < SB; s++)
			finish(x + 256 * s, y + bytes * s, sc + 8 * s, mn + 8 * s,
			       L + 256 * s, requant_vec);
	}
	scalar(x, y, nb - i);
}

static void q4_k_vec(const float *x, uint8_t *y, size_t nb)
{
	qk_vec(x, y, nb, 15, -1.f, 20, 144, gg_q4_k_finish, gg_q4_k_scalar);
}

static void q5_k_vec(const float *x, uint8_t *y, size_t nb)
{
	qk_vec(x, y, nb, 31, -0.5f, 15, 176, gg_q5_k_finish, gg_q5_k_scalar);
}

/* Q2_K: 16 groups of 16 per super-block, weights |x|. */
static void q2_k_vec(const float *x, uint8_t *y, size_t nb)
{
	float xt[16 * W], wt[16 * W], sc[16], mn[16];
	int32_t Lt[16 * W];
	uint8_t L[256];
	for (size_t i = 0; i < nb; i++, x += 256, y += 84) {
		for (int s = 0; s < 16 / W; s++) {
			lanes_in(x + 16 * W * s, 16, xt);
			for (int l = 0; l < 16 * W; l++)
				wt[l] = fabsf(xt[l]);
			qkx_lanes(16, 3, xt, wt, Lt, sc + W * s, mn + W * s,
				  -0.5f, 0.1f, 15, true);
			lanes_out_u8(Lt, 16, L + 16 * W * s);
		}
		gg_q2_k_finish(x, y, sc, mn, L, requant_vec);
	}
}

/* Q3_K and Q6_K: 16 symmetric groups of 16 per super-block. */
static void sym_k_vec(const float *x, uint8_t *y, size_t nb, size_t bytes,
		      int nmax, void (*group)(int, int, const float *, int32_t *, float *),
		      gg_sym_finish_fn finish)
{
	float xt[16 * W], sc[16];
	int32_t Lt[16 * W];
	uint8_t L[256];
	for (size_t i = 0; i < nb; i++, x += 256, y += bytes) {
		for (int s = 0; s < 16 / W; s++) {
			lanes_in(x + 16 * W * s, 16, xt);
			group(16, nmax, xt, Lt, sc + W * s);
			lanes_out_u8(Lt, 16, L + 16 * W * s);
		}
		finish(x, y, sc, L, requant_vec);
	}
}

static void q3_k_vec(const float *x, uint8_t *y, size_t nb)
{
	sym_k_vec(x, y, nb, 110, 4, q3_lanes, gg_q3_k_finish);
}

static void q6_k_vec(const float *x, uint8_t *y, size_t nb)
{
	sym_k_vec(x, y, nb, 210, 32, qx_lanes, gg_q6_k_finish);
}

/* ---- 32-element blocks, vectorised inside the block ---------------------- */

enum { NV = 32 / W };

static inline void put_d(uint8_t *p, float f)
{
	uint16_t h = gg_q_f16(f);
	memcpy(p, &h, 2);
}

/* roundf per lane: truncate, then step away from zero when the dropped
 * fraction (exact) is at least one half. */
static inline vf f_round_away(vf v)
{
	vf t = f_trunc(v), zero = f_set(0.0f);
	vm away = m_ge(f_abs(f_sub(v, t)), f_set(0.5f));
	vf one = f_sel(m_lt(v, zero), f_set(-1.0f), f_set(1.0f));
	return f_sel(away, f_add(t, one), t);
}

/* The first element of the block equal to v (|element| == v if abs): for
 * a zero, the sign of the first zero, as a running comparison keeps it. */
static inline float first_equal(const vf *x, float v, bool abs)
{
	vf s = f_set(v);
	for (int k = 0; k < NV; k++) {
		int bits = m_bits(m_eq(abs ? f_abs(x[k]) : x[k], s));
		if (bits) {
			float out[W];
			f_store(out, x[k]);
			return out[__builtin_ctz((unsigned)bits)];
		}
	}
	return v;
}

/* signed_absmax of one block of 32. */
static inline float block_signed_absmax(const vf *x)
{
	vf a = f_abs(x[0]);
	for (int k = 1; k < NV; k++)
		a = f_max(a, f_abs(x[k]));
	float amax = f_hmax(a);
	return amax == 0.0f ? 0.0f : first_equal(x, amax, true);
}

/* min_max of one block: running strict comparisons from +-FLT_MAX. */
static inline void block_min_max(const vf *x, float *min, float *max)
{
	vf lo = x[0], hi = x[0];
	for (int k = 1; k < NV; k++) {
		lo = f_sel(m_lt(x[k], lo), x[k], lo);
		hi = f_sel(m_gt(x[k], hi), x[k], hi);
	}
	float a = f_hmin(lo), b = f_hmax(hi);
	*min = !(a < FLT_MAX) ? FLT_MAX : a == 0.0f ? first_equal(x, 0.0f, false) : a;
	*max = !(b > -FLT_MAX) ? -FLT_MAX : b == 0.0f ? first_equal(x, 0.0f, false) : b;
}

static inline void load_block(const float *x, vf *v)
{
	for (int k = 0; k < NV; k++)
		v[k] = f_load(x + k * W);
}

/* Nibbles of 32 levels: byte j = q[j] | q[j + 16] << 4 (low 8 bits). */
static inline void store_nibbles(const vi *q, uint8_t *out)
{
	for (int k = 0; k < 16 / W; k++) {
		vi lo = i_and(q[k], i_set(0xff));
		vi hi = i_sll(i_and(q[k + 16 / W], i_set(0x0f)), 4);
		i_store8(out + k * W, i_or(lo, hi));
	}
}

/* pack5 of 32 levels: fifth bits (4 bytes), then nibbles of the low 4. */
static inline void store_pack5(const vi *q, uint8_t *out)
{
	uint32_t qh = 0;
	vi nib[NV];
	for (int k = 0; k < NV; k++) {
		qh |= (uint32_t)i_testbits(q[k], 0x10) << (k * W);
		nib[k] = i_and(q[k], i_set(0x0f));
	}
	memcpy(out, &qh, 4);
	store_nibbles(nib, out + 4);
}

static void q8_0_vec(const float *x, uint8_t *y, size_t nb)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += 34) {
		vf v[NV];
		load_block(x, v);
		vf a = f_abs(v[0]);
		for (int k = 1; k < NV; k++)
			a = f_max(a, f_abs(v[k]));
		const float d = f_hmax(a) / 127;
		const float id = d ? 1.0f / d : 0.0f;
		put_d(y, d);
		for (int k = 0; k < NV; k++)
			i_store8(y + 2 + k * W, f_trunc_i(f_round_away(f_mul(v[k], f_set(id)))));
	}
}

/* Q4_0 / Q5_0: d = signed absmax / div, levels MIN(top, (int8)(x * id +
 * add)); nibbles (top 15) or pack5 (top 31) after the f16 d. */
static void absmax_vec(const float *x, uint8_t *y, size_t nb, int div,
		       float add, int top, size_t bytes)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += bytes) {
		vf v[NV];
		vi q[NV];
		load_block(x, v);
		const float d = block_signed_absmax(v) / div;
		const float id = d ? 1.0f / d : 0.0f;
		put_d(y, d);
		for (int k = 0; k < NV; k++)
			q[k] = i_min(i_set(top), i_sext8(f_trunc_i(
				f_add(f_mul(v[k], f_set(id)), f_set(add)))));
		if (top == 15)
			store_nibbles(q, y + 2);
		else
			store_pack5(q, y + 2);
	}
}

/* Q4_1 / Q5_1: d = (max - min) / top, then min; levels of (x - min) * id
 * + 0.5 (Q4_1: MIN(15, (int8)...), Q5_1: the low byte). */
static void minmax_vec(const float *x, uint8_t *y, size_t nb, int top,
		       size_t bytes)
{
	for (size_t i = 0; i < nb; i++, x += 32, y += bytes) {
		vf v[NV];
		vi q[NV];
		float min, max;
		load_block(x, v);
		block_min_max(v, &min, &max);
		const float d = (max - min) / top;
		const float id = d ? 1.0f / d : 0.0f;
		put_d(y, d);
		put_d(y + 2, min);
		for (int k = 0; k < NV; k++) {
			q[k] = f_trunc_i(f_add(f_mul(f_sub(v[k], f_set(min)),
						     f_set(id)), f_set(0.5f)));
			if (top == 15)
				q[k] = i_min(i_set(15), i_sext8(q[k]));
		}
		if (top == 15)
			store_nibbles(q, y + 4);
		else
			store_pack5(q, y + 4);
	}
}

static void q4_0_vec(const float *x, uint8_t *y, size_t nb)
{
	absmax_vec(x, y, nb, -8, 8.5f, 15, 18);
}

static void q5_0_vec(const float *x, uint8_t *y, size_t nb)
{
	absmax_vec(x, y, nb, -16, 16.5f, 31, 22);
}

static void q4_1_vec(const float *x, uint8_t *y, size_t nb)
{
	minmax_vec(x, y, nb, 15, 20);
}

static void q5_1_vec(const float *x, uint8_t *y, size_t nb)
{
	minmax_vec(x, y, nb, 31, 24);
}

/* The kernel set of this ISA, in slot order. */
#define QUANT_VEC_KERNELS                                                  \
	{ q4_0_vec, q4_1_vec, q5_0_vec, q5_1_vec, q8_0_vec, q2_k_vec,      \
	  q3_k_vec, q4_k_vec, q5_k_vec, q6_k_vec }
