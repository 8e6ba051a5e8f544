/* test_gguf.c - the GGUF key/value list, header writer and reader: exact
 * bytes of a hand-built header, ordering and replacement rules, tensor
 * layout, a round trip of every value type, and one test per kind of
 * malformed file, each checking the message that names the problem. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_reader.h"

#define NAME "test.gguf"

/* ---- helpers --------------------------------------------------------- */

static uint8_t *from_hex(const char *hex, size_t *len)
{
	uint8_t *out = malloc(strlen(hex) / 2 + 1);
	size_t n = 0;
	for (const char *p = hex; *p;) {
		if (*p == ' ' || *p == '\n') {
			p++;
			continue;
		}
		unsigned v;
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	*len = n;
	return out;
}

static void assert_bytes_equal(const uint8_t *got, size_t got_len,
			       const uint8_t *want, size_t want_len)
{
	for (size_t i = 0; i < got_len && i < want_len; i++)
		if (got[i] != want[i])
			fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, got[i],
				 want[i]);
	assert_int_equal(got_len, want_len);
}

static struct gguf_tensor_info tensor(const char *name, enum gg_type type,
				      uint32_t n_dims, uint64_t ne0,
				      uint64_t ne1)
{
	struct gguf_tensor_info t;
	memset(&t, 0, sizeof t);
	t.name = (char *)name;
	t.type = type;
	t.n_dims = n_dims;
	t.ne[0] = ne0;
	t.ne[1] = ne1;
	t.ne[2] = t.ne[3] = 1;
	t.nbytes = ne0 * (n_dims > 1 ? ne1 : 1) * gg_type_size(type);
	return t;
}

/* A whole file: the header, then data_size bytes of data (a counting
 * pattern, so a misplaced read would show). */
static uint8_t *build_file(const struct gguf_kvs *kvs,
			   const struct gguf_tensor_info *t, size_t n,
			   uint32_t alignment, uint64_t data_size, size_t *len)
{
	size_t hlen;
	uint8_t *h = gguf_write_header(kvs, t, n, alignment, &hlen);
	uint8_t *f = malloc(hlen + data_size + 1);
	memcpy(f, h, hlen);
	for (uint64_t i = 0; i < data_size; i++)
		f[hlen + i] = (uint8_t)i;
	free(h);
	*len = hlen + (size_t)data_size;
	return f;
}

/* Parse buf, expecting failure with a message naming the file and
 * containing `want`. */
static void expect_error(const uint8_t *buf, size_t len, const char *want)
{
	struct gguf_file *f = (struct gguf_file *)1;
	gg_err e;
	e.msg[0] = '\0';
	int rc = gguf_read_mem(buf, len, len, NAME, &f, &e);
	if (rc == 0)
		fail_msg("parse succeeded, wanted error containing '%s'", want);
	assert_null(f);
	if (strncmp(e.msg, NAME ": ", strlen(NAME) + 2) != 0 ||
	    !strstr(e.msg, want))
		fail_msg("message '%s' lacks '%s'", e.msg, want);
}

static struct gguf_file *expect_ok(const uint8_t *buf, size_t len)
{
	struct gguf_file *f = NULL;
	gg_err e;
	if (gguf_read_mem(buf, len, len, NAME, &f, &e) != 0)
		fail_msg("parse failed: %s", e.msg);
	assert_non_null(f);
	return f;
}

