/* test_plan.c - views, renames, dtype rules and file layout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "plan.h"
#include "testutil.h"
#include "llama_common.h"

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

static void check_rename(const char *const *pairs, size_t n, const char *in,
			 const char *want)
{
	char *got = gg_rename(pairs, n, in);
	assert_string_equal(got, want);
	free(got);
}

static void test_rename_go_semantics(void **state)
{
	(void)state;
	const char *const first_short[] = { "a", "Y", "ab", "X" };
	const char *const first_long[] = { "ab", "X", "a", "Y" };
	check_rename(first_short, 2, "ab", "Yb");
	check_rename(first_long, 2, "aab", "YX");
	check_rename(first_long, 2, "", "");
	check_rename(first_long, 0, "abc", "abc");
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
		check_rename(llama_renames, llama_nrenames, cases[i].in, cases[i].out);
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

static void add_mem_tensor(struct gg_outfile *f, const char *name, uint64_t n)
{
	float *vals = calloc(n, sizeof *vals);
	gg_outfile_add_f32(f, name, vals, n);
	free(vals);
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

static void test_duplicate_names_rejected(void **state)
{
	(void)state;
	struct gg_outfile f = { .name = gg_strdup("t.gguf"), .alignment = 32, .sort_tensors = true };
	f.kvs = gguf_kvs_new();
	add_mem_tensor(&f, "a.weight", 2);
	add_mem_tensor(&f, "a.weight", 2);
	gg_err e;
	assert_int_equal(gg_outfile_finish(&f, &e), -1);
	assert_non_null(strstr(e.msg, "duplicate tensor name 'a.weight'"));
	gg_outfile_clear(&f);
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
		cmocka_unit_test(test_rename_llama),
		cmocka_unit_test(test_ollama_kind),
		cmocka_unit_test(test_layout_order_and_offsets),
		cmocka_unit_test(test_duplicate_names_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
