/* fuzz_config.c - libFuzzer harness: config.json through the model opener
 * (gg_model_open, both profiles), beside the real tensors and tokenizer of
 * the llama-spm fixture ($GGUFFS_FIXTURES, made by tests/run.sh). The input
 * is config.json; a second part after a NUL byte, if any, becomes
 * model.safetensors.index.json. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "model.h"

static const char *const names[] = {
	"config.json", "model.safetensors.index.json",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	const char *root = getenv("GGUFFS_FIXTURES");
	if (!root) {
		fprintf(stderr, "fuzz_config: GGUFFS_FIXTURES is not set (run "
			"bash tests/run.sh --fuzz SECONDS)\n");
		abort();
	}
	char src[4096];
	snprintf(src, sizeof src, "%s/llama-spm", root);
	static const char *const keep[] = {
		"model.safetensors", "tokenizer.model", "tokenizer_config.json",
		"generation_config.json",
	};
	for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
		fuzz_link(src, keep[i]);
	setenv("GGUFFS_CACHE_DIR", "off", 1); /* the parse, every time */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_parts(names, sizeof names / sizeof *names, data, size);
	for (int p = 0; p < 2; p++) {
		struct gg_options opt = {
			.profile = p ? GG_PROFILE_OLLAMA : GG_PROFILE_LLAMACPP,
		};
		struct gg_model *m = NULL;
		gg_err e = {{0}};
		if (gg_model_open(fuzz_dir(), &opt, &m, &e) == 0)
			gg_model_close(m);
		else if (!e.msg[0] || strchr(e.msg, '\n'))
			abort();
	}
	return 0;
}
