/* test_outtype.c - -o type= on whole models, against llama.cpp's own
 * quantizer: in the llamacpp profile gguffs type=Q must equal
 * llama_model_quantize(gguffs type=F32, Q) (the convert_hf_to_gguf
 * --outtype f32 + llama-quantize pipeline), in the ollama profile
 * llama_model_quantize(Ollama's file, Q) (ollama create --quantize); every
 * KV and every tensor (type, shape, bytes). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "ftype.h"
#include "llamaref.h"
#include "model.h"
#include "outtype.h"
#include "quant.h"
#include "testutil.h"

/* Fixture name opened with -o options opts (NULL: none) in profile p. */
static struct gg_model *open_with(const char *name, enum gg_profile p,
				  const char *opts, gg_err *e)
{
	struct gg_options o = { .profile = p };
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", opts ? opts : "");
	if (gg_options_parse(buf, &o, NULL, e))
		return NULL;
	char *dir = fixture_path(name);
	struct gg_model *m = NULL;
	int rc = gg_model_open(dir, &o, &m, e);
	free(dir);
	return rc ? NULL : m;
}

/* gguffs's model.gguf of fixture name with type=type (NULL: none),
 * written to path. */
static void convert(const char *name, enum gg_profile p, const char *type,
		    const char *path)
{
	char opts[128] = "";
	if (type)
		snprintf(opts, sizeof opts, "type=%s,mmproj_type=F16", type);
	gg_err e = {{0}};
	struct gg_model *m = open_with(name, p, opts, &e);
	if (!m)
		fail_msg("%s: %s", name, e.msg);
	write_outfile(&m->files[0], path);
	gg_model_close(m);
}

/* For each type: gguffs's file against llama-quantize's of the input the
 * pipeline would give it. */
static void check_fixture(const char *name, enum gg_profile p,
			  const char *const *types, size_t n)
{
	char *dir = make_temp_dir("outtype");
	char in[512], want[512], got[512];
	snprintf(in, sizeof in, "%s/in.gguf", dir);
	snprintf(want, sizeof want, "%s/want.gguf", dir);
	snprintf(got, sizeof got, "%s/got.gguf", dir);
	convert(name, p, p == GG_PROFILE_LLAMACPP ? "F32" : NULL, in);
	for (size_t i = 0; i < n; i++) {
		enum gg_ftype ft;
		gg_err e;
		assert_int_equal(gg_ftype_parse(types[i], &ft, &e), 0);
		assert_int_equal(llamaref_model_quantize(in, want, (int)ft, 2), 0);
		convert(name, p, types[i], got);
		llamaref_assert_same_gguf(got, want);
	}
	remove_tree(dir);
	free(dir);
}

static const char *const all_types[] = {
	"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M",
	"Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
};
#define NALL (sizeof all_types / sizeof all_types[0])

/* Rows of 256: the k-quants apply (BF16 source, GQA 2, untied). */
static void test_rows_256(void **state)
{
	(void)state;
	check_fixture("llama-q256", GG_PROFILE_LLAMACPP, all_types, NALL);
	check_fixture("llama-q256", GG_PROFILE_OLLAMA, all_types, NALL);
}

/* F16 source, tied embeddings (token_embd takes output's type), GQA 4. */
static void test_rows_256_tied(void **state)
{
	(void)state;
	check_fixture("llama-q256-tied", GG_PROFILE_LLAMACPP, all_types, NALL);
	check_fixture("llama-q256-tied", GG_PROFILE_OLLAMA, all_types, NALL);
}

/* Rows of 64: every k-quant falls back (F32 source). */
static void test_rows_64(void **state)
{
	(void)state;
	check_fixture("llama-spm", GG_PROFILE_LLAMACPP, all_types, NALL);
	check_fixture("llama-spm", GG_PROFILE_OLLAMA, all_types, NALL);
}

/* F32, F16, BF16: convert_hf_to_gguf --outtype's types, which for these
 * tensors are what llama-quantize gives the F32 file (llamacpp), or
 * llama-quantize over Ollama's file (ollama). */
static void test_plain_types(void **state)
{
	(void)state;
	static const char *const plain[] = { "F16", "BF16", "F32" };
	check_fixture("llama-q256", GG_PROFILE_LLAMACPP, plain, 3);
	check_fixture("llama-q256-tied", GG_PROFILE_OLLAMA, plain, 3);
	check_fixture("llama-spm", GG_PROFILE_OLLAMA, plain, 3);
}

static void test_glm(void **state)
{
	(void)state;
	/* Few types: the 129k-token embedding makes each run cost. */
	static const char *const some[] = { "Q4_K_M", "Q3_K_M", "Q2_K" };
	check_fixture("glm-tiny", GG_PROFILE_LLAMACPP, some, 3);
	check_fixture("glm-tiny", GG_PROFILE_OLLAMA, some + 1, 1);
}

