/* fuzz_gguf.c - libFuzzer harness: the GGUF header reader over arbitrary
 * bytes, taken as the first bytes of a file 4 GiB longer (so tensor data
 * may lie past the input, as in a real file read by its header only). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f = NULL;
	gg_err e = {{0}};
	for (int whole = 0; whole < 2; whole++) {
		uint64_t file_size = whole ? size : (uint64_t)size + (4ull << 30);
		if (gguf_read_mem(data, size, file_size, "fuzz.gguf", &f, &e) == 0) {
			/* Accepted: every tensor's data lies in the file. */
			for (uint64_t i = 0; i < f->ntensors; i++) {
				const struct gguf_tensor_info *t = &f->tensors[i];
				if (t->offset > file_size ||
				    t->nbytes > file_size - t->offset ||
				    f->data_offset > file_size - t->offset - t->nbytes)
					abort();
			}
			gguf_file_free(f);
		} else if (!e.msg[0] || strchr(e.msg, '\n')) {
			abort();
		}
	}
	return 0;
}
