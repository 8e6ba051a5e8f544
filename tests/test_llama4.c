/* test_llama4.c - the Llama 4 converter's rules, pinned on the fixture made
 * by tests/fixtures/make-llama4.mjs (OUTDIR/llama4-tiny; root in
 * $GGUFFS_FIXTURES, else $GGUFFS_SOURCE_ROOT/tests/fixtures/out).
 *
 * Expected values are computed here from the source bytes with naive loops
 * (gate/up halves, transposes), never through the plan or engine code. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "model.h"
#include "testutil.h"

#define FIXTURE "llama4-tiny"
enum { HID = 64, EXP = 4, IEXP = 32, NBLK = 4 };

static struct gg_model *open_profile(enum gg_profile p)
{
	return open_fixture(FIXTURE, p);
}

static struct gg_outfile *file_named(struct gg_model *m, const char *name)
{
	for (size_t i = 0; i < m->nfiles; i++)
		if (strcmp(m->files[i].name, name) == 0)
			return &m->files[i];
	fail_msg("no output file %s", name);
	return NULL;
}

/* ---- KVs ---- */

/* The llama4.* keys, byte-wise sorted as Ollama writes them. */
static const char *const llama4_keys[] = {
	"llama4.attention.chunk_size", "llama4.attention.head_count",
	"llama4.attention.head_count_kv", "llama4.attention.head_dim",
	"llama4.attention.key_length", "llama4.attention.layer_norm_rms_epsilon",
	"llama4.attention.value_length", "llama4.block_count",
	"llama4.context_length", "llama4.embedding_length", "llama4.expert_count",
	"llama4.expert_feed_forward_length", "llama4.expert_used_count",
	"llama4.feed_forward_length", "llama4.interleave_moe_layer_step",
	"llama4.rope.dimension_count", "llama4.rope.freq_base", "llama4.use_qk_norm",
	"llama4.vision.attention.head_count", "llama4.vision.block_count",
	"llama4.vision.embedding_length", "llama4.vision.feed_forward_length",
	"llama4.vision.image_size", "llama4.vision.layer_norm_epsilon",
	"llama4.vision.patch_size", "llama4.vision.pixel_shuffle_ratio",
	"llama4.vision.rope.freq_base", "llama4.vocab_size",
};

/* file_type: 1 as Ollama writes it, 32 (BF16) as convert_hf_to_gguf.py
 * does; ngeneral: the general.* keys (the llamacpp profile adds names). */
