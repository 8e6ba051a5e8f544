/* test_mxfp4.c - the MXFP4 block repack (GG_OP_MXFP4_REPACK) on the
 * gpt-oss fixture's expert tensors: bytes against a naive element-wise
 * reference, the gate/up row interleave as a view, ranges that read only
 * the blocks they cover, and no float arithmetic at all. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "plan.h"
#include "testutil.h"

#define L0 "model.layers.0.mlp.experts."

struct env {
	struct st_set *set;
	struct gg_outfile f;
};

static int setup(void **state)
{
	struct env *v = calloc(1, sizeof *v);
	char *dir = fixture_path("gptoss-tiny");
	gg_err e;
	if (st_set_open_dir(dir, &v->set, &e))
		fail_msg("%s", e.msg);
	free(dir);
	v->f.name = strdup("test.gguf");
	v->f.kvs = gguf_kvs_new();
	v->f.alignment = 32;
	v->f.st = v->set;
	*state = v;
	return 0;
}

static int teardown(void **state)
{
	struct env *v = *state;
	gg_outfile_clear(&v->f);
	st_set_close(v->set);
	free(v);
	return 0;
}

static const struct st_tensor *src(struct env *v, const char *name)
{
	const struct st_tensor *t = st_set_find(v->set, name);
	if (!t)
		fail_msg("fixture has no %s", name);
	return t;
}

/* The 4-bit code of value k of block b: HF order (k even: low nibble). */
static unsigned hf_code(const uint8_t *codes, uint64_t b, unsigned k)
{
	uint8_t byte = codes[b * 16 + k / 2];
	return k % 2 ? byte >> 4 : byte & 15;
}

/* The GGML block of `rows` selected rows (row r <- source row r * step +
 * first) of [E, R, G] blocks, built value by value. */
static uint8_t *naive(const uint8_t *codes, const uint8_t *scales, uint64_t E,
		      uint64_t R, uint64_t G, uint64_t rows, uint64_t step, uint64_t first)
{
	uint8_t *out = calloc(E * rows * G, 17), *o = out;
	for (uint64_t e = 0; e < E; e++)
		for (uint64_t r = 0; r < rows; r++)
			for (uint64_t g = 0; g < G; g++, o += 17) {
				uint64_t b = (e * R + r * step + first) * G + g;
				o[0] = scales[b];
				for (unsigned k = 0; k < 32; k++)
					o[1 + k % 16] |= (uint8_t)(hf_code(codes, b, k) << (k < 16 ? 0 : 4));
			}
	return out;
}

/* gate (first 0) or up (first 1) rows of gate_up, as the converter sets
 * them: the view split into [E, I, 2, G] and the pair index sliced. */
static struct gg_tensor *add_half(struct env *v, const char *name, uint64_t first)
{
	const struct st_tensor *b = src(v, L0 "gate_up_proj_blocks");
	const struct st_tensor *s = src(v, L0 "gate_up_proj_scales");
	uint64_t E = s->shape[0], R = s->shape[1], G = s->shape[2];
	uint64_t shape[3] = { E, R / 2, G * 32 };
	gg_err e;
	struct gg_tensor *t = gg_outfile_add(&v->f, name, GG_TYPE_MXFP4, shape, 3, &e);
	if (!t || gg_tensor_set_mxfp4(t, b, s, &e) || gg_view_split(&t->view, 1, R / 2, &e) ||
	    gg_view_slice(&t->view, 2, first, 1, &e))
		fail_msg("%s", e.msg);
	return t;
}

struct trace_log {
	uint64_t lo, hi, bytes;
	const struct st_tensor *codes, *scales;
	int foreign;
};

static void on_trace(const struct st_tensor *st, uint64_t off, uint64_t len, void *arg)
{
	struct trace_log *l = arg;
	if (st != l->codes && st != l->scales) {
		l->foreign++;
		return;
	}
	if (st == l->codes) {
		if (off < l->lo)
			l->lo = off;
		if (off + len > l->hi)
			l->hi = off + len;
	}
	l->bytes += len;
}

