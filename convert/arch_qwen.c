/* arch_qwen.c - Qwen2ForCausalLM (qwen2), Qwen3ForCausalLM (qwen3) and
 * Qwen3MoeForCausalLM (qwen3moe).
 *
 * Semantics: Ollama's convert_qwen2.go for Qwen2 (the ollama profile), and
 * convert_hf_to_gguf's Qwen2Model / Qwen3Model / Qwen3MoeModel with what
 * llama.cpp's loaders require (src/models/qwen2.cpp, qwen3.cpp,
 * qwen3moe.cpp) for the llamacpp profile. NEOX rope: no Q/K permutation.
 * Ollama has no converter for Qwen3 or Qwen3-MoE (convert.go's switch): its
 * profile gives the llamacpp output and says so.
 */
#include "lm.h"

#include <stdio.h>
#include <string.h>

#include "jsonutil.h"
#include "hparam_abbrev.h"

static const char *const qwen2_pairs[] = {
	"lm_head", "output",
	"model.embed_tokens", "token_embd",
	"model.layers", "blk",
	"input_layernorm", "attn_norm",
	"self_attn.k_proj", "attn_k",
	"self_attn.v_proj", "attn_v",
	"self_attn.q_proj", "attn_q",
	"self_attn.o_proj", "attn_output",
	"mlp.down_proj", "ffn_down",
	"mlp.gate_proj", "ffn_gate",
	"mlp.up_proj", "ffn_up",
	"post_attention_layernorm", "ffn_norm",
	"model.norm", "output_norm",
};
static const struct gg_renames qwen2_renames = GG_RENAMES(NULL, qwen2_pairs);

static const char *const qwen3_pairs[] = {
	"self_attn.q_norm", "attn_q_norm",
	"self_attn.k_norm", "attn_k_norm",
};
static const struct gg_renames qwen3_renames = GG_RENAMES(&qwen2_renames, qwen3_pairs);

/* "mlp.gate_proj" comes first (qwen2_pairs), so this matches the router only. */
static const char *const qwen3moe_pairs[] = {
	"mlp.gate", "ffn_gate_inp",
};
static const struct gg_renames qwen3moe_renames = GG_RENAMES(&qwen3_renames, qwen3moe_pairs);

static const struct gg_stack_rule qwen3moe_experts[] = {
	{ "model.layers.#.mlp.experts.#.gate_proj.weight", "blk.%u.ffn_gate_exps.weight" },
	{ "model.layers.#.mlp.experts.#.up_proj.weight", "blk.%u.ffn_up_exps.weight" },
	{ "model.layers.#.mlp.experts.#.down_proj.weight", "blk.%u.ffn_down_exps.weight" },
};

#define CPP GG_HP_LLAMACPP

/* qwen2Model.KV writes every key even when 0 (Go zero values); llama.cpp's
 * TextModel only what the config has. */
static const struct gg_hparam qwen_hparams[] = {
	{ "n_layer", "num_hidden_layers", U32, REQ | ALW, "block_count", 0 },
	{ "n_ctx", "max_position_embeddings", U32, REQ | ALW, "context_length", 0 },
	{ "n_embd", "hidden_size", U32, REQ | ALW, "embedding_length", 0 },
	{ "n_ff", "intermediate_size", U32, REQ | ALW, "feed_forward_length", 0 },
	{ "n_head", "num_attention_heads", U32, REQ | ALW, "attention.head_count", 0 },
	{ "n_head_kv", "num_key_value_heads", U32, POS | ALW | OLL, "attention.head_count_kv", 0 },
	{ "n_head_kv", "num_key_value_heads", U32, POS | CPP, "attention.head_count_kv", 0 },
	{ "rope_theta", "rope_theta", F32, POS | ALW | OLL, "rope.freq_base", 0 },
	{ "rope_theta", "rope_theta|rope_parameters.rope_theta", F32, POS | CPP, "rope.freq_base", 0 },
	{ "rms_eps", "rms_norm_eps", F32, REQ | POS | ALW, "attention.layer_norm_rms_epsilon", 0 },
	{ "rope_scaling.type", "rope_scaling.type", STR, OLL, NULL, 0 },
	{ "rope_scaling.type", "rope_scaling.rope_type|rope_scaling.type", STR, CPP, NULL, 0 },
	{ "rope_scaling.factor", "rope_scaling.factor", F32, POS | CPP, NULL, 0 },
	{ "rope_scaling.original_max_position_embeddings",
	  "rope_scaling.original_max_position_embeddings", U32, POS | CPP, NULL, 0 },
	{ "rope_scaling.extrapolation_factor", "rope_scaling.extrapolation_factor", F32, CPP, NULL, 0 },
	{ "rope_scaling.attention_factor", "rope_scaling.attention_factor|rope_scaling.attn_factor",
	  F32, CPP, NULL, 0 },
	{ "rope_scaling.beta_fast", "rope_scaling.beta_fast", F32, CPP, NULL, 0 },
	{ "rope_scaling.beta_slow", "rope_scaling.beta_slow", F32, CPP, NULL, 0 },
};

