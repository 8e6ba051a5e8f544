/* arch_phi3.c - Phi3ForCausalLM (Phi-3-mini/medium, Phi-3.5-mini,
 * Phi-4-mini) as llama.cpp's phi3.
 *
 * llama.cpp keeps the fused projections: self_attn.qkv_proj (rows q, k, v)
 * and mlp.gate_up_proj (rows gate, up) are written whole, so every tensor
 * is a byte copy. longrope scaling becomes the rope_factors_long/short
 * tensors (F32, one factor per rotary frequency) and an attention factor.
 *
 * Profiles. llamacpp: convert_hf_to_gguf's Phi3MiniModel: the rotary
 * dimension from partial_rotary_factor, the factor tensors only with
 * longrope, Phi-3's SentencePiece vocabulary with its added tokens, or
 * Phi-4-mini's BPE one (tokenizer_class GPT2Tokenizer) (tok_llamacpp.h).
 * ollama: convert_phi3.go: the rotary dimension hidden/heads, both factor
 * tensors always (with 0 elements when the config has no rope scaling,
 * which llama.cpp refuses), its vocabulary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "archs.h"
#include "hparams.h"
#include "jsonutil.h"
#include "model.h"
#include "tok_llamacpp.h"
#include "hparam_abbrev.h"

#define ARCH "phi3"
#define COUNT(a) (sizeof(a) / sizeof *(a))

static const char *const pairs[] = {
	"lm_head", "output",
	"model.embed_tokens", "token_embd",
	"model.norm", "output_norm",
	"model.layers", "blk",
	"input_layernorm", "attn_norm",
	"self_attn.qkv_proj", "attn_qkv",
	"self_attn.o_proj", "attn_output",
	"mlp.down_proj", "ffn_down",
	"mlp.gate_up_proj", "ffn_up",
	"post_attention_layernorm", "ffn_norm",
};
static const struct gg_renames renames = GG_RENAMES(NULL, pairs);

static const struct gg_hparam hparams[] = {
	{ "vocab_size", "vocab_size", U32, GG_HP_OLLAMA | ALW, "vocab_size", 0 },
	{ "n_layer", "num_hidden_layers|n_layers", U32, REQ | ALW, "block_count", 0 },
	{ "n_ctx", "max_position_embeddings|n_positions", U32, REQ | ALW, "context_length", 0 },
	{ "n_ctx_orig", "original_max_position_embeddings", U32, REQ | ALW,
	  "rope.scaling.original_context_length", 0 },
	{ "n_embd", "hidden_size|n_embd", U32, REQ, "embedding_length", 0 },
	{ "n_ff", "intermediate_size", U32, REQ, "feed_forward_length", 0 },
	{ "n_head", "num_attention_heads|n_head", U32, REQ, "attention.head_count", 0 },
	{ "n_head_kv", "num_key_value_heads|n_head_kv", U32, REQ, "attention.head_count_kv", 0 },
	{ "rms_eps", "rms_norm_eps", F32, REQ | POS, "attention.layer_norm_rms_epsilon", 0 },
	{ "rope_theta", "rope_theta", F32, POS | ALW, "rope.freq_base", 10000 },
	{ "n_swa", "sliding_window", U32, ALW, "attention.sliding_window", 0 },
	{ "rot_pct", "partial_rotary_factor", F32, POS | GG_HP_LLAMACPP, NULL, 1 },
	{ "rope_type", "rope_scaling.type|rope_scaling.rope_type", STR, 0, NULL, 0 },
};

/* llama.cpp's phi3 loader (src/models/phi3.cpp). */
static const struct gg_tsym syms[] = {
	GG_TSYMS_HEADS,
	{ "n_rot", "rope.dimension_count", "head_dim" },
	{ "n_ff", "feed_forward_length", NULL },
	{ "n_vocab", "@tokens", NULL },
};

