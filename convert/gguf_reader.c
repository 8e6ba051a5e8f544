/* gguf_reader.c - see gguf_reader.h.
 *
 * The parser trusts nothing in the file. Every read goes through a cursor
 * that checks the bytes are there first, and every count is checked against
 * the bytes left before anything is allocated for it: each element of a
 * list needs at least a known number of bytes, so a count larger than
 * (bytes left / that minimum) cannot be honest. This keeps a 2^60 count
 * from turning into a 2^60-byte allocation.
 *
 * Everything returned is copied out of the input. gguf_read_file reads a
 * prefix of the file with pread (never through a mapping, which a file
 * truncated under us would turn into SIGBUS) and parses it; when the parse
 * ran out of buffered bytes that the file does have, it reads a longer
 * prefix and parses again, so a multi-GB model costs about its header.
 */
#include "gguf_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- GGML tensor types ---------------------------------------------- */

/* Block geometry of the GGML tensor types a GGUF file may hold: elements
 * per block and bytes per block. gguffs itself writes only F32/F16/BF16,
 * but a reader that rejected quantised files would be useless for
 * inspecting a base model. Ids 4, 5 and 31-33, 36-38 are retired. */
struct ggml_type_geom {
	uint32_t id;
	uint32_t block;
	uint32_t bytes;
	const char *name;
};

static const struct ggml_type_geom ggml_types[] = {
	{ 0, 1, 4, "F32" },
	{ 1, 1, 2, "F16" },
	{ 2, 32, 18, "Q4_0" },
	{ 3, 32, 20, "Q4_1" },
	{ 6, 32, 22, "Q5_0" },
	{ 7, 32, 24, "Q5_1" },
	{ 8, 32, 34, "Q8_0" },
	{ 9, 32, 36, "Q8_1" },
	{ 10, 256, 84, "Q2_K" },
	{ 11, 256, 110, "Q3_K" },
	{ 12, 256, 144, "Q4_K" },
	{ 13, 256, 176, "Q5_K" },
	{ 14, 256, 210, "Q6_K" },
	{ 15, 256, 292, "Q8_K" },
	{ 16, 256, 66, "IQ2_XXS" },
	{ 17, 256, 74, "IQ2_XS" },
	{ 18, 256, 98, "IQ3_XXS" },
	{ 19, 256, 50, "IQ1_S" },
	{ 20, 32, 18, "IQ4_NL" },
	{ 21, 256, 110, "IQ3_S" },
	{ 22, 256, 82, "IQ2_S" },
	{ 23, 256, 136, "IQ4_XS" },
	{ 24, 1, 1, "I8" },
	{ 25, 1, 2, "I16" },
	{ 26, 1, 4, "I32" },
	{ 27, 1, 8, "I64" },
	{ 28, 1, 8, "F64" },
	{ 29, 256, 56, "IQ1_M" },
	{ 30, 1, 2, "BF16" },
	{ 34, 256, 54, "TQ1_0" },
	{ 35, 256, 66, "TQ2_0" },
	{ 39, 32, 17, "MXFP4" },
	{ 40, 64, 36, "NVFP4" },
	{ 41, 128, 18, "Q1_0" },
};

static const struct ggml_type_geom *ggml_type_lookup(uint32_t id)
{
	for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++)
		if (ggml_types[i].id == id)
			return &ggml_types[i];
	return NULL;
}

const char *gguf_ggml_type_name(uint32_t id)
{
	const struct ggml_type_geom *g = ggml_type_lookup(id);
	return g ? g->name : NULL;
}

bool gguf_ggml_type_geom(uint32_t id, uint32_t *block, uint32_t *bytes)
{
	const struct ggml_type_geom *g = ggml_type_lookup(id);
	if (!g)
		return false;
	*block = g->block;
	*bytes = g->bytes;
	return true;
}

/* ---- bounds-checked cursor ------------------------------------------ */