static void check_llama4_kv(const struct gg_outfile *f, uint32_t file_type,
			    size_t ngeneral)
{
	assert_kv_str(f, "general.architecture", "llama4");
	assert_kv_u32(f, "general.file_type", file_type);
	assert_kv_u32(f, "general.quantization_version", 2);
	/* From text_config (llamaModel.KV, renamed llama. -> llama4.). */
	assert_kv_u32(f, "llama4.vocab_size", 128256);
	assert_kv_u32(f, "llama4.block_count", NBLK);
	assert_kv_u32(f, "llama4.context_length", 131072);
	assert_kv_u32(f, "llama4.embedding_length", HID);
	assert_kv_u32(f, "llama4.attention.head_count", 4);
	assert_kv_u32(f, "llama4.attention.head_count_kv", 2);
	assert_kv_u32(f, "llama4.rope.dimension_count", 16);
	assert_kv_u32(f, "llama4.attention.head_dim", 16);
	assert_kv_u32(f, "llama4.attention.key_length", 16);
	assert_kv_u32(f, "llama4.attention.value_length", 16);
	assert_kv_f32(f, "llama4.rope.freq_base", 500000.0f);
	assert_kv_f32(f, "llama4.attention.layer_norm_rms_epsilon", 1e-5f);
	/* llama4Model.KV: dense FFN is intermediate_size_mlp, experts use
	 * intermediate_size. */
	assert_kv_u32(f, "llama4.feed_forward_length", 96);
	assert_kv_u32(f, "llama4.expert_feed_forward_length", IEXP);
	assert_kv_u32(f, "llama4.expert_count", EXP);
	assert_kv_u32(f, "llama4.expert_used_count", 1);
	assert_kv_u32(f, "llama4.interleave_moe_layer_step", 2);
	assert_kv_bool(f, "llama4.use_qk_norm", true);
	assert_kv_u32(f, "llama4.attention.chunk_size", 8192);
	assert_kv_u32(f, "llama4.vision.block_count", 2);
	assert_kv_u32(f, "llama4.vision.embedding_length", 32);
	assert_kv_u32(f, "llama4.vision.feed_forward_length", 128);
	assert_kv_u32(f, "llama4.vision.attention.head_count", 2);
	assert_kv_u32(f, "llama4.vision.image_size", 32);
	assert_kv_u32(f, "llama4.vision.patch_size", 8);
	assert_kv_f32(f, "llama4.vision.rope.freq_base", 10000.0f);
	assert_kv_f32(f, "llama4.vision.layer_norm_epsilon", 1e-5f);
	assert_kv_f32(f, "llama4.vision.pixel_shuffle_ratio", 0.5f);
	/* Exactly these llama4.* keys, in byte order, after general.*. */
	size_t n = sizeof llama4_keys / sizeof *llama4_keys;
	for (size_t i = 0; i < ngeneral; i++)
		assert_int_equal(strncmp(f->kvs->kv[i].key, "general.", 8), 0);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(f->kvs->kv[ngeneral + i].key, llama4_keys[i]);
	assert_true(strncmp(f->kvs->kv[ngeneral + n].key, "tokenizer.", 10) == 0);
	assert_kv_u32(f, "tokenizer.ggml.bos_token_id", 128000);
}

static void test_kv_both_profiles(void **state)
{
	(void)state;
	struct gg_model *o = open_profile(GG_PROFILE_OLLAMA);
	struct gg_model *l = open_profile(GG_PROFILE_LLAMACPP);
	check_llama4_kv(&o->files[0], 1, 3);
	/* + general.name, size_label and type, as convert_hf_to_gguf.py */
	check_llama4_kv(&l->files[0], 32, 6);
	assert_kv_str(&l->files[0], "general.type", "model");
	assert_int_equal(o->files[0].kvs->n + 3, l->files[0].kvs->n);
	gg_model_close(o);
	gg_model_close(l);
}

/* ---- tensor table ---- */

static const char *const dense_blk[] = {
	"attn_k.weight", "attn_norm.weight", "attn_output.weight", "attn_q.weight",
	"attn_v.weight", "ffn_down.weight", "ffn_gate.weight", "ffn_norm.weight",
	"ffn_up.weight",
};
static const char *const moe_blk[] = {
	"attn_k.weight", "attn_norm.weight", "attn_output.weight", "attn_q.weight",
	"attn_v.weight", "ffn_down_exps.weight", "ffn_down_shexp.weight",
	"ffn_gate_exps.weight", "ffn_gate_inp.weight", "ffn_gate_shexp.weight",
	"ffn_norm.weight", "ffn_up_exps.weight", "ffn_up_shexp.weight",
};
static const char *const text_tail[] = {
	"output.weight", "output_norm.weight", "rope_freqs.weight", "token_embd.weight",
};
static const char *const v_blk[] = {
	"attn_k.bias", "attn_k.weight", "attn_norm.bias", "attn_norm.weight",
	"attn_output.bias", "attn_output.weight", "attn_q.bias", "attn_q.weight",
	"attn_v.bias", "attn_v.weight", "ffn_norm.bias", "ffn_norm.weight",
	"mlp.fc1.bias", "mlp.fc1.weight", "mlp.fc2.bias", "mlp.fc2.weight",
};
static const char *const v_tail[] = {
	"v.class_embedding", "v.layernorm_post.bias", "v.layernorm_post.weight",
	"v.layernorm_pre.bias", "v.layernorm_pre.weight", "v.patch_embedding.weight",
	"v.positional_embedding_vlm", "v.vision_adapter.mlp.fc1.weight",
	"v.vision_adapter.mlp.fc2.weight",
};

