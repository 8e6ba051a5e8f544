/* test_vfs.c - the serve path (fs/vfs.c) as plain C, without FUSE: the tree
 * and its names (tensor names with '%' and '/' escaped, distinct after
 * escaping), attributes, reads of every file at every boundary against the
 * engine's bytes, xattrs, metadata.json and stats.json, the error returns
 * (-EISDIR, -ENOTDIR, -ERANGE, -ENODATA, refused options), and -EIO for
 * every kind of source change, byte-copied and converted tensors alike. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "engine.h"
#include "ftype.h"
#include "model.h"
#include "naming.h"
#include "vfs.h"
#include "testutil.h"

/* ---- a synthetic model whose tensor names need escaping --------------- */

/* Names chosen so that escaping must be injective: "%2F" and "/" would
 * both become "%2F" if only '/' were escaped. */
static const char *const names[] = { "plain.weight", "a%b", "dir/x", "/", "%2F" };
static const char *const files[] = { "plain.weight", "a%25b", "dir%2Fx", "%2F", "%252F" };
#define NT (sizeof names / sizeof *names)
#define NVAL 1000 /* floats per tensor: 4000 bytes, not a multiple of 32 */

static struct gg_model *synthetic_model(void)
{
	struct gg_model *m = gg_calloc(1, sizeof *m);
	m->dir = gg_strdup("/nonexistent-source");
	struct gg_outfile *f = gg_model_add_file(m, "model.gguf");
	gguf_kvs_set_str(f->kvs, "general.architecture", "llama");
	float *v = gg_malloc(NVAL * sizeof *v);
	gg_err e;
	for (size_t t = 0; t < NT; t++) {
		for (size_t i = 0; i < NVAL; i++)
			v[i] = (float)(t * 10000 + i) * 0.5f - 17.25f;
		if (!gg_outfile_add_f32(f, names[t], v, NVAL, &e))
			fail_msg("add: %s", e.msg);
	}
	free(v);
	if (gg_outfile_finish(f, &e))
		fail_msg("finish: %s", e.msg);
	return m;
}

static struct vfs *new_vfs(struct gg_model *m, uint64_t cache, uint64_t chunk)
{
	struct vfs_options o = { .cache_size = cache, .chunk_size = chunk };
	struct vfs *v = NULL;
	gg_err e;
	if (vfs_new(m, &o, &v, &e))
		fail_msg("vfs_new: %s", e.msg);
	return v;
}

/* All of a node's bytes through vfs_read, in reads of `step` bytes. */
static uint8_t *read_all(struct vfs *v, const char *path, size_t step,
			 size_t *len)
{
	const struct vfs_node *n = vfs_lookup(v, path);
	if (!n)
		fail_msg("no node %s", path);
	struct stat st;
	vfs_getattr(v, n, &st);
	struct vfs_handle *h;
	assert_int_equal(vfs_open(v, n, &h), 0);
	size_t cap = (size_t)st.st_size + step + 1, got = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		ssize_t r = vfs_read(v, h, buf + got, step, got);
		if (r < 0)
			fail_msg("%s: read at %zu: %zd", path, got, r);
		if (r == 0)
			break;
		got += (size_t)r;
		assert_true(got < cap);
	}
	vfs_release(v, h);
	assert_int_equal(got, (size_t)st.st_size);
	*len = got;
	return buf;
}

/* The engine's bytes of the whole output file, the reference. */
static uint8_t *engine_bytes(const struct gg_outfile *f)
{
	uint8_t *buf = malloc(f->size);
	gg_err e;
	if (gg_outfile_read(f, 0, f->size, buf, &e))
		fail_msg("engine: %s", e.msg);
	return buf;
}

static void test_names_escaped(void **state)
{
	(void)state;
	struct vfs *v = new_vfs(synthetic_model(), 0, 0);
	for (size_t t = 0; t < NT; t++) {
		char path[256];
		snprintf(path, sizeof path, "/tensors/%s", files[t]);
		const struct vfs_node *n = vfs_lookup(v, path);
		if (!n)
			fail_msg("%s (tensor \"%s\") missing", path, names[t]);
		assert_int_equal(vfs_node_kind(n), VFS_TENSOR);
	}
	/* The unescaped forms are not names in the tree. */
	assert_null(vfs_lookup(v, "/tensors/a%b"));
	assert_null(vfs_lookup(v, "/tensors/dir/x"));
	assert_null(vfs_lookup(v, "/tensors/dir"));
	assert_null(vfs_lookup(v, "/tensors/"));
	assert_null(vfs_lookup(v, "/nope"));
	assert_null(vfs_lookup(v, ""));
	vfs_free(v);
}

