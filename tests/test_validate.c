/* test_validate.c - a file llama.cpp could not load is refused at open, in
 * both profiles, for every architecture (issue 9 items 4 and 5): tensor
 * names llama.cpp cannot load or a mount cannot list, hyperparameters that
 * are missing, 0, NaN, Infinity or not divisible, shapes that differ from
 * what the config implies, tensors no rule maps. Each case is a variant of
 * a fixture: its files linked, config.json edited, maybe one more shard. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model.h"
#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* One architecture's fixture and the config keys its cases edit. */
struct arch_case {
	const char *fixture;
	const char *obj;        /* "" or "text_config": where the keys below are */
	const char *required;   /* a key the architecture needs */
	const char *used_float; /* a float key it uses (NaN refused) */
	const char *kv_heads;   /* its KV head count key, or NULL */
	const char *ff_key;     /* a size that fixes some tensor's shape, or NULL */
	bool spec;              /* llama.cpp loader spec (unmapped / shapes) */
	bool ollama_any_shape;  /* the ollama profile keeps Ollama's shapes */
};

static const struct arch_case ARCHS[] = {
	{ "llama-f16", "", "rms_norm_eps", "rope_theta", "num_key_value_heads", "intermediate_size", true, false },
	{ "llama4-tiny", "text_config", "rms_norm_eps", "rope_theta", "num_key_value_heads", "intermediate_size_mlp", true, false },
	{ "mllama-tiny", "text_config", "num_attention_heads", "rms_norm_eps", "num_key_value_heads", NULL, false, false },
	{ "glm-tiny", "", "kv_lora_rank", "rms_norm_eps", NULL, "moe_intermediate_size", true, false },
	{ "qwen2-tiny", "", "max_position_embeddings", "rms_norm_eps", "num_key_value_heads", "intermediate_size", true, false },
	{ "qwen3-tiny", "", "hidden_size", "rope_theta", "num_key_value_heads", "head_dim", true, false },
	{ "qwen3moe-tiny", "", "num_experts", "rms_norm_eps", "num_key_value_heads", "moe_intermediate_size", true, false },
	{ "mistral-tiny", "", "num_hidden_layers", "rope_theta", "num_key_value_heads", "intermediate_size", true, false },
	{ "mixtral-tiny", "", "num_local_experts", "rms_norm_eps", "num_key_value_heads", "intermediate_size", true, false },
	{ "gptoss-tiny", "", "num_local_experts", "rope_theta", "num_key_value_heads", "intermediate_size", true, false },
	/* Gemma 3: no head-count cases. Its llamacpp profile takes transformers'
	 * defaults for 0 (then the shapes are refused); Ollama writes the top
	 * level's counts, 0 for ConditionalGeneration, and the ollama profile
	 * keeps Ollama's shapes. */
	{ "gemma3-tiny", "", "hidden_size", "rms_norm_eps", NULL, "intermediate_size", true, true },
	{ "gemma3-mm-tiny", "text_config", "intermediate_size", "rope_theta", NULL, "intermediate_size", true, true },
	{ "phi3-tiny", "", "rms_norm_eps", "rope_theta", "num_key_value_heads", "intermediate_size", true, false },
};

/* ---- variants ---- */

struct extra { const char *name; uint64_t rows, cols; };

/* A safetensors file of BF16 zeros. */
static void write_shard(const char *dir, const char *file, const struct extra *t, size_t n)
{
	char hdr[8192];
	size_t len = (size_t)snprintf(hdr, sizeof hdr, "{");
	uint64_t off = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t bytes = t[i].rows * t[i].cols * 2;
		cJSON *str = cJSON_CreateString(t[i].name);
		char *esc = cJSON_PrintUnformatted(str);
		cJSON_Delete(str);
		len += (size_t)snprintf(hdr + len, sizeof hdr - len,
					"%s%s:{\"dtype\":\"BF16\",\"shape\":[%llu,%llu],\"data_offsets\":[%llu,%llu]}",
					i ? "," : "", esc, (unsigned long long)t[i].rows,
					(unsigned long long)t[i].cols, (unsigned long long)off,
					(unsigned long long)(off + bytes));
		free(esc);
		off += bytes;
	}
	len += (size_t)snprintf(hdr + len, sizeof hdr - len, "}");
	while (len % 8)
		hdr[len++] = ' ';
	uint8_t *buf = calloc(1, 8 + len + off);
	uint64_t hl = len;
	memcpy(buf, &hl, 8);
	memcpy(buf + 8, hdr, len);
	write_file(dir, file, buf, 8 + len + off);
	free(buf);
}