#define N(a) (sizeof(a) / sizeof *(a))

/* Ollama's order: blocks by number then name, then the rest by name. */
static size_t expected_names(bool with_vision, char names[][64])
{
	size_t n = 0;
	for (int b = 0; b < NBLK; b++) {
		bool moe = (b + 1) % 2 == 0;
		const char *const *leaf = moe ? moe_blk : dense_blk;
		size_t nl = moe ? N(moe_blk) : N(dense_blk);
		for (size_t i = 0; i < nl; i++)
			snprintf(names[n++], 64, "blk.%d.%s", b, leaf[i]);
	}
	if (with_vision)
		snprintf(names[n++], 64, "mm.linear_1.weight");
	for (size_t i = 0; i < N(text_tail); i++)
		snprintf(names[n++], 64, "%s", text_tail[i]);
	if (!with_vision)
		return n;
	for (int b = 0; b < 2; b++)
		for (size_t i = 0; i < N(v_blk); i++)
			snprintf(names[n++], 64, "v.blk.%d.%s", b, v_blk[i]);
	for (size_t i = 0; i < N(v_tail); i++)
		snprintf(names[n++], 64, "%s", v_tail[i]);
	return n;
}

/* Ollama's dtype for this fixture (BF16 source). */
static enum gg_type expected_type(const struct gg_tensor *t)
{
	bool vision = strncmp(t->name, "v.", 2) == 0 || strncmp(t->name, "mm.", 3) == 0;
	if (t->n_dims == 1 || strstr(t->name, "ffn_gate_inp") ||
	    strcmp(t->name, "v.positional_embedding_vlm") == 0)
		return GG_TYPE_F32;
	return vision ? GG_TYPE_F16 : GG_TYPE_BF16;
}

static void check_table(const struct gg_outfile *f, bool with_vision)
{
	char names[128][64];
	size_t n = expected_names(with_vision, names);
	assert_int_equal(f->ntensors, n);
	uint64_t off = f->header_len;
	for (size_t i = 0; i < n; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		assert_string_equal(t->name, names[i]);
		assert_int_equal(t->offset, off);
		off += (t->nbytes + 31) / 32 * 32;
		if (t->type != expected_type(t))
			fail_msg("%s: type %d, want %d", t->name, t->type, expected_type(t));
	}
	const struct gg_tensor *last = &f->tensors[n - 1];
	assert_int_equal(f->size, last->offset + last->nbytes); /* no trailing pad */
}

static void assert_ne(const struct gg_tensor *t, uint64_t a, uint64_t b, uint64_t c)
{
	assert_int_equal(t->ne[0], a);
	assert_int_equal(t->ne[1], b);
	if (c) {
		assert_int_equal(t->n_dims, 3);
		assert_int_equal(t->ne[2], c);
	} else {
		assert_int_equal(t->n_dims, 2);
	}
}

