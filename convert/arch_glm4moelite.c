/* arch_glm4moelite.c - Glm4MoeLiteForCausalLM (GLM-4.7-Flash).
 *
 * A DeepSeek-V3-shaped model: Multi-head Latent Attention and a sigmoid-
 * gated mixture of experts with shared experts. Written as Ollama's current
 * converter writes it (arch "deepseek2", which upstream llama.cpp loads), or
 * with -o profile=ollama-legacy in the first published Ollama dialect
 * (arch "glm4moelite", per-head key lengths, reversed *_mla keys).
 *
 * Three transforms, all lazy views (plan.h), none materialised:
 *  - per-expert tensors blk.N.mlp.experts.E.{gate,up,down}_proj.weight are
 *    stacked in numeric expert order into blk.N.ffn_*_exps.weight;
 *  - attn_kv_b [H*(nope+v), kv_lora] (or its transpose) becomes attn_k_b
 *    [H, kv_lora, nope] and attn_v_b [H, v, kv_lora];
 *  - layers >= num_hidden_layers (the multi-token-prediction layer) are
 *    dropped.
 */
#include "model.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hparams.h"
#include "stack.h"
#include "typerules.h"
#include "hparam_abbrev.h"

static const char *const glm_pairs[] = {
	"lm_head", "output",
	"model.embed_tokens", "token_embd",
	"model.norm", "output_norm",
	"model.layers", "blk",
	"input_layernorm", "attn_norm",
	"self_attn.kv_a_proj_with_mqa", "attn_kv_a_mqa",
	"self_attn.kv_a_layernorm", "attn_kv_a_norm",
	"self_attn.kv_b_proj", "attn_kv_b",
	"self_attn.q_a_proj", "attn_q_a",
	"self_attn.q_a_layernorm", "attn_q_a_norm",
	"self_attn.q_b_proj", "attn_q_b",
	"self_attn.o_proj", "attn_output",
	"post_attention_layernorm", "ffn_norm",
	"mlp.shared_experts.down_proj", "ffn_down_shexp",
	"mlp.shared_experts.gate_proj", "ffn_gate_shexp",
	"mlp.shared_experts.up_proj", "ffn_up_shexp",
	"mlp.gate_proj", "ffn_gate",
	"mlp.down_proj", "ffn_down",
	"mlp.up_proj", "ffn_up",
	"mlp.gate.e_score_correction_bias", "exp_probs_b.bias",
	"mlp.gate", "ffn_gate_inp",
};
static const struct gg_renames glm_renames = GG_RENAMES(NULL, glm_pairs);

/* Per-expert projections, stacked in numeric expert order. */
static const struct gg_stack_rule glm_experts[] = {
	{ "model.layers.#.mlp.experts.#.gate_proj.weight", "blk.%u.ffn_gate_exps.weight" },
	{ "model.layers.#.mlp.experts.#.up_proj.weight", "blk.%u.ffn_up_exps.weight" },
	{ "model.layers.#.mlp.experts.#.down_proj.weight", "blk.%u.ffn_down_exps.weight" },
};

