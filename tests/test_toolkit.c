/* test_toolkit.c - the converter toolkit's pieces on their own: the
 * hyperparameter tables (hparams.h), the llama.cpp loader specs
 * (tensorspec.h), expert stacking (stack.h) and the registry (archs.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archs.h"
#include "hparams.h"
#include "jsonutil.h"
#include "stack.h"
#include "tensorspec.h"
#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

static cJSON *parse(const char *json)
{
	char *dir = make_temp_dir("tk");
	write_text(dir, "config.json", json);
	char *path = gg_path_join(dir, "config.json");
	cJSON *j = NULL;
	gg_err e;
	if (gg_json_load(path, false, true, &j, &e))
		fail_msg("%s", e.msg);
	remove_tree(dir);
	free(dir);
	free(path);
	return j;
}

static void expect_msg(const gg_err *e, const char *want)
{
	if (!strstr(e->msg, want))
		fail_msg("message '%s' lacks '%s'", e->msg, want);
	assert_null(strchr(e->msg, '\n'));
}

/* ---- hparams ---- */

static const struct gg_hparam table[] = {
	{ "n_layer", "n_layers|num_hidden_layers", GG_HP_U32, GG_HP_REQUIRED | GG_HP_ALWAYS, "block_count", 0 },
	{ "n_head_kv", "num_key_value_heads", GG_HP_U32, GG_HP_POSITIVE, "attention.head_count_kv", 0 },
	{ "theta", "rope_theta", GG_HP_F32, GG_HP_POSITIVE, "rope.freq_base", 1e6 },
	{ "factor", "rope_scaling.factor", GG_HP_F32, GG_HP_POSITIVE, "rope.scaling.factor", 0 },
	{ "norm", "norm_topk_prob", GG_HP_BOOL, 0, "expert_weights_norm", 0 },
	{ "name", "model_type", GG_HP_STR, 0, NULL, 0 },
	{ "only_cpp", "cpp_key", GG_HP_U32, GG_HP_LLAMACPP | GG_HP_ALWAYS, "cpp", 0 },
};

static int read(const char *json, struct gg_hp *hp, enum gg_profile p, gg_err *e)
{
	cJSON *j = parse(json);
	int rc = gg_hp_read(hp, table, COUNT(table), j, "config.json", "", p, e);
	/* The values needed below are numbers: the tree may go. */
	cJSON_Delete(j);
	return rc;
}

static void test_hparams_values_and_kv(void **state)
{
	(void)state;
	struct gg_hp hp;
	gg_err e;
	/* cmp.Or: a 0 in the first key gives way to the second. */
	assert_int_equal(read("{\"n_layers\": 0, \"num_hidden_layers\": 3, \"rope_scaling\": {\"factor\": 4},"
			      " \"norm_topk_prob\": false}", &hp, GG_PROFILE_OLLAMA, &e), 0);
	assert_int_equal(gg_hp_u32(&hp, "n_layer"), 3);
	assert_true(gg_hp_given(&hp, "n_layer"));
	assert_true(gg_hp_f32(&hp, "theta") == 1e6f); /* the default */
	assert_false(gg_hp_given(&hp, "theta"));
	assert_true(gg_hp_f32(&hp, "factor") == 4.0f);
	assert_false(gg_hp_bool(&hp, "norm"));
	assert_int_equal(gg_hp_u32(&hp, "only_cpp"), 0); /* other profile */
	gg_hp_set(&hp, "derived", 7);
	assert_int_equal(gg_hp_u32(&hp, "derived"), 7);
	struct gguf_kvs *kv = gguf_kvs_new();
	gg_hp_write_kv(&hp, kv, "x");
	assert_int_equal(gguf_kvs_get(kv, "x.block_count")->v.u, 3);
	assert_null(gguf_kvs_get(kv, "x.attention.head_count_kv")); /* absent, not ALWAYS */
	assert_true(gguf_kvs_get(kv, "x.rope.freq_base")->v.f == 1e6f);
	assert_true(gguf_kvs_get(kv, "x.rope.scaling.factor")->v.f == 4.0f);
	assert_int_equal(gguf_kvs_get(kv, "x.expert_weights_norm")->v.b, false);
	assert_null(gguf_kvs_get(kv, "x.cpp"));
	assert_int_equal(kv->n, 4);
	gguf_kvs_free(kv);
	gg_hp_free(&hp);

	assert_int_equal(read("{\"n_layers\": 2}", &hp, GG_PROFILE_LLAMACPP, &e), 0);
	kv = gguf_kvs_new();
	gg_hp_write_kv(&hp, kv, "x");
	assert_int_equal(gguf_kvs_get(kv, "x.cpp")->v.u, 0); /* ALWAYS, its profile */
	gguf_kvs_free(kv);
	gg_hp_free(&hp);
}

