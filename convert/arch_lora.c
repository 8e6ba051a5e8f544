/* arch_lora.c - PEFT LoRA adapters (placeholder: being written). */
#include "model.h"

static int build_lora(struct gg_build *b)
{
	return gg_fail(b->e, "%s: LoRA adapters are not implemented yet", b->config_path);
}

const struct gg_arch gg_arch_lora = {
	.hf_arch = "PEFT LoRA adapter",
	.gguf_arch = "llama",
	.notes = "",
	.build = build_lora,
};