struct cursor {
	const uint8_t *p;
	uint64_t len;	    /* bytes available in p */
	uint64_t pos;
	uint64_t file_size; /* for messages: the header may be a prefix */
	const char *name;
	gg_err *e;
	bool short_buf;     /* failed for want of bytes the file has */
};

static uint64_t remaining(const struct cursor *c)
{
	return c->len - c->pos;
}

/* True (and noted) when fewer than n bytes are left in the buffer. */
static bool lacks(struct cursor *c, uint64_t n)
{
	if (n <= remaining(c))
		return false;
	if (c->len < c->file_size)
		c->short_buf = true;
	return true;
}

/* True (and noted) when count items of at least min bytes cannot fit. */
static bool lacks_n(struct cursor *c, uint64_t count, uint64_t min)
{
	if (count <= remaining(c) / min)
		return false;
	if (c->len < c->file_size)
		c->short_buf = true;
	return true;
}

/* Fail unless n more bytes are available; `what` names the field. */
static int need(struct cursor *c, uint64_t n, const char *what)
{
	if (!lacks(c, n))
		return 0;
	return gg_fail(c->e,
		       "%s: truncated header: %s needs %" PRIu64
		       " bytes at offset %" PRIu64 ", only %" PRIu64 " left",
		       c->name, what, n, c->pos, remaining(c));
}

static uint64_t get_le(struct cursor *c, size_t width)
{
	uint64_t v = 0;
	for (size_t i = 0; i < width; i++)
		v |= (uint64_t)c->p[c->pos + i] << (8 * i);
	c->pos += width;
	return v;
}

static int read_u32(struct cursor *c, const char *what, uint32_t *out)
{
	if (need(c, 4, what) < 0)
		return -1;
	*out = (uint32_t)get_le(c, 4);
	return 0;
}

static int read_u64(struct cursor *c, const char *what, uint64_t *out)
{
	if (need(c, 8, what) < 0)
		return -1;
	*out = get_le(c, 8);
	return 0;
}

/* A GGUF string: u64 length, then the bytes. The copy gets a NUL after. */
static int read_str(struct cursor *c, const char *what, struct gguf_str *out)
{
	uint64_t start = c->pos, n;
	if (read_u64(c, what, &n) < 0)
		return -1;
	if (lacks(c, n))
		return gg_fail(c->e,
			       "%s: %s at offset %" PRIu64 " has length %" PRIu64
			       ", more than the %" PRIu64 " bytes left",
			       c->name, what, start, n, remaining(c));
	out->s = gg_malloc((size_t)n + 1);
	memcpy(out->s, c->p + c->pos, (size_t)n);
	out->s[n] = '\0';
	out->n = n;
	c->pos += n;
	return 0;
}

/* A name (key or tensor name): a string that must be UTF-8 without NULs,
 * since the rest of gguffs handles names as C strings. */
static int read_name(struct cursor *c, const char *what, char **out)
{
	uint64_t start = c->pos;
	struct gguf_str s = { 0 };
	if (read_str(c, what, &s) < 0)
		return -1;
	if (memchr(s.s, '\0', (size_t)s.n) || !gg_utf8_valid(s.s, (size_t)s.n)) {
		free(s.s);
		return gg_fail(c->e,
			       "%s: %s at offset %" PRIu64
			       " is not valid UTF-8 (or holds a NUL byte)",
			       c->name, what, start);
	}
	*out = s.s;
	return 0;
}

/* ---- values ---------------------------------------------------------- */

static bool vtype_known(uint32_t t)
{
	return t <= GGUF_VT_F64;
}

/* Smallest encoding of one array element of type t, for count checks. */
static uint64_t min_elem_size(enum gguf_vtype t)
{
	return t == GGUF_VT_STRING ? 8 : gguf_vtype_size(t);
}

