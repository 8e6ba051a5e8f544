/* test_quant.c - the block quantizers against llama.cpp's own (dlopen of
 * the bundled libggml-base), and every vector kernel set against the
 * scalar kernels, byte for byte, on random and adversarial rows. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamaref.h"
#include "quant.h"
#include "testutil.h"
#include "../convert/quant_impl.h"

static const enum gg_type all_types[] = {
	GG_TYPE_Q4_0, GG_TYPE_Q4_1, GG_TYPE_Q5_0, GG_TYPE_Q5_1, GG_TYPE_Q8_0,
	GG_TYPE_Q2_K, GG_TYPE_Q3_K, GG_TYPE_Q4_K, GG_TYPE_Q5_K, GG_TYPE_Q6_K,
};
#define NTYPES (sizeof all_types / sizeof all_types[0])

static const char *tname(enum gg_type t)
{
	static const char *names[] = { [2] = "Q4_0", [3] = "Q4_1", [6] = "Q5_0",
		[7] = "Q5_1", [8] = "Q8_0", [10] = "Q2_K", [11] = "Q3_K",
		[12] = "Q4_K", [13] = "Q5_K", [14] = "Q6_K" };
	return names[t];
}

/* ---- deterministic rows ---------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	return xorshift64(&rng_state);
}

static float unif(void) /* [0, 1) */
{
	return (float)((rnd() >> 40) * (1.0 / 16777216.0));
}