static void test_repack_bytes(void **state)
{
	struct env *v = *state;
	add_half(v, "gate", 0);
	add_half(v, "up", 1);
	const struct st_tensor *db = src(v, L0 "down_proj_blocks"), *ds = src(v, L0 "down_proj_scales");
	uint64_t dshape[3] = { ds->shape[0], ds->shape[1], ds->shape[2] * 32 };
	gg_err e;
	if (gg_tensor_set_mxfp4(gg_outfile_add(&v->f, "down", GG_TYPE_MXFP4, dshape, 3, &e), db, ds, &e) ||
	    gg_outfile_finish(&v->f, &e))
		fail_msg("%s", e.msg);

	struct gg_model m = { .st = v->set };
	const struct st_tensor *gb = src(v, L0 "gate_up_proj_blocks"), *gs = src(v, L0 "gate_up_proj_scales");
	uint8_t *codes = read_source_bytes(&m, gb), *scales = read_source_bytes(&m, gs);
	uint64_t E = gs->shape[0], R = gs->shape[1], G = gs->shape[2];
	struct gg_engine_stats before, after;
	gg_engine_stats_get(&before);
	for (uint64_t first = 0; first < 2; first++) {
		const struct gg_tensor *t = output_tensor(&v->f, first ? "up" : "gate");
		assert_int_equal(t->nbytes, E * (R / 2) * G * 17);
		uint8_t *want = naive(codes, scales, E, R, G, R / 2, 2, first);
		uint8_t *got = read_output(&v->f, t);
		assert_memory_equal(got, want, t->nbytes);
		free(got);
		free(want);
	}
	uint8_t *dc = read_source_bytes(&m, db), *dsc = read_source_bytes(&m, ds);
	const struct gg_tensor *t = output_tensor(&v->f, "down");
	uint8_t *want = naive(dc, dsc, ds->shape[0], ds->shape[1], ds->shape[2], ds->shape[1], 1, 0);
	uint8_t *got = read_output(&v->f, t);
	assert_memory_equal(got, want, t->nbytes);
	gg_engine_stats_get(&after);
	/* nibble moves only: no element went through a conversion or an op */
	assert_int_equal(after.convert_elems, before.convert_elems);
	assert_true(after.repack_bytes - before.repack_bytes >=
		    2 * E * (R / 2) * G * 17 + t->nbytes);
	free(got);
	free(want);
	free(dc);
	free(dsc);
	free(codes);
	free(scales);
}

/* A range inside expert 3's up rows reads expert 3's blocks only, and an
 * odd range (split blocks) gives the same bytes as the whole read. */
static void test_repack_ranges(void **state)
{
	struct env *v = *state;
	struct gg_tensor *t0 = add_half(v, "up", 1);
	(void)t0;
	gg_err e;
	if (gg_outfile_finish(&v->f, &e))
		fail_msg("%s", e.msg);
	const struct gg_tensor *t = output_tensor(&v->f, "up");
	const struct st_tensor *gb = src(v, L0 "gate_up_proj_blocks"), *gs = src(v, L0 "gate_up_proj_scales");
	uint64_t E = gs->shape[0], R = gs->shape[1], G = gs->shape[2];
	uint64_t per_expert = t->nbytes / E;
	uint8_t *all = read_output(&v->f, t);
	struct trace_log log = { .lo = UINT64_MAX, .codes = gb, .scales = gs };
	gg_engine_set_trace(on_trace, &log);
	uint8_t buf[4096];
	uint64_t off = 3 * per_expert + 5, len = per_expert - 40;
	assert_true(len <= sizeof buf);
	if (gg_tensor_read(&v->f, t, off, (size_t)len, buf, &e))
		fail_msg("%s", e.msg);
	gg_engine_set_trace(NULL, NULL);
	assert_memory_equal(buf, all + off, len);
	assert_int_equal(log.foreign, 0);
	uint64_t expert_codes = R * G * 16;
	assert_true(log.lo >= gb->offset + 3 * expert_codes);
	assert_true(log.hi <= gb->offset + 4 * expert_codes);
	free(all);
}

static void test_refusals(void **state)
{
	struct env *v = *state;
	const struct st_tensor *b = src(v, L0 "gate_up_proj_blocks"), *s = src(v, L0 "gate_up_proj_scales");
	const struct st_tensor *bias = src(v, L0 "gate_up_proj_bias");
	uint64_t shape[3] = { s->shape[0], s->shape[1], s->shape[2] * 32 };
	gg_err e;
	struct gg_tensor *t = gg_outfile_add(&v->f, "bad", GG_TYPE_MXFP4, shape, 3, &e);
	assert_int_equal(gg_tensor_set_mxfp4(t, bias, s, &e), -1);
	assert_non_null(strstr(e.msg, "not MXFP4 blocks"));
	assert_int_equal(gg_tensor_set_mxfp4(t, b, b, &e), -1);
	t = gg_outfile_add(&v->f, "bad2", GG_TYPE_F16, shape, 3, &e);
	assert_int_equal(gg_tensor_set_mxfp4(t, b, s, &e), -1);
	assert_non_null(strstr(e.msg, "MXFP4 output"));
	/* the whole gate_up in a tensor of half its size */
	uint64_t half[3] = { s->shape[0], s->shape[1] / 2, s->shape[2] * 32 };
	struct gg_outfile f1 = { .name = strdup("h.gguf"), .kvs = gguf_kvs_new(), .alignment = 32, .st = v->set };
	t = gg_outfile_add(&f1, "half", GG_TYPE_MXFP4, half, 3, &e);
	assert_int_equal(gg_tensor_set_mxfp4(t, b, s, &e), 0);
	assert_int_equal(gg_outfile_finish(&f1, &e), -1);
	assert_non_null(strstr(e.msg, "source elements"));
	gg_outfile_clear(&f1);
	/* a U8 source copied as is would be a type GGUF does not have */
	struct gg_outfile f2 = { .name = strdup("u8.gguf"), .kvs = gguf_kvs_new(), .alignment = 32, .st = v->set };
	assert_non_null(gg_outfile_add_source(&f2, "raw", GG_TYPE_U8, s, &e));
	assert_int_equal(gg_outfile_finish(&f2, &e), -1);
	assert_non_null(strstr(e.msg, "unsupported output type"));
	gg_outfile_clear(&f2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repack_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repack_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