static void expect_refused(const char *json, const char *want)
{
	struct gg_hp hp;
	gg_err e;
	if (read(json, &hp, GG_PROFILE_LLAMACPP, &e) == 0) {
		gg_hp_free(&hp);
		fail_msg("%s: accepted (wanted '%s')", json, want);
	}
	expect_msg(&e, want);
}

static void test_hparams_refusals(void **state)
{
	(void)state;
	expect_refused("{}", "config.json: n_layers (or num_hidden_layers) is missing");
	expect_refused("{\"n_layers\": 0}", "n_layers (or num_hidden_layers) is 0 or empty");
	expect_refused("{\"n_layers\": 2, \"num_key_value_heads\": 0}",
		       "config.json: num_key_value_heads is 0: it must be positive");
	expect_refused("{\"n_layers\": 2, \"rope_theta\": -1}", "rope_theta is -1: it must be positive");
	expect_refused("{\"n_layers\": 2.5}", "n_layers: expected an unsigned 32-bit integer");
	expect_refused("{\"n_layers\": \"2\"}", "n_layers: expected an unsigned 32-bit integer, got a string");
	/* NaN and Infinity in a key the architecture uses: refused, named. */
	expect_refused("{\"n_layers\": 2, \"rope_theta\": NaN}",
		       "rope_theta: NaN, Infinity or a number out of range is not a usable value");
	expect_refused("{\"n_layers\": Infinity}", "n_layers: NaN, Infinity");
	expect_refused("{\"n_layers\": 2, \"rope_scaling\": {\"factor\": -Infinity}}",
		       "rope_scaling.factor: NaN, Infinity");
	expect_refused("{\"n_layers\": 2, \"rope_scaling\": 3}", "rope_scaling: expected an object");
	/* ... and tolerated in one it does not use. */
	struct gg_hp hp;
	gg_err e;
	assert_int_equal(read("{\"n_layers\": 2, \"initializer_range\": NaN, \"x\": [Infinity]}",
			      &hp, GG_PROFILE_LLAMACPP, &e), 0);
	gg_hp_free(&hp);
}

static void test_hparams_divisible(void **state)
{
	(void)state;
	static const struct gg_hparam t[] = {
		{ "n_head", "num_attention_heads", GG_HP_U32, GG_HP_REQUIRED, NULL, 0 },
		{ "n_head_kv", "num_key_value_heads", GG_HP_U32, GG_HP_POSITIVE, NULL, 0 },
	};
	cJSON *j = parse("{\"num_attention_heads\": 6, \"num_key_value_heads\": 4}");
	struct gg_hp hp;
	gg_err e;
	assert_int_equal(gg_hp_read(&hp, t, 2, j, "c.json", "text_config.", GG_PROFILE_LLAMACPP, &e), 0);
	assert_int_equal(gg_hp_divisible(&hp, "n_head", "n_head_kv", &e), -1);
	assert_string_equal(e.msg, "c.json: text_config.num_attention_heads 6 is not a multiple of num_key_value_heads 4");
	gg_hp_set(&hp, "n_head_kv", 3);
	assert_int_equal(gg_hp_divisible(&hp, "n_head", "n_head_kv", &e), 0);
	gg_hp_free(&hp);
	cJSON_Delete(j);
}

