/* test_mllama.c - the Mllama (Llama 3.2 Vision) converter, pinned against
 * naive references computed here from the source bytes of the fixture made
 * by tests/fixtures/make-mllama.mjs (root in $GGUFFS_FIXTURES).
 *
 * The expected table below spells every output name out literally (it does
 * not reuse the converter's rename list), derives types from the Ollama
 * rules written as plain cases, and recomputes each tensor element by
 * element: row permutations by index arithmetic, F16 through the compiler's
 * _Float16, gates through tanhf.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine.h"
#include "model.h"
#include "testutil.h"

#define FIXTURE "mllama-tiny"
/* The fixture's dimensions (make-mllama.mjs TEXT / VISION). */
#define TEXT_LAYERS 5
#define TEXT_HEADS 4
#define TEXT_KV_HEADS 2
#define VISION_HEADS 3
#define VISION_LAYERS 4
#define VISION_GLOBAL 2

static struct gg_model *open_profile(enum gg_profile p)
{
	return open_fixture(FIXTURE, p);
}

/* ---- the expected table ------------------------------------------------ */

enum xform { RAW, PERM, TANH, ONE_MINUS_TANH };

struct expect {
	char name[96];
	char src[128];
	enum gg_type type;
	enum xform x;
	uint32_t heads; /* PERM */
};

static struct expect exp_tab[256];
static size_t n_exp;

static void want(const char *name, const char *src, enum gg_type type,
		 enum xform x, uint32_t heads)
{
	assert_true(n_exp < sizeof exp_tab / sizeof *exp_tab);
	struct expect *w = &exp_tab[n_exp++];
	snprintf(w->name, sizeof w->name, "%s", name);
	snprintf(w->src, sizeof w->src, "%s", src);
	w->type = type;
	w->x = x;
	w->heads = heads;
}

#define F32 GG_TYPE_F32
#define F16 GG_TYPE_F16
#define BF16 GG_TYPE_BF16

static void want_text_layer(int i)
{
	char n[96], s[128];
	bool cross = i == 1 || i == 3; /* text_config.cross_attention_layers */
#define W(gg, hf, type, x, heads)                                             \
	do {                                                                    \
		snprintf(n, sizeof n, "blk.%d.%s", i, gg);                     \
		snprintf(s, sizeof s, "language_model.model.layers.%d.%s", i, hf); \
		want(n, s, type, x, heads);                                     \
	} while (0)
	W("attn_norm.weight", "input_layernorm.weight", F32, RAW, 0);
	W("ffn_norm.weight", "post_attention_layernorm.weight", F32, RAW, 0);
	W("ffn_gate.weight", "mlp.gate_proj.weight", BF16, RAW, 0);
	W("ffn_up.weight", "mlp.up_proj.weight", BF16, RAW, 0);
	W("ffn_down.weight", "mlp.down_proj.weight", BF16, RAW, 0);
	if (!cross) {
		W("attn_q.weight", "self_attn.q_proj.weight", BF16, PERM, TEXT_HEADS);
		W("attn_k.weight", "self_attn.k_proj.weight", BF16, PERM, TEXT_KV_HEADS);
		W("attn_v.weight", "self_attn.v_proj.weight", BF16, RAW, 0);
		W("attn_output.weight", "self_attn.o_proj.weight", BF16, RAW, 0);
		return;
	}
	/* Ollama permutes the cross-attention q/k too (suffix attn_q_proj). */
	W("cross_attn_q_proj.weight", "cross_attn.q_proj.weight", BF16, PERM, TEXT_HEADS);
	W("cross_attn_k_proj.weight", "cross_attn.k_proj.weight", BF16, PERM, TEXT_KV_HEADS);
	W("cross_attn_v_proj.weight", "cross_attn.v_proj.weight", BF16, RAW, 0);
	W("cross_attn_o_proj.weight", "cross_attn.o_proj.weight", BF16, RAW, 0);
	W("cross_attn_q_norm.weight", "cross_attn.q_norm.weight", F32, RAW, 0);
	W("cross_attn_k_norm.weight", "cross_attn.k_norm.weight", F32, RAW, 0);
	/* Raw: the text gates get no tanh and no ".weight". */
	W("cross_attn_attn_gate", "cross_attn_attn_gate", F32, RAW, 0);
	W("cross_attn_mlp_gate", "cross_attn_mlp_gate", F32, RAW, 0);
#undef W
}

