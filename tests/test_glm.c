/* test_glm.c - the GLM-4.7-Flash converter's rules (convert/arch_glm4moelite.c),
 * pinned on the fixtures made by tests/fixtures/make-glm.mjs (root in
 * $GGUFFS_FIXTURES, else $GGUFFS_SOURCE_ROOT/tests/fixtures/out):
 * glm-tiny (8 experts, kv_b [H*(nope+v), kv_lora]) and glm-tiny-kvbT
 * (12 experts, kv_b stored transposed). Bad inputs use hand-made dirs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "model.h"
#include "testutil.h"

/* glm-tiny's config (make-glm.mjs TINY). */
enum { H = 64, HEADS = 4, NOPE = 16, ROPE = 8, VD = 16, LORA = 32, QLORA = 48,
       MOE_I = 32, LAYERS = 3 };

/* ---- KVs ---------------------------------------------------------------- */

enum want_kind { W_U32, W_F32, W_BOOL, W_STR, W_ANY };
struct want_kv {
	const char *key;
	enum want_kind kind;
	double num;
	const char *str;
};

/* The names the llamacpp profile writes as convert_hf_to_gguf.py does
 * (naming.h; their values are test_naming's and naming.test.mjs's). */
static bool is_name_key(const char *k)
{
	static const char *const names[] = {
		"general.name", "general.basename", "general.finetune",
		"general.version", "general.size_label", "general.organization",
		"general.author", "general.license", "general.tags",
		"general.languages",
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(k, names[i]) == 0)
			return true;
	return false;
}

/* Every key but the names, in the written (byte-wise sorted) order, with
 * type and value. W_ANY: the tokenizer module's own value, pinned by its
 * tests. */
static void assert_kvs(const struct gg_outfile *f, const struct want_kv *w, size_t n)
{
	size_t i = 0;
	for (size_t k = 0; i < n && k < f->kvs->n; k++) {
		const struct gguf_kv *kv = &f->kvs->kv[k];
		if (is_name_key(kv->key))
			continue;
		if (strcmp(kv->key, w[i].key) != 0)
			fail_msg("KV %zu is %s, want %s", i, kv->key, w[i].key);
		switch (w[i].kind) {
		case W_U32:
			assert_int_equal(kv->type, GGUF_VT_U32);
			assert_int_equal(kv->v.u, (uint64_t)w[i].num);
			break;
		case W_F32:
			assert_int_equal(kv->type, GGUF_VT_F32);
			assert_true((float)kv->v.f == (float)w[i].num);
			break;
		case W_BOOL:
			assert_int_equal(kv->type, GGUF_VT_BOOL);
			assert_int_equal(kv->v.b, w[i].num != 0);
			break;
		case W_STR:
			assert_int_equal(kv->type, GGUF_VT_STRING);
			assert_string_equal(kv->str.s, w[i].str);
			break;
		case W_ANY:
			break;
		}
		i++;
	}
	size_t names = 0;
	for (size_t k = 0; k < f->kvs->n; k++)
		names += is_name_key(f->kvs->kv[k].key);
	assert_int_equal(f->kvs->n - names, n);
}

#define TOKENIZER_KVS(...) \
	{ "tokenizer.chat_template", W_ANY, 0, NULL }, \
	{ "tokenizer.ggml.add_bos_token", W_BOOL, 1, NULL }, \
	{ "tokenizer.ggml.add_eos_token", W_BOOL, 0, NULL }, \
	__VA_ARGS__