/* ---- tensor specs ---- */

static const struct gg_tsym syms[] = {
	{ "n_layer", "block_count", NULL },
	{ "n_embd", "embedding_length", NULL },
	{ "n_head", "attention.head_count", NULL },
	{ "head_dim", "attention.key_length", "n_embd/n_head" },
	{ "n_expert", "expert_count", NULL },
	{ "n_vocab", "@tokens", NULL },
};
static const struct gg_trule rules[] = {
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL },
	{ "output.weight", "n_embd, n_vocab", GG_T_OPTIONAL, NULL },
	{ "blk.#.attn_q.weight", "n_embd, n_head*head_dim", 0, NULL },
	{ "blk.#.ffn_up.weight", "n_embd, 8", 0, "layer < 1" },
	{ "blk.#.ffn_up_exps.weight", "n_embd, 8, n_expert", 0, "layer >= 1" },
	{ "blk.#.extra", NULL, GG_T_OPTIONAL | GG_T_OLLAMA, NULL },
};
static const struct gg_tensor_spec spec = GG_TENSOR_SPEC("toy", "n_layer", syms, rules);

static void toy_init(struct gg_outfile *f, uint32_t n_embd, uint32_t heads, uint32_t key_length)
{
	memset(f, 0, sizeof *f);
	f->name = gg_strdup("model.gguf");
	f->origin = "/m";
	f->kvs = gguf_kvs_new();
	gguf_kvs_set_str(f->kvs, "general.architecture", "toy");
	gguf_kvs_set_u32(f->kvs, "toy.block_count", 2);
	gguf_kvs_set_u32(f->kvs, "toy.embedding_length", n_embd);
	gguf_kvs_set_u32(f->kvs, "toy.attention.head_count", heads);
	gguf_kvs_set_u32(f->kvs, "toy.expert_count", 3);
	if (key_length)
		gguf_kvs_set_u32(f->kvs, "toy.attention.key_length", key_length);
	const char *tok[5] = { "a", "b", "c", "d", "e" };
	gguf_kvs_set_arr_str(f->kvs, "tokenizer.ggml.tokens", tok, NULL, 5);
}

static void add(struct gg_outfile *f, const char *name, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t shape[3] = { a, b, c }; /* PyTorch order */
	gg_err e;
	int nd = c ? 3 : b ? 2 : 1;
	assert_non_null(gg_outfile_add(f, name, GG_TYPE_F32, shape, nd, &e));
}

/* The tensors of a 2-block toy model: block 0 dense, block 1 with experts. */
static void add_all(struct gg_outfile *f, uint64_t q_rows)
{
	add(f, "token_embd.weight", 5, 16, 0);
	add(f, "blk.0.attn_q.weight", q_rows, 16, 0);
	add(f, "blk.1.attn_q.weight", q_rows, 16, 0);
	add(f, "blk.0.ffn_up.weight", 8, 16, 0);
	add(f, "blk.1.ffn_up_exps.weight", 3, 8, 16);
}

static int check(struct gg_outfile *f, enum gg_profile p, gg_err *e)
{
	int rc = gg_spec_check(&spec, f, p, e);
	gg_outfile_clear(f);
	return rc;
}