static void test_ollama_one_file(void **state)
{
	(void)state;
	struct gg_model *m = open_profile(GG_PROFILE_OLLAMA);
	assert_int_equal(m->nfiles, 1);
	struct gg_outfile *f = &m->files[0];
	check_table(f, true);
	assert_int_equal(f->ntensors, 90); /* upstream: "wrong number of tensors; expected 90, got 48" */
	assert_ne(output_tensor(f, "blk.1.ffn_gate_exps.weight"), HID, IEXP, EXP);
	assert_ne(output_tensor(f, "blk.1.ffn_up_exps.weight"), HID, IEXP, EXP);
	assert_ne(output_tensor(f, "blk.3.ffn_down_exps.weight"), IEXP, HID, EXP);
	assert_ne(output_tensor(f, "blk.1.ffn_gate_inp.weight"), HID, EXP, 0);
	assert_ne(output_tensor(f, "blk.1.ffn_gate_shexp.weight"), HID, IEXP, 0);
	assert_ne(output_tensor(f, "blk.0.ffn_gate.weight"), HID, 96, 0);
	assert_ne(output_tensor(f, "v.patch_embedding.weight"), 192, 32, 0);
	assert_ne(output_tensor(f, "v.positional_embedding_vlm"), 32, 17, 0);
	assert_ne(output_tensor(f, "mm.linear_1.weight"), 64, HID, 0);
	assert_int_equal(output_tensor(f, "rope_freqs.weight")->ne[0], 8);
	gg_model_close(m);
}

/* ---- source bytes and naive references ---- */

/* out[e][i][h] = src[e][h][half * I + i]  (gate: half 0, up: half 1) */
static void assert_gate_up_half(const uint8_t *src, const uint8_t *out, int half)
{
	for (size_t e = 0; e < EXP; e++)
		for (size_t i = 0; i < IEXP; i++)
			for (size_t h = 0; h < HID; h++) {
				size_t o = (e * IEXP + i) * HID + h;
				size_t s = (e * HID + h) * 2 * IEXP + (size_t)half * IEXP + i;
				if (u16_at(out, o) != u16_at(src, s))
					fail_msg("half %d: out[%zu][%zu][%zu] != src[%zu][%zu][%zu]",
						 half, e, i, h, e, h, half * IEXP + i);
			}
}

/* out[e][h][i] = src[e][i][h] */
static void assert_down_transposed(const uint8_t *src, const uint8_t *out)
{
	for (size_t e = 0; e < EXP; e++)
		for (size_t h = 0; h < HID; h++)
			for (size_t i = 0; i < IEXP; i++)
				if (u16_at(out, (e * HID + h) * IEXP + i) !=
				    u16_at(src, (e * IEXP + i) * HID + h))
					fail_msg("down: out[%zu][%zu][%zu] wrong", e, h, i);
}

/* Any byte range of a computed tensor equals that slice of the whole. */
static void assert_ranges(struct gg_outfile *f, const struct gg_tensor *t,
			  const uint8_t *whole)
{
	uint32_t x = 12345;
	uint8_t *buf = malloc(t->nbytes);
	for (int k = 0; k < 300; k++) {
		x = x * 1103515245u + 12345u;
		uint64_t off = (x >> 8) % t->nbytes;
		x = x * 1103515245u + 12345u;
		size_t len = 1 + (x >> 8) % (t->nbytes - off);
		gg_err e;
		assert_int_equal(gg_tensor_read(f, t, off, len, buf, &e), 0);
		if (memcmp(buf, whole + off, len))
			fail_msg("%s: range [%llu, +%zu) differs from the whole read",
				 t->name, (unsigned long long)off, len);
	}
	free(buf);
}

static void check_experts(struct gg_model *m, struct gg_outfile *f, int blk)
{
	char name[128];
	const struct st_tensor *st;
	snprintf(name, sizeof name, "language_model.model.layers.%d.feed_forward.experts.gate_up_proj", blk);
	uint8_t *src = read_source(m, name, &st);
	assert_int_equal(st->shape[2], 2 * IEXP);
	for (int half = 0; half < 2; half++) {
		snprintf(name, sizeof name, "blk.%d.%s", blk, half ? "ffn_up_exps.weight" : "ffn_gate_exps.weight");
		const struct gg_tensor *t = output_tensor(f, name);
		assert_int_equal(t->type, GG_TYPE_BF16);
		assert_false(t->is_copy);
		uint8_t *out = read_output(f, t);
		assert_gate_up_half(src, out, half);
		assert_ranges(f, t, out);
		free(out);
	}
	free(src);
	snprintf(name, sizeof name, "language_model.model.layers.%d.feed_forward.experts.down_proj", blk);
	src = read_source(m, name, &st);
	snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", blk);
	const struct gg_tensor *t = output_tensor(f, name);
	uint8_t *out = read_output(f, t);
	assert_down_transposed(src, out);
	assert_ranges(f, t, out);
	free(out);
	free(src);
}