static void read_scalar(struct cursor *c, struct gguf_kv *kv)
{
	size_t w = gguf_vtype_size(kv->type);
	uint64_t raw = get_le(c, w);
	switch (kv->type) {
	case GGUF_VT_I8: kv->v.i = (int8_t)raw; break;
	case GGUF_VT_I16: kv->v.i = (int16_t)raw; break;
	case GGUF_VT_I32: kv->v.i = (int32_t)raw; break;
	case GGUF_VT_I64: kv->v.i = (int64_t)raw; break;
	case GGUF_VT_BOOL: kv->v.b = raw != 0; break;
	case GGUF_VT_F32: {
		uint32_t bits = (uint32_t)raw;
		float f;
		memcpy(&f, &bits, 4);
		kv->v.f = f;
		break;
	}
	case GGUF_VT_F64: memcpy(&kv->v.f, &raw, 8); break;
	default: kv->v.u = raw; break;
	}
}

/* Grow an array of elem-sized items to hold at least n + 1, doubling. */
static void *grow(void *arr, uint64_t n, uint64_t *cap, size_t elem)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 64;
	return gg_realloc(arr, (size_t)*cap * elem);
}

/* Strings of an array are checked in a first pass (each length against
 * the bytes left), so the count is known to fit in the file before anything
 * is allocated; the second pass copies them all into one block, as a
 * 128k-token vocabulary would otherwise cost 128k allocations. */
static int read_str_array(struct cursor *c, struct gguf_kv *kv, uint64_t n)
{
	uint64_t start = c->pos, total = 0, len;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t at = c->pos;
		if (read_u64(c, "array string", &len) < 0)
			return -1;
		if (lacks(c, len))
			return gg_fail(c->e,
				       "%s: array string at offset %" PRIu64 " has length %" PRIu64
				       ", more than the %" PRIu64 " bytes left",
				       c->name, at, len, remaining(c));
		c->pos += len;
		total += len + 1;
	}
	struct gguf_str *strs = gg_malloc((size_t)(n ? n : 1) * sizeof *strs);
	char *pool = gg_malloc((size_t)(total ? total : 1));
	c->pos = start;
	for (uint64_t i = 0, off = 0; i < n; i++) {
		read_u64(c, "array string", &len);
		strs[i].s = pool + off;
		strs[i].n = len;
		memcpy(strs[i].s, c->p + c->pos, (size_t)len);
		strs[i].s[len] = '\0';
		c->pos += len;
		off += len + 1;
	}
	kv->arr = strs;
	kv->arr_pool = pool;
	kv->arr_n = n;
	return 0;
}

static int read_array(struct cursor *c, struct gguf_kv *kv)
{
	uint32_t et;
	uint64_t n, start = c->pos;
	if (read_u32(c, "array element type", &et) < 0 ||
	    read_u64(c, "array count", &n) < 0)
		return -1;
	if (et == GGUF_VT_ARRAY)
		return gg_fail(c->e, "%s: key %s: arrays of arrays are not supported",
			       c->name, kv->key);
	if (!vtype_known(et))
		return gg_fail(c->e,
			       "%s: key %s: unknown array element type %" PRIu32,
			       c->name, kv->key, et);
	uint64_t min = min_elem_size((enum gguf_vtype)et);
	if (lacks_n(c, n, min))
		return gg_fail(c->e,
			       "%s: key %s: array count %" PRIu64
			       " at offset %" PRIu64 " needs more than the %" PRIu64
			       " bytes left",
			       c->name, kv->key, n, start, remaining(c));
	kv->arr_type = (enum gguf_vtype)et;
	if (et == GGUF_VT_STRING)
		return read_str_array(c, kv, n);
	kv->arr_n = n;
	/* Fixed-size elements: the file's little-endian layout is the
	 * in-memory layout on the little-endian hosts gguffs supports. */
	size_t bytes = (size_t)(n * min);
	kv->arr = gg_malloc(bytes);
	memcpy(kv->arr, c->p + c->pos, bytes);
	c->pos += bytes;
	return 0;
}

static int read_value(struct cursor *c, struct gguf_kv *kv, uint32_t type)
{
	if (!vtype_known(type))
		return gg_fail(c->e, "%s: key %s: unknown value type %" PRIu32,
			       c->name, kv->key, type);
	kv->type = (enum gguf_vtype)type;
	if (type == GGUF_VT_STRING)
		return read_str(c, "string value", &kv->str);
	if (type == GGUF_VT_ARRAY)
		return read_array(c, kv);
	if (need(c, gguf_vtype_size(kv->type), "value") < 0)
		return -1;
	read_scalar(c, kv);
	return 0;
}