static void want_vision_layer(const char *gg_prefix, const char *hf_prefix,
			      int i, bool gated)
{
	char n[96], s[128];
#define W(gg, hf, type, x, heads)                                      \
	do {                                                             \
		snprintf(n, sizeof n, "%s.%d.%s", gg_prefix, i, gg);    \
		snprintf(s, sizeof s, "%s.%d.%s", hf_prefix, i, hf);    \
		want(n, s, type, x, heads);                              \
	} while (0)
	W("attn_q.weight", "self_attn.q_proj.weight", F16, PERM, VISION_HEADS);
	W("attn_k.weight", "self_attn.k_proj.weight", F16, PERM, VISION_HEADS);
	W("attn_v.weight", "self_attn.v_proj.weight", F16, RAW, 0);
	W("attn_output.weight", "self_attn.o_proj.weight", F16, RAW, 0);
	W("ffn_up.weight", "mlp.fc1.weight", F16, RAW, 0);
	W("ffn_up.bias", "mlp.fc1.bias", F32, RAW, 0);
	W("ffn_down.weight", "mlp.fc2.weight", F16, RAW, 0);
	W("ffn_down.bias", "mlp.fc2.bias", F32, RAW, 0);
	W("attn_norm.weight", "input_layernorm.weight", F32, RAW, 0);
	W("attn_norm.bias", "input_layernorm.bias", F32, RAW, 0);
	W("ffn_norm.weight", "post_attention_layernorm.weight", F32, RAW, 0);
	W("ffn_norm.bias", "post_attention_layernorm.bias", F32, RAW, 0);
	if (gated) {
		W("attn_gate", "gate_attn", F32, TANH, 0);
		W("ffn_gate", "gate_ffn", F32, TANH, 0);
	}
#undef W
}

static void want_vision(void)
{
	const char *v = "vision_model.";
	char s[128];
#define V(gg, hf, type, x)                                \
	do {                                              \
		snprintf(s, sizeof s, "%s%s", v, hf);     \
		want(gg, s, type, x, 0);                  \
	} while (0)
	V("v.patch_embd.weight", "patch_embedding.weight", F16, RAW);
	V("v.class_embd", "class_embedding", F32, RAW);
	/* Position and tile embeddings are F32 by name, though 2-D. */
	V("v.position_embd.weight", "gated_positional_embedding.embedding", F32, RAW);
	V("v.tile_position_embd.weight", "gated_positional_embedding.tile_embedding.weight", F32, RAW);
	V("v.pre_tile_position_embd.weight", "pre_tile_positional_embedding.embedding.weight", F32, RAW);
	V("v.post_tile_position_embd.weight", "post_tile_positional_embedding.embedding.weight", F32, RAW);
	/* One source gate, two outputs. */
	V("v.position_embd.gate", "gated_positional_embedding.gate", F32, ONE_MINUS_TANH);
	V("v.tile_position_embd.gate", "gated_positional_embedding.gate", F32, TANH);
	V("v.pre_tile_position_embd.gate", "pre_tile_positional_embedding.gate", F32, TANH);
	V("v.post_tile_position_embd.gate", "post_tile_positional_embedding.gate", F32, TANH);
	V("v.pre_ln.weight", "layernorm_pre.weight", F32, RAW);
	V("v.pre_ln.bias", "layernorm_pre.bias", F32, RAW);
	V("v.post_ln.weight", "layernorm_post.weight", F32, RAW);
	V("v.post_ln.bias", "layernorm_post.bias", F32, RAW);
#undef V
	for (int i = 0; i < VISION_LAYERS; i++)
		want_vision_layer("v.blk", "vision_model.transformer.layers", i, false);
	for (int i = 0; i < VISION_GLOBAL; i++)
		want_vision_layer("v.global.blk", "vision_model.global_transformer.layers", i, true);
	want("mm.0.weight", "multi_modal_projector.weight", F16, RAW, 0);
	want("mm.0.bias", "multi_modal_projector.bias", F32, RAW, 0);
}

/* Ollama's order, naively: "blk.<n>." by n, everything else after, then
 * by name byte-wise. */
static long block_of(const char *name)
{
	if (strncmp(name, "blk.", 4) != 0)
		return LONG_MAX;
	char *end;
	long n = strtol(name + 4, &end, 10);
	return end > name + 4 && *end == '.' ? n : LONG_MAX;
}

