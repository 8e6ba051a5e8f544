/* dtype.c - see dtype.h.
 *
 * Bit-level contract (the scalar functions define it; the vector kernels
 * are tested against them over every 16-bit input and millions of random
 * 32-bit ones):
 *
 *   F16 -> F32   exact. A NaN keeps its sign and payload (mantissa << 13)
 *                and gets the quiet bit set, as x448/float16 (which Ollama
 *                uses) and the F16C instruction VCVTPH2PS both do. So a
 *                signalling F16 NaN comes back from a round trip quiet
 *                (h | 0x0200); every other pattern round-trips exactly.
 *   F32 -> F16   IEEE round-to-nearest-even, subnormal results included,
 *                overflow to infinity. NaN -> sign | 0x7c00 | 0x0200 |
 *                (mantissa >> 13): x448/float16 Fromfloat32 exactly, and
 *                the same bits VCVTPS2PH produces.
 *   BF16 -> F32  exact (bits << 16).
 *   F32 -> BF16  round-to-nearest-even on the bit pattern; NaN becomes the
 *                canonical quiet NaN sign | 0x7fc0. Ollama truncates here
 *                (d4l3k/go-bfloat16), but only ever feeds it values that
 *                came from BF16, where both agree except for NaNs.
 *
 * Kernels are chosen once, at first use: AVX-512F, else AVX2+F16C, else
 * scalar. The project builds without -march, so the vector code is
 * compiled per function with target attributes and only called when
 * __builtin_cpu_supports says the CPU has the instructions.
 */
#include "dtype.h"
#include "util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <immintrin.h>

/* ---- type table ----------------------------------------------------- */

size_t gg_type_size(enum gg_type t)
{
	switch (t) {
	case GG_TYPE_F32: return 4;
	case GG_TYPE_F16: return 2;
	case GG_TYPE_BF16: return 2;
	case GG_TYPE_U8: return 1;
	default: return 0;
	}
}

const char *gg_type_name(enum gg_type t)
{
	switch (t) {
	case GG_TYPE_F32: return "F32";
	case GG_TYPE_F16: return "F16";
	case GG_TYPE_BF16: return "BF16";
	case GG_TYPE_U8: return "U8";
	case GG_TYPE_MXFP4: return "MXFP4";
	case GG_TYPE_Q4_0: return "Q4_0";
	case GG_TYPE_Q4_1: return "Q4_1";
	case GG_TYPE_Q5_0: return "Q5_0";
	case GG_TYPE_Q5_1: return "Q5_1";
	case GG_TYPE_Q8_0: return "Q8_0";
	case GG_TYPE_Q2_K: return "Q2_K";
	case GG_TYPE_Q3_K: return "Q3_K";
	case GG_TYPE_Q4_K: return "Q4_K";
	case GG_TYPE_Q5_K: return "Q5_K";
	case GG_TYPE_Q6_K: return "Q6_K";
	}
	return NULL;
}

int gg_type_from_safetensors(const char *s)
{
	if (strcmp(s, "F32") == 0)
		return GG_TYPE_F32;
	if (strcmp(s, "F16") == 0)
		return GG_TYPE_F16;
	if (strcmp(s, "BF16") == 0)
		return GG_TYPE_BF16;
	if (strcmp(s, "U8") == 0)
		return GG_TYPE_U8;
	return -1;
}

/* ---- scalar reference conversions ----------------------------------- */

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static float f32_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

float gg_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;

	if (exp == 0x1f) {
		if (mant == 0)
			return f32_from_bits(sign | 0x7f800000);
		return f32_from_bits(sign | 0x7fc00000 | (mant << 13));
	}
	if (exp == 0) {
		if (mant == 0)
			return f32_from_bits(sign);
		/* Subnormal: shift the leading 1 up to the implicit bit
		 * position, lowering the exponent once per shift. */
		exp = 1;
		while ((mant & 0x400) == 0) {
			mant <<= 1;
			exp--;
		}
		mant &= 0x3ff;
	}
	return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Round `mant >> shift` to nearest, ties to even (1 <= shift <= 31). */
