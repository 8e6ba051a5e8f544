/* arch_llama4.c - Llama4ForConditionalGeneration.
 *
 * Semantics: Ollama's convert_llama4.go (dialects.md §2). The text tower is
 * Llama's (llama_common.h, keys read from text_config and written as
 * llama4.*, no Q/K permutation) plus fused experts, which are views:
 *   gate_up_proj [E, hidden, 2I] -> slice the last dim in halves, swap the
 *   last two dims -> ffn_gate_exps / ffn_up_exps [E, I, hidden];
 *   down_proj [E, I, hidden] -> swap the last two dims -> ffn_down_exps.
 * Profile ollama puts the vision tower and projector in model.gguf as
 * Ollama does. Profile llamacpp moves them to mmproj.gguf in llama.cpp's
 * clip format (§2d), because upstream's text loader rejects extra tensors.
 */
#include "llama_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "jsonutil.h"
#include "typerules.h"
#include "hparam_abbrev.h"

/* The llama renames come first (llama_renames), then these. */
static const char *const llama4_pairs[] = {
	"language_model.", "",
	"vision_model", "v",
	"multi_modal_projector", "mm",
	"feed_forward.down_proj", "ffn_down",
	"feed_forward.up_proj", "ffn_up",
	"feed_forward.gate_proj", "ffn_gate",
	"feed_forward.", "ffn_",
	"shared_expert.down_proj", "down_shexp",
	"shared_expert.gate_proj", "gate_shexp",
	"shared_expert.up_proj", "up_shexp",
	"experts.down_proj", "down_exps.weight",
	"experts.gate_up_proj", "gate_up_exps.weight",
	"router", "gate_inp",
	"patch_embedding.linear", "patch_embedding",
};
static const struct gg_renames llama4_renames = GG_RENAMES(&llama_renames, llama4_pairs);

/* Ollama names -> llama.cpp clip names, as Ollama's llama/compat
 * handle_llama4_clip renames them for upstream's PROJECTOR_TYPE_LLAMA4.
 * The adapter pairs precede the generic .mlp.fc pairs so they win. */
static const char *const clip_pairs[] = {
	"v.positional_embedding_vlm", "v.position_embd.weight",
	"v.vision_adapter.mlp.fc1", "mm.model.mlp.1",
	"v.vision_adapter.mlp.fc2", "mm.model.mlp.2",
	"mm.linear_1", "mm.model.fc",
	"v.class_embedding", "v.class_embd",
	"v.layernorm_post", "v.post_ln",
	"v.layernorm_pre", "v.pre_ln",
	"v.patch_embedding", "v.patch_embd",
	".attn_output", ".attn_out",
	".attn_norm", ".ln1",
	".ffn_norm", ".ln2",
	".mlp.fc1", ".ffn_up",
	".mlp.fc2", ".ffn_down",
};
static const struct gg_renames clip_renames = GG_RENAMES(NULL, clip_pairs);

/* text_config fields beyond llamaModel's, written even when 0. */
static const struct gg_hparam llama4_text[] = {
	{ "n_expert_used", "num_experts_per_tok", U32, ALW, "expert_used_count", 0 },
	{ "n_expert", "num_local_experts", U32, ALW, "expert_count", 0 },
	{ "interleave", "interleave_moe_layer_step", U32, ALW, "interleave_moe_layer_step", 0 },
	{ "n_ff_mlp", "intermediate_size_mlp", U32, 0, NULL, 0 },
	{ "chunk", "attention_chunk_size", U32, ALW, "attention.chunk_size", 0 },
	{ "use_qk_norm", "use_qk_norm", GG_HP_BOOL, ALW, "use_qk_norm", 0 },
};

/* vision_config fields Ollama reads, written as llama4.vision.* even if 0. */
static const struct gg_hparam llama4_vision[] = {
	{ "layers", "num_hidden_layers", U32, ALW, "vision.block_count", 0 },
	{ "hidden", "hidden_size", U32, ALW, "vision.embedding_length", 0 },
	{ "intermediate", "intermediate_size", U32, ALW, "vision.feed_forward_length", 0 },
	{ "heads", "num_attention_heads", U32, ALW, "vision.attention.head_count", 0 },
	{ "image_size", "image_size", U32, ALW, "vision.image_size", 0 },
	{ "patch_size", "patch_size", U32, ALW, "vision.patch_size", 0 },
	{ "rope_theta", "rope_theta", F32, ALW, "vision.rope.freq_base", 0 },
	{ "norm_eps", "norm_eps", F32, ALW, "vision.layer_norm_epsilon", 0 },
	{ "pixel_shuffle_ratio", "pixel_shuffle_ratio", F32, ALW, "vision.pixel_shuffle_ratio", 0 },
	{ "hidden_act", "hidden_act", GG_HP_STR, 0, NULL, 0 },
};