static const struct gg_hparam glm_hparams[] = {
	{ "n_layer", "num_hidden_layers", U32, REQ | ALW, "block_count", 0 },
	{ "n_ctx", "max_position_embeddings", U32, REQ | ALW, "context_length", 0 },
	{ "n_embd", "hidden_size", U32, REQ | ALW, "embedding_length", 0 },
	{ "n_ff", "intermediate_size", U32, ALW, "feed_forward_length", 0 },
	{ "n_head", "num_attention_heads", U32, REQ | ALW, "attention.head_count", 0 },
	{ "n_head_kv", "num_key_value_heads", U32, POS, NULL, 0 },
	{ "kv_lora", "kv_lora_rank", U32, REQ | ALW, "attention.kv_lora_rank", 0 },
	{ "q_lora", "q_lora_rank", U32, ALW, "attention.q_lora_rank", 0 },
	{ "nope", "qk_nope_head_dim", U32, REQ, NULL, 0 },
	{ "rope", "qk_rope_head_dim", U32, REQ | ALW, "rope.dimension_count", 0 },
	{ "v_dim", "v_head_dim", U32, REQ, NULL, 0 },
	{ "rms_eps", "rms_norm_eps", F32, REQ | POS | ALW, "attention.layer_norm_rms_epsilon", 0 },
	{ "n_expert", "n_routed_experts", U32, REQ | ALW, "expert_count", 0 },
	{ "n_expert_shared", "n_shared_experts", U32, ALW, "expert_shared_count", 0 },
	{ "n_expert_used", "num_experts_per_tok", U32, REQ | ALW, "expert_used_count", 0 },
	{ "n_ff_exp", "moe_intermediate_size", U32, REQ | ALW, "expert_feed_forward_length", 0 },
	{ "norm_topk", "norm_topk_prob", GG_HP_BOOL, ALW, "expert_weights_norm", 0 },
	{ "scale", "routed_scaling_factor", F32, ALW, "expert_weights_scale", 0 },
	{ "n_dense", "first_k_dense_replace", U32, ALW, "leading_dense_block_count", 0 },
	/* Newer configs keep theta only in rope_parameters; llama.cpp reads it
	 * there, Ollama does not; both fall back to 1e6. */
	{ "rope_theta", "rope_theta|rope_parameters.rope_theta", F32, POS | ALW | GG_HP_LLAMACPP,
	  "rope.freq_base", 1e6 },
	{ "rope_theta", "rope_theta", F32, POS | ALW | GG_HP_OLLAMA, "rope.freq_base", 1e6 },
	{ "n_group", "n_group", U32, 0, NULL, 1 },
	{ "topk_group", "topk_group", U32, 0, NULL, 1 },
};

/* Keys both dialects write beyond the table. */
static void put_common_kv(struct gguf_kvs *kv, const char *a, const struct gg_hp *hp)
{
	gg_hp_write_kv(hp, kv, a);
	gg_kv_arch_u32(kv, a, "expert_gating_func", 2); /* sigmoid; the config has no scoring_func */
	gguf_kvs_set_str(kv, "general.type", "model");
	gguf_kvs_set_str(kv, "tokenizer.ggml.pre", "glm4");
}

/* The current dialect: llama.cpp's MLA convention. The cache holds one
 * latent "head" of kv_lora (+ rope for keys); *_mla are the per-head sizes
 * after decompression. eot/eom come from the generation_config eos list. */
static void put_deepseek2_kv(struct gguf_kvs *kv, const struct gg_hp *hp)
{
	const char *a = "deepseek2";
	uint32_t lora = gg_hp_u32(hp, "kv_lora"), rope = gg_hp_u32(hp, "rope");
	put_common_kv(kv, a, hp);
	gg_kv_arch_u32(kv, a, "attention.head_count_kv", 1);
	gg_kv_arch_u32(kv, a, "attention.key_length", lora + rope);
	gg_kv_arch_u32(kv, a, "attention.value_length", lora);
	gg_kv_arch_u32(kv, a, "attention.key_length_mla", gg_hp_u32(hp, "nope") + rope);
	gg_kv_arch_u32(kv, a, "attention.value_length_mla", gg_hp_u32(hp, "v_dim"));
	gg_kv_arch_u32(kv, a, "expert_group_count", gg_hp_u32(hp, "n_group"));
	gg_kv_arch_u32(kv, a, "expert_group_used_count", gg_hp_u32(hp, "topk_group"));
	const struct gguf_kv *ids = gguf_kvs_get(kv, "tokenizer.ggml.eos_token_ids");
	if (!ids || ids->type != GGUF_VT_ARRAY || ids->arr_type != GGUF_VT_I32)
		return;
	const int32_t *v = ids->arr;
	if (ids->arr_n >= 2 && v[1] >= 0)
		gguf_kvs_set_u32(kv, "tokenizer.ggml.eot_token_id", (uint32_t)v[1]);
	if (ids->arr_n >= 3 && v[2] >= 0)
		gguf_kvs_set_u32(kv, "tokenizer.ggml.eom_token_id", (uint32_t)v[2]);
}

