/* arch_gptoss.c - GptOssForCausalLM (gpt-oss-20b, gpt-oss-120b) as
 * llama.cpp's gpt-oss.
 *
 * The checkpoints keep every layer's experts stacked and in MXFP4:
 * mlp.experts.{gate_up,down}_proj_{blocks,scales} (U8), with gate and up
 * interleaved along the rows of gate_up (even rows gate, odd rows up) in
 * blocks, scales and bias alike. GGUF has the type, so the experts are a
 * block repack (GG_OP_MXFP4_REPACK, engine.h) over a view that takes every
 * other row: no value is ever converted. Everything else is renamed as
 * Ollama's convert_gptoss.go renames it.
 *
 * Profiles: both write the same tensors. ollama: Ollama's KVs (file type 4,
 * its fixed bos/eos ids, pre-tokenizer "gpt-4o", its ranked vocabulary).
 * llamacpp: what convert_hf_to_gguf writes (file type 38, MOSTLY_MXFP4_MOE)
 * with its id-indexed vocabulary (tok_llamacpp.h), under the pre-tokenizer
 * name that makes llama.cpp split words with combining marks as the HF
 * tokenizer does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archs.h"
#include "hparams.h"
#include "model.h"
#include "tok_llamacpp.h"
#include "hparam_abbrev.h"

#define ARCH "gpt-oss"
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* convert_gptoss.go Replacements() for HF-flavoured checkpoints. */
static const char *const pairs[] = {
	"lm_head", "output",
	"model.embed_tokens", "token_embd",
	"model.layers", "blk",
	"input_layernorm", "attn_norm",
	"self_attn.q_proj", "attn_q",
	"self_attn.k_proj", "attn_k",
	"self_attn.v_proj", "attn_v",
	"self_attn.o_proj", "attn_output",
	"self_attn.sinks", "attn_sinks.weight",
	"post_attention_layernorm", "post_attention_norm",
	"mlp.router", "ffn_gate_inp",
	"mlp.experts.gate_up_proj_", "ffn_gate_up_exps.",
	"mlp.experts.down_proj_", "ffn_down_exps.",
	"model.norm", "output_norm",
};
static const struct gg_renames renames = GG_RENAMES(NULL, pairs);

static const struct gg_hparam hparams[] = {
	{ "vocab_size", "vocab_size", U32, GG_HP_OLLAMA | GG_HP_ALWAYS, "vocab_size", 0 },
	{ "n_layer", "num_hidden_layers", U32, REQ | GG_HP_ALWAYS, "block_count", 0 },
	{ "n_ctx", "max_position_embeddings", U32, REQ, "context_length", 0 },
	{ "n_embd", "hidden_size", U32, REQ, "embedding_length", 0 },
	{ "n_ff", "intermediate_size", U32, REQ, "feed_forward_length", 0 },
	{ "n_ff_exp", "intermediate_size", U32, REQ, "expert_feed_forward_length", 0 },
	{ "n_expert", "num_experts|num_local_experts", U32, REQ, "expert_count", 0 },
	{ "n_expert_used", "experts_per_token|num_experts_per_tok", U32, REQ, "expert_used_count", 0 },
	{ "n_head", "num_attention_heads", U32, REQ, "attention.head_count", 0 },
	{ "n_head_kv", "num_key_value_heads", U32, REQ, "attention.head_count_kv", 0 },
	{ "head_dim", "head_dim", U32, REQ, "attention.key_length", 0 },
	{ "head_dim_v", "head_dim", U32, REQ, "attention.value_length", 0 },
	{ "rms_eps", "rms_norm_eps", F32, POS | GG_HP_ALWAYS, "attention.layer_norm_rms_epsilon", 1e-5 },
	{ "n_swa", "sliding_window", U32, REQ, "attention.sliding_window", 0 },
	{ "rope_theta", "rope_theta", F32, REQ | POS, "rope.freq_base", 0 },
	{ "rope_type", "rope_scaling.rope_type", STR, 0, NULL, 0 },
	{ "rope_factor", "rope_scaling_factor|rope_scaling.factor", F32, POS, "rope.scaling.factor", 0 },
	{ "rope_orig", "rope_scaling.original_max_position_embeddings|initial_context_length", U32, 0,
	  "rope.scaling.original_context_length", 0 },
	{ "beta_fast", "rope_scaling.beta_fast", F32, 0, "rope.scaling.yarn_beta_fast", 0 },
	{ "beta_slow", "rope_scaling.beta_slow", F32, 0, "rope.scaling.yarn_beta_slow", 0 },
};

