/* test_store.c - the on-disk chunk store: round trips, every kind of bad
 * file refused (and removed), the budget kept by LRU eviction, leftovers
 * of dead writers cleaned, and processes sharing one directory. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fingerprint.h"
#include "model.h"
#include "store.h"
#include "testutil.h"

static struct chunk_store_key key_of(unsigned n)
{
	struct chunk_store_key k;
	for (int i = 0; i < 16; i++)
		k.b[i] = (uint8_t)(n * 37 + i * 11);
	return k;
}

static uint8_t *payload(unsigned n, size_t len)
{
	uint8_t *p = malloc(len);
	uint64_t s = n + 1;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)xorshift64(&s);
	return p;
}

/* The file a key lives in (the layout store.h documents). */
static char *key_file(const char *dir, const struct chunk_store_key *k)
{
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", k->b[i]);
	char *p = malloc(strlen(dir) + 64);
	sprintf(p, "%s/%.2s/%s.chunk", dir, hex, hex);
	return p;
}

static struct chunk_store *open_store(const char *dir, uint64_t budget)
{
	struct chunk_store *s;
	gg_err e;
	if (chunk_store_open(dir, budget, &s, &e))
		fail_msg("%s", e.msg);
	return s;
}

static void test_round_trip(void **state)
{
	(void)state;
	char *dir = make_temp_dir("store");
	char sub[512];
	snprintf(sub, sizeof sub, "%s/a/b", dir); /* parents are created */
	struct chunk_store *s = open_store(sub, 1 << 30);
	struct chunk_store_key k = key_of(1);
	uint8_t *p = payload(1, 100000), *got = malloc(100000);
	assert_int_equal(chunk_store_get(s, &k, got, 100000), -1);
	chunk_store_put(s, &k, p, 100000);
	assert_int_equal(chunk_store_get(s, &k, got, 100000), 0);
	assert_memory_equal(got, p, 100000);
	/* A second store over the same directory (another mount) sees it. */
	struct chunk_store *t = open_store(sub, 1 << 30);
	memset(got, 0, 100000);
	assert_int_equal(chunk_store_get(t, &k, got, 100000), 0);
	assert_memory_equal(got, p, 100000);
	struct chunk_store_stats st;
	chunk_store_stats(s, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.bytes, 100048);
	chunk_store_close(t);
	chunk_store_close(s);
	free(p);
	free(got);
	remove_tree(dir);
	free(dir);
}

/* Rewrite byte at off of path (xor), or truncate it to len (off < 0). */
static void damage(const char *path, long off, off_t len)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	if (off >= 0) {
		uint8_t b;
		assert_int_equal(pread(fd, &b, 1, off), 1);
		b ^= 0x40;
		assert_int_equal(pwrite(fd, &b, 1, off), 1);
	} else {
		assert_int_equal(ftruncate(fd, len), 0);
	}
	close(fd);
}

/* Each kind of bad file is never served, is removed, and a put heals it. */
static void test_bad_files(void **state)
{
	(void)state;
	char *dir = make_temp_dir("store-bad");
	struct chunk_store *s = open_store(dir, 1 << 30);
	const size_t len = 4096;
	struct { long off; off_t trunc; const char *what; } cases[] = {
		{ 48 + 1000, 0, "payload byte" },
		{ 3, 0, "magic" },
		{ 10, 0, "key" },
		{ 26, 0, "length field" },
		{ 34, 0, "payload hash" },
		{ -1, 48 + 100, "truncated payload" },
		{ -1, 20, "truncated header" },
		{ -1, 0, "empty file" },
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct chunk_store_key k = key_of(100 + i);
		uint8_t *p = payload(i, len), *got = malloc(len);
		chunk_store_put(s, &k, p, len);
		char *f = key_file(dir, &k);
		damage(f, cases[i].off, cases[i].trunc);
		memset(got, 0, len);
		if (chunk_store_get(s, &k, got, len) != -1)
			fail_msg("%s: a damaged file was served", cases[i].what);
		assert_int_equal(access(f, F_OK), -1); /* removed */
		chunk_store_put(s, &k, p, len);
		assert_int_equal(chunk_store_get(s, &k, got, len), 0);
		assert_memory_equal(got, p, len);
		free(f);
		free(p);
		free(got);
	}
	/* Foreign: another key's good file under this key's name. */
	struct chunk_store_key a = key_of(1), b = key_of(2);
	uint8_t *p = payload(7, len), *got = malloc(len);
	chunk_store_put(s, &a, p, len);
	char *fa = key_file(dir, &a), *fb = key_file(dir, &b);
	char sub[512];
	snprintf(sub, sizeof sub, "%s", fb);
	*strrchr(sub, '/') = 0;
	mkdir(sub, 0755);
	assert_int_equal(link(fa, fb), 0);
	assert_int_equal(chunk_store_get(s, &b, got, len), -1);
	/* The same key asked for another length (another chunk size). */
	assert_int_equal(chunk_store_get(s, &a, got, len - 1), -1);
	struct chunk_store_stats st;
	chunk_store_stats(s, &st);
	assert_int_equal(st.bad_files, 10);
	free(fa);
	free(fb);
	free(p);
	free(got);
	chunk_store_close(s);
	remove_tree(dir);
	free(dir);
}

