/* test_dtype.c - F16/BF16/F32 conversions: exhaustive 16-bit round trips,
 * rounding edge cases with their exact expected bits, and the vectorised
 * bulk kernels against the scalar reference functions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dtype.h"

static uint32_t bits_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float float_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static bool f16_is_nan(uint16_t h)
{
	return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0;
}

static bool bf16_is_nan(uint16_t b)
{
	return (b & 0x7f80) == 0x7f80 && (b & 0x007f) != 0;
}

/* Deterministic 64-bit generator (splitmix64) so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- type table ----------------------------------------------------- */

static void type_table(void **state)
{
	(void)state;
	assert_int_equal(gg_type_size(GG_TYPE_F32), 4);
	assert_int_equal(gg_type_size(GG_TYPE_F16), 2);
	assert_int_equal(gg_type_size(GG_TYPE_BF16), 2);
	assert_int_equal(gg_type_size((enum gg_type)2), 0);
	assert_string_equal(gg_type_name(GG_TYPE_BF16), "BF16");
	assert_string_equal(gg_type_name(GG_TYPE_Q5_1), "Q5_1");
	assert_null(gg_type_name((enum gg_type)4)); /* a retired GGML id */
	assert_int_equal(gg_type_from_safetensors("BF16"), GG_TYPE_BF16);
	assert_int_equal(gg_type_from_safetensors("F16"), GG_TYPE_F16);
	assert_int_equal(gg_type_from_safetensors("F32"), GG_TYPE_F32);
	assert_int_equal(gg_type_from_safetensors("F64"), -1);
	assert_int_equal(gg_type_from_safetensors("bf16"), -1);
}

/* ---- F16 ------------------------------------------------------------ */

/* Every F16 pattern through F32 and back. Non-NaNs come back exactly;
 * NaNs come back with the quiet bit set and the payload kept, which makes
 * quiet NaNs exact and signalling ones h | 0x0200 (x448/float16 and F16C
 * behave the same way). */
static void f16_round_trip_all(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 65536; h++) {
		uint16_t back = gg_f32_to_f16(gg_f16_to_f32((uint16_t)h));
		uint16_t want = f16_is_nan((uint16_t)h) ? (uint16_t)(h | 0x0200)
						       : (uint16_t)h;
		if (back != want)
			fail_msg("f16 0x%04x -> 0x%04x, want 0x%04x", h, back, want);
	}
}

static void f16_to_f32_values(void **state)
{
	(void)state;
	assert_int_equal(bits_of(gg_f16_to_f32(0x0000)), 0x00000000);
	assert_int_equal(bits_of(gg_f16_to_f32(0x8000)), 0x80000000);
	assert_true(gg_f16_to_f32(0x3c00) == 1.0f);
	assert_true(gg_f16_to_f32(0xc000) == -2.0f);
	assert_true(gg_f16_to_f32(0x7bff) == 65504.0f);
	assert_true(gg_f16_to_f32(0x0001) == 0x1p-24f);	/* smallest subnormal */
	assert_true(gg_f16_to_f32(0x03ff) == 1023 * 0x1p-24f); /* largest */
	assert_true(gg_f16_to_f32(0x0400) == 0x1p-14f);	/* smallest normal */
	assert_int_equal(bits_of(gg_f16_to_f32(0x7c00)), 0x7f800000);
	assert_int_equal(bits_of(gg_f16_to_f32(0xfc00)), 0xff800000);
	/* NaN payload shifted into the top of the F32 mantissa, quieted. */
	assert_int_equal(bits_of(gg_f16_to_f32(0x7e00)), 0x7fc00000);
	assert_int_equal(bits_of(gg_f16_to_f32(0x7c01)), 0x7fc02000);
	assert_int_equal(bits_of(gg_f16_to_f32(0xfe55)), 0xffcaa000);
	/* Every finite F16 value is exactly representable: check by value
	 * against a computation in double. */
	for (uint32_t h = 0; h < 0x7c00; h++) {
		uint32_t e = h >> 10, m = h & 0x3ff;
		double v = e ? (1024 + m) * 0x1p-25 * (double)(1u << e)
			     : m * 0x1p-24;
		if ((double)gg_f16_to_f32((uint16_t)h) != v)
			fail_msg("f16 0x%04x", h);
		if ((double)gg_f16_to_f32((uint16_t)(h | 0x8000)) != -v)
			fail_msg("f16 0x%04x", h | 0x8000);
	}
}