/* Append one KV read from the file. The list is filled directly rather
 * than through the setters, which would merge duplicate keys: a file with
 * duplicates is rejected afterwards, and until then it must own them all. */
static int read_kv(struct cursor *c, struct gguf_kvs *kvs)
{
	uint64_t cap = kvs->cap;
	kvs->kv = grow(kvs->kv, kvs->n, &cap, sizeof(struct gguf_kv));
	kvs->cap = (size_t)cap;
	struct gguf_kv *kv = &kvs->kv[kvs->n];
	memset(kv, 0, sizeof *kv);
	if (read_name(c, "key", &kv->key) < 0)
		return -1;
	kvs->n++; /* owned from here, so gguf_kvs_free releases it */
	uint32_t type;
	if (read_u32(c, "value type", &type) < 0)
		return -1;
	return read_value(c, kv, type);
}

/* ---- tensor infos --------------------------------------------------- */

static int tensor_nbytes(struct cursor *c, struct gguf_tensor_info *t)
{
	const struct ggml_type_geom *g = ggml_type_lookup((uint32_t)t->type);
	if (!g)
		return gg_fail(c->e, "%s: tensor %s: unsupported tensor type %u",
			       c->name, t->name, (unsigned)t->type);
	uint64_t count = 1;
	for (uint32_t d = 0; d < t->n_dims; d++)
		if (!gg_mul_u64(count, t->ne[d], &count))
			return gg_fail(c->e,
				       "%s: tensor %s: element count overflows",
				       c->name, t->name);
	if (t->n_dims > 0 && t->ne[0] % g->block != 0)
		return gg_fail(c->e,
			       "%s: tensor %s: ne[0] = %" PRIu64
			       " is not a multiple of the type's block size %u",
			       c->name, t->name, t->ne[0], g->block);
	if (!gg_mul_u64(count / g->block, g->bytes, &t->nbytes))
		return gg_fail(c->e, "%s: tensor %s: byte size overflows",
			       c->name, t->name);
	return 0;
}

static int read_tensor_info(struct cursor *c, struct gguf_tensor_info *t)
{
	uint32_t type;
	if (read_name(c, "tensor name", &t->name) < 0 ||
	    read_u32(c, "tensor n_dims", &t->n_dims) < 0)
		return -1;
	if (t->n_dims > GGUF_MAX_DIMS)
		return gg_fail(c->e, "%s: tensor %s has %" PRIu32
			       " dimensions, at most %d are allowed",
			       c->name, t->name, t->n_dims, GGUF_MAX_DIMS);
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (uint32_t d = 0; d < t->n_dims; d++)
		if (read_u64(c, "tensor dimension", &t->ne[d]) < 0)
			return -1;
	if (read_u32(c, "tensor type", &type) < 0 ||
	    read_u64(c, "tensor offset", &t->offset) < 0)
		return -1;
	t->type = (enum gg_type)type;
	return tensor_nbytes(c, t);
}

/* ---- whole-file checks ---------------------------------------------- */

static int cmp_cstr_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reject a repeated name, sorting a copy of the pointers (O(n log n), as a
 * hostile file may hold millions of keys). */
static int check_unique(struct cursor *c, const char **names, size_t n,
			const char *what)
{
	qsort(names, n, sizeof *names, cmp_cstr_ptr);
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			return gg_fail(c->e, "%s: duplicate %s %s", c->name,
				       what, names[i]);
	return 0;
}

static int check_unique_keys(struct cursor *c, const struct gguf_kvs *kvs)
{
	const char **names = gg_malloc(kvs->n * sizeof *names);
	for (size_t i = 0; i < kvs->n; i++)
		names[i] = kvs->kv[i].key;
	int rc = check_unique(c, names, kvs->n, "key");
	free(names);
	return rc;
}

