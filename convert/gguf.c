/* gguf.c - see gguf.h.
 *
 * The key/value list is a plain growable array: headers hold a few dozen
 * keys, so linear lookup costs nothing next to writing 100k+ token strings,
 * and an array keeps insertion order for free.
 *
 * The header writer runs in two passes: the first computes the exact size,
 * the second fills one buffer. Headers reach several MB (128k tokens plus
 * 280k merges), so growing a buffer piecemeal would copy it many times.
 */
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- key/value list ------------------------------------------------- */

struct gguf_kvs *gguf_kvs_new(void)
{
	return gg_calloc(1, sizeof(struct gguf_kvs));
}

static void str_array_free(struct gguf_str *strs, uint64_t n)
{
	if (!strs)
		return;
	for (uint64_t i = 0; i < n; i++)
		free(strs[i].s);
	free(strs);
}

/* Release a value (not the key), leaving the slot reusable. */
static void kv_clear_value(struct gguf_kv *kv)
{
	if (kv->type == GGUF_VT_STRING)
		free(kv->str.s);
	if (kv->type == GGUF_VT_ARRAY) {
		if (kv->arr_type == GGUF_VT_STRING && !kv->arr_pool)
			str_array_free(kv->arr, kv->arr_n);
		else
			free(kv->arr);
		free(kv->arr_pool);
	}
	char *key = kv->key;
	memset(kv, 0, sizeof *kv);
	kv->key = key;
}

void gguf_kvs_free(struct gguf_kvs *kvs)
{
	if (!kvs)
		return;
	for (size_t i = 0; i < kvs->n; i++) {
		kv_clear_value(&kvs->kv[i]);
		free(kvs->kv[i].key);
	}
	free(kvs->kv);
	free(kvs);
}

static struct gguf_kv *find_kv(const struct gguf_kvs *kvs, const char *key)
{
	for (size_t i = 0; i < kvs->n; i++)
		if (strcmp(kvs->kv[i].key, key) == 0)
			return &kvs->kv[i];
	return NULL;
}

const struct gguf_kv *gguf_kvs_get(const struct gguf_kvs *kvs, const char *key)
{
	return find_kv(kvs, key);
}

void gguf_kvs_remove(struct gguf_kvs *kvs, const char *key)
{
	struct gguf_kv *kv = find_kv(kvs, key);
	if (!kv)
		return;
	size_t i = (size_t)(kv - kvs->kv);
	kv_clear_value(kv);
	free(kv->key);
	memmove(&kvs->kv[i], &kvs->kv[i + 1],
		(kvs->n - i - 1) * sizeof(struct gguf_kv));
	kvs->n--;
}

/* Byte-wise comparison where a proper prefix sorts first: the order of Go's
 * string comparison, which Ollama's slices.Sorted uses. Keys are C strings
 * (no embedded NULs), so strcmp on unsigned bytes gives exactly that. */
static int key_cmp(const struct gguf_kv *a, const struct gguf_kv *b)
{
	return strcmp(a->key, b->key);
}

/* Insertion sort is stable and the lists are short (tens of keys). Keys are
 * unique, so stability only matters in principle, but it is free here. */
void gguf_kvs_sort(struct gguf_kvs *kvs)
{
	for (size_t i = 1; i < kvs->n; i++) {
		struct gguf_kv tmp = kvs->kv[i];
		size_t j = i;
		while (j > 0 && key_cmp(&kvs->kv[j - 1], &tmp) > 0) {
			kvs->kv[j] = kvs->kv[j - 1];
			j--;
		}
		kvs->kv[j] = tmp;
	}
}

/* Return the slot for key, emptied: an existing key keeps its position
 * (replace in place), a new key is appended. */
static struct gguf_kv *slot_for(struct gguf_kvs *kvs, const char *key)
{
	struct gguf_kv *kv = find_kv(kvs, key);
	if (kv) {
		kv_clear_value(kv);
		return kv;
	}
	if (kvs->n == kvs->cap) {
		kvs->cap = kvs->cap ? kvs->cap * 2 : 16;
		kvs->kv = gg_realloc(kvs->kv, kvs->cap * sizeof(struct gguf_kv));
	}
	kv = &kvs->kv[kvs->n++];
	memset(kv, 0, sizeof *kv);
	kv->key = gg_strdup(key);
	return kv;
}

