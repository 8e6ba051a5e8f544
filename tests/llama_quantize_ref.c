/* llama_quantize_ref.c - llama_model_quantize of the bundled llama.cpp
 * (dlopen), as a command for the end-to-end tests and bench/quant-bench.sh:
 * the llama-quantize step of the pipeline gguffs -o type= replaces.
 *
 *   llama-quantize-ref BINS_DIR IN.gguf OUT.gguf FTYPE NTHREAD
 *
 * FTYPE is a llama_ftype number (7 Q8_0, 15 Q4_K_M, ...). Exit 0 on
 * success. GGUFFS_LLAMA_LOG=1 shows llama.cpp's log. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "llama_abi.h"

static void quiet(int level, const char *text, void *user)
{
	(void)level;
	(void)text;
	(void)user;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s BINS_DIR IN OUT FTYPE NTHREAD\n", argv[0]);
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", argv[1], LLAMA_ABI_LIB_LLAMA);
	void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "llama-quantize-ref: %s\n", dlerror());
		return 1;
	}
	llama_log_set_fn log_set = (llama_log_set_fn)dlsym(lib, "llama_log_set");
	llama_default_params_fn defaults =
		(llama_default_params_fn)dlsym(lib, "llama_model_quantize_default_params");
	llama_model_quantize_fn quantize =
		(llama_model_quantize_fn)dlsym(lib, "llama_model_quantize");
	if (!log_set || !defaults || !quantize) {
		fprintf(stderr, "llama-quantize-ref: %s lacks the quantize API\n", path);
		return 1;
	}
	if (!getenv("GGUFFS_LLAMA_LOG"))
		log_set(quiet, NULL);
	struct llama_quantize_params p = defaults();
	p.ftype = atoi(argv[4]);
	p.nthread = atoi(argv[5]);
	return quantize(argv[2], argv[3], &p) == 0 ? 0 : 1;
}