static void put_u64_at(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u32_at(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Offset of the first occurrence of needle (must exist). */
static size_t find(const uint8_t *buf, size_t len, const void *needle,
		   size_t nlen)
{
	const uint8_t *p = memmem(buf, len, needle, nlen);
	assert_non_null(p);
	return (size_t)(p - buf);
}

/* ---- writer ---------------------------------------------------------- */

static void header_exact_bytes(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_u32(kvs, "n", 0x01020304);
	gguf_kvs_set_str(kvs, "s", "hi");
	const char *strs[] = { "x", "yz" };
	gguf_kvs_set_arr_str(kvs, "t", strs, NULL, 2);
	struct gguf_tensor_info t = tensor("w", GG_TYPE_F16, 2, 2, 3);
	t.offset = 0x40;

	size_t len, want_len;
	uint8_t *got = gguf_write_header(kvs, &t, 1, 32, &len);
	uint8_t *want = from_hex(
		"47475546 03000000 0100000000000000 0300000000000000"
		/* "n": u32 */
		"0100000000000000 6e 04000000 04030201"
		/* "s": string "hi" */
		"0100000000000000 73 08000000 0200000000000000 6869"
		/* "t": array of 2 strings */
		"0100000000000000 74 09000000 08000000 0200000000000000"
		"0100000000000000 78 0200000000000000 797a"
		/* tensor "w": 2 dims [2, 3], F16, offset 0x40 */
		"0100000000000000 77 02000000 0200000000000000 0300000000000000"
		"01000000 4000000000000000"
		/* 149 bytes so far: zero padding to 160 */
		"0000000000000000000000",
		&want_len);
	assert_int_equal(want_len, 160);
	assert_bytes_equal(got, len, want, want_len);
	free(got);
	free(want);

	/* Alignment 8 pads 149 to 152; no tensors and no keys is 24. */
	got = gguf_write_header(kvs, &t, 1, 8, &len);
	assert_int_equal(len, 152);
	free(got);
	struct gguf_kvs *empty = gguf_kvs_new();
	got = gguf_write_header(empty, NULL, 0, 32, &len);
	want = from_hex("47475546 03000000 0000000000000000 0000000000000000"
			"0000000000000000", &want_len);
	assert_bytes_equal(got, len, want, want_len);
	free(want);
	free(got);
	gguf_kvs_free(empty);
	gguf_kvs_free(kvs);
}

static void scalar_encodings(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_i16(kvs, "a", -2);
	gguf_kvs_set_f32(kvs, "b", 1.0f);
	gguf_kvs_set_bool(kvs, "c", true);
	gguf_kvs_set_f64(kvs, "d", -2.0);
	size_t len, want_len;
	uint8_t *got = gguf_write_header(kvs, NULL, 0, 32, &len);
	uint8_t *want = from_hex(
		"47475546 03000000 0000000000000000 0400000000000000"
		"0100000000000000 61 03000000 feff"
		"0100000000000000 62 06000000 0000803f"
		"0100000000000000 63 07000000 01"
		"0100000000000000 64 0c000000 00000000000000c0"
		"0000000000", &want_len); /* 91 bytes, padded to 96 */
	assert_bytes_equal(got, len, want, want_len);
	free(got);
	free(want);
	gguf_kvs_free(kvs);
}

static void sort_is_bytewise(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	const char *in[] = { "b", "a.b", "a\xc3\xa9", "a", "B", "a.a", "" };
	for (size_t i = 0; i < 7; i++)
		gguf_kvs_set_u32(kvs, in[i], (uint32_t)i);
	gguf_kvs_sort(kvs);
	/* Shorter prefix first; bytes >= 0x80 after ASCII; case by byte. */
	const char *want[] = { "", "B", "a", "a.a", "a.b", "a\xc3\xa9", "b" };
	assert_int_equal(kvs->n, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(kvs->kv[i].key, want[i]);
	/* Values travelled with their keys. */
	assert_int_equal(gguf_kvs_get(kvs, "a.b")->v.u, 1);
	assert_int_equal(gguf_kvs_get(kvs, "B")->v.u, 4);
	gguf_kvs_free(kvs);
}

static void set_replaces_in_place(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_u32(kvs, "x", 1);
	gguf_kvs_set_str(kvs, "y", "old");
	gguf_kvs_set_u32(kvs, "z", 3);
	gguf_kvs_set_i64(kvs, "y", -5); /* new type, same slot */
	assert_int_equal(kvs->n, 3);
	assert_string_equal(kvs->kv[1].key, "y");
	assert_int_equal(kvs->kv[1].type, GGUF_VT_I64);
	assert_int_equal(kvs->kv[1].v.i, -5);

	/* Replacing a string by itself (aliasing the old value) is safe. */
	gguf_kvs_set_str(kvs, "x", "some text");
	gguf_kvs_set_str(kvs, "x", gguf_kvs_get(kvs, "x")->str.s);
	assert_string_equal(gguf_kvs_get(kvs, "x")->str.s, "some text");
	assert_int_equal(gguf_kvs_get(kvs, "x")->str.n, 9);

	/* Embedded NULs survive set_strn. */
	gguf_kvs_set_strn(kvs, "z", "a\0b", 3);
	assert_int_equal(gguf_kvs_get(kvs, "z")->str.n, 3);
	assert_memory_equal(gguf_kvs_get(kvs, "z")->str.s, "a\0b", 4);

	assert_null(gguf_kvs_get(kvs, "w"));
	assert_null(gguf_kvs_get(kvs, "x.")); /* exact match only */
	gguf_kvs_remove(kvs, "w");	       /* absent: no-op */
	assert_int_equal(kvs->n, 3);
	gguf_kvs_remove(kvs, "x");
	assert_int_equal(kvs->n, 2);
	assert_string_equal(kvs->kv[0].key, "y");
	assert_string_equal(kvs->kv[1].key, "z");
	gguf_kvs_set_u8(kvs, "x", 9); /* re-added at the end */
	assert_string_equal(kvs->kv[2].key, "x");

	/* Taking ownership of a string array. */
	struct gguf_str *strs = calloc(2, sizeof *strs);
	strs[0].s = strdup("p");
	strs[0].n = 1;
	strs[1].s = strdup("");
	strs[1].n = 0;
	gguf_kvs_take_arr_str(kvs, "y", strs, 2);
	assert_int_equal(kvs->kv[0].type, GGUF_VT_ARRAY);
	assert_int_equal(kvs->kv[0].arr_type, GGUF_VT_STRING);
	assert_ptr_equal(kvs->kv[0].arr, strs);
	gguf_kvs_free(kvs);
}

static void layout_offsets(void **state)
{
	(void)state;
	struct gguf_tensor_info t[4];
	uint64_t sizes[4] = { 10, 32, 33, 5 };
	for (int i = 0; i < 4; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].nbytes = sizes[i];
	}
	uint64_t data_size = 0;
	gguf_layout(t, 4, 32, false, &data_size);
	assert_int_equal(t[0].offset, 0);
	assert_int_equal(t[1].offset, 32);
	assert_int_equal(t[2].offset, 64);
	assert_int_equal(t[3].offset, 128);
	assert_int_equal(data_size, 133);
	gguf_layout(t, 4, 32, true, &data_size);
	assert_int_equal(t[3].offset, 128);
	assert_int_equal(data_size, 160);
	/* An exact multiple needs no padding either way. */
	t[3].nbytes = 64;
	gguf_layout(t, 4, 32, false, &data_size);
	assert_int_equal(data_size, 192);
	gguf_layout(t, 0, 32, false, &data_size);
	assert_int_equal(data_size, 0);
}

static void vtype_table(void **state)
{
	(void)state;
	assert_int_equal(gguf_vtype_size(GGUF_VT_U8), 1);
	assert_int_equal(gguf_vtype_size(GGUF_VT_BOOL), 1);
	assert_int_equal(gguf_vtype_size(GGUF_VT_I16), 2);
	assert_int_equal(gguf_vtype_size(GGUF_VT_F32), 4);
	assert_int_equal(gguf_vtype_size(GGUF_VT_F64), 8);
	assert_int_equal(gguf_vtype_size(GGUF_VT_STRING), 0);
	assert_int_equal(gguf_vtype_size(GGUF_VT_ARRAY), 0);
	assert_string_equal(gguf_vtype_name(GGUF_VT_U32), "UINT32");
	assert_string_equal(gguf_vtype_name(GGUF_VT_STRING), "STRING");
	assert_string_equal(gguf_vtype_name((enum gguf_vtype)13), "UNKNOWN");
}

/* ---- reader: round trip ---------------------------------------------- */

static void round_trip_every_type(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_u8(kvs, "u8", 255);
	gguf_kvs_set_i8(kvs, "i8", -128);
	gguf_kvs_set_u16(kvs, "u16", 65535);
	gguf_kvs_set_i16(kvs, "i16", -32768);
	gguf_kvs_set_u32(kvs, "u32", 0xfffffffe);
	gguf_kvs_set_i32(kvs, "i32", INT32_MIN);
	gguf_kvs_set_f32(kvs, "f32", -1.5e-7f);
	gguf_kvs_set_bool(kvs, "bool", true);
	gguf_kvs_set_strn(kvs, "str", "h\0\xff", 3); /* any bytes */
	gguf_kvs_set_u64(kvs, "u64", UINT64_MAX);
	gguf_kvs_set_i64(kvs, "i64", INT64_MIN);
	gguf_kvs_set_f64(kvs, "f64", M_PI);

	uint8_t a_u8[] = { 0, 1, 255 };
	int8_t a_i8[] = { -128, 0, 127 };
	uint16_t a_u16[] = { 0, 65535 };
	int16_t a_i16[] = { -32768, 32767, -1 };
	uint32_t a_u32[] = { 0, 0xffffffff, 7 };
	int32_t a_i32[] = { INT32_MIN, INT32_MAX };
	float a_f32[] = { 1.0f, -0.0f, INFINITY, 3.25f };
	uint8_t a_bool[] = { 1, 0, 1 };
	uint64_t a_u64[] = { UINT64_MAX, 0, 1ull << 53 };
	int64_t a_i64[] = { INT64_MIN, -1 };
	double a_f64[] = { 1e300, -2.5 };
	gguf_kvs_set_arr(kvs, "a.u8", GGUF_VT_U8, a_u8, 3);
	gguf_kvs_set_arr(kvs, "a.i8", GGUF_VT_I8, a_i8, 3);
	gguf_kvs_set_arr(kvs, "a.u16", GGUF_VT_U16, a_u16, 2);
	gguf_kvs_set_arr(kvs, "a.i16", GGUF_VT_I16, a_i16, 3);
	gguf_kvs_set_arr(kvs, "a.u32", GGUF_VT_U32, a_u32, 3);
	gguf_kvs_set_arr(kvs, "a.i32", GGUF_VT_I32, a_i32, 2);
	gguf_kvs_set_arr(kvs, "a.f32", GGUF_VT_F32, a_f32, 4);
	gguf_kvs_set_arr(kvs, "a.bool", GGUF_VT_BOOL, a_bool, 3);
	gguf_kvs_set_arr(kvs, "a.u64", GGUF_VT_U64, a_u64, 3);
	gguf_kvs_set_arr(kvs, "a.i64", GGUF_VT_I64, a_i64, 2);
	gguf_kvs_set_arr(kvs, "a.f64", GGUF_VT_F64, a_f64, 2);
	gguf_kvs_set_arr(kvs, "a.empty", GGUF_VT_U32, NULL, 0);
	const char *strs[] = { "", "a\0b", "\xc3\xa9t\xc3\xa9" };
	const uint64_t lens[] = { 0, 3, 5 };
	gguf_kvs_set_arr_str(kvs, "a.str", strs, lens, 3);
	gguf_kvs_set_u32(kvs, "general.alignment", 64);

	struct gguf_tensor_info t[3] = {
		tensor("tok_embd.weight", GG_TYPE_BF16, 2, 8, 5),
		tensor("blk.0.attn_norm.weight", GG_TYPE_F32, 1, 8, 1),
		tensor("output.weight", GG_TYPE_F16, 2, 8, 3),
	};
	uint64_t data_size;
	gguf_layout(t, 3, 64, false, &data_size);
	size_t len;
	uint8_t *buf = build_file(kvs, t, 3, 64, data_size, &len);
	struct gguf_file *f = expect_ok(buf, len);

	assert_int_equal(f->version, 3);
	assert_int_equal(f->alignment, 64);
	assert_int_equal(f->file_size, len);
	assert_int_equal(f->data_offset % 64, 0);
	assert_int_equal(f->data_offset + data_size, len);
	assert_int_equal(f->kvs->n, kvs->n);
	for (size_t i = 0; i < kvs->n; i++) {
		const struct gguf_kv *w = &kvs->kv[i], *g = &f->kvs->kv[i];
		assert_string_equal(g->key, w->key); /* file order kept */
		assert_int_equal(g->type, w->type);
		if (w->type == GGUF_VT_STRING) {
			assert_int_equal(g->str.n, w->str.n);
			assert_memory_equal(g->str.s, w->str.s, w->str.n + 1);
		} else if (w->type == GGUF_VT_ARRAY) {
			assert_int_equal(g->arr_type, w->arr_type);
			assert_int_equal(g->arr_n, w->arr_n);
			if (w->arr_type != GGUF_VT_STRING) {
				size_t bytes = w->arr_n * gguf_vtype_size(w->arr_type);
				if (bytes)
					assert_memory_equal(g->arr, w->arr, bytes);
			}
		} else if (w->type == GGUF_VT_F32 || w->type == GGUF_VT_F64) {
			assert_memory_equal(&g->v.f, &w->v.f, sizeof w->v.f);
		} else if (w->type == GGUF_VT_BOOL) {
			assert_int_equal(g->v.b, w->v.b);
		} else {
			assert_int_equal(g->v.u, w->v.u);
		}
	}
	/* Spot checks on decoded values, not just equality with the input. */
	assert_int_equal(gguf_kvs_get(f->kvs, "i8")->v.i, -128);
	assert_int_equal(gguf_kvs_get(f->kvs, "i32")->v.i, INT32_MIN);
	assert_true(gguf_kvs_get(f->kvs, "u64")->v.u == UINT64_MAX);
	assert_true(gguf_kvs_get(f->kvs, "f32")->v.f == (double)-1.5e-7f);
	assert_true(gguf_kvs_get(f->kvs, "f64")->v.f == M_PI);
	const struct gguf_kv *as = gguf_kvs_get(f->kvs, "a.str");
	const struct gguf_str *gs = as->arr;
	assert_int_equal(gs[0].n, 0);
	assert_int_equal(gs[1].n, 3);
	assert_memory_equal(gs[1].s, "a\0b", 3);
	assert_string_equal(gs[2].s, "\xc3\xa9t\xc3\xa9");

	assert_int_equal(f->ntensors, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(f->tensors[i].name, t[i].name);
		assert_int_equal(f->tensors[i].type, t[i].type);
		assert_int_equal(f->tensors[i].n_dims, t[i].n_dims);
		assert_int_equal(f->tensors[i].ne[0], t[i].ne[0]);
		assert_int_equal(f->tensors[i].ne[1], t[i].ne[1]);
		assert_int_equal(f->tensors[i].offset, t[i].offset);
		assert_int_equal(f->tensors[i].nbytes, t[i].nbytes);
	}
	assert_int_equal(f->tensors[2].offset, 192);
	assert_int_equal(f->tensors[2].nbytes, 48);

	/* The header alone (a prefix of the file) still parses when the
	 * real file size is given. */
	gguf_file_free(f);
	gg_err e;
	assert_int_equal(gguf_read_mem(buf, (size_t)(len - data_size), len,
				       NAME, &f, &e), 0);
	assert_int_equal(f->ntensors, 3);
	gguf_file_free(f);
	free(buf);
	gguf_kvs_free(kvs);
}

static void read_from_file(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_str(kvs, "general.architecture", "llama");
	struct gguf_tensor_info t = tensor("w", GG_TYPE_F32, 1, 4, 1);
	uint64_t data_size;
	gguf_layout(&t, 1, 32, false, &data_size);
	size_t len;
	uint8_t *buf = build_file(kvs, &t, 1, 32, data_size, &len);
	char path[] = "/tmp/test_gguf_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);

	struct gguf_file *f;
	gg_err e;
	assert_int_equal(gguf_read_file(path, &f, &e), 0);
	assert_string_equal(gguf_kvs_get(f->kvs, "general.architecture")->str.s,
			    "llama");
	assert_int_equal(f->file_size, len);
	assert_int_equal(f->data_offset, len - 16);
	gguf_file_free(f);

	/* Truncating the file drops the tensor's data. */
	assert_int_equal(truncate(path, (off_t)len - 1), 0);
	assert_int_equal(gguf_read_file(path, &f, &e), -1);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "beyond the end of the file"));
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(gguf_read_file(path, &f, &e), -1);
	assert_non_null(strstr(e.msg, "truncated header"));
	unlink(path);
	assert_int_equal(gguf_read_file(path, &f, &e), -1);
	assert_non_null(strstr(e.msg, "No such file"));
	free(buf);
	gguf_kvs_free(kvs);
}

