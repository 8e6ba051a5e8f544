/* llama_common.c - the Llama family's shared pieces (llama_common.h). */
#include "llama_common.h"
#include "hparam_abbrev.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The projections, which Ollama's adapter renames the same way. No pair
 * of the two lists below can match where another does, so their order
 * relative to each other does not matter (Ollama lists these in between). */
static const char *const proj_pairs[] = {
	"self_attn.q_proj", "attn_q",
	"self_attn.k_proj", "attn_k",
	"self_attn.v_proj", "attn_v",
	"self_attn.o_proj", "attn_output",
	"mlp.gate_proj", "ffn_gate",
	"mlp.down_proj", "ffn_down",
	"mlp.up_proj", "ffn_up",
};
const struct gg_renames llama_proj_renames = GG_RENAMES(NULL, proj_pairs);

static const char *const llama_pairs[] = {
	"lm_head", "output",
	"model.embed_tokens", "token_embd",
	"model.norm", "output_norm",
	"model.layers", "blk",
	"input_layernorm", "attn_norm",
	"post_attention_layernorm", "ffn_norm",
};
const struct gg_renames llama_renames = GG_RENAMES(&llama_proj_renames, llama_pairs);

const struct gg_hparam llama_hparams[] = {
	{ "vocab_size", "vocab_size", U32, GG_HP_ALWAYS, "vocab_size", 0 },
	{ "n_layer", "n_layers|num_hidden_layers|n_layer", U32, REQ | GG_HP_ALWAYS, "block_count", 0 },
	{ "n_ctx", "max_position_embeddings|n_ctx", U32, REQ, "context_length", 0 },
	{ "n_embd", "hidden_size|n_embd", U32, REQ, "embedding_length", 0 },
	{ "n_ff", "intermediate_size|n_inner", U32, REQ, "feed_forward_length", 0 },
	{ "n_head", "num_attention_heads|n_head", U32, REQ, "attention.head_count", 0 },
	{ "head_dim", "head_dim", U32, POS, "attention.head_dim", 0 },
	{ "rope_theta", "rope_theta", F32, POS, "rope.freq_base", 0 },
	{ "n_head_kv", "num_key_value_heads", U32, POS, "attention.head_count_kv", 0 },
	{ "rms_eps", "rms_norm_eps", F32, REQ | POS, "attention.layer_norm_rms_epsilon", 0 },
	{ "norm_eps", "layer_norm_eps|layer_norm_epsilon|norm_epsilon", F32, POS,
	  "attention.layer_norm_epsilon", 0 },
	{ "key_length", "head_dim", U32, 0, "attention.key_length", 0 },
	{ "value_length", "head_dim", U32, 0, "attention.value_length", 0 },
	/* Ollama reads these without alternatives in a few rules. */
	{ "hidden_size", "hidden_size", U32, 0, NULL, 0 },
	{ "num_attention_heads", "num_attention_heads", U32, 0, NULL, 0 },
	{ "rope_scaling.type", "rope_scaling.type", STR, 0, NULL, 0 },
	{ "rope_scaling.rope_type", "rope_scaling.rope_type", STR, 0, NULL, 0 },
	{ "rope_scaling.factor", "rope_scaling.factor", F32, POS, NULL, 0 },
	{ "rope_scaling.low_freq_factor", "rope_scaling.low_freq_factor", F32, POS, NULL, 0 },
	{ "rope_scaling.high_freq_factor", "rope_scaling.high_freq_factor", F32, POS, NULL, 0 },
	{ "rope_scaling.original_max_position_embeddings",
	  "rope_scaling.original_max_position_embeddings", U32, 0, NULL, 0 },
};
const size_t llama_nhparams = sizeof llama_hparams / sizeof *llama_hparams;

int llama_hp_read(struct gg_hp *hp, const cJSON *obj, const char *file,
		  const char *prefix, enum gg_profile p, gg_err *e)
{
	if (gg_hp_read(hp, llama_hparams, llama_nhparams, obj, file, prefix, p, e))
		return -1;
	int rc = 0;
	if (gg_hp_given(hp, "n_head_kv"))
		rc = gg_hp_divisible(hp, "n_head", "n_head_kv", e);
	if (!rc && !gg_hp_given(hp, "head_dim"))
		rc = gg_hp_divisible(hp, "n_embd", "n_head", e);
	if (rc)
		gg_hp_free(hp);
	return rc;
}