/* Qwen2: the config's head_dim when it has one (llama.cpp's converter
 * writes it; its qwen2 loader then needs it to be hidden / heads). */
static const struct gg_hparam qwen2_hparams[] = {
	{ "head_dim", "head_dim", U32, POS | CPP, "attention.key_length", 0 },
	{ "value_length", "head_dim", U32, CPP, "attention.value_length", 0 },
};

/* Qwen3Config's head_dim defaults to 128 whatever hidden / heads is. */
static const struct gg_hparam qwen3_hparams[] = {
	{ "head_dim", "head_dim", U32, POS | ALW, "attention.key_length", 128 },
	{ "value_length", "head_dim", U32, ALW, "attention.value_length", 128 },
};

static const struct gg_hparam qwen3moe_hparams[] = {
	{ "head_dim", "head_dim", U32, POS | ALW, "attention.key_length", 128 },
	{ "value_length", "head_dim", U32, ALW, "attention.value_length", 128 },
	{ "n_expert", "num_experts", U32, REQ, "expert_count", 0 },
	{ "n_expert_used", "num_experts_per_tok", U32, REQ, "expert_used_count", 0 },
	{ "n_ff_exp", "moe_intermediate_size", U32, REQ, "expert_feed_forward_length", 0 },
	/* Qwen3MoeConfig's defaults: no renormalisation, every layer sparse. */
	{ "norm_topk_prob", "norm_topk_prob", GG_HP_BOOL, 0, NULL, 0 },
	{ "decoder_sparse_step", "decoder_sparse_step", U32, 0, NULL, 1 },
};

static int read_qwen(struct gg_build *b, struct gg_hp *hp, enum gg_profile p)
{
	if (gg_hp_read(hp, qwen_hparams, sizeof qwen_hparams / sizeof *qwen_hparams,
		       b->config, b->config_path, "", p, b->e))
		return -1;
	if (gg_hp_given(hp, "n_head_kv") && gg_hp_divisible(hp, "n_head", "n_head_kv", b->e)) {
		gg_hp_free(hp);
		return -1;
	}
	return 0;
}

/* rope_scaling as each converter reads it. Ollama's qwen2Model types
 * rope_scaling.factor as a list (ropeFactor), so a config that gives a
 * number cannot be decoded there, and it panics on a type it does not
 * know; llama.cpp's TextModel writes linear and yarn (yarn needs the
 * original context length). */
