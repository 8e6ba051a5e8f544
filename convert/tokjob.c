/* tokjob.c - tokenizer metadata on a second thread (tokjob.h). */
#include "tokjob.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "jsonutil.h"
#include "tokcache.h"
#include "tokenizer.h"

struct gg_tokjob {
	pthread_t thread;
	bool joined;
	const char *dir;
	uint32_t vocab;
	uint64_t max_rows;
	struct gguf_kvs *kvs;
	gg_err err;
	int rc;
};

int gg_config_vocab_size(const cJSON *config, const char *path, uint32_t *vocab,
			 gg_err *e)
{
	const cJSON *text = NULL;
	*vocab = 0;
	if (gg_json_u32(config, "vocab_size", vocab, path, e) ||
	    gg_json_obj(config, "text_config", &text, path, e))
		return -1;
	if (*vocab == 0 && text && gg_json_u32(text, "vocab_size", vocab, path, e))
		return -1;
	return 0;
}

static int load(const char *dir, uint32_t vocab, uint64_t max_rows,
		const char *const *special_types, size_t n_special,
		struct gguf_kvs *kvs, gg_err *e)
{
	/* Only the default special token types are cached (tokcache.h). */
	if (!special_types && tokcache_load(dir, vocab, kvs))
		return 0;
	struct gguf_kvs *fresh = gguf_kvs_new();
	/* tokenizer_load copies out everything it keeps. */
	gg_json_arena_begin();
	int rc = tokenizer_load_bounded(dir, vocab, max_rows, special_types, n_special,
					fresh, e);
	gg_json_arena_end();
	if (rc == 0 && !special_types)
		tokcache_store(dir, vocab, fresh);
	gguf_kvs_move(kvs, fresh);
	gguf_kvs_free(fresh);
	return rc;
}

int gg_tokenizer_kvs(const char *dir, const cJSON *config, const char *config_path,
		     uint64_t max_rows, const char *const *special_types, size_t n_special,
		     struct gguf_kvs *kvs, gg_err *e)
{
	uint32_t vocab;
	if (gg_config_vocab_size(config, config_path, &vocab, e))
		return -1;
	return load(dir, vocab, max_rows, special_types, n_special, kvs, e);
}

static void *run(void *arg)
{
	struct gg_tokjob *job = arg;
	job->rc = load(job->dir, job->vocab, job->max_rows, NULL, 0, job->kvs, &job->err);
	return NULL;
}

struct gg_tokjob *gg_tokjob_start(const char *dir, const cJSON *config,
				  const char *config_path, uint64_t max_rows)
{
	gg_err ignored;
	uint32_t vocab;
	if (gg_config_vocab_size(config, config_path, &vocab, &ignored))
		return NULL; /* the converter reports it */
	struct gg_tokjob *job = gg_calloc(1, sizeof *job);
	job->dir = dir;
	job->vocab = vocab;
	job->max_rows = max_rows;
	job->kvs = gguf_kvs_new();
	if (pthread_create(&job->thread, NULL, run, job) != 0) {
		gguf_kvs_free(job->kvs);
		free(job);
		return NULL;
	}
	return job;
}

static void join(struct gg_tokjob *job)
{
	if (!job->joined)
		pthread_join(job->thread, NULL);
	job->joined = true;
}

int gg_tokjob_take(struct gg_tokjob *job, struct gguf_kvs *kvs, gg_err *e)
{
	join(job);
	if (job->rc) {
		*e = job->err;
		return -1;
	}
	gguf_kvs_move(kvs, job->kvs);
	return 0;
}

void gg_tokjob_free(struct gg_tokjob *job)
{
	if (!job)
		return;
	join(job);
	gguf_kvs_free(job->kvs);
	free(job);
}