static uint32_t shift_round_even(uint32_t mant, uint32_t shift)
{
	uint32_t kept = mant >> shift;
	uint32_t rest = mant & ((1u << shift) - 1);
	uint32_t half = 1u << (shift - 1);
	if (rest > half || (rest == half && (kept & 1)))
		kept++;
	return kept;
}

uint16_t gg_f32_to_f16(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t exp = (x >> 23) & 0xff;
	uint32_t mant = x & 0x7fffff;

	if (exp == 0xff) {
		if (mant == 0)
			return sign | 0x7c00;
		return (uint16_t)(sign | 0x7e00 | (mant >> 13));
	}
	/* F32 exponents 113..142 are F16 normals (1..30). */
	if (exp >= 143)
		return sign | 0x7c00;
	if (exp >= 113) {
		/* A carry out of the mantissa bumps the exponent, which is
		 * the right answer, up to infinity from 65520 on. */
		uint32_t h = ((exp - 112) << 10) + shift_round_even(mant, 13);
		return (uint16_t)(sign | h);
	}
	/* F16 subnormal (or zero) result: units of 2^-24. The value is
	 * (mant | implicit 1) * 2^(exp - 150), so shift right by 126 - exp.
	 * Below 2^-25 everything rounds to zero; 2^-25 itself ties to 0. */
	if (exp < 102)
		return sign;
	uint32_t h = shift_round_even(mant | 0x800000, 126 - exp);
	return (uint16_t)(sign | h);
}

float gg_bf16_to_f32(uint16_t b)
{
	return f32_from_bits((uint32_t)b << 16);
}

uint16_t gg_f32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)(((x >> 16) & 0x8000) | 0x7fc0);
	/* Adding 0x7fff plus the kept lsb rounds half to even; a carry into
	 * the exponent is correct and reaches infinity at the top. */
	uint32_t lsb = (x >> 16) & 1;
	return (uint16_t)((x + 0x7fff + lsb) >> 16);
}

/* ---- scalar bulk kernels -------------------------------------------- */

/* Tensor data comes from mmap'd files at whatever byte offset the file
 * format put it, so buffers may be misaligned for their element type:
 * every access goes through memcpy (which compiles to a plain move). */

static uint16_t load16(const void *p, size_t i)
{
	uint16_t v;
	memcpy(&v, (const uint8_t *)p + 2 * i, 2);
	return v;
}

static float load32(const void *p, size_t i)
{
	float v;
	memcpy(&v, (const uint8_t *)p + 4 * i, 4);
	return v;
}

static void store16(void *p, size_t i, uint16_t v)
{
	memcpy((uint8_t *)p + 2 * i, &v, 2);
}

static void store32(void *p, size_t i, float v)
{
	memcpy((uint8_t *)p + 4 * i, &v, 4);
}

/* Each kernel converts elements [i, n); the vector kernels call them for
 * the tail that does not fill a register. */

static void f16_f32_scalar(const void *s, void *d, size_t i, size_t n)
{
	for (; i < n; i++)
		store32(d, i, gg_f16_to_f32(load16(s, i)));
}

static void f32_f16_scalar(const void *s, void *d, size_t i, size_t n)
{
	for (; i < n; i++)
		store16(d, i, gg_f32_to_f16(load32(s, i)));
}

static void bf16_f32_scalar(const void *s, void *d, size_t i, size_t n)
{
	for (; i < n; i++)
		store32(d, i, gg_bf16_to_f32(load16(s, i)));
}

static void f32_bf16_scalar(const void *s, void *d, size_t i, size_t n)
{
	for (; i < n; i++)
		store16(d, i, gg_f32_to_bf16(load32(s, i)));
}

static void bf16_f16_scalar(const void *s, void *d, size_t i, size_t n)
{
	for (; i < n; i++)
		store16(d, i, gg_f32_to_f16(gg_bf16_to_f32(load16(s, i))));
}

