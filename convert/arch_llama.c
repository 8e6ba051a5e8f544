/* arch_llama.c - LlamaForCausalLM, and the Llama helpers other Meta
 * families reuse (llama_common.h). */
#include "llama_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

const char *const llama_renames[] = {
	"lm_head", "output",
	"model.embed_tokens", "token_embd",
	"model.norm", "output_norm",
	"model.layers", "blk",
	"input_layernorm", "attn_norm",
	"self_attn.q_proj", "attn_q",
	"self_attn.k_proj", "attn_k",
	"self_attn.v_proj", "attn_v",
	"self_attn.o_proj", "attn_output",
	"mlp.gate_proj", "ffn_gate",
	"mlp.down_proj", "ffn_down",
	"mlp.up_proj", "ffn_up",
	"post_attention_layernorm", "ffn_norm",
};
const size_t llama_nrenames = sizeof llama_renames / sizeof *llama_renames / 2;

static int parse_rope_scaling(const cJSON *obj, const char *file,
			      struct llama_rope_scaling *rs, gg_err *e)
{
	const cJSON *o = NULL;
	if (gg_json_obj(obj, "rope_scaling", &o, file, e))
		return -1;
	if (!o)
		return 0;
	return gg_json_str(o, "type", &rs->type, file, e) ||
	       gg_json_str(o, "rope_type", &rs->rope_type, file, e) ||
	       gg_json_f32(o, "factor", &rs->factor, file, e) ||
	       gg_json_f32(o, "low_freq_factor", &rs->low_freq_factor, file, e) ||
	       gg_json_f32(o, "high_freq_factor", &rs->high_freq_factor, file, e) ||
	       gg_json_u32(o, "original_max_position_embeddings",
			   &rs->original_max_position_embeddings, file, e) ? -1 : 0;
}

int llama_hparams_parse(const cJSON *obj, const char *file,
			struct llama_hparams *hp, gg_err *e)
{
	memset(hp, 0, sizeof *hp);
	struct { const char *key; uint32_t *dst; } u32s[] = {
		{ "vocab_size", &hp->vocab_size },
		{ "n_layers", &hp->n_layers },
		{ "num_hidden_layers", &hp->num_hidden_layers },
		{ "n_layer", &hp->n_layer },
		{ "max_position_embeddings", &hp->max_position_embeddings },
		{ "n_ctx", &hp->n_ctx },
		{ "hidden_size", &hp->hidden_size },
		{ "n_embd", &hp->n_embd },
		{ "intermediate_size", &hp->intermediate_size },
		{ "n_inner", &hp->n_inner },
		{ "num_attention_heads", &hp->num_attention_heads },
		{ "n_head", &hp->n_head },
		{ "num_key_value_heads", &hp->num_key_value_heads },
		{ "head_dim", &hp->head_dim },
	};
	struct { const char *key; float *dst; } f32s[] = {
		{ "rope_theta", &hp->rope_theta },
		{ "rms_norm_eps", &hp->rms_norm_eps },
		{ "layer_norm_eps", &hp->layer_norm_eps },
		{ "layer_norm_epsilon", &hp->layer_norm_epsilon },
		{ "norm_epsilon", &hp->norm_epsilon },
	};
	for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++)
		if (gg_json_u32(obj, u32s[i].key, u32s[i].dst, file, e))
			return -1;
	for (size_t i = 0; i < sizeof f32s / sizeof *f32s; i++)
		if (gg_json_f32(obj, f32s[i].key, f32s[i].dst, file, e))
			return -1;
	return parse_rope_scaling(obj, file, &hp->rope_scaling, e);
}

/* Go's cmp.Or: the first non-zero argument. */
static uint32_t or_u32(uint32_t a, uint32_t b)
{
	return a ? a : b;
}

static float or_f32(float a, float b)
{
	return a != 0 ? a : b;
}