static void test_expert_split_and_transpose(void **state)
{
	(void)state;
	for (int p = 0; p < 2; p++) {
		struct gg_model *m = open_profile(p ? GG_PROFILE_LLAMACPP : GG_PROFILE_OLLAMA);
		check_experts(m, &m->files[0], 1);
		check_experts(m, &m->files[0], 3);
		gg_model_close(m);
	}
}

static float f16_value(uint16_t h)
{
	int e = (h >> 10) & 31, mant = h & 1023;
	float v = e ? ldexpf(1.0f + (float)mant / 1024.0f, e - 15) : ldexpf((float)mant, -24);
	return (h & 0x8000) ? -v : v;
}

/* Router: F32, the exact BF16 values. Shared expert: plain copy. Vision
 * 2-D in profile ollama: F16 (rounded from BF16, exact in F16's normal
 * range). Position embedding F32. */
static void test_dtypes_and_values(void **state)
{
	(void)state;
	struct gg_model *m = open_profile(GG_PROFILE_OLLAMA);
	struct gg_outfile *f = &m->files[0];
	const struct st_tensor *st;
	uint8_t *src = read_source(m, "language_model.model.layers.3.feed_forward.router.weight", &st);
	const struct gg_tensor *t = output_tensor(f, "blk.3.ffn_gate_inp.weight");
	assert_int_equal(t->type, GG_TYPE_F32);
	float *r = (float *)read_output(f, t);
	for (size_t i = 0; i < st->nelem; i++)
		assert_true(r[i] == bf16_to_float(u16_at(src, i)));
	free(r);
	free(src);

	src = read_source(m, "language_model.model.layers.1.feed_forward.shared_expert.down_proj.weight", &st);
	t = output_tensor(f, "blk.1.ffn_down_shexp.weight");
	assert_true(t->is_copy);
	uint8_t *o = read_output(f, t);
	assert_memory_equal(o, src, st->nbytes);
	free(o);
	free(src);

	src = read_source(m, "vision_model.model.layers.1.mlp.fc1.weight", &st);
	t = output_tensor(f, "v.blk.1.mlp.fc1.weight");
	assert_int_equal(t->type, GG_TYPE_F16);
	o = read_output(f, t);
	for (size_t i = 0; i < st->nelem; i++) {
		float want = bf16_to_float(u16_at(src, i)), got = f16_value(u16_at(o, i));
		if (fabsf(want) >= 0x1p-14f ? got != want : fabsf(got - want) > 0x1p-25f)
			fail_msg("v.blk.1.mlp.fc1.weight[%zu] = %g, want %g", i, got, want);
	}
	free(o);
	free(src);

	src = read_source(m, "vision_model.positional_embedding_vlm", &st);
	t = output_tensor(f, "v.positional_embedding_vlm");
	assert_int_equal(t->type, GG_TYPE_F32);
	r = (float *)read_output(f, t);
	for (size_t i = 0; i < st->nelem; i++)
		assert_true(r[i] == bf16_to_float(u16_at(src, i)));
	free(r);
	free(src);
	gg_model_close(m);
}

/* ---- profile llamacpp: text model.gguf + mmproj.gguf ---- */

/* handle_llama4_clip's renames, applied one after the other (its
 * rename_tensors_containing loop), written independently of the converter. */