static void f16_bf16_scalar(const void *s, void *d, size_t i, size_t n)
{
	for (; i < n; i++)
		store16(d, i, gg_f32_to_bf16(gg_f16_to_f32(load16(s, i))));
}

/* ---- AVX2 + F16C kernels (8 lanes) ---------------------------------- */

/* VCVTPS2PH immediate: round to nearest even regardless of MXCSR, and
 * raise no exceptions. */
#define CVT_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

#define TARGET_F16C __attribute__((target("avx2,f16c")))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,f16c")))

TARGET_F16C static __m256 bf16x8_to_f32(__m128i b)
{
	return _mm256_castsi256_ps(
		_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
}

/* Integer form of gg_f32_to_bf16 on 8 lanes, returning 32-bit lanes. */
TARGET_F16C static __m256i f32x8_to_bf16_lanes(__m256 f)
{
	__m256i x = _mm256_castps_si256(f);
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16),
				       _mm256_set1_epi32(1));
	__m256i bias = _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff));
	__m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, bias), 16);
	__m256i abs = _mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff));
	__m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
	__m256i qnan = _mm256_or_si256(
		_mm256_and_si256(_mm256_srli_epi32(x, 16),
				 _mm256_set1_epi32(0x8000)),
		_mm256_set1_epi32(0x7fc0));
	return _mm256_blendv_epi8(r, qnan, nan);
}

/* Pack eight 32-bit lanes holding 16-bit values into 16-bit lanes. */
TARGET_F16C static __m128i pack_u32x8(__m256i v)
{
	__m128i lo = _mm256_castsi256_si128(v);
	__m128i hi = _mm256_extracti128_si256(v, 1);
	return _mm_packus_epi32(lo, hi); /* values are < 65536: no saturation */
}

TARGET_F16C static void f16_f32_f16c(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(s + 2 * i));
		_mm256_storeu_ps((float *)(d + 4 * i), _mm256_cvtph_ps(h));
	}
	f16_f32_scalar(s, d, i, n);
}

TARGET_F16C static void f32_f16_f16c(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 f = _mm256_loadu_ps((const float *)(s + 4 * i));
		_mm_storeu_si128((__m128i *)(d + 2 * i), _mm256_cvtps_ph(f, CVT_RNE));
	}
	f32_f16_scalar(s, d, i, n);
}

TARGET_F16C static void bf16_f32_f16c(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 2 * i));
		_mm256_storeu_ps((float *)(d + 4 * i), bf16x8_to_f32(b));
	}
	bf16_f32_scalar(s, d, i, n);
}

TARGET_F16C static void f32_bf16_f16c(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256i r = f32x8_to_bf16_lanes(_mm256_loadu_ps((const float *)(s + 4 * i)));
		_mm_storeu_si128((__m128i *)(d + 2 * i), pack_u32x8(r));
	}
	f32_bf16_scalar(s, d, i, n);
}

TARGET_F16C static void bf16_f16_f16c(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i b = _mm_loadu_si128((const __m128i *)(s + 2 * i));
		_mm_storeu_si128((__m128i *)(d + 2 * i),
				 _mm256_cvtps_ph(bf16x8_to_f32(b), CVT_RNE));
	}
	bf16_f16_scalar(s, d, i, n);
}

TARGET_F16C static void f16_bf16_f16c(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(s + 2 * i));
		__m256i r = f32x8_to_bf16_lanes(_mm256_cvtph_ps(h));
		_mm_storeu_si128((__m128i *)(d + 2 * i), pack_u32x8(r));
	}
	f16_bf16_scalar(s, d, i, n);
}

/* ---- AVX-512 kernels (16 lanes) ------------------------------------- */