static void quantised_tensor_sizes(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	struct gguf_tensor_info t[2] = {
		tensor("q4", GG_TYPE_F32, 2, 64, 3),
		tensor("q6k", GG_TYPE_F32, 1, 512, 1),
	};
	t[0].type = (enum gg_type)2;  /* Q4_0: 32 per 18-byte block */
	t[0].nbytes = 2 * 3 * 18;
	t[1].type = (enum gg_type)14; /* Q6_K: 256 per 210-byte block */
	t[1].nbytes = 2 * 210;
	uint64_t data_size;
	gguf_layout(t, 2, 32, false, &data_size);
	size_t len;
	uint8_t *buf = build_file(kvs, t, 2, 32, data_size, &len);
	struct gguf_file *f = expect_ok(buf, len);
	assert_int_equal(f->tensors[0].nbytes, 108);
	assert_int_equal(f->tensors[1].nbytes, 420);
	gguf_file_free(f);
	free(buf);

	/* ne[0] must be a whole number of blocks. */
	t[0].ne[0] = 48;
	buf = build_file(kvs, t, 2, 32, data_size, &len);
	expect_error(buf, len, "not a multiple of the type's block size 32");
	free(buf);
	gguf_kvs_free(kvs);
}

/* ---- reader: malformed files ----------------------------------------- */