static void set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Over the budget the least recently used files go; a hit counts as use. */
static void test_budget_lru(void **state)
{
	(void)state;
	char *dir = make_temp_dir("store-lru");
	const size_t len = 100000 - 48;   /* files of exactly 100000 bytes */
	struct chunk_store *s = open_store(dir, 450000);
	uint8_t *p = payload(3, len), *got = malloc(len);
	time_t base = time(NULL) - 100000;
	for (unsigned i = 0; i < 4; i++) {
		struct chunk_store_key k = key_of(i);
		chunk_store_put(s, &k, p, len);
		char *f = key_file(dir, &k);
		set_mtime(f, base + i * 1000); /* key 0 oldest */
		free(f);
	}
	struct chunk_store_key k0 = key_of(0);
	assert_int_equal(chunk_store_get(s, &k0, got, len), 0); /* 0 is now the newest */
	struct chunk_store_key k4 = key_of(4);
	chunk_store_put(s, &k4, p, len); /* 500000 > 450000: evict to <= 405000 */
	struct chunk_store_stats st;
	chunk_store_stats(s, &st);
	assert_int_equal(st.evictions, 1);
	assert_true(st.bytes <= 450000);
	const bool kept[5] = { true, false, true, true, true };
	for (unsigned i = 0; i < 5; i++) {
		struct chunk_store_key k = key_of(i);
		char *f = key_file(dir, &k);
		if ((access(f, F_OK) == 0) != kept[i])
			fail_msg("key %u: %s", i, kept[i] ? "evicted" : "kept");
		free(f);
	}
	chunk_store_close(s);
	/* Opening with a smaller budget evicts at once. */
	s = open_store(dir, 250000);
	chunk_store_stats(s, &st);
	assert_true(st.bytes <= 250000);
	chunk_store_close(s);
	free(p);
	free(got);
	remove_tree(dir);
	free(dir);
}

/* A dead writer's temporary file is removed at open; a live one's stays. */
static void test_stale_temporaries(void **state)
{
	(void)state;
	char *dir = make_temp_dir("store-tmp");
	char sub[512], dead[600], live[600];
	snprintf(sub, sizeof sub, "%s/ab", dir);
	mkdir(sub, 0755);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	snprintf(dead, sizeof dead, "%s/.tmp-%ld-0", sub, (long)pid);
	snprintf(live, sizeof live, "%s/.tmp-%ld-0", sub, (long)getpid());
	write_file(sub, strrchr(dead, '/') + 1, "x", 1);
	write_file(sub, strrchr(live, '/') + 1, "x", 1);
	struct chunk_store *s = open_store(dir, 1 << 20);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	chunk_store_close(s);
	remove_tree(dir);
	free(dir);
}

static void test_refusals(void **state)
{
	(void)state;
	struct chunk_store *s;
	gg_err e;
	assert_int_equal(chunk_store_open("/tmp", 0, &s, &e), -1);
	assert_non_null(strstr(e.msg, "above 0"));
	char *dir = make_temp_dir("store-ref");
	write_file(dir, "file", "x", 1);
	char path[512];
	snprintf(path, sizeof path, "%s/file", dir);
	assert_int_equal(chunk_store_open(path, 1 << 20, &s, &e), -1);
	assert_non_null(strstr(e.msg, path));
	remove_tree(dir);
	free(dir);
}

/* Four processes putting and getting the same keys at once: whatever a
 * get returns is the right payload. */
