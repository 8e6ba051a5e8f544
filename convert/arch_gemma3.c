/* arch_gemma3.c - Gemma3ForCausalLM and Gemma3ForConditionalGeneration as
 * llama.cpp's gemma3 (text) and clip/gemma3 (vision).
 *
 * Gemma's RMSNorm multiplies by (1 + w); llama.cpp multiplies by the weight,
 * so every norm of the text model (and the projector's soft_emb_norm) is
 * stored as w + 1: the engine's GG_OP_ADD_ONE, exact in F32 like both
 * converters' float32 addition. Names are Ollama's convert_gemma3.go ones.
 *
 * Profiles. llamacpp: what convert_hf_to_gguf writes; the vision tower and
 * projector of Gemma3ForConditionalGeneration go to mmproj.gguf with clip
 * names; with only tokenizer.json the vocabulary becomes a SentencePiece one
 * that llama.cpp tokenizes like the HF tokenizer (tok_llamacpp.h), cut to
 * the embedding rows (the npm Gemma 3 tokenizer has one token more than a
 * 1B's embedding: dropped, with a notice). ollama: Ollama's single file, its
 * KVs (head counts from the layer count for the known sizes, the top-level
 * config otherwise) and its gpt2-labelled vocabulary.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archs.h"
#include "clip.h"
#include "hparams.h"
#include "jsonutil.h"
#include "model.h"
#include "tok_llamacpp.h"
#include "typerules.h"
#include "hparam_abbrev.h"

#define ARCH "gemma3"
#define COUNT(a) (sizeof(a) / sizeof *(a))

static const char *const pairs[] = {
	"lm_head", "output",
	"model.embed_tokens", "token_embd",
	"model.norm", "output_norm",
	"vision_tower.vision_model.embeddings", "v",
	"vision_tower.vision_model", "v",
	"vision_model.vision_model.embeddings", "v",
	"vision_model.vision_model", "v",
	"language_model.", "",
	"model.layers", "blk",
	"encoder.layers", "blk",
	"input_layernorm", "attn_norm",
	"self_attn.q_proj", "attn_q",
	"self_attn.q_norm", "attn_q_norm",
	"self_attn.k_proj", "attn_k",
	"self_attn.k_norm", "attn_k_norm",
	"self_attn.v_proj", "attn_v",
	"self_attn.o_proj", "attn_output",
	"self_attn.out_proj", "attn_output",
	"mlp.gate_proj", "ffn_gate",
	"mlp.down_proj", "ffn_down",
	"mlp.up_proj", "ffn_up",
	"post_attention_layernorm", "post_attention_norm",
	"pre_feedforward_layernorm", "ffn_norm",
	"post_feedforward_layernorm", "post_ffw_norm",
	"input_projection_weight", "input_projection.weight",
	"multi_modal_projector", "mm",
};
static const struct gg_renames renames = GG_RENAMES(NULL, pairs);

/* Ollama's vision names -> llama.cpp's clip names (tools/mtmd/clip-impl.h). */
static const char *const clip_pairs[] = {
	"v.patch_embedding", "v.patch_embd",
	"v.position_embedding", "v.position_embd",
	"v.post_layernorm", "v.post_ln",
	".attn_output", ".attn_out",
	".layer_norm1", ".ln1",
	".layer_norm2", ".ln2",
	".mlp.fc1", ".ffn_up",
	".mlp.fc2", ".ffn_down",
	"mm.mm_input_projection", "mm.input_projection",
	"mm.mm_soft_emb_norm", "mm.soft_emb_norm",
};
static const struct gg_renames clip_renames = GG_RENAMES(NULL, clip_pairs);

/* The text model, read from config.json or its text_config, with the
 * defaults convert_hf_to_gguf (and transformers' Gemma3TextConfig) use. */