static void f32_to_f16_rounding(void **state)
{
	(void)state;
	/* Exact values. */
	assert_int_equal(gg_f32_to_f16(0.0f), 0x0000);
	assert_int_equal(gg_f32_to_f16(-0.0f), 0x8000);
	assert_int_equal(gg_f32_to_f16(1.0f), 0x3c00);
	assert_int_equal(gg_f32_to_f16(65504.0f), 0x7bff);
	assert_int_equal(gg_f32_to_f16(-65504.0f), 0xfbff);

	/* Ties to even at a normal: 1 + 2^-11 is halfway between 1 (even)
	 * and 1 + 2^-10 (odd): goes down; 1 + 3*2^-11 goes up to even. */
	assert_int_equal(gg_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
	assert_int_equal(gg_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
	/* Just above the tie rounds up. */
	assert_int_equal(gg_f32_to_f16(float_of(bits_of(1.0f + 0x1p-11f) + 1)),
			 0x3c01);
	/* Just below goes down. */
	assert_int_equal(gg_f32_to_f16(float_of(bits_of(1.0f + 3 * 0x1p-11f) - 1)),
			 0x3c01);

	/* Subnormal results. */
	assert_int_equal(gg_f32_to_f16(0x1p-24f), 0x0001); /* smallest */
	assert_int_equal(gg_f32_to_f16(0x1p-25f), 0x0000); /* tie -> even 0 */
	assert_int_equal(gg_f32_to_f16(-0x1p-25f), 0x8000);
	assert_int_equal(gg_f32_to_f16(float_of(bits_of(0x1p-25f) + 1)), 0x0001);
	assert_int_equal(gg_f32_to_f16(1.5f * 0x1p-24f), 0x0002); /* tie up */
	assert_int_equal(gg_f32_to_f16(2.5f * 0x1p-24f), 0x0002); /* tie down */
	assert_int_equal(gg_f32_to_f16(0x1p-26f), 0x0000);
	assert_int_equal(gg_f32_to_f16(0x1p-140f), 0x0000);
	assert_int_equal(gg_f32_to_f16(float_of(0x00000001)), 0x0000);
	assert_int_equal(gg_f32_to_f16(float_of(0x80000001)), 0x8000);
	/* Largest subnormal + half ulp ties to even: 0x3ff is odd, so up
	 * into the smallest normal (next binade). */
	assert_int_equal(gg_f32_to_f16(1023.5f * 0x1p-24f), 0x0400);
	assert_int_equal(gg_f32_to_f16(1022.5f * 0x1p-24f), 0x03fe);

	/* Rounding up into the next binade: 2 - 2^-11 is the tie between
	 * 0x3fff (odd) and 2.0, so it goes up; just below it stays. */
	assert_int_equal(gg_f32_to_f16(2.0f - 0x1p-11f), 0x4000);
	assert_int_equal(gg_f32_to_f16(2.0f - 0x1p-12f), 0x4000);
	assert_int_equal(gg_f32_to_f16(float_of(bits_of(2.0f - 0x1p-11f) - 1)),
			 0x3fff);
	assert_int_equal(gg_f32_to_f16(2.0f - 0x1p-10f), 0x3fff); /* exact */
	assert_int_equal(gg_f32_to_f16(float_of(bits_of(0x1p-14f) - 1)), 0x0400);

	/* Top of the range: 65519.99 rounds down, 65520 (the tie, odd
	 * 0x7bff) rounds up to infinity. */
	assert_int_equal(gg_f32_to_f16(65519.99f), 0x7bff);
	assert_int_equal(gg_f32_to_f16(float_of(bits_of(65520.0f) - 1)), 0x7bff);
	assert_int_equal(gg_f32_to_f16(65520.0f), 0x7c00);
	assert_int_equal(gg_f32_to_f16(-65520.0f), 0xfc00);
	assert_int_equal(gg_f32_to_f16(1e10f), 0x7c00);
	assert_int_equal(gg_f32_to_f16(-3.0e38f), 0xfc00);
	assert_int_equal(gg_f32_to_f16(float_of(0x7f800000)), 0x7c00);
	assert_int_equal(gg_f32_to_f16(float_of(0xff800000)), 0xfc00);

	/* NaN: sign | 0x7c00 | quiet bit | top mantissa bits. */
	assert_int_equal(gg_f32_to_f16(float_of(0x7fc00000)), 0x7e00);
	assert_int_equal(gg_f32_to_f16(float_of(0xffc00000)), 0xfe00);
	assert_int_equal(gg_f32_to_f16(float_of(0x7f800001)), 0x7e00);
	assert_int_equal(gg_f32_to_f16(float_of(0x7fa02000)), 0x7f01);
	assert_int_equal(gg_f32_to_f16(float_of(0x7fffffff)), 0x7fff);
}

#if defined(__FLT16_MAX__)
/* An independent reference: the compiler's own float -> _Float16
 * conversion (IEEE round-to-nearest-even). Checked on a spread of 16M
 * F32 patterns covering every exponent; NaNs are checked elsewhere. */
static void f32_to_f16_matches_compiler(void **state)
{
	(void)state;
	for (uint64_t u = 0; u < (1ull << 32); u += 251) {
		float f = float_of((uint32_t)u);
		if (f != f)
			continue;
		_Float16 h = (_Float16)f;
		uint16_t want;
		memcpy(&want, &h, 2);
		uint16_t got = gg_f32_to_f16(f);
		if (got != want)
			fail_msg("f32 0x%08x -> 0x%04x, want 0x%04x",
				 (uint32_t)u, got, want);
	}
}
#endif

/* ---- BF16 ----------------------------------------------------------- */

static void bf16_round_trip_all(void **state)
{
	(void)state;
	for (uint32_t b = 0; b < 65536; b++) {
		float f = gg_bf16_to_f32((uint16_t)b);
		assert_int_equal(bits_of(f), b << 16); /* exact, NaNs too */
		uint16_t back = gg_f32_to_bf16(f);
		uint16_t want = bf16_is_nan((uint16_t)b)
					? (uint16_t)((b & 0x8000) | 0x7fc0)
					: (uint16_t)b;
		if (back != want)
			fail_msg("bf16 0x%04x -> 0x%04x, want 0x%04x", b, back,
				 want);
	}
}

static void f32_to_bf16_rounding(void **state)
{
	(void)state;
	/* Ties: the dropped half is exactly 0x8000. */
	assert_int_equal(gg_f32_to_bf16(float_of(0x3f808000)), 0x3f80); /* even: down */
	assert_int_equal(gg_f32_to_bf16(float_of(0x3f818000)), 0x3f82); /* odd: up */
	assert_int_equal(gg_f32_to_bf16(float_of(0x3f808001)), 0x3f81);
	assert_int_equal(gg_f32_to_bf16(float_of(0x3f817fff)), 0x3f81);
	assert_int_equal(gg_f32_to_bf16(float_of(0xbf818000)), 0xbf82);
	/* Up into the next binade and to infinity. */
	assert_int_equal(gg_f32_to_bf16(float_of(0x3fffffff)), 0x4000);
	assert_int_equal(gg_f32_to_bf16(float_of(0x7f7fffff)), 0x7f80);
	assert_int_equal(gg_f32_to_bf16(float_of(0x7f7f7fff)), 0x7f7f);
	/* Subnormals round like everything else. */
	assert_int_equal(gg_f32_to_bf16(float_of(0x00008000)), 0x0000);
	assert_int_equal(gg_f32_to_bf16(float_of(0x00018000)), 0x0002);
	assert_int_equal(gg_f32_to_bf16(-0.0f), 0x8000);
	assert_int_equal(gg_f32_to_bf16(float_of(0x7f800000)), 0x7f80);
	/* NaNs become the canonical quiet NaN, sign kept; a payload that
	 * would round to infinity must not. */
	assert_int_equal(gg_f32_to_bf16(float_of(0x7f800001)), 0x7fc0);
	assert_int_equal(gg_f32_to_bf16(float_of(0xffffffff)), 0xffc0);
	assert_int_equal(gg_f32_to_bf16(float_of(0x7fc00000)), 0x7fc0);
}

/* ---- bulk kernels against the scalar functions ---------------------- */

/* Scalar expectation for one element, from raw bits. */
static uint32_t expect_one(enum gg_type from, enum gg_type to, uint32_t in)
{
	if (from == to) /* a plain copy */
		return gg_type_size(from) == 2 ? (in & 0xffff) : in;
	float f;
	switch (from) {
	case GG_TYPE_F32: f = float_of(in); break;
	case GG_TYPE_F16: f = gg_f16_to_f32((uint16_t)in); break;
	default: f = gg_bf16_to_f32((uint16_t)in); break;
	}
	switch (to) {
	case GG_TYPE_F32: return bits_of(f);
	case GG_TYPE_F16: return gg_f32_to_f16(f);
	default: return gg_f32_to_bf16(f);
	}
}

static uint32_t get_elem(const uint8_t *p, size_t width, size_t i)
{
	uint32_t v = 0;
	memcpy(&v, p + width * i, width); /* little-endian host */
	return v;
}

/* Convert n elements read from `in` (raw bits in 32-bit slots) at the
 * given byte misalignments and compare every output with the scalar
 * path. Returns the number of mismatches. */
static size_t check_bulk(enum gg_type from, enum gg_type to,
			 const uint32_t *in, size_t n, size_t src_off,
			 size_t dst_off)
{
	size_t sw = gg_type_size(from), dw = gg_type_size(to);
	uint8_t *src = malloc(n * sw + src_off + 1);
	uint8_t *dst = malloc(n * dw + dst_off + 8);
	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < n; i++)
		memcpy(src + src_off + sw * i, &in[i], sw);
	/* A guard after the output catches writes past the end. */
	memset(dst + dst_off + n * dw, 0xa5, 8);
	gg_convert(from, src + src_off, to, dst + dst_off, n);
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t want = expect_one(from, to, in[i]);
		uint32_t got = get_elem(dst + dst_off, dw, i);
		if (got != want && bad++ < 5)
			print_error("%s->%s elem %zu in 0x%08x got 0x%08x want 0x%08x\n",
				    gg_type_name(from), gg_type_name(to), i,
				    in[i], got, want);
	}
	for (size_t i = 0; i < 8; i++)
		if (dst[dst_off + n * dw + i] != 0xa5)
			bad++;
	free(src);
	free(dst);
	return bad;
}

