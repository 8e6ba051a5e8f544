/* test_srcdrop.c - dropping consumed source pages (srcdrop.h): reading
 * every byte of a model once, in pieces of random size and in random order
 * (as parallel kernel requests arrive), drops each source block exactly
 * once and leaves the shards out of the page cache (checked with mincore);
 * bytes read before and after the drop are identical; without a dropper
 * (the control) the shards stay cached, so the residency check can fail. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"
#include "srcdrop.h"
#include "testutil.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
	return xorshift64(&rng);
}

/* Bytes of the set's shards resident in the page cache. */
static uint64_t resident(const struct st_set *set)
{
	uint64_t n = 0;
	for (size_t i = 0; i < set->nfiles; i++) {
		const struct st_file *f = &set->files[i];
		size_t pages = (size_t)((f->size + 4095) / 4096);
		unsigned char *v = malloc(pages);
		assert_int_equal(mincore((void *)f->map, f->size, v), 0);
		for (size_t k = 0; k < pages; k++)
			n += (v[k] & 1) ? 4096 : 0;
		free(v);
	}
	return n;
}

static uint64_t total_size(const struct st_set *set)
{
	uint64_t n = 0;
	for (size_t i = 0; i < set->nfiles; i++)
		n += set->files[i].size;
	return n;
}

/* Clean (fsync) and read every shard once. */
static void read_shards(const struct st_set *set)
{
	uint8_t *buf = malloc(1 << 20);
	for (size_t i = 0; i < set->nfiles; i++) {
		const struct st_file *f = &set->files[i];
		fsync(f->fd);
		for (uint64_t off = 0; off < f->size; off += 1 << 20)
			assert_true(pread(f->fd, buf, 1 << 20, (off_t)off) > 0);
	}
	free(buf);
}

/* The shards' residency after a read is not ours alone to decide: other
 * processes (parallel suites, benchmarks) fill the page cache and the
 * kernel evicts our pages meanwhile. A residency that load can lower is
 * therefore measured up to TRIES times, each after reading the shards
 * again; nothing but our own reads makes pages resident, so a reader that
 * drops them still fails every try. */
#define TRIES 20

static bool mostly_resident(const struct st_set *set, uint64_t *got)
{
	*got = resident(set);
	return *got > total_size(set) * 9 / 10;
}

/* Warm every shard into the page cache (at least 9/10 of its bytes). */
static void warm(const struct st_set *set)
{
	uint64_t got = 0;
	for (int i = 0; i < TRIES; i++) {
		read_shards(set);
		if (mostly_resident(set, &got))
			return;
		usleep(100 * 1000);
	}
	fail_msg("shards never stayed cached: %llu of %llu bytes resident",
		 (unsigned long long)got, (unsigned long long)total_size(set));
}