static int check_unique_tensors(struct cursor *c, const struct gguf_file *f)
{
	const char **names = gg_malloc((size_t)f->ntensors * sizeof *names);
	for (uint64_t i = 0; i < f->ntensors; i++)
		names[i] = f->tensors[i].name;
	int rc = check_unique(c, names, (size_t)f->ntensors, "tensor");
	free(names);
	return rc;
}

static int read_alignment(struct cursor *c, struct gguf_file *f)
{
	const struct gguf_kv *kv = gguf_kvs_get(f->kvs, "general.alignment");
	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (!kv)
		return 0;
	if (kv->type != GGUF_VT_U32)
		return gg_fail(c->e, "%s: general.alignment has type %s, not UINT32",
			       c->name, gguf_vtype_name(kv->type));
	uint64_t a = kv->v.u;
	if (a == 0 || (a & (a - 1)) != 0)
		return gg_fail(c->e,
			       "%s: general.alignment %" PRIu64
			       " is not a power of two",
			       c->name, a);
	f->alignment = (uint32_t)a;
	return 0;
}

static int check_tensor_data(struct cursor *c, const struct gguf_file *f)
{
	for (uint64_t i = 0; i < f->ntensors; i++) {
		const struct gguf_tensor_info *t = &f->tensors[i];
		uint64_t start, end;
		if (t->offset % f->alignment != 0)
			return gg_fail(c->e,
				       "%s: tensor %s: offset %" PRIu64
				       " is not a multiple of the alignment %" PRIu32,
				       c->name, t->name, t->offset, f->alignment);
		if (!gg_add_u64(f->data_offset, t->offset, &start) ||
		    !gg_add_u64(start, t->nbytes, &end) || end > f->file_size)
			return gg_fail(c->e,
				       "%s: tensor %s: data at offset %" PRIu64
				       " (+%" PRIu64 " bytes) lies beyond the end"
				       " of the file (%" PRIu64 " bytes)",
				       c->name, t->name, t->offset, t->nbytes,
				       f->file_size);
	}
	return 0;
}

/* ---- top level ------------------------------------------------------- */

/* Fixed part: magic, version and the two counts. */
static int read_preamble(struct cursor *c, struct gguf_file *f,
			 uint64_t *n_kv)
{
	if (need(c, 4, "magic") < 0)
		return -1;
	if (memcmp(c->p, GGUF_MAGIC, 4) != 0)
		return gg_fail(c->e, "%s: bad magic (not a GGUF file)", c->name);
	c->pos = 4;
	if (read_u32(c, "version", &f->version) < 0)
		return -1;
	if (f->version != 2 && f->version != 3)
		return gg_fail(c->e,
			       "%s: unsupported GGUF version %" PRIu32
			       " (only 2 and 3; big-endian files are not supported)",
			       c->name, f->version);
	if (read_u64(c, "tensor count", &f->ntensors) < 0 ||
	    read_u64(c, "key/value count", n_kv) < 0)
		return -1;
	/* A KV takes at least 13 bytes (key length, type, one-byte value)
	 * and a tensor info at least 24 (name length, n_dims, type,
	 * offset). */
	if (lacks_n(c, *n_kv, 13))
		return gg_fail(c->e,
			       "%s: key/value count %" PRIu64
			       " needs more than the %" PRIu64
			       " bytes left (truncated or corrupt header)",
			       c->name, *n_kv, remaining(c));
	if (lacks_n(c, f->ntensors, 24))
		return gg_fail(c->e,
			       "%s: tensor count %" PRIu64
			       " needs more than the %" PRIu64
			       " bytes left (truncated or corrupt header)",
			       c->name, f->ntensors, remaining(c));
	return 0;
}

