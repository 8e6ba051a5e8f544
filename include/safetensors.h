/* safetensors.h - the tensors of a HuggingFace model directory.
 *
 * A st_set is every "*.safetensors" file of a directory, in lexical order
 * (Ollama reads them so and ignores the index), with each file's tensors in
 * byte-wise key order. Every header is validated before anything is used:
 * header length within the file and under ST_MAX_HEADER, JSON well-formed
 * and UTF-8, each entry an object with a supported dtype, a shape of at most
 * ST_MAX_DIMS non-negative integers whose product times the dtype size
 * equals the byte span (no overflow), data_offsets inside the data section
 * and not overlapping one another. If model.safetensors.index.json exists,
 * its weight_map must name exactly the tensors found, each in the shard it
 * names. Tensor names must be unique across shards.
 *
 * Files stay open and mapped read-only for the life of the set. The size,
 * mtime and inode of each file are recorded at open; st_file_check() tells
 * whether the file on disk is still that file.
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

/* Open every *.safetensors in dir (at least one must exist). */
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

/* 0 if the file at its path still has the recorded inode, size and mtime;
 * -1 (with a message) if it changed or vanished. */
int st_file_check(const struct st_file *f, gg_err *e);

#endif