static void test_spec_accepts_and_refuses(void **state)
{
	(void)state;
	struct gg_outfile f;
	gg_err e;
	toy_init(&f, 16, 4, 0);
	add_all(&f, 16);
	assert_int_equal(check(&f, GG_PROFILE_LLAMACPP, &e), 0);

	/* key_length changes the expected q rows; the default is n_embd/n_head. */
	toy_init(&f, 16, 4, 8);
	add_all(&f, 16);
	assert_int_equal(check(&f, GG_PROFILE_LLAMACPP, &e), -1);
	expect_msg(&e, "/m: tensor 'blk.0.attn_q.weight' has shape {16, 16}, but llama.cpp's toy loader expects {16, 32}");

	/* A tensor no rule creates, a rule's block condition unmet, a block
	 * past the block count. */
	const char *extra[] = { "consolidated.weight", "blk.1.ffn_up.weight", "blk.2.attn_q.weight",
				"blk.0.extra" };
	for (size_t i = 0; i < COUNT(extra); i++) {
		toy_init(&f, 16, 4, 0);
		add_all(&f, 16);
		add(&f, extra[i], 8, 16, 0);
		assert_int_equal(check(&f, GG_PROFILE_LLAMACPP, &e), -1);
		char want[128];
		snprintf(want, sizeof want, "cannot map tensor '%s'", extra[i]);
		expect_msg(&e, want);
	}
	/* An ollama-profile rule. */
	toy_init(&f, 16, 4, 0);
	add_all(&f, 16);
	add(&f, "blk.0.extra", 1, 0, 0);
	assert_int_equal(check(&f, GG_PROFILE_OLLAMA, &e), 0);

	/* Missing: a required per-block tensor; the vocabulary size of the
	 * embedding follows the token list. */
	toy_init(&f, 16, 4, 0);
	add(&f, "token_embd.weight", 5, 16, 0);
	add(&f, "blk.0.attn_q.weight", 16, 16, 0);
	add(&f, "blk.0.ffn_up.weight", 8, 16, 0);
	add(&f, "blk.1.ffn_up_exps.weight", 3, 8, 16);
	assert_int_equal(check(&f, GG_PROFILE_LLAMACPP, &e), -1);
	expect_msg(&e, "tensor 'blk.1.attn_q.weight' is missing: llama.cpp's toy loader requires it");
	toy_init(&f, 16, 4, 0);
	add_all(&f, 16);
	add(&f, "output.weight", 6, 16, 0);
	assert_int_equal(check(&f, GG_PROFILE_LLAMACPP, &e), -1);
	expect_msg(&e, "'output.weight' has shape {16, 6}, but llama.cpp's toy loader expects {16, 5}");
}

/* ---- stacking ---- */

static void test_stack_numeric_order(void **state)
{
	(void)state;
	static const struct gg_stack_rule r[] = {
		{ "model.layers.#.mlp.experts.#.up_proj.weight", "blk.%u.ffn_up_exps.weight" },
	};
	struct st_tensor ts[12];
	char names[12][64];
	memset(ts, 0, sizeof ts);
	/* Offered in lexical order: 0, 1, 10, 11, 2, ... */
	const int order[12] = { 0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9 };
	gg_err e;
	struct gg_stacker *s = gg_stacker_new(r, 1, 1, 12, "num_experts", "/m", &e);
	assert_non_null(s);
	for (int i = 0; i < 12; i++) {
		snprintf(names[i], sizeof names[i], "model.layers.0.mlp.experts.%d.up_proj.weight", order[i]);
		ts[i] = (struct st_tensor){ .name = names[i], .dtype = GG_TYPE_BF16, .ndim = 2,
					    .shape = { 4, 8 }, .nelem = 32 };
		assert_int_equal(gg_stacker_offer(s, &ts[i], &e), 1);
	}
	struct st_tensor other = { .name = "model.layers.0.mlp.gate.weight" };
	assert_int_equal(gg_stacker_offer(s, &other, &e), 0);
	struct st_tensor beyond = { .name = "model.layers.1.mlp.experts.0.up_proj.weight" };
	assert_int_equal(gg_stacker_offer(s, &beyond, &e), 0); /* block 1 of 1 */
	struct gg_outfile f = { .name = gg_strdup("model.gguf"), .kvs = gguf_kvs_new() };
	assert_int_equal(gg_stacker_emit(s, &f, &e), 0);
	const struct gg_tensor *t = output_tensor(&f, "blk.0.ffn_up_exps.weight");
	assert_int_equal(t->nsrc, 12);
	assert_int_equal(t->n_dims, 3);
	assert_int_equal(t->ne[0], 8);
	assert_int_equal(t->ne[1], 4);
	assert_int_equal(t->ne[2], 12);
	assert_int_equal(t->type, GG_TYPE_BF16);
	for (int k = 0; k < 12; k++) {
		char want[64];
		snprintf(want, sizeof want, "model.layers.0.mlp.experts.%d.up_proj.weight", k);
		assert_string_equal(t->srcs[k].st->name, want);
	}
	gg_outfile_clear(&f);
	gg_stacker_free(s);
}

