/* test_ftype.c - type= names, and the per-tensor type rules against
 * llama_model_quantize itself (dlopen of the bundled libllama): synthetic
 * GGUF models exercise every rule (layer bumps by layer count, GQA, 8
 * experts, 70B, tied output, fallbacks for rows of 64 and 96, tensors never
 * quantized); every tensor's type and bytes in llama-quantize's output
 * must equal what the rules and the kernels give. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "ftype.h"
#include "gguf.h"
#include "gguf_reader.h"
#include "llamaref.h"
#include "quant.h"
#include "testutil.h"

/* ---- names ------------------------------------------------------------- */

static void test_parse(void **state)
{
	(void)state;
	enum gg_ftype f;
	gg_err e;
	assert_int_equal(gg_ftype_parse("q4_k_m", &f, &e), 0);
	assert_int_equal(f, GG_FTYPE_Q4_K_M);
	assert_int_equal(gg_ftype_parse("Q4_K", &f, &e), 0);
	assert_int_equal(f, GG_FTYPE_Q4_K_M);
	assert_int_equal(gg_ftype_parse("bf16", &f, &e), 0);
	assert_int_equal(f, GG_FTYPE_BF16);
	assert_int_equal(gg_ftype_parse("Q8_0", &f, &e), 0);
	assert_int_equal(f, GG_FTYPE_Q8_0);
	assert_string_equal(gg_ftype_name(GG_FTYPE_Q3_K_L), "Q3_K_L");
	assert_int_equal(gg_ftype_base_type(GG_FTYPE_Q5_K_S), GG_TYPE_Q5_K);
	assert_false(gg_ftype_is_quantized(GG_FTYPE_F16));
	assert_true(gg_ftype_is_quantized(GG_FTYPE_Q2_K));

	const char *bad[] = { "IQ2_XXS", "q2_k_s", "IQ4_NL", "Q9_9", "" };
	const char *why[] = { "importance matrix", "importance matrix",
			      "not a type gguffs produces", "unknown type", "unknown type" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		e.msg[0] = 0;
		assert_int_equal(gg_ftype_parse(bad[i], &f, &e), -1);
		assert_non_null(strstr(e.msg, why[i]));
		assert_non_null(strstr(e.msg, "valid types: F32, F16, BF16, Q8_0, Q4_0"));
		assert_non_null(strstr(e.msg, "Q5_K_M, Q6_K"));
		assert_null(strchr(e.msg, '\n'));
	}
}

/* ---- synthetic models ------------------------------------------------------ */

#define MAXT 1024

struct synth {
	struct gguf_kvs *kvs;
	struct gguf_tensor_info t[MAXT];
	void *data[MAXT];
	size_t n;
	char arch[32];
	uint64_t seed;
};

static float gauss(uint64_t *s)
{
	double u = ((xorshift64(s) >> 11) + 1.0) / 9007199254740993.0;
	double v = (xorshift64(s) >> 11) / 9007199254740992.0;
	return (float)(0.1 * sqrt(-2 * log(u)) * cos(2 * M_PI * v));
}

static void synth_init(struct synth *s, const char *arch, uint32_t layers,
		       uint32_t heads, uint32_t heads_kv, uint32_t experts)
{
	memset(s, 0, sizeof *s);
	s->kvs = gguf_kvs_new();
	snprintf(s->arch, sizeof s->arch, "%s", arch);
	s->seed = layers * 131u + heads * 7u + experts + 1;
	char k[128];
	gguf_kvs_set_str(s->kvs, "general.architecture", arch);
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, arch), k)
	gguf_kvs_set_u32(s->kvs, KEY("context_length"), 2048);
	gguf_kvs_set_u32(s->kvs, KEY("embedding_length"), 256);
	gguf_kvs_set_u32(s->kvs, KEY("block_count"), layers);
	gguf_kvs_set_u32(s->kvs, KEY("feed_forward_length"), 512);
	gguf_kvs_set_u32(s->kvs, KEY("attention.head_count"), heads);
	gguf_kvs_set_u32(s->kvs, KEY("attention.head_count_kv"), heads_kv);
	gguf_kvs_set_f32(s->kvs, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
	gguf_kvs_set_u32(s->kvs, KEY("vocab_size"), 8);
	if (experts) {
		gguf_kvs_set_u32(s->kvs, KEY("expert_count"), experts);
		gguf_kvs_set_u32(s->kvs, KEY("expert_used_count"), 2);
	}
#undef KEY
}