void gguf_kvs_move(struct gguf_kvs *dst, struct gguf_kvs *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct gguf_kv *kv = slot_for(dst, src->kv[i].key);
		char *key = kv->key;
		*kv = src->kv[i];
		kv->key = key;
		free(src->kv[i].key);
	}
	src->n = 0;
}

static void set_unsigned(struct gguf_kvs *kvs, const char *key,
			 enum gguf_vtype t, uint64_t v)
{
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = t;
	kv->v.u = v;
}

static void set_signed(struct gguf_kvs *kvs, const char *key,
		       enum gguf_vtype t, int64_t v)
{
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = t;
	kv->v.i = v;
}

void gguf_kvs_set_u8(struct gguf_kvs *kvs, const char *key, uint8_t v)
{
	set_unsigned(kvs, key, GGUF_VT_U8, v);
}

void gguf_kvs_set_i8(struct gguf_kvs *kvs, const char *key, int8_t v)
{
	set_signed(kvs, key, GGUF_VT_I8, v);
}

void gguf_kvs_set_u16(struct gguf_kvs *kvs, const char *key, uint16_t v)
{
	set_unsigned(kvs, key, GGUF_VT_U16, v);
}

void gguf_kvs_set_i16(struct gguf_kvs *kvs, const char *key, int16_t v)
{
	set_signed(kvs, key, GGUF_VT_I16, v);
}

void gguf_kvs_set_u32(struct gguf_kvs *kvs, const char *key, uint32_t v)
{
	set_unsigned(kvs, key, GGUF_VT_U32, v);
}

void gguf_kvs_set_i32(struct gguf_kvs *kvs, const char *key, int32_t v)
{
	set_signed(kvs, key, GGUF_VT_I32, v);
}

void gguf_kvs_set_u64(struct gguf_kvs *kvs, const char *key, uint64_t v)
{
	set_unsigned(kvs, key, GGUF_VT_U64, v);
}

void gguf_kvs_set_i64(struct gguf_kvs *kvs, const char *key, int64_t v)
{
	set_signed(kvs, key, GGUF_VT_I64, v);
}

void gguf_kvs_set_f32(struct gguf_kvs *kvs, const char *key, float v)
{
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = GGUF_VT_F32;
	kv->v.f = v;
}

void gguf_kvs_set_f64(struct gguf_kvs *kvs, const char *key, double v)
{
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = GGUF_VT_F64;
	kv->v.f = v;
}

void gguf_kvs_set_bool(struct gguf_kvs *kvs, const char *key, bool v)
{
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = GGUF_VT_BOOL;
	kv->v.b = v;
}

/* A copy of n bytes with a NUL after them (the bytes may hold NULs). */
static char *copy_bytes(const char *s, uint64_t n)
{
	char *p = gg_malloc((size_t)n + 1);
	if (n)
		memcpy(p, s, (size_t)n);
	p[n] = '\0';
	return p;
}

void gguf_kvs_set_strn(struct gguf_kvs *kvs, const char *key, const char *v,
		       uint64_t n)
{
	char *copy = copy_bytes(v, n); /* before slot_for: v may alias the old value */
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = GGUF_VT_STRING;
	kv->str.s = copy;
	kv->str.n = n;
}

void gguf_kvs_set_str(struct gguf_kvs *kvs, const char *key, const char *v)
{
	gguf_kvs_set_strn(kvs, key, v, strlen(v));
}

void gguf_kvs_set_arr(struct gguf_kvs *kvs, const char *key,
		      enum gguf_vtype elem_type, const void *elems, uint64_t n)
{
	size_t esz = gguf_vtype_size(elem_type);
	uint64_t bytes;
	if (esz == 0 || !gg_mul_u64(n, esz, &bytes) || bytes > SIZE_MAX) {
		/* A programming error, not bad input: arrays of strings go
		 * through set_arr_str and arrays of arrays do not exist. */
		fprintf(stderr, "gguffs: bad array type %d for key %s\n",
			(int)elem_type, key);
		abort();
	}
	void *copy = gg_malloc((size_t)bytes);
	if (bytes)
		memcpy(copy, elems, (size_t)bytes);
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = GGUF_VT_ARRAY;
	kv->arr_type = elem_type;
	kv->arr_n = n;
	kv->arr = copy;
}