/* Ollama 64737330a: per-head lengths, and *_mla the other way round. Its
 * tokenizer code wrote add_<t>_token (false unless set) for every special
 * token it kept; the current code writes it only when the config sets it. */
static void put_legacy_kv(struct gguf_kvs *kv, const struct gg_hp *hp)
{
	const char *a = "glm4moelite";
	uint32_t lora = gg_hp_u32(hp, "kv_lora"), rope = gg_hp_u32(hp, "rope");
	put_common_kv(kv, a, hp);
	gg_kv_arch_u32(kv, a, "attention.head_count_kv", gg_hp_u32(hp, "n_head_kv"));
	gg_kv_arch_u32(kv, a, "attention.key_length", gg_hp_u32(hp, "nope") + rope);
	gg_kv_arch_u32(kv, a, "attention.value_length", gg_hp_u32(hp, "v_dim"));
	gg_kv_arch_u32(kv, a, "attention.key_length_mla", lora + rope);
	gg_kv_arch_u32(kv, a, "attention.value_length_mla", lora);
	static const char *const keys[] = { "bos", "eos", "unknown", "seperator",
					    "padding", "cls", "mask" };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char id[96], add[96];
		snprintf(id, sizeof id, "tokenizer.ggml.%s_token_id", keys[i]);
		snprintf(add, sizeof add, "tokenizer.ggml.add_%s_token", keys[i]);
		if (gguf_kvs_get(kv, id) && !gguf_kvs_get(kv, add))
			gguf_kvs_set_bool(kv, add, false);
	}
}

/* ---- attn_kv_b -> attn_k_b, attn_v_b ---- */

/* k_b = per head, the nope rows transposed: [H, kv_lora, nope];
 * v_b = per head, the v rows: [H, v, kv_lora]. On the transposed source
 * [kv_lora, H*(nope+v)] the same elements are reached by other strides. */
static int kvb_views(const struct st_tensor *st, bool transposed, uint64_t heads,
		     uint64_t nope, uint64_t vd, struct gg_view *k, struct gg_view *v,
		     gg_err *e)
{
	int hd = transposed ? 1 : 0; /* the dim that holds H*(nope+v) */
	gg_view_init(k, st->shape, 2);
	if (gg_view_split(k, hd, heads, e))
		return -1;
	/* standard: [H, nope+v, L]; transposed: [L, H, nope+v] */
	*v = *k;
	int inner = transposed ? 2 : 1;
	if (gg_view_slice(k, inner, 0, nope, e) || gg_view_slice(v, inner, nope, vd, e))
		return -1;
	if (transposed)
		return gg_view_swap(k, 0, 1, e) || gg_view_swap(v, 0, 1, e) ||
		       gg_view_swap(v, 1, 2, e) ? -1 : 0;
	return gg_view_swap(k, 1, 2, e);
}

static int split_kvb(struct gg_build *b, struct gg_outfile *f, const char *name,
		     const struct st_tensor *st, const struct gg_hp *hp)
{
	uint64_t nope = gg_hp_u32(hp, "nope"), vd = gg_hp_u32(hp, "v_dim");
	uint64_t per_head = nope + vd, lora = gg_hp_u32(hp, "kv_lora");
	if (st->ndim != 2)
		return gg_fail(b->e, "%s: tensor %s: cannot split a %d-D kv_b", b->dir,
			       st->name, st->ndim);
	/* Which side is kv_lora? Ollama tests the transposed layout first;
	 * llama.cpp assumes the nn.Linear one. They differ only when both
	 * dims equal kv_lora_rank. */
	bool std_ok = st->shape[1] == lora, tr_ok = st->shape[0] == lora;
	bool transposed = b->opt->profile == GG_PROFILE_LLAMACPP ? !std_ok && tr_ok : tr_ok;
	uint64_t rows = transposed ? st->shape[1] : st->shape[0];
	if ((!std_ok && !tr_ok) || rows % per_head || rows == 0)
		return gg_fail(b->e, "%s: tensor %s: shape [%llu, %llu] is not [H*(%llu+%llu), %llu] or its transpose",
			       b->dir, st->name, (unsigned long long)st->shape[0],
			       (unsigned long long)st->shape[1], (unsigned long long)nope,
			       (unsigned long long)vd, (unsigned long long)lora);
	uint64_t heads = rows / per_head;
	struct gg_view k, v;
	if (kvb_views(st, transposed, heads, nope, vd, &k, &v, b->e))
		return -1;
	enum gg_type type = gg_ollama_kind(name, 2, st->dtype);
	size_t stem = strlen(name) - strlen("attn_kv_b.weight");
	char kname[256], vname[256];
	snprintf(kname, sizeof kname, "%.*sattn_k_b.weight", (int)stem, name);
	snprintf(vname, sizeof vname, "%.*sattn_v_b.weight", (int)stem, name);
	uint64_t kshape[3] = { heads, lora, nope };
	uint64_t vshape[3] = { heads, vd, lora };
	return gg_outfile_add_view(f, kname, type, kshape, 3, st, &k, b->e) &&
	       gg_outfile_add_view(f, vname, type, vshape, 3, st, &v, b->e) ? 0 : -1;
}

