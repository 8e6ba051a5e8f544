/* tokjob.h - the tokenizer metadata of a model directory, read on a second
 * thread while the safetensors headers are parsed.
 *
 * The tokenizer files are most of the JSON a mount parses; on two cores
 * reading them beside the headers halves the time to mount. A job uses the
 * default special token types and the config's vocabulary size (config.json
 * vocab_size, else text_config.vocab_size, as Ollama); converters asking
 * for other special types load synchronously with gg_tokenizer_kvs. Both
 * go through the on-disk cache (tokcache.h) for the default types.
 */
#ifndef GGUFFS_TOKJOB_H
#define GGUFFS_TOKJOB_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "gguf.h"
#include "util.h"

struct gg_tokjob;

/* Start reading dir's tokenizer; NULL when that cannot start (a bad
 * vocab_size, no thread): the converter then reports or loads itself.
 * max_rows bounds the vocabulary padding (tokenizer_load_bounded: the
 * largest source dimension). dir must outlive the job. */
struct gg_tokjob *gg_tokjob_start(const char *dir, const cJSON *config,
				  const char *config_path, uint64_t max_rows);

/* Wait for the job and move its KVs into kvs (once). Returns the job's
 * result: 0, or -1 with e set. */
int gg_tokjob_take(struct gg_tokjob *job, struct gguf_kvs *kvs, gg_err *e);

/* Wait for the job (if running) and free it; NULL is fine. */
void gg_tokjob_free(struct gg_tokjob *job);

/* The tokenizer KVs of dir, synchronously (special_types NULL: the
 * default list, cached on disk). */
int gg_tokenizer_kvs(const char *dir, const cJSON *config, const char *config_path,
		     uint64_t max_rows, const char *const *special_types, size_t n_special,
		     struct gguf_kvs *kvs, gg_err *e);

/* config vocab_size, else text_config.vocab_size (0 when neither). */
int gg_config_vocab_size(const cJSON *config, const char *path, uint32_t *vocab,
			 gg_err *e);

#endif