static cJSON *read_json(const char *dir, const char *name)
{
	char *path = gg_path_join(dir, name), *text;
	size_t len;
	gg_err e;
	if (gg_read_file(path, 64u << 20, &text, &len, &e))
		fail_msg("%s", e.msg);
	cJSON *j = cJSON_Parse(text);
	assert_non_null(j);
	free(text);
	free(path);
	return j;
}

static void put_json(const char *dir, const char *name, cJSON *j)
{
	char *text = cJSON_Print(j);
	write_text(dir, name, text);
	free(text);
}

/* A variant of fixture: every file linked but config.json (edited by
 * edit(obj, arg) on the object `where` names) and, with extras, one more
 * shard "model-extra.safetensors" that the index (if any) lists too. */
static char *variant(const char *fixture, const char *where, void (*edit)(cJSON *, void *),
		     void *arg, const struct extra *extras, size_t nextra)
{
	char *src = fixture_path(fixture), *dir = make_temp_dir("validate");
	DIR *d = opendir(src);
	assert_non_null(d);
	bool indexed = false;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "config.json"))
			continue;
		if (!strcmp(de->d_name, "model.safetensors.index.json")) {
			indexed = true;
			continue;
		}
		char a[4096], b[4096];
		snprintf(a, sizeof a, "%s/%s", src, de->d_name);
		snprintf(b, sizeof b, "%s/%s", dir, de->d_name);
		assert_int_equal(symlink(a, b), 0);
	}
	closedir(d);
	cJSON *c = read_json(src, "config.json");
	if (edit)
		edit(*where ? cJSON_GetObjectItem(c, where) : c, arg);
	put_json(dir, "config.json", c);
	cJSON_Delete(c);
	if (indexed) {
		cJSON *idx = read_json(src, "model.safetensors.index.json");
		cJSON *map = cJSON_GetObjectItem(idx, "weight_map");
		for (size_t i = 0; i < nextra; i++)
			cJSON_AddStringToObject(map, extras[i].name, "model-extra.safetensors");
		put_json(dir, "model.safetensors.index.json", idx);
		cJSON_Delete(idx);
	}
	if (nextra)
		write_shard(dir, "model-extra.safetensors", extras, nextra);
	free(src);
	return dir;
}

/* Open the variant in both profiles: it must fail, on one line, saying
 * every needle. */
static void expect_refused(char *dir, const char *fixture, const char *n1, const char *n2)
{
	for (int p = 0; p < 2; p++) {
		struct gg_options opt = { .profile = p ? GG_PROFILE_OLLAMA : GG_PROFILE_LLAMACPP };
		struct gg_model *m = NULL;
		gg_err e;
		if (gg_model_open(dir, &opt, &m, &e) == 0) {
			gg_model_close(m);
			fail_msg("%s (%s): opened, wanted an error saying '%s'", fixture,
				 gg_profile_name(opt.profile), n1);
		}
		if (!strstr(e.msg, n1) || (n2 && !strstr(e.msg, n2)) || strchr(e.msg, '\n'))
			fail_msg("%s (%s): error '%s' should say '%s' and '%s' on one line", fixture,
				 gg_profile_name(opt.profile), e.msg, n1, n2 ? n2 : "");
	}
	remove_tree(dir);
	free(dir);
}

/* A wrong size: refused in both profiles, or, where the ollama profile
 * keeps the shapes Ollama writes (Gemma 3), opened there and refused in
 * the llamacpp profile. */
static void expect_refused_shape(const struct arch_case *a, char *dir, const char *n1, const char *n2)
{
	if (!a->ollama_any_shape) {
		expect_refused(dir, a->fixture, n1, n2);
		return;
	}
	struct gg_options opt = { .profile = GG_PROFILE_OLLAMA };
	struct gg_model *m = NULL;
	gg_err e;
	assert_int_equal(gg_model_open(dir, &opt, &m, &e), 0);
	gg_model_close(m);
	struct gg_options lcp = { .profile = GG_PROFILE_LLAMACPP };
	if (gg_model_open(dir, &lcp, &m, &e) == 0)
		fail_msg("%s (llamacpp): opened, wanted an error saying '%s'", a->fixture, n1);
	if (!strstr(e.msg, n1) || !strstr(e.msg, n2) || strchr(e.msg, '\n'))
		fail_msg("%s (llamacpp): error '%s' should say '%s' and '%s'", a->fixture, e.msg, n1, n2);
	remove_tree(dir);
	free(dir);
}

