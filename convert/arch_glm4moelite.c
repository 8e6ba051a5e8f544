/* arch_glm4moelite.c - Glm4MoeLiteForCausalLM (placeholder: being written). */
#include "model.h"

static int build_glm4moelite(struct gg_build *b)
{
	return gg_fail(b->e, "%s: Glm4MoeLiteForCausalLM is not implemented yet", b->config_path);
}

const struct gg_arch gg_arch_glm4moelite = {
	.hf_arch = "Glm4MoeLiteForCausalLM",
	.gguf_arch = "deepseek2",
	.notes = "",
	.build = build_glm4moelite,
};