static int check_rope(struct gg_build *b, const struct gg_hp *hp, enum gg_profile p)
{
	const char *type = gg_hp_str(hp, "rope_scaling.type");
	if (p != GG_PROFILE_LLAMACPP) {
		const cJSON *rs = NULL;
		if (gg_json_obj(b->config, "rope_scaling", &rs, b->config_path, b->e))
			return -1;
		const cJSON *factor = rs ? cJSON_GetObjectItem(rs, "factor") : NULL;
		if (factor && cJSON_IsNumber(factor))
			return gg_fail(b->e, "%s: rope_scaling.factor is a number, which Ollama's qwen2 converter cannot read (it expects a list): Ollama converts no file from this config (profile=llamacpp writes llama.cpp's yarn keys)",
				       b->config_path);
		if (type && strcmp(type, "yarn") && strcmp(type, "mrope") && strcmp(type, "default"))
			return gg_fail(b->e, "%s: rope_scaling.type '%s' makes Ollama's qwen2 converter panic (it knows yarn, mrope and default)",
				       b->config_path, type);
		const cJSON *sec = rs ? cJSON_GetObjectItem(rs, "mrope_section") : NULL;
		int k = 0;
		for (const cJSON *c = cJSON_IsArray(sec) ? sec->child : NULL; c; c = c->next, k++)
			if (!cJSON_IsNumber(c) || c->valuedouble != (double)(int32_t)c->valuedouble || k >= 16)
				return gg_fail(b->e, "%s: rope_scaling.mrope_section: expected up to 16 32-bit integers",
					       b->config_path);
		if (sec && !cJSON_IsNull(sec) && !cJSON_IsArray(sec))
			return gg_fail(b->e, "%s: rope_scaling.mrope_section: expected a list", b->config_path);
		return 0;
	}
	if (!type || strcmp(type, "default") == 0 || strcmp(type, "linear") == 0)
		return 0;
	if (strcmp(type, "yarn") != 0)
		return gg_fail(b->e, "%s: rope_scaling type '%s': llama.cpp's %s runs default, linear and yarn rope only",
			       b->config_path, type, "qwen");
	if (!gg_hp_given(hp, "rope_scaling.original_max_position_embeddings"))
		return gg_hp_refuse(hp, "rope_scaling.original_max_position_embeddings",
				    "is missing: yarn needs the original context length", b->e);
	return 0;
}

static void write_rope_kv(struct gguf_kvs *kv, const char *arch, const struct gg_hp *hp,
			  enum gg_profile p, const cJSON *config)
{
	const char *type = gg_hp_str(hp, "rope_scaling.type");
	if (!type)
		return;
	if (p != GG_PROFILE_LLAMACPP) {
		/* mrope / default: the section list (nil writes an empty one). */
		if (strcmp(type, "yarn") == 0) {
			gg_kv_arch_str(kv, arch, "rope.scaling.type", type);
			return;
		}
		const cJSON *rs = cJSON_GetObjectItem(config, "rope_scaling");
		const cJSON *sec = rs ? cJSON_GetObjectItem(rs, "mrope_section") : NULL;
		int32_t v[16];
		int n = 0;
		for (const cJSON *c = cJSON_IsArray(sec) ? sec->child : NULL; c && n < 16; c = c->next)
			v[n++] = (int32_t)c->valuedouble;
		char key[128];
		snprintf(key, sizeof key, "%s.rope.mrope_section", arch);
		gguf_kvs_set_arr(kv, key, GGUF_VT_I32, v, (uint64_t)n);
		return;
	}
	if (strcmp(type, "default") == 0 || !gg_hp_given(hp, "rope_scaling.factor"))
		return;
	gg_kv_arch_str(kv, arch, "rope.scaling.type", type);
	gg_kv_arch_f32(kv, arch, "rope.scaling.factor", gg_hp_f32(hp, "rope_scaling.factor"));
	if (strcmp(type, "yarn") != 0)
		return;
	gg_kv_arch_u32(kv, arch, "rope.scaling.original_context_length",
		       gg_hp_u32(hp, "rope_scaling.original_max_position_embeddings"));
	static const char *const yarn[][2] = {
		{ "rope_scaling.extrapolation_factor", "rope.scaling.yarn_ext_factor" },
		{ "rope_scaling.attention_factor", "rope.scaling.yarn_attn_factor" },
		{ "rope_scaling.beta_fast", "rope.scaling.yarn_beta_fast" },
		{ "rope_scaling.beta_slow", "rope.scaling.yarn_beta_slow" },
	};
	for (size_t i = 0; i < sizeof yarn / sizeof *yarn; i++)
		if (gg_hp_given(hp, yarn[i][0]))
			gg_kv_arch_f32(kv, arch, yarn[i][1], gg_hp_f32(hp, yarn[i][0]));
}

static int check_qwen(struct gg_build *b, const struct gg_hp *hp, enum gg_profile p)
{
	return check_rope(b, hp, p);
}

static void write_qwen_kv(const struct gg_build *b, struct gguf_kvs *kv, const char *arch,
			  const struct gg_hp *hp, enum gg_profile p)
{
	gg_hp_write_kv(hp, kv, arch);
	write_rope_kv(kv, arch, hp, p, b->config);
}

