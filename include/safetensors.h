/* safetensors.h - the tensors of a HuggingFace model directory.
 *
 * A st_set is the shards of a model directory, in lexical order, with each
 * file's tensors in byte-wise key order. The shards are, in both profiles,
 * what convert_hf_to_gguf reads:
 *   - the files model.safetensors.index.json's weight_map names, when it
 *     exists (each a plain *.safetensors name in the directory);
 *   - else every model*.safetensors;
 *   - else (an adapter directory) adapter_model.safetensors (PEFT), else
 *     adapters.safetensors (MLX-LM; its numbered checkpoints are not read).
 * Every other *.safetensors beside them (a consolidated.safetensors that
 * Mistral repositories ship next to the shards, an optimizer state, an
 * MLX checkpoint) is ignored: it is not part of the model, and reading it,
 * as Ollama does with every *.safetensors, would write tensors llama.cpp
 * refuses ("wrong number of tensors"). A selected name that is not a
 * regular file (a FIFO, a directory, a dangling link) is refused. Every
 * header is validated before anything is used:
 * header length within the file and under ST_MAX_HEADER, JSON well-formed
 * and UTF-8, each entry an object with a supported dtype, a shape of at most
 * ST_MAX_DIMS non-negative integers whose product times the dtype size
 * equals the byte span (no overflow), data_offsets inside the data section
 * and not overlapping one another. If model.safetensors.index.json exists,
 * its weight_map must name exactly the tensors found, each in the shard it
 * names. Tensor names must be unique across shards.
 *
 * Files stay open and mapped read-only for the life of the set. The
 * identity of each file (device, inode, size, mtime and ctime) is recorded
 * at open; st_file_check() tells whether the file on disk is still that file
 * with that content.
 */
#ifndef GGUFFS_SAFETENSORS_H
#define GGUFFS_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "dtype.h"
#include "util.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20) /* the format's own 100 MB limit */

struct st_file {
	char *path;      /* full path */
	char *name;      /* basename, e.g. "model-00001-of-00003.safetensors" */
	int fd;
	uint64_t size;
	struct timespec mtime;
	struct timespec ctime; /* no user can set it: any write, truncate,
				* touch, chmod or rename moves it */
	dev_t dev;
	ino_t ino;
	const uint8_t *map; /* whole file, PROT_READ, MAP_SHARED; NULL if size 0 */
	uint64_t data_start; /* 8 + header length */
};

struct st_tensor {
	char *name;       /* HF name as in the header */
	enum gg_type dtype;
	int ndim;         /* 0-D tensors are promoted to [1], as Ollama does */
	uint64_t shape[ST_MAX_DIMS];
	uint64_t nelem;
	uint32_t file;    /* index into st_set.files */
	uint64_t offset;  /* absolute byte offset in the file */
	uint64_t nbytes;
};

struct st_set {
	struct st_file *files;
	size_t nfiles;
	struct st_tensor *tensors; /* files in order, keys sorted per file */
	size_t ntensors;
};

/* Open the shards of dir, chosen as above (at least one). */
int st_set_open_dir(const char *dir, struct st_set **out, gg_err *e);
/* Open an explicit list of files (for tests and adapters). */
int st_set_open_files(const char *const *paths, size_t n, struct st_set **out,
		      gg_err *e);
void st_set_close(struct st_set *set);

/* Exact-name lookup (hash table built at open); NULL if absent. */
const struct st_tensor *st_set_find(const struct st_set *set, const char *name);

/* Parse and validate one header from memory (exposed for the tests and the
 * fuzzer). buf holds at least the file's first 8 + header-length bytes
 * (the whole file will do); size is the file's size. On success fills a
 * malloc'd array of tensors (file index 0, absolute offsets) and *n. */
int st_parse(const uint8_t *buf, uint64_t size, const char *name,
	     struct st_tensor **tensors, size_t *n, uint64_t *data_start,
	     gg_err *e);
void st_tensors_free(struct st_tensor *t, size_t n);

/* 0 if the file at its path is still the one opened, unchanged: same
 * device, inode, size, mtime and ctime. -1 (with a message) if it changed
 * (an in-place rewrite that restores the mtime, as `rsync --inplace -t`
 * does, still moves the ctime), was replaced or vanished. Callers that read
 * a source check before and after reading it: a change that lands while
 * the bytes are read moves the ctime before the data (the kernel updates
 * the times first), so bytes that pass both checks are the bytes that were
 * there at open. Thread-safe (one stat(2)). */
int st_file_check(const struct st_file *f, gg_err *e);

#endif