/* A tensor of ne[0..2] (ne2 0: 2-D; ne1 0: 1-D) of random values. */
static void add(struct synth *s, const char *name, enum gg_type type,
		uint64_t ne0, uint64_t ne1, uint64_t ne2)
{
	assert_true(s->n < MAXT);
	struct gguf_tensor_info *t = &s->t[s->n];
	t->name = gg_strdup(name);
	t->type = type;
	t->n_dims = ne2 ? 3 : ne1 ? 2 : 1;
	t->ne[0] = ne0;
	t->ne[1] = ne1 ? ne1 : 1;
	t->ne[2] = ne2 ? ne2 : 1;
	t->ne[3] = 1;
	uint64_t n = ne0 * t->ne[1] * t->ne[2];
	t->nbytes = n * gg_type_size(type);
	float *f = malloc(n * sizeof *f);
	for (uint64_t i = 0; i < n; i++)
		f[i] = gauss(&s->seed);
	void *d = f;
	if (type != GG_TYPE_F32) {
		d = malloc(t->nbytes);
		gg_convert(GG_TYPE_F32, f, type, d, n);
		free(f);
	}
	s->data[s->n++] = d;
}

static void addf(struct synth *s, enum gg_type type, uint64_t ne0,
		 uint64_t ne1, uint64_t ne2, const char *fmt, int i)
{
	char name[128];
	snprintf(name, sizeof name, fmt, i);
	add(s, name, type, ne0, ne1, ne2);
}

/* A Llama-shaped block list: per layer q, k, v, o, gate, up, down and two
 * norms; rows of `row` (ffn_down: 2 * row). */
static void llama_layers(struct synth *s, uint32_t layers, uint64_t row,
			 enum gg_type type)
{
	for (uint32_t i = 0; i < layers; i++) {
		int l = (int)i;
		addf(s, GG_TYPE_F32, 256, 0, 0, "blk.%d.attn_norm.weight", l);
		addf(s, type, row, 2, 0, "blk.%d.attn_q.weight", l);
		addf(s, type, row, 2, 0, "blk.%d.attn_k.weight", l);
		addf(s, type, row, 2, 0, "blk.%d.attn_v.weight", l);
		addf(s, type, row, 2, 0, "blk.%d.attn_output.weight", l);
		addf(s, GG_TYPE_F32, 256, 0, 0, "blk.%d.ffn_norm.weight", l);
		addf(s, type, row, 2, 0, "blk.%d.ffn_gate.weight", l);
		addf(s, type, row, 2, 0, "blk.%d.ffn_up.weight", l);
		addf(s, type, 2 * row, 2, 0, "blk.%d.ffn_down.weight", l);
	}
}

static void synth_write(struct synth *s, const char *path)
{
	uint64_t data_size;
	gguf_layout(s->t, s->n, 32, true, &data_size);
	size_t hlen;
	uint8_t *h = gguf_write_header(s->kvs, s->t, s->n, 32, &hlen);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	fwrite(h, 1, hlen, fp);
	uint64_t pos = 0;
	static const uint8_t zero[32];
	for (size_t i = 0; i < s->n; i++) {
		fwrite(zero, 1, (size_t)(s->t[i].offset - pos), fp);
		fwrite(s->data[i], 1, (size_t)s->t[i].nbytes, fp);
		pos = s->t[i].offset + s->t[i].nbytes;
	}
	fwrite(zero, 1, (size_t)(data_size - pos), fp);
	fclose(fp);
	free(h);
}

static void synth_free(struct synth *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->t[i].name);
		free(s->data[i]);
	}
	gguf_kvs_free(s->kvs);
}

/* ---- the comparison ---------------------------------------------------------- */

/* Tensor i's data in GGUF file g (open as fp); malloc'd. */
static uint8_t *read_tensor(FILE *fp, const struct gguf_file *g, uint64_t i)
{
	const struct gguf_tensor_info *t = &g->tensors[i];
	uint8_t *b = malloc(t->nbytes ? t->nbytes : 1);
	fseek(fp, (long)(g->data_offset + t->offset), SEEK_SET);
	assert_int_equal(fread(b, 1, t->nbytes, fp), t->nbytes);
	return b;
}

/* The bytes gguffs gives a tensor t with data src under type to. */
static uint8_t *expected_bytes(const struct gguf_tensor_info *t,
			       const uint8_t *src, enum gg_type to, uint64_t *len)
{
	uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
	uint64_t rows = n / t->ne[0];
	*len = rows * gg_row_size(to, t->ne[0]);
	uint8_t *b = malloc(*len ? *len : 1);
	if (to == t->type) {
		memcpy(b, src, *len);
		return b;
	}
	float *f = malloc(n * sizeof *f);
	gg_convert(t->type, src, GG_TYPE_F32, f, n);
	if (gg_quant_supported(to))
		gg_quantize(to, f, b, rows, t->ne[0]);
	else
		gg_convert(GG_TYPE_F32, f, to, b, n);
	free(f);
	return b;
}

