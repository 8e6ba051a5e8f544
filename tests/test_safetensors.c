/* test_safetensors.c - header parsing and validation, shard sets, the
 * index cross-check and change detection.
 *
 * Every file is built here byte by byte, so each malformed case is exactly
 * one defect; each must fail with its own message. Headers are written with
 * ' for " to keep them readable (no test name contains a quote).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "testutil.h"

static char *base_dir;

static int make_base(void **state)
{
	(void)state;
	base_dir = make_temp_dir("st");
	return 0;
}

static int remove_base(void **state)
{
	(void)state;
	remove_tree(base_dir);
	free(base_dir);
	return 0;
}

/* A fresh empty directory under base_dir (malloc'd path). */
static char *new_dir(void)
{
	char *tmpl = gg_path_join(base_dir, "XXXXXX");
	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

static char *write_bytes(const char *dir, const char *name, const void *data,
			 size_t len)
{
	write_file(dir, name, data, len);
	return gg_path_join(dir, name);
}

/* The data section is filled with a byte pattern (i mod 251) so tests can
 * check that offsets point where they should. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i % 251);
}

/* A safetensors file that declares header length hlen (which may lie),
 * followed by the header text (' becomes ") and data_len data bytes. */
static char *write_st_declared(const char *dir, const char *name,
			       uint64_t hlen, const char *header,
			       size_t data_len)
{
	size_t h = strlen(header);
	uint8_t *buf = gg_malloc(8 + h + data_len);
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(hlen >> (8 * i));
	for (size_t i = 0; i < h; i++)
		buf[8 + i] = header[i] == '\'' ? '"' : (uint8_t)header[i];
	for (size_t i = 0; i < data_len; i++)
		buf[8 + h + i] = pattern(i);
	char *path = write_bytes(dir, name, buf, 8 + h + data_len);
	free(buf);
	return path;
}

static char *write_st(const char *dir, const char *name, const char *header,
		      size_t data_len)
{
	return write_st_declared(dir, name, strlen(header), header, data_len);
}

static void assert_msg(const gg_err *e, const char *want)
{
	if (!strstr(e->msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, want);
}

static void open_path_fails(const char *path, const char *want)
{
	struct st_set *set = (struct st_set *)1;
	gg_err e = { "" };
	const char *paths[] = { path };
	assert_int_equal(st_set_open_files(paths, 1, &set, &e), -1);
	assert_null(set);
	assert_msg(&e, path); /* every message names the file */
	assert_msg(&e, want);
}

/* A one-file set with this header and data length must fail with `want`. */
static void header_fails(const char *header, size_t data_len,
			 const char *want)
{
	char *dir = new_dir();
	char *path = write_st(dir, "model.safetensors", header, data_len);
	open_path_fails(path, want);
	free(path);
	free(dir);
}

static struct st_set *open_one(const char *path)
{
	struct st_set *set = NULL;
	gg_err e = { "" };
	const char *paths[] = { path };
	if (st_set_open_files(paths, 1, &set, &e) != 0)
		fail_msg("unexpected failure: %s", e.msg);
	return set;
}

static struct st_set *open_dir_ok(const char *dir)
{
	struct st_set *set = NULL;
	gg_err e = { "" };
	if (st_set_open_dir(dir, &set, &e) != 0)
		fail_msg("unexpected failure: %s", e.msg);
	return set;
}

static void open_dir_fails(const char *dir, const char *want)
{
	struct st_set *set = (struct st_set *)1;
	gg_err e = { "" };
	assert_int_equal(st_set_open_dir(dir, &set, &e), -1);
	assert_null(set);
	assert_msg(&e, want);
}

/* ---- valid files ------------------------------------------------------ */

static void assert_tensor(const struct st_tensor *t, const char *name,
			  enum gg_type dtype, int ndim, const uint64_t *shape,
			  uint64_t nelem, uint64_t offset, uint64_t nbytes)
{
	assert_string_equal(t->name, name);
	assert_int_equal(t->dtype, dtype);
	assert_int_equal(t->ndim, ndim);
	for (int i = 0; i < ndim; i++)
		assert_int_equal(t->shape[i], shape[i]);
	assert_int_equal(t->nelem, nelem);
	assert_int_equal(t->offset, offset);
	assert_int_equal(t->nbytes, nbytes);
}

static void test_valid_dtypes(void **state)
{
	(void)state;
	const char *header =
		"{'__metadata__':{'format':'pt'},"
		"'b':{'dtype':'F32','shape':[2,3],'data_offsets':[0,24]},"
		"'a':{'dtype':'F16','shape':[4],'data_offsets':[24,32]},"
		"'c':{'dtype':'BF16','shape':[],'data_offsets':[32,34]},"
		"'e':{'dtype':'F32','shape':[0,5],'data_offsets':[34,34]}}";
	uint64_t hlen = strlen(header), start = 8 + hlen;
	char *dir = new_dir();
	char *path = write_st(dir, "model.safetensors", header, 34);
	struct st_set *set = open_one(path);

	assert_int_equal(set->nfiles, 1);
	const struct st_file *f = &set->files[0];
	assert_string_equal(f->path, path);
	assert_string_equal(f->name, "model.safetensors");
	assert_int_equal(f->size, start + 34);
	assert_int_equal(f->data_start, start);
	assert_non_null(f->map);

	assert_int_equal(set->ntensors, 4);
	const struct st_tensor *t = set->tensors;
	assert_tensor(&t[0], "a", GG_TYPE_F16, 1, (uint64_t[]){ 4 }, 4,
		      start + 24, 8);
	assert_tensor(&t[1], "b", GG_TYPE_F32, 2, (uint64_t[]){ 2, 3 }, 6,
		      start, 24);
	/* 0-D becomes [1]. */
	assert_tensor(&t[2], "c", GG_TYPE_BF16, 1, (uint64_t[]){ 1 }, 1,
		      start + 32, 2);
	assert_tensor(&t[3], "e", GG_TYPE_F32, 2, (uint64_t[]){ 0, 5 }, 0,
		      start + 34, 0);
	for (size_t i = 0; i < set->ntensors; i++)
		assert_int_equal(t[i].file, 0);
	/* The mapping shows the data bytes where offsets say they are. */
	assert_int_equal(f->map[t[0].offset], pattern(24));
	assert_int_equal(f->map[t[2].offset + 1], pattern(33));

	assert_ptr_equal(st_set_find(set, "a"), &t[0]);
	assert_ptr_equal(st_set_find(set, "e"), &t[3]);
	assert_null(st_set_find(set, "__metadata__"));
	assert_null(st_set_find(set, "A"));
	assert_null(st_set_find(set, ""));
	st_set_close(set);
	free(path);
	free(dir);
}

/* st_parse on memory: what the fuzzer drives. Writers pad the header with
 * spaces to align the data; eight dimensions are allowed. */
static void test_parse_memory(void **state)
{
	(void)state;
	const char *header = "{\"w\":{\"dtype\":\"F16\",\"shape\":[1,1,1,1,1,1,"
			     "2,3],\"data_offsets\":[0,12]}}      ";
	size_t hlen = strlen(header);
	uint8_t buf[256] = { 0 };
	buf[0] = (uint8_t)hlen;
	memcpy(buf + 8, header, hlen);
	uint64_t size = 8 + hlen + 12;

	struct st_tensor *t = NULL;
	size_t n = 0;
	uint64_t start = 0;
	gg_err e = { "" };
	assert_int_equal(st_parse(buf, size, "mem", &t, &n, &start, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(start, 8 + hlen);
	assert_tensor(&t[0], "w", GG_TYPE_F16, 8,
		      (uint64_t[]){ 1, 1, 1, 1, 1, 1, 2, 3 }, 6, 8 + hlen, 12);
	assert_int_equal(t[0].file, 0);
	st_tensors_free(t, n);

	/* One byte short of the data section. */
	assert_int_equal(st_parse(buf, size - 1, "mem", &t, &n, &start, &e),
			 -1);
	assert_msg(&e, "mem: tensor 'w': data_offsets end 12 is past the data "
		   "section (11 bytes)");
}

static void test_sort_order(void **state)
{
	(void)state;
	const char *header =
		"{'b':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
		"'\xC3\xA9':{'dtype':'F32','shape':[1],'data_offsets':[4,8]},"
		"'a.9':{'dtype':'F32','shape':[1],'data_offsets':[8,12]},"
		"'B':{'dtype':'F32','shape':[1],'data_offsets':[12,16]},"
		"'a.10':{'dtype':'F32','shape':[1],'data_offsets':[16,20]}}";
	char *dir = new_dir();
	char *path = write_st(dir, "m.safetensors", header, 20);
	struct st_set *set = open_one(path);
	const char *want[] = { "B", "a.10", "a.9", "b", "\xC3\xA9" };
	assert_int_equal(set->ntensors, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(set->tensors[i].name, want[i]);
		assert_ptr_equal(st_set_find(set, want[i]), &set->tensors[i]);
	}
	st_set_close(set);
	free(path);
	free(dir);
}

/* Enough names that the hash table must resolve collisions. */
static void test_find_many(void **state)
{
	(void)state;
	enum { N = 300 };
	char *header = gg_malloc(N * 80 + 8);
	size_t len = 0;
	header[len++] = '{';
	for (int i = 0; i < N; i++)
		len += (size_t)sprintf(header + len, "%s'blk.%d.w':{'dtype':"
				       "'F32','shape':[1],'data_offsets':"
				       "[%d,%d]}", i ? "," : "", i, 4 * i,
				       4 * i + 4);
	strcpy(header + len, "}");
	char *dir = new_dir();
	char *path = write_st(dir, "m.safetensors", header, 4 * N);
	struct st_set *set = open_one(path);
	assert_int_equal(set->ntensors, N);
	char name[32];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "blk.%d.w", i);
		const struct st_tensor *t = st_set_find(set, name);
		assert_non_null(t);
		assert_string_equal(t->name, name);
		assert_int_equal(t->offset, set->files[0].data_start + 4u * i);
	}
	assert_null(st_set_find(set, "blk.300.w"));
	assert_null(st_set_find(set, "blk.1.w "));
	st_set_close(set);
	free(path);
	free(dir);
	free(header);
}

static char *write_one(const char *dir, const char *file, const char *tensor)
{
	char header[256];
	snprintf(header, sizeof header, "{'%s':{'dtype':'F32','shape':[2],"
		 "'data_offsets':[0,8]}}", tensor);
	return write_st(dir, file, header, 8);
}

static void test_dir_order(void **state)
{
	(void)state;
	char *dir = new_dir();
	char *elsewhere = new_dir();
	free(write_one(dir, "model-00002-of-00003.safetensors", "z"));
	free(write_st(dir, "model-00001-of-00003.safetensors",
		      "{'y':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
		      "'x':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}",
		      8));
	free(write_bytes(dir, "notes.txt", "hi", 2));
	free(write_bytes(dir, "model.safetensors.part", "junk", 4));
	/* Beside the shards but not part of the model: never read. */
	free(write_one(dir, "consolidated.safetensors", "stray"));
	free(write_bytes(dir, "optimizer.safetensors", "junk", 4));
	/* The HuggingFace cache links snapshot files to blobs. */
	char *blob = write_one(elsewhere, "blob", "w");
	char *link = gg_path_join(dir, "model-00003-of-00003.safetensors");
	assert_int_equal(symlink(blob, link), 0);

	struct st_set *set = open_dir_ok(dir);
	assert_int_equal(set->nfiles, 3);
	assert_string_equal(set->files[0].name,
			    "model-00001-of-00003.safetensors");
	assert_string_equal(set->files[1].name,
			    "model-00002-of-00003.safetensors");
	assert_string_equal(set->files[2].name,
			    "model-00003-of-00003.safetensors");
	assert_int_equal(set->ntensors, 4);
	const char *names[] = { "x", "y", "z", "w" };
	const uint32_t files[] = { 0, 0, 1, 2 };
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(set->tensors[i].name, names[i]);
		assert_int_equal(set->tensors[i].file, files[i]);
		assert_ptr_equal(st_set_find(set, names[i]),
				 &set->tensors[i]);
	}
	assert_null(st_set_find(set, "stray"));
	st_set_close(set);
	free(blob);
	free(link);
	free(elsewhere);
	free(dir);
}

/* A name the rule selects must be a regular file: a FIFO or a directory
 * is refused by name, not skipped (which would drop a shard silently). */
static void test_dir_selected_not_a_file(void **state)
{
	(void)state;
	char *dir = new_dir();
	free(write_one(dir, "model-00001-of-00002.safetensors", "a"));
	char *fifo = gg_path_join(dir, "model-00002-of-00002.safetensors");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	open_dir_fails(dir, "model-00002-of-00002.safetensors: not a regular "
		       "file (a FIFO)");
	unlink(fifo);
	assert_int_equal(mkdir(fifo, 0755), 0);
	open_dir_fails(dir, "not a regular file (a directory)");
	rmdir(fifo);
	assert_int_equal(symlink("/nonexistent/blob", fifo), 0);
	open_dir_fails(dir, "model-00002-of-00002.safetensors: No such file");
	unlink(fifo);
	free(fifo);
	free(dir);
}

/* Adapter directories hold no model*.safetensors: PEFT's file, else
 * MLX-LM's (whose numbered checkpoints beside it are not the adapter). */
static void test_dir_adapters(void **state)
{
	(void)state;
	char *dir = new_dir();
	free(write_one(dir, "adapters.safetensors", "mlx"));
	free(write_one(dir, "0000100_adapters.safetensors", "mlx"));
	struct st_set *set = open_dir_ok(dir);
	assert_int_equal(set->nfiles, 1);
	assert_string_equal(set->files[0].name, "adapters.safetensors");
	st_set_close(set);
	free(write_one(dir, "adapter_model.safetensors", "peft"));
	set = open_dir_ok(dir);
	assert_int_equal(set->nfiles, 1);
	assert_string_equal(set->files[0].name, "adapter_model.safetensors");
	assert_non_null(st_set_find(set, "peft"));
	st_set_close(set);
	free(dir);
}

static void test_dir_empty(void **state)
{
	(void)state;
	char *dir = new_dir();
	free(write_bytes(dir, "config.json", "{}", 2));
	open_dir_fails(dir, "no model*.safetensors files (and no "
		       "model.safetensors.index.json)");
	free(write_one(dir, "consolidated.safetensors", "x"));
	open_dir_fails(dir, "no model*.safetensors files");
	char *missing = gg_path_join(dir, "missing");
	open_dir_fails(missing, "No such file");
	free(missing);
	free(dir);

	struct st_set *set = (struct st_set *)1;
	gg_err e;
	assert_int_equal(st_set_open_files(NULL, 0, &set, &e), -1);
	assert_null(set);
	assert_msg(&e, "no safetensors files given");
}

/* ---- malformed files -------------------------------------------------- */

static void test_too_small(void **state)
{
	(void)state;
	char *dir = new_dir();
	char *p = write_bytes(dir, "short.safetensors", "\x02\0\0\0\0", 5);
	open_path_fails(p, "file too small for a safetensors header (5 bytes)");
	free(p);
	p = write_bytes(dir, "empty.safetensors", "", 0);
	open_path_fails(p, "file too small for a safetensors header (0 bytes)");
	free(p);
	free(dir);
}

/* The message must not show the length: it is the file's first 8 bytes,
 * which for a file that is not safetensors are its content. */
static void declared_fails(uint64_t hlen, const char *want)
{
	char *dir = new_dir();
	char *p = write_st_declared(dir, "m.safetensors", hlen, "{}", 16);
	struct st_set *set = NULL;
	gg_err e;
	const char *paths[] = { p };
	assert_int_equal(st_set_open_files(paths, 1, &set, &e), -1);
	const char *at = strstr(e.msg, p);
	assert_non_null(at);
	if (!strstr(e.msg, want))
		fail_msg("got \"%s\", want \"%s\"", e.msg, want);
	/* Looked for outside the path: mkdtemp's random name may hold the
	 * same digits. */
	char num[24], rest[sizeof e.msg];
	snprintf(num, sizeof num, "%llu", (unsigned long long)hlen);
	snprintf(rest, sizeof rest, "%.*s%s", (int)(at - e.msg), e.msg,
		 at + strlen(p));
	if (strstr(rest, num))
		fail_msg("\"%s\" shows the header length %s", e.msg, num);
	free(p);
	free(dir);
}

static void test_header_length(void **state)
{
	(void)state;
	declared_fails(19, "not a safetensors file, or truncated (the header "
		       "length in its first 8 bytes runs past the end of the "
		       "file, 26 bytes)");
	declared_fails(ST_MAX_HEADER, "runs past the end of the file");
	declared_fails(ST_MAX_HEADER + 1ull, "not a safetensors file (the "
		       "header length in its first 8 bytes is above the "
		       "format's 100 MB limit)");
	declared_fails(200ull << 20, "above the format's 100 MB limit");
	/* 8 + N would wrap to a small number. */
	declared_fails(UINT64_MAX - 7, "above the format's 100 MB limit");
	declared_fails(UINT64_MAX, "above the format's 100 MB limit");
	/* ASCII text is the usual case: "# Llama\n" read as a length. */
	declared_fails(0x0a616d616c4c2023ull, "above the format's 100 MB limit");
}

static void test_bad_header_text(void **state)
{
	(void)state;
	header_fails("{'a':", 0, "header is not valid JSON");
	header_fails("{'a':{}} x", 0, "header is not valid JSON");
	header_fails("", 0, "header is not valid JSON");
	header_fails("[]", 0, "header is not a JSON object");
	header_fails("{'\xFF':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}",
		     4, "header is not valid UTF-8");
	header_fails("{'\xED\xA0\x80':{}}", 0, "header is not valid UTF-8");
	header_fails("{'a\\u0000b':{'dtype':'F32','shape':[1],"
		     "'data_offsets':[0,4]}}", 4, "escaped NUL");
	/* A lone surrogate escape would not decode to UTF-8. */
	header_fails("{'\\ud800':{}}", 0, "header is not valid JSON");

	char *dir = new_dir();
	const uint8_t nul_header[] = { 4, 0, 0, 0, 0, 0, 0, 0,
				       '{', '}', 0, ' ' };
	char *p = write_bytes(dir, "nul.safetensors", nul_header, sizeof nul_header);
	open_path_fails(p, "header contains a NUL byte");
	free(p);
	free(dir);
}

static void test_bad_entries(void **state)
{
	(void)state;
	header_fails("{'w':[1]}", 0, "tensor 'w': entry is not a JSON object");
	header_fails("{'__metadata__':[]}", 0, "__metadata__ is not a JSON "
		     "object");
	header_fails("{'w':{'shape':[1],'data_offsets':[0,4]}}", 4,
		     "tensor 'w': dtype is missing or not a string");
	header_fails("{'w':{'dtype':4,'shape':[1],'data_offsets':[0,4]}}", 4,
		     "tensor 'w': dtype is missing or not a string");
	header_fails("{'x':{'dtype':'I64','shape':[1],'data_offsets':[0,8]}}",
		     8, "model.safetensors: tensor 'x': unsupported dtype 'I64' "
		     "(gguffs reads F32, F16, BF16)");
	header_fails("{'s':{'dtype':'F8_E4M3','shape':[4],"
		     "'data_offsets':[0,4]}}", 4,
		     "tensor 's': unsupported dtype 'F8_E4M3'");
	header_fails("{'u':{'dtype':'I32','shape':[4],'data_offsets':[0,16]}}",
		     16, "tensor 'u': unsupported dtype 'I32'");
	header_fails("{'w':{'dtype':'f32','shape':[1],'data_offsets':[0,4]}}",
		     4, "tensor 'w': unsupported dtype 'f32'");
	header_fails("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
		     "'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8,
		     "tensor 'a' appears twice in the header");
}

static void test_bad_shapes(void **state)
{
	(void)state;
	header_fails("{'w':{'dtype':'F32','shape':4,'data_offsets':[0,16]}}",
		     16, "tensor 'w': shape is missing or not an array");
	header_fails("{'w':{'dtype':'F32','data_offsets':[0,16]}}", 16,
		     "tensor 'w': shape is missing or not an array");
	header_fails("{'w':{'dtype':'F32','shape':[-1],'data_offsets':[0,0]}}",
		     0, "tensor 'w': shape[0] is not an integer in 0..2^53-1");
	header_fails("{'w':{'dtype':'F32','shape':[2,1.5],"
		     "'data_offsets':[0,12]}}", 12,
		     "tensor 'w': shape[1] is not an integer in 0..2^53-1");
	header_fails("{'w':{'dtype':'F32','shape':['2'],"
		     "'data_offsets':[0,8]}}", 8, "tensor 'w': shape[0] is not");
	header_fails("{'w':{'dtype':'F32','shape':[1,9007199254740993],"
		     "'data_offsets':[0,0]}}", 0, "tensor 'w': shape[1] is not");
	header_fails("{'w':{'dtype':'F32','shape':[0,9007199254740992],"
		     "'data_offsets':[0,0]}}", 0, "tensor 'w': shape[1] is not");
	header_fails("{'w':{'dtype':'F32','shape':[1,1,1,1,1,1,1,1,1],"
		     "'data_offsets':[0,4]}}", 4,
		     "tensor 'w': shape has 9 dimensions (at most 8 supported)");
	header_fails("{'w':{'dtype':'F32','shape':[4294967296,4294967296,16],"
		     "'data_offsets':[0,0]}}", 0,
		     "tensor 'w': shape element count overflows 64 bits");
	/* 2^62 elements fit, 2^62 * 4 bytes do not. */
	header_fails("{'w':{'dtype':'F32','shape':[2147483648,2147483648],"
		     "'data_offsets':[0,0]}}", 0,
		     "tensor 'w': byte size overflows 64 bits");
}

static void test_bad_offsets(void **state)
{
	(void)state;
	header_fails("{'w':{'dtype':'F32','shape':[2,2],'data_offsets':[0,8]}}",
		     16, "tensor 'w': data_offsets span 8 bytes but shape and "
		     "dtype need 16");
	header_fails("{'w':{'dtype':'BF16','shape':[3],'data_offsets':[0,8]}}",
		     8, "data_offsets span 8 bytes but shape and dtype need 6");
	header_fails("{'w':{'dtype':'F32','shape':[4],'data_offsets':[0,16]}}",
		     8, "tensor 'w': data_offsets end 16 is past the data "
		     "section (8 bytes)");
	header_fails("{'w':{'dtype':'F32','shape':[1],'data_offsets':[8,4]}}",
		     8, "tensor 'w': data_offsets begin 8 is after end 4");
	header_fails("{'w':{'dtype':'F32','shape':[1]}}", 4,
		     "tensor 'w': data_offsets is not an array of two integers");
	header_fails("{'w':{'dtype':'F32','shape':[1],'data_offsets':[0]}}", 4,
		     "tensor 'w': data_offsets is not an array of two integers");
	header_fails("{'w':{'dtype':'F32','shape':[1],"
		     "'data_offsets':[0,4,8]}}", 8,
		     "tensor 'w': data_offsets is not an array of two integers");
	header_fails("{'w':{'dtype':'F32','shape':[1],'data_offsets':[-4,0]}}",
		     4, "tensor 'w': data_offsets holds a value that is not an "
		     "integer");
	header_fails("{'w':{'dtype':'F32','shape':[1],"
		     "'data_offsets':[0,4.5]}}", 8,
		     "tensor 'w': data_offsets holds a value that is not");
}

static void test_overlap(void **state)
{
	(void)state;
	header_fails("{'a':{'dtype':'F32','shape':[4],'data_offsets':[0,16]},"
		     "'b':{'dtype':'F32','shape':[4],'data_offsets':[8,24]}}",
		     24, "tensors 'a' and 'b' overlap in the data section");
	header_fails("{'b':{'dtype':'F16','shape':[2],'data_offsets':[4,8]},"
		     "'a':{'dtype':'F16','shape':[2],'data_offsets':[4,8]}}",
		     8, "tensors 'a' and 'b' overlap");
	/* One inside another, listed in the other order. */
	header_fails("{'in':{'dtype':'F32','shape':[1],'data_offsets':[4,8]},"
		     "'out':{'dtype':'F32','shape':[4],'data_offsets':[0,16]}}",
		     16, "tensors 'out' and 'in' overlap");

	/* Adjacent spans and empty tensors inside a span are fine. */
	char *dir = new_dir();
	char *p = write_st(dir, "ok.safetensors",
			   "{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
			   "'b':{'dtype':'F32','shape':[2],'data_offsets':[8,16]},"
			   "'z':{'dtype':'F32','shape':[0],'data_offsets':[4,4]}}",
			   16);
	struct st_set *set = open_one(p);
	assert_int_equal(set->ntensors, 3);
	st_set_close(set);
	free(p);
	free(dir);
}

static void test_duplicate_across_shards(void **state)
{
	(void)state;
	char *dir = new_dir();
	char *p1 = write_one(dir, "model-00001-of-00002.safetensors", "w");
	char *p2 = write_one(dir, "model-00002-of-00002.safetensors", "w");
	open_dir_fails(dir, "tensor 'w' appears in both");
	struct st_set *set = (struct st_set *)1;
	gg_err e;
	const char *paths[] = { p1, p2 };
	assert_int_equal(st_set_open_files(paths, 2, &set, &e), -1);
	assert_null(set);
	assert_msg(&e, p1);
	assert_msg(&e, p2);
	free(p1);
	free(p2);
	free(dir);
}

/* ---- index ------------------------------------------------------------ */

/* Two shards: a and b in the first, c in the second, plus an index. */
static char *sharded_dir(const char *index)
{
	char *dir = new_dir();
	free(write_st(dir, "model-00001-of-00002.safetensors",
		      "{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
		      "'b':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}",
		      8));
	free(write_one(dir, "model-00002-of-00002.safetensors", "c"));
	if (index) {
		char *text = gg_strdup(index);
		for (char *s = text; *s; s++)
			if (*s == '\'')
				*s = '"';
		free(write_bytes(dir, "model.safetensors.index.json", text,
				 strlen(text)));
		free(text);
	}
	return dir;
}

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

static void test_index_consistent(void **state)
{
	(void)state;
	char *dir = sharded_dir("{'metadata':{'total_size':16},'weight_map':"
				"{'c':'" SHARD2 "','a':'" SHARD1 "','b':'"
				SHARD1 "'}}");
	struct st_set *set = open_dir_ok(dir);
	assert_int_equal(set->nfiles, 2);
	assert_int_equal(set->ntensors, 3);
	assert_int_equal(st_set_find(set, "c")->file, 1);
	st_set_close(set);
	free(dir);

	dir = sharded_dir(NULL); /* no index at all is fine too */
	set = open_dir_ok(dir);
	assert_int_equal(set->ntensors, 3);
	st_set_close(set);
	free(dir);
}

/* With an index, only the shards it names are read: a stray file beside
 * them, even one called model-*.safetensors, is not part of the model. */
static void test_index_selects_shards(void **state)
{
	(void)state;
	char *dir = sharded_dir("{'weight_map':{'a':'" SHARD1 "','b':'"
				SHARD1 "','c':'" SHARD2 "'}}");
	free(write_one(dir, "consolidated.safetensors", "stray"));
	free(write_one(dir, "model-00003-of-00003.safetensors", "old"));
	struct st_set *set = open_dir_ok(dir);
	assert_int_equal(set->nfiles, 2);
	assert_string_equal(set->files[0].name, SHARD1);
	assert_string_equal(set->files[1].name, SHARD2);
	assert_int_equal(set->ntensors, 3);
	assert_null(st_set_find(set, "stray"));
	assert_null(st_set_find(set, "old"));
	st_set_close(set);
	free(dir);
}

static void index_fails(const char *index, const char *want)
{
	char *dir = sharded_dir(index);
	open_dir_fails(dir, "model.safetensors.index.json");
	open_dir_fails(dir, want);
	free(dir);
}

static void test_index_mismatch(void **state)
{
	(void)state;
	index_fails("{'weight_map':{'a':'" SHARD1 "','b':'" SHARD1 "','c':'"
		    SHARD2 "','ghost':'" SHARD2 "'}}",
		    "tensor 'ghost' is listed in the index but not in any "
		    "shard");
	index_fails("{'weight_map':{'a':'" SHARD1 "','c':'" SHARD2 "'}}",
		    "tensor 'b' in " SHARD1 " is not listed in the index");
	index_fails("{'weight_map':{'a':'" SHARD2 "','b':'" SHARD1 "','c':'"
		    SHARD2 "'}}",
		    "tensor 'a' is in " SHARD1 " but the index says " SHARD2);
	index_fails("{'weight_map':{'a':'" SHARD1 "','b':'" SHARD1 "','c':'"
		    "model-00003-of-00003.safetensors'}}",
		    "tensor 'c' is mapped to shard "
		    "'model-00003-of-00003.safetensors', which is not in the "
		    "directory");
	index_fails("{'weight_map':{'a':'" SHARD1 "','b':'" SHARD1 "','c':3}}",
		    "weight_map: tensor 'c' maps to a non-string");
	/* An index must not reach outside the directory. */
	index_fails("{'weight_map':{'a':'../" SHARD1 "'}}",
		    "tensor 'a' is mapped to '../" SHARD1 "', which is not a "
		    "*.safetensors file name in the directory");
	index_fails("{'weight_map':{'a':'/etc/passwd'}}", "not a *.safetensors");
	index_fails("{'weight_map':{'a':'..'}}", "not a *.safetensors");
	index_fails("{'weight_map':{'a':''}}", "not a *.safetensors");
	index_fails("{'weight_map':{}}", "weight_map names no shard");
	index_fails("{'metadata':{}}", "weight_map is missing");
	index_fails("{'weight_map':[]}", "weight_map: expected an object");
	index_fails("{'weight_map':", "JSON syntax error");
}

/* ---- change detection ------------------------------------------------- */

static struct st_set *open_check_ok(const char *path)
{
	struct st_set *set = open_one(path);
	gg_err e = { "" };
	if (st_file_check(&set->files[0], &e) != 0)
		fail_msg("fresh file reported changed: %s", e.msg);
	return set;
}

static void assert_check_fails(const struct st_set *set, const char *want)
{
	gg_err e = { "" };
	assert_int_equal(st_file_check(&set->files[0], &e), -1);
	assert_msg(&e, set->files[0].path);
	assert_msg(&e, want);
}

static void test_file_check(void **state)
{
	(void)state;
	char *dir = new_dir();
	char *path = write_one(dir, "m.safetensors", "w");

	/* Truncated. */
	struct st_set *set = open_check_ok(path);
	assert_int_equal(truncate(path, (off_t)set->files[0].size - 4), 0);
	assert_check_fails(set, "source file changed since mount");
	st_set_close(set);

	/* Replaced by a file of the same size (a new inode). */
	free(write_one(dir, "m.safetensors", "w"));
	set = open_check_ok(path);
	char *other = write_one(dir, "other.tmp", "v");
	assert_int_equal(rename(other, path), 0);
	assert_check_fails(set, "source file changed since mount");
	st_set_close(set);

	/* Rewritten in place: only the mtime tells, here by a nanosecond. */
	set = open_check_ok(path);
	struct timespec mtime = set->files[0].mtime;
	mtime.tv_nsec = (mtime.tv_nsec + 1) % 1000000000;
	struct timespec times[2] = { { 0, UTIME_OMIT }, mtime };
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_check_fails(set, "source file changed since mount");
	st_set_close(set);

	/* Rewritten in place with the same size and the mtime put back, as
	 * rsync --inplace -t does: only the ctime tells. */
	set = open_check_ok(path);
	struct stat before;
	assert_int_equal(stat(path, &before), 0);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	uint8_t zero[4] = { 0 };
	assert_int_equal(pwrite(fd, zero, sizeof zero, (off_t)set->files[0].size - 4), 4);
	close(fd);
	struct timespec restore[2] = { before.st_atim, before.st_mtim };
	assert_int_equal(utimensat(AT_FDCWD, path, restore, 0), 0);
	struct stat after;
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_check_fails(set, "source file changed since mount");
	st_set_close(set);

	/* A chmod changes no byte but is a change all the same. */
	set = open_check_ok(path);
	assert_int_equal(chmod(path, 0600), 0);
	assert_check_fails(set, "source file changed since mount");
	st_set_close(set);

	/* Deleted. */
	set = open_check_ok(path);
	assert_int_equal(unlink(path), 0);
	assert_check_fails(set, "source file vanished");
	st_set_close(set);

	free(other);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_dtypes),
		cmocka_unit_test(test_parse_memory),
		cmocka_unit_test(test_sort_order),
		cmocka_unit_test(test_find_many),
		cmocka_unit_test(test_dir_order),
		cmocka_unit_test(test_dir_empty),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_header_length),
		cmocka_unit_test(test_bad_header_text),
		cmocka_unit_test(test_bad_entries),
		cmocka_unit_test(test_bad_shapes),
		cmocka_unit_test(test_bad_offsets),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_duplicate_across_shards),
		cmocka_unit_test(test_index_consistent),
		cmocka_unit_test(test_index_selects_shards),
		cmocka_unit_test(test_dir_selected_not_a_file),
		cmocka_unit_test(test_dir_adapters),
		cmocka_unit_test(test_index_mismatch),
		cmocka_unit_test(test_file_check),
	};
	return cmocka_run_group_tests(tests, make_base, remove_base);
}
