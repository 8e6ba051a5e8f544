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

#include "jsonutil.h"

static const char *const glm_renames[] = {
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
#define GLM_NRENAMES (sizeof glm_renames / sizeof *glm_renames / 2)

/* The three expert projections, in the order they are emitted. */
static const char *const expert_kinds[] = { "gate", "up", "down" };
#define NKINDS 3

struct glm_hparams {
	uint32_t max_position_embeddings, hidden_size, num_hidden_layers,
		intermediate_size, num_attention_heads, num_key_value_heads,
		qk_nope_head_dim, qk_rope_head_dim, kv_lora_rank, q_lora_rank,
		v_head_dim, n_routed_experts, n_shared_experts,
		moe_intermediate_size, num_experts_per_tok,
		first_k_dense_replace, n_group, topk_group;
	float rms_norm_eps, rope_theta, routed_scaling_factor;
	bool norm_topk_prob;
};

static int glm_hparams_parse(const struct gg_build *b, struct glm_hparams *hp)
{
	memset(hp, 0, sizeof *hp);
	const struct { const char *key; uint32_t *dst; } u32s[] = {
		{ "max_position_embeddings", &hp->max_position_embeddings },
		{ "hidden_size", &hp->hidden_size },
		{ "num_hidden_layers", &hp->num_hidden_layers },
		{ "intermediate_size", &hp->intermediate_size },
		{ "num_attention_heads", &hp->num_attention_heads },
		{ "num_key_value_heads", &hp->num_key_value_heads },
		{ "qk_nope_head_dim", &hp->qk_nope_head_dim },
		{ "qk_rope_head_dim", &hp->qk_rope_head_dim },
		{ "kv_lora_rank", &hp->kv_lora_rank },
		{ "q_lora_rank", &hp->q_lora_rank },
		{ "v_head_dim", &hp->v_head_dim },
		{ "n_routed_experts", &hp->n_routed_experts },
		{ "n_shared_experts", &hp->n_shared_experts },
		{ "moe_intermediate_size", &hp->moe_intermediate_size },
		{ "num_experts_per_tok", &hp->num_experts_per_tok },
		{ "first_k_dense_replace", &hp->first_k_dense_replace },
		{ "n_group", &hp->n_group },
		{ "topk_group", &hp->topk_group },
	};
	const struct { const char *key; float *dst; } f32s[] = {
		{ "rms_norm_eps", &hp->rms_norm_eps },
		{ "rope_theta", &hp->rope_theta },
		{ "routed_scaling_factor", &hp->routed_scaling_factor },
	};
	for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++)
		if (gg_json_u32(b->config, u32s[i].key, u32s[i].dst, b->config_path, b->e))
			return -1;
	for (size_t i = 0; i < sizeof f32s / sizeof *f32s; i++)
		if (gg_json_f32(b->config, f32s[i].key, f32s[i].dst, b->config_path, b->e))
			return -1;
	if (gg_json_bool(b->config, "norm_topk_prob", &hp->norm_topk_prob,
			 b->config_path, b->e))
		return -1;
	/* Newer configs keep theta only in rope_parameters; llama.cpp reads it
	 * there, Ollama does not (and falls back to 1e6 below). */
	const cJSON *rp = NULL;
	if (b->opt->profile == GG_PROFILE_LLAMACPP && hp->rope_theta == 0 &&
	    (gg_json_obj(b->config, "rope_parameters", &rp, b->config_path, b->e) ||
	     gg_json_f32(rp, "rope_theta", &hp->rope_theta, b->config_path, b->e)))
		return -1;
	return 0;
}

static uint32_t or_u32(uint32_t a, uint32_t b)
{
	return a ? a : b;
}

/* Keys both dialects write with the same meaning (Ollama writes them even
 * when the config lacks them, as 0). */