static int expect_order(const void *pa, const void *pb)
{
	const struct expect *a = pa, *b = pb;
	long x = block_of(a->name), y = block_of(b->name);
	if (x != y)
		return x < y ? -1 : 1;
	return strcmp(a->name, b->name);
}

static void build_expected(void)
{
	n_exp = 0;
	want("token_embd.weight", "language_model.model.embed_tokens.weight", BF16, RAW, 0);
	want("output.weight", "language_model.lm_head.weight", BF16, RAW, 0);
	want("output_norm.weight", "language_model.model.norm.weight", F32, RAW, 0);
	want("rope_freqs.weight", "", F32, RAW, 0);
	for (int i = 0; i < TEXT_LAYERS; i++)
		want_text_layer(i);
	want_vision();
	qsort(exp_tab, n_exp, sizeof *exp_tab, expect_order);
}

/* ---- reading bytes ----------------------------------------------------- */

static float bf16_at(const uint8_t *p, uint64_t i)
{
	return bf16_to_float(u16_at(p, i));
}

static int64_t ordered_bits(float f)
{
	int32_t i;
	memcpy(&i, &f, 4);
	return i < 0 ? (int64_t)INT32_MIN - i : i;
}

static bool within_ulp(float a, float b, int ulps)
{
	int64_t d = ordered_bits(a) - ordered_bits(b);
	return d >= -ulps && d <= ulps;
}

/* Compare every element of t against the reference built from src. */
static void check_data(const struct expect *w, const struct gg_tensor *t,
		       const uint8_t *out, const struct st_tensor *st,
		       const uint8_t *src)
{
	assert_int_equal(st->dtype, GG_TYPE_BF16);
	uint64_t rows = st->shape[0], cols = st->nelem / rows;
	bool changed = false;
	for (uint64_t j = 0; j < st->nelem; j++) {
		uint64_t r = j / cols, c = j % cols;
		uint64_t sj = w->x == PERM ? rotary_source_row(r, rows, w->heads) * cols + c : j;
		float x = bf16_at(src, sj);
		changed |= sj != j;
		if (w->type == BF16) {
			if (memcmp(out + 2 * j, src + 2 * sj, 2))
				fail_msg("%s[%llu]: BF16 bits differ", t->name, (unsigned long long)j);
		} else if (w->type == F16) {
			_Float16 h = (_Float16)x;
			if (memcmp(out + 2 * j, &h, 2))
				fail_msg("%s[%llu]: F16 differs from (_Float16)%g", t->name,
					 (unsigned long long)j, (double)x);
		} else {
			float got;
			memcpy(&got, out + 4 * j, 4);
			float ref = w->x == TANH ? tanhf(x) :
				    w->x == ONE_MINUS_TANH ? 1.0f - tanhf(x) : x;
			/* The gates must really change: tanh(x) != x here. */
			if (w->x == TANH || w->x == ONE_MINUS_TANH)
				changed |= fabsf(ref - x) > 0.01f;
			bool ok = w->x == RAW ? got == ref : within_ulp(got, ref, 1);
			if (!ok)
				fail_msg("%s[%llu]: got %.9g, want %.9g (source %.9g)", t->name,
					 (unsigned long long)j, (double)got, (double)ref, (double)x);
		}
	}
	/* A permutation or op that is the identity on this data proves nothing. */
	if (w->x != RAW && !changed)
		fail_msg("%s: transform left the data unchanged; the fixture cannot test it", t->name);
}

/* ---- tests ------------------------------------------------------------- */