struct listing {
	char names[16][64];
	size_t n;
	int stop_after;
};

static int collect(const char *name, const struct stat *st, void *arg)
{
	struct listing *l = arg;
	(void)st;
	assert_true(l->n < 16);
	snprintf(l->names[l->n++], sizeof l->names[0], "%s", name);
	return l->stop_after && (int)l->n >= l->stop_after;
}

static bool listed(const struct listing *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return true;
	return false;
}

static void test_tree_and_attributes(void **state)
{
	(void)state;
	struct gg_model *m = synthetic_model();
	uint64_t gguf_size = m->files[0].size;
	struct vfs *v = new_vfs(m, 0, 0);
	struct listing root = {0}, tens = {0}, some = { .stop_after = 2 };
	assert_int_equal(vfs_readdir(v, vfs_lookup(v, "/"), collect, &root), 0);
	assert_int_equal(root.n, 5);
	assert_true(listed(&root, "model.gguf") && listed(&root, "metadata.json") &&
		    listed(&root, "stats.json") && listed(&root, "tensors"));
	/* model.gguf again under its conventional name (naming.h): one inode,
	 * two links. */
	char *alias = gg_naming_file_name(vfs_model(v), &vfs_model(v)->files[0]);
	char apath[512];
	snprintf(apath, sizeof apath, "/%s", alias);
	assert_true(listed(&root, alias));
	struct stat sa, sm;
	vfs_getattr(v, vfs_lookup(v, apath), &sa);
	vfs_getattr(v, vfs_lookup(v, "/model.gguf"), &sm);
	assert_int_equal(sa.st_ino, sm.st_ino);
	assert_int_equal(sa.st_nlink, 2);
	assert_int_equal(sm.st_nlink, 2);
	assert_int_equal(sa.st_size, sm.st_size);
	free(alias);
	assert_int_equal(vfs_readdir(v, vfs_lookup(v, "/tensors"), collect, &tens), 0);
	assert_int_equal(tens.n, NT);
	for (size_t t = 0; t < NT; t++)
		assert_true(listed(&tens, files[t]));
	assert_int_equal(vfs_readdir(v, vfs_lookup(v, "/tensors"), collect, &some), 0);
	assert_int_equal(some.n, 2); /* stops when fill says so */
	assert_int_equal(vfs_readdir(v, vfs_lookup(v, "/model.gguf"), collect, &some),
			 -ENOTDIR);

	struct stat st;
	vfs_getattr(v, vfs_lookup(v, "/"), &st);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0555);
	assert_int_equal(st.st_nlink, 3); /* ., .. and tensors/ */
	vfs_getattr(v, vfs_lookup(v, "/model.gguf"), &st);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0444);
	assert_int_equal(st.st_size, gguf_size);
	vfs_getattr(v, vfs_lookup(v, "/tensors/dir%2Fx"), &st);
	assert_int_equal(st.st_size, NVAL * 4);
	assert_int_equal(st.st_uid, getuid());
	uint64_t bytes, nodes;
	vfs_totals(v, &bytes, &nodes);
	assert_int_equal(bytes, gguf_size); /* the alias counted once */
	assert_int_equal(nodes, 6 + NT);
	vfs_free(v);
}