static void test_kv_deepseek2(void **state)
{
	(void)state;
	static const struct want_kv w[] = {
		{ "deepseek2.attention.head_count", W_U32, HEADS, NULL },
		{ "deepseek2.attention.head_count_kv", W_U32, 1, NULL },
		{ "deepseek2.attention.key_length", W_U32, LORA + ROPE, NULL },
		{ "deepseek2.attention.key_length_mla", W_U32, NOPE + ROPE, NULL },
		{ "deepseek2.attention.kv_lora_rank", W_U32, LORA, NULL },
		{ "deepseek2.attention.layer_norm_rms_epsilon", W_F32, 1e-5, NULL },
		{ "deepseek2.attention.q_lora_rank", W_U32, QLORA, NULL },
		{ "deepseek2.attention.value_length", W_U32, LORA, NULL },
		{ "deepseek2.attention.value_length_mla", W_U32, VD, NULL },
		{ "deepseek2.block_count", W_U32, LAYERS, NULL },
		{ "deepseek2.context_length", W_U32, 4096, NULL },
		{ "deepseek2.embedding_length", W_U32, H, NULL },
		{ "deepseek2.expert_count", W_U32, 8, NULL },
		{ "deepseek2.expert_feed_forward_length", W_U32, MOE_I, NULL },
		{ "deepseek2.expert_gating_func", W_U32, 2, NULL },
		{ "deepseek2.expert_group_count", W_U32, 1, NULL },
		{ "deepseek2.expert_group_used_count", W_U32, 1, NULL },
		{ "deepseek2.expert_shared_count", W_U32, 2, NULL },
		{ "deepseek2.expert_used_count", W_U32, 2, NULL },
		{ "deepseek2.expert_weights_norm", W_BOOL, 1, NULL },
		{ "deepseek2.expert_weights_scale", W_F32, 1.8, NULL },
		{ "deepseek2.feed_forward_length", W_U32, 128, NULL },
		{ "deepseek2.leading_dense_block_count", W_U32, 1, NULL },
		{ "deepseek2.rope.dimension_count", W_U32, ROPE, NULL },
		{ "deepseek2.rope.freq_base", W_F32, 1e6, NULL },
		{ "general.architecture", W_STR, 0, "deepseek2" },
		{ "general.file_type", W_U32, 1, NULL },
		{ "general.quantization_version", W_U32, 2, NULL },
		{ "general.type", W_STR, 0, "model" },
		TOKENIZER_KVS(
		{ "tokenizer.ggml.bos_token_id", W_U32, 0, NULL },
		/* eos_token_ids [1, 128805, 128806]: [1] is eot, [2] is eom */
		{ "tokenizer.ggml.eom_token_id", W_U32, 128806, NULL },
		{ "tokenizer.ggml.eos_token_id", W_U32, 1, NULL },
		{ "tokenizer.ggml.eos_token_ids", W_ANY, 0, NULL },
		{ "tokenizer.ggml.eot_token_id", W_U32, 128805, NULL },
		{ "tokenizer.ggml.merges", W_ANY, 0, NULL },
		{ "tokenizer.ggml.model", W_STR, 0, "gpt2" },
		{ "tokenizer.ggml.padding_token_id", W_U32, 1, NULL },
		{ "tokenizer.ggml.pre", W_STR, 0, "glm4" },
		{ "tokenizer.ggml.scores", W_ANY, 0, NULL },
		{ "tokenizer.ggml.token_type", W_ANY, 0, NULL },
		{ "tokenizer.ggml.tokens", W_ANY, 0, NULL }),
	};
	enum gg_profile profiles[] = { GG_PROFILE_LLAMACPP, GG_PROFILE_OLLAMA };
	for (int p = 0; p < 2; p++) {
		struct gg_model *m = open_fixture("glm-tiny", profiles[p]);
		assert_string_equal(m->arch->gguf_arch, "deepseek2");
		/* llama.cpp's converter writes the names and the BF16 file type;
		 * Ollama neither. */
		bool ll = profiles[p] == GG_PROFILE_LLAMACPP;
		struct want_kv wp[sizeof w / sizeof *w];
		memcpy(wp, w, sizeof w);
		for (size_t i = 0; i < sizeof w / sizeof *w; i++)
			if (strcmp(wp[i].key, "general.file_type") == 0)
				wp[i].num = ll ? 32 : 1;
		assert_kvs(&m->files[0], wp, sizeof w / sizeof *w);
		const struct gguf_kv *name = gguf_kvs_get(m->files[0].kvs, "general.name");
		if (ll)
			assert_string_equal(name->str.s, "Glm Tiny");
		else
			assert_null(name);
		const struct gguf_kv *ids = gguf_kvs_get(m->files[0].kvs, "tokenizer.ggml.eos_token_ids");
		assert_int_equal(ids->arr_type, GGUF_VT_I32);
		assert_int_equal(ids->arr_n, 3);
		/* 128815 tokens padded to config vocab_size, the embedding rows */
		assert_int_equal(gguf_kvs_get(m->files[0].kvs, "tokenizer.ggml.tokens")->arr_n, 129280);
		gg_model_close(m);
	}
}