/* A small valid file used as the base for corruption. */
static uint8_t *small_file(size_t *len)
{
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_str(kvs, "general.architecture", "llama");
	gguf_kvs_set_u32(kvs, "llama.block_count", 2);
	const char *toks[] = { "<s>", "a", "b" };
	gguf_kvs_set_arr_str(kvs, "tokenizer.ggml.tokens", toks, NULL, 3);
	float scores[] = { 0, -1, -2 };
	gguf_kvs_set_arr(kvs, "tokenizer.ggml.scores", GGUF_VT_F32, scores, 3);
	struct gguf_tensor_info t[2] = {
		tensor("a", GG_TYPE_F16, 2, 4, 2),
		tensor("b", GG_TYPE_F32, 1, 3, 1),
	};
	uint64_t data_size;
	gguf_layout(t, 2, 32, false, &data_size);
	uint8_t *buf = build_file(kvs, t, 2, 32, data_size, len);
	gguf_kvs_free(kvs);
	return buf;
}

static void truncated_at_every_length(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = small_file(&len);
	gguf_file_free(expect_ok(buf, len));
	for (size_t n = 0; n < len; n++) {
		/* A fresh allocation of exactly n bytes, so ASan catches
		 * any read past the end. */
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, buf, n);
		struct gguf_file *f = NULL;
		gg_err e;
		e.msg[0] = '\0';
		if (gguf_read_mem(p, n, n, NAME, &f, &e) == 0)
			fail_msg("prefix of %zu/%zu bytes parsed", n, len);
		assert_null(f);
		assert_true(strncmp(e.msg, NAME ": ", strlen(NAME) + 2) == 0);
		free(p);
	}
	expect_error(buf, 3, "truncated header: magic needs 4 bytes");
	expect_error(buf, 30, "key/value count 4 needs more than the 6 bytes"
		     " left (truncated or corrupt header)");
	expect_error(buf, 100, "truncated header: value needs 4 bytes at"
		     " offset 98, only 2 left");
	free(buf);
}