static const struct gg_trule rules[] = {
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL },
	{ "output_norm.weight", "n_embd", 0, NULL },
	{ "output.weight", "n_embd, n_vocab", GG_T_OPTIONAL, NULL },
	{ "rope_factors_long.weight", "n_rot/2", GG_T_OPTIONAL | GG_T_LLAMACPP, NULL },
	{ "rope_factors_short.weight", "n_rot/2", GG_T_OPTIONAL | GG_T_LLAMACPP, NULL },
	/* Ollama writes the config's factor lists as they are. */
	{ "rope_factors_long.weight", NULL, GG_T_OPTIONAL | GG_T_OLLAMA, NULL },
	{ "rope_factors_short.weight", NULL, GG_T_OPTIONAL | GG_T_OLLAMA, NULL },
	{ "blk.#.attn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.attn_qkv.weight", "n_embd, n_embd+2*head_dim*n_head_kv", 0, NULL },
	{ "blk.#.attn_output.weight", "n_embd, n_embd", 0, NULL },
	{ "blk.#.ffn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.ffn_down.weight", "n_ff, n_embd", 0, NULL },
	{ "blk.#.ffn_up.weight", "n_embd, 2*n_ff", 0, NULL },
};

static const struct gg_tensor_spec spec = GG_TENSOR_SPEC("phi3", "n_layer", syms, rules);

/* rope_scaling.{long,short}_factor: a list of finite numbers (absent: 0). */
static int read_factors(struct gg_build *b, const char *key, float **out, uint32_t *n)
{
	const cJSON *rs = cJSON_GetObjectItem(b->config, "rope_scaling");
	const cJSON *a = cJSON_IsObject(rs) ? cJSON_GetObjectItem(rs, key) : NULL;
	*out = NULL;
	*n = 0;
	if (!a || cJSON_IsNull(a))
		return 0;
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > 65536)
		return gg_fail(b->e, "%s: rope_scaling.%s: expected a list of numbers", b->config_path, key);
	*n = (uint32_t)cJSON_GetArraySize(a);
	*out = gg_calloc(*n ? *n : 1, sizeof **out);
	uint32_t i = 0;
	for (const cJSON *x = a->child; x; x = x->next, i++) {
		if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
			return gg_fail(b->e, "%s: rope_scaling.%s[%u]: expected a finite number", b->config_path, key, i);
		(*out)[i] = (float)x->valuedouble;
	}
	return 0;
}

struct phi3 {
	struct gg_build *b;
	enum gg_profile p;
	struct gg_hp hp;
	float *lng, *shrt;
	uint32_t nlong, nshort;
	uint32_t rope_dims;
};

/* The rotary dimension: int(partial_rotary_factor * n_embd) // n_head for
 * llama.cpp, n_embd / n_head for Ollama. */
static void rope_dims(struct phi3 *x)
{
	double embd = gg_hp_u32(&x->hp, "n_embd"), heads = gg_hp_u32(&x->hp, "n_head");
	double pct = x->p == GG_PROFILE_LLAMACPP ? gg_hp_num(&x->hp, "rot_pct") : 1;
	x->rope_dims = (uint32_t)(floor(pct * embd) / heads);
}

/* The longrope attention factor, in float64 as both converters compute it. */
static int write_kv(struct phi3 *x, struct gguf_kvs *kv)
{
	gg_hp_write_kv(&x->hp, kv, ARCH);
	gg_kv_arch_u32(kv, ARCH, "rope.dimension_count", x->rope_dims);
	const char *type = gg_hp_str(&x->hp, "rope_type");
	if (!type || (x->p == GG_PROFILE_LLAMACPP && !x->nlong))
		return 0;
	double orig = gg_hp_u32(&x->hp, "n_ctx_orig"), scale = gg_hp_u32(&x->hp, "n_ctx") / orig;
	double factor;
	if (!strcmp(type, "su") || !strcmp(type, "longrope"))
		factor = scale > 1 ? sqrt(1 + log(scale) / log(orig)) : 1;
	else if (!strcmp(type, "yarn"))
		factor = scale > 1 ? 0.1 * log(scale) + 1 : 1;
	else
		return gg_fail(x->b->e, "%s: rope_scaling.type '%s' is not one phi3 supports (longrope, su, yarn)",
			       x->b->config_path, type);
	gg_kv_arch_f32(kv, ARCH, "rope.scaling.attn_factor", (float)factor);
	return 0;
}