static const struct gg_hparam text_hp[] = {
	{ "n_layer", "num_hidden_layers", U32, REQ | ALW, "block_count", 0 },
	{ "n_ctx", "max_position_embeddings", U32, ALW | LCP, "context_length", 131072 },
	{ "n_embd", "hidden_size", U32, REQ, "embedding_length", 0 },
	{ "n_ff", "intermediate_size", U32, REQ, "feed_forward_length", 0 },
	{ "n_head", "num_attention_heads", U32, POS | ALW | LCP, "attention.head_count", 8 },
	{ "n_head_kv", "num_key_value_heads", U32, POS | ALW | LCP, "attention.head_count_kv", 4 },
	{ "rms_eps", "rms_norm_eps", F32, POS | ALW | LCP, "attention.layer_norm_rms_epsilon", 1e-6 },
	{ "head_dim", "head_dim", U32, POS | ALW | LCP, "attention.key_length", 256 },
	{ "head_dim_v", "head_dim", U32, POS | ALW | LCP, "attention.value_length", 256 },
	{ "rope_theta", "rope_theta", F32, POS | ALW | LCP, "rope.freq_base", 1e6 },
	{ "rope_local", "rope_local_base_freq", F32, POS | LCP, "rope.freq_base_swa", 0 },
	{ "n_swa", "sliding_window", U32, 0, NULL, 0 },
	{ "swa_pattern", "sliding_window_pattern", U32, 0, NULL, 0 },
	{ "softcap", "final_logit_softcapping", F32, POS | LCP, "final_logit_softcapping", 0 },
	{ "rope_type", "rope_scaling.rope_type|rope_scaling.type", STR, 0, NULL, 0 },
	{ "rope_factor", "rope_scaling.factor", F32, POS, NULL, 0 },
	{ "rope_orig", "rope_scaling.original_max_position_embeddings", U32, 0, NULL, 0 },
	{ "ext_factor", "rope_scaling.extrapolation_factor", F32, 0, NULL, 0 },
	{ "beta_fast", "rope_scaling.beta_fast", F32, 0, NULL, 0 },
	{ "beta_slow", "rope_scaling.beta_slow", F32, 0, NULL, 0 },
};

static const struct gg_hparam vision_hp[] = {
	{ "layers", "num_hidden_layers", U32, REQ, NULL, 0 },
	{ "hidden", "hidden_size", U32, REQ, NULL, 0 },
	{ "intermediate", "intermediate_size", U32, REQ, NULL, 0 },
	{ "heads", "num_attention_heads", U32, REQ, NULL, 0 },
	{ "image_size", "image_size", U32, REQ, NULL, 0 },
	{ "patch_size", "patch_size", U32, REQ, NULL, 0 },
	{ "channels", "num_channels", U32, 0, NULL, 3 },
	{ "norm_eps", "layer_norm_eps", F32, POS, NULL, 1e-6 },
};

/* llama.cpp's gemma3 loader (src/models/gemma3.cpp). */
static const struct gg_tsym syms[] = {
	GG_TSYMS_HEADS,
	{ "n_ff", "feed_forward_length", NULL },
	{ "n_vocab", "@tokens", NULL },
};

static const struct gg_trule rules[] = {
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL },
	{ "output_norm.weight", "n_embd", 0, NULL },
	{ "output.weight", "n_embd, n_vocab", GG_T_OPTIONAL, NULL },
	{ "blk.#.attn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.attn_q.weight", "n_embd, head_dim*n_head", 0, NULL },
	{ "blk.#.attn_k.weight", "n_embd, head_dim*n_head_kv", 0, NULL },
	{ "blk.#.attn_v.weight", "n_embd, head_dim*n_head_kv", 0, NULL },
	{ "blk.#.attn_output.weight", "head_dim*n_head, n_embd", 0, NULL },
	{ "blk.#.post_attention_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.attn_k_norm.weight", "head_dim", 0, NULL },
	{ "blk.#.attn_q_norm.weight", "head_dim", 0, NULL },
	{ "blk.#.ffn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.ffn_gate.weight", "n_embd, n_ff", 0, NULL },
	{ "blk.#.ffn_up.weight", "n_embd, n_ff", 0, NULL },
	{ "blk.#.ffn_down.weight", "n_ff, n_embd", 0, NULL },
	{ "blk.#.post_ffw_norm.weight", "n_embd", 0, NULL },
};

static const struct gg_tensor_spec spec = GG_TENSOR_SPEC("gemma3", "n_layer", syms, rules);