static void test_processes_share_a_dir(void **state)
{
	(void)state;
	char *dir = make_temp_dir("store-mp");
	const size_t len = 65536;
	pid_t kids[4];
	for (int c = 0; c < 4; c++) {
		if ((kids[c] = fork()) == 0) {
			struct chunk_store *s;
			gg_err e;
			if (chunk_store_open(dir, 20 * len, &s, &e))
				_exit(2);
			uint8_t *got = malloc(len);
			int bad = 0;
			for (int it = 0; it < 300; it++) {
				unsigned n = (unsigned)((it * 7 + c * 3) % 32);
				struct chunk_store_key k = key_of(n);
				uint8_t *p = payload(n, len);
				if (chunk_store_get(s, &k, got, len) == 0)
					bad |= memcmp(got, p, len) != 0;
				else
					chunk_store_put(s, &k, p, len);
				free(p);
			}
			free(got);
			chunk_store_close(s);
			_exit(bad);
		}
	}
	for (int c = 0; c < 4; c++) {
		int st;
		waitpid(kids[c], &st, 0);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	remove_tree(dir);
	free(dir);
}

static struct gg_model *open_typed(const char *dir, const char *opts)
{
	struct gg_options o = { 0 };
	char buf[128];
	gg_err e;
	snprintf(buf, sizeof buf, "%s", opts);
	assert_int_equal(gg_options_parse(buf, &o, NULL, &e), 0);
	struct gg_model *m;
	if (gg_model_open(dir, &o, &m, &e))
		fail_msg("%s", e.msg);
	return m;
}

static void fp_of(const struct gg_model *m, const char *name, struct gg_fingerprint *fp)
{
	const struct gg_outfile *f = &m->files[0];
	gg_tensor_fingerprint(m->st, output_tensor(f, name), fp);
}

/* Fingerprints name what a tensor's bytes depend on: equal for the same
 * plan over the same files, different for another type, another view or
 * a touched source file; chunk keys differ by offset and length. */
static void test_fingerprints(void **state)
{
	(void)state;
	char *src = fixture_path("llama-q256");
	char *dir = make_temp_dir("fp");
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "cp -a %s/. %s/", src, dir);
	assert_int_equal(system(cmd), 0);
	struct gg_model *a = open_typed(dir, "type=Q4_K_M"), *b = open_typed(dir, "type=Q4_K_M"),
			*c = open_typed(dir, "type=Q8_0");
	struct gg_fingerprint fa, fb, fc, fq, fk;
	fp_of(a, "blk.1.ffn_up.weight", &fa);
	fp_of(b, "blk.1.ffn_up.weight", &fb);
	fp_of(c, "blk.1.ffn_up.weight", &fc);
	fp_of(a, "blk.1.attn_q.weight", &fq);   /* rotary view */
	fp_of(a, "blk.1.attn_k.weight", &fk);
	assert_memory_equal(fa.b, fb.b, 16);
	assert_memory_not_equal(fa.b, fc.b, 16);
	assert_memory_not_equal(fq.b, fk.b, 16);
	struct gg_fingerprint k1, k2, k3;
	gg_chunk_fingerprint(&fa, 0, 4096, &k1);
	gg_chunk_fingerprint(&fa, 4096, 4096, &k2);
	gg_chunk_fingerprint(&fa, 0, 4095, &k3);
	assert_memory_not_equal(k1.b, k2.b, 16);
	assert_memory_not_equal(k1.b, k3.b, 16);
	/* The same bytes rewritten in place: a new mtime/ctime, a new key. */
	char shard[600];
	snprintf(shard, sizeof shard, "%s/model-00001-of-00002.safetensors", dir);
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, shard, ts, 0), 0);
	struct gg_model *d = open_typed(dir, "type=Q4_K_M");
	struct gg_fingerprint fd1, fa2;
	fp_of(d, "token_embd.weight", &fd1);
	fp_of(a, "token_embd.weight", &fa2);
	const struct gg_tensor *te = output_tensor(&a->files[0], "token_embd.weight");
	assert_int_equal(te->srcs[0].st->file, 0); /* in the shard touched */
	assert_memory_not_equal(fd1.b, fa2.b, 16);
	gg_model_close(a);
	gg_model_close(b);
	gg_model_close(c);
	gg_model_close(d);
	remove_tree(dir);
	free(dir);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_budget_lru),
		cmocka_unit_test(test_stale_temporaries),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_processes_share_a_dir),
		cmocka_unit_test(test_fingerprints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