/* ---- what llama.cpp's deepseek2 loader creates (src/models/deepseek2.cpp) ---- */

static const struct gg_tsym ds2_syms[] = {
	{ "n_layer", "block_count", NULL },
	{ "n_embd", "embedding_length", NULL },
	{ "n_head", "attention.head_count", NULL },
	{ "n_vocab", "@tokens", NULL },
	{ "q_lora", "attention.q_lora_rank", NULL },
	{ "kv_lora", "attention.kv_lora_rank", NULL },
	{ "rope", "rope.dimension_count", NULL },
	{ "head_k_mla", "attention.key_length_mla", NULL },
	{ "head_v_mla", "attention.value_length_mla", NULL },
	{ "n_ff", "feed_forward_length", NULL },
	{ "n_expert", "expert_count", NULL },
	{ "n_ff_exp", "expert_feed_forward_length", NULL },
	{ "n_shared", "expert_shared_count", NULL },
	{ "n_dense", "leading_dense_block_count", NULL },
};

#define OPT GG_T_OPTIONAL
#define DENSE "layer < n_dense"
#define MOE "layer >= n_dense"

static const struct gg_trule ds2_rules[] = {
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL },
	{ "output_norm.weight", "n_embd", 0, NULL },
	{ "output.weight", "n_embd, n_vocab", OPT, NULL },
	{ "blk.#.attn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.attn_q_a_norm.weight", "q_lora", 0, "q_lora > 0" },
	{ "blk.#.attn_kv_a_norm.weight", "kv_lora", 0, NULL },
	{ "blk.#.attn_q_a.weight", "n_embd, q_lora", 0, "q_lora > 0" },
	{ "blk.#.attn_q_b.weight", "q_lora, n_head*head_k_mla", 0, "q_lora > 0" },
	{ "blk.#.attn_q.weight", "n_embd, n_head*head_k_mla", 0, "q_lora == 0" },
	{ "blk.#.attn_kv_a_mqa.weight", "n_embd, kv_lora+rope", 0, NULL },
	{ "blk.#.attn_k_b.weight", "head_k_mla-rope, kv_lora, n_head", 0, NULL },
	{ "blk.#.attn_v_b.weight", "kv_lora, head_v_mla, n_head", 0, NULL },
	{ "blk.#.attn_output.weight", "n_head*head_v_mla, n_embd", 0, NULL },
	{ "blk.#.ffn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.ffn_gate.weight", "n_embd, n_ff", 0, DENSE },
	{ "blk.#.ffn_down.weight", "n_ff, n_embd", 0, DENSE },
	{ "blk.#.ffn_up.weight", "n_embd, n_ff", 0, DENSE },
	{ "blk.#.ffn_gate_inp.weight", "n_embd, n_expert", 0, MOE },
	{ "blk.#.exp_probs_b.bias", "n_expert", OPT, MOE },
	{ "blk.#.ffn_down_exps.weight", "n_ff_exp, n_embd, n_expert", 0, MOE },
	{ "blk.#.ffn_gate_exps.weight", "n_embd, n_ff_exp, n_expert", 0, MOE },
	{ "blk.#.ffn_up_exps.weight", "n_embd, n_ff_exp, n_expert", 0, MOE },
	{ "blk.#.ffn_gate_shexp.weight", "n_embd, n_ff_exp*n_shared", 0, MOE },
	{ "blk.#.ffn_down_shexp.weight", "n_ff_exp*n_shared, n_embd", 0, MOE },
	{ "blk.#.ffn_up_shexp.weight", "n_embd, n_ff_exp*n_shared", 0, MOE },
};