/* The ollama profile: the same names (and v.*, mm.* in its one file), any
 * shape, since Ollama's file keeps what Ollama writes even where llama.cpp
 * refuses the shapes; but a tensor no rule maps is refused there too. */
static const struct gg_tsym ollama_syms[] = { { "n_layer", "block_count", NULL } };

static const struct gg_trule ollama_rules[] = {
	{ "token_embd.weight", NULL, 0, NULL },
	{ "output_norm.weight", NULL, 0, NULL },
	{ "output.weight", NULL, GG_T_OPTIONAL, NULL },
	{ "blk.#.attn_norm.weight", NULL, 0, NULL },
	{ "blk.#.attn_q.weight", NULL, 0, NULL },
	{ "blk.#.attn_k.weight", NULL, 0, NULL },
	{ "blk.#.attn_v.weight", NULL, 0, NULL },
	{ "blk.#.attn_output.weight", NULL, 0, NULL },
	{ "blk.#.post_attention_norm.weight", NULL, 0, NULL },
	{ "blk.#.attn_k_norm.weight", NULL, 0, NULL },
	{ "blk.#.attn_q_norm.weight", NULL, 0, NULL },
	{ "blk.#.ffn_norm.weight", NULL, 0, NULL },
	{ "blk.#.ffn_gate.weight", NULL, 0, NULL },
	{ "blk.#.ffn_up.weight", NULL, 0, NULL },
	{ "blk.#.ffn_down.weight", NULL, 0, NULL },
	{ "blk.#.post_ffw_norm.weight", NULL, 0, NULL },
	{ "v.*", NULL, GG_T_OPTIONAL, NULL },
	{ "mm.*", NULL, GG_T_OPTIONAL, NULL },
};

static const struct gg_tensor_spec ollama_spec =
	GG_TENSOR_SPEC("gemma3", "n_layer", ollama_syms, ollama_rules);

static const char dropped_notice[] =
	"gemma3: tokens past the embedding rows dropped (llama.cpp refuses a vocabulary longer than the embedding)";

struct gemma3 {
	struct gg_build *b;
	enum gg_profile p;
	const cJSON *text;      /* config.json or its text_config */
	const char *prefix;     /* "" or "text_config." */
	struct gg_hp hp, vision;
	bool multimodal;
	uint32_t rows;          /* embedding rows */
};

static bool is_vision(const char *name)
{
	return gg_has_prefix(name, "v.") || gg_has_prefix(name, "mm.");
}

/* Text-model norms (and the projector's soft_emb_norm) hold w, used as
 * (1 + w): Ollama's rule, which covers the same tensors as llama.cpp's. */
static bool adds_one(const char *name)
{
	return !gg_has_prefix(name, "v.") && gg_has_suffix(name, "_norm.weight");
}

/* ---- KVs ---------------------------------------------------------------- */

static void write_llamacpp_kv(const struct gemma3 *g, struct gguf_kvs *kv)
{
	const struct gg_hp *hp = &g->hp;
	gg_hp_write_kv(hp, kv, ARCH);
	if (gg_hp_u32(hp, "swa_pattern") != 1 && gg_hp_given(hp, "n_swa"))
		gg_kv_arch_u32(kv, ARCH, "attention.sliding_window", gg_hp_u32(hp, "n_swa"));
	const char *type = gg_hp_str(hp, "rope_type");
	if (type && !strcmp(type, "linear") && gg_hp_given(hp, "rope_factor")) {
		gg_kv_arch_str(kv, ARCH, "rope.scaling.type", "linear");
		gg_kv_arch_f32(kv, ARCH, "rope.scaling.factor", gg_hp_f32(hp, "rope_factor"));
	}
}

/* A number of a config object, 0 when absent (Go's zero value). */
static double num(const cJSON *obj, const char *key)
{
	const cJSON *v = obj ? cJSON_GetObjectItem(obj, key) : NULL;
	return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : 0;
}

static double or_num(double a, double b)
{
	return a != 0 ? a : b;
}

/* Ollama's head counts: fixed for the 4B, 12B and 27B layer counts, else
 * the config's top level (where Gemma3ForConditionalGeneration has none). */