static void test_llama4(void **state)
{
	(void)state;
	static const char *const some[] = { "Q4_K_M", "Q5_K_S" };
	check_fixture("llama4-tiny", GG_PROFILE_LLAMACPP, some, 2);
}

/* The file of m named name; fails the test if there is none. */
static const struct gg_outfile *file_named(const struct gg_model *m,
					   const char *name)
{
	for (size_t i = 0; i < m->nfiles; i++)
		if (strcmp(m->files[i].name, name) == 0)
			return &m->files[i];
	fail_msg("no %s", name);
	return NULL;
}

/* mmproj.gguf under mmproj_type=Q8_0: convert_hf_to_gguf --outtype q8_0's
 * types (1-D, norms, patch and position embeddings F32, rows that do not fill Q8_0
 * blocks F16) and, for each Q8_0 tensor, the blocks of the exact source
 * values (mmproj_type=F32). */
static void test_mmproj_q8_0(void **state)
{
	(void)state;
	gg_err e = {{0}};
	struct gg_model *q = open_with("llama4-tiny", GG_PROFILE_LLAMACPP,
				       "type=Q4_K_M,mmproj_type=Q8_0", &e);
	struct gg_model *x = open_with("llama4-tiny", GG_PROFILE_LLAMACPP,
				       "mmproj_type=F32", &e);
	assert_non_null(q);
	assert_non_null(x);
	const struct gg_outfile *fq = file_named(q, "mmproj.gguf");
	const struct gg_outfile *fx = file_named(x, "mmproj.gguf");
	assert_int_equal(fq->ntensors, fx->ntensors);
	int n_q8 = 0, n_f32 = 0;
	for (size_t i = 0; i < fq->ntensors; i++) {
		const struct gg_tensor *t = &fq->tensors[i];
		const struct gg_tensor *v = output_tensor(fx, t->name);
		assert_int_equal(v->type, GG_TYPE_F32);
		size_t len = strlen(t->name);
		bool f32 = t->n_dims == 1 || strstr(t->name, ".patch_embd.weight") ||
			   strcmp(t->name, "v.position_embd.weight") == 0 ||
			   (len > 12 && strcmp(t->name + len - 12, "_norm.weight") == 0) ||
			   strcmp(t->name + len - 7, ".weight") != 0;
		enum gg_type want = f32 ? GG_TYPE_F32 :
				    t->ne[0] % 32 ? GG_TYPE_F16 : GG_TYPE_Q8_0;
		if (t->type != want)
			fail_msg("%s is %d, want %d", t->name, t->type, want);
		if (t->type != GG_TYPE_Q8_0) {
			n_f32 += t->type == GG_TYPE_F32;
			continue;
		}
		n_q8++;
		uint8_t *src = read_output(fx, v), *got = read_output(fq, t);
		uint8_t *exp = malloc(t->nbytes);
		gg_quantize(GG_TYPE_Q8_0, (const float *)src, exp,
			    t->nelem / t->ne[0], t->ne[0]);
		assert_memory_equal(got, exp, t->nbytes);
		free(src);
		free(got);
		free(exp);
	}
	assert_true(n_q8 > 0 && n_f32 > 0);
	assert_int_equal(kv_get(fq, "general.file_type")->v.u, GG_FTYPE_Q8_0);
	assert_int_equal(kv_get(file_named(q, "model.gguf"), "general.file_type")->v.u,
			 GG_FTYPE_Q4_K_M);
	gg_model_close(q);
	gg_model_close(x);
}

/* Gemma 3's projector as convert_hf_to_gguf writes it: the input
 * projection always F16 and the vision embeddings F32 (by HF name), other
 * matrices Q8_0 under mmproj_type=Q8_0. */
static void test_gemma3_mmproj(void **state)
{
	(void)state;
	gg_err e = {{0}};
	struct gg_model *m = open_with("gemma3-mm-tiny", GG_PROFILE_LLAMACPP,
				       "mmproj_type=Q8_0", &e);
	if (!m)
		fail_msg("%s", e.msg);
	const struct gg_outfile *f = file_named(m, "mmproj.gguf");
	assert_int_equal(output_tensor(f, "mm.input_projection.weight")->type, GG_TYPE_F16);
	assert_int_equal(output_tensor(f, "v.patch_embd.weight")->type, GG_TYPE_F32);
	assert_int_equal(output_tensor(f, "v.position_embd.weight")->type, GG_TYPE_F32);
	assert_int_equal(output_tensor(f, "v.blk.0.attn_k.weight")->type, GG_TYPE_Q8_0);
	gg_model_close(m);
}