struct llama4 {
	struct gg_build *b;
	struct gg_hp hp;     /* text_config: llama's table, then llama4_text */
	struct gg_hp vision; /* vision_config */
};

static int parse_config(struct llama4 *l)
{
	struct gg_build *b = l->b;
	const cJSON *tc = NULL, *vc = NULL;
	if (gg_json_obj(b->config, "text_config", &tc, b->config_path, b->e) ||
	    gg_json_obj(b->config, "vision_config", &vc, b->config_path, b->e))
		return -1;
	/* Absent sub-configs read as zeros, as Go's decoder leaves them. */
	if (llama_hp_read(&l->hp, tc, b->config_path, "text_config.", b->opt->profile, b->e))
		return -1;
	if (gg_hp_add(&l->hp, llama4_text, sizeof llama4_text / sizeof *llama4_text, b->e))
		return -1;
	return gg_hp_read(&l->vision, llama4_vision, sizeof llama4_vision / sizeof *llama4_vision,
			  vc, b->config_path, "vision_config.", b->opt->profile, b->e);
}

/* llama4.* beyond the llama keys (llama4Model.KV). */
static void write_llama4_kv(const struct llama4 *l, struct gguf_kvs *kv)
{
	gg_hp_write_kv(&l->vision, kv, "llama4");
	/* The dense MLP is intermediate_size_mlp; intermediate_size is the
	 * experts'. */
	gguf_kvs_set_u32(kv, "llama4.feed_forward_length", gg_hp_u32(&l->hp, "n_ff_mlp"));
	gguf_kvs_set_u32(kv, "llama4.expert_feed_forward_length", gg_hp_u32(&l->hp, "n_ff"));
}

static bool is_vision(const char *name)
{
	return gg_has_prefix(name, "v.") || gg_has_prefix(name, "mm.");
}

/* Experts are [E, a, b] with E the configured expert count; anything else
 * would make a file no runtime loads, so it is refused here by name. */
static int check_experts(const struct llama4 *l, const struct st_tensor *st)
{
	if (st->ndim != 3)
		return gg_fail(l->b->e, "%s: tensor %s: expected 3 dims [experts, in, out], got %d",
			       l->b->dir, st->name, st->ndim);
	uint32_t n_expert = gg_hp_u32(&l->hp, "n_expert");
	if (n_expert && st->shape[0] != n_expert)
		return gg_fail(l->b->e, "%s: tensor %s has %llu experts but text_config.num_local_experts is %u",
			       l->b->dir, st->name, (unsigned long long)st->shape[0], n_expert);
	return 0;
}

/* A tensor of the given PyTorch shape reading st through a view that
 * starts as st's own contiguous view; the caller reshapes the view. */
static struct gg_tensor *add_view(struct llama4 *l, struct gg_outfile *f,
				  const char *name, enum gg_type type,
				  const uint64_t *shape, const struct st_tensor *st)
{
	struct gg_view v;
	gg_view_init(&v, st->shape, st->ndim);
	return gg_outfile_add_view(f, name, type, shape, st->ndim, st, &v, l->b->e);
}

/* name with "ffn_gate_up_exps" replaced by part. */
static char *replace_part(const char *name, const char *part)
{
	static const char fused[] = "ffn_gate_up_exps";
	const char *hit = strstr(name, fused);
	size_t pre = (size_t)(hit - name);
	char *out = gg_malloc(strlen(name) + strlen(part) + 1);
	memcpy(out, name, pre);
	strcpy(out + pre, part);
	strcat(out, hit + strlen(fused));
	return out;
}

/* gate_up [E, hidden, 2I]: half i of the last dim, transposed to
 * [E, I, hidden]. Ollama: first half gate, second half up. */
static int add_gate_up(struct llama4 *l, struct gg_outfile *f, const char *name,
		       const struct st_tensor *st)
{
	static const char *const parts[2] = { "ffn_gate_exps", "ffn_up_exps" };
	if (check_experts(l, st))
		return -1;
	if (st->shape[2] % 2)
		return gg_fail(l->b->e, "%s: tensor %s: last dim %llu is odd, cannot split it into gate and up halves",
			       l->b->dir, st->name, (unsigned long long)st->shape[2]);
	uint64_t half = st->shape[2] / 2;
	uint64_t shape[3] = { st->shape[0], half, st->shape[1] };
	enum gg_type type = gg_ollama_kind(name, 3, st->dtype);
	for (int i = 0; i < 2; i++) {
		char *out = replace_part(name, parts[i]);
		struct gg_tensor *t = add_view(l, f, out, type, shape, st);
		free(out);
		if (!t || gg_view_slice(&t->view, 2, (uint64_t)i * half, half, l->b->e) ||
		    gg_view_swap(&t->view, 1, 2, l->b->e))
			return -1;
	}
	return 0;
}

