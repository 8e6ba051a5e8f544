/* fuzz_safetensors.c - libFuzzer harness: one safetensors header (st_parse)
 * over arbitrary bytes. The input is the whole file; every outcome but a
 * clean accept or a one-line refusal is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_tensor *t = NULL;
	size_t n = 0;
	uint64_t start = 0;
	gg_err e = {{0}};
	if (st_parse(data, size, "fuzz.safetensors", &t, &n, &start, &e) == 0) {
		/* Accepted: every span lies inside the input. */
		for (size_t i = 0; i < n; i++)
			if (t[i].offset < start || t[i].offset > size ||
			    t[i].nbytes > size - t[i].offset)
				abort();
		st_tensors_free(t, n);
	} else if (!e.msg[0] || strchr(e.msg, '\n')) {
		abort(); /* a refusal must say why, on one line */
	}
	return 0;
}