TARGET_AVX512 static __m512 bf16x16_to_f32(__m256i b)
{
	return _mm512_castsi512_ps(
		_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
}

TARGET_AVX512 static __m256i f32x16_to_bf16(__m512 f)
{
	__m512i x = _mm512_castps_si512(f);
	__m512i hi = _mm512_srli_epi32(x, 16);
	__m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
	__m512i bias = _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff));
	__m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, bias), 16);
	__m512i abs = _mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff));
	__mmask16 nan = _mm512_cmpgt_epu32_mask(abs,
						_mm512_set1_epi32(0x7f800000));
	__m512i qnan = _mm512_or_si512(
		_mm512_and_si512(hi, _mm512_set1_epi32(0x8000)),
		_mm512_set1_epi32(0x7fc0));
	r = _mm512_mask_mov_epi32(r, nan, qnan);
	return _mm512_cvtepi32_epi16(r); /* values < 65536: plain truncation */
}

TARGET_AVX512 static void f16_f32_avx512(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256i h = _mm256_loadu_si256((const __m256i *)(s + 2 * i));
		_mm512_storeu_ps((float *)(d + 4 * i), _mm512_cvtph_ps(h));
	}
	f16_f32_scalar(s, d, i, n);
}

TARGET_AVX512 static void f32_f16_avx512(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 f = _mm512_loadu_ps((const float *)(s + 4 * i));
		_mm256_storeu_si256((__m256i *)(d + 2 * i),
				    _mm512_cvtps_ph(f, CVT_RNE));
	}
	f32_f16_scalar(s, d, i, n);
}

TARGET_AVX512 static void bf16_f32_avx512(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256i b = _mm256_loadu_si256((const __m256i *)(s + 2 * i));
		_mm512_storeu_ps((float *)(d + 4 * i), bf16x16_to_f32(b));
	}
	bf16_f32_scalar(s, d, i, n);
}

TARGET_AVX512 static void f32_bf16_avx512(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256i r = f32x16_to_bf16(_mm512_loadu_ps((const float *)(s + 4 * i)));
		_mm256_storeu_si256((__m256i *)(d + 2 * i), r);
	}
	f32_bf16_scalar(s, d, i, n);
}

TARGET_AVX512 static void bf16_f16_avx512(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256i b = _mm256_loadu_si256((const __m256i *)(s + 2 * i));
		_mm256_storeu_si256((__m256i *)(d + 2 * i),
				    _mm512_cvtps_ph(bf16x16_to_f32(b), CVT_RNE));
	}
	bf16_f16_scalar(s, d, i, n);
}

TARGET_AVX512 static void f16_bf16_avx512(const void *src, void *dst, size_t n)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256i h = _mm256_loadu_si256((const __m256i *)(s + 2 * i));
		__m256i r = f32x16_to_bf16(_mm512_cvtph_ps(h));
		_mm256_storeu_si256((__m256i *)(d + 2 * i), r);
	}
	f16_bf16_scalar(s, d, i, n);
}

/* ---- dispatch ------------------------------------------------------- */

/* The scalar kernels take a start index; wrap them to the common shape. */
static void f16_f32_plain(const void *s, void *d, size_t n)
{
	f16_f32_scalar(s, d, 0, n);
}

static void f32_f16_plain(const void *s, void *d, size_t n)
{
	f32_f16_scalar(s, d, 0, n);
}

static void bf16_f32_plain(const void *s, void *d, size_t n)
{
	bf16_f32_scalar(s, d, 0, n);
}

static void f32_bf16_plain(const void *s, void *d, size_t n)
{
	f32_bf16_scalar(s, d, 0, n);
}

static void bf16_f16_plain(const void *s, void *d, size_t n)
{
	bf16_f16_scalar(s, d, 0, n);
}

static void f16_bf16_plain(const void *s, void *d, size_t n)
{
	f16_bf16_scalar(s, d, 0, n);
}