static void put_common_kv(struct gguf_kvs *kv, const char *a, const struct glm_hparams *hp)
{
	gg_kv_arch_u32(kv, a, "block_count", hp->num_hidden_layers);
	gg_kv_arch_u32(kv, a, "context_length", hp->max_position_embeddings);
	gg_kv_arch_u32(kv, a, "embedding_length", hp->hidden_size);
	gg_kv_arch_u32(kv, a, "feed_forward_length", hp->intermediate_size);
	gg_kv_arch_u32(kv, a, "attention.head_count", hp->num_attention_heads);
	gg_kv_arch_u32(kv, a, "attention.kv_lora_rank", hp->kv_lora_rank);
	gg_kv_arch_u32(kv, a, "attention.q_lora_rank", hp->q_lora_rank);
	gg_kv_arch_f32(kv, a, "attention.layer_norm_rms_epsilon", hp->rms_norm_eps);
	gg_kv_arch_u32(kv, a, "expert_count", hp->n_routed_experts);
	gg_kv_arch_u32(kv, a, "expert_shared_count", hp->n_shared_experts);
	gg_kv_arch_u32(kv, a, "expert_used_count", hp->num_experts_per_tok);
	gg_kv_arch_u32(kv, a, "expert_feed_forward_length", hp->moe_intermediate_size);
	gg_kv_arch_u32(kv, a, "expert_gating_func", 2); /* sigmoid; the config has no scoring_func */
	gg_kv_arch_bool(kv, a, "expert_weights_norm", hp->norm_topk_prob);
	gg_kv_arch_f32(kv, a, "expert_weights_scale", hp->routed_scaling_factor);
	gg_kv_arch_u32(kv, a, "leading_dense_block_count", hp->first_k_dense_replace);
	gg_kv_arch_u32(kv, a, "rope.dimension_count", hp->qk_rope_head_dim);
	gg_kv_arch_f32(kv, a, "rope.freq_base", hp->rope_theta != 0 ? hp->rope_theta : 1e6f);
	gguf_kvs_set_str(kv, "general.type", "model");
	gguf_kvs_set_str(kv, "tokenizer.ggml.pre", "glm4");
}

/* The current dialect: llama.cpp's MLA convention. The cache holds one
 * latent "head" of kv_lora (+ rope for keys); *_mla are the per-head sizes
 * after decompression. eot/eom come from the generation_config eos list. */