/* down [E, I, hidden] -> [E, hidden, I]. */
static int add_down(struct llama4 *l, struct gg_outfile *f, const char *name,
		    const struct st_tensor *st)
{
	if (check_experts(l, st))
		return -1;
	uint64_t shape[3] = { st->shape[0], st->shape[2], st->shape[1] };
	struct gg_tensor *t = add_view(l, f, name, gg_ollama_kind(name, 3, st->dtype),
				       shape, st);
	return t ? gg_view_swap(&t->view, 1, 2, l->b->e) : -1;
}

static int add_plain(struct llama4 *l, struct gg_outfile *f, const char *name,
		     enum gg_type type, const struct st_tensor *st)
{
	return gg_outfile_add_source(f, name, type, st, l->b->e) ? 0 : -1;
}

/* One source tensor, renamed as Ollama does (name), to its output(s).
 * mm is the mmproj file in profile llamacpp, else NULL. */
static int add_tensor(struct llama4 *l, struct gg_outfile *f,
		      struct gg_outfile *mm, const char *name,
		      const struct st_tensor *st)
{
	/* Vision tensors keep Ollama's type (F16 2-D, F32 1-D and position
	 * embeddings) under either name. */
	enum gg_type kind = gg_ollama_kind(name, st->ndim, st->dtype);
	if (is_vision(name) && mm) {
		char *clip = gg_rename(&clip_renames, name);
		int rc = add_plain(l, mm, clip, kind, st);
		free(clip);
		return rc;
	}
	if (!is_vision(name) && strstr(name, "ffn_gate_up_exps"))
		return add_gate_up(l, f, name, st);
	if (!is_vision(name) && strstr(name, "ffn_down_exps"))
		return add_down(l, f, name, st);
	return add_plain(l, f, name, kind, st);
}

static int add_tensors(struct llama4 *l, struct gg_outfile *f,
		       struct gg_outfile *mm)
{
	struct gg_replacer *rp = gg_replacer_new(&llama4_renames);
	int rc = 0;
	for (size_t i = 0; i < l->b->st->ntensors && rc == 0; i++) {
		const struct st_tensor *st = &l->b->st->tensors[i];
		char *name = gg_replacer_apply(rp, st->name);
		rc = add_tensor(l, f, mm, name, st);
		free(name);
	}
	gg_replacer_free(rp);
	return rc;
}

/* ---- mmproj.gguf (profile llamacpp) ---- */

/* The KVs llama.cpp's Llama4VisionModel writes (dialects.md §2d). */
static int write_clip_kv(struct llama4 *l, struct gg_outfile *mm)
{
	const struct gg_hp *v = &l->vision;
	struct gguf_kvs *kv = mm->kvs;
	/* clip.use_gelu is only right for GELU; llama.cpp's converter asserts it. */
	const char *act = gg_hp_str(v, "hidden_act");
	if (act && strcmp(act, "gelu") != 0)
		return gg_fail(l->b->e, "%s: vision_config.hidden_act is '%s'; llama.cpp's llama4 projector needs gelu",
			       l->b->config_path, act);
	struct gg_clip c = {
		.projector = "llama4", .image_size = gg_hp_u32(v, "image_size"),
		.patch_size = gg_hp_u32(v, "patch_size"), .hidden = gg_hp_u32(v, "hidden"),
		.intermediate = gg_hp_u32(v, "intermediate"), .layers = gg_hp_u32(v, "layers"),
		.heads = gg_hp_u32(v, "heads"), .projection_dim = gg_hp_u32(&l->hp, "hidden_size"),
		.norm_eps = gg_hp_f32(v, "norm_eps"),
	};
	if (gg_clip_write_kv(l->b->dir, &c, kv, NULL, l->b->e))
		return -1;
	/* 1 / pixel_shuffle_ratio; 2 (Llama 4's) when unset, as the shim. */
	float ratio = gg_hp_f32(v, "pixel_shuffle_ratio");
	long scale = ratio > 0 ? lroundf(1.0f / ratio) : 2;
	gguf_kvs_set_u32(kv, "clip.vision.projector.scale_factor", scale > 0 ? (uint32_t)scale : 2);
	return 0;
}

/* ---- what llama.cpp's llama4 loader creates (src/models/llama4.cpp) ---- */