/* gpt-oss: the experts' MXFP4 blocks, repacked from the checkpoint, stay
 * as they are under a quantized type (never requantized); the rest is
 * quantized. */
static void test_mxfp4_kept(void **state)
{
	(void)state;
	gg_err e = {{0}};
	struct gg_model *d = open_with("gptoss-tiny", GG_PROFILE_LLAMACPP, NULL, &e);
	struct gg_model *q = open_with("gptoss-tiny", GG_PROFILE_LLAMACPP, "type=Q8_0", &e);
	assert_non_null(d);
	assert_non_null(q);
	const struct gg_outfile *fd = &d->files[0], *fq = &q->files[0];
	size_t kept = 0, quantized = 0;
	for (size_t i = 0; i < fd->ntensors; i++) {
		const struct gg_tensor *a = &fd->tensors[i];
		const struct gg_tensor *b = output_tensor(fq, a->name);
		if (a->type == GG_TYPE_MXFP4) {
			assert_int_equal(b->type, GG_TYPE_MXFP4);
			uint8_t *x = read_output(fd, a), *y = read_output(fq, b);
			assert_memory_equal(x, y, a->nbytes);
			free(x);
			free(y);
			kept++;
		}
		quantized += b->type == GG_TYPE_Q8_0;
	}
	assert_true(kept > 0 && quantized > 0);
	gg_model_close(d);
	gg_model_close(q);
}

/* Types a file cannot take are refused with one line saying what it takes. */
static void test_refusals(void **state)
{
	(void)state;
	gg_err e = {{0}};
	assert_null(open_with("llama4-tiny", GG_PROFILE_LLAMACPP, "type=Q4_K_M", &e));
	assert_non_null(strstr(e.msg, "mmproj.gguf: type=Q4_K_M: this file takes F32, F16, BF16 or Q8_0"));
	char *base = fixture_path("llama-f32-tied"), opts[600];
	snprintf(opts, sizeof opts, "type=Q6_K,base=%s", base);
	assert_null(open_with("lora-llama", GG_PROFILE_LLAMACPP, opts, &e));
	assert_non_null(strstr(e.msg, "adapter.gguf: type=Q6_K: this file takes F32, F16, BF16 or Q8_0"));
	snprintf(opts, sizeof opts, "type=Q8_0,base=%s", base);
	struct gg_model *a = open_with("lora-llama", GG_PROFILE_LLAMACPP, opts, &e);
	if (!a)
		fail_msg("%s", e.msg);
	const struct gg_outfile *af = &a->files[0];
	size_t q8 = 0;
	for (size_t i = 0; i < af->ntensors; i++)
		q8 += af->tensors[i].type == GG_TYPE_Q8_0;
	assert_true(q8 > 0); /* lora_a rows are 64 wide: Q8_0; lora_b rows are the rank: F16 */
	gg_model_close(a);
	free(base);
	assert_null(open_with("mllama-tiny", GG_PROFILE_LLAMACPP, "type=Q8_0", &e));
	assert_non_null(strstr(e.msg, "cannot load or quantize"));
	assert_null(open_with("llama-spm", GG_PROFILE_LLAMACPP, "type=IQ2_XXS", &e));
	assert_non_null(strstr(e.msg, "importance matrix"));
	assert_null(open_with("llama-spm", GG_PROFILE_LLAMACPP, "mmproj_type=Q4_0", &e));
	assert_non_null(strstr(e.msg, "F32, F16, BF16 or Q8_0"));
	struct gg_model *m = open_with("mllama-tiny", GG_PROFILE_LLAMACPP, "type=bf16", &e);
	assert_non_null(m);
	gg_model_close(m);
}

/* The newer architectures, a couple of types each (their vocabularies make
 * each llama-quantize run cost). */
static void test_more_archs(void **state)
{
	(void)state;
	static const char *const phi[] = { "Q4_K_M", "Q8_0" }, *const gemma[] = { "Q4_K_M" };
	check_fixture("phi3-tiny", GG_PROFILE_LLAMACPP, phi, 2);
	check_fixture("phi4-mini-tiny", GG_PROFILE_OLLAMA, phi, 1);
	check_fixture("gemma3-tiny", GG_PROFILE_LLAMACPP, gemma, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_256),
		cmocka_unit_test(test_rows_256_tied),
		cmocka_unit_test(test_rows_64),
		cmocka_unit_test(test_plain_types),
		cmocka_unit_test(test_glm),
		cmocka_unit_test(test_llama4),
		cmocka_unit_test(test_more_archs),
		cmocka_unit_test(test_mmproj_q8_0),
		cmocka_unit_test(test_gemma3_mmproj),
		cmocka_unit_test(test_mxfp4_kept),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