static void clip_name(const char *ollama, char *out, size_t cap)
{
	static const char *const pairs[][2] = {
		{ "v.vision_adapter.mlp.fc1", "mm.model.mlp.1" },
		{ "v.vision_adapter.mlp.fc2", "mm.model.mlp.2" },
		{ "mm.linear_1", "mm.model.fc" },
		{ "v.class_embedding", "v.class_embd" },
		{ "v.layernorm_post", "v.post_ln" },
		{ "v.layernorm_pre", "v.pre_ln" },
		{ "v.patch_embedding", "v.patch_embd" },
		{ ".attn_output", ".attn_out" },
		{ ".attn_norm", ".ln1" },
		{ ".ffn_norm", ".ln2" },
		{ ".mlp.fc1", ".ffn_up" },
		{ ".mlp.fc2", ".ffn_down" },
	};
	snprintf(out, cap, "%s", ollama);
	if (strcmp(ollama, "v.positional_embedding_vlm") == 0) {
		snprintf(out, cap, "v.position_embd.weight");
		return;
	}
	for (size_t i = 0; i < N(pairs); i++) {
		char *hit = strstr(out, pairs[i][0]);
		if (!hit)
			continue;
		char tail[128];
		snprintf(tail, sizeof tail, "%s", hit + strlen(pairs[i][0]));
		snprintf(hit, cap - (size_t)(hit - out), "%s%s", pairs[i][1], tail);
	}
}

static void test_llamacpp_two_files(void **state)
{
	(void)state;
	struct gg_model *o = open_profile(GG_PROFILE_OLLAMA);
	struct gg_model *l = open_profile(GG_PROFILE_LLAMACPP);
	assert_int_equal(l->nfiles, 2);
	assert_string_equal(l->files[0].name, "model.gguf");
	struct gg_outfile *fo = &o->files[0], *ft = &l->files[0];
	struct gg_outfile *mm = file_named(l, "mmproj.gguf");
	check_table(ft, false); /* text only: what llama.cpp's loader expects */
	assert_int_equal(ft->ntensors, 48);
	assert_int_equal(mm->ntensors, 42);
	/* Every Ollama vision tensor is in mmproj.gguf under its clip name,
	 * same type, shape and bytes. */
	size_t seen = 0;
	for (size_t i = 0; i < fo->ntensors; i++) {
		const struct gg_tensor *t = &fo->tensors[i];
		if (strncmp(t->name, "v.", 2) && strncmp(t->name, "mm.", 3))
			continue;
		char want[128];
		clip_name(t->name, want, sizeof want);
		const struct gg_tensor *c = output_tensor(mm, want);
		assert_int_equal(c->type, t->type);
		assert_int_equal(c->n_dims, t->n_dims);
		assert_memory_equal(c->ne, t->ne, sizeof t->ne);
		uint8_t *a = read_output(fo, t), *b = read_output(mm, c);
		assert_memory_equal(a, b, t->nbytes);
		free(a);
		free(b);
		seen++;
	}
	assert_int_equal(seen, 42);
	output_tensor(mm, "v.position_embd.weight");
	output_tensor(mm, "mm.model.fc.weight");
	output_tensor(mm, "v.blk.0.attn_out.weight");
	output_tensor(mm, "v.blk.1.ffn_down.bias");
	output_tensor(mm, "v.blk.1.ln2.weight");
	gg_model_close(o);
	gg_model_close(l);
}

