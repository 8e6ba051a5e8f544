/* test_tok_llamacpp.c - llama.cpp-style vocabularies (tok_llamacpp.h) on
 * small hand-written tokenizer files and on the Phi-3 fixture's
 * tokenizer.model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tok_llamacpp.h"
#include "testutil.h"

static const struct gguf_kv *get(const struct gguf_kvs *kvs, const char *key)
{
	const struct gguf_kv *kv = gguf_kvs_get(kvs, key);
	if (!kv)
		fail_msg("missing %s", key);
	return kv;
}

static const char *tok(const struct gguf_kvs *kvs, uint32_t i)
{
	const struct gguf_kv *kv = get(kvs, "tokenizer.ggml.tokens");
	assert_true(i < kv->arr_n);
	return ((const struct gguf_str *)kv->arr)[i].s;
}

static int32_t type_of(const struct gguf_kvs *kvs, uint32_t i)
{
	const struct gguf_kv *kv = get(kvs, "tokenizer.ggml.token_type");
	assert_true(i < kv->arr_n);
	return ((const int32_t *)kv->arr)[i];
}

static float score_of(const struct gguf_kvs *kvs, uint32_t i)
{
	const struct gguf_kv *kv = get(kvs, "tokenizer.ggml.scores");
	assert_true(i < kv->arr_n);
	return ((const float *)kv->arr)[i];
}

/* A byte-fallback BPE tokenizer.json shaped like Gemma 3's. */
static const char SPM_JSON[] =
	"{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"},"
	" \"added_tokens\": [{\"id\": 0, \"content\": \"<pad>\", \"special\": true},"
	"   {\"id\": 3, \"content\": \"<b>\", \"special\": false},"
	"   {\"id\": 9, \"content\": \"<image_soft_token>\", \"special\": true}],"
	" \"model\": {\"type\": \"BPE\", \"byte_fallback\": true,"
	"   \"vocab\": {\"<pad>\": 0, \"<0x0A>\": 1, \"a\": 2, \"<b>\": 3, \"b\": 4, \"ab\": 5,"
	"               \"\\u2581a\": 6, \"\\u2581\": 7},"
	"   \"merges\": [[\"\\u2581\", \"a\"], [\"a\", \"b\"], [\"\\u2581a\", \"b\"]]}}";

static void test_spm_json(void **state)
{
	(void)state;
	char *dir = make_temp_dir("toklc");
	write_text(dir, "tokenizer.json", SPM_JSON);
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_str(kvs, "tokenizer.ggml.model", "gpt2");
	gguf_kvs_set_str(kvs, "tokenizer.ggml.merges", "stale");
	gg_err e;
	uint32_t dropped = 99;
	assert_int_equal(tok_llamacpp_apply(dir, TOK_STYLE_SPM_JSON, 9, kvs, &dropped, &e), 0);
	assert_int_equal(dropped, 1); /* <image_soft_token>, id 9 of 9 rows */
	assert_string_equal(get(kvs, "tokenizer.ggml.model")->str.s, "llama");
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.merges"));
	assert_false(get(kvs, "tokenizer.ggml.add_space_prefix")->v.b);
	assert_int_equal(get(kvs, "tokenizer.ggml.tokens")->arr_n, 9);
	/* scores: minus (1 + rank of the first merge giving the token) */
	assert_true(score_of(kvs, 6) == -1.0f);
	assert_true(score_of(kvs, 5) == -2.0f);
	assert_true(score_of(kvs, 2) == 0.0f);
	assert_int_equal(type_of(kvs, 0), 3); /* special added: CONTROL */
	assert_int_equal(type_of(kvs, 1), 6); /* <0x0A>: BYTE */
	assert_int_equal(type_of(kvs, 3), 4); /* non-special added: USER_DEFINED */
	assert_int_equal(type_of(kvs, 5), 1);
	assert_string_equal(tok(kvs, 8), "[PAD8]");
	assert_int_equal(type_of(kvs, 8), 5);
	gguf_kvs_free(kvs);
	remove_tree(dir);
	free(dir);
}

