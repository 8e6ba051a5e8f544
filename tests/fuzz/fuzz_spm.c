/* fuzz_spm.c - libFuzzer harness: the SentencePiece model reader
 * (tokenizer.model, protobuf) over arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spm_model m;
	gg_err e = {{0}};
	memset(&m, 0, sizeof m);
	if (spm_parse(data, size, "fuzz.model", &m, &e) == 0) {
		for (size_t i = 0; i < m.n; i++)
			if (!m.pieces[i].piece)
				abort();
		spm_free(&m);
	} else if (!e.msg[0] || strchr(e.msg, '\n')) {
		abort();
	}
	return 0;
}