static int add_factors(struct phi3 *x, struct gg_outfile *f)
{
	gg_err *e = x->b->e;
	if (x->p == GG_PROFILE_LLAMACPP) {
		if (!x->nlong)
			return 0;
		if (x->nlong != x->rope_dims / 2 || x->nshort != x->nlong)
			return gg_fail(e, "%s: rope_scaling long_factor and short_factor need %u values each (rotary dimension %u / 2), have %u and %u",
				       x->b->config_path, x->rope_dims / 2, x->rope_dims, x->nlong, x->nshort);
	}
	if (!gg_outfile_add_f32(f, "rope_factors_long.weight", x->lng, x->nlong, e) ||
	    !gg_outfile_add_f32(f, "rope_factors_short.weight", x->shrt, x->nshort, e))
		return -1;
	return 0;
}

/* Phi-4-mini's tokenizer_config names GPT2Tokenizer: a BPE vocabulary. */
static bool bpe_tokenizer(const char *dir)
{
	char *path = gg_path_join(dir, "tokenizer_config.json");
	cJSON *tc = NULL;
	gg_err ignore;
	bool bpe = false;
	if (gg_json_load(path, true, false, &tc, &ignore) == 0 && tc) {
		const cJSON *cls = cJSON_GetObjectItem(tc, "tokenizer_class");
		bpe = cJSON_IsString(cls) && !strcmp(cls->valuestring, "GPT2Tokenizer");
	}
	cJSON_Delete(tc);
	free(path);
	return bpe;
}

static int llamacpp_vocab(struct phi3 *x, struct gguf_kvs *kv)
{
	const struct st_tensor *emb = st_set_find(x->b->st, "model.embed_tokens.weight");
	if (!emb || emb->ndim != 2 || emb->shape[0] == 0 || emb->shape[0] > UINT32_MAX)
		return gg_fail(x->b->e, "%s: no model.embed_tokens.weight of [vocab, hidden]", x->b->dir);
	bool bpe = bpe_tokenizer(x->b->dir);
	char *model = gg_path_join(x->b->dir, "tokenizer.model");
	bool has_model = gg_file_exists(model);
	free(model);
	if (!bpe && !has_model)
		return gg_fail(x->b->e, "%s: no tokenizer.model (Phi-3's SentencePiece vocabulary)", x->b->dir);
	return tok_llamacpp_apply(x->b->dir, bpe ? TOK_STYLE_BPE : TOK_STYLE_SPM_MODEL,
				  (uint32_t)emb->shape[0], kv, NULL, x->b->e);
}

static int build(struct phi3 *x)
{
	struct gg_build *b = x->b;
	struct gg_outfile *f = gg_model_add_file(b->model, "model.gguf");
	rope_dims(x);
	if (gg_build_base_kv(b, f, ARCH, NULL, 0) ||
	    (x->p == GG_PROFILE_LLAMACPP && llamacpp_vocab(x, f->kvs)) || write_kv(x, f->kvs) ||
	    add_factors(x, f) || gg_build_add_renamed(b, f, &renames, NULL, NULL))
		return -1;
	gg_model_set_spec(b->model, 0, &spec, x->p);
	return 0;
}

static int build_phi3(struct gg_build *b)
{
	struct phi3 x = { .b = b, .p = b->opt->profile };
	if (gg_hp_read(&x.hp, hparams, COUNT(hparams), b->config, b->config_path, "", x.p, b->e))
		return -1;
	/* Grouped-query attention, as llama.cpp runs it. */
	if (gg_hp_divisible(&x.hp, "n_head", "n_head_kv", b->e)) {
		gg_hp_free(&x.hp);
		return -1;
	}
	int rc = read_factors(b, "long_factor", &x.lng, &x.nlong) ||
		 read_factors(b, "short_factor", &x.shrt, &x.nshort) || build(&x) ? -1 : 0;
	free(x.lng);
	free(x.shrt);
	gg_hp_free(&x.hp);
	return rc;
}

const struct gg_arch gg_arch_phi3 = {
	.hf_arch = "Phi3ForCausalLM",
	.gguf_arch = ARCH,
	.notes = "fused qkv and gate_up kept; longrope factors as tensors; Phi-4-mini's partial rotary",
	.build = build_phi3,
};
