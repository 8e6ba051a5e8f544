/* test_tokcache.c - the tokenizer cache stays within its budget, least
 * recently used entries out first, and serves what was stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "tokcache.h"

static struct gguf_kvs *vocab_kvs(const char *token)
{
	struct gguf_kvs *kvs = gguf_kvs_new();
	const char *toks[] = { token, "b", "c" };
	gguf_kvs_set_arr_str(kvs, "tokenizer.ggml.tokens", toks, NULL, 3);
	gguf_kvs_set_str(kvs, "tokenizer.ggml.model", "llama");
	return kvs;
}

static void store(const char *model, uint32_t vocab)
{
	struct gguf_kvs *kvs = vocab_kvs("a");
	tokcache_store(model, vocab, kvs);
	gguf_kvs_free(kvs);
}

static bool load(const char *model, uint32_t vocab)
{
	struct gguf_kvs *kvs = gguf_kvs_new();
	bool hit = tokcache_load(model, vocab, kvs);
	gguf_kvs_free(kvs);
	return hit;
}

static size_t entries(const char *cache, uint64_t *bytes)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "ls %s | grep -c '^tok-.*gguf$'; du -cb %s/tok-* 2>/dev/null | tail -1",
		 cache, cache);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	unsigned long long b = 0;
	assert_int_equal(fscanf(p, "%zu %llu", &n, &b), 2);
	pclose(p);
	*bytes = b;
	return n;
}

static void cleanup(char *cache, char *model)
{
	unsetenv("GGUFFS_CACHE_MAX");
	unsetenv("GGUFFS_CACHE_DIR");
	remove_tree(cache);
	remove_tree(model);
	free(cache);
	free(model);
}

/* Five entries under a budget of four: the least recently used goes, and a
 * hit counts as a use. */
static void test_budget_lru(void **state)
{
	(void)state;
	char *cache = make_temp_dir("tokcache-lru"), *model = make_temp_dir("tokcache-model");
	setenv("GGUFFS_CACHE_DIR", cache, 1);
	store(model, 1);
	struct stat st;
	char *one = NULL;
	uint64_t bytes;
	assert_int_equal(entries(cache, &bytes), 1);
	char budget[32];
	snprintf(budget, sizeof budget, "%llu", (unsigned long long)bytes * 4);
	setenv("GGUFFS_CACHE_MAX", budget, 1);
	for (uint32_t v = 2; v <= 4; v++) {
		usleep(20000); /* distinct mtimes on coarse clocks */
		store(model, v);
	}
	assert_int_equal(entries(cache, &bytes), 4);
	usleep(20000);
	assert_true(load(model, 1)); /* the oldest entry becomes the most recent */
	usleep(20000);
	store(model, 5);
	assert_int_equal(entries(cache, &bytes), 4);
	assert_false(load(model, 2));
	assert_true(load(model, 1));
	assert_true(load(model, 3));
	assert_true(load(model, 4));
	assert_true(load(model, 5));
	/* A dead writer's temporary file goes; a foreign file never does. */
	if (asprintf(&one, "%s/tok-0.gguf.tmp-1", cache) < 0)
		fail();
	FILE *f = fopen(one, "w");
	fclose(f);
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, one, old, 0), 0);
	char *foreign = NULL;
	if (asprintf(&foreign, "%s/notes.txt", cache) < 0)
		fail();
	f = fopen(foreign, "w");
	fputs("mine", f);
	fclose(f);
	assert_int_equal(utimensat(AT_FDCWD, foreign, old, 0), 0);
	store(model, 11);
	assert_int_not_equal(stat(one, &st), 0);
	assert_int_equal(stat(foreign, &st), 0);
	assert_true(load(model, 11));
	free(one);
	free(foreign);
	cleanup(cache, model);
}

/* A budget of zero keeps the entry just written (the next mount uses it). */
static void test_zero_budget_keeps_newest(void **state)
{
	(void)state;
	char *cache = make_temp_dir("tokcache-zero"), *model = make_temp_dir("tokcache-model");
	setenv("GGUFFS_CACHE_DIR", cache, 1);
	setenv("GGUFFS_CACHE_MAX", "0", 1);
	store(model, 1);
	store(model, 2);
	uint64_t bytes;
	assert_int_equal(entries(cache, &bytes), 1);
	assert_true(load(model, 2));
	cleanup(cache, model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_lru),
		cmocka_unit_test(test_zero_budget_keeps_newest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