static void expect_opens(char *dir)
{
	struct gg_model *m = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	assert_non_null(m);
	gg_model_close(m);
	remove_tree(dir);
	free(dir);
}

/* ---- edits ---- */

static void drop_key(cJSON *o, void *key) { cJSON_DeleteItemFromObjectCaseSensitive(o, key); }

struct setnum { const char *key; double v; };
static void set_num(cJSON *o, void *arg)
{
	const struct setnum *s = arg;
	cJSON_DeleteItemFromObjectCaseSensitive(o, s->key);
	cJSON_AddNumberToObject(o, s->key, s->v);
}
static void times_two(cJSON *o, void *key)
{
	cJSON *v = cJSON_GetObjectItem(o, key);
	assert_non_null(v);
	cJSON_SetNumberValue(v, v->valuedouble * 2);
}

/* NaN and Infinity: written as the bare tokens HF's json.dumps produces. */
static char *nonfinite_variant(const struct arch_case *a, const char *key, const char *token)
{
	struct setnum s = { key, 12345.5 };
	char *dir = variant(a->fixture, a->obj, set_num, &s, NULL, 0);
	char *path = gg_path_join(dir, "config.json"), *text;
	size_t len;
	gg_err e;
	assert_int_equal(gg_read_file(path, 1u << 20, &text, &len, &e), 0);
	char *at = strstr(text, "12345.5");
	assert_non_null(at);
	size_t pre = (size_t)(at - text);
	char *out = malloc(len + 32);
	snprintf(out, len + 32, "%.*s%s%s", (int)pre, text, token, at + 7);
	unlink(path);
	write_text(dir, "config.json", out);
	free(out);
	free(text);
	free(path);
	return dir;
}

/* ---- the cases, for every architecture ---- */

static void test_names_llama_cpp_cannot_load(void **state)
{
	(void)state;
	char long_name[80];
	memset(long_name, 'x', 70);
	strcpy(long_name + 70, ".weight");
	const struct { const char *name, *why; } names[] = {
		{ "", "is empty" }, { ".", "cannot be a file name" }, { "..", "cannot be a file name" },
		{ long_name, "longer than llama.cpp's 63-byte limit" },
	};
	for (size_t i = 0; i < COUNT(ARCHS); i++)
		for (size_t k = 0; k < COUNT(names); k++) {
			const struct extra x = { names[k].name, 2, 2 };
			char want[128];
			snprintf(want, sizeof want, "tensor '%.60s", names[k].name);
			expect_refused(variant(ARCHS[i].fixture, "", NULL, NULL, &x, 1), ARCHS[i].fixture,
				       want, names[k].why);
		}
}

static void test_required_hyperparameters(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(ARCHS); i++) {
		const struct arch_case *a = &ARCHS[i];
		expect_refused(variant(a->fixture, a->obj, drop_key, (void *)a->required, NULL, 0),
			       a->fixture, a->required, "is missing");
		struct setnum zero = { a->required, 0 };
		expect_refused(variant(a->fixture, a->obj, set_num, &zero, NULL, 0), a->fixture,
			       a->required, "is 0");
	}
}

static void test_nan_and_infinity(void **state)
{
	(void)state;
	const char *tokens[] = { "NaN", "Infinity", "-Infinity" };
	for (size_t i = 0; i < COUNT(ARCHS); i++) {
		const struct arch_case *a = &ARCHS[i];
		for (size_t k = 0; k < COUNT(tokens); k++)
			expect_refused(nonfinite_variant(a, a->used_float, tokens[k]), a->fixture,
				       a->used_float, "NaN, Infinity");
		/* A key no converter reads may hold them (Ollama reads all as 0). */
		expect_opens(nonfinite_variant(a, "initializer_range", "NaN"));
	}
}