static void test_reads_match_engine(void **state)
{
	(void)state;
	struct gg_model *m = synthetic_model();
	uint8_t *want = engine_bytes(&m->files[0]);
	uint64_t size = m->files[0].size;
	struct vfs *v = new_vfs(m, 0, 0);
	const struct gg_outfile *f = &vfs_model(v)->files[0];
	/* Whole file in odd steps, so reads straddle header, tensors and
	 * padding at every phase. */
	for (size_t step = 1; step <= 4099; step += step < 64 ? 7 : 1013) {
		size_t len;
		uint8_t *got = read_all(v, "/model.gguf", step, &len);
		assert_int_equal(len, size);
		assert_memory_equal(got, want, size);
		free(got);
	}
	/* Each tensor file is exactly its slice. */
	for (size_t t = 0; t < NT; t++) {
		char path[256];
		snprintf(path, sizeof path, "/tensors/%s", files[t]);
		size_t len;
		uint8_t *got = read_all(v, path, 333, &len);
		const struct gg_tensor *gt = output_tensor(f, names[t]);
		assert_int_equal(len, gt->nbytes);
		assert_memory_equal(got, want + gt->offset, len);
		float first;
		memcpy(&first, got, 4);
		assert_true(first == (float)(t * 10000) * 0.5f - 17.25f);
		free(got);
	}
	/* Past the end: 0 bytes; straddling it: short. */
	struct vfs_handle *h;
	assert_int_equal(vfs_open(v, vfs_lookup(v, "/model.gguf"), &h), 0);
	uint8_t buf[64];
	assert_int_equal(vfs_read(v, h, buf, sizeof buf, size), 0);
	assert_int_equal(vfs_read(v, h, buf, sizeof buf, size + 12345), 0);
	assert_int_equal(vfs_read(v, h, buf, sizeof buf, size - 10), 10);
	assert_memory_equal(buf, want + size - 10, 10);
	vfs_release(v, h);
	/* A directory is not read. */
	assert_int_equal(vfs_open(v, vfs_lookup(v, "/tensors"), &h), 0);
	assert_int_equal(vfs_read(v, h, buf, sizeof buf, 0), -EISDIR);
	vfs_release(v, h);
	free(want);
	vfs_free(v);
}

static void test_xattrs(void **state)
{
	(void)state;
	struct gg_model *m = synthetic_model();
	uint8_t *want = engine_bytes(&m->files[0]);
	struct vfs *v = new_vfs(m, 0, 0);
	const struct gg_tensor *t = output_tensor(&vfs_model(v)->files[0], "a%b");
	const struct vfs_node *n = vfs_lookup(v, "/tensors/a%25b");
	char buf[256];
	ssize_t r = vfs_getxattr(v, n, "user.gguf.type", buf, sizeof buf);
	assert_int_equal(r, 3);
	assert_memory_equal(buf, "F32", 3);
	assert_int_equal(vfs_getxattr(v, n, "user.gguf.type", NULL, 0), 3);
	assert_int_equal(vfs_getxattr(v, n, "user.gguf.type", buf, 2), -ERANGE);
	r = vfs_getxattr(v, n, "user.gguf.shape", buf, sizeof buf);
	assert_int_equal(r, 4);
	assert_memory_equal(buf, "1000", 4);
	r = vfs_getxattr(v, n, "user.gguf.offset", buf, sizeof buf);
	buf[r] = 0;
	assert_int_equal(strtoull(buf, NULL, 10), t->offset);
	r = vfs_getxattr(v, n, "user.gguf.xxh3", buf, sizeof buf);
	assert_int_equal(r, 16);
	buf[16] = 0;
	char hex[17];
	snprintf(hex, sizeof hex, "%016llx",
		 (unsigned long long)XXH3_64bits(want + t->offset, t->nbytes));
	assert_string_equal(buf, hex);
	assert_int_equal(vfs_getxattr(v, n, "user.gguf.nope", buf, sizeof buf), -ENODATA);
	assert_int_equal(vfs_getxattr(v, vfs_lookup(v, "/model.gguf"),
				      "user.gguf.type", buf, sizeof buf), -ENODATA);
	ssize_t need = vfs_listxattr(v, n, NULL, 0);
	assert_true(need > 0);
	assert_int_equal(vfs_listxattr(v, n, buf, (size_t)need - 1), -ERANGE);
	assert_int_equal(vfs_listxattr(v, n, buf, sizeof buf), need);
	assert_string_equal(buf, "user.gguf.type");
	assert_int_equal(vfs_listxattr(v, vfs_lookup(v, "/"), buf, sizeof buf), 0);
	free(want);
	vfs_free(v);
}

static cJSON *read_json(struct vfs *v, const char *path)
{
	size_t len;
	uint8_t *text = read_all(v, path, 4096, &len);
	cJSON *j = cJSON_ParseWithLength((const char *)text, len);
	if (!j)
		fail_msg("%s is not JSON", path);
	free(text);
	return j;
}

