/* archs.h - the registry of converters.
 *
 * Every converter is one `const struct gg_arch` defined in its
 * convert/arch_<name>.c, declared here and listed in convert/registry.c.
 * A model directory picks its converter by config.json's
 * architectures[0]; a directory that holds an entry's marker file
 * (config_file, e.g. adapter_config.json) picks that entry instead.
 * The registry is constant data: safe to read from any thread.
 */
#ifndef GGUFFS_ARCHS_H
#define GGUFFS_ARCHS_H

#include <stdbool.h>
#include <stddef.h>

struct gg_build;

struct gg_arch {
	const char *hf_arch;     /* config.json architectures[0] it converts */
	const char *gguf_arch;   /* general.architecture written */
	const char *notes;       /* one line for README / inspect */
	bool no_upstream;        /* no upstream llama.cpp runtime loads this arch */
	/* The file describing such a directory instead of config.json
	 * (adapters: "adapter_config.json"), or NULL. */
	const char *config_file;
	int (*build)(struct gg_build *b);
};

extern const struct gg_arch gg_arch_llama, gg_arch_mistral, gg_arch_mixtral,
	gg_arch_llama4, gg_arch_mllama, gg_arch_glm4moelite, gg_arch_qwen2, gg_arch_qwen3,
	gg_arch_qwen3moe, gg_arch_lora, gg_arch_gptoss, gg_arch_gemma3, gg_arch_gemma3mm,
	gg_arch_phi3;

/* Every converter, NULL-terminated, in the order error messages list them. */
extern const struct gg_arch *const gg_archs[];

/* The converter for config.json's architectures[0] (entries with a
 * config_file never match), or NULL. */
const struct gg_arch *gg_arch_find(const char *hf_arch);

/* The first converter writing general.architecture gguf_arch, or NULL:
 * lets tools print what gguffs knows about a file's runtime support. */
const struct gg_arch *gg_arch_find_gguf(const char *gguf_arch);

/* The converter whose marker file exists in dir, or NULL. */
const struct gg_arch *gg_arch_for_dir(const char *dir);

/* "A, B, C": the architectures[0] names gguffs converts, for messages;
 * truncated to cap bytes (always NUL-terminated). */
void gg_arch_list(char *buf, size_t cap);

#endif
