/* gguf_reader.h - parse a GGUF file's header (any version-3 file, not just
 * ours), with every length, count and offset bounds-checked against the file
 * size. Used by gguffs-inspect, by the LoRA converter to read a base GGUF and
 * by the tests.
 */
#ifndef GGUFFS_GGUF_READER_H
#define GGUFFS_GGUF_READER_H

#include "gguf.h"

struct gguf_file {
	uint32_t version;
	struct gguf_kvs *kvs; /* in file order */
	struct gguf_tensor_info *tensors;
	uint64_t ntensors;
	uint32_t alignment;   /* general.alignment or 32 */
	uint64_t data_offset; /* absolute offset of the data section */
	uint64_t file_size;
};

/* Parse path, opened with gg_open_input (never blocks; only regular
 * files). Errors (one line, naming path): truncated header, bad magic,
 * unsupported version, string/array lengths past the end of file, unknown
 * value or tensor types, too many dims, element-count overflow, tensor data
 * outside the file, misaligned offsets. */
int gguf_read_file(const char *path, struct gguf_file **out, gg_err *e);
/* Same, from an open regular file of size bytes (read with pread, not
 * mapped), path for messages; the caller opened it (gg_open_input or, for
 * a file gguffs wrote itself, gg_open_own) and closes it. */
int gguf_read_fd(int fd, uint64_t size, const char *path,
		 struct gguf_file **out, gg_err *e);
/* Same, over a memory buffer holding at least the header (name for errors). */
int gguf_read_mem(const void *buf, size_t len, uint64_t file_size,
		  const char *name, struct gguf_file **out, gg_err *e);
void gguf_file_free(struct gguf_file *f);

/* Name of a GGML tensor type id ("F32", "Q4_K", ...), NULL if unknown. */
const char *gguf_ggml_type_name(uint32_t id);
/* Elements and bytes per block of GGML type id (1 and the element size for
 * plain types); false for an unknown id. */
bool gguf_ggml_type_geom(uint32_t id, uint32_t *block, uint32_t *bytes);

#endif