void gguf_kvs_set_arr_str(struct gguf_kvs *kvs, const char *key,
			  const char *const *strs, const uint64_t *lens,
			  uint64_t n)
{
	struct gguf_str *copy = gg_calloc((size_t)n, sizeof(struct gguf_str));
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = lens ? lens[i] : strlen(strs[i]);
		copy[i].s = copy_bytes(strs[i], len);
		copy[i].n = len;
	}
	gguf_kvs_take_arr_str(kvs, key, copy, n);
}

void gguf_kvs_take_arr_str(struct gguf_kvs *kvs, const char *key,
			   struct gguf_str *strs, uint64_t n)
{
	struct gguf_kv *kv = slot_for(kvs, key);
	kv->type = GGUF_VT_ARRAY;
	kv->arr_type = GGUF_VT_STRING;
	kv->arr_n = n;
	kv->arr = strs;
}

void gguf_kvs_copy_key(struct gguf_kvs *dst, const struct gguf_kvs *src, const char *key)
{
	const struct gguf_kv *kv = gguf_kvs_get(src, key);
	if (!kv)
		return;
	if (kv->type == GGUF_VT_STRING) {
		gguf_kvs_set_strn(dst, key, kv->str.s, kv->str.n);
	} else if (kv->type == GGUF_VT_ARRAY && kv->arr_type == GGUF_VT_STRING) {
		const struct gguf_str *a = kv->arr;
		struct gguf_str *copy = gg_calloc((size_t)kv->arr_n ? (size_t)kv->arr_n : 1, sizeof *copy);
		for (uint64_t i = 0; i < kv->arr_n; i++) {
			copy[i].s = copy_bytes(a[i].s, a[i].n);
			copy[i].n = a[i].n;
		}
		gguf_kvs_take_arr_str(dst, key, copy, kv->arr_n);
	} else if (kv->type == GGUF_VT_ARRAY) {
		gguf_kvs_set_arr(dst, key, kv->arr_type, kv->arr, kv->arr_n);
	} else {
		struct gguf_kv *d = slot_for(dst, key);
		d->type = kv->type;
		d->v = kv->v;
	}
}

/* ---- value types ---------------------------------------------------- */

size_t gguf_vtype_size(enum gguf_vtype t)
{
	switch (t) {
	case GGUF_VT_U8:
	case GGUF_VT_I8:
	case GGUF_VT_BOOL:
		return 1;
	case GGUF_VT_U16:
	case GGUF_VT_I16:
		return 2;
	case GGUF_VT_U32:
	case GGUF_VT_I32:
	case GGUF_VT_F32:
		return 4;
	case GGUF_VT_U64:
	case GGUF_VT_I64:
	case GGUF_VT_F64:
		return 8;
	case GGUF_VT_STRING:
	case GGUF_VT_ARRAY:
		return 0;
	}
	return 0;
}

const char *gguf_vtype_name(enum gguf_vtype t)
{
	switch (t) {
	case GGUF_VT_U8: return "UINT8";
	case GGUF_VT_I8: return "INT8";
	case GGUF_VT_U16: return "UINT16";
	case GGUF_VT_I16: return "INT16";
	case GGUF_VT_U32: return "UINT32";
	case GGUF_VT_I32: return "INT32";
	case GGUF_VT_F32: return "FLOAT32";
	case GGUF_VT_BOOL: return "BOOL";
	case GGUF_VT_STRING: return "STRING";
	case GGUF_VT_ARRAY: return "ARRAY";
	case GGUF_VT_U64: return "UINT64";
	case GGUF_VT_I64: return "INT64";
	case GGUF_VT_F64: return "FLOAT64";
	}
	return "UNKNOWN";
}

/* ---- tensor layout -------------------------------------------------- */

void gguf_layout(struct gguf_tensor_info *t, size_t n, uint32_t alignment,
		 bool pad_last, uint64_t *data_size)
{
	uint64_t off = 0, end = 0;
	if (alignment == 0)
		alignment = GGUF_DEFAULT_ALIGNMENT;
	for (size_t i = 0; i < n; i++) {
		t[i].offset = off;
		end = off + t[i].nbytes;
		off = gg_align_up(end, alignment);
	}
	*data_size = pad_last ? off : end;
}

/* ---- header serialisation ------------------------------------------- */