static void test_kv(void **state)
{
	(void)state;
	struct gg_model *m = open_profile(GG_PROFILE_OLLAMA);
	const struct gg_outfile *f = &m->files[0];
	/* Exactly these keys, byte-wise sorted; nothing about the notice. */
	const char *keys[] = {
		"general.architecture", "general.file_type", "general.quantization_version",
		"mllama.attention.cross_attention_layers", "mllama.attention.head_count",
		"mllama.attention.head_count_kv", "mllama.attention.layer_norm_rms_epsilon",
		"mllama.block_count", "mllama.context_length", "mllama.embedding_length",
		"mllama.feed_forward_length", "mllama.rope.dimension_count",
		"mllama.rope.freq_base", "mllama.vision.attention.head_count",
		"mllama.vision.attention.layer_norm_epsilon", "mllama.vision.block_count",
		"mllama.vision.embedding_length", "mllama.vision.feed_forward_length",
		"mllama.vision.global.block_count", "mllama.vision.image_size",
		"mllama.vision.intermediate_layers_indices", "mllama.vision.max_num_tiles",
		"mllama.vision.num_channels", "mllama.vision.patch_size", "mllama.vocab_size",
	};
	size_t nk = sizeof keys / sizeof *keys, i = 0;
	for (; i < nk; i++) {
		assert_true(i < f->kvs->n);
		assert_string_equal(f->kvs->kv[i].key, keys[i]);
	}
	for (; i < f->kvs->n; i++) /* the rest is the shared tokenizer block */
		assert_int_equal(strncmp(f->kvs->kv[i].key, "tokenizer.", 10), 0);
	const struct gguf_kv *arch = kv_get(f, "general.architecture");
	assert_string_equal(arch->str.s, "mllama");
	assert_kv_u32(f, "general.file_type", 1);
	assert_kv_u32(f, "general.quantization_version", 2);
	assert_kv_i32_array(f, "mllama.attention.cross_attention_layers", (int32_t[]){ 1, 3 }, 2);
	assert_kv_u32(f, "mllama.attention.head_count", 4);
	assert_kv_u32(f, "mllama.attention.head_count_kv", 2);
	assert_kv_f32(f, "mllama.attention.layer_norm_rms_epsilon", 1e-5f);
	assert_kv_u32(f, "mllama.block_count", 5);
	assert_kv_u32(f, "mllama.context_length", 131072);
	assert_kv_u32(f, "mllama.embedding_length", 64);
	assert_kv_u32(f, "mllama.feed_forward_length", 128);
	assert_kv_u32(f, "mllama.rope.dimension_count", 16);
	assert_kv_f32(f, "mllama.rope.freq_base", 500000.0f);
	assert_kv_u32(f, "mllama.vision.attention.head_count", 3);
	assert_kv_f32(f, "mllama.vision.attention.layer_norm_epsilon", 1e-5f);
	assert_kv_u32(f, "mllama.vision.block_count", 4);
	assert_kv_u32(f, "mllama.vision.embedding_length", 48);
	assert_kv_u32(f, "mllama.vision.feed_forward_length", 96);
	assert_kv_u32(f, "mllama.vision.global.block_count", 2);
	assert_kv_u32(f, "mllama.vision.image_size", 28);
	assert_kv_i32_array(f, "mllama.vision.intermediate_layers_indices", (int32_t[]){ 1, 3 }, 2);
	assert_kv_u32(f, "mllama.vision.max_num_tiles", 4);
	assert_kv_u32(f, "mllama.vision.num_channels", 3);
	assert_kv_u32(f, "mllama.vision.patch_size", 14);
	/* text_config.vocab_size, although the tokenizer has the image token
	 * too and token_embd has vocab + 8 rows (findings.md). */
	assert_kv_u32(f, "mllama.vocab_size", 128256);
	const struct gguf_kv *tok = kv_get(f, "tokenizer.ggml.tokens");
	assert_int_equal(tok->arr_n, 128257);
	assert_string_equal(((struct gguf_str *)tok->arr)[128256].s, "<|image|>");
	gg_model_close(m);
}

static void test_tensor_table_and_data(void **state)
{
	(void)state;
	build_expected();
	struct gg_model *m = open_profile(GG_PROFILE_OLLAMA);
	const struct gg_outfile *f = &m->files[0];
	assert_int_equal(f->ntensors, n_exp);
	uint64_t off = f->header_len;
	for (size_t i = 0; i < n_exp; i++) {
		const struct expect *w = &exp_tab[i];
		const struct gg_tensor *t = &f->tensors[i];
		assert_string_equal(t->name, w->name);
		if (t->type != w->type)
			fail_msg("%s: type %d, want %d", t->name, (int)t->type, (int)w->type);
		assert_int_equal(t->offset, off);
		assert_int_equal(off % 32, 0);
		off += (t->nbytes + 31) / 32 * 32;
		if (!w->src[0])
			continue; /* rope_freqs: computed, checked below */
		const struct st_tensor *st;
		uint8_t *src = read_source(m, w->src, &st);
		/* ne is the reversed PyTorch shape. */
		assert_int_equal(t->n_dims, st->ndim);
		for (int d = 0; d < st->ndim; d++)
			assert_int_equal(t->ne[d], st->shape[st->ndim - 1 - d]);
		uint8_t *out = read_output(f, t);
		check_data(w, t, out, st, src);
		free(out);
		free(src);
	}
	/* No padding after the last tensor (Ollama). */
	const struct gg_tensor *last = &f->tensors[f->ntensors - 1];
	assert_int_equal(f->size, last->offset + last->nbytes);
	/* A few shapes spelled out: the 4-D conv, vocab + 8 rows, the projector. */
	const struct gg_tensor *t = output_tensor(f, "v.patch_embd.weight");
	assert_int_equal(t->n_dims, 4);
	assert_true(t->ne[0] == 14 && t->ne[1] == 14 && t->ne[2] == 3 && t->ne[3] == 48);
	t = output_tensor(f, "token_embd.weight");
	assert_true(t->ne[0] == 64 && t->ne[1] == 128264);
	t = output_tensor(f, "mm.0.weight");
	assert_true(t->ne[0] == 144 && t->ne[1] == 64);
	/* llama3 rope factors for dim 16, theta 500000 (pinned in test_llama). */
	t = output_tensor(f, "rope_freqs.weight");
	assert_int_equal(t->ne[0], 8);
	float *rf = (float *)read_output(f, t);
	assert_true(rf[0] == 1.0f && rf[7] == 8.0f && rf[4] > 1.0f && rf[4] < 8.0f);
	free(rf);
	gg_model_close(m);
}

