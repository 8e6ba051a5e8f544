/* test_naming.c - llama.cpp's names for models and files.
 *
 * The expected values of the id table are what gguf-py's metadata.py
 * (get_model_id_components, id_to_title) and utility.py
 * (model_weight_count_rounded_notation, size_label) return for these
 * inputs, recorded by running that code (llama.cpp release of the npm
 * bundle): real hub ids, the fixtures' directory names and the corner
 * cases of its regular expressions (versions, quant types, sizes with and
 * without units, context lengths, MoE sizes, word sizes, LoRA). The model
 * tests build names from fixtures (directory name, _name_or_path, a model
 * card's front matter, the hub id) and check the file names and keys. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftype.h"
#include "naming.h"
#include "testutil.h"

struct id_case {
	const char *id;
	long long total;
	const char *full_name, *org, *basename, *finetune, *version, *size_label;
	const char *title;
};

static const struct id_case ids[] = {
	{"meta-llama/Llama-3.2-1B-Instruct", 1235814400ll, "Llama-3.2-1B-Instruct", "meta-llama", "Llama-3.2", "Instruct", NULL, "1B", "Llama 3.2 1B Instruct"},
	{"meta-llama/Llama-3.2-1B-Instruct", 20000000ll, "Llama-3.2-1B-Instruct", "meta-llama", "Llama-3.2", "1b-Instruct", NULL, NULL, "Llama 3.2 1B Instruct"},
	{"llama-bf16", 20000000ll, "llama-bf16", NULL, NULL, NULL, NULL, NULL, "Llama Bf16"},
	{"llama-bf16-3shard-rope3", 20971520ll, "llama-bf16-3shard-rope3", NULL, "llama", "3shard-rope3", NULL, NULL, "Llama Bf16 3shard Rope3"},
	{"llama4-tiny", 30000000ll, "llama4-tiny", NULL, NULL, NULL, NULL, NULL, "Llama4 Tiny"},
	{"glm-tiny", 15000000ll, "glm-tiny", NULL, NULL, NULL, NULL, NULL, "Glm Tiny"},
	{"mllama-tiny", 25000000ll, "mllama-tiny", NULL, NULL, NULL, NULL, NULL, "Mllama Tiny"},
	{"Mixtral-8x7B-Instruct-v0.1", 46702792704ll, "Mixtral-8x7B-Instruct-v0.1", NULL, "Mixtral", "Instruct", "v0.1", "8x7B", "Mixtral 8x7B Instruct v0.1"},
	{"bloom-7b1", 7000000000ll, "bloom-7b1", NULL, "bloom", NULL, NULL, "7.1B", "Bloom 7b1"},
	{"Qwen2.5-Coder-32B-Instruct-AWQ", 32000000000ll, "Qwen2.5-Coder-32B-Instruct-AWQ", NULL, "Qwen2.5-Coder", "Instruct-AWQ", NULL, "32B", "Qwen2.5 Coder 32B Instruct AWQ"},
	{"Phi-3-mini-4k-instruct", 3800000000ll, "Phi-3-mini-4k-instruct", NULL, "Phi-3", "4k-instruct", NULL, "mini", "Phi 3 Mini 4k Instruct"},
	{"gemma-3-27b-it-qat-q4_0-unquantized", 27000000000ll, "gemma-3-27b-it-qat-q4_0-unquantized", NULL, "gemma-3", "it-qat-unquantized", NULL, "27B", "Gemma 3 27b It Qat Q4_0 Unquantized"},
	{"Llama-3.2-1B-Instruct", 20000000ll, "Llama-3.2-1B-Instruct", NULL, "Llama-3.2", "1b-Instruct", NULL, NULL, "Llama 3.2 1B Instruct"},
	{"mistralai/Mistral-7B-Instruct-v0.3", 7248023552ll, "Mistral-7B-Instruct-v0.3", "mistralai", "Mistral", "Instruct", "v0.3", "7B", "Mistral 7B Instruct v0.3"},
	{"TinyLlama/TinyLlama-1.1B-Chat-v1.0", 1100048384ll, "TinyLlama-1.1B-Chat-v1.0", "TinyLlama", "TinyLlama", "Chat", "v1.0", "1.1B", "TinyLlama 1.1B Chat v1.0"},
	{"Qwen/Qwen3-30B-A3B", 30532122624ll, "Qwen3-30B-A3B", "Qwen", "Qwen3", NULL, NULL, "30B-A3B", "Qwen3 30B A3B"},
	{"deepseek-ai/DeepSeek-V3", 671000000000ll, "DeepSeek-V3", "deepseek-ai", "DeepSeek", NULL, "V3", NULL, "DeepSeek V3"},
	{"zai-org/GLM-4.7-Flash", 30000000000ll, "GLM-4.7-Flash", "zai-org", NULL, NULL, NULL, NULL, "GLM 4.7 Flash"},
	{"meta-llama/Llama-4-Scout-17B-16E-Instruct", 108000000000ll, "Llama-4-Scout-17B-16E-Instruct", "meta-llama", "Llama-4-Scout", "16E-Instruct", NULL, "17B", "Llama 4 Scout 17B 16E Instruct"},
	{"microsoft/Phi-3.5-MoE-instruct", 41900000000ll, "Phi-3.5-MoE-instruct", "microsoft", "Phi-3.5-MoE", "instruct", NULL, NULL, "Phi 3.5 MoE Instruct"},
	{"google/gemma-2-9b-it", 9241705984ll, "gemma-2-9b-it", "google", "gemma-2", "it", NULL, "9B", "Gemma 2 9b It"},
	{"HuggingFaceTB/SmolLM2-135M-Instruct", 134515008ll, "SmolLM2-135M-Instruct", "HuggingFaceTB", "SmolLM2", "Instruct", NULL, "135M", "SmolLM2 135M Instruct"},
	{"openai/gpt-oss-20b", 20914757184ll, "gpt-oss-20b", "openai", "gpt-oss", NULL, NULL, "20B", "Gpt Oss 20b"},
	{"bigscience/bloomz-560m", 559214592ll, "bloomz-560m", "bigscience", "bloomz", NULL, NULL, "560M", "Bloomz 560m"},
	{"EleutherAI/pythia-70m-deduped", 70426624ll, "pythia-70m-deduped", "EleutherAI", "pythia", "deduped", NULL, "70M", "Pythia 70m Deduped"},
	{"tiiuae/falcon-7b-instruct", 6921720704ll, "falcon-7b-instruct", "tiiuae", "falcon", "instruct", NULL, "7B", "Falcon 7b Instruct"},
	{"NousResearch/Hermes-3-Llama-3.1-8B", 8030261248ll, "Hermes-3-Llama-3.1-8B", "NousResearch", "Hermes-3-Llama-3.1", NULL, NULL, "8B", "Hermes 3 Llama 3.1 8B"},
	{"cognitivecomputations/dolphin-2.9-llama3-8b", 8030261248ll, "dolphin-2.9-llama3-8b", "cognitivecomputations", "dolphin-2.9-llama3", NULL, NULL, "8B", "Dolphin 2.9 Llama3 8b"},
	{"TheBloke/Mistral-7B-Instruct-v0.2-GGUF", 7241732096ll, "Mistral-7B-Instruct-v0.2-GGUF", "TheBloke", "Mistral", "Instruct-GGUF", "v0.2", "7B", "Mistral 7B Instruct v0.2 GGUF"},
	{"stabilityai/stablelm-2-zephyr-1_6b", 1644515328ll, "stablelm-2-zephyr-1_6b", "stabilityai", "stablelm-2-zephyr", NULL, NULL, "1.6B", "Stablelm 2 Zephyr 1_6b"},
	{"01-ai/Yi-1.5-34B-Chat-16K", 34388917248ll, "Yi-1.5-34B-Chat-16K", "01-ai", "Yi-1.5", "Chat-16k", NULL, "34B", "Yi 1.5 34B Chat 16K"},
	{"ibm-granite/granite-3.0-2b-instruct", 2533531648ll, "granite-3.0-2b-instruct", "ibm-granite", "granite-3.0", "instruct", NULL, "2B", "Granite 3.0 2b Instruct"},
	{"allenai/OLMo-7B-0724-hf", 6888095744ll, "OLMo-7B-0724-hf", "allenai", "OLMo", "hf", "0724", "7B", "OLMo 7B 0724 Hf"},
	{"Qwen/Qwen2-VL-7B-Instruct", 8291375616ll, "Qwen2-VL-7B-Instruct", "Qwen", "Qwen2-VL", "Instruct", NULL, "7B", "Qwen2 VL 7B Instruct"},
	{"mlx-community/Llama-3.2-3B-Instruct-4bit", 3212749824ll, "Llama-3.2-3B-Instruct-4bit", "mlx-community", "Llama-3.2", "Instruct-4bit", NULL, "3B", "Llama 3.2 3B Instruct 4bit"},
	{"unsloth/Llama-3.2-1B-Instruct-bnb-4bit", 1235814400ll, "Llama-3.2-1B-Instruct-bnb-4bit", "unsloth", "Llama-3.2", "Instruct-bnb-4bit", NULL, "1B", "Llama 3.2 1B Instruct Bnb 4bit"},
	{"x/v1.2.3-model-7B", 7000000000ll, "v1.2.3-model-7B", "x", "v1.2.3-model", NULL, NULL, "7B", "v1.2.3 Model 7B"},
	{"iter5-xl-chat", 1000000ll, "iter5-xl-chat", NULL, "iter5", "chat", NULL, "xl", "Iter5 Xl Chat"},
	{"a/b-c-d-Large-XL-7b", 7000000000ll, "b-c-d-Large-XL-7b", "a", "b-c-d-Large-XL", NULL, NULL, "7B", "B C D Large XL 7b"},
	{"model-A3B-128x3B", 384000000000ll, "model-A3B-128x3B", NULL, "model", NULL, NULL, "A3B-128x3B", "Model A3B 128x3B"},
	{"./weird-7B", 7000000000ll, "weird-7B", NULL, "weird", NULL, NULL, "7B", "Weird 7B"},
	{"name with spaces", 100ll, "name with spaces", NULL, NULL, NULL, NULL, NULL, "Name With Spaces"},
	{"-leading-dash-7B", 7000000000ll, "-leading-dash-7B", NULL, "leading-dash", NULL, NULL, "7B", "Leading Dash 7B"},
	{"Foo-BF16-Q4_K_M-fp32", 1000ll, "Foo-BF16-Q4_K_M-fp32", NULL, NULL, NULL, NULL, NULL, "Foo BF16 Q4_K_M Fp32"},
	{"Llama-2-7b-chat-hf", 6738415616ll, "Llama-2-7b-chat-hf", NULL, "Llama-2", "chat-hf", NULL, "7B", "Llama 2 7b Chat Hf"},
	{"Llama-2-7b-chat-hf", -6738415616ll, "Llama-2-7b-chat-hf", NULL, "Llama-2", "chat-hf", NULL, "7B", "Llama 2 7b Chat Hf"},
	{"my-lora-adapter-LoRA", -1000000ll, "my-lora-adapter-LoRA", NULL, "my", "adapter", NULL, NULL, "My Lora Adapter LoRA"},
	{"iq4_xs-test-7B", 7000000000ll, "iq4_xs-test-7B", NULL, "iq4_xs-test", NULL, NULL, "7B", "Iq4_Xs Test 7B"},
};

static void expect_str(const char *what, const char *id, const char *got,
		       const char *want)
{
	if (!want && !got)
		return;
	if (!want || !got || strcmp(got, want) != 0)
		fail_msg("%s of '%s': got %s%s%s, want %s%s%s", what, id,
			 got ? "'" : "", got ? got : "NULL", got ? "'" : "",
			 want ? "'" : "", want ? want : "NULL", want ? "'" : "");
}

static void test_id_parts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
		const struct id_case *c = &ids[i];
		struct gg_id_parts p;
		gg_naming_id_parts(c->id, c->total, &p);
		expect_str("full_name", c->id, p.full_name, c->full_name);
		expect_str("org", c->id, p.org, c->org);
		expect_str("basename", c->id, p.basename, c->basename);
		expect_str("finetune", c->id, p.finetune, c->finetune);
		expect_str("version", c->id, p.version, c->version);
		expect_str("size_label", c->id, p.size_label, c->size_label);
		char *t = gg_naming_title(p.full_name);
		expect_str("title", c->id, t, c->title);
		free(t);
		gg_naming_id_parts_free(&p);
	}
	struct gg_id_parts none;
	gg_naming_id_parts(NULL, 0, &none);
	assert_null(none.full_name);
}

static void test_counts(void **state)
{
	(void)state;
	static const struct { unsigned long long n; const char *want; } cases[] = {
		{0, "0.00K"}, {1, "0.00K"}, {999, "1.0K"}, {1000, "1.0K"},
		{1499, "1.5K"}, {1500, "1.5K"}, {20971520, "21M"},
		{1235814400, "1.2B"}, {999999999999ull, "1000B"},
		{1000000000001ull, "1.0T"}, {7241732096ull, "7.2B"}, {500, "0.50K"},
		{550, "0.6K"}, {1000000, "1000K"}, {1000001, "1.0M"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *s = gg_naming_count(cases[i].n, 2);
		expect_str("count", "n", s, cases[i].want);
		free(s);
	}
	struct gg_param_count moe = {46702792704ull, 1602000000ull, 5600000000ull, 8};
	char *s = gg_naming_size_label(&moe);
	assert_string_equal(s, "8x7.2B");
	free(s);
	struct gg_param_count dense = {1235814400ull, 1235814400ull, 0, 0};
	s = gg_naming_size_label(&dense);
	assert_string_equal(s, "1.2B");
	free(s);
}

/* A copy of fixture fx in a directory called name (under a temp dir). */
static char *copy_as(const char *fx, const char *name, char **tmp)
{
	*tmp = make_temp_dir("naming");
	char *dst = gg_path_join(*tmp, name), *src = fixture_path(fx);
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "cp -r '%s' '%s'", src, dst);
	assert_int_equal(system(cmd), 0);
	free(src);
	return dst;
}

