/* registry.c - the converters gguffs knows (archs.h). To add one: define
 * its struct gg_arch in convert/arch_<name>.c, declare it in archs.h, list
 * it below and add the file to meson.build. */
#include "archs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const struct gg_arch *const gg_archs[] = {
	&gg_arch_llama,
	&gg_arch_mistral,
	&gg_arch_mixtral,
	&gg_arch_llama4,
	&gg_arch_mllama,
	&gg_arch_glm4moelite,
	&gg_arch_qwen2,
	&gg_arch_qwen3,
	&gg_arch_qwen3moe,
	&gg_arch_gptoss,
	&gg_arch_gemma3,
	&gg_arch_gemma3mm,
	&gg_arch_phi3,
	&gg_arch_lora,
	NULL,
};

const struct gg_arch *gg_arch_find(const char *hf_arch)
{
	for (size_t i = 0; gg_archs[i]; i++)
		if (!gg_archs[i]->config_file && strcmp(gg_archs[i]->hf_arch, hf_arch) == 0)
			return gg_archs[i];
	return NULL;
}

const struct gg_arch *gg_arch_find_gguf(const char *gguf_arch)
{
	for (size_t i = 0; gg_archs[i]; i++)
		if (strcmp(gg_archs[i]->gguf_arch, gguf_arch) == 0)
			return gg_archs[i];
	return NULL;
}

const struct gg_arch *gg_arch_for_dir(const char *dir)
{
	for (size_t i = 0; gg_archs[i]; i++) {
		if (!gg_archs[i]->config_file)
			continue;
		char *path = gg_path_join(dir, gg_archs[i]->config_file);
		/* Anything there (a FIFO too) picks the entry, whose open then
		 * refuses what is not a regular file. */
		bool found = gg_path_exists(path);
		free(path);
		if (found)
			return gg_archs[i];
	}
	return NULL;
}

void gg_arch_list(char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; gg_archs[i] && len < cap; i++) {
		if (gg_archs[i]->config_file)
			continue;
		int n = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "",
				 gg_archs[i]->hf_arch);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}