struct kernels {
	const char *name;
	/* Each converts n elements from src to dst; any alignment. */
	void (*f16_f32)(const void *src, void *dst, size_t n);
	void (*f32_f16)(const void *src, void *dst, size_t n);
	void (*bf16_f32)(const void *src, void *dst, size_t n);
	void (*f32_bf16)(const void *src, void *dst, size_t n);
	void (*bf16_f16)(const void *src, void *dst, size_t n);
	void (*f16_bf16)(const void *src, void *dst, size_t n);
};

static const struct kernels scalar_kernels = {
	"scalar", f16_f32_plain, f32_f16_plain, bf16_f32_plain,
	f32_bf16_plain, bf16_f16_plain, f16_bf16_plain,
};

static const struct kernels f16c_kernels = {
	"f16c", f16_f32_f16c, f32_f16_f16c, bf16_f32_f16c,
	f32_bf16_f16c, bf16_f16_f16c, f16_bf16_f16c,
};

static const struct kernels avx512_kernels = {
	"avx512", f16_f32_avx512, f32_f16_avx512, bf16_f32_avx512,
	f32_bf16_avx512, bf16_f16_avx512, f16_bf16_avx512,
};

static const struct kernels *active;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static bool scalar_forced(void)
{
	const char *v = getenv("GGUFFS_SCALAR");
	return v && *v && strcmp(v, "0") != 0;
}

static bool cpu_has_f16c(void)
{
	return __builtin_cpu_supports("avx2") && gg_cpu_f16c();
}

static bool cpu_has_avx512(void)
{
	return cpu_has_f16c() && __builtin_cpu_supports("avx512f") &&
	       __builtin_cpu_supports("avx512bw");
}

/* GGUFFS_KERNEL=scalar|f16c|avx512 asks for one kernel set by name, so the
 * tests can check every set this CPU can run against the scalar functions;
 * a set the CPU lacks is ignored. GGUFFS_SCALAR=1 wins over both. */
static const struct kernels *requested_kernels(void)
{
	const char *v = getenv("GGUFFS_KERNEL");
	if (!v)
		return NULL;
	if (strcmp(v, "scalar") == 0)
		return &scalar_kernels;
	if (strcmp(v, "f16c") == 0 && cpu_has_f16c())
		return &f16c_kernels;
	if (strcmp(v, "avx512") == 0 && cpu_has_avx512())
		return &avx512_kernels;
	return NULL;
}

static void choose_kernels(void)
{
	__builtin_cpu_init();
	const struct kernels *k = requested_kernels();
	if (scalar_forced())
		k = &scalar_kernels;
	else if (!k && cpu_has_avx512())
		k = &avx512_kernels;
	else if (!k && cpu_has_f16c())
		k = &f16c_kernels;
	else if (!k)
		k = &scalar_kernels;
	active = k;
}

static const struct kernels *kernels(void)
{
	pthread_once(&active_once, choose_kernels);
	return active;
}

const char *gg_convert_kernel(void)
{
	return kernels()->name;
}

void gg_convert(enum gg_type from, const void *src, enum gg_type to, void *dst,
		size_t n)
{
	const struct kernels *k = kernels();
	if (from == to) {
		memcpy(dst, src, n * gg_type_size(from));
		return;
	}
	switch (from * 64 + to) {
	case GG_TYPE_F16 * 64 + GG_TYPE_F32:
		k->f16_f32(src, dst, n);
		break;
	case GG_TYPE_F32 * 64 + GG_TYPE_F16:
		k->f32_f16(src, dst, n);
		break;
	case GG_TYPE_BF16 * 64 + GG_TYPE_F32:
		k->bf16_f32(src, dst, n);
		break;
	case GG_TYPE_F32 * 64 + GG_TYPE_BF16:
		k->f32_bf16(src, dst, n);
		break;
	case GG_TYPE_BF16 * 64 + GG_TYPE_F16:
		k->bf16_f16(src, dst, n);
		break;
	case GG_TYPE_F16 * 64 + GG_TYPE_BF16:
		k->f16_bf16(src, dst, n);
		break;
	default:
		/* Callers validate types when they parse a model; reaching
		 * here is a programming error. */
		abort();
	}
}