static const struct gg_tensor_spec ds2_spec = GG_TENSOR_SPEC("deepseek2", "n_layer", ds2_syms, ds2_rules);

/* ---- tensors ---- */

/* One non-expert source tensor: the MTP layer (blocks >= num_hidden_layers)
 * is dropped, kv_b split, the rest renamed. */
static int add_one(struct gg_build *b, struct gg_outfile *f, const struct gg_hp *hp,
		   const struct gg_replacer *rp, const struct st_tensor *st)
{
	char *name = gg_replacer_apply(rp, st->name);
	int blk = gg_tensor_block(name);
	int rc = 0;
	if (blk >= 0 && blk != INT_MAX && (uint32_t)blk >= gg_hp_u32(hp, "n_layer"))
		rc = 0;
	else if (gg_has_suffix(name, ".attn_kv_b.weight"))
		rc = split_kvb(b, f, name, st, hp);
	else if (!gg_outfile_add_source(f, name, gg_ollama_kind(name, st->ndim, st->dtype),
					st, b->e))
		rc = -1;
	free(name);
	return rc;
}

static int add_tensors(struct gg_build *b, struct gg_outfile *f, const struct gg_hp *hp,
		       struct gg_stacker *stk)
{
	struct gg_replacer *rp = gg_replacer_new(&glm_renames);
	int rc = 0;
	for (size_t i = 0; i < b->st->ntensors && rc == 0; i++) {
		const struct st_tensor *st = &b->st->tensors[i];
		int taken = gg_stacker_offer(stk, st, b->e);
		rc = taken < 0 ? -1 : taken ? 0 : add_one(b, f, hp, rp, st);
	}
	gg_replacer_free(rp);
	return rc ? -1 : gg_stacker_emit(stk, f, b->e);
}

static int build_glm4moelite(struct gg_build *b)
{
	struct gg_hp hp;
	if (gg_hp_read(&hp, glm_hparams, sizeof glm_hparams / sizeof *glm_hparams,
		       b->config, b->config_path, "", b->opt->profile, b->e))
		return -1;
	bool legacy = b->opt->profile == GG_PROFILE_OLLAMA_LEGACY;
	struct gg_outfile *f = gg_model_add_file(b->model, "model.gguf");
	struct gg_stacker *stk = NULL;
	int rc = gg_build_base_kv(b, f, legacy ? "glm4moelite" : "deepseek2", NULL, 0);
	if (rc == 0) {
		if (legacy)
			put_legacy_kv(f->kvs, &hp);
		else
			put_deepseek2_kv(f->kvs, &hp);
		stk = gg_stacker_new(glm_experts, 3, gg_hp_u32(&hp, "n_layer"),
				     gg_hp_u32(&hp, "n_expert"), "n_routed_experts", b->dir, b->e);
		rc = stk ? add_tensors(b, f, &hp, stk) : -1;
	}
	/* The first dialect has no llama.cpp loader to check against. */
	if (rc == 0 && !legacy)
		gg_model_set_spec(b->model, 0, &ds2_spec, b->opt->profile);
	gg_stacker_free(stk);
	gg_hp_free(&hp);
	return rc;
}

const struct gg_arch gg_arch_glm4moelite = {
	.hf_arch = "Glm4MoeLiteForCausalLM",
	.gguf_arch = "deepseek2",
	.notes = "loads in llama.cpp (deepseek2) and Ollama; profile=ollama-legacy gives arch glm4moelite",
	.build = build_glm4moelite,
};