static void test_metadata_and_stats(void **state)
{
	(void)state;
	struct vfs *v = new_vfs(synthetic_model(), 0, 0);
	cJSON *meta = read_json(v, "/metadata.json");
	const cJSON *ts = cJSON_GetObjectItem(meta, "tensors");
	assert_int_equal(cJSON_GetArraySize(ts), NT);
	size_t seen = 0;
	for (const cJSON *t = ts->child; t; t = t->next) {
		const char *name = cJSON_GetObjectItem(t, "name")->valuestring;
		for (size_t i = 0; i < NT; i++)
			seen += strcmp(name, names[i]) == 0; /* unescaped */
	}
	assert_int_equal(seen, NT);
	cJSON_Delete(meta);

	cJSON *s0 = read_json(v, "/stats.json");
	double reads0 = cJSON_GetObjectItem(s0, "reads")->valuedouble;
	cJSON_Delete(s0);
	size_t len;
	free(read_all(v, "/model.gguf", 1 << 20, &len));
	cJSON *s1 = read_json(v, "/stats.json");
	assert_true(cJSON_GetObjectItem(s1, "reads")->valuedouble > reads0);
	assert_int_equal(cJSON_GetObjectItem(s1, "read_errors")->valuedouble, 0);
	cJSON_Delete(s1);
	struct vfs_handle *h;
	assert_int_equal(vfs_open(v, vfs_lookup(v, "/stats.json"), &h), 0);
	assert_true(vfs_handle_volatile(h));
	vfs_release(v, h);
	assert_int_equal(vfs_open(v, vfs_lookup(v, "/metadata.json"), &h), 0);
	assert_false(vfs_handle_volatile(h));
	vfs_release(v, h);
	vfs_free(v);
}

static void test_bad_options(void **state)
{
	(void)state;
	const uint64_t bad[] = { VFS_MIN_CHUNK_SIZE - 1, VFS_MAX_CHUNK_SIZE + 1 };
	for (size_t i = 0; i < 2; i++) {
		struct vfs_options o = { .chunk_size = bad[i] };
		struct vfs *v = (struct vfs *)1;
		gg_err e;
		/* The model is taken (and closed) on failure too: no leak. */
		assert_int_equal(vfs_new(synthetic_model(), &o, &v, &e), -1);
		assert_null(v);
		assert_non_null(strstr(e.msg, "chunk_size"));
	}
}

/* ---- -EIO for every kind of source change ----------------------------- */

enum change { TRUNCATE, REWRITE_SAME_MTIME, REPLACE, CHMOD, REMOVE };

static void change_source(const char *path, enum change c)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	int fd;
	switch (c) {
	case TRUNCATE:
		assert_int_equal(truncate(path, st.st_size / 2), 0);
		break;
	case REWRITE_SAME_MTIME: {
		fd = open(path, O_WRONLY);
		assert_true(fd >= 0);
		static uint8_t zero[1 << 16];
		for (off_t off = 8 << 10; off + (off_t)sizeof zero < st.st_size;
		     off += 1 << 20)
			assert_int_equal(pwrite(fd, zero, sizeof zero, off), sizeof zero);
		close(fd);
		struct timespec t[2] = { st.st_atim, st.st_mtim };
		assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
		break;
	}
	case REPLACE: {
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.new", path);
		char cmd[8600];
		snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", path, tmp);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(rename(tmp, path), 0); /* same bytes, new file */
		break;
	}
	case CHMOD:
		assert_int_equal(chmod(path, 0600), 0);
		break;
	case REMOVE:
		assert_int_equal(unlink(path), 0);
		break;
	}
}

/* Mount-like vfs over a scratch copy of fixture fx; read one tensor whole
 * (so some chunks are cached), change its shard, then every read that needs
 * the shard's bytes (model.gguf at another tensor, its tensors/ file, its
 * xxh3) gives -EIO and read_errors counts them. */