static float normal(void)
{
	double u = ((rnd() >> 11) + 1.0) / 9007199254740993.0;
	double v = (rnd() >> 11) / 9007199254740992.0;
	return (float)(sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

/* A float with a random sign, mantissa and exponent in [lo, hi]. */
static float any_magnitude(int lo, int hi)
{
	float m = 1.0f + unif();
	int e = lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
	float v = ldexpf(m, e);
	if (isinf(v))
		v = FLT_MAX;
	return rnd() & 1 ? v : -v;
}

enum pattern {
	P_NORMAL01, P_NORMAL1_OUTLIERS, P_UNIFORM, P_ZEROS, P_CONST_POS,
	P_CONST_NEG, P_HUGE, P_TINY, P_SUBNORMAL, P_TIES, P_POSITIVE,
	P_NEGATIVE, P_SPIKE, P_F16_EDGE, P_ANY_EXPONENT, P_PER_BLOCK_MIX,
	P_EXTREMES, P_RAMP, P_COUNT
};

static const char *pattern_name[P_COUNT] = {
	"normal(0.1)", "normal(1)+outliers", "uniform", "zeros", "const+",
	"const-", "huge", "tiny", "subnormal", "ties", "positive", "negative",
	"spike", "f16-edge", "any-exponent", "per-block-mix", "extremes", "ramp",
};

/* One value of pattern p at index i (block-relative where it matters). */
static float value(enum pattern p, size_t i)
{
	switch (p) {
	case P_NORMAL01: return 0.1f * normal();
	case P_NORMAL1_OUTLIERS: return rnd() % 97 == 0 ? 40.f * normal() : normal();
	case P_UNIFORM: return 2 * unif() - 1;
	case P_ZEROS: return (rnd() & 1) ? 0.0f : -0.0f;
	case P_CONST_POS: return 0.37f;
	case P_CONST_NEG: return -1.25f;
	case P_HUGE: return any_magnitude(90, 127);
	case P_TINY: return any_magnitude(-126, -100);
	case P_SUBNORMAL: return any_magnitude(-149, -127);
	case P_TIES: return (float)((int)(rnd() % 33) - 16) * 0.5f;
	case P_POSITIVE: return 3.0f + unif();
	case P_NEGATIVE: return -3.0f - unif();
	case P_SPIKE: return i % 32 == 7 ? 5.0f : 0.0f;
	case P_F16_EDGE: return (rnd() & 1 ? 1 : -1) * (60000.f + 20000.f * unif()) * 127;
	case P_ANY_EXPONENT: return any_magnitude(-149, 127);
	case P_PER_BLOCK_MIX: return 0; /* filled per block below */
	case P_EXTREMES: {
		static const float v[] = { FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
			1e-45f, -1e-45f, 0.0f, 65504.f, -65504.f, 1.0f };
		return v[rnd() % 10];
	}
	case P_RAMP: return ((float)(i % 256) - 127.5f) / 64.0f;
	default: return 0;
	}
}

/* Rows of pattern p; P_PER_BLOCK_MIX draws a pattern per 16 values so
 * neighbouring lanes of a vector kernel see different kinds of data. */
static float *make_rows(enum pattern p, size_t n, uint64_t seed)
{
	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
	float *x = malloc(n * sizeof *x);
	enum pattern cur = p;
	for (size_t i = 0; i < n; i++) {
		if (p == P_PER_BLOCK_MIX && i % 16 == 0)
			cur = (enum pattern)(rnd() % P_PER_BLOCK_MIX);
		x[i] = value(cur, i);
	}
	return x;
}

/* ---- comparisons ------------------------------------------------------------ */

static void assert_same(const uint8_t *got, const uint8_t *want, size_t n,
			const char *what, enum gg_type t, enum pattern p,
			size_t block_bytes)
{
	for (size_t i = 0; i < n; i++) {
		if (got[i] != want[i])
			fail_msg("%s: %s, rows %s: first difference at byte %zu "
				 "(block %zu, byte %zu): %02x != %02x", what,
				 tname(t), pattern_name[p], i, i / block_bytes,
				 i % block_bytes, got[i], want[i]);
	}
}

/* gg_quantize_scalar == ggml_quantize_chunk, for every type and pattern. */
static void test_scalar_equals_llama(void **state)
{
	(void)state;
	const size_t n_per_row = 512, nrows = 16, n = n_per_row * nrows;
	for (size_t ti = 0; ti < NTYPES; ti++) {
		enum gg_type t = all_types[ti];
		size_t bytes = (size_t)gg_row_size(t, n_per_row) * nrows;
		size_t bb = (size_t)gg_row_size(t, gg_quant_block(t));
		uint8_t *a = malloc(bytes), *b = malloc(bytes);
		for (int p = 0; p < P_COUNT; p++) {
			float *x = make_rows((enum pattern)p, n, (uint64_t)(p * 31 + ti));
			memset(a, 0xa5, bytes);
			memset(b, 0x5a, bytes);
			gg_quantize_scalar(t, x, a, nrows, n_per_row);
			size_t r = llamaref_quantize_chunk(t, x, b, (int64_t)nrows,
							   (int64_t)n_per_row);
			assert_int_equal(r, bytes);
			assert_same(a, b, bytes, "scalar vs llama.cpp", t,
				    (enum pattern)p, bb);
			free(x);
		}
		free(a);
		free(b);
	}
}

/* A row of 64 (two Q*_0 blocks) and one super-block row, as fallbacks
 * and the smallest k-quant tensors see them. */
static void test_small_rows(void **state)
{
	(void)state;
	for (size_t ti = 0; ti < NTYPES; ti++) {
		enum gg_type t = all_types[ti];
		size_t n_per_row = gg_quant_block(t) == 32 ? 64 : 256, nrows = 3;
		size_t bytes = (size_t)gg_row_size(t, n_per_row) * nrows;
		float *x = make_rows(P_NORMAL01, n_per_row * nrows, 99);
		uint8_t *a = malloc(bytes), *b = malloc(bytes);
		gg_quantize(t, x, a, nrows, n_per_row);
		llamaref_quantize_chunk(t, x, b, (int64_t)nrows, (int64_t)n_per_row);
		assert_same(a, b, bytes, "small rows", t, P_NORMAL01, bytes);
		free(x);
		free(a);
		free(b);
	}
}

static void test_row_sizes(void **state)
{
	(void)state;
	assert_int_equal(gg_row_size(GG_TYPE_Q4_0, 64), 36);
	assert_int_equal(gg_row_size(GG_TYPE_Q8_0, 4096), 4352);
	assert_int_equal(gg_row_size(GG_TYPE_Q4_K, 4096), 2304);
	assert_int_equal(gg_row_size(GG_TYPE_Q6_K, 256), 210);
	assert_int_equal(gg_row_size(GG_TYPE_Q4_K, 64), 0);
	assert_int_equal(gg_row_size(GG_TYPE_F16, 7), 14);
	assert_int_equal(gg_row_size(GG_TYPE_BF16, 3), 6);
	assert_int_equal(gg_quant_block(GG_TYPE_Q5_K), 256);
	assert_int_equal(gg_quant_block(GG_TYPE_Q5_1), 32);
	assert_int_equal(gg_quant_block(GG_TYPE_F16), 0);
	assert_false(gg_quant_supported(GG_TYPE_BF16));
}

/* Each vector kernel set the CPU has gives the scalar bytes, on many rows
 * (odd block counts so every kernel's leftover path runs too). */
static void check_set(const struct gg_quant_kernels *k)
{
	for (size_t ti = 0; ti < NTYPES; ti++) {
		enum gg_type t = all_types[ti];
		int s = (int)ti; /* all_types is in slot order */
		if (!k->fn[s])
			continue;
		size_t blk = gg_quant_block(t), bb = (size_t)gg_row_size(t, blk);
		size_t nb = blk == 32 ? 1031 : 133;
		for (int p = 0; p < P_COUNT; p++) {
			float *x = make_rows((enum pattern)p, nb * blk, (uint64_t)(7 * p + 3 * ti + 1));
			uint8_t *a = malloc(nb * bb), *b = malloc(nb * bb);
			memset(a, 0x11, nb * bb);
			memset(b, 0xee, nb * bb);
			k->fn[s](x, a, nb);
			gg_quantize_scalar(t, x, b, nb, blk);
			char what[64];
			snprintf(what, sizeof what, "%s vs scalar", k->name);
			assert_same(a, b, nb * bb, what, t, (enum pattern)p, bb);
			free(x);
			free(a);
			free(b);
		}
	}
}

static void test_avx2_equals_scalar(void **state)
{
	(void)state;
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("f16c"))
		skip();
	check_set(&gg_quant_avx2);
}

static void test_avx512_equals_scalar(void **state)
{
	(void)state;
	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
	    !__builtin_cpu_supports("avx512vl"))
		skip();
	check_set(&gg_quant_avx512);
}

/* The dispatched kernel is one of the known sets and matches llama.cpp. */
static void test_dispatch(void **state)
{
	(void)state;
	const char *k = gg_quant_kernel();
	assert_true(strcmp(k, "scalar") == 0 || strcmp(k, "avx2") == 0 ||
		    strcmp(k, "avx512") == 0);
	const size_t n = 256 * 40;
	float *x = make_rows(P_PER_BLOCK_MIX, n, 5);
	for (size_t ti = 0; ti < NTYPES; ti++) {
		enum gg_type t = all_types[ti];
		size_t bytes = (size_t)gg_row_size(t, n);
		uint8_t *a = malloc(bytes), *b = malloc(bytes);
		gg_quantize(t, x, a, 1, n);
		llamaref_quantize_chunk(t, x, b, 1, (int64_t)n);
		assert_same(a, b, bytes, "dispatched", t, P_PER_BLOCK_MIX, bytes);
		free(a);
		free(b);
	}
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row_sizes),
		cmocka_unit_test(test_scalar_equals_llama),
		cmocka_unit_test(test_small_rows),
		cmocka_unit_test(test_avx2_equals_scalar),
		cmocka_unit_test(test_avx512_equals_scalar),
		cmocka_unit_test(test_dispatch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