static void test_head_counts(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(ARCHS); i++) {
		const struct arch_case *a = &ARCHS[i];
		if (!a->kv_heads)
			continue;
		struct setnum zero = { a->kv_heads, 0 }, three = { a->kv_heads, 3 };
		expect_refused(variant(a->fixture, a->obj, set_num, &zero, NULL, 0), a->fixture,
			       a->kv_heads, "is 0");
		expect_refused(variant(a->fixture, a->obj, set_num, &three, NULL, 0), a->fixture,
			       "is not a multiple of", a->kv_heads);
	}
}

/* A size the tensors do not have: llama.cpp's loader would stop at a wrong
 * shape; the open does, naming the tensor. */
static void test_shapes_against_the_config(void **state)
{
	(void)state;
	for (size_t i = 0; i < COUNT(ARCHS); i++) {
		const struct arch_case *a = &ARCHS[i];
		if (!a->spec || !a->ff_key)
			continue;
		expect_refused_shape(a, variant(a->fixture, a->obj, times_two, (void *)a->ff_key, NULL, 0),
				     "has shape", "loader expects");
	}
}

static void test_unmapped_tensors(void **state)
{
	(void)state;
	const struct extra stray[] = {
		{ "consolidated.weight", 4, 4 },
		{ "model.layers.0.self_attn.rotary_emb.cos_cached", 4, 4 },
		{ "model.layers.99.mlp.gate_proj.weight", 4, 4 },
	};
	for (size_t i = 0; i < COUNT(ARCHS); i++) {
		if (!ARCHS[i].spec)
			continue;
		for (size_t k = 0; k < COUNT(stray); k++) {
			/* GLM drops blocks past num_hidden_layers (the MTP layer), as Ollama. */
			if (k == 2 && !strcmp(ARCHS[i].fixture, "glm-tiny"))
				continue;
			char want[160];
			snprintf(want, sizeof want, "cannot map tensor '%s'", stray[k].name);
			expect_refused(variant(ARCHS[i].fixture, "", NULL, NULL, &stray[k], 1),
				       ARCHS[i].fixture, want, NULL);
		}
	}
}

/* Qwen3-MoE as llama.cpp cannot run it; Mixtral with more experts used
 * than it has. */
static void test_moe_refusals(void **state)
{
	(void)state;
	struct setnum step = { "decoder_sparse_step", 2 }, used = { "num_experts_per_tok", 13 };
	expect_refused(variant("qwen3moe-tiny", "", set_num, &step, NULL, 0), "qwen3moe-tiny",
		       "decoder_sparse_step", "no dense layers");
	expect_refused(variant("qwen3moe-tiny", "", drop_key, "norm_topk_prob", NULL, 0), "qwen3moe-tiny",
		       "norm_topk_prob is absent (false)", "renormalises");
	expect_refused(variant("mixtral-tiny", "", set_num, &used, NULL, 0), "mixtral-tiny",
		       "num_experts_per_tok", "more than num_local_experts");
}

static void set_false(cJSON *o, void *key)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	cJSON_AddFalseToObject(o, key);
}
static void dense_layers(cJSON *o, void *arg)
{
	(void)arg;
	cJSON_DeleteItemFromObjectCaseSensitive(o, "mlp_only_layers");
	cJSON *a = cJSON_AddArrayToObject(o, "mlp_only_layers");
	cJSON_AddItemToArray(a, cJSON_CreateNumber(1));
}

static void test_qwen3moe_as_written(void **state)
{
	(void)state;
	expect_refused(variant("qwen3moe-tiny", "", set_false, "norm_topk_prob", NULL, 0), "qwen3moe-tiny",
		       "norm_topk_prob is false", "cannot run this model as written");
	expect_refused(variant("qwen3moe-tiny", "", dense_layers, NULL, NULL, 0), "qwen3moe-tiny",
		       "mlp_only_layers is not empty", "cannot run this model as written");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_llama_cpp_cannot_load),
		cmocka_unit_test(test_required_hyperparameters),
		cmocka_unit_test(test_nan_and_infinity),
		cmocka_unit_test(test_head_counts),
		cmocka_unit_test(test_shapes_against_the_config),
		cmocka_unit_test(test_unmapped_tensors),
		cmocka_unit_test(test_moe_refusals),
		cmocka_unit_test(test_qwen3moe_as_written),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