static void test_mmproj_kv(void **state)
{
	(void)state;
	struct gg_model *l = open_profile(GG_PROFILE_LLAMACPP);
	struct gg_outfile *mm = file_named(l, "mmproj.gguf");
	static const char *const keys[] = {
		"clip.has_vision_encoder", "clip.projector_type", "clip.use_gelu",
		"clip.vision.attention.head_count",
		"clip.vision.attention.layer_norm_epsilon", "clip.vision.block_count",
		"clip.vision.embedding_length", "clip.vision.feed_forward_length",
		"clip.vision.image_mean", "clip.vision.image_size",
		"clip.vision.image_std", "clip.vision.patch_size",
		"clip.vision.projection_dim", "clip.vision.projector.scale_factor",
		"general.architecture", "general.file_type", "general.name",
		"general.size_label", "general.type",
	};
	assert_int_equal(mm->kvs->n, N(keys));
	for (size_t i = 0; i < N(keys); i++)
		assert_string_equal(mm->kvs->kv[i].key, keys[i]);
	assert_kv_str(mm, "general.architecture", "clip");
	assert_kv_str(mm, "general.type", "mmproj");
	assert_kv_str(mm, "clip.projector_type", "llama4");
	assert_kv_bool(mm, "clip.has_vision_encoder", true);
	assert_kv_bool(mm, "clip.use_gelu", true);
	assert_kv_u32(mm, "clip.vision.image_size", 32);
	assert_kv_u32(mm, "clip.vision.patch_size", 8);
	assert_kv_u32(mm, "clip.vision.embedding_length", 32);
	assert_kv_u32(mm, "clip.vision.feed_forward_length", 128);
	assert_kv_u32(mm, "clip.vision.block_count", 2);
	assert_kv_u32(mm, "clip.vision.attention.head_count", 2);
	assert_kv_u32(mm, "clip.vision.projection_dim", HID); /* text hidden size */
	assert_kv_u32(mm, "clip.vision.projector.scale_factor", 2); /* 1 / 0.5 */
	assert_kv_f32(mm, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
	/* From preprocessor_config.json (not Llama 4's 0.5 defaults). */
	static const float mean[3] = { 0.48145466f, 0.4578275f, 0.40821073f };
	static const float sd[3] = { 0.26862954f, 0.26130258f, 0.27577711f };
	const struct gguf_kv *v = kv_get(mm, "clip.vision.image_mean");
	assert_int_equal(v->type, GGUF_VT_ARRAY);
	assert_int_equal(v->arr_type, GGUF_VT_F32);
	assert_int_equal(v->arr_n, 3);
	assert_memory_equal(v->arr, mean, sizeof mean);
	v = kv_get(mm, "clip.vision.image_std");
	assert_memory_equal(v->arr, sd, sizeof sd);
	gg_model_close(l);
}

/* The text tensors of both profiles are the same bytes. */
static void test_profiles_share_text_bytes(void **state)
{
	(void)state;
	struct gg_model *o = open_profile(GG_PROFILE_OLLAMA);
	struct gg_model *l = open_profile(GG_PROFILE_LLAMACPP);
	struct gg_outfile *fo = &o->files[0], *fl = &l->files[0];
	for (size_t i = 0; i < fl->ntensors; i++) {
		const struct gg_tensor *t = &fl->tensors[i];
		if (t->nbytes > (1u << 20))
			continue; /* embeddings: plain copies, covered by is_copy */
		const struct gg_tensor *u = output_tensor(fo, t->name);
		assert_int_equal(t->type, u->type);
		uint8_t *a = read_output(fl, t), *b = read_output(fo, u);
		assert_memory_equal(a, b, t->nbytes);
		free(a);
		free(b);
	}
	assert_true(output_tensor(fl, "token_embd.weight")->is_copy);
	gg_model_close(o);
	gg_model_close(l);
}

/* ---- untrusted input ---- */

/* A model dir holding the fixture's tokenizer, a small config and one
 * safetensors file with a single BF16 expert tensor of the given shape. */
static char *make_bad_dir(uint32_t config_experts, const char *tensor_name,
			  const uint64_t *shape, int ndim)
{
	char *tmpdir = make_temp_dir("l4");
	char *rel = fixture_path(FIXTURE), *src = realpath(rel, NULL); /* symlinks need it absolute */
	free(rel);
	assert_non_null(src);
	for (int i = 0; i < 2; i++) {
		const char *f = i ? "tokenizer_config.json" : "tokenizer.json";
		char from[4096], to[256];
		snprintf(from, sizeof from, "%s/%s", src, f);
		snprintf(to, sizeof to, "%s/%s", tmpdir, f);
		assert_int_equal(symlink(from, to), 0);
	}
	free(src);
	char cfg[512];
	int n = snprintf(cfg, sizeof cfg,
			 "{\"architectures\": [\"Llama4ForConditionalGeneration\"],"
			 " \"text_config\": {\"hidden_size\": 64, \"num_attention_heads\": 4,"
			 " \"max_position_embeddings\": 4096, \"intermediate_size\": 32,"
			 " \"rms_norm_eps\": 1e-5,"
			 " \"num_hidden_layers\": 2, \"num_local_experts\": %u,"
			 " \"vocab_size\": 128256}, \"vision_config\": {}}",
			 config_experts);
	write_file(tmpdir, "config.json", cfg, (size_t)n);
	uint64_t nelem = 1;
	char dims[64] = "";
	for (int d = 0; d < ndim; d++) {
		nelem *= shape[d];
		snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%llu",
			 d ? "," : "", (unsigned long long)shape[d]);
	}
	char hdr[512];
	int hl = snprintf(hdr, sizeof hdr,
			  "{\"%s\":{\"dtype\":\"BF16\",\"shape\":[%s],\"data_offsets\":[0,%llu]}}",
			  tensor_name, dims, (unsigned long long)(2 * nelem));
	while (hl % 8)
		hdr[hl++] = ' ';
	size_t total = 8 + (size_t)hl + 2 * nelem;
	uint8_t *buf = calloc(1, total);
	uint64_t len = (uint64_t)hl;
	memcpy(buf, &len, 8);
	memcpy(buf + 8, hdr, (size_t)hl);
	write_file(tmpdir, "model.safetensors", buf, total);
	free(buf);
	return tmpdir;
}