static void bad_magic_and_version(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = small_file(&len);
	buf[0] = 'g';
	expect_error(buf, len, "bad magic");
	buf[0] = 'G';
	put_u32_at(buf + 4, 4);
	expect_error(buf, len, "unsupported GGUF version 4");
	put_u32_at(buf + 4, 1);
	expect_error(buf, len, "unsupported GGUF version 1");
	put_u32_at(buf + 4, 0x03000000); /* big-endian file */
	expect_error(buf, len, "unsupported GGUF version 50331648");
	put_u32_at(buf + 4, 2); /* v2 has the same layout */
	gguf_file_free(expect_ok(buf, len));
	free(buf);
}

static void huge_counts(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = small_file(&len);
	put_u64_at(buf + 16, 1ull << 60);
	expect_error(buf, len, "key/value count 1152921504606846976 needs more than");
	put_u64_at(buf + 16, 4);
	put_u64_at(buf + 8, UINT64_MAX);
	expect_error(buf, len, "tensor count 18446744073709551615 needs more than");
	free(buf);
}

static void huge_string_length(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = small_file(&len);
	/* The first key's length field is at 24. */
	put_u64_at(buf + 24, 1ull << 62);
	expect_error(buf, len,
		     "key at offset 24 has length 4611686018427387904");
	free(buf);

	buf = small_file(&len);
	size_t at = find(buf, len, "llama", 5) - 8; /* the string value */
	put_u64_at(buf + at, UINT64_MAX);
	expect_error(buf, len, "string value at offset");
	expect_error(buf, len, "has length 18446744073709551615");
	free(buf);
}