/* llama.cpp's qwen3moe always renormalises the top-k weights and has no
 * dense blocks; a config asking otherwise would run as something else. */
static int check_qwen3moe(struct gg_build *b, const struct gg_hp *hp, enum gg_profile p)
{
	if (!gg_hp_bool(hp, "norm_topk_prob"))
		return gg_fail(b->e, "%s: norm_topk_prob is %s: llama.cpp's qwen3moe always renormalises the top-k expert weights, so it cannot run this model as written",
			       b->config_path, gg_hp_given(hp, "norm_topk_prob") ? "false" : "absent (false)");
	if (gg_hp_u32(hp, "decoder_sparse_step") != 1)
		return gg_hp_refuse(hp, "decoder_sparse_step",
				    "is not 1: llama.cpp's qwen3moe has no dense layers, so it cannot run this model as written", b->e);
	const cJSON *dense = cJSON_GetObjectItem(b->config, "mlp_only_layers");
	if (dense && !cJSON_IsNull(dense) && !(cJSON_IsArray(dense) && cJSON_GetArraySize(dense) == 0))
		return gg_fail(b->e, "%s: mlp_only_layers is not empty: llama.cpp's qwen3moe has no dense layers, so it cannot run this model as written",
			       b->config_path);
	if (gg_hp_u32(hp, "n_expert_used") > gg_hp_u32(hp, "n_expert"))
		return gg_hp_refuse(hp, "n_expert_used", "is more than num_experts", b->e);
	return check_qwen(b, hp, p);
}

/* ---- what llama.cpp's loaders create ---- */

static const struct gg_tsym qwen_syms[] = {
	GG_TSYMS_HEADS,
	{ "head_dim_v", "attention.value_length", "n_embd/n_head" },
	{ "n_ff", "feed_forward_length", NULL },
	{ "n_expert", "expert_count", NULL },
	{ "n_expert_used", "expert_used_count", NULL },
	{ "n_ff_exp", "expert_feed_forward_length", "n_ff/n_expert_used" },
	{ "n_vocab", "@tokens", NULL },
};

#define OPT GG_T_OPTIONAL
#define HEAD_RULES \
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL }, \
	{ "output_norm.weight", "n_embd", 0, NULL }, \
	{ "output.weight", "n_embd, n_vocab", OPT, NULL }, \
	{ "blk.#.attn_norm.weight", "n_embd", 0, NULL }, \
	{ "blk.#.ffn_norm.weight", "n_embd", 0, NULL }
#define DENSE_FFN_RULES \
	{ "blk.#.ffn_gate.weight", "n_embd, n_ff", 0, NULL }, \
	{ "blk.#.ffn_down.weight", "n_ff, n_embd", 0, NULL }, \
	{ "blk.#.ffn_up.weight", "n_embd, n_ff", 0, NULL }
#define QWEN3_ATTN_RULES \
	{ "blk.#.attn_q.weight", "n_embd, head_dim*n_head", 0, NULL }, \
	{ "blk.#.attn_k.weight", "n_embd, n_head_kv*head_dim_v", 0, NULL }, \
	{ "blk.#.attn_v.weight", "n_embd, n_head_kv*head_dim_v", 0, NULL }, \
	{ "blk.#.attn_output.weight", "head_dim*n_head, n_embd", 0, NULL }, \
	{ "blk.#.attn_q_norm.weight", "head_dim", 0, NULL }, \
	{ "blk.#.attn_k_norm.weight", "head_dim", 0, NULL }

/* src/models/qwen2.cpp: q and the output are n_embd wide. */
static const struct gg_trule qwen2_rules[] = {
	HEAD_RULES,
	{ "output.bias", "n_vocab", OPT, NULL },
	{ "blk.#.attn_q.weight", "n_embd, n_embd", 0, NULL },
	{ "blk.#.attn_k.weight", "n_embd, n_head_kv*head_dim_v", 0, NULL },
	{ "blk.#.attn_v.weight", "n_embd, n_head_kv*head_dim_v", 0, NULL },
	{ "blk.#.attn_q.bias", "n_embd", OPT, NULL },
	{ "blk.#.attn_k.bias", "n_head_kv*head_dim_v", OPT, NULL },
	{ "blk.#.attn_v.bias", "n_head_kv*head_dim_v", OPT, NULL },
	{ "blk.#.attn_output.weight", "n_embd, n_embd", 0, NULL },
	DENSE_FFN_RULES,
};
static const struct gg_tensor_spec qwen2_spec = GG_TENSOR_SPEC("qwen2", "n_layer", qwen_syms, qwen2_rules);