static void uncache(const struct st_set *set)
{
	for (size_t i = 0; i < set->nfiles; i++) {
		madvise((void *)set->files[i].map, set->files[i].size, MADV_DONTNEED);
		posix_fadvise(set->files[i].fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	assert_true(resident(set) < total_size(set) / 100);
}

static int dropping_reader(void *arg, const struct gg_outfile *f, size_t ti,
			   uint64_t off, size_t len, void *buf, gg_err *e)
{
	const struct gg_tensor *t = &f->tensors[ti];
	int rc = gg_tensor_read(f, t, off, len, buf, e);
	if (rc == 0)
		gg_srcdrop_consumed(arg, f, t, off, len);
	return rc;
}

struct piece { uint64_t off, len; };

/* Read all of f through the dropper in random pieces, shuffled. */
static void read_pieces(struct gg_srcdrop *d, const struct gg_outfile *f,
			const uint8_t *want, bool shuffle)
{
	size_t cap = 16, n = 0;
	struct piece *p = malloc(cap * sizeof *p);
	for (uint64_t off = 0; off < f->size; n++) {
		uint64_t len = 1 + rnd() % (3u << 20);
		if (len > f->size - off)
			len = f->size - off;
		if (n == cap)
			p = realloc(p, (cap *= 2) * sizeof *p);
		p[n] = (struct piece){ off, len };
		off += len;
	}
	for (size_t i = shuffle ? n : 0; i > 1; i--) {
		size_t j = (size_t)(rnd() % i);
		struct piece t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
	uint8_t *buf = malloc(3u << 20);
	gg_err e;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(gg_outfile_read_with(f, p[i].off, p[i].len, buf,
						      dropping_reader, d, &e), 0);
		assert_memory_equal(buf, want + p[i].off, p[i].len);
	}
	free(buf);
	free(p);
}

static uint8_t **read_all(const struct gg_model *m)
{
	uint8_t **bytes = calloc(m->nfiles, sizeof *bytes);
	gg_err e;
	for (size_t i = 0; i < m->nfiles; i++) {
		bytes[i] = malloc(m->files[i].size);
		assert_int_equal(gg_outfile_read(&m->files[i], 0, m->files[i].size,
						 bytes[i], &e), 0);
	}
	return bytes;
}

/* The current private copy of a fixture; removed by remove_copy, which is
 * also each test's teardown, so a failed assertion (which leaves the test
 * at once) leaves no copy behind in /tmp. */
static char *copy_dir;

static int remove_copy(void **state)
{
	(void)state;
	if (copy_dir)
		remove_tree(copy_dir);
	free(copy_dir);
	copy_dir = NULL;
	return 0;
}

/* A private copy of a fixture directory: other tests read (and so cache)
 * the shared one while this one measures what is cached. */
static char *copy_fixture(const char *name)
{
	remove_copy(NULL);
	char *src = fixture_path(name), *dst = make_temp_dir("srcdrop");
	copy_dir = dst;
	DIR *d = opendir(src);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *path = gg_path_join(src, de->d_name), *data;
		size_t len;
		gg_err e;
		if (gg_read_file(path, 1u << 30, &data, &len, &e) != 0)
			fail_msg("%s", e.msg);
		write_file(dst, de->d_name, data, len);
		free(data);
		free(path);
	}
	closedir(d);
	free(src);
	return dst;
}

static void check_fixture(const char *name, enum gg_profile prof)
{
	struct gg_model *m = open_model_dir(copy_fixture(name), prof);
	uint8_t **want = read_all(m);
	struct gg_srcdrop *d = gg_srcdrop_new(m->st, m->files, m->nfiles);
	struct gg_srcdrop_stats s;
	gg_srcdrop_stats_get(d, &s);
	assert_true(s.blocks > 0);
	assert_int_equal(s.drops, 0);

	warm(m->st);
	uint64_t total = total_size(m->st);
	/* 1: in order, sources cached; 2: in random order, which re-reads
	 * dropped blocks through readahead (so only the counts are exact);
	 * 3: in order from cold sources (one output file only: reading a
	 * second file that shares blocks with the first, readahead from its
	 * tensors refills blocks the first already dropped). */
	for (int pass = 1; pass <= 3; pass++) {
		if (pass == 3)
			uncache(m->st);
		for (size_t i = 0; i < m->nfiles; i++)
			read_pieces(d, &m->files[i], want[i], pass == 2);
		gg_srcdrop_stats_get(d, &s);
		/* Every block once per full pass: no early or missing drop. */
		assert_int_equal(s.drops, pass * s.blocks);
		uint64_t left = resident(m->st);
		bool strict = pass == 1 || (pass == 3 && m->nfiles == 1);
		if (strict && left > total / 20)
			fail_msg("%s: pass %d: %llu of %llu source bytes still cached",
				 name, pass, (unsigned long long)left,
				 (unsigned long long)total);
	}
	gg_srcdrop_free(d);

	/* Control: without a dropper the shards stay cached. */
	uint64_t got = 0;
	bool cached = false;
	for (int i = 0; i < TRIES && !cached; i++) {
		warm(m->st);
		for (size_t k = 0; k < m->nfiles; k++)
			read_pieces(NULL, &m->files[k], want[k], true);
		cached = mostly_resident(m->st, &got);
	}
	if (!cached)
		fail_msg("%s: control: only %llu of %llu source bytes cached "
			 "after reading without a dropper", name,
			 (unsigned long long)got, (unsigned long long)total);

	for (size_t i = 0; i < m->nfiles; i++)
		free(want[i]);
	free(want);
	gg_model_close(m);
	remove_copy(NULL);
}

static void test_llama_bf16_copies_and_permutes(void **state)
{
	(void)state;
	check_fixture("llama-bf16-3shard-rope3", GG_PROFILE_LLAMACPP);
	check_fixture("llama-bf16-3shard-rope3", GG_PROFILE_OLLAMA);
}

static void test_llama_f32_conversions(void **state)
{
	(void)state;
	check_fixture("llama-f32-tied", GG_PROFILE_LLAMACPP);
}

static void test_glm_transposes_and_stacks(void **state)
{
	(void)state;
	check_fixture("glm-tiny", GG_PROFILE_LLAMACPP);
}

static void test_llama4_two_files(void **state)
{
	(void)state;
	check_fixture("llama4-tiny", GG_PROFILE_LLAMACPP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_llama_bf16_copies_and_permutes, remove_copy),
		cmocka_unit_test_teardown(test_llama_f32_conversions, remove_copy),
		cmocka_unit_test_teardown(test_glm_transposes_and_stacks, remove_copy),
		cmocka_unit_test_teardown(test_llama4_two_files, remove_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