static void huge_array_count(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = small_file(&len);
	/* tokens: key, type 9, elem type 8, then the count. */
	size_t at = find(buf, len, "tokenizer.ggml.tokens", 21) + 21 + 8;
	put_u64_at(buf + at, 1ull << 60);
	expect_error(buf, len,
		     "key tokenizer.ggml.tokens: array count 1152921504606846976");
	/* Plausible-looking but still too large for the bytes left. */
	put_u64_at(buf + at, 1000);
	expect_error(buf, len, "array count 1000");
	free(buf);

	buf = small_file(&len);
	at = find(buf, len, "tokenizer.ggml.scores", 21) + 21 + 8;
	put_u64_at(buf + at, (1ull << 62) + 1); /* * 4 wraps to 4 in 64 bits */
	expect_error(buf, len, "array count 4611686018427387905");
	free(buf);
}

static void unknown_value_types(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = small_file(&len);
	size_t at = find(buf, len, "llama.block_count", 17) + 17;
	put_u32_at(buf + at, 13);
	expect_error(buf, len, "key llama.block_count: unknown value type 13");
	put_u32_at(buf + at, 0xffffffff);
	expect_error(buf, len, "unknown value type 4294967295");
	free(buf);

	buf = small_file(&len);
	at = find(buf, len, "tokenizer.ggml.scores", 21) + 21 + 4;
	put_u32_at(buf + at, 9);
	expect_error(buf, len,
		     "key tokenizer.ggml.scores: arrays of arrays are not supported");
	put_u32_at(buf + at, 77);
	expect_error(buf, len, "unknown array element type 77");
	free(buf);
}

