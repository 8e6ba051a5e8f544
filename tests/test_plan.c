/* test_plan.c - views, renames, dtype rules and file layout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llama_common.h"
#include "model.h"
#include "plan.h"
#include "rename.h"
#include "testutil.h"
#include "typerules.h"

static void test_rotary_matches_reference(void **state)
{
	(void)state;
	/* 3 heads of 8 rows, 5 columns. */
	const uint64_t H = 3, D = 8, cols = 5, shape[2] = { H * D, cols };
	struct gg_view v;
	gg_err e;
	gg_view_init(&v, shape, 2);
	assert_int_equal(gg_view_rotary(&v, H, &e), 0);
	assert_int_equal(gg_view_nelem(&v), H * D * cols);
	for (uint64_t h = 0; h < H; h++)
		for (uint64_t s = 0; s < 2; s++)
			for (uint64_t k = 0; k < D / 2; k++) {
				uint64_t out_row = h * D + 2 * k + s;
				uint64_t src_row = h * D + s * D / 2 + k;
				for (uint64_t c = 0; c < cols; c++)
					assert_int_equal(view_source_index(&v, out_row * cols + c),
							 src_row * cols + c);
			}
}

static void test_rotary_rejects_odd_heads(void **state)
{
	(void)state;
	const uint64_t shape[2] = { 12, 4 };
	struct gg_view v;
	gg_err e;
	gg_view_init(&v, shape, 2);
	assert_int_equal(gg_view_rotary(&v, 4, &e), -1); /* 12 rows, 4 heads of 3 */
	assert_non_null(strstr(e.msg, "heads"));
}

static void test_transpose_and_slice(void **state)
{
	(void)state;
	/* [E=2, H=3, 2I=8] -> second half, transposed to [E, I, H]. */
	const uint64_t shape[3] = { 2, 3, 8 };
	struct gg_view v;
	gg_err e;
	gg_view_init(&v, shape, 3);
	assert_int_equal(gg_view_slice(&v, 2, 4, 4, &e), 0);
	assert_int_equal(gg_view_swap(&v, 1, 2, &e), 0);
	for (uint64_t x = 0; x < 2; x++)
		for (uint64_t i = 0; i < 4; i++)
			for (uint64_t h = 0; h < 3; h++)
				assert_int_equal(view_source_index(&v, (x * 4 + i) * 3 + h),
						 x * 24 + h * 8 + 4 + i);
	assert_false(gg_view_is_contiguous(&v));
	assert_int_equal(gg_view_slice(&v, 0, 1, 2, &e), -1);
}

static void test_split(void **state)
{
	(void)state;
	const uint64_t shape[2] = { 6, 4 };
	struct gg_view v;
	gg_err e;
	gg_view_init(&v, shape, 2);
	assert_int_equal(gg_view_split(&v, 0, 4, &e), -1);
	assert_int_equal(gg_view_split(&v, 0, 3, &e), 0);
	assert_int_equal(v.ndim, 3);
	assert_int_equal(v.dim[0], 3);
	assert_int_equal(v.dim[1], 2);
	assert_int_equal(v.stride[0], 8);
	assert_int_equal(v.stride[1], 4);
	assert_true(gg_view_is_contiguous(&v));
}

static void test_block_numbers(void **state)
{
	(void)state;
	assert_int_equal(gg_tensor_block("blk.12.attn_q.weight"), 12);
	assert_int_equal(gg_tensor_block("blk.0.x"), 0);
	assert_int_equal(gg_tensor_block("blk.3"), INT_MAX);
	assert_int_equal(gg_tensor_block("blk.x.y"), INT_MAX);
	assert_int_equal(gg_tensor_block("v.blk.1.attn_q.weight"), INT_MAX);
	assert_int_equal(gg_tensor_block("output.weight"), INT_MAX);
}

static void check_rename(const struct gg_renames *r, const char *in, const char *want)
{
	char *got = gg_rename(r, in);
	assert_string_equal(got, want);
	free(got);
	/* The compiled form renames the same way. */
	struct gg_replacer *rp = gg_replacer_new(r);
	got = gg_replacer_apply(rp, in);
	assert_string_equal(got, want);
	free(got);
	gg_replacer_free(rp);
}

static void test_rename_go_semantics(void **state)
{
	(void)state;
	const char *const short_pairs[] = { "a", "Y", "ab", "X" };
	const char *const long_pairs[] = { "ab", "X", "a", "Y" };
	const struct gg_renames first_short = GG_RENAMES(NULL, short_pairs);
	const struct gg_renames first_long = GG_RENAMES(NULL, long_pairs);
	const struct gg_renames none = { NULL, long_pairs, 0 };
	check_rename(&first_short, "ab", "Yb");
	check_rename(&first_long, "aab", "YX");
	check_rename(&first_long, "", "");
	check_rename(&none, "abc", "abc");
}

/* A table extending another: the base's pairs come first (Go's append),
 * so a base pair listed earlier beats a longer extension pair. */
