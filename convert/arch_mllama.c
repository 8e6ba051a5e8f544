/* arch_mllama.c - MllamaForConditionalGeneration (Llama 3.2 Vision).
 *
 * Semantics: Ollama's convert_mllama.go (dialects.md §3). No upstream
 * llama.cpp runtime knows the `mllama` architecture and it has no mllama
 * projector, so there is no loadable llama.cpp variant: both profiles give
 * Ollama's single file (text + vision + projector), and the model carries a
 * notice saying so. The llama helpers are therefore always called with the
 * ollama profile.
 */
#include "llama_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "typerules.h"

/* Ollama appends these to the llama list (mllamaModel.Replacements). The
 * order matters: gg_rename lets the earliest-listed match win, so the
 * longer gated_positional_embedding.* forms come before the bare one. */
static const char *const mllama_pairs[] = {
	"language_model.", "",
	"gate_attn", "attn_gate",
	"gate_ffn", "ffn_gate",
	"cross_attn.", "cross_attn_",
	"vision_model", "v",
	"class_embedding", "class_embd",
	"patch_embedding", "patch_embd",
	"gated_positional_embedding.tile_embedding", "tile_position_embd",
	"gated_positional_embedding.embedding", "position_embd.weight",
	"gated_positional_embedding", "position_embd",
	"embedding.weight", "weight",
	"pre_tile_positional_embedding", "pre_tile_position_embd",
	"post_tile_positional_embedding", "post_tile_position_embd",
	"layernorm_pre", "pre_ln",
	"layernorm_post", "post_ln",
	"global_transformer.layers", "global.blk",
	"transformer.layers", "blk",
	"mlp.fc1", "ffn_up",
	"mlp.fc2", "ffn_down",
	"multi_modal_projector", "mm.0",
};
static const struct gg_renames mllama_renames = GG_RENAMES(&llama_renames, mllama_pairs);

/* The vision_config fields, written even when 0 (Go writes the zero). */
static const struct gg_hparam mllama_vision[] = {
	{ "layers", "num_hidden_layers", GG_HP_U32, GG_HP_ALWAYS, "vision.block_count", 0 },
	{ "global_layers", "num_global_layers", GG_HP_U32, GG_HP_ALWAYS, "vision.global.block_count", 0 },
	{ "hidden", "hidden_size", GG_HP_U32, GG_HP_ALWAYS, "vision.embedding_length", 0 },
	{ "intermediate", "intermediate_size", GG_HP_U32, GG_HP_ALWAYS, "vision.feed_forward_length", 0 },
	{ "heads", "attention_heads", GG_HP_U32, GG_HP_ALWAYS | GG_HP_REQUIRED,
	  "vision.attention.head_count", 0 },
	{ "image_size", "image_size", GG_HP_U32, GG_HP_ALWAYS, "vision.image_size", 0 },
	{ "patch_size", "patch_size", GG_HP_U32, GG_HP_ALWAYS, "vision.patch_size", 0 },
	{ "max_num_tiles", "max_num_tiles", GG_HP_U32, GG_HP_ALWAYS, "vision.max_num_tiles", 0 },
	{ "num_channels", "num_channels", GG_HP_U32, GG_HP_ALWAYS, "vision.num_channels", 0 },
	{ "norm_eps", "norm_eps", GG_HP_F32, GG_HP_ALWAYS, "vision.attention.layer_norm_epsilon", 0 },
};

static const char *const notice =
	"mllama: no upstream llama.cpp runtime loads this architecture "
	"(unknown model architecture 'mllama', no mllama projector); "
	"both profiles give Ollama's single-file format";

static bool is_vision(const char *name)
{
	return strncmp(name, "v.", 2) == 0 || strncmp(name, "mm.", 3) == 0;
}

static bool skip_vision(const struct st_tensor *st, const char *name, void *arg)
{
	(void)st, (void)arg;
	return is_vision(name);
}

static bool skip_text(const struct st_tensor *st, const char *name, void *arg)
{
	(void)st, (void)arg;
	return !is_vision(name);
}

/* A Go []int32 field: absent or null is an empty array (a typed nil slice
 * still writes as ARR[INT32] of 0); anything but integers in range fails. */
static int put_i32_array(struct gguf_kvs *kv, const char *key, const cJSON *obj,
			 const char *field, const char *file, gg_err *e)
{
	const cJSON *a = obj ? cJSON_GetObjectItem(obj, field) : NULL;
	if (a && !cJSON_IsNull(a) && !cJSON_IsArray(a))
		return gg_fail(e, "%s: %s: expected an array of integers", file, field);
	int n = a && cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
	int32_t *v = gg_calloc((size_t)n + 1, sizeof *v);
	int i = 0;
	for (const cJSON *c = n ? a->child : NULL; c; c = c->next, i++) {
		double d = c->valuedouble;
		if (!cJSON_IsNumber(c) || d != floor(d) || d < INT32_MIN || d > INT32_MAX) {
			free(v);
			return gg_fail(e, "%s: %s[%d]: expected a 32-bit integer", file,
				       field, i);
		}
		v[i] = (int32_t)d;
	}
	gguf_kvs_set_arr(kv, key, GGUF_VT_I32, v, (uint64_t)n);
	free(v);
	return 0;
}