static void bad_utf8_key(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_u32(kvs, "ok", 1);
	gguf_kvs_set_u32(kvs, "bad\xc0\xafkey", 1); /* overlong '/' */
	size_t len;
	uint8_t *buf = build_file(kvs, NULL, 0, 32, 0, &len);
	expect_error(buf, len, "key at offset 42 is not valid UTF-8");
	free(buf);
	gguf_kvs_free(kvs);

	/* A NUL inside a key is rejected too (keys are C strings here). */
	kvs = gguf_kvs_new();
	gguf_kvs_set_u32(kvs, "abc", 1);
	buf = build_file(kvs, NULL, 0, 32, 0, &len);
	buf[33] = '\0';
	expect_error(buf, len, "key at offset 24 is not valid UTF-8");
	free(buf);
	gguf_kvs_free(kvs);
}

static void duplicate_names(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_u32(kvs, "k.one", 1);
	gguf_kvs_set_u32(kvs, "k.onf", 2);
	struct gguf_tensor_info t[2] = {
		tensor("wa", GG_TYPE_F32, 1, 8, 1),
		tensor("wb", GG_TYPE_F32, 1, 8, 1),
	};
	uint64_t data_size;
	gguf_layout(t, 2, 32, false, &data_size);
	size_t len;
	uint8_t *buf = build_file(kvs, t, 2, 32, data_size, &len);
	gguf_file_free(expect_ok(buf, len));
	buf[find(buf, len, "k.onf", 5) + 4] = 'e';
	expect_error(buf, len, "duplicate key k.one");
	buf[find(buf, len, "k.one", 5) + 4] = 'x'; /* first one */
	buf[find(buf, len, "wb", 2) + 1] = 'a';
	expect_error(buf, len, "duplicate tensor wa");
	free(buf);
	gguf_kvs_free(kvs);
}