static void expect_error(uint32_t experts, const char *name, const uint64_t *shape,
			 int ndim, const char *needle)
{
	for (int p = 0; p < 2; p++) {
		char *dir = make_bad_dir(experts, name, shape, ndim);
		struct gg_options opt = { .profile = p ? GG_PROFILE_OLLAMA : GG_PROFILE_LLAMACPP };
		struct gg_model *m = NULL;
		gg_err e;
		int rc = gg_model_open(dir, &opt, &m, &e);
		remove_tree(dir);
		free(dir);
		if (rc == 0) {
			gg_model_close(m);
			fail_msg("%s %s: opened without error", name, needle);
		}
		if (!strstr(e.msg, name) || !strstr(e.msg, needle) || strchr(e.msg, '\n'))
			fail_msg("error '%s' should name %s and say '%s' on one line",
				 e.msg, name, needle);
	}
}

static void test_bad_experts(void **state)
{
	(void)state;
	const char *gu = "language_model.model.layers.1.feed_forward.experts.gate_up_proj";
	const char *dn = "language_model.model.layers.1.feed_forward.experts.down_proj";
	expect_error(4, gu, (uint64_t[]){ 4, 64, 63 }, 3, "odd");
	expect_error(5, gu, (uint64_t[]){ 4, 64, 64 }, 3, "has 4 experts");
	expect_error(5, dn, (uint64_t[]){ 4, 32, 64 }, 3, "has 4 experts");
	expect_error(4, gu, (uint64_t[]){ 64, 64 }, 2, "expected 3 dims");
	expect_error(4, dn, (uint64_t[]){ 4, 32, 64, 1 }, 4, "expected 3 dims");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv_both_profiles),
		cmocka_unit_test(test_ollama_one_file),
		cmocka_unit_test(test_expert_split_and_transpose),
		cmocka_unit_test(test_dtypes_and_values),
		cmocka_unit_test(test_llamacpp_two_files),
		cmocka_unit_test(test_mmproj_kv),
		cmocka_unit_test(test_profiles_share_text_bytes),
		cmocka_unit_test(test_bad_experts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