static const enum gg_type all_types[] = { GG_TYPE_F32, GG_TYPE_F16,
					  GG_TYPE_BF16 };

static void bulk_all_16bit_patterns(void **state)
{
	(void)state;
	uint32_t *in = malloc(65536 * sizeof *in);
	assert_non_null(in);
	for (uint32_t i = 0; i < 65536; i++)
		in[i] = i;
	size_t bad = 0;
	for (int a = 1; a < 3; a++)
		for (int b = 0; b < 3; b++)
			if (a != b)
				bad += check_bulk(all_types[a], all_types[b],
						  in, 65536, 0, 0);
	/* F32 inputs whose top half is every pattern (the bits that
	 * decide F16 and BF16 results), with a varying low half. */
	for (uint32_t i = 0; i < 65536; i++)
		in[i] = (i << 16) | (uint32_t)(rng_next() & 0xffff);
	bad += check_bulk(GG_TYPE_F32, GG_TYPE_F16, in, 65536, 0, 0);
	bad += check_bulk(GG_TYPE_F32, GG_TYPE_BF16, in, 65536, 0, 0);
	free(in);
	assert_int_equal(bad, 0);
}

static void bulk_random_f32(void **state)
{
	(void)state;
	size_t n = 4u << 20;
	uint32_t *in = malloc(n * sizeof *in);
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint32_t)rng_next();
	/* Rounding ties and near-ties are rare in random bits: plant some. */
	for (size_t i = 0; i < n; i += 7)
		in[i] = (in[i] & 0xffffe000u) | 0x1000u;
	for (size_t i = 3; i < n; i += 11)
		in[i] = (in[i] & 0xffff0000u) | 0x8000u;
	size_t bad = check_bulk(GG_TYPE_F32, GG_TYPE_F16, in, n, 0, 0);
	bad += check_bulk(GG_TYPE_F32, GG_TYPE_BF16, in, n, 0, 0);
	free(in);
	assert_int_equal(bad, 0);
}

