/* arch_llama.c - LlamaForCausalLM: Ollama's llama rules (llama_common.h). */
#include "lm.h"

#include "llama_common.h"

static int read_llama(struct gg_build *b, struct gg_hp *hp, enum gg_profile p)
{
	return llama_hp_read(hp, b->config, b->config_path, "", p, b->e);
}

static const struct gg_lm llama = {
	.arch = "llama",
	.renames = &llama_renames,
	.read_hp = read_llama,
	.write_kv = llama_write_kv,
	.spec = &llama_spec,
	.flags = GG_LM_PERMUTE_QK | GG_LM_ROPE_FREQS | GG_LM_DROP_INV_FREQ,
};

static int build_llama(struct gg_build *b)
{
	return gg_lm_build(b, &llama);
}

const struct gg_arch gg_arch_llama = {
	.hf_arch = "LlamaForCausalLM",
	.gguf_arch = "llama",
	.notes = "",
	.build = build_llama,
};