static const char *kv_str(const struct gg_outfile *f, const char *key)
{
	const struct gguf_kv *kv = gguf_kvs_get(f->kvs, key);
	return kv && kv->type == GGUF_VT_STRING ? kv->str.s : NULL;
}

static void test_file_name_from_directory(void **state)
{
	(void)state;
	char *tmp, *dir = copy_as("llama-bf16", "Llama-3.2-1B-Instruct", &tmp);
	struct gg_model *m = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	const struct gg_outfile *f = &m->files[0];
	struct gg_param_count c;
	gg_naming_params(f, &c);
	char *size = gg_naming_count(c.total, 2);
	/* The fixture is far smaller than 1B: "1B" reads as a finetune. */
	char want[256];
	snprintf(want, sizeof want, "Llama-3.2-%s-1b-Instruct-BF16.gguf", size);
	char *name = gg_naming_file_name(m, f);
	assert_string_equal(name, want);
	struct gg_naming nm;
	gg_naming_derive(m, f, &nm);
	assert_string_equal(nm.name, "Llama 3.2 1B Instruct");
	assert_string_equal(nm.basename, "Llama-3.2");
	assert_string_equal(nm.finetune, "1b-Instruct");
	assert_string_equal(nm.size_label, size);
	assert_null(nm.version);
	assert_null(nm.organization);
	gg_naming_free(&nm);
	free(name);
	free(size);
	gg_model_close(m);
	remove_tree(tmp);
	free(tmp);
	free(dir);
}