static int write_mllama_kv(struct gg_build *b, struct gguf_kvs *kv,
			   const cJSON *text, const cJSON *vision,
			   const struct gg_hp *hp, const struct gg_hp *vhp)
{
	llama_write_kv(kv, "mllama", hp, GG_PROFILE_OLLAMA);
	if (put_i32_array(kv, "mllama.attention.cross_attention_layers", text,
			  "cross_attention_layers", b->config_path, b->e) ||
	    put_i32_array(kv, "mllama.vision.intermediate_layers_indices", vision,
			  "intermediate_layers_indices", b->config_path, b->e))
		return -1;
	gg_hp_write_kv(vhp, kv, "mllama");
	return 0;
}

/* mllamaModel.repack on the vision tensors: the rotary permutation with the
 * vision head count on attn_q/attn_k, tanh on the gates, and the position
 * gate written twice (1 - tanh for the patch positions, tanh for tiles). */
static int transform_vision(struct gg_outfile *f, size_t first,
			    uint32_t heads, gg_err *e)
{
	size_t n = f->ntensors;
	for (size_t i = first; i < n; i++) {
		struct gg_tensor *t = &f->tensors[i];
		if (gg_has_suffix(t->name, "attn_q.weight") || gg_has_suffix(t->name, "attn_k.weight")) {
			if (gg_tensor_rotary(f, t, heads, "vision head", e))
				return -1;
		} else if (strcmp(t->name, "v.position_embd.gate") == 0) {
			t->op = GG_OP_ONE_MINUS_TANH;
			const struct st_tensor *st = t->srcs[0].st;
			/* May move f->tensors: t is not used after this. */
			struct gg_tensor *tile =
				gg_outfile_add_source(f, "v.tile_position_embd.gate", t->type, st, e);
			if (!tile)
				return -1;
			tile->op = GG_OP_TANH;
		} else if (strcmp(t->name, "v.pre_tile_position_embd.gate") == 0 ||
			   strcmp(t->name, "v.post_tile_position_embd.gate") == 0 ||
			   gg_has_suffix(t->name, "attn_gate") || gg_has_suffix(t->name, "ffn_gate")) {
			t->op = GG_OP_TANH;
		}
	}
	return 0;
}

static int add_tensors(struct gg_build *b, struct gg_outfile *f,
		       const struct gg_hp *hp, uint32_t vision_heads)
{
	/* Text first, so the llama Q/K rule (which also matches the vision
	 * attn_q/attn_k names) sees only text tensors; it permutes the
	 * cross-attention q/k projections too, as Ollama does. */
	if (gg_build_add_renamed(b, f, &mllama_renames, skip_vision, NULL) ||
	    llama_permute_qk(f, hp, GG_PROFILE_OLLAMA, b->e))
		return -1;
	size_t first_vision = f->ntensors;
	return gg_build_add_renamed(b, f, &mllama_renames, skip_text, NULL) ||
	       transform_vision(f, first_vision, vision_heads, b->e) ? -1 : 0;
}

static int build_files(struct gg_build *b, const cJSON *text, const cJSON *vision,
		       const struct gg_hp *hp, const struct gg_hp *vhp)
{
	b->model->notice = notice;
	struct gg_outfile *f = gg_model_add_file(b->model, "model.gguf");
	if (gg_build_base_kv(b, f, "mllama", NULL, 0) ||
	    write_mllama_kv(b, f->kvs, text, vision, hp, vhp) ||
	    llama_add_rope_freqs(f, hp, GG_PROFILE_OLLAMA, b->e))
		return -1;
	return add_tensors(b, f, hp, gg_hp_u32(vhp, "heads"));
}

static int build_mllama(struct gg_build *b)
{
	const cJSON *text = NULL, *vision = NULL;
	if (gg_json_obj(b->config, "text_config", &text, b->config_path, b->e) ||
	    gg_json_obj(b->config, "vision_config", &vision, b->config_path, b->e))
		return -1;
	if (!text)
		return gg_fail(b->e, "%s: MllamaForConditionalGeneration needs a text_config object",
			       b->config_path);
	/* No llama.cpp runtime: Ollama's rules in both profiles. */
	struct gg_hp hp, vhp;
	if (llama_hp_read(&hp, text, b->config_path, "text_config.", GG_PROFILE_OLLAMA, b->e))
		return -1;
	if (gg_hp_read(&vhp, mllama_vision, sizeof mllama_vision / sizeof *mllama_vision,
		       vision, b->config_path, "vision_config.", GG_PROFILE_OLLAMA, b->e)) {
		gg_hp_free(&hp);
		return -1;
	}
	int rc = build_files(b, text, vision, &hp, &vhp);
	gg_hp_free(&hp);
	gg_hp_free(&vhp);
	return rc;
}

const struct gg_arch gg_arch_mllama = {
	.hf_arch = "MllamaForConditionalGeneration",
	.gguf_arch = "mllama",
	.notes = "Ollama format only (both profiles): no llama.cpp runtime loads mllama",
	.no_upstream = true,
	.build = build_mllama,
};