static void bad_alignment(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	gguf_kvs_set_u32(kvs, "general.alignment", 24);
	size_t len;
	uint8_t *buf = build_file(kvs, NULL, 0, 32, 0, &len);
	expect_error(buf, len, "general.alignment 24 is not a power of two");
	free(buf);
	gguf_kvs_set_u32(kvs, "general.alignment", 0);
	buf = build_file(kvs, NULL, 0, 32, 0, &len);
	expect_error(buf, len, "general.alignment 0 is not a power of two");
	free(buf);
	gguf_kvs_set_u64(kvs, "general.alignment", 32);
	buf = build_file(kvs, NULL, 0, 32, 0, &len);
	expect_error(buf, len, "general.alignment has type UINT64, not UINT32");
	free(buf);
	gguf_kvs_free(kvs);
}

static void bad_tensor_infos(void **state)
{
	(void)state;
	struct gguf_kvs *kvs = gguf_kvs_new();
	struct gguf_tensor_info t = tensor("w", GG_TYPE_F32, 2, 4, 2);
	uint64_t data_size = 32;
	size_t len;
	uint8_t *buf;

	t.n_dims = 5;
	buf = build_file(kvs, &t, 1, 32, data_size, &len);
	expect_error(buf, len, "tensor w has 5 dimensions, at most 4");
	free(buf);
	t.n_dims = 2;

	t.type = (enum gg_type)99;
	buf = build_file(kvs, &t, 1, 32, data_size, &len);
	expect_error(buf, len, "tensor w: unsupported tensor type 99");
	free(buf);
	t.type = GG_TYPE_F32;

	t.ne[0] = 1ull << 32;
	t.ne[1] = 1ull << 32;
	buf = build_file(kvs, &t, 1, 32, data_size, &len);
	expect_error(buf, len, "tensor w: element count overflows");
	free(buf);
	t.ne[0] = 1ull << 62; /* count fits, bytes (x4) do not */
	t.ne[1] = 1;
	buf = build_file(kvs, &t, 1, 32, data_size, &len);
	expect_error(buf, len, "tensor w: byte size overflows");
	free(buf);
	t.ne[0] = 4;
	t.ne[1] = 2;

	/* 32 bytes of data: exactly enough at offset 0... */
	buf = build_file(kvs, &t, 1, 32, 32, &len);
	gguf_file_free(expect_ok(buf, len));
	free(buf);
	/* ...one byte short... */
	buf = build_file(kvs, &t, 1, 32, 31, &len);
	expect_error(buf, len, "tensor w: data at offset 0 (+32 bytes) lies beyond"
		     " the end of the file");
	free(buf);
	/* ...or an offset that wraps 64 bits. */
	t.offset = UINT64_MAX - 31;
	buf = build_file(kvs, &t, 1, 32, 32, &len);
	expect_error(buf, len, "beyond the end of the file");
	free(buf);

	t.offset = 16;
	buf = build_file(kvs, &t, 1, 32, 64, &len);
	expect_error(buf, len,
		     "tensor w: offset 16 is not a multiple of the alignment 32");
	free(buf);
	/* With general.alignment 16 the same offset is fine. */
	gguf_kvs_set_u32(kvs, "general.alignment", 16);
	buf = build_file(kvs, &t, 1, 16, 64, &len);
	gguf_file_free(expect_ok(buf, len));
	free(buf);

	gguf_kvs_free(kvs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_exact_bytes),
		cmocka_unit_test(scalar_encodings),
		cmocka_unit_test(sort_is_bytewise),
		cmocka_unit_test(set_replaces_in_place),
		cmocka_unit_test(layout_offsets),
		cmocka_unit_test(vtype_table),
		cmocka_unit_test(round_trip_every_type),
		cmocka_unit_test(read_from_file),
		cmocka_unit_test(quantised_tensor_sizes),
		cmocka_unit_test(truncated_at_every_length),
		cmocka_unit_test(bad_magic_and_version),
		cmocka_unit_test(huge_counts),
		cmocka_unit_test(huge_string_length),
		cmocka_unit_test(huge_array_count),
		cmocka_unit_test(unknown_value_types),
		cmocka_unit_test(bad_utf8_key),
		cmocka_unit_test(duplicate_names),
		cmocka_unit_test(bad_alignment),
		cmocka_unit_test(bad_tensor_infos),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