static void test_rename_chain_order(void **state)
{
	(void)state;
	const char *const base_pairs[] = { "mlp.gate", "G", "x", "X" };
	const char *const more_pairs[] = { "mlp.gate_proj", "GP", "y", "Y", "x", "never" };
	const struct gg_renames base = GG_RENAMES(NULL, base_pairs);
	const struct gg_renames more = GG_RENAMES(&base, more_pairs);
	check_rename(&more, "mlp.gate_proj.x.y", "G_proj.X.Y");
	const struct gg_renames more_first = GG_RENAMES(NULL, more_pairs);
	const struct gg_renames then_base = GG_RENAMES(&more_first, base_pairs);
	check_rename(&then_base, "mlp.gate_proj.x.y", "GP.never.Y");
}

static void test_rename_llama(void **state)
{
	(void)state;
	struct { const char *in, *out; } cases[] = {
		{ "model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight" },
		{ "model.layers.17.self_attn.o_proj.weight", "blk.17.attn_output.weight" },
		{ "model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight" },
		{ "model.layers.1.post_attention_layernorm.weight", "blk.1.ffn_norm.weight" },
		{ "model.layers.1.input_layernorm.weight", "blk.1.attn_norm.weight" },
		{ "model.norm.weight", "output_norm.weight" },
		{ "model.embed_tokens.weight", "token_embd.weight" },
		{ "lm_head.weight", "output.weight" },
		{ "model.layers.0.self_attn.rotary_emb.inv_freq",
		  "blk.0.self_attn.rotary_emb.inv_freq" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_rename(&llama_renames, cases[i].in, cases[i].out);
}

static void test_ollama_kind(void **state)
{
	(void)state;
	assert_int_equal(gg_ollama_kind("blk.0.attn_q.weight", 2, GG_TYPE_BF16), GG_TYPE_BF16);
	assert_int_equal(gg_ollama_kind("blk.0.attn_q.weight", 2, GG_TYPE_F32), GG_TYPE_F16);
	assert_int_equal(gg_ollama_kind("blk.0.attn_q.weight", 2, GG_TYPE_F16), GG_TYPE_F16);
	assert_int_equal(gg_ollama_kind("blk.0.attn_norm.weight", 1, GG_TYPE_BF16), GG_TYPE_F32);
	assert_int_equal(gg_ollama_kind("blk.0.attn_q.bias", 2, GG_TYPE_BF16), GG_TYPE_F32);
	assert_int_equal(gg_ollama_kind("blk.0.ffn_gate_inp.weight", 2, GG_TYPE_BF16), GG_TYPE_F32);
	assert_int_equal(gg_ollama_kind("v.blk.0.attn_q.weight", 2, GG_TYPE_BF16), GG_TYPE_F16);
	assert_int_equal(gg_ollama_kind("mm.0.weight", 2, GG_TYPE_BF16), GG_TYPE_F16);
	assert_int_equal(gg_ollama_kind("v.position_embd.weight", 2, GG_TYPE_BF16), GG_TYPE_F32);
	assert_int_equal(gg_ollama_kind("blk.0.ffn_gate_inp_shexp.weight", 2, GG_TYPE_BF16), GG_TYPE_F16);
	assert_int_equal(gg_ollama_kind("token_embd.weight", 2, GG_TYPE_BF16), GG_TYPE_BF16);
}

static struct gg_tensor *add_mem_tensor(struct gg_outfile *f, const char *name, uint64_t n)
{
	float *vals = calloc(n, sizeof *vals);
	gg_err e;
	struct gg_tensor *t = gg_outfile_add_f32(f, name, vals, n, &e);
	free(vals);
	return t;
}

static void test_layout_order_and_offsets(void **state)
{
	(void)state;
	struct gg_outfile f = { .name = gg_strdup("t.gguf"), .alignment = 32,
				.sort_kv = true, .sort_tensors = true };
	f.kvs = gguf_kvs_new();
	gguf_kvs_set_str(f.kvs, "general.architecture", "llama");
	gguf_kvs_set_u32(f.kvs, "general.file_type", 1);
	const char *names[] = { "token_embd.weight", "blk.10.attn_q.weight",
				"output_norm.weight", "blk.2.ffn_up.weight",
				"rope_freqs.weight", "blk.2.attn_k.weight",
				"output.weight" };
	for (size_t i = 0; i < 7; i++)
		add_mem_tensor(&f, names[i], 3 + i);
	gg_err e;
	assert_int_equal(gg_outfile_finish(&f, &e), 0);
	const char *want[] = { "blk.2.attn_k.weight", "blk.2.ffn_up.weight",
			       "blk.10.attn_q.weight", "output.weight",
			       "output_norm.weight", "rope_freqs.weight",
			       "token_embd.weight" };
	uint64_t off = f.header_len;
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(f.tensors[i].name, want[i]);
		assert_int_equal(f.tensors[i].offset, off);
		assert_int_equal(f.tensors[i].offset % 32, 0);
		off += (f.tensors[i].nbytes + 31) / 32 * 32;
	}
	/* No padding after the last tensor (Ollama). */
	const struct gg_tensor *last = &f.tensors[6];
	assert_int_equal(f.size, last->offset + last->nbytes);
	assert_int_equal(f.header_len % 32, 0);
	assert_string_equal(f.kvs->kv[0].key, "general.architecture");
	gg_outfile_clear(&f);
}

/* An empty value list (Ollama's phi3 factors without rope_scaling) makes an
 * empty tensor; NULL values are fine then (UBSan caught memcpy(NULL, 0)). */
static void test_empty_f32_tensor(void **state)
{
	(void)state;
	struct gg_outfile f = { .name = gg_strdup("t.gguf"), .alignment = 32 };
	f.kvs = gguf_kvs_new();
	gg_err e;
	struct gg_tensor *t = gg_outfile_add_f32(&f, "rope_factors_long.weight", NULL, 0, &e);
	assert_non_null(t);
	assert_int_equal(t->nbytes, 0);
	gg_outfile_clear(&f);
}

/* Adding a name twice is refused at the add, naming the tensor (and its
 * sources when both come from safetensors). */
static void test_duplicate_names_rejected(void **state)
{
	(void)state;
	struct gg_outfile f = { .name = gg_strdup("t.gguf"), .alignment = 32, .sort_tensors = true,
				.origin = "/models/m" };
	f.kvs = gguf_kvs_new();
	assert_non_null(add_mem_tensor(&f, "a.weight", 2));
	gg_err e;
	const uint64_t shape[1] = { 2 };
	assert_null(gg_outfile_add(&f, "a.weight", GG_TYPE_F32, shape, 1, &e));
	assert_string_equal(e.msg, "/models/m: two tensors are both named 'a.weight'");
	assert_int_equal(f.ntensors, 1);
	struct st_tensor s1 = { .name = "x.weight", .dtype = GG_TYPE_F32, .ndim = 1, .shape = { 2 }, .nelem = 2 };
	struct st_tensor s2 = { .name = "y.weight", .dtype = GG_TYPE_F32, .ndim = 1, .shape = { 2 }, .nelem = 2 };
	assert_non_null(gg_outfile_add_source(&f, "b.weight", GG_TYPE_F32, &s1, &e));
	assert_null(gg_outfile_add_source(&f, "b.weight", GG_TYPE_F32, &s2, &e));
	assert_non_null(strstr(e.msg, "'x.weight' and 'y.weight' are both named 'b.weight'"));
	assert_int_equal(f.ntensors, 2);
	gg_outfile_clear(&f);
}

/* Every other row, starting at 0 or 1 (gpt-oss's interleaved gate_up). */
static void test_take_every(void **state)
{
	(void)state;
	const uint64_t shape[3] = { 2, 6, 3 }; /* [E, 2I, H] */
	gg_err e;
	for (uint64_t first = 0; first < 2; first++) {
		struct gg_view v;
		gg_view_init(&v, shape, 3);
		assert_int_equal(gg_view_take_every(&v, 1, 2, first, &e), 0);
		assert_int_equal(v.ndim, 3);
		assert_int_equal(v.dim[1], 3);
		for (uint64_t x = 0; x < 2; x++)
			for (uint64_t r = 0; r < 3; r++)
				for (uint64_t c = 0; c < 3; c++)
					assert_int_equal(view_source_index(&v, (x * 3 + r) * 3 + c),
							 (x * 6 + 2 * r + first) * 3 + c);
	}
	struct gg_view v;
	gg_view_init(&v, shape, 3);
	assert_int_equal(gg_view_take_every(&v, 2, 2, 0, &e), -1); /* 3 is odd */
	assert_int_equal(gg_view_take_every(&v, 1, 2, 2, &e), -1); /* first >= step */
}

/* Element ops, by value and by name. */
static void test_ops(void **state)
{
	(void)state;
	float x[3] = { -1.0f, 0.0f, 2.5f };
	gg_op_apply(GG_OP_ADD_ONE, x, 3);
	assert_true(x[0] == 0.0f && x[1] == 1.0f && x[2] == 3.5f);
	gg_op_apply(GG_OP_TANH, x, 3);
	assert_true(x[0] == 0.0f && x[1] == tanhf(1.0f) && x[2] == tanhf(3.5f));
	gg_op_apply(GG_OP_NONE, x, 3);
	assert_true(x[1] == tanhf(1.0f));
	assert_string_equal(gg_op_name(GG_OP_ADD_ONE), "add_one");
	assert_string_equal(gg_op_name(GG_OP_ONE_MINUS_TANH), "one_minus_tanh");
	assert_string_equal(gg_op_name(GG_OP_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotary_matches_reference),
		cmocka_unit_test(test_rotary_rejects_odd_heads),
		cmocka_unit_test(test_transpose_and_slice),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_block_numbers),
		cmocka_unit_test(test_rename_go_semantics),
		cmocka_unit_test(test_rename_chain_order),
		cmocka_unit_test(test_rename_llama),
		cmocka_unit_test(test_ollama_kind),
		cmocka_unit_test(test_layout_order_and_offsets),
		cmocka_unit_test(test_duplicate_names_rejected),
		cmocka_unit_test(test_empty_f32_tensor),
		cmocka_unit_test(test_take_every),
		cmocka_unit_test(test_ops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
