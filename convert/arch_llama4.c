/* arch_llama4.c - Llama4ForConditionalGeneration (placeholder: being written). */
#include "model.h"

static int build_llama4(struct gg_build *b)
{
	return gg_fail(b->e, "%s: Llama4ForConditionalGeneration is not implemented yet", b->config_path);
}

const struct gg_arch gg_arch_llama4 = {
	.hf_arch = "Llama4ForConditionalGeneration",
	.gguf_arch = "llama4",
	.notes = "",
	.build = build_llama4,
};