static void expect_stack_error(const char *const *names, size_t n, const char *want)
{
	static const struct gg_stack_rule r[] = {
		{ "model.layers.#.mlp.experts.#.w1.weight", "blk.%u.ffn_gate_exps.weight" },
	};
	struct st_tensor ts[8];
	gg_err e;
	struct gg_stacker *s = gg_stacker_new(r, 1, 2, 3, "num_local_experts", "/m", &e);
	int rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		ts[i] = (struct st_tensor){ .name = (char *)names[i], .dtype = GG_TYPE_F32, .ndim = 2,
					    .shape = { 2, 2 }, .nelem = 4 };
		rc = gg_stacker_offer(s, &ts[i], &e);
	}
	struct gg_outfile f = { .name = gg_strdup("model.gguf"), .kvs = gguf_kvs_new() };
	if (rc >= 0)
		rc = gg_stacker_emit(s, &f, &e);
	gg_outfile_clear(&f);
	gg_stacker_free(s);
	assert_int_equal(rc, -1);
	expect_msg(&e, want);
}

static void test_stack_refusals(void **state)
{
	(void)state;
	const char *missing[] = { "model.layers.1.mlp.experts.0.w1.weight",
				  "model.layers.1.mlp.experts.2.w1.weight" };
	expect_stack_error(missing, 2, "layer 1: expert 1 of 3 has no w1 weight");
	const char *big[] = { "model.layers.0.mlp.experts.3.w1.weight" };
	expect_stack_error(big, 1, "expert 3, but num_local_experts is 3");
	const char *word[] = { "model.layers.0.mlp.experts.e1.w1.weight" };
	expect_stack_error(word, 1, "experts.e1.w1.weight: expert index is not a number");
	const char *twice[] = { "model.layers.0.mlp.experts.1.w1.weight",
				"model.layers.0.mlp.experts.01.w1.weight" };
	expect_stack_error(twice, 2, "are the same expert");
}

/* ---- registry ---- */

static void test_registry(void **state)
{
	(void)state;
	assert_ptr_equal(gg_arch_find("LlamaForCausalLM"), &gg_arch_llama);
	assert_null(gg_arch_find("PEFT LoRA adapter")); /* marker-file entries never match */
	assert_ptr_equal(gg_arch_find_gguf("deepseek2"), &gg_arch_glm4moelite);
	char list[512];
	gg_arch_list(list, sizeof list);
	assert_non_null(strstr(list, "LlamaForCausalLM, "));
	assert_null(strstr(list, "LoRA"));
	char *dir = make_temp_dir("reg");
	assert_null(gg_arch_for_dir(dir));
	write_text(dir, "adapter_config.json", "{}");
	assert_ptr_equal(gg_arch_for_dir(dir), &gg_arch_lora);
	remove_tree(dir);
	free(dir);
	for (size_t i = 0; gg_archs[i]; i++)
		assert_non_null(gg_archs[i]->build);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hparams_values_and_kv),
		cmocka_unit_test(test_hparams_refusals),
		cmocka_unit_test(test_hparams_divisible),
		cmocka_unit_test(test_spec_accepts_and_refuses),
		cmocka_unit_test(test_stack_numeric_order),
		cmocka_unit_test(test_stack_refusals),
		cmocka_unit_test(test_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
