/* testutil.c - see testutil.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "testutil.h"

/* ---- fixtures ------------------------------------------------------------ */

char *fixture_path(const char *name)
{
	const char *root = getenv("GGUFFS_FIXTURES");
	const char *src = getenv("GGUFFS_SOURCE_ROOT");
	char buf[4096];
	if (root)
		snprintf(buf, sizeof buf, "%s/%s", root, name);
	else
		snprintf(buf, sizeof buf, "%s/tests/fixtures/out/%s", src ? src : ".", name);
	char *path = strdup(buf);
	assert_non_null(path);
	return path;
}

struct gg_model *open_model_dir(const char *dir, enum gg_profile p)
{
	struct gg_options opt = { .profile = p };
	struct gg_model *m = NULL;
	gg_err e;
	if (gg_model_open(dir, &opt, &m, &e))
		fail_msg("open %s: %s (run tests/run.sh, which makes the fixtures)",
			 dir, e.msg);
	return m;
}

struct gg_model *open_fixture(const char *name, enum gg_profile p)
{
	char *dir = fixture_path(name);
	struct gg_model *m = open_model_dir(dir, p);
	free(dir);
	return m;
}

/* ---- tensors ------------------------------------------------------------- */

const struct st_tensor *source_tensor(const struct gg_model *m, const char *name)
{
	const struct st_tensor *st = st_set_find(m->st, name);
	if (!st)
		fail_msg("fixture has no source tensor %s", name);
	return st;
}

uint8_t *read_source_bytes(const struct gg_model *m, const struct st_tensor *st)
{
	uint8_t *buf = malloc(st->nbytes ? st->nbytes : 1);
	assert_non_null(buf);
	int fd = open(m->st->files[st->file].path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, st->nbytes, (off_t)st->offset), (ssize_t)st->nbytes);
	close(fd);
	return buf;
}

uint8_t *read_source(const struct gg_model *m, const char *name,
		     const struct st_tensor **st)
{
	const struct st_tensor *t = source_tensor(m, name);
	if (st)
		*st = t;
	return read_source_bytes(m, t);
}

const struct gg_tensor *output_tensor(const struct gg_outfile *f, const char *name)
{
	/* gg_outfile_find takes a mutable file only because it returns a
	 * mutable tensor; it does not write. */
	const struct gg_tensor *t = gg_outfile_find((struct gg_outfile *)f, name);
	if (!t)
		fail_msg("%s: no tensor %s", f->name, name);
	return t;
}

uint8_t *read_output(const struct gg_outfile *f, const struct gg_tensor *t)
{
	uint8_t *buf = malloc(t->nbytes ? t->nbytes : 1);
	assert_non_null(buf);
	gg_err e;
	if (gg_tensor_read(f, t, 0, t->nbytes, buf, &e))
		fail_msg("read %s: %s", t->name, e.msg);
	return buf;
}

/* ---- KVs ----------------------------------------------------------------- */

const struct gguf_kv *kv_get(const struct gg_outfile *f, const char *key)
{
	const struct gguf_kv *v = gguf_kvs_get(f->kvs, key);
	if (!v)
		fail_msg("%s: missing KV %s", f->name, key);
	return v;
}

void assert_kv_u32(const struct gg_outfile *f, const char *key, uint32_t want)
{
	const struct gguf_kv *v = kv_get(f, key);
	if (v->type != GGUF_VT_U32 || v->v.u != want)
		fail_msg("%s: %s is type %d value %llu, want u32 %u", f->name, key,
			 (int)v->type, (unsigned long long)v->v.u, want);
}

void assert_kv_f32(const struct gg_outfile *f, const char *key, float want)
{
	const struct gguf_kv *v = kv_get(f, key);
	if (v->type != GGUF_VT_F32)
		fail_msg("%s: %s is type %d, want FLOAT32", f->name, key, (int)v->type);
	if ((float)v->v.f != want)
		fail_msg("%s: %s = %.9g, want %.9g", f->name, key, v->v.f, (double)want);
}

void assert_kv_bool(const struct gg_outfile *f, const char *key, bool want)
{
	const struct gguf_kv *v = kv_get(f, key);
	assert_int_equal(v->type, GGUF_VT_BOOL);
	assert_int_equal(v->v.b, want);
}

void assert_kv_str(const struct gg_outfile *f, const char *key, const char *want)
{
	const struct gguf_kv *v = kv_get(f, key);
	assert_int_equal(v->type, GGUF_VT_STRING);
	assert_string_equal(v->str.s, want);
}

void assert_kv_i32_array(const struct gg_outfile *f, const char *key,
			 const int32_t *want, uint64_t n)
{
	const struct gguf_kv *v = kv_get(f, key);
	assert_int_equal(v->type, GGUF_VT_ARRAY);
	if (v->arr_type != GGUF_VT_I32)
		fail_msg("%s: element type %d, want INT32", key, (int)v->arr_type);
	assert_int_equal(v->arr_n, n);
	if (n)
		assert_memory_equal(v->arr, want, n * sizeof *want);
}

/* ---- values and naive references ----------------------------------------- */

uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

uint16_t u16_at(const uint8_t *p, size_t i)
{
	uint16_t v;
	memcpy(&v, p + 2 * i, 2);
	return v;
}

float bf16_to_float(uint16_t b)
{
	uint32_t bits = (uint32_t)b << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint64_t rotary_source_row(uint64_t out_row, uint64_t rows, uint64_t heads)
{
	uint64_t d = rows / heads, h = out_row / d, r = out_row % d;
	return h * d + (r % 2) * (d / 2) + r / 2;
}

uint64_t view_source_index(const struct gg_view *v, uint64_t i)
{
	int64_t el = (int64_t)v->base;
	for (int d = v->ndim - 1; d >= 0; d--) {
		el += (int64_t)(i % v->dim[d]) * v->stride[d];
		i /= v->dim[d];
	}
	return (uint64_t)el;
}

/* ---- scratch files ------------------------------------------------------- */

char *make_temp_dir(const char *tag)
{
	char tmpl[256];
	snprintf(tmpl, sizeof tmpl, "/tmp/gguffs-test-%s-XXXXXX", tag);
	assert_non_null(mkdtemp(tmpl));
	char *dir = strdup(tmpl);
	assert_non_null(dir);
	return dir;
}

char *scratch_fixture(const char *name, const char *tag)
{
	char *src = fixture_path(name), *dst = make_temp_dir(tag);
	char cmd[8600];
	snprintf(cmd, sizeof cmd, "cp -p '%s'/* '%s'/", src, dst);
	if (system(cmd) != 0)
		fail_msg("cannot copy fixture %s (run tests/run.sh, which makes "
			 "the fixtures)", src);
	free(src);
	return dst;
}

void remove_tree(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	if (!fp)
		fail_msg("cannot create %s", path);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

void write_text(const char *dir, const char *name, const char *text)
{
	write_file(dir, name, text, strlen(text));
}

void write_outfile(const struct gg_outfile *f, const char *path)
{
	FILE *fp = fopen(path, "wb");
	if (!fp)
		fail_msg("%s: cannot create", path);
	const size_t chunk = 1 << 20;
	uint8_t *buf = malloc(chunk);
	gg_err e = {{0}};
	for (uint64_t off = 0; off < f->size; off += chunk) {
		size_t k = f->size - off < chunk ? (size_t)(f->size - off) : chunk;
		if (gg_outfile_read(f, off, k, buf, &e))
			fail_msg("%s: %s", path, e.msg);
		if (fwrite(buf, 1, k, fp) != k)
			fail_msg("%s: short write", path);
	}
	free(buf);
	fclose(fp);
}