/* Odd lengths around every vector width and odd byte offsets for both
 * buffers exercise the tails and unaligned accesses. */
static void bulk_tails_and_alignment(void **state)
{
	(void)state;
	uint32_t in[100];
	for (size_t i = 0; i < 100; i++)
		in[i] = (uint32_t)rng_next();
	in[0] = 0x7f800001; /* NaNs in odd places */
	in[17] = 0xffc00000;
	size_t bad = 0;
	for (size_t n = 0; n <= 100; n++)
		for (int a = 0; a < 3; a++)
			for (int b = 0; b < 3; b++)
				bad += check_bulk(all_types[a], all_types[b],
						  in, n, n % 3, (n + 1) % 5);
	assert_int_equal(bad, 0);
}

static void kernel_name(void **state)
{
	(void)state;
	const char *k = gg_convert_kernel();
	const char *forced = getenv("GGUFFS_SCALAR");
	print_message("gg_convert kernel: %s\n", k);
	if (forced && strcmp(forced, "1") == 0)
		assert_string_equal(k, "scalar");
	else
		assert_true(strcmp(k, "avx512") == 0 || strcmp(k, "f16c") == 0 ||
			    strcmp(k, "scalar") == 0);
}

/* The kernel set is chosen once per process, so each set this CPU can
 * run is checked in a child process of this test binary started with
 * GGUFFS_KERNEL=<name> and "--kernel-check". */
