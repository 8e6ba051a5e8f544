/* arch_llama.c - the converters writing llama.cpp's `llama` architecture:
 * LlamaForCausalLM, MistralForCausalLM and MixtralForCausalLM, on
 * Ollama's llama rules (llama_common.h).
 *
 * Mistral is Llama's layout with head_dim and a sliding window llama.cpp's
 * llama runs without (it attends the whole context, which equals the window
 * for prompts shorter than it). Ollama's converter has no MistralForCausalLM
 * case. Mixtral adds experts (block_sparse_moe.experts.N.w1/w2/w3: gate,
 * down, up) stacked in numeric order and a router; Ollama's converter stacks
 * w2 as ffn_up_exps and w3 as ffn_down_exps, a file llama.cpp refuses
 * (wrong shape), so its profile writes Ollama's bytes with that corrected.
 */
#include "lm.h"

#include "llama_common.h"

static int read_llama(struct gg_build *b, struct gg_hp *hp, enum gg_profile p)
{
	return llama_hp_read(hp, b->config, b->config_path, "", p, b->e);
}

static void write_llama(const struct gg_build *b, struct gguf_kvs *kv, const char *arch,
			const struct gg_hp *hp, enum gg_profile p)
{
	(void)b;
	llama_write_kv(kv, arch, hp, p);
}

#define LLAMA_FLAGS (GG_LM_PERMUTE_QK | GG_LM_ROPE_FREQS | GG_LM_DROP_INV_FREQ)

static const struct gg_lm llama = {
	.arch = "llama",
	.renames = &llama_renames,
	.read_hp = read_llama,
	.write_kv = write_llama,
	.spec = &llama_spec,
	.flags = LLAMA_FLAGS,
};

static const struct gg_lm mistral = {
	.arch = "llama",
	.renames = &llama_renames,
	.read_hp = read_llama,
	.write_kv = write_llama,
	.spec = &llama_spec,
	.flags = LLAMA_FLAGS,
	.vocab = GG_LM_VOCAB_SPM,
	.no_ollama = "MistralForCausalLM: Ollama's converter has no case for this architecture; "
		     "profile=ollama gives the llamacpp output",
};

static const char *const mixtral_pairs[] = {
	"model.layers", "blk",
	"block_sparse_moe.gate", "ffn_gate_inp",
	"block_sparse_moe.experts.", ".",
};
static const struct gg_renames mixtral_renames = GG_RENAMES(&llama_renames, mixtral_pairs);

static const struct gg_stack_rule mixtral_experts[] = {
	{ "model.layers.#.block_sparse_moe.experts.#.w1.weight", "blk.%u.ffn_gate_exps.weight" },
	{ "model.layers.#.block_sparse_moe.experts.#.w2.weight", "blk.%u.ffn_down_exps.weight" },
	{ "model.layers.#.block_sparse_moe.experts.#.w3.weight", "blk.%u.ffn_up_exps.weight" },
};

/* mixtralModel.KV: written when > 0; llama.cpp's needs both. */
static const struct gg_hparam mixtral_hparams[] = {
	{ "n_expert", "num_local_experts", GG_HP_U32, GG_HP_REQUIRED, "expert_count", 0 },
	{ "n_expert_used", "num_experts_per_tok", GG_HP_U32, GG_HP_REQUIRED, "expert_used_count", 0 },
};

static int check_mixtral(struct gg_build *b, const struct gg_hp *hp, enum gg_profile p)
{
	(void)p;
	if (gg_hp_u32(hp, "n_expert_used") > gg_hp_u32(hp, "n_expert"))
		return gg_hp_refuse(hp, "n_expert_used", "is more than num_local_experts", b->e);
	return 0;
}

static const struct gg_lm mixtral = {
	.arch = "llama",
	.renames = &mixtral_renames,
	.read_hp = read_llama,
	.hparams = mixtral_hparams,
	.nhparams = sizeof mixtral_hparams / sizeof *mixtral_hparams,
	.check = check_mixtral,
	.write_kv = write_llama,
	.stacks = mixtral_experts,
	.nstacks = sizeof mixtral_experts / sizeof *mixtral_experts,
	.n_experts = "n_expert",
	.spec = &llama_spec,
	.flags = LLAMA_FLAGS,
	.vocab = GG_LM_VOCAB_SPM,
};

static int build_llama(struct gg_build *b)
{
	return gg_lm_build(b, &llama);
}

static int build_mistral(struct gg_build *b)
{
	return gg_lm_build(b, &mistral);
}

static int build_mixtral(struct gg_build *b)
{
	if (gg_profile_is_ollama(b->opt->profile))
		b->model->notice = "MixtralForCausalLM: Ollama's converter stacks w2 (the down "
				   "projection) as ffn_up_exps and w3 as ffn_down_exps, which llama.cpp "
				   "refuses; profile=ollama writes Ollama's bytes with w2 as "
				   "ffn_down_exps and w3 as ffn_up_exps";
	return gg_lm_build(b, &mixtral);
}

const struct gg_arch gg_arch_llama = {
	.hf_arch = "LlamaForCausalLM",
	.gguf_arch = "llama",
	.notes = "",
	.build = build_llama,
};

const struct gg_arch gg_arch_mistral = {
	.hf_arch = "MistralForCausalLM",
	.gguf_arch = "llama",
	.notes = "no Ollama converter (ollama profile = llamacpp output)",
	.build = build_mistral,
};

const struct gg_arch gg_arch_mixtral = {
	.hf_arch = "MixtralForCausalLM",
	.gguf_arch = "llama",
	.notes = "experts stacked in numeric order; ollama profile: Ollama's bytes with w2/w3 corrected",
	.build = build_mixtral,
};