/* llama.cpp's gpt-oss loader (src/models/openai-moe.cpp). */
static const struct gg_tsym syms[] = {
	GG_TSYMS_HEADS,
	{ "n_rot", "rope.dimension_count", "head_dim" },
	{ "n_ff_exp", "expert_feed_forward_length", NULL },
	{ "n_expert", "expert_count", NULL },
	{ "n_vocab", "@tokens", NULL },
};

#define OPT GG_T_OPTIONAL

static const struct gg_trule rules[] = {
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL },
	{ "output_norm.weight", "n_embd", 0, NULL },
	{ "output.weight", "n_embd, n_vocab", 0, NULL },
	{ "blk.#.attn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.post_attention_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.attn_q.weight", "n_embd, n_head*n_rot", 0, NULL },
	{ "blk.#.attn_k.weight", "n_embd, n_head_kv*n_rot", 0, NULL },
	{ "blk.#.attn_v.weight", "n_embd, n_head_kv*n_rot", 0, NULL },
	{ "blk.#.attn_q.bias", "n_head*n_rot", OPT, NULL },
	{ "blk.#.attn_k.bias", "n_head_kv*n_rot", OPT, NULL },
	{ "blk.#.attn_v.bias", "n_head_kv*n_rot", OPT, NULL },
	{ "blk.#.attn_output.weight", "n_head*n_rot, n_embd", 0, NULL },
	{ "blk.#.attn_output.bias", "n_embd", 0, NULL },
	{ "blk.#.attn_sinks.weight", "n_head", 0, NULL },
	{ "blk.#.ffn_gate_inp.weight", "n_embd, n_expert", 0, NULL },
	{ "blk.#.ffn_gate_inp.bias", "n_expert", 0, NULL },
	{ "blk.#.ffn_gate_exps.weight", "n_embd, n_ff_exp, n_expert", 0, NULL },
	{ "blk.#.ffn_up_exps.weight", "n_embd, n_ff_exp, n_expert", 0, NULL },
	{ "blk.#.ffn_down_exps.weight", "n_ff_exp, n_embd, n_expert", 0, NULL },
	{ "blk.#.ffn_gate_exps.bias", "n_ff_exp, n_expert", 0, NULL },
	{ "blk.#.ffn_up_exps.bias", "n_ff_exp, n_expert", 0, NULL },
	{ "blk.#.ffn_down_exps.bias", "n_embd, n_expert", 0, NULL },
};

static const struct gg_tensor_spec spec = GG_TENSOR_SPEC("gpt-oss", "n_layer", syms, rules);

/* The MXFP4 experts of the checkpoint, by block: what the rename made of
 * them (blk.N.ffn_gate_up_exps.{blocks,scales,bias},
 * blk.N.ffn_down_exps.{blocks,scales}). */
struct experts {
	uint32_t n_layer;
	const struct st_tensor **gu_blocks, **gu_scales, **gu_bias, **d_blocks, **d_scales;
};

/* The slot of a renamed expert tensor "blk.N.<what>", or NULL. */
static const struct st_tensor **expert_slot(struct experts *x, const char *name)
{
	unsigned n;
	int pos = -1;
	if (sscanf(name, "blk.%u.%n", &n, &pos) != 1 || pos < 0 || n >= x->n_layer)
		return NULL;
	const char *what = name + pos;
	if (!strcmp(what, "ffn_gate_up_exps.blocks"))
		return &x->gu_blocks[n];
	if (!strcmp(what, "ffn_gate_up_exps.scales"))
		return &x->gu_scales[n];
	if (!strcmp(what, "ffn_gate_up_exps.bias"))
		return &x->gu_bias[n];
	if (!strcmp(what, "ffn_down_exps.blocks"))
		return &x->d_blocks[n];
	if (!strcmp(what, "ffn_down_exps.scales"))
		return &x->d_scales[n];
	return NULL;
}