static bool str_eq(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* The rotary dimension: Ollama ignores head_dim; llama.cpp uses it. */
static uint32_t rope_dim(const struct gg_hp *hp, enum gg_profile p)
{
	uint32_t heads = gg_hp_u32(hp, "n_head");
	if (p == GG_PROFILE_LLAMACPP && gg_hp_u32(hp, "head_dim"))
		return gg_hp_u32(hp, "head_dim");
	return heads ? gg_hp_u32(hp, "hidden_size") / heads : 0;
}

static void write_rope_scaling(struct gguf_kvs *kv, const char *arch,
			       const struct gg_hp *hp, enum gg_profile p)
{
	const char *type = gg_hp_str(hp, "rope_scaling.type");
	/* Ollama only looks at "type"; newer configs say rope_type. */
	bool linear = str_eq(type, "linear") ||
		      (p == GG_PROFILE_LLAMACPP && !type &&
		       str_eq(gg_hp_str(hp, "rope_scaling.rope_type"), "linear"));
	if (!linear)
		return;
	gg_kv_arch_str(kv, arch, "rope.scaling.type", "linear");
	gg_kv_arch_f32(kv, arch, "rope.scaling.factor", gg_hp_f32(hp, "rope_scaling.factor"));
}

void llama_write_kv(struct gguf_kvs *kv, const char *arch, const struct gg_hp *hp,
		    enum gg_profile p)
{
	gg_hp_write_kv(hp, kv, arch);
	if (gg_hp_u32(hp, "n_head"))
		gg_kv_arch_u32(kv, arch, "rope.dimension_count", rope_dim(hp, p));
	write_rope_scaling(kv, arch, hp, p);
}

/* Go's cmp.Or for a float: the first non-zero. */
static float or_f32(float a, float b)
{
	return a != 0 ? a : b;
}

uint32_t llama_rope_factors(const struct llama_rope *r, uint32_t dim, float *out)
{
	if (!str_eq(r->rope_type, "llama3") || r->hidden_size == 0 ||
	    r->num_attention_heads == 0 || r->rope_theta == 0 || dim == 0)
		return 0;
	float factor = or_f32(r->factor, 8.0f);
	float low = or_f32(r->low_freq_factor, 1.0f);
	float high = or_f32(r->high_freq_factor, 4.0f);
	uint32_t original = r->original_max_position_embeddings ?
		r->original_max_position_embeddings : 8192;
	float lambda_low = (float)original / low;
	float lambda_high = (float)original / high;
	uint32_t n = 0;
	for (uint32_t i = 0; i < dim; i += 2) {
		/* Wavelength in float64, thresholds in float32, as Ollama. */
		double lambda = 2 * M_PI * pow((double)r->rope_theta,
					       (double)i / (double)dim);
		if (lambda < (double)lambda_high) {
			out[n++] = 1.0f;
		} else if (lambda > (double)lambda_low) {
			out[n++] = factor;
		} else {
			float smooth = ((float)original / (float)lambda - low) /
				       (high - low);
			out[n++] = 1.0f / ((1.0f - smooth) / factor + smooth);
		}
	}
	return n;
}

int llama_add_rope_freqs(struct gg_outfile *f, const struct gg_hp *hp,
			 enum gg_profile p, gg_err *e)
{
	struct llama_rope r = {
		.hidden_size = gg_hp_u32(hp, "hidden_size"),
		.num_attention_heads = gg_hp_u32(hp, "num_attention_heads"),
		.rope_theta = gg_hp_f32(hp, "rope_theta"),
		.rope_type = gg_hp_str(hp, "rope_scaling.rope_type"),
		.factor = gg_hp_f32(hp, "rope_scaling.factor"),
		.low_freq_factor = gg_hp_f32(hp, "rope_scaling.low_freq_factor"),
		.high_freq_factor = gg_hp_f32(hp, "rope_scaling.high_freq_factor"),
		.original_max_position_embeddings =
			gg_hp_u32(hp, "rope_scaling.original_max_position_embeddings"),
	};
	uint32_t dim = rope_dim(hp, p);
	if (p != GG_PROFILE_LLAMACPP && r.num_attention_heads)
		dim = r.hidden_size / r.num_attention_heads;
	if (dim == 0)
		return 0;
	float *vals = gg_malloc(dim / 2 * sizeof *vals + sizeof *vals);
	uint32_t n = llama_rope_factors(&r, dim, vals);
	int rc = n && !gg_outfile_add_f32(f, "rope_freqs.weight", vals, n, e) ? -1 : 0;
	free(vals);
	return rc;
}

/* Heads to permute a tensor by, or 0 when it is not permuted. */
static uint32_t permute_heads(const char *name, uint32_t q_heads, uint32_t kv_heads,
			      enum gg_profile p)
{
	bool q = gg_has_suffix(name, "attn_q.weight") || gg_has_suffix(name, "attn_q_proj.weight");
	bool k = gg_has_suffix(name, "attn_k.weight") || gg_has_suffix(name, "attn_k_proj.weight");
	/* llama.cpp permutes biases too. */
	if (p == GG_PROFILE_LLAMACPP) {
		q = q || gg_has_suffix(name, "attn_q.bias");
		k = k || gg_has_suffix(name, "attn_k.bias");
	}
	return q ? q_heads : k ? kv_heads : 0;
}

int llama_permute_qk(struct gg_outfile *f, const struct gg_hp *hp,
		     enum gg_profile p, gg_err *e)
{
	/* llama.cpp: n_head (any of its keys) and n_head_kv or n_head;
	 * Ollama: num_attention_heads only, and num_key_value_heads or it. */
	uint32_t q_heads = p == GG_PROFILE_LLAMACPP ? gg_hp_u32(hp, "n_head")
						    : gg_hp_u32(hp, "num_attention_heads");
	uint32_t kv_heads = gg_hp_u32(hp, "n_head_kv") ? gg_hp_u32(hp, "n_head_kv") : q_heads;
	for (size_t i = 0; i < f->ntensors; i++) {
		struct gg_tensor *t = &f->tensors[i];
		if (permute_heads(t->name, 1, 1, p) &&
		    gg_tensor_rotary(f, t, permute_heads(t->name, q_heads, kv_heads, p),
				     "attention head", e))
			return -1;
	}
	return 0;
}

/* ---- what llama.cpp's llama loader creates ---- */

static const struct gg_tsym llama_syms[] = {
	GG_TSYMS_HEADS,
	{ "head_dim_v", "attention.value_length", "n_embd/n_head" },
	{ "n_rot", "rope.dimension_count", "head_dim" },
	{ "n_ff", "feed_forward_length", NULL },
	{ "n_expert", "expert_count", NULL },
	{ "n_vocab", "@tokens", NULL },
};

#define OPT GG_T_OPTIONAL
#define DENSE "n_expert == 0"
#define MOE "n_expert > 0"

static const struct gg_trule llama_rules[] = {
	{ "token_embd.weight", "n_embd, n_vocab", 0, NULL },
	{ "output_norm.weight", "n_embd", 0, NULL },
	{ "output.weight", "n_embd, n_vocab", OPT, NULL },
	{ "rope_freqs.weight", "n_rot/2", OPT, NULL },
	{ "blk.#.attn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.attn_q.weight", "n_embd, n_head*head_dim", 0, NULL },
	{ "blk.#.attn_k.weight", "n_embd, n_head_kv*head_dim", 0, NULL },
	{ "blk.#.attn_v.weight", "n_embd, n_head_kv*head_dim_v", 0, NULL },
	{ "blk.#.attn_q.bias", "n_head*head_dim", OPT, NULL },
	{ "blk.#.attn_k.bias", "n_head_kv*head_dim", OPT, NULL },
	{ "blk.#.attn_v.bias", "n_head_kv*head_dim_v", OPT, NULL },
	{ "blk.#.attn_output.weight", "n_head*head_dim, n_embd", 0, NULL },
	{ "blk.#.attn_output.bias", "n_embd", OPT, NULL },
	{ "blk.#.ffn_norm.weight", "n_embd", 0, NULL },
	{ "blk.#.ffn_gate.weight", "n_embd, n_ff", 0, DENSE },
	{ "blk.#.ffn_down.weight", "n_ff, n_embd", 0, DENSE },
	{ "blk.#.ffn_up.weight", "n_embd, n_ff", 0, DENSE },
	{ "blk.#.ffn_gate.bias", "n_ff", OPT, DENSE },
	{ "blk.#.ffn_down.bias", "n_embd", OPT, DENSE },
	{ "blk.#.ffn_up.bias", "n_ff", OPT, DENSE },
	{ "blk.#.ffn_gate_inp.weight", "n_embd, n_expert", 0, MOE },
	{ "blk.#.ffn_gate_exps.weight", "n_embd, n_ff, n_expert", OPT, MOE },
	{ "blk.#.ffn_down_exps.weight", "n_ff, n_embd, n_expert", 0, MOE },
	{ "blk.#.ffn_up_exps.weight", "n_embd, n_ff, n_expert", 0, MOE },
	/* Ollama writes legacy rotary tables; the llamacpp profile drops them. */
	{ "blk.#.self_attn.rotary_emb.inv_freq", NULL, OPT | GG_T_OLLAMA, NULL },
};

const struct gg_tensor_spec llama_spec = GG_TENSOR_SPEC("llama", "n_layer", llama_syms, llama_rules);