static const struct gg_tsym l4_syms[] = {
	GG_TSYMS_HEADS,
	{ "head_dim_v", "attention.value_length", "n_embd/n_head" },
	{ "n_rot", "rope.dimension_count", "head_dim" },
	{ "n_ff", "feed_forward_length", NULL },
	{ "n_ff_exp", "expert_feed_forward_length", NULL },
	{ "n_expert", "expert_count", NULL },
	{ "step", "interleave_moe_layer_step", NULL },
	{ "n_vocab", "@tokens", NULL },
};

#define OPT GG_T_OPTIONAL
#define MOE "layer % step == step - 1"
#define DENSE "layer % step != step - 1"

static const struct gg_trule l4_rules[] = {
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL },
	{ "output_norm.weight", "n_embd", 0, NULL },
	{ "output.weight", "n_embd, n_vocab", OPT, NULL },
	{ "rope_freqs.weight", "n_rot/2", OPT, NULL },
	{ "blk.#.attn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.attn_q.weight", "n_embd, n_head*head_dim", 0, NULL },
	{ "blk.#.attn_k.weight", "n_embd, n_head_kv*head_dim", 0, NULL },
	{ "blk.#.attn_v.weight", "n_embd, n_head_kv*head_dim_v", 0, NULL },
	{ "blk.#.attn_output.weight", "n_head*head_dim, n_embd", 0, NULL },
	{ "blk.#.ffn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.ffn_gate_inp.weight", "n_embd, n_expert", 0, MOE },
	{ "blk.#.ffn_gate_exps.weight", "n_embd, n_ff_exp, n_expert", 0, MOE },
	{ "blk.#.ffn_down_exps.weight", "n_ff_exp, n_embd, n_expert", 0, MOE },
	{ "blk.#.ffn_up_exps.weight", "n_embd, n_ff_exp, n_expert", 0, MOE },
	{ "blk.#.ffn_gate_shexp.weight", "n_embd, n_ff_exp", 0, MOE },
	{ "blk.#.ffn_down_shexp.weight", "n_ff_exp, n_embd", 0, MOE },
	{ "blk.#.ffn_up_shexp.weight", "n_embd, n_ff_exp", 0, MOE },
	{ "blk.#.ffn_gate.weight", "n_embd, n_ff", 0, DENSE },
	{ "blk.#.ffn_down.weight", "n_ff, n_embd", 0, DENSE },
	{ "blk.#.ffn_up.weight", "n_embd, n_ff", 0, DENSE },
	/* Ollama's one file carries the vision tower and projector (its
	 * runtime skips them); clip's loader checks mmproj.gguf's. */
	{ "v.*", NULL, OPT | GG_T_OLLAMA, NULL },
	{ "mm.*", NULL, OPT | GG_T_OLLAMA, NULL },
};

static const struct gg_tensor_spec l4_spec = GG_TENSOR_SPEC("llama4", "n_layer", l4_syms, l4_rules);

static bool any_vision(const struct st_set *st)
{
	for (size_t i = 0; i < st->ntensors; i++)
		if (gg_has_prefix(st->tensors[i].name, "vision_model") ||
		    gg_has_prefix(st->tensors[i].name, "multi_modal_projector"))
			return true;
	return false;
}

static int build_files(struct llama4 *l)
{
	struct gg_build *b = l->b;
	enum gg_profile p = b->opt->profile;
	/* Add both files first: adding one may move the other. */
	gg_model_add_file(b->model, "model.gguf");
	bool split = p == GG_PROFILE_LLAMACPP && any_vision(b->st);
	if (split)
		gg_model_add_file(b->model, "mmproj.gguf");
	struct gg_outfile *f = &b->model->files[0];
	struct gg_outfile *mm = split ? &b->model->files[1] : NULL;
	if (gg_build_base_kv(b, f, "llama4", NULL, 0))
		return -1;
	llama_write_kv(f->kvs, "llama4", &l->hp, p);
	write_llama4_kv(l, f->kvs);
	if (llama_add_rope_freqs(f, &l->hp, p, b->e))
		return -1;
	if (mm && write_clip_kv(l, mm))
		return -1;
	gg_model_set_spec(b->model, 0, &l4_spec, p);
	return add_tensors(l, f, mm);
}

static int build_llama4(struct gg_build *b)
{
	struct llama4 l = { .b = b };
	int rc = parse_config(&l) ? -1 : build_files(&l);
	gg_hp_free(&l.hp);
	gg_hp_free(&l.vision);
	return rc;
}

const struct gg_arch gg_arch_llama4 = {
	.hf_arch = "Llama4ForConditionalGeneration",
	.gguf_arch = "llama4",
	.notes = "llamacpp profile: text model.gguf + clip mmproj.gguf; ollama profile: one file",
	.build = build_llama4,
};