static const struct gg_trule qwen3_rules[] = { HEAD_RULES, QWEN3_ATTN_RULES, DENSE_FFN_RULES };
static const struct gg_tensor_spec qwen3_spec = GG_TENSOR_SPEC("qwen3", "n_layer", qwen_syms, qwen3_rules);

static const struct gg_trule qwen3moe_rules[] = {
	HEAD_RULES, QWEN3_ATTN_RULES,
	{ "blk.#.ffn_gate_inp.weight", "n_embd, n_expert", 0, NULL },
	{ "blk.#.ffn_gate_exps.weight", "n_embd, n_ff_exp, n_expert", 0, NULL },
	{ "blk.#.ffn_down_exps.weight", "n_ff_exp, n_embd, n_expert", 0, NULL },
	{ "blk.#.ffn_up_exps.weight", "n_embd, n_ff_exp, n_expert", 0, NULL },
};
static const struct gg_tensor_spec qwen3moe_spec =
	GG_TENSOR_SPEC("qwen3moe", "n_layer", qwen_syms, qwen3moe_rules);

/* ---- the three converters ---- */

#define COUNT(a) (sizeof(a) / sizeof *(a))
#define NO_OLLAMA(cls) \
	cls ": Ollama's converter has no case for this architecture; profile=ollama gives the llamacpp output"

static const struct gg_lm qwen2 = {
	.arch = "qwen2", .renames = &qwen2_renames,
	.read_hp = read_qwen, .hparams = qwen2_hparams, .nhparams = COUNT(qwen2_hparams),
	.check = check_qwen, .write_kv = write_qwen_kv, .spec = &qwen2_spec,
	.vocab = GG_LM_VOCAB_BPE,
};

static const struct gg_lm qwen3 = {
	.arch = "qwen3", .renames = &qwen3_renames,
	.read_hp = read_qwen, .hparams = qwen3_hparams, .nhparams = COUNT(qwen3_hparams),
	.check = check_qwen, .write_kv = write_qwen_kv, .spec = &qwen3_spec,
	.vocab = GG_LM_VOCAB_BPE, .no_ollama = NO_OLLAMA("Qwen3ForCausalLM"),
};

static const struct gg_lm qwen3moe = {
	.arch = "qwen3moe", .renames = &qwen3moe_renames,
	.read_hp = read_qwen, .hparams = qwen3moe_hparams, .nhparams = COUNT(qwen3moe_hparams),
	.check = check_qwen3moe, .write_kv = write_qwen_kv, .spec = &qwen3moe_spec,
	.stacks = qwen3moe_experts, .nstacks = COUNT(qwen3moe_experts), .n_experts = "n_expert",
	.vocab = GG_LM_VOCAB_BPE, .no_ollama = NO_OLLAMA("Qwen3MoeForCausalLM"),
};

static int build_qwen2(struct gg_build *b) { return gg_lm_build(b, &qwen2); }
static int build_qwen3(struct gg_build *b) { return gg_lm_build(b, &qwen3); }
static int build_qwen3moe(struct gg_build *b) { return gg_lm_build(b, &qwen3moe); }

const struct gg_arch gg_arch_qwen2 = {
	.hf_arch = "Qwen2ForCausalLM", .gguf_arch = "qwen2",
	.notes = "q/k/v biases, NEOX rope; Ollama's bytes in the ollama profile", .build = build_qwen2,
};

const struct gg_arch gg_arch_qwen3 = {
	.hf_arch = "Qwen3ForCausalLM", .gguf_arch = "qwen3",
	.notes = "per-head q/k norms; no Ollama converter (ollama profile = llamacpp output)",
	.build = build_qwen3,
};

const struct gg_arch gg_arch_qwen3moe = {
	.hf_arch = "Qwen3MoeForCausalLM", .gguf_arch = "qwen3moe",
	.notes = "experts stacked in numeric order; no Ollama converter (ollama profile = llamacpp output)",
	.build = build_qwen3moe,
};