/* llama_model_quantize(in, ftype) against the rules and the kernels, tensor
 * by tensor (llama-quantize reorders tensors and moves KVs); returns how
 * many tensors changed type, so a scenario can check it did something. */
static int compare_with_llama(const char *in, const char *dir, enum gg_ftype f)
{
	char out[512];
	snprintf(out, sizeof out, "%s/out-%s.gguf", dir, gg_ftype_name(f));
	assert_int_equal(llamaref_model_quantize(in, out, (int)f, 1), 0);

	gg_err e;
	struct gguf_file *gi, *go;
	if (gguf_read_file(in, &gi, &e) || gguf_read_file(out, &go, &e))
		fail_msg("%s", e.msg);
	struct gg_qmodel m;
	assert_int_equal(gg_qmodel_from_kvs(gi->kvs, &m, in, &e), 0);
	size_t n = (size_t)gi->ntensors;
	struct gg_qtensor *qt = calloc(n, sizeof *qt);
	enum gg_type *want = calloc(n, sizeof *want);
	for (size_t i = 0; i < n; i++) {
		qt[i].name = gi->tensors[i].name;
		qt[i].n_dims = gi->tensors[i].n_dims;
		memcpy(qt[i].ne, gi->tensors[i].ne, sizeof qt[i].ne);
		qt[i].type = gi->tensors[i].type;
	}
	if (gg_ftype_tensor_types(&m, f, qt, n, want, &e))
		fail_msg("rules failed: %s", e.msg);

	assert_int_equal(go->ntensors, n);
	const struct gguf_kv *ft = gguf_kvs_get(go->kvs, "general.file_type");
	assert_non_null(ft);
	assert_int_equal(ft->v.u, (uint64_t)f);
	FILE *fi = fopen(in, "rb"), *fo = fopen(out, "rb");
	int changed = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t j = 0;
		while (j < n && strcmp(go->tensors[j].name, qt[i].name) != 0)
			j++;
		assert_true(j < n);
		const struct gguf_tensor_info *o = &go->tensors[j];
		if ((enum gg_type)o->type != want[i])
			fail_msg("%s %s: llama-quantize chose %s, the rules %s",
				 gg_ftype_name(f), qt[i].name,
				 gguf_ggml_type_name(o->type), gguf_ggml_type_name(want[i]));
		changed += want[i] != qt[i].type;
		uint8_t *src = read_tensor(fi, gi, i), *got = read_tensor(fo, go, j);
		uint64_t len;
		uint8_t *exp = expected_bytes(&gi->tensors[i], src, want[i], &len);
		assert_int_equal(o->nbytes, len);
		if (memcmp(got, exp, len) != 0)
			fail_msg("%s %s (%s): bytes differ from llama-quantize's",
				 gg_ftype_name(f), qt[i].name, gguf_ggml_type_name(o->type));
		free(src);
		free(got);
		free(exp);
	}
	fclose(fi);
	fclose(fo);
	free(qt);
	free(want);
	gguf_file_free(gi);
	gguf_file_free(go);
	remove(out);
	return changed;
}

static const enum gg_ftype quant_ftypes[] = {
	GG_FTYPE_Q8_0, GG_FTYPE_Q4_0, GG_FTYPE_Q4_1, GG_FTYPE_Q5_0, GG_FTYPE_Q5_1,
	GG_FTYPE_Q2_K, GG_FTYPE_Q3_K_S, GG_FTYPE_Q3_K_M, GG_FTYPE_Q3_K_L,
	GG_FTYPE_Q4_K_S, GG_FTYPE_Q4_K_M, GG_FTYPE_Q5_K_S, GG_FTYPE_Q5_K_M,
	GG_FTYPE_Q6_K, GG_FTYPE_F16, GG_FTYPE_BF16, GG_FTYPE_F32,
};
#define NQF (sizeof quant_ftypes / sizeof quant_ftypes[0])

/* The file types fl[0..n) on the GGUF file in. */
static void run_file(const char *in, const char *dir, const enum gg_ftype *fl,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int changed = compare_with_llama(in, dir, fl[i]);
		if (gg_ftype_is_quantized(fl[i]))
			assert_true(changed > 0);
	}
}

static void run_all(struct synth *s, const char *tag)
{
	char *dir = make_temp_dir(tag), in[512];
	snprintf(in, sizeof in, "%s/in.gguf", dir);
	synth_write(s, in);
	run_file(in, dir, quant_ftypes, NQF);
	remove_tree(dir);
	free(dir);
}