static void test_kv_ollama_legacy(void **state)
{
	(void)state;
	static const struct want_kv w[] = {
		{ "general.architecture", W_STR, 0, "glm4moelite" },
		{ "general.file_type", W_U32, 1, NULL },
		{ "general.quantization_version", W_U32, 2, NULL },
		{ "general.type", W_STR, 0, "model" },
		{ "glm4moelite.attention.head_count", W_U32, HEADS, NULL },
		{ "glm4moelite.attention.head_count_kv", W_U32, HEADS, NULL },
		{ "glm4moelite.attention.key_length", W_U32, NOPE + ROPE, NULL },
		{ "glm4moelite.attention.key_length_mla", W_U32, LORA + ROPE, NULL },
		{ "glm4moelite.attention.kv_lora_rank", W_U32, LORA, NULL },
		{ "glm4moelite.attention.layer_norm_rms_epsilon", W_F32, 1e-5, NULL },
		{ "glm4moelite.attention.q_lora_rank", W_U32, QLORA, NULL },
		{ "glm4moelite.attention.value_length", W_U32, VD, NULL },
		{ "glm4moelite.attention.value_length_mla", W_U32, LORA, NULL },
		{ "glm4moelite.block_count", W_U32, LAYERS, NULL },
		{ "glm4moelite.context_length", W_U32, 4096, NULL },
		{ "glm4moelite.embedding_length", W_U32, H, NULL },
		{ "glm4moelite.expert_count", W_U32, 8, NULL },
		{ "glm4moelite.expert_feed_forward_length", W_U32, MOE_I, NULL },
		{ "glm4moelite.expert_gating_func", W_U32, 2, NULL },
		{ "glm4moelite.expert_shared_count", W_U32, 2, NULL },
		{ "glm4moelite.expert_used_count", W_U32, 2, NULL },
		{ "glm4moelite.expert_weights_norm", W_BOOL, 1, NULL },
		{ "glm4moelite.expert_weights_scale", W_F32, 1.8, NULL },
		{ "glm4moelite.feed_forward_length", W_U32, 128, NULL },
		{ "glm4moelite.leading_dense_block_count", W_U32, 1, NULL },
		{ "glm4moelite.rope.dimension_count", W_U32, ROPE, NULL },
		{ "glm4moelite.rope.freq_base", W_F32, 1e6, NULL },
		TOKENIZER_KVS(
		/* that Ollama wrote add_<t>_token for every special it kept */
		{ "tokenizer.ggml.add_padding_token", W_BOOL, 0, NULL },
		{ "tokenizer.ggml.bos_token_id", W_U32, 0, NULL },
		{ "tokenizer.ggml.eos_token_id", W_U32, 1, NULL },
		{ "tokenizer.ggml.eos_token_ids", W_ANY, 0, NULL },
		{ "tokenizer.ggml.merges", W_ANY, 0, NULL },
		{ "tokenizer.ggml.model", W_STR, 0, "gpt2" },
		{ "tokenizer.ggml.padding_token_id", W_U32, 1, NULL },
		{ "tokenizer.ggml.pre", W_STR, 0, "glm4" },
		{ "tokenizer.ggml.scores", W_ANY, 0, NULL },
		{ "tokenizer.ggml.token_type", W_ANY, 0, NULL },
		{ "tokenizer.ggml.tokens", W_ANY, 0, NULL }),
	};
	struct gg_model *m = open_fixture("glm-tiny", GG_PROFILE_OLLAMA_LEGACY);
	assert_kvs(&m->files[0], w, sizeof w / sizeof *w);
	/* same tensors, same bytes as the current dialect */
	struct gg_model *cur = open_fixture("glm-tiny", GG_PROFILE_OLLAMA);
	const struct gg_outfile *a = &m->files[0], *b = &cur->files[0];
	assert_int_equal(a->ntensors, b->ntensors);
	for (size_t i = 0; i < a->ntensors; i++) {
		assert_string_equal(a->tensors[i].name, b->tensors[i].name);
		uint8_t *x = read_output(a, &a->tensors[i]), *y = read_output(b, &b->tensors[i]);
		assert_int_equal(a->tensors[i].nbytes, b->tensors[i].nbytes);
		assert_memory_equal(x, y, a->tensors[i].nbytes);
		free(x), free(y);
	}
	gg_model_close(cur);
	gg_model_close(m);
}