static void test_card_and_name_or_path(void **state)
{
	(void)state;
	char *tmp, *dir = copy_as("llama-bf16", "snapshot", &tmp);
	write_text(dir, "README.md",
		   "---\n"
		   "license: llama3.2\n"
		   "language:\n- en\n- de\n"
		   "tags: [facebook, 'meta', \"llama-3\"]\n"
		   "pipeline_tag: text-generation\n"
		   "model_name: My Model\n"
		   "---\n# My model\nbasename: not front matter\n");
	struct gg_model *m = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	struct gg_naming nm;
	gg_naming_derive(m, &m->files[0], &nm);
	assert_string_equal(nm.name, "My Model");
	assert_string_equal(nm.license, "llama3.2");
	assert_int_equal(nm.nlanguages, 2);
	assert_string_equal(nm.languages[1], "de");
	assert_int_equal(nm.ntags, 4);
	assert_string_equal(nm.tags[2], "llama-3");
	assert_string_equal(nm.tags[3], "text-generation");
	assert_null(nm.basename); /* "snapshot": no size, finetune or version */
	gg_naming_free(&nm);
	gg_model_close(m);
	/* _name_or_path names it when it is an id, not a path. */
	char *cfg = gg_path_join(dir, "config.json"), *text;
	size_t len;
	gg_err e;
	assert_int_equal(gg_read_file(cfg, 1 << 20, &text, &len, &e), 0);
	char *body = strchr(text, '{') + 1;
	char out[65536];
	snprintf(out, sizeof out, "{\"_name_or_path\": \"mistralai/Mistral-7B-Instruct-v0.3\",%s", body);
	write_text(dir, "config.json", out);
	write_text(dir, "README.md", "no front matter\n");
	m = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	gg_naming_derive(m, &m->files[0], &nm);
	assert_string_equal(nm.name, "Mistral 7B Instruct v0.3");
	assert_string_equal(nm.organization, "Mistralai");
	assert_string_equal(nm.basename, "Mistral");
	assert_string_equal(nm.version, "v0.3");
	assert_null(nm.license);
	gg_naming_free(&nm);
	gg_model_close(m);
	free(text);
	free(cfg);
	remove_tree(tmp);
	free(tmp);
	free(dir);
}