static void ollama_heads(const struct gemma3 *g, uint32_t layers, struct gguf_kvs *kv)
{
	static const uint32_t known[][3] = { { 34, 8, 4 }, { 48, 16, 8 }, { 62, 32, 16 } };
	uint32_t h = (uint32_t)num(g->b->config, "num_attention_heads");
	uint32_t hkv = (uint32_t)num(g->b->config, "num_key_value_heads");
	for (size_t i = 0; i < COUNT(known); i++)
		if (layers == known[i][0])
			h = known[i][1], hkv = known[i][2];
	gg_kv_arch_u32(kv, ARCH, "attention.head_count", h);
	gg_kv_arch_u32(kv, ARCH, "attention.head_count_kv", hkv);
}

/* The sliding window pattern Ollama writes for Gemma3ForCausalLM. */
static void ollama_pattern(const struct gemma3 *g, uint32_t layers, struct gguf_kvs *kv)
{
	const cJSON *types = cJSON_GetObjectItem(g->text, "layer_types");
	const cJSON *pat = cJSON_GetObjectItem(g->text, "sliding_window_pattern");
	int n = cJSON_IsArray(types) ? cJSON_GetArraySize(types) : 0;
	bool has_pat = pat && !cJSON_IsNull(pat);
	if (!n && !has_pat)
		return;
	uint32_t period = cJSON_IsNumber(pat) && pat->valuedouble > 0 ? (uint32_t)pat->valuedouble : 0;
	uint8_t *local = gg_calloc(layers ? layers : 1, 1);
	for (uint32_t i = 0; i < layers; i++) {
		const cJSON *t = (int)i < n ? cJSON_GetArrayItem(types, (int)i) : NULL;
		if ((int)i < n)
			local[i] = cJSON_IsString(t) && !strcmp(t->valuestring, "sliding_attention");
		else if (period)
			local[i] = (i + 1) % period != 0;
	}
	gguf_kvs_set_arr(kv, ARCH ".attention.sliding_window_pattern", GGUF_VT_BOOL, local, layers);
	free(local);
}