static int kernel_check_child(const char *want)
{
	if (strcmp(gg_convert_kernel(), want) != 0) {
		fprintf(stderr, "asked for kernel %s, got %s\n", want,
			gg_convert_kernel());
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bulk_all_16bit_patterns),
		cmocka_unit_test(bulk_random_f32),
		cmocka_unit_test(bulk_tails_and_alignment),
	};
	return cmocka_run_group_tests_name(want, tests, NULL, NULL) ? 1 : 0;
}

static void run_kernel_child(const char *name)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("GGUFFS_KERNEL", name, 1);
		unsetenv("GGUFFS_SCALAR");
		execl("/proc/self/exe", "test_dtype", "--kernel-check", name,
		      (char *)NULL);
		_exit(127);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void every_kernel_matches_scalar(void **state)
{
	(void)state;
	__builtin_cpu_init();
	run_kernel_child("scalar");
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c"))
		run_kernel_child("f16c");
	else
		print_message("skipping f16c kernels: CPU lacks AVX2/F16C\n");
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("f16c"))
		run_kernel_child("avx512");
	else
		print_message("skipping avx512 kernels: CPU lacks AVX-512\n");
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--kernel-check") == 0)
		return kernel_check_child(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(type_table),
		cmocka_unit_test(f16_round_trip_all),
		cmocka_unit_test(f16_to_f32_values),
		cmocka_unit_test(f32_to_f16_rounding),
#if defined(__FLT16_MAX__)
		cmocka_unit_test(f32_to_f16_matches_compiler),
#endif
		cmocka_unit_test(bf16_round_trip_all),
		cmocka_unit_test(f32_to_bf16_rounding),
		cmocka_unit_test(kernel_name),
		cmocka_unit_test(bulk_all_16bit_patterns),
		cmocka_unit_test(bulk_tails_and_alignment),
		cmocka_unit_test(every_kernel_matches_scalar),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