static bool take_expert(const struct st_tensor *st, const char *name, void *arg)
{
	const struct st_tensor **slot = expert_slot(arg, name);
	if (slot)
		*slot = st;
	return slot != NULL;
}

/* gate (first 0) or up (first 1): every other row of gate_up. */
static int add_half(struct gg_outfile *f, const char *name, const struct st_tensor *blocks,
		    const struct st_tensor *scales, uint64_t first, gg_err *e)
{
	uint64_t shape[3] = { blocks->shape[0], blocks->shape[1] / 2, blocks->shape[2] * 32 };
	struct gg_tensor *t = gg_outfile_add(f, name, GG_TYPE_MXFP4, shape, 3, e);
	if (!t || gg_tensor_set_mxfp4(t, blocks, scales, e) ||
	    gg_view_take_every(&t->view, 1, 2, first, e))
		return -1;
	return 0;
}

static int add_bias_half(struct gg_outfile *f, const char *name, const struct st_tensor *bias,
			 uint64_t first, gg_err *e)
{
	if (bias->ndim != 2)
		return gg_fail(e, "%s: expected [experts, 2 * intermediate], got %d dims", bias->name,
			       bias->ndim);
	uint64_t shape[2] = { bias->shape[0], bias->shape[1] / 2 };
	struct gg_view v;
	gg_view_init(&v, bias->shape, 2);
	if (gg_view_take_every(&v, 1, 2, first, e))
		return -1;
	return gg_outfile_add_view(f, name, GG_TYPE_F32, shape, 2, bias, &v, e) ? 0 : -1;
}

static int add_down(struct gg_outfile *f, const char *name, const struct st_tensor *blocks,
		    const struct st_tensor *scales, gg_err *e)
{
	uint64_t shape[3] = { blocks->shape[0], blocks->shape[1], blocks->shape[2] * 32 };
	struct gg_tensor *t = gg_outfile_add(f, name, GG_TYPE_MXFP4, shape, 3, e);
	return !t || gg_tensor_set_mxfp4(t, blocks, scales, e) ? -1 : 0;
}

static int add_layer_experts(struct gg_outfile *f, const struct experts *x, uint32_t l,
			     const char *dir, gg_err *e)
{
	if (!x->gu_blocks[l] || !x->gu_scales[l] || !x->gu_bias[l] || !x->d_blocks[l] || !x->d_scales[l])
		return gg_fail(e, "%s: layer %u: experts are not all in MXFP4 (mlp.experts.{gate_up,down}_proj_{blocks,scales} and gate_up_proj_bias); dequantized gpt-oss checkpoints are not supported",
			       dir, l);
	char name[64];
#define NAME(fmt) (snprintf(name, sizeof name, fmt, l), name)
	if (add_half(f, NAME("blk.%u.ffn_gate_exps.weight"), x->gu_blocks[l], x->gu_scales[l], 0, e) ||
	    add_half(f, NAME("blk.%u.ffn_up_exps.weight"), x->gu_blocks[l], x->gu_scales[l], 1, e) ||
	    add_down(f, NAME("blk.%u.ffn_down_exps.weight"), x->d_blocks[l], x->d_scales[l], e) ||
	    add_bias_half(f, NAME("blk.%u.ffn_gate_exps.bias"), x->gu_bias[l], 0, e) ||
	    add_bias_half(f, NAME("blk.%u.ffn_up_exps.bias"), x->gu_bias[l], 1, e))
		return -1;
#undef NAME
	return 0;
}

