/* arch_mllama.c - MllamaForConditionalGeneration (placeholder: being written). */
#include "model.h"

static int build_mllama(struct gg_build *b)
{
	return gg_fail(b->e, "%s: MllamaForConditionalGeneration is not implemented yet", b->config_path);
}

const struct gg_arch gg_arch_mllama = {
	.hf_arch = "MllamaForConditionalGeneration",
	.gguf_arch = "mllama",
	.notes = "",
	.build = build_mllama,
};