static int parse(struct cursor *c, struct gguf_file *f)
{
	uint64_t n_kv = 0;
	if (read_preamble(c, f, &n_kv) < 0)
		return -1;
	for (uint64_t i = 0; i < n_kv; i++)
		if (read_kv(c, f->kvs) < 0)
			return -1;
	if (check_unique_keys(c, f->kvs) < 0 || read_alignment(c, f) < 0)
		return -1;

	/* Grown as read, like the KVs; ntensors counts the infos owned so
	 * far, for freeing on error. */
	uint64_t want = f->ntensors, cap = 0;
	f->ntensors = 0;
	for (uint64_t i = 0; i < want; i++) {
		f->tensors = grow(f->tensors, i, &cap,
				  sizeof(struct gguf_tensor_info));
		memset(&f->tensors[i], 0, sizeof f->tensors[i]);
		f->ntensors++;
		if (read_tensor_info(c, &f->tensors[i]) < 0)
			return -1;
	}
	if (check_unique_tensors(c, f) < 0)
		return -1;
	f->data_offset = gg_align_up(c->pos, f->alignment);
	return check_tensor_data(c, f);
}

/* Parse the first len bytes of a file of file_size bytes; *short_buf tells
 * whether a longer prefix might parse. */
static int parse_prefix(const void *buf, size_t len, uint64_t file_size,
			const char *name, struct gguf_file **out, bool *short_buf,
			gg_err *e)
{
	*out = NULL;
	if (file_size < len)
		len = (size_t)file_size; /* bytes past the file mean nothing */
	struct cursor c = { buf, len, 0, file_size, name, e, false };
	struct gguf_file *f = gg_calloc(1, sizeof *f);
	f->kvs = gguf_kvs_new();
	f->file_size = file_size;
	int rc = parse(&c, f);
	*short_buf = c.short_buf;
	if (rc < 0) {
		gguf_file_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

int gguf_read_mem(const void *buf, size_t len, uint64_t file_size,
		  const char *name, struct gguf_file **out, gg_err *e)
{
	bool short_buf;
	return parse_prefix(buf, len, file_size, name, out, &short_buf, e);
}

/* The first GGUF_READ_FIRST bytes hold the header of most files; a header
 * above GGUF_READ_MAX (no real one comes near) is refused. */
#define GGUF_READ_FIRST (1u << 20)
#define GGUF_READ_MAX (512u << 20)

static int pread_full(int fd, uint8_t *buf, size_t len, const char *path,
		      gg_err *e)
{
	for (size_t got = 0; got < len;) {
		ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return gg_fail(e, "%s: read failed: %s", path,
				       r < 0 ? strerror(errno) : "file shrank");
		got += (size_t)r;
	}
	return 0;
}

int gguf_read_fd(int fd, uint64_t size, const char *path,
		 struct gguf_file **out, gg_err *e)
{
	*out = NULL;
	size_t len = size < GGUF_READ_FIRST ? (size_t)size : GGUF_READ_FIRST;
	for (;;) {
		uint8_t *buf = gg_malloc(len);
		bool short_buf = false;
		int rc = pread_full(fd, buf, len, path, e);
		if (rc == 0)
			rc = parse_prefix(buf, len, size, path, out, &short_buf, e);
		free(buf);
		if (rc == 0 || !short_buf || len == size)
			return rc;
		if (len >= GGUF_READ_MAX)
			return gg_fail(e, "%s: header larger than %u MiB", path,
				       GGUF_READ_MAX >> 20);
		uint64_t next = (uint64_t)len * 4;
		if (next > GGUF_READ_MAX)
			next = GGUF_READ_MAX;
		len = next < size ? (size_t)next : (size_t)size;
	}
}

int gguf_read_file(const char *path, struct gguf_file **out, gg_err *e)
{
	*out = NULL;
	struct stat st;
	int fd = gg_open_input(path, &st, e);
	if (fd < 0)
		return -1;
	int rc = gguf_read_fd(fd, (uint64_t)st.st_size, path, out, e);
	close(fd);
	return rc;
}

void gguf_file_free(struct gguf_file *f)
{
	if (!f)
		return;
	gguf_kvs_free(f->kvs);
	for (uint64_t i = 0; f->tensors && i < f->ntensors; i++)
		free(f->tensors[i].name);
	free(f->tensors);
	free(f);
}