/* Both gates of the position embedding come from one source value. */
static void test_position_gate_written_twice(void **state)
{
	(void)state;
	struct gg_model *m = open_profile(GG_PROFILE_OLLAMA);
	const struct gg_outfile *f = &m->files[0];
	const struct st_tensor *st;
	uint8_t *src = read_source(m, "vision_model.gated_positional_embedding.gate", &st);
	float g = bf16_at(src, 0);
	const struct gg_tensor *a = output_tensor(f, "v.position_embd.gate");
	const struct gg_tensor *b = output_tensor(f, "v.tile_position_embd.gate");
	assert_non_null(a);
	assert_non_null(b);
	float *va = (float *)read_output(f, a), *vb = (float *)read_output(f, b);
	assert_true(within_ulp(*va, 1.0f - tanhf(g), 1));
	assert_true(within_ulp(*vb, tanhf(g), 1));
	assert_true(fabsf(*va + *vb - 1.0f) < 1e-6f);
	assert_true(fabsf(*vb - g) > 0.01f); /* tanh really applied */
	free(va);
	free(vb);
	free(src);
	gg_model_close(m);
}

static void assert_same_bytes(const struct gg_outfile *a, const struct gg_outfile *b)
{
	assert_int_equal(a->size, b->size);
	size_t chunk = 4u << 20;
	uint8_t *x = malloc(chunk), *y = malloc(chunk);
	gg_err e;
	for (uint64_t off = 0; off < a->size; off += chunk) {
		size_t n = a->size - off < chunk ? (size_t)(a->size - off) : chunk;
		assert_int_equal(gg_outfile_read(a, off, n, x, &e), 0);
		assert_int_equal(gg_outfile_read(b, off, n, y, &e), 0);
		if (memcmp(x, y, n))
			fail_msg("profiles differ in [%llu, +%zu)", (unsigned long long)off, n);
	}
	free(x);
	free(y);
}

/* No llama.cpp variant exists: both profiles give Ollama's file, and the
 * model says why. */
static void test_profiles_identical_and_notice(void **state)
{
	(void)state;
	struct gg_model *o = open_profile(GG_PROFILE_OLLAMA);
	struct gg_model *l = open_profile(GG_PROFILE_LLAMACPP);
	assert_int_equal(o->nfiles, 1);
	assert_int_equal(l->nfiles, 1);
	assert_string_equal(l->files[0].name, "model.gguf");
	assert_same_bytes(&o->files[0], &l->files[0]);
	for (int i = 0; i < 2; i++) {
		const char *n = (i ? l : o)->notice;
		assert_non_null(n);
		assert_non_null(strstr(n, "mllama"));
		assert_non_null(strstr(n, "llama.cpp"));
		assert_null(strchr(n, '\n'));
	}
	assert_string_equal(o->arch->gguf_arch, "mllama");
	gg_model_close(o);
	gg_model_close(l);
}

/* ---- bad input --------------------------------------------------------- */