static void write_ollama_kv(const struct gemma3 *g, struct gguf_kvs *kv)
{
	const struct gg_hp *hp = &g->hp;
	const cJSON *c = g->b->config, *t = g->text;
	uint32_t layers = gg_hp_u32(hp, "n_layer");
	gg_kv_arch_u32(kv, ARCH, "block_count", layers);
	ollama_heads(g, layers, kv);
	gg_kv_arch_u32(kv, ARCH, "embedding_length", gg_hp_u32(hp, "n_embd"));
	gg_kv_arch_u32(kv, ARCH, "feed_forward_length", gg_hp_u32(hp, "n_ff"));
	gg_kv_arch_u32(kv, ARCH, "attention.sliding_window", (uint32_t)num(t, "sliding_window"));
	if (!g->multimodal) {
		gg_kv_arch_u32(kv, ARCH, "context_length", (uint32_t)num(c, "max_position_embeddings"));
		gg_kv_arch_f32(kv, ARCH, "attention.layer_norm_rms_epsilon", (float)num(c, "rms_norm_eps"));
		gg_kv_arch_u32(kv, ARCH, "attention.key_length", (uint32_t)num(c, "head_dim"));
		gg_kv_arch_u32(kv, ARCH, "attention.value_length", (uint32_t)num(c, "head_dim"));
		ollama_pattern(g, layers, kv);
		if (num(c, "final_logit_softcapping") > 0)
			gg_kv_arch_f32(kv, ARCH, "final_logit_softcapping", (float)num(c, "final_logit_softcapping"));
		gg_kv_arch_f32(kv, ARCH, "rope.local.freq_base", (float)or_num(num(c, "rope_local_base_freq"), 10000));
		gg_kv_arch_f32(kv, ARCH, "rope.freq_base", (float)or_num(num(c, "rope_theta"), 1e6));
		const char *type = gg_hp_str(hp, "rope_type");
		if (type && !strcmp(type, "yarn") && gg_hp_f32(hp, "rope_factor") > 0) {
			gg_kv_arch_str(kv, ARCH, "rope.scaling.type", "yarn");
			gg_kv_arch_f32(kv, ARCH, "rope.scaling.factor", gg_hp_f32(hp, "rope_factor"));
			gg_kv_arch_u32(kv, ARCH, "rope.scaling.original_context_length", gg_hp_u32(hp, "rope_orig"));
			gg_kv_arch_f32(kv, ARCH, "rope.scaling.extrapolation_factor", (float)or_num(gg_hp_f32(hp, "ext_factor"), 1));
			gg_kv_arch_f32(kv, ARCH, "rope.scaling.beta_fast", (float)or_num(gg_hp_f32(hp, "beta_fast"), 64));
			gg_kv_arch_f32(kv, ARCH, "rope.scaling.beta_slow", (float)or_num(gg_hp_f32(hp, "beta_slow"), 1));
		}
	} else {
		const struct gg_hp *v = &g->vision;
		gg_kv_arch_u32(kv, ARCH, "context_length", (uint32_t)or_num(num(c, "max_position_embeddings"), 131072));
		gg_kv_arch_u32(kv, ARCH, "vision.block_count", gg_hp_u32(v, "layers"));
		gg_kv_arch_u32(kv, ARCH, "vision.embedding_length", gg_hp_u32(v, "hidden"));
		gg_kv_arch_u32(kv, ARCH, "vision.feed_forward_length", gg_hp_u32(v, "intermediate"));
		gg_kv_arch_u32(kv, ARCH, "vision.image_size", gg_hp_u32(v, "image_size"));
		gg_kv_arch_u32(kv, ARCH, "vision.patch_size", gg_hp_u32(v, "patch_size"));
		gg_kv_arch_u32(kv, ARCH, "vision.num_channels", gg_hp_u32(v, "channels"));
		gg_kv_arch_u32(kv, ARCH, "vision.attention.head_count", gg_hp_u32(v, "heads"));
		gg_kv_arch_f32(kv, ARCH, "vision.attention.layer_norm_epsilon", gg_hp_f32(v, "norm_eps"));
		gg_kv_arch_u32(kv, ARCH, "attention.key_length", (uint32_t)or_num(num(t, "head_dim"), 256));
		gg_kv_arch_u32(kv, ARCH, "attention.value_length", (uint32_t)or_num(num(t, "head_dim"), 256));
	}
	if (num(c, "mm_tokens_per_image") > 0)
		gg_kv_arch_u32(kv, ARCH, "mm.tokens_per_image", (uint32_t)num(c, "mm_tokens_per_image"));
}

/* ---- mmproj.gguf (profile llamacpp) ----------------------------------- */

static int write_clip_kv(struct gemma3 *g, struct gg_outfile *mm)
{
	const struct gg_hp *v = &g->vision;
	struct gg_clip c = {
		.projector = "gemma3", .image_size = gg_hp_u32(v, "image_size"),
		.patch_size = gg_hp_u32(v, "patch_size"), .hidden = gg_hp_u32(v, "hidden"),
		.intermediate = gg_hp_u32(v, "intermediate"), .layers = gg_hp_u32(v, "layers"),
		.heads = gg_hp_u32(v, "heads"), .projection_dim = gg_hp_u32(&g->hp, "n_embd"),
		.norm_eps = gg_hp_f32(v, "norm_eps"),
	};
	double seq_len;
	if (gg_clip_write_kv(g->b->dir, &c, mm->kvs, &seq_len, g->b->e))
		return -1;
	/* patches per side over tokens per side (image_seq_length, 256 by
	 * default): 4 for every released size; llama.cpp's converter writes
	 * it only when it is not. */
	uint32_t per_side = (uint32_t)sqrt(or_num(seq_len, 256));
	uint32_t scale = per_side ? c.image_size / c.patch_size / per_side : 0;
	if (scale > 0 && scale != 4)
		gguf_kvs_set_u32(mm->kvs, "clip.vision.projector.scale_factor", scale);
	return 0;
}

/* ---- tensors ------------------------------------------------------------ */

