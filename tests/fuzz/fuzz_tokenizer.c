/* fuzz_tokenizer.c - libFuzzer harness: the tokenizer files read the way a
 * mount reads them (tokenizer_load). The input is up to five files split at
 * NUL bytes: tokenizer.json, tokenizer_config.json, generation_config.json,
 * special_tokens_map.json, added_tokens.json. Each run also pads to a
 * vocabulary size taken from the input's length, so padding is exercised. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "jsonutil.h"
#include "tokenizer.h"

static const char *const names[] = {
	"tokenizer.json", "tokenizer_config.json", "generation_config.json",
	"special_tokens_map.json", "added_tokens.json",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write_parts(names, sizeof names / sizeof *names, data, size);
	for (int pad = 0; pad < 2; pad++) {
		struct gguf_kvs *kvs = gguf_kvs_new();
		gg_err e = {{0}};
		gg_json_arena_begin();
		int rc = tokenizer_load(fuzz_dir(), pad ? (uint32_t)(size % 4096) : 0,
					NULL, 0, kvs, &e);
		gg_json_arena_end();
		if (rc != 0 && (!e.msg[0] || strchr(e.msg, '\n')))
			abort();
		gguf_kvs_free(kvs);
	}
	return 0;
}