static bool str_eq(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* The rotary dimension: Ollama ignores head_dim; llama.cpp uses it. */
static uint32_t rope_dim(const struct llama_hparams *hp, enum gg_profile p)
{
	uint32_t heads = or_u32(hp->num_attention_heads, hp->n_head);
	if (p == GG_PROFILE_LLAMACPP && hp->head_dim)
		return hp->head_dim;
	return heads ? hp->hidden_size / heads : 0;
}

static void write_rope_scaling(struct gguf_kvs *kv, const char *arch,
			       const struct llama_hparams *hp, enum gg_profile p)
{
	const struct llama_rope_scaling *rs = &hp->rope_scaling;
	/* Ollama only looks at "type"; newer configs say rope_type. */
	bool linear = str_eq(rs->type, "linear") ||
		      (p == GG_PROFILE_LLAMACPP && !rs->type &&
		       str_eq(rs->rope_type, "linear"));
	if (!linear)
		return;
	gg_kv_arch_str(kv, arch, "rope.scaling.type", "linear");
	gg_kv_arch_f32(kv, arch, "rope.scaling.factor", rs->factor);
}

void llama_write_kv(struct gguf_kvs *kv, const char *arch,
		    const struct llama_hparams *hp, enum gg_profile p)
{
	uint32_t v;
	gg_kv_arch_u32(kv, arch, "vocab_size", hp->vocab_size);
	gg_kv_arch_u32(kv, arch, "block_count",
		or_u32(hp->n_layers, or_u32(hp->num_hidden_layers, hp->n_layer)));
	if ((v = or_u32(hp->max_position_embeddings, hp->n_ctx)))
		gg_kv_arch_u32(kv, arch, "context_length", v);
	if ((v = or_u32(hp->hidden_size, hp->n_embd)))
		gg_kv_arch_u32(kv, arch, "embedding_length", v);
	if ((v = or_u32(hp->intermediate_size, hp->n_inner)))
		gg_kv_arch_u32(kv, arch, "feed_forward_length", v);
	if ((v = or_u32(hp->num_attention_heads, hp->n_head))) {
		gg_kv_arch_u32(kv, arch, "attention.head_count", v);
		gg_kv_arch_u32(kv, arch, "rope.dimension_count", rope_dim(hp, p));
	}
	if (hp->head_dim)
		gg_kv_arch_u32(kv, arch, "attention.head_dim", hp->head_dim);
	if (hp->rope_theta > 0)
		gg_kv_arch_f32(kv, arch, "rope.freq_base", hp->rope_theta);
	write_rope_scaling(kv, arch, hp, p);
	if (hp->num_key_value_heads)
		gg_kv_arch_u32(kv, arch, "attention.head_count_kv", hp->num_key_value_heads);
	if (hp->rms_norm_eps > 0)
		gg_kv_arch_f32(kv, arch, "attention.layer_norm_rms_epsilon", hp->rms_norm_eps);
	float eps = or_f32(hp->layer_norm_eps,
			   or_f32(hp->layer_norm_epsilon, hp->norm_epsilon));
	if (eps > 0)
		gg_kv_arch_f32(kv, arch, "attention.layer_norm_epsilon", eps);
	if (hp->head_dim) {
		gg_kv_arch_u32(kv, arch, "attention.key_length", hp->head_dim);
		gg_kv_arch_u32(kv, arch, "attention.value_length", hp->head_dim);
	}
}

uint32_t llama_rope_factors(const struct llama_hparams *hp, uint32_t dim,
			    float *out)
{
	const struct llama_rope_scaling *rs = &hp->rope_scaling;
	if (!str_eq(rs->rope_type, "llama3") || hp->hidden_size == 0 ||
	    hp->num_attention_heads == 0 || hp->rope_theta == 0 || dim == 0)
		return 0;
	float factor = or_f32(rs->factor, 8.0f);
	float low = or_f32(rs->low_freq_factor, 1.0f);
	float high = or_f32(rs->high_freq_factor, 4.0f);
	uint32_t original = or_u32(rs->original_max_position_embeddings, 8192);
	float lambda_low = (float)original / low;
	float lambda_high = (float)original / high;
	uint32_t n = 0;
	for (uint32_t i = 0; i < dim; i += 2) {
		/* Wavelength in float64, thresholds in float32, as Ollama. */
		double lambda = 2 * M_PI * pow((double)hp->rope_theta,
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

void llama_add_rope_freqs(struct gg_outfile *f, const struct llama_hparams *hp,
			  enum gg_profile p)
{
	uint32_t dim = rope_dim(hp, p);
	if (p != GG_PROFILE_LLAMACPP && hp->num_attention_heads)
		dim = hp->hidden_size / hp->num_attention_heads;
	if (dim == 0)
		return;
	float *vals = gg_malloc(dim / 2 * sizeof *vals + sizeof *vals);
	uint32_t n = llama_rope_factors(hp, dim, vals);
	if (n)
		gg_outfile_add_f32(f, "rope_freqs.weight", vals, n);
	free(vals);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Heads to permute a tensor by, or 0 when it is not permuted. */
static uint32_t permute_heads(const char *name, const struct llama_hparams *hp,
			      enum gg_profile p)
{
	bool q = ends_with(name, "attn_q.weight") || ends_with(name, "attn_q_proj.weight");
	bool k = ends_with(name, "attn_k.weight") || ends_with(name, "attn_k_proj.weight");
	if (p == GG_PROFILE_LLAMACPP) {
		/* llama.cpp permutes biases too, with its own head counts. */
		q = q || ends_with(name, "attn_q.bias");
		k = k || ends_with(name, "attn_k.bias");
		uint32_t nh = or_u32(hp->num_attention_heads, hp->n_head);
		return q ? nh : k ? or_u32(hp->num_key_value_heads, nh) : 0;
	}
	if (q)
		return hp->num_attention_heads;
	return k ? or_u32(hp->num_key_value_heads, hp->num_attention_heads) : 0;
}

int llama_permute_qk(struct gg_outfile *f, const struct llama_hparams *hp,
		     enum gg_profile p, gg_err *e)
{
	/* A stand-in config with one head tells which names are permuted. */
	const struct llama_hparams one = { .num_attention_heads = 1 };
	for (size_t i = 0; i < f->ntensors; i++) {
		struct gg_tensor *t = &f->tensors[i];
		if (!permute_heads(t->name, &one, p))
			continue;
		uint32_t heads = permute_heads(t->name, hp, p);
		if (!heads)
			return gg_fail(e, "%s: cannot permute %s: config has no attention head count",
				       f->name, t->name);
		if (gg_view_rotary(&t->view, heads, e))
			return gg_fail(e, "%s: tensor %s: %llu rows cannot be permuted for %u heads",
				       f->name, t->name,
				       (unsigned long long)t->view.dim[0], heads);
	}
	return 0;
}

static bool skip_llamacpp(const char *name, void *arg)
{
	const struct gg_build *b = arg;
	/* Legacy checkpoints carry rotary tables llama.cpp would reject as
	 * extra tensors ("wrong number of tensors"). */
	return b->opt->profile == GG_PROFILE_LLAMACPP &&
	       ends_with(name, "rotary_emb.inv_freq");
}

static int build_llama(struct gg_build *b)
{
	struct llama_hparams hp;
	if (llama_hparams_parse(b->config, b->config_path, &hp, b->e))
		return -1;
	struct gg_outfile *f = gg_model_add_file(b->model, "model.gguf");
	if (gg_build_base_kv(b, f, "llama", NULL, 0))
		return -1;
	llama_write_kv(f->kvs, "llama", &hp, b->opt->profile);
	llama_add_rope_freqs(f, &hp, b->opt->profile);
	if (gg_build_add_renamed(b, f, llama_renames, llama_nrenames,
				 skip_llamacpp, b))
		return -1;
	return llama_permute_qk(f, &hp, b->opt->profile, b->e);
}

const struct gg_arch gg_arch_llama = {
	.hf_arch = "LlamaForCausalLM",
	.gguf_arch = "llama",
	.notes = "",
	.build = build_llama,
};