static int add_tensors(struct gg_build *b, struct gg_outfile *f, uint32_t n_layer)
{
	struct experts x = { .n_layer = n_layer };
	const struct st_tensor ***slots[] = { &x.gu_blocks, &x.gu_scales, &x.gu_bias, &x.d_blocks,
					       &x.d_scales };
	for (size_t i = 0; i < COUNT(slots); i++)
		*slots[i] = gg_calloc(n_layer, sizeof **slots[i]);
	int rc = gg_build_add_renamed(b, f, &renames, take_expert, &x);
	for (uint32_t l = 0; rc == 0 && l < n_layer; l++)
		rc = add_layer_experts(f, &x, l, b->dir, b->e);
	for (size_t i = 0; i < COUNT(slots); i++)
		free(*slots[i]);
	return rc;
}

static void write_kv(struct gguf_kvs *kv, const struct gg_hp *hp)
{
	gg_hp_write_kv(hp, kv, ARCH);
	const char *type = gg_hp_str(hp, "rope_type");
	gg_kv_arch_str(kv, ARCH, "rope.scaling.type", type && *type ? type : "yarn");
}

/* Ollama's fixed Harmony token ids (convert_gptoss.go KV). */
static void ollama_tokens(struct gguf_kvs *kv)
{
	static const int32_t eos[] = { 199999, 200002, 200012 };
	gguf_kvs_set_str(kv, "tokenizer.ggml.pre", "gpt-4o");
	gguf_kvs_set_u32(kv, "tokenizer.ggml.bos_token_id", 199998);
	gguf_kvs_set_bool(kv, "tokenizer.ggml.add_bos_token", false);
	gguf_kvs_set_u32(kv, "tokenizer.ggml.eos_token_id", 199999);
	gguf_kvs_set_arr(kv, "tokenizer.ggml.eos_token_ids", GGUF_VT_I32, eos, COUNT(eos));
	gguf_kvs_set_bool(kv, "tokenizer.ggml.add_eos_token", false);
}

static int embedding_rows(struct gg_build *b, uint32_t *rows)
{
	const struct st_tensor *emb = st_set_find(b->st, "model.embed_tokens.weight");
	if (!emb || emb->ndim != 2 || emb->shape[0] == 0 || emb->shape[0] > UINT32_MAX)
		return gg_fail(b->e, "%s: no model.embed_tokens.weight of [vocab, hidden]", b->dir);
	*rows = (uint32_t)emb->shape[0];
	return 0;
}

static int build_gptoss(struct gg_build *b)
{
	enum gg_profile p = b->opt->profile;
	struct gg_hp hp;
	if (gg_hp_read(&hp, hparams, COUNT(hparams), b->config, b->config_path, "", p, b->e))
		return -1;
	/* Grouped-query attention: llama.cpp shares each KV head among
	 * n_head / n_head_kv query heads. */
	if (gg_hp_divisible(&hp, "n_head", "n_head_kv", b->e)) {
		gg_hp_free(&hp);
		return -1;
	}
	uint32_t rows = 0;
	struct gg_outfile *f = gg_model_add_file(b->model, "model.gguf");
	int rc = embedding_rows(b, &rows);
	if (rc == 0)
		rc = gg_build_base_kv(b, f, ARCH, NULL, 0);
	/* llamacpp: general.file_type 38 (MOSTLY_MXFP4_MOE) comes from the
	 * MXFP4 tensors (ftype.h gg_ftype_of_outfile) */
	if (rc == 0 && p == GG_PROFILE_LLAMACPP) {
		rc = tok_llamacpp_apply(b->dir, TOK_STYLE_BPE, rows, f->kvs, NULL, b->e);
	} else if (rc == 0) {
		gguf_kvs_set_u32(f->kvs, "general.file_type", 4);
		ollama_tokens(f->kvs);
	}
	if (rc == 0) {
		write_kv(f->kvs, &hp);
		rc = add_tensors(b, f, gg_hp_u32(&hp, "n_layer"));
	}
	if (rc == 0)
		gg_model_set_spec(b->model, b->model->nfiles - 1, &spec, p);
	gg_hp_free(&hp);
	return rc;
}

const struct gg_arch gg_arch_gptoss = {
	.hf_arch = "GptOssForCausalLM",
	.gguf_arch = ARCH,
	.notes = "MXFP4 experts repacked byte for byte (no dequantization)",
	.build = build_gptoss,
};