static void eio_case(const char *fx, enum change c)
{
	char *dir = scratch_fixture(fx, "vfs");
	struct vfs *v = new_vfs(open_model_dir(dir, GG_PROFILE_LLAMACPP), 4 << 20, 1 << 20);
	const struct gg_model *m = vfs_model(v);
	const struct gg_outfile *f = &m->files[0];
	/* The two biggest tensors: the first read before the change, the
	 * other after. */
	const struct gg_tensor *a = NULL, *b = NULL;
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		if (!t->srcs[0].st)
			continue;
		if (!a || t->nbytes > a->nbytes) {
			b = a;
			a = t;
		} else if (!b || t->nbytes > b->nbytes) {
			b = t;
		}
	}
	assert_non_null(a);
	assert_non_null(b);
	char path[600];
	snprintf(path, sizeof path, "/tensors/%s", a->name);
	size_t len;
	free(read_all(v, path, 1 << 20, &len));

	change_source(m->st->files[b->srcs[0].st->file].path, c);

	struct vfs_handle *h;
	assert_int_equal(vfs_open(v, vfs_lookup(v, "/model.gguf"), &h), 0);
	uint8_t *buf = malloc(b->nbytes);
	assert_int_equal(vfs_read(v, h, buf, b->nbytes, b->offset), -EIO);
	vfs_release(v, h);
	snprintf(path, sizeof path, "/tensors/%s", b->name);
	assert_int_equal(vfs_open(v, vfs_lookup(v, path), &h), 0);
	assert_int_equal(vfs_read(v, h, buf, 4096, 0), -EIO);
	vfs_release(v, h);
	char x[32];
	assert_int_equal(vfs_getxattr(v, vfs_lookup(v, path), "user.gguf.xxh3", x, sizeof x),
			 -EIO);
	cJSON *st = read_json(v, "/stats.json");
	assert_true(cJSON_GetObjectItem(st, "read_errors")->valuedouble >= 2);
	cJSON_Delete(st);
	free(buf);
	vfs_free(v);
	remove_tree(dir);
	free(dir);
}

static void test_eio_byte_copy(void **state)
{
	(void)state;
	/* BF16 sources: the matrices are byte copies. */
	for (enum change c = TRUNCATE; c <= REMOVE; c++)
		eio_case("llama-bf16", c);
}

static void test_eio_converted(void **state)
{
	(void)state;
	/* F32 sources: the matrices are converted through the chunk cache. */
	for (enum change c = TRUNCATE; c <= REMOVE; c++)
		eio_case("llama-f32-tied", c);
}

/* A mount torn down while its prefetches are still queued: they run in
 * vfs_free and must find everything they use alive (the chunk store and
 * the tensors' fingerprints included). Reads a quantized model with a
 * store and a tiny cache, so queued prefetches have chunks to load. */
static void test_free_with_prefetches_queued(void **state)
{
	(void)state;
	char *dir = make_temp_dir("vfs-prefetch");
	for (int round = 0; round < 8; round++) {
		struct gg_options go = { .has_ftype = true, .ftype = GG_FTYPE_Q8_0 };
		struct gg_model *m;
		gg_err e;
		char *fx = fixture_path("llama-q256");
		if (gg_model_open(fx, &go, &m, &e))
			fail_msg("%s", e.msg);
		free(fx);
		struct vfs_options o = { .cache_size = 2 << 20, .chunk_size = 1 << 20,
					 .store_dir = dir, .store_size = 64 << 20 };
		struct vfs *v = NULL;
		if (vfs_new(m, &o, &v, &e))
			fail_msg("vfs_new: %s", e.msg);
		assert_int_equal(vfs_start_threads(v), 0);
		struct vfs_handle *h;
		assert_int_equal(vfs_open(v, vfs_lookup(v, "/model.gguf"), &h), 0);
		uint8_t buf[128 << 10];
		for (uint64_t off = 0; off < (1 << 20); off += sizeof buf)
			assert_true(vfs_read(v, h, buf, sizeof buf, off) > 0);
		vfs_release(v, h);
		vfs_free(v);
		if (round % 2)
			remove_tree(dir); /* half the rounds with a full store */
		gg_mkdir_p(dir);
	}
	remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_escaped),
		cmocka_unit_test(test_tree_and_attributes),
		cmocka_unit_test(test_reads_match_engine),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_metadata_and_stats),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_eio_byte_copy),
		cmocka_unit_test(test_eio_converted),
		cmocka_unit_test(test_free_with_prefetches_queued),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