static void test_bpe_o200k(void **state)
{
	(void)state;
	char *dir = make_temp_dir("toklc");
	/* the o200k regex with JSON escapes doubled */
	write_text(dir, "tokenizer.json",
		   "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\":"
		   " \"[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
		   "|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?[\\\\p{Lu}\\\\p{Lt}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]+[\\\\p{Ll}\\\\p{Lm}\\\\p{Lo}\\\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
		   "|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n/]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}}, {\"type\": \"ByteLevel\"}]},"
		   " \"added_tokens\": [{\"id\": 4, \"content\": \"<|start|>\", \"special\": true},"
		   "   {\"id\": 5, \"content\": \"<|looks|>\", \"special\": false},"
		   "   {\"id\": 6, \"content\": \"plain\", \"special\": false}],"
		   " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}}");
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_str(kvs, "tokenizer.ggml.pre", "gpt-4o");
	gguf_kvs_set_f32(kvs, "tokenizer.ggml.scores", 1);
	gg_err e;
	uint32_t dropped = 99;
	assert_int_equal(tok_llamacpp_apply(dir, TOK_STYLE_BPE, 10, kvs, &dropped, &e), 0);
	assert_int_equal(dropped, 0);
	assert_string_equal(get(kvs, "tokenizer.ggml.pre")->str.s, "granite-embed-multi-97m");
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.scores"));
	assert_string_equal(tok(kvs, 3), "[PAD3]");
	assert_int_equal(type_of(kvs, 3), 5);
	assert_int_equal(type_of(kvs, 4), 3);
	assert_int_equal(type_of(kvs, 5), 3); /* looks special */
	assert_int_equal(type_of(kvs, 6), 4);
	assert_string_equal(tok(kvs, 9), "[PAD9]");
	gguf_kvs_free(kvs);
	remove_tree(dir);
	free(dir);
}

static void test_spm_model_phi3(void **state)
{
	(void)state;
	char *dir = fixture_path("phi3-tiny");
	struct gguf_kvs *kvs = gguf_kvs_new();
	gg_err e;
	uint32_t dropped = 99;
	if (tok_llamacpp_apply(dir, TOK_STYLE_SPM_MODEL, 32064, kvs, &dropped, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(dropped, 0);
	assert_int_equal(get(kvs, "tokenizer.ggml.tokens")->arr_n, 32064);
	/* added_tokens_decoder marks <unk> and <s> special: CONTROL, -1000 */
	assert_string_equal(tok(kvs, 0), "<unk>");
	assert_int_equal(type_of(kvs, 0), 3);
	assert_true(score_of(kvs, 0) == -1000.0f);
	assert_int_equal(type_of(kvs, 2), 4); /* </s> is not special there */
	assert_int_equal(type_of(kvs, 3), 6);
	assert_string_equal(tok(kvs, 32000), "<|endoftext|>");
	assert_int_equal(type_of(kvs, 32000), 3);
	assert_true(score_of(kvs, 32000) == -1000.0f);
	assert_string_equal(tok(kvs, 32010), "<|user|>");
	assert_string_equal(tok(kvs, 32011), "[PAD32011]");
	assert_true(score_of(kvs, 32011) == -10000.0f);
	assert_int_equal(type_of(kvs, 32063), 5);
	gguf_kvs_free(kvs);
	free(dir);
}

static void test_refusals(void **state)
{
	(void)state;
	char *dir = make_temp_dir("toklc");
	struct gguf_kvs *kvs = gguf_kvs_new();
	gg_err e;
	assert_int_equal(tok_llamacpp_apply(dir, TOK_STYLE_BPE, 10, kvs, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "tokenizer.json"));
	write_text(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": -1}}}");
	assert_int_equal(tok_llamacpp_apply(dir, TOK_STYLE_SPM_JSON, 10, kvs, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "non-negative integer"));
	write_text(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [7]}}");
	assert_int_equal(tok_llamacpp_apply(dir, TOK_STYLE_SPM_JSON, 10, kvs, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "model.merges[0]"));
	assert_int_equal(tok_llamacpp_apply(dir, TOK_STYLE_SPM_JSON, 0, kvs, NULL, &e), -1);
	assert_int_equal(tok_llamacpp_apply(dir, TOK_STYLE_SPM_JSON, 1u << 30, kvs, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "implausible"));
	gguf_kvs_free(kvs);
	remove_tree(dir);
	free(dir);
}

static void test_looks_special(void **state)
{
	(void)state;
	assert_true(tok_looks_special("<|endoftext|>"));
	assert_true(tok_looks_special("<unused12>"));
	assert_true(tok_looks_special("<\xef\xbd\x9c" "end\xef\xbd\x9c>"));
	assert_true(tok_looks_special("<mask>"));
	assert_false(tok_looks_special("<|"));
	assert_false(tok_looks_special("<b>"));
	assert_false(tok_looks_special("plain"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spm_json),
		cmocka_unit_test(test_bpe_o200k),
		cmocka_unit_test(test_spm_model_phi3),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_looks_special),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