static int add_one(struct gemma3 *g, struct gg_outfile *f, struct gg_outfile *mm,
		   const char *name, const struct st_tensor *st)
{
	gg_err *e = g->b->e;
	if (is_vision(name) && mm) {
		char *clip = gg_rename(&clip_renames, name);
		/* convert_hf_to_gguf keeps the embeddings in F32 */
		enum gg_type t = strstr(st->name, ".embeddings.") ? GG_TYPE_F32 :
				 gg_ollama_kind(name, st->ndim, st->dtype);
		struct gg_tensor *out = gg_outfile_add_source(mm, clip, t, st, e);
		if (out && adds_one(clip))
			out->op = GG_OP_ADD_ONE;
		free(clip);
		return out ? 0 : -1;
	}
	if (!strcmp(name, "token_embd.weight") && g->p != GG_PROFILE_LLAMACPP && st->ndim == 2) {
		/* Ollama cuts the embedding to its vocabulary when longer. */
		const struct gguf_kv *tk = gguf_kvs_get(f->kvs, "tokenizer.ggml.tokens");
		uint64_t n = tk ? tk->arr_n : 0;
		if (n && st->shape[0] > n) {
			uint64_t shape[2] = { n, st->shape[1] };
			struct gg_view v;
			gg_view_init(&v, st->shape, 2);
			if (gg_view_slice(&v, 0, 0, n, e))
				return -1;
			return gg_outfile_add_view(f, name, gg_ollama_kind(name, 2, st->dtype), shape, 2, st, &v, e) ? 0 : -1;
		}
	}
	struct gg_tensor *out = gg_outfile_add_source(f, name, gg_ollama_kind(name, st->ndim, st->dtype), st, e);
	if (out && adds_one(name))
		out->op = GG_OP_ADD_ONE;
	return out ? 0 : -1;
}

static int add_tensors(struct gemma3 *g, struct gg_outfile *f, struct gg_outfile *mm)
{
	struct gg_replacer *rp = gg_replacer_new(&renames);
	int rc = 0;
	for (size_t i = 0; i < g->b->st->ntensors && rc == 0; i++) {
		const struct st_tensor *st = &g->b->st->tensors[i];
		/* redundant tensors of the tiny test models, skipped by llama.cpp */
		if (mm && strstr(st->name, "vision_model.head."))
			continue;
		char *name = gg_replacer_apply(rp, st->name);
		rc = add_one(g, f, mm, name, st);
		free(name);
	}
	gg_replacer_free(rp);
	return rc;
}

/* ---- the build ---------------------------------------------------------- */

/* The numbers the ollama profile reads as Ollama does (absent: 0). NaN or
 * Infinity there (Go's JSON decoder refuses them) would silently become 0:
 * refused, with jsonutil's message. */
static int ollama_finite(const struct gemma3 *g)
{
	static const char *const keys[] = {
		"num_attention_heads", "num_key_value_heads", "max_position_embeddings", "rms_norm_eps",
		"head_dim", "final_logit_softcapping", "rope_local_base_freq", "rope_theta",
		"sliding_window", "mm_tokens_per_image",
	};
	const cJSON *objs[] = { g->b->config, g->text };
	for (size_t o = 0; o < COUNT(objs); o++)
		for (size_t k = 0; k < COUNT(keys); k++) {
			const cJSON *v = cJSON_GetObjectItem(objs[o], keys[k]);
			double d = 0;
			if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
				return gg_json_f64(objs[o], keys[k], &d, g->b->config_path, g->b->e);
		}
	return 0;
}

static int read_config(struct gemma3 *g)
{
	struct gg_build *b = g->b;
	const cJSON *tc = cJSON_GetObjectItem(b->config, "text_config");
	g->multimodal = !strcmp(b->model->arch->hf_arch, "Gemma3ForConditionalGeneration");
	g->text = g->multimodal && cJSON_IsObject(tc) ? tc : b->config;
	g->prefix = g->text == b->config ? "" : "text_config.";
	if (gg_hp_read(&g->hp, text_hp, COUNT(text_hp), g->text, b->config_path, g->prefix, g->p, b->e))
		return -1;
	if (g->p != GG_PROFILE_LLAMACPP && ollama_finite(g)) {
		gg_hp_free(&g->hp);
		return -1;
	}
	if (!g->multimodal)
		return 0;
	const cJSON *vc = cJSON_GetObjectItem(b->config, "vision_config");
	if (gg_hp_read(&g->vision, vision_hp, COUNT(vision_hp), vc, b->config_path, "vision_config.", g->p, b->e)) {
		gg_hp_free(&g->hp);
		return -1;
	}
	return 0;
}