static void put_deepseek2_kv(struct gguf_kvs *kv, const struct glm_hparams *hp)
{
	const char *a = "deepseek2";
	put_common_kv(kv, a, hp);
	gg_kv_arch_u32(kv, a, "attention.head_count_kv", 1);
	gg_kv_arch_u32(kv, a, "attention.key_length", hp->kv_lora_rank + hp->qk_rope_head_dim);
	gg_kv_arch_u32(kv, a, "attention.value_length", hp->kv_lora_rank);
	gg_kv_arch_u32(kv, a, "attention.key_length_mla", hp->qk_nope_head_dim + hp->qk_rope_head_dim);
	gg_kv_arch_u32(kv, a, "attention.value_length_mla", hp->v_head_dim);
	gg_kv_arch_u32(kv, a, "expert_group_count", or_u32(hp->n_group, 1));
	gg_kv_arch_u32(kv, a, "expert_group_used_count", or_u32(hp->topk_group, 1));
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
static void put_legacy_kv(struct gguf_kvs *kv, const struct glm_hparams *hp)
{
	const char *a = "glm4moelite";
	put_common_kv(kv, a, hp);
	gg_kv_arch_u32(kv, a, "attention.head_count_kv", hp->num_key_value_heads);
	gg_kv_arch_u32(kv, a, "attention.key_length", hp->qk_nope_head_dim + hp->qk_rope_head_dim);
	gg_kv_arch_u32(kv, a, "attention.value_length", hp->v_head_dim);
	gg_kv_arch_u32(kv, a, "attention.key_length_mla", hp->kv_lora_rank + hp->qk_rope_head_dim);
	gg_kv_arch_u32(kv, a, "attention.value_length_mla", hp->kv_lora_rank);
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

/* ---- classification of the (renamed) source tensors ---- */

struct glm_layout {
	const struct glm_hparams *hp;
	uint32_t n_experts;              /* experts per layer */
	const struct st_tensor **experts; /* [layer][kind][expert] */
};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* If name is "blk.<layer>.mlp.experts.<idx>.<kind>_proj.weight", the kind
 * (0..2) and index; -1 if it is not an expert tensor; -2 if it looks like
 * one but the index is not a plain decimal number. */
static int parse_expert(const char *name, int layer, uint32_t *idx)
{
	char prefix[64];
	int n = snprintf(prefix, sizeof prefix, "blk.%d.mlp.experts.", layer);
	if (strncmp(name, prefix, (size_t)n) != 0)
		return -1;
	const char *p = name + n;
	for (int k = 0; k < NKINDS; k++) {
		char suffix[32];
		snprintf(suffix, sizeof suffix, ".%s_proj.weight", expert_kinds[k]);
		if (!has_suffix(p, suffix))
			continue;
		size_t digits = strlen(p) - strlen(suffix);
		char *end = NULL;
		unsigned long v = strtoul(p, &end, 10);
		if (digits == 0 || digits > 9 || p[0] < '0' || p[0] > '9' ||
		    end != p + digits)
			return -2;
		*idx = (uint32_t)v;
		return k;
	}
	return -1;
}

/* ---- attn_kv_b -> attn_k_b, attn_v_b ---- */

/* k_b = per head, the nope rows transposed: [H, kv_lora, nope];
 * v_b = per head, the v rows: [H, v, kv_lora]. On the transposed source
 * [kv_lora, H*(nope+v)] the same elements are reached by other strides. */
static int kvb_views(const struct st_tensor *st, bool transposed, uint64_t heads,
		     const struct glm_hparams *hp, struct gg_view *k,
		     struct gg_view *v, gg_err *e)
{
	uint64_t nope = hp->qk_nope_head_dim, vd = hp->v_head_dim;
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

static int add_view_tensor(struct gg_build *b, struct gg_outfile *f, const char *name,
			   enum gg_type type, const uint64_t *shape,
			   const struct st_tensor *st, const struct gg_view *view)
{
	if (gg_outfile_find(f, name))
		return gg_fail(b->e, "%s: two tensors are both named '%s'", b->dir, name);
	struct gg_tensor *t = gg_outfile_add(f, name, type, shape, 3);
	t->srcs = gg_calloc(1, sizeof *t->srcs);
	t->nsrc = 1;
	t->srcs[0] = (struct gg_src){ .st = st, .type = st->dtype, .nelem = st->nelem };
	t->view = *view;
	return 0;
}

static int split_kvb(struct gg_build *b, struct gg_outfile *f, const char *name,
		     const struct st_tensor *st, const struct glm_hparams *hp)
{
	uint64_t per_head = (uint64_t)hp->qk_nope_head_dim + hp->v_head_dim;
	uint64_t lora = hp->kv_lora_rank;
	if (st->ndim != 2 || hp->qk_nope_head_dim == 0 || hp->v_head_dim == 0 || lora == 0)
		return gg_fail(b->e, "%s: tensor %s: cannot split a %d-D kv_b with qk_nope_head_dim %u, v_head_dim %u, kv_lora_rank %u",
			       b->dir, st->name, st->ndim, hp->qk_nope_head_dim,
			       hp->v_head_dim, hp->kv_lora_rank);
	/* Which side is kv_lora? Ollama tests the transposed layout first;
	 * llama.cpp assumes the nn.Linear one. They differ only when both
	 * dims equal kv_lora_rank. */
	bool std_ok = st->shape[1] == lora, tr_ok = st->shape[0] == lora;
	bool transposed = b->opt->profile == GG_PROFILE_LLAMACPP ? !std_ok && tr_ok : tr_ok;
	uint64_t rows = transposed ? st->shape[1] : st->shape[0];
	if ((!std_ok && !tr_ok) || rows % per_head)
		return gg_fail(b->e, "%s: tensor %s: shape [%llu, %llu] is not [H*(%u+%u), %u] or its transpose",
			       b->dir, st->name, (unsigned long long)st->shape[0],
			       (unsigned long long)st->shape[1], hp->qk_nope_head_dim,
			       hp->v_head_dim, hp->kv_lora_rank);
	uint64_t heads = rows / per_head;
	if (heads == 0)
		return gg_fail(b->e, "%s: tensor %s: empty kv_b", b->dir, st->name);
	struct gg_view k, v;
	if (kvb_views(st, transposed, heads, hp, &k, &v, b->e))
		return -1;
	enum gg_type type = gg_ollama_kind(name, 2, st->dtype);
	size_t stem = strlen(name) - strlen("attn_kv_b.weight");
	char kname[256], vname[256];
	snprintf(kname, sizeof kname, "%.*sattn_k_b.weight", (int)stem, name);
	snprintf(vname, sizeof vname, "%.*sattn_v_b.weight", (int)stem, name);
	uint64_t kshape[3] = { heads, lora, hp->qk_nope_head_dim };
	uint64_t vshape[3] = { heads, hp->v_head_dim, lora };
	return add_view_tensor(b, f, kname, type, kshape, st, &k) ||
	       add_view_tensor(b, f, vname, type, vshape, st, &v) ? -1 : 0;
}

/* ---- experts ---- */

static int collect_expert(struct gg_build *b, struct glm_layout *lay, int layer,
			  int kind, uint32_t idx, const struct st_tensor *st)
{
	if (kind == -2)
		return gg_fail(b->e, "%s: tensor %s: expert index is not a number", b->dir, st->name);
	if (idx >= lay->n_experts)
		return gg_fail(b->e, "%s: tensor %s: expert %u, but n_routed_experts is %u",
			       b->dir, st->name, idx, lay->n_experts);
	const struct st_tensor **slot =
		&lay->experts[((size_t)layer * NKINDS + (size_t)kind) * lay->n_experts + idx];
	if (*slot)
		return gg_fail(b->e, "%s: tensors %s and %s are the same expert", b->dir,
			       (*slot)->name, st->name);
	*slot = st;
	return 0;
}

/* Stack one layer's experts of one kind: [E, out, in], expert e at e. */
static int stack_experts(struct gg_build *b, struct gg_outfile *f,
			 const struct glm_layout *lay, uint32_t layer, int kind)
{
	const struct st_tensor **sts =
		&lay->experts[((size_t)layer * NKINDS + (size_t)kind) * lay->n_experts];
	uint32_t present = 0;
	for (uint32_t i = 0; i < lay->n_experts; i++)
		present += sts[i] != NULL;
	if (present == 0)
		return 0; /* a dense layer */
	for (uint32_t i = 0; i < lay->n_experts; i++)
		if (!sts[i])
			return gg_fail(b->e, "%s: layer %u: expert %u of %u has no %s_proj weight",
				       b->dir, layer, i, lay->n_experts, expert_kinds[kind]);
	if (sts[0]->ndim != 2)
		return gg_fail(b->e, "%s: tensor %s: expert weights must be 2-D", b->dir,
			       sts[0]->name);
	char name[96], member[128];
	snprintf(name, sizeof name, "blk.%u.ffn_%s_exps.weight", layer, expert_kinds[kind]);
	/* A merged tensor takes its first member's type (Ollama mergeTensors). */
	snprintf(member, sizeof member, "blk.%u.mlp.experts.0.%s_proj.weight", layer,
		 expert_kinds[kind]);
	if (gg_outfile_find(f, name))
		return gg_fail(b->e, "%s: two tensors are both named '%s'", b->dir, name);
	uint64_t shape[3] = { lay->n_experts, sts[0]->shape[0], sts[0]->shape[1] };
	struct gg_tensor *t = gg_outfile_add(f, name, gg_ollama_kind(member, 2, sts[0]->dtype),
					     shape, 3);
	return gg_tensor_set_stack(t, sts, lay->n_experts, b->e);
}

/* Digits at *p (at most 9), advancing p; -1 if none. */
static long parse_index(const char **p)
{
	const char *s = *p;
	long v = 0;
	int n = 0;
	while (*s >= '0' && *s <= '9' && n < 9)
		v = v * 10 + (*s++ - '0'), n++;
	if (n == 0 || (*s >= '0' && *s <= '9'))
		return -1;
	*p = s;
	return v;
}

/* The fast path for the ~9,000 expert tensors of the real checkpoint:
 * "model.layers.<n>.mlp.experts.<e>.<kind>_proj.weight" renames to
 * "blk.<n>.mlp.experts.<e>.<kind>_proj.weight" (no other rename pair can
 * match inside it), so its layer and expert are read off the source name
 * without running the replacer. -1 when the name is not of that form. */
static int expert_source(const char *name, long *layer, uint32_t *idx)
{
	static const char pre[] = "model.layers.";
	if (strncmp(name, pre, sizeof pre - 1) != 0)
		return -1;
	const char *p = name + sizeof pre - 1;
	long l = parse_index(&p);
	if (l < 0 || strncmp(p, ".mlp.experts.", 13) != 0)
		return -1;
	p += 13;
	long e = parse_index(&p);
	if (e < 0)
		return -1;
	for (int k = 0; k < NKINDS; k++) {
		char suffix[32];
		snprintf(suffix, sizeof suffix, ".%s_proj.weight", expert_kinds[k]);
		if (strcmp(p, suffix) == 0) {
			*layer = l, *idx = (uint32_t)e;
			return k;
		}
	}
	return -1;
}

static int add_one(struct gg_build *b, struct gg_outfile *f, struct glm_layout *lay,
		   const struct st_tensor *st)
{
	const uint32_t L = lay->hp->num_hidden_layers;
	long layer;
	uint32_t idx = 0;
	int kind = expert_source(st->name, &layer, &idx);
	if (kind >= 0)
		return (uint64_t)layer >= L ? 0 : collect_expert(b, lay, (int)layer, kind, idx, st);
	char *name = gg_rename(glm_renames, GLM_NRENAMES, st->name);
	int blk = gg_tensor_block(name);
	bool in_blk = blk >= 0 && blk != INT_MAX;
	int rc = 0;
	if (in_blk && (uint32_t)blk >= L)
		rc = 0; /* the MTP layer, and anything past it */
	else if (has_suffix(name, ".attn_kv_b.weight"))
		rc = split_kvb(b, f, name, st, lay->hp);
	else if (in_blk && (kind = parse_expert(name, blk, &idx)) != -1)
		rc = collect_expert(b, lay, blk, kind, idx, st);
	else if (gg_outfile_find(f, name))
		rc = gg_fail(b->e, "%s: two source tensors are both named '%s' after renaming",
			     b->dir, name);
	else
		gg_outfile_add_source(f, name, gg_ollama_kind(name, st->ndim, st->dtype), st);
	free(name);
	return rc;
}

static int add_tensors(struct gg_build *b, struct gg_outfile *f, struct glm_layout *lay)
{
	for (size_t i = 0; i < b->st->ntensors; i++)
		if (add_one(b, f, lay, &b->st->tensors[i]))
			return -1;
	for (uint32_t l = 0; l < lay->hp->num_hidden_layers; l++)
		for (int k = 0; k < NKINDS; k++)
			if (stack_experts(b, f, lay, l, k))
				return -1;
	return 0;
}

static int build_glm4moelite(struct gg_build *b)
{
	struct glm_hparams hp;
	if (glm_hparams_parse(b, &hp))
		return -1;
	bool legacy = b->opt->profile == GG_PROFILE_OLLAMA_LEGACY;
	struct gg_outfile *f = gg_model_add_file(b->model, "model.gguf");
	if (gg_build_base_kv(b, f, legacy ? "glm4moelite" : "deepseek2", NULL, 0))
		return -1;
	if (legacy)
		put_legacy_kv(f->kvs, &hp);
	else
		put_deepseek2_kv(f->kvs, &hp);

	/* The expert table is [layers][3][experts]; a config claiming
	 * absurd counts must not make it huge. */
	if (hp.num_hidden_layers > 65536 || hp.n_routed_experts > 65536 ||
	    (uint64_t)hp.num_hidden_layers * hp.n_routed_experts > (1u << 22))
		return gg_fail(b->e, "%s: num_hidden_layers %u x n_routed_experts %u is too large",
			       b->config_path, hp.num_hidden_layers, hp.n_routed_experts);
	struct glm_layout lay = { .hp = &hp, .n_experts = hp.n_routed_experts };
	lay.experts = gg_calloc((size_t)hp.num_hidden_layers * NKINDS * (hp.n_routed_experts + 1),
				sizeof *lay.experts);
	int rc = add_tensors(b, f, &lay);
	free(lay.experts);
	return rc;
}

const struct gg_arch gg_arch_glm4moelite = {
	.hf_arch = "Glm4MoeLiteForCausalLM",
	.gguf_arch = "deepseek2",
	.notes = "loads in llama.cpp (deepseek2) and Ollama; profile=ollama-legacy gives arch glm4moelite",
	.build = build_glm4moelite,
};