/* A copy of the fixture (symlinks) whose config.json is edit(config). */
static char *variant(void (*edit)(cJSON *c))
{
	char *src = fixture_path(FIXTURE);
	char *dir = make_temp_dir("mllama");
	const char *files[] = { "generation_config.json", "tokenizer.json",
				"tokenizer_config.json", "model.safetensors.index.json",
				"model-00001-of-00002.safetensors",
				"model-00002-of-00002.safetensors" };
	char a[4096], b[4096];
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		snprintf(a, sizeof a, "%s/%s", src, files[i]);
		snprintf(b, sizeof b, "%s/%s", dir, files[i]);
		assert_int_equal(symlink(a, b), 0);
	}
	snprintf(a, sizeof a, "%s/config.json", src);
	FILE *fp = fopen(a, "r");
	assert_non_null(fp);
	char *json = calloc(1, 1 << 16);
	assert_true(fread(json, 1, (1 << 16) - 1, fp) > 0);
	fclose(fp);
	cJSON *c = cJSON_Parse(json);
	assert_non_null(c);
	edit(c);
	char *out = cJSON_Print(c);
	write_text(dir, "config.json", out);
	free(out);
	free(json);
	cJSON_Delete(c);
	free(src);
	return dir;
}

static void remove_variant(char *dir)
{
	remove_tree(dir);
	free(dir);
}

/* Open the variant; expect failure whose message holds every needle. */
static void expect_error(void (*edit)(cJSON *c), const char *n1, const char *n2)
{
	char *dir = variant(edit);
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP };
	struct gg_model *m = NULL;
	gg_err e;
	if (gg_model_open(dir, &opt, &m, &e) == 0) {
		gg_model_close(m);
		fail_msg("bad config accepted (wanted an error with '%s')", n1);
	}
	if (!strstr(e.msg, n1) || (n2 && !strstr(e.msg, n2)))
		fail_msg("error '%s' lacks '%s' / '%s'", e.msg, n1, n2 ? n2 : "");
	assert_null(strchr(e.msg, '\n'));
	remove_variant(dir);
}

static cJSON *vision_cfg(cJSON *c) { return cJSON_GetObjectItem(c, "vision_config"); }
static cJSON *text_cfg(cJSON *c) { return cJSON_GetObjectItem(c, "text_config"); }

static void vision_heads_5(cJSON *c)
{
	cJSON_ReplaceItemInObject(vision_cfg(c), "attention_heads", cJSON_CreateNumber(5));
}
static void vision_heads_absent(cJSON *c)
{
	cJSON_DeleteItemFromObject(vision_cfg(c), "attention_heads");
}
static void text_heads_5(cJSON *c)
{
	cJSON_ReplaceItemInObject(text_cfg(c), "num_attention_heads", cJSON_CreateNumber(5));
}
static void no_text_config(cJSON *c)
{
	cJSON_DeleteItemFromObject(c, "text_config");
}
static void cross_layers_string(cJSON *c)
{
	cJSON_ReplaceItemInObject(text_cfg(c), "cross_attention_layers", cJSON_CreateString("1,3"));
}
static void cross_layers_fraction(cJSON *c)
{
	double v[] = { 1, 2.5 };
	cJSON_ReplaceItemInObject(text_cfg(c), "cross_attention_layers", cJSON_CreateDoubleArray(v, 2));
}

static void test_bad_configs(void **state)
{
	(void)state;
	/* 48 rows do not split into 5 heads of even size: name the tensor. */
	expect_error(vision_heads_5, "v.", "5 vision heads");
	expect_error(vision_heads_absent, "vision_config.attention_heads", "missing");
	expect_error(text_heads_5, "text_config.num_attention_heads 5", "not a multiple of num_key_value_heads 2");
	expect_error(no_text_config, "text_config", NULL);
	expect_error(cross_layers_string, "cross_attention_layers", NULL);
	expect_error(cross_layers_fraction, "cross_attention_layers[1]", NULL);
}

static void no_cross_layers(cJSON *c)
{
	cJSON_DeleteItemFromObject(text_cfg(c), "cross_attention_layers");
}

/* Go writes a nil []int32 as an empty INT32 array, not as nothing. */
static void test_absent_cross_layers_is_empty_array(void **state)
{
	(void)state;
	char *dir = variant(no_cross_layers);
	struct gg_model *m = open_model_dir(dir, GG_PROFILE_OLLAMA);
	assert_kv_i32_array(&m->files[0], "mllama.attention.cross_attention_layers", NULL, 0);
	gg_model_close(m);
	remove_variant(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_tensor_table_and_data),
		cmocka_unit_test(test_position_gate_written_twice),
		cmocka_unit_test(test_profiles_identical_and_notice),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_absent_cross_layers_is_empty_array),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