/* gguffs's own output for a fixture (default profile) as the input: the
 * real tensor sets of each architecture (GLM-4.7-Flash's MLA and stacked
 * experts, Llama 4's experts, Llama's tied or untied output). */
static void run_fixture(const char *name, enum gg_profile p,
			const enum gg_ftype *fl, size_t n)
{
	struct gg_model *m = open_fixture(name, p);
	char *dir = make_temp_dir("ftype-fixture"), in[512];
	snprintf(in, sizeof in, "%s/in.gguf", dir);
	write_outfile(&m->files[0], in);
	gg_model_close(m);
	run_file(in, dir, fl, n);
	remove_tree(dir);
	free(dir);
}

static void test_fixture_archs(void **state)
{
	(void)state;
	/* A few file types each: their 128k-token embeddings make every
	 * llama-quantize run cost; the synthetic models cover every type. */
	static const enum gg_ftype tied[] = { GG_FTYPE_Q4_K_M, GG_FTYPE_Q6_K },
		glm[] = { GG_FTYPE_Q4_K_M, GG_FTYPE_Q3_K_M, GG_FTYPE_Q2_K, GG_FTYPE_Q8_0 },
		l4[] = { GG_FTYPE_Q4_K_M, GG_FTYPE_Q3_K_L, GG_FTYPE_Q4_0 };
	run_fixture("llama-f32-tied", GG_PROFILE_OLLAMA, tied, 2);
	run_fixture("glm-tiny", GG_PROFILE_LLAMACPP, glm, 4);
	run_fixture("llama4-tiny", GG_PROFILE_LLAMACPP, l4, 3);
}

/* 16 layers, GQA 4, untied output, rows of 256 (k-quants apply), some
 * F16 sources, and tensors llama-quantize never touches. */
static void test_llama_gqa_untied(void **state)
{
	(void)state;
	struct synth s;
	synth_init(&s, "llama", 16, 8, 2, 0);
	add(&s, "token_embd.weight", GG_TYPE_F16, 256, 8, 0);
	add(&s, "output.weight", GG_TYPE_F32, 256, 8, 0);
	add(&s, "output_norm.weight", GG_TYPE_F32, 256, 0, 0);
	add(&s, "rope_freqs.weight", GG_TYPE_F32, 32, 0, 0);
	add(&s, "position_embd.weight", GG_TYPE_F32, 256, 2, 0);
	llama_layers(&s, 16, 256, GG_TYPE_F32);
	add(&s, "blk.3.ffn_gate_inp.weight", GG_TYPE_F32, 256, 2, 0);
	add(&s, "blk.5.attn_q_norm.weight", GG_TYPE_F16, 256, 2, 0);
	add(&s, "blk.7.attn_q.bias", GG_TYPE_F32, 256, 2, 0);
	run_all(&s, "ftype-gqa");
	synth_free(&s);
}

/* 8 layers, no GQA, tied embeddings, rows of 64 (k-quants fall back) and
 * rows of 96 (not even a multiple of 32: F16), F16 sources. */
static void test_llama_tied_fallbacks(void **state)
{
	(void)state;
	struct synth s;
	synth_init(&s, "llama", 8, 4, 4, 0);
	add(&s, "token_embd.weight", GG_TYPE_F16, 64, 8, 0);
	add(&s, "output_norm.weight", GG_TYPE_F32, 64, 0, 0);
	llama_layers(&s, 8, 64, GG_TYPE_F16);
	add(&s, "blk.2.attn_kv_b.weight", GG_TYPE_F16, 96, 2, 0);
	add(&s, "blk.4.ffn_gate.weight_b", GG_TYPE_F16, 96, 2, 0);
	add(&s, "blk.6.attn_qkv.weight", GG_TYPE_F32, 288, 2, 0);
	add(&s, "blk.3.attn_q_a.weight", GG_TYPE_F16, 80, 2, 0);
	add(&s, "blk.5.attn_k_b.weight", GG_TYPE_F16, 64, 1, 0);
	add(&s, "blk.7.ffn_up_shexp.weight", GG_TYPE_F32, 64, 2, 1);
	run_all(&s, "ftype-tied");
	synth_free(&s);
}