/* ---- tensors ------------------------------------------------------------ */

struct want_tensor {
	const char *name;
	enum gg_type type;
	uint64_t ne[3];
};

static void test_tensor_names_types_order(void **state)
{
	(void)state;
#define ATTN(b) \
	{ "blk." #b ".attn_k_b.weight", GG_TYPE_BF16, { NOPE, LORA, HEADS } }, \
	{ "blk." #b ".attn_kv_a_mqa.weight", GG_TYPE_BF16, { H, LORA + ROPE, 0 } }, \
	{ "blk." #b ".attn_kv_a_norm.weight", GG_TYPE_F32, { LORA, 0, 0 } }, \
	{ "blk." #b ".attn_norm.weight", GG_TYPE_F32, { H, 0, 0 } }, \
	{ "blk." #b ".attn_output.weight", GG_TYPE_BF16, { HEADS * VD, H, 0 } }, \
	{ "blk." #b ".attn_q_a.weight", GG_TYPE_BF16, { H, QLORA, 0 } }, \
	{ "blk." #b ".attn_q_a_norm.weight", GG_TYPE_F32, { QLORA, 0, 0 } }, \
	{ "blk." #b ".attn_q_b.weight", GG_TYPE_BF16, { QLORA, HEADS * (NOPE + ROPE), 0 } }, \
	{ "blk." #b ".attn_v_b.weight", GG_TYPE_BF16, { LORA, VD, HEADS } }
#define MOE(b) \
	{ "blk." #b ".exp_probs_b.bias", GG_TYPE_F32, { 8, 0, 0 } }, \
	{ "blk." #b ".ffn_down_exps.weight", GG_TYPE_BF16, { MOE_I, H, 8 } }, \
	{ "blk." #b ".ffn_down_shexp.weight", GG_TYPE_BF16, { 2 * MOE_I, H, 0 } }, \
	{ "blk." #b ".ffn_gate_exps.weight", GG_TYPE_BF16, { H, MOE_I, 8 } }, \
	{ "blk." #b ".ffn_gate_inp.weight", GG_TYPE_F32, { H, 8, 0 } }, \
	{ "blk." #b ".ffn_gate_shexp.weight", GG_TYPE_BF16, { H, 2 * MOE_I, 0 } }, \
	{ "blk." #b ".ffn_norm.weight", GG_TYPE_F32, { H, 0, 0 } }, \
	{ "blk." #b ".ffn_up_exps.weight", GG_TYPE_BF16, { H, MOE_I, 8 } }, \
	{ "blk." #b ".ffn_up_shexp.weight", GG_TYPE_BF16, { H, 2 * MOE_I, 0 } }
	static const struct want_tensor w[] = {
		ATTN(0),
		{ "blk.0.ffn_down.weight", GG_TYPE_BF16, { 128, H, 0 } },
		{ "blk.0.ffn_gate.weight", GG_TYPE_BF16, { H, 128, 0 } },
		{ "blk.0.ffn_norm.weight", GG_TYPE_F32, { H, 0, 0 } },
		{ "blk.0.ffn_up.weight", GG_TYPE_BF16, { H, 128, 0 } },
		ATTN(1), MOE(1),
		ATTN(2), MOE(2),
		{ "output.weight", GG_TYPE_BF16, { H, 129280, 0 } },
		{ "output_norm.weight", GG_TYPE_F32, { H, 0, 0 } },
		{ "token_embd.weight", GG_TYPE_BF16, { H, 129280, 0 } },
	};
	struct gg_model *m = open_fixture("glm-tiny", GG_PROFILE_LLAMACPP);
	const struct gg_outfile *f = &m->files[0];
	size_t n = sizeof w / sizeof *w;
	for (size_t i = 0; i < n && i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		if (strcmp(t->name, w[i].name) != 0)
			fail_msg("tensor %zu is %s, want %s", i, t->name, w[i].name);
		assert_int_equal(t->type, w[i].type);
		uint32_t nd = w[i].ne[2] ? 3 : w[i].ne[1] ? 2 : 1;
		assert_int_equal(t->n_dims, nd);
		for (uint32_t d = 0; d < nd; d++)
			assert_int_equal(t->ne[d], w[i].ne[d]);
	}
	assert_int_equal(f->ntensors, n);
	/* The MTP layer (blk.3) had 2-D, 1-D and expert tensors: none is left. */
	for (size_t i = 0; i < f->ntensors; i++)
		assert_null(strstr(f->tensors[i].name, "blk.3."));
	assert_non_null(st_set_find(m->st, "model.layers.3.eh_proj.weight"));
	gg_model_close(m);
}

/* The router is F32 in the output although BF16 in the source: its values
 * are the BF16 values widened. */
static void test_router_f32_values(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("glm-tiny", GG_PROFILE_OLLAMA);
	const struct gg_outfile *f = &m->files[0];
	const struct st_tensor *st = source_tensor(m, "model.layers.2.mlp.gate.weight");
	assert_int_equal(st->dtype, GG_TYPE_BF16);
	const struct gg_tensor *t = output_tensor(f, "blk.2.ffn_gate_inp.weight");
	float *got = (float *)read_output(f, t);
	uint8_t *src = read_source_bytes(m, st);
	for (uint64_t i = 0; i < st->nelem; i++)
		assert_true(got[i] == bf16_to_float(u16_at(src, i)));
	free(src);
	free(got);
	const struct gg_tensor *b = output_tensor(f, "blk.2.exp_probs_b.bias");
	assert_int_equal(b->type, GG_TYPE_F32);
	uint8_t *bias = read_output(f, b);
	src = read_source(m, "model.layers.2.mlp.gate.e_score_correction_bias", NULL);
	assert_memory_equal(bias, src, 32);
	free(src);
	free(bias);
	gg_model_close(m);
}

/* Expert e of the stack is the bytes of mlp.experts.<e>: numeric order,
 * so with 12 experts 10 and 11 come after 9 (lexical order would put them
 * after 1). */
static void check_experts(const char *fixture_name, uint32_t n_experts)
{
	static const char *const kinds[] = { "gate", "up", "down" };
	struct gg_model *m = open_fixture(fixture_name, GG_PROFILE_LLAMACPP);
	const struct gg_outfile *f = &m->files[0];
	for (int l = 1; l < LAYERS; l++) {
		for (int k = 0; k < 3; k++) {
			char name[96], src[128];
			snprintf(name, sizeof name, "blk.%d.ffn_%s_exps.weight", l, kinds[k]);
			const struct gg_tensor *t = output_tensor(f, name);
			assert_int_equal(t->nsrc, n_experts);
			assert_int_equal(t->ne[2], n_experts);
			uint8_t *got = read_output(f, t);
			uint64_t per = t->nbytes / n_experts;
			for (uint32_t e = 0; e < n_experts; e++) {
				snprintf(src, sizeof src, "model.layers.%d.mlp.experts.%u.%s_proj.weight",
					 l, e, kinds[k]);
				const struct st_tensor *st = source_tensor(m, src);
				assert_ptr_equal(t->srcs[e].st, st);
				assert_int_equal(st->nbytes, per);
				uint8_t *want = read_source_bytes(m, st);
				assert_memory_equal(got + e * per, want, per);
				free(want);
			}
			free(got);
		}
	}
	gg_model_close(m);
}

static void test_experts_numeric_order_and_bytes(void **state)
{
	(void)state;
	check_experts("glm-tiny", 8);
	check_experts("glm-tiny-kvbT", 12);
}

/* Naive split: kv_b as W[r][i] (r over H*(nope+v), i over kv_lora), from
 * either stored layout; k_b[h][i][j] = W[h*(nope+v)+j][i],
 * v_b[h][j][i] = W[h*(nope+v)+nope+j][i]. */
static void check_kvb(const char *fixture_name, bool transposed)
{
	struct gg_model *m = open_fixture(fixture_name, GG_PROFILE_LLAMACPP);
	const struct gg_outfile *f = &m->files[0];
	const uint64_t per = NOPE + VD, R = HEADS * per;
	for (int l = 0; l < LAYERS; l++) {
		char name[96];
		snprintf(name, sizeof name, "model.layers.%d.self_attn.kv_b_proj.weight", l);
		const struct st_tensor *st = source_tensor(m, name);
		assert_int_equal(st->shape[0], transposed ? LORA : R);
		uint16_t *w = (uint16_t *)read_source_bytes(m, st);
#define W(r, i) (transposed ? w[(i) * R + (r)] : w[(r) * LORA + (i)])
		snprintf(name, sizeof name, "blk.%d.attn_k_b.weight", l);
		const struct gg_tensor *kt = output_tensor(f, name);
		snprintf(name, sizeof name, "blk.%d.attn_v_b.weight", l);
		const struct gg_tensor *vt = output_tensor(f, name);
		assert_int_equal(kt->nbytes, HEADS * LORA * NOPE * 2);
		assert_int_equal(vt->nbytes, HEADS * VD * LORA * 2);
		uint16_t *k = (uint16_t *)read_output(f, kt), *v = (uint16_t *)read_output(f, vt);
		for (uint64_t h = 0; h < HEADS; h++)
			for (uint64_t i = 0; i < LORA; i++) {
				for (uint64_t j = 0; j < NOPE; j++)
					assert_int_equal(k[(h * LORA + i) * NOPE + j], W(h * per + j, i));
				for (uint64_t j = 0; j < VD; j++)
					assert_int_equal(v[(h * VD + j) * LORA + i], W(h * per + NOPE + j, i));
			}
#undef W
		free(k), free(v), free(w);
	}
	gg_model_close(m);
}

static void test_kvb_split_both_layouts(void **state)
{
	(void)state;
	check_kvb("glm-tiny", false);
	check_kvb("glm-tiny-kvbT", true);
}

/* ---- laziness ----------------------------------------------------------- */

struct trace {
	const struct st_tensor *only; /* the one source allowed */
	uint64_t reads, bytes, foreign;
};

/* off is a byte offset in st's file. */
static void on_read(const struct st_tensor *st, uint64_t off, uint64_t len, void *arg)
{
	struct trace *tr = arg;
	tr->reads++;
	tr->bytes += len;
	if (st != tr->only || off < st->offset || off + len > st->offset + st->nbytes)
		tr->foreign++;
}

static void test_reading_one_expert_touches_only_it(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("glm-tiny-kvbT", GG_PROFILE_LLAMACPP);
	const struct gg_outfile *f = &m->files[0];
	const struct gg_tensor *t = output_tensor(f, "blk.2.ffn_down_exps.weight");
	uint64_t per = t->nbytes / 12;
	uint8_t *buf = malloc(per);
	for (uint32_t e = 0; e < 12; e += 5) { /* 0, 5, 10 */
		char src[96];
		snprintf(src, sizeof src, "model.layers.2.mlp.experts.%u.down_proj.weight", e);
		struct trace tr = { .only = source_tensor(m, src) };
		gg_err err;
		gg_engine_set_trace(on_read, &tr);
		int rc = gg_tensor_read(f, t, e * per, per, buf, &err);
		gg_engine_set_trace(NULL, NULL);
		assert_int_equal(rc, 0);
		assert_true(tr.reads > 0 || t->is_copy);
		assert_int_equal(tr.foreign, 0);
		assert_true(tr.bytes <= per);
		uint8_t *want = read_source_bytes(m, tr.only);
		assert_memory_equal(buf, want, per);
		free(want);
	}
	/* k_b of one layer reads that layer's kv_b only */
	struct trace tr = { .only = source_tensor(m, "model.layers.1.self_attn.kv_b_proj.weight") };
	const struct gg_tensor *kb = output_tensor(f, "blk.1.attn_k_b.weight");
	uint8_t *kbuf = malloc(kb->nbytes);
	gg_err err;
	gg_engine_set_trace(on_read, &tr);
	int rc = gg_tensor_read(f, kb, 0, kb->nbytes, kbuf, &err);
	gg_engine_set_trace(NULL, NULL);
	assert_int_equal(rc, 0);
	assert_true(tr.reads > 0);
	assert_int_equal(tr.foreign, 0);
	free(kbuf);
	free(buf);
	gg_model_close(m);
}

/* ---- untrusted input ---------------------------------------------------- */

struct fake { const char *name; uint64_t rows, cols; };

/* One BF16 safetensors file of zero-filled 2-D tensors. */
static void put_safetensors(const char *dir, const struct fake *t, size_t n)
{
	char hdr[8192];
	size_t len = 0;
	uint64_t off = 0;
	len += (size_t)snprintf(hdr + len, sizeof hdr - len, "{");
	for (size_t i = 0; i < n; i++) {
		uint64_t bytes = t[i].rows * t[i].cols * 2;
		len += (size_t)snprintf(hdr + len, sizeof hdr - len,
			"%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%llu,%llu],\"data_offsets\":[%llu,%llu]}",
			i ? "," : "", t[i].name, (unsigned long long)t[i].rows,
			(unsigned long long)t[i].cols, (unsigned long long)off,
			(unsigned long long)(off + bytes));
		off += bytes;
	}
	len += (size_t)snprintf(hdr + len, sizeof hdr - len, "}");
	char path[4096];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	uint64_t hl = len;
	fwrite(&hl, 8, 1, fp);
	fwrite(hdr, 1, len, fp);
	for (uint64_t i = 0; i < off; i++)
		fputc(0, fp);
	fclose(fp);
}

#define SMALL_CONFIG \
	"{\"architectures\":[\"Glm4MoeLiteForCausalLM\"],\"num_hidden_layers\":2," \
	"\"hidden_size\":16,\"num_attention_heads\":2,\"kv_lora_rank\":8," \
	"\"qk_nope_head_dim\":4,\"qk_rope_head_dim\":2,\"v_head_dim\":4," \
	"\"n_routed_experts\":4,\"moe_intermediate_size\":4,\"first_k_dense_replace\":1," \
	"\"max_position_embeddings\":4096,\"rms_norm_eps\":1e-5,\"num_experts_per_tok\":2}"

static void expect_open_error(const struct fake *t, size_t n, const char *const *needles)
{
	char *dir = make_temp_dir("glm");
	write_text(dir, "config.json", SMALL_CONFIG);
	write_text(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1}}}");
	put_safetensors(dir, t, n);
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP };
	struct gg_model *m = NULL;
	gg_err e = { { 0 } };
	assert_int_equal(gg_model_open(dir, &opt, &m, &e), -1);
	assert_null(m);
	assert_null(strchr(e.msg, '\n'));
	for (size_t i = 0; needles[i]; i++)
		if (!strstr(e.msg, needles[i]))
			fail_msg("error '%s' does not mention '%s'", e.msg, needles[i]);
	remove_tree(dir);
	free(dir);
}

#define EXP(e, k, r, c) { "model.layers.1.mlp.experts." #e "." #k "_proj.weight", r, c }

static void test_bad_inputs_fail_with_one_line(void **state)
{
	(void)state;
	/* kv_b rows not a multiple of nope+v (= 8) */
	const struct fake kvb[] = { { "model.layers.0.self_attn.kv_b_proj.weight", 20, 8 } };
	expect_open_error(kvb, 1, (const char *[]){ "kv_b_proj", "[20, 8]", NULL });
	/* neither dim is kv_lora_rank */
	const struct fake kvb2[] = { { "model.layers.0.self_attn.kv_b_proj.weight", 16, 7 } };
	expect_open_error(kvb2, 1, (const char *[]){ "kv_b_proj", NULL });
	/* expert 2 missing */
	const struct fake miss[] = { EXP(0, gate, 4, 16), EXP(1, gate, 4, 16), EXP(3, gate, 4, 16) };
	expect_open_error(miss, 3, (const char *[]){ "layer 1", "expert 2 of 4", "gate_proj", NULL });
	/* expert shapes differ */
	const struct fake shapes[] = { EXP(0, up, 4, 16), EXP(1, up, 4, 16), EXP(2, up, 5, 16),
				       EXP(3, up, 4, 16) };
	expect_open_error(shapes, 4, (const char *[]){ "blk.1.ffn_up_exps.weight", "experts.2.up_proj", NULL });
	/* more experts than the config says */
	const struct fake extra[] = { EXP(7, down, 16, 4) };
	expect_open_error(extra, 1, (const char *[]){ "experts.7.down_proj", "n_routed_experts is 4", NULL });
	/* an expert index that is not a number */
	const struct fake word[] = { EXP(x1, down, 16, 4) };
	expect_open_error(word, 1, (const char *[]){ "experts.x1.down_proj", "not a number", NULL });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_deepseek2),
		cmocka_unit_test(test_kv_ollama_legacy),
		cmocka_unit_test(test_tensor_names_types_order),
		cmocka_unit_test(test_router_f32_values),
		cmocka_unit_test(test_experts_numeric_order_and_bytes),
		cmocka_unit_test(test_kvb_split_both_layouts),
		cmocka_unit_test(test_reading_one_expert_touches_only_it),
		cmocka_unit_test(test_bad_inputs_fail_with_one_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