/* A cursor over the output buffer. The size pass runs the same code with
 * buf == NULL, so the two passes cannot disagree about the layout. */
struct out {
	uint8_t *buf;
	size_t pos;
};

static void put_bytes(struct out *o, const void *p, size_t n)
{
	if (o->buf && n)
		memcpy(o->buf + o->pos, p, n);
	o->pos += n;
}

static void put_le(struct out *o, uint64_t v, size_t width)
{
	if (o->buf)
		for (size_t i = 0; i < width; i++)
			o->buf[o->pos + i] = (uint8_t)(v >> (8 * i));
	o->pos += width;
}

static void put_u32(struct out *o, uint32_t v)
{
	put_le(o, v, 4);
}

static void put_u64(struct out *o, uint64_t v)
{
	put_le(o, v, 8);
}

static void put_str(struct out *o, const char *s, uint64_t n)
{
	put_u64(o, n);
	put_bytes(o, s, (size_t)n);
}

static void put_scalar(struct out *o, const struct gguf_kv *kv)
{
	switch (kv->type) {
	case GGUF_VT_F32: {
		float f = (float)kv->v.f;
		uint32_t bits;
		memcpy(&bits, &f, 4);
		put_u32(o, bits);
		break;
	}
	case GGUF_VT_F64: {
		uint64_t bits;
		memcpy(&bits, &kv->v.f, 8);
		put_u64(o, bits);
		break;
	}
	case GGUF_VT_BOOL:
		put_le(o, kv->v.b ? 1 : 0, 1);
		break;
	default:
		/* Integers: the low bytes of the widened value are the
		 * two's-complement encoding at any width. */
		put_le(o, kv->v.u, gguf_vtype_size(kv->type));
		break;
	}
}

static void put_array(struct out *o, const struct gguf_kv *kv)
{
	put_u32(o, (uint32_t)kv->arr_type);
	put_u64(o, kv->arr_n);
	if (kv->arr_type == GGUF_VT_STRING) {
		const struct gguf_str *s = kv->arr;
		for (uint64_t i = 0; i < kv->arr_n; i++)
			put_str(o, s[i].s, s[i].n);
		return;
	}
	/* Elements are stored packed little-endian, as in the file. */
	put_bytes(o, kv->arr, (size_t)kv->arr_n * gguf_vtype_size(kv->arr_type));
}

static void put_kv(struct out *o, const struct gguf_kv *kv)
{
	put_str(o, kv->key, strlen(kv->key));
	put_u32(o, (uint32_t)kv->type);
	if (kv->type == GGUF_VT_STRING)
		put_str(o, kv->str.s, kv->str.n);
	else if (kv->type == GGUF_VT_ARRAY)
		put_array(o, kv);
	else
		put_scalar(o, kv);
}

static void put_tensor_info(struct out *o, const struct gguf_tensor_info *t)
{
	put_str(o, t->name, strlen(t->name));
	put_u32(o, t->n_dims);
	for (uint32_t d = 0; d < t->n_dims && d < GGUF_MAX_DIMS; d++)
		put_u64(o, t->ne[d]);
	put_u32(o, (uint32_t)t->type);
	put_u64(o, t->offset);
}

static void put_header(struct out *o, const struct gguf_kvs *kvs,
		       const struct gguf_tensor_info *t, size_t n)
{
	put_bytes(o, GGUF_MAGIC, 4);
	put_u32(o, GGUF_VERSION);
	put_u64(o, n);
	put_u64(o, kvs ? kvs->n : 0);
	for (size_t i = 0; kvs && i < kvs->n; i++)
		put_kv(o, &kvs->kv[i]);
	for (size_t i = 0; i < n; i++)
		put_tensor_info(o, &t[i]);
}

uint8_t *gguf_write_header(const struct gguf_kvs *kvs,
			   const struct gguf_tensor_info *t, size_t n,
			   uint32_t alignment, size_t *len)
{
	if (alignment == 0)
		alignment = GGUF_DEFAULT_ALIGNMENT;
	struct out sizer = { NULL, 0 };
	put_header(&sizer, kvs, t, n);
	size_t total = (size_t)gg_align_up(sizer.pos, alignment);

	struct out w = { gg_malloc(total), 0 };
	put_header(&w, kvs, t, n);
	memset(w.buf + w.pos, 0, total - w.pos);
	*len = total;
	return w.buf;
}