/* 80 layers with GQA: llama.cpp's "70B" rule moves attn_v up. */
static void test_llama_70b(void **state)
{
	(void)state;
	struct synth s;
	synth_init(&s, "llama", 80, 64, 8, 0);
	add(&s, "token_embd.weight", GG_TYPE_F32, 256, 4, 0);
	add(&s, "output.weight", GG_TYPE_F32, 256, 4, 0);
	for (int i = 0; i < 80; i++) {
		addf(&s, GG_TYPE_F32, 256, 2, 0, "blk.%d.attn_v.weight", i);
		addf(&s, GG_TYPE_F32, 256, 2, 0, "blk.%d.ffn_down.weight", i);
	}
	run_all(&s, "ftype-70b");
	synth_free(&s);
}

/* 8 experts (Mixtral-like): attn_v/attn_k to Q8_0, attn_output bumps,
 * stacked expert tensors whose layer comes from their names. */
static void test_llama_8_experts(void **state)
{
	(void)state;
	struct synth s;
	synth_init(&s, "llama", 4, 8, 2, 8);
	add(&s, "token_embd.weight", GG_TYPE_F32, 256, 4, 0);
	add(&s, "output.weight", GG_TYPE_F32, 256, 4, 0);
	for (int i = 0; i < 4; i++) {
		addf(&s, GG_TYPE_F32, 256, 2, 0, "blk.%d.attn_q.weight", i);
		addf(&s, GG_TYPE_F32, 256, 2, 0, "blk.%d.attn_k.weight", i);
		addf(&s, GG_TYPE_F32, 256, 2, 0, "blk.%d.attn_v.weight", i);
		addf(&s, GG_TYPE_F32, 256, 2, 0, "blk.%d.attn_output.weight", i);
		addf(&s, GG_TYPE_F32, 256, 8, 0, "blk.%d.ffn_gate_inp.weight", i);
		addf(&s, GG_TYPE_F32, 256, 2, 8, "blk.%d.ffn_gate_exps.weight", i);
		addf(&s, GG_TYPE_F32, 256, 2, 8, "blk.%d.ffn_up_exps.weight", i);
		addf(&s, GG_TYPE_F32, 512, 2, 8, "blk.%d.ffn_down_exps.weight", i);
	}
	run_all(&s, "ftype-moe");
	synth_free(&s);
}

/* An expert model whose ffn tensor has no layer in its name, or a layer
 * past block_count: llama-quantize fails, so do the rules. */
static void test_expert_layer_errors(void **state)
{
	(void)state;
	struct gg_qmodel m = { .arch = "llama", .n_layer = 2, .n_head = 4,
			       .n_head_kv = 4, .n_expert = 4 };
	struct gg_qtensor t = { .name = "ffn_down_exps.weight", .n_dims = 3,
				.ne = { 256, 4, 4, 1 }, .type = GG_TYPE_F32 };
	enum gg_type out;
	gg_err e;
	assert_int_equal(gg_ftype_tensor_types(&m, GG_FTYPE_Q4_K_M, &t, 1, &out, &e), -1);
	assert_non_null(strstr(e.msg, "no layer number"));
	t.name = "blk.2.ffn_up_exps.weight";
	assert_int_equal(gg_ftype_tensor_types(&m, GG_FTYPE_Q4_K_M, &t, 1, &out, &e), -1);
	assert_non_null(strstr(e.msg, "not below block_count"));
	m.n_expert = 0; /* dense: the running count is used instead */
	assert_int_equal(gg_ftype_tensor_types(&m, GG_FTYPE_Q4_K_M, &t, 1, &out, &e), 0);
}

/* A tensor already in a block type keeps it (gguffs never requantizes). */
static void test_block_sources_kept(void **state)
{
	(void)state;
	struct gg_qmodel m = { .arch = "gpt-oss", .n_layer = 2, .n_head = 4,
			       .n_head_kv = 4, .n_expert = 4 };
	struct gg_qtensor t[2] = {
		{ .name = "blk.0.ffn_down_exps.weight", .n_dims = 3,
		  .ne = { 256, 4, 4, 1 }, .type = (enum gg_type)39 },
		{ .name = "blk.0.attn_q.weight", .n_dims = 2,
		  .ne = { 256, 4, 1, 1 }, .type = GG_TYPE_BF16 },
	};
	enum gg_type out[2];
	gg_err e;
	assert_int_equal(gg_ftype_tensor_types(&m, GG_FTYPE_Q4_K_M, t, 2, out, &e), 0);
	assert_int_equal(out[0], 39);
	assert_int_equal(out[1], GG_TYPE_Q4_K);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_expert_layer_errors),
		cmocka_unit_test(test_block_sources_kept),
		cmocka_unit_test(test_llama_gqa_untied),
		cmocka_unit_test(test_llama_tied_fallbacks),
		cmocka_unit_test(test_llama_70b),
		cmocka_unit_test(test_llama_8_experts),
		cmocka_unit_test(test_fixture_archs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