static void test_hub_id_names_a_snapshot(void **state)
{
	(void)state;
	char *tmp, *dir = copy_as("llama-bf16", "0123456789abcdef0123456789abcdef01234567", &tmp);
	struct gg_options o = { .profile = GG_PROFILE_LLAMACPP, .hub_id = "meta-llama/Llama-3.2-1B-Instruct" };
	struct gg_model *m;
	gg_err e;
	if (gg_model_open(dir, &o, &m, &e))
		fail_msg("%s", e.msg);
	char *name = gg_naming_file_name(m, &m->files[0]);
	assert_non_null(strstr(name, "Llama-3.2-"));
	assert_null(strstr(name, "0123456789"));
	free(name);
	gg_model_close(m);
	remove_tree(tmp);
	free(tmp);
	free(dir);
}

static void test_file_type(void **state)
{
	(void)state;
	static const struct { const char *fx; enum gg_ftype want; const char *type; } cases[] = {
		{"llama-bf16", GG_FTYPE_BF16, "BF16"},
		{"llama-f16", GG_FTYPE_F16, "F16"},
		{"llama-f32-tied", GG_FTYPE_F16, "F16"}, /* F32 sources become F16 */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct gg_model *m = open_fixture(cases[i].fx, GG_PROFILE_LLAMACPP);
		assert_int_equal(gg_ftype_of_outfile(&m->files[0]), cases[i].want);
		assert_string_equal(gg_naming_output_type(&m->files[0]), cases[i].type);
		gg_model_close(m);
		/* Ollama's file says 1 for BF16 too; the name still says BF16. */
		m = open_fixture(cases[i].fx, GG_PROFILE_OLLAMA);
		assert_string_equal(gg_naming_output_type(&m->files[0]), cases[i].type);
		gg_model_close(m);
	}
}

static void test_projector_name(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("llama4-tiny", GG_PROFILE_LLAMACPP);
	assert_true(m->nfiles == 2);
	char *a = gg_naming_file_name(m, &m->files[0]);
	char *b = gg_naming_file_name(m, &m->files[1]);
	assert_string_equal(kv_str(&m->files[1], "general.architecture"), "clip");
	assert_int_equal(strncmp(b, "mmproj-Llama4-Tiny", 18), 0);
	assert_null(strstr(b, "M-")); /* no size label on a projector */
	assert_int_equal(strncmp(a, "Llama4-Tiny-", 12), 0);
	free(a);
	free(b);
	gg_model_close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parts),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_file_name_from_directory),
		cmocka_unit_test(test_card_and_name_or_path),
		cmocka_unit_test(test_hub_id_names_a_snapshot),
		cmocka_unit_test(test_file_type),
		cmocka_unit_test(test_projector_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