static int embedding_rows(struct gemma3 *g)
{
	const char *names[] = { "model.embed_tokens.weight", "language_model.model.embed_tokens.weight" };
	for (size_t i = 0; i < COUNT(names); i++) {
		const struct st_tensor *st = st_set_find(g->b->st, names[i]);
		if (st && st->ndim == 2 && st->shape[0] > 0 && st->shape[0] <= UINT32_MAX) {
			g->rows = (uint32_t)st->shape[0];
			return 0;
		}
	}
	return gg_fail(g->b->e, "%s: no embed_tokens.weight of [vocab, hidden]", g->b->dir);
}

/* The llamacpp vocabulary: SentencePiece from tokenizer.model, else built
 * from tokenizer.json; no leading space either way (Gemma). */
static int llamacpp_vocab(struct gemma3 *g, struct gguf_kvs *kv)
{
	char *model = gg_path_join(g->b->dir, "tokenizer.model");
	bool spm = gg_file_exists(model);
	free(model);
	uint32_t dropped = 0;
	if (tok_llamacpp_apply(g->b->dir, spm ? TOK_STYLE_SPM_MODEL : TOK_STYLE_SPM_JSON, g->rows,
			       kv, &dropped, g->b->e))
		return -1;
	gguf_kvs_set_bool(kv, "tokenizer.ggml.add_space_prefix", false);
	if (dropped)
		g->b->model->notice = dropped_notice;
	return 0;
}

static int build(struct gemma3 *g)
{
	struct gg_build *b = g->b;
	bool split = g->p == GG_PROFILE_LLAMACPP && g->multimodal;
	/* Add both files first: adding one may move the other. */
	gg_model_add_file(b->model, "model.gguf");
	if (split)
		gg_model_add_file(b->model, "mmproj.gguf");
	struct gg_outfile *f = &b->model->files[0], *mm = split ? &b->model->files[1] : NULL;
	if (embedding_rows(g) || gg_build_base_kv(b, f, ARCH, NULL, 0))
		return -1;
	if (g->p == GG_PROFILE_LLAMACPP) {
		if (llamacpp_vocab(g, f->kvs))
			return -1;
		write_llamacpp_kv(g, f->kvs);
	} else {
		write_ollama_kv(g, f->kvs);
	}
	if (mm && write_clip_kv(g, mm))
		return -1;
	if (add_tensors(g, f, mm))
		return -1;
	/* Ollama's file is what Ollama writes, even where llama.cpp refuses
	 * it (a vocabulary one longer than the embedding, head counts of 0). */
	gg_model_set_spec(b->model, 0, g->p == GG_PROFILE_LLAMACPP ? &spec : &ollama_spec, g->p);
	return 0;
}

static int build_gemma3(struct gg_build *b)
{
	struct gemma3 g = { .b = b, .p = b->opt->profile };
	if (read_config(&g))
		return -1;
	int rc = build(&g);
	gg_hp_free(&g.hp);
	if (g.multimodal)
		gg_hp_free(&g.vision);
	return rc;
}

const struct gg_arch gg_arch_gemma3 = {
	.hf_arch = "Gemma3ForCausalLM",
	.gguf_arch = ARCH,
	.notes = "norms stored as w + 1; tokenizer.json-only vocabularies become SentencePiece ones llama.cpp tokenizes like HF",
	.build = build_gemma3,
};

const struct gg_arch gg_arch_gemma3mm = {
	.hf_arch = "Gemma3ForConditionalGeneration",
	.gguf_arch = ARCH,
	.notes = "llamacpp profile: text model.gguf + clip mmproj.gguf (projector gemma3); ollama profile: one file",
	.build = build_gemma3,
};
