/* gguf.h - GGUF metadata (typed key/value list) and header serialisation.
 *
 * A gguf_kvs is an ordered list of typed values. The writer either keeps the
 * insertion order or sorts keys byte-wise first (Ollama's WriteGGUF does the
 * latter). Setting an existing key replaces its value in place.
 * Strings are byte strings with an explicit length (a GGUF string may hold
 * any bytes); the helpers taking `const char *` use strlen.
 */
#ifndef GGUFFS_GGUF_H
#define GGUFFS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "util.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_VERSION 3
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4

enum gguf_vtype {
	GGUF_VT_U8 = 0,
	GGUF_VT_I8 = 1,
	GGUF_VT_U16 = 2,
	GGUF_VT_I16 = 3,
	GGUF_VT_U32 = 4,
	GGUF_VT_I32 = 5,
	GGUF_VT_F32 = 6,
	GGUF_VT_BOOL = 7,
	GGUF_VT_STRING = 8,
	GGUF_VT_ARRAY = 9,
	GGUF_VT_U64 = 10,
	GGUF_VT_I64 = 11,
	GGUF_VT_F64 = 12,
};

struct gguf_str {
	char *s; /* NUL-terminated for convenience; may contain NULs */
	uint64_t n;
};

struct gguf_kv {
	char *key;
	enum gguf_vtype type;
	/* Scalars: the value, widened. */
	union {
		uint64_t u;
		int64_t i;
		double f;
		bool b;
	} v;
	struct gguf_str str;	/* GGUF_VT_STRING */
	enum gguf_vtype arr_type; /* GGUF_VT_ARRAY: element type */
	uint64_t arr_n;		/* GGUF_VT_ARRAY: element count */
	void *arr;		/* packed little-endian elements of arr_type,
				   or struct gguf_str[] for string arrays */
	char *arr_pool;		/* string arrays read from a file: one block
				   holding every string (else each is its own) */
};

struct gguf_kvs {
	struct gguf_kv *kv;
	size_t n, cap;
};

struct gguf_kvs *gguf_kvs_new(void);
void gguf_kvs_free(struct gguf_kvs *kvs);

/* Lookup by exact key; NULL if absent. */
const struct gguf_kv *gguf_kvs_get(const struct gguf_kvs *kvs, const char *key);
/* Remove a key if present. */
void gguf_kvs_remove(struct gguf_kvs *kvs, const char *key);
/* Move every entry of src into dst (replacing equal keys in place, else
 * appending in src's order); src is left empty. */
void gguf_kvs_move(struct gguf_kvs *dst, struct gguf_kvs *src);
/* Sort keys byte-wise (memcmp order, shorter prefix first). */
void gguf_kvs_sort(struct gguf_kvs *kvs);

/* Setters: add or replace. Scalars of every GGUF type. */
void gguf_kvs_set_u8(struct gguf_kvs *kvs, const char *key, uint8_t v);
void gguf_kvs_set_i8(struct gguf_kvs *kvs, const char *key, int8_t v);
void gguf_kvs_set_u16(struct gguf_kvs *kvs, const char *key, uint16_t v);
void gguf_kvs_set_i16(struct gguf_kvs *kvs, const char *key, int16_t v);
void gguf_kvs_set_u32(struct gguf_kvs *kvs, const char *key, uint32_t v);
void gguf_kvs_set_i32(struct gguf_kvs *kvs, const char *key, int32_t v);
void gguf_kvs_set_u64(struct gguf_kvs *kvs, const char *key, uint64_t v);
void gguf_kvs_set_i64(struct gguf_kvs *kvs, const char *key, int64_t v);
void gguf_kvs_set_f32(struct gguf_kvs *kvs, const char *key, float v);
void gguf_kvs_set_f64(struct gguf_kvs *kvs, const char *key, double v);
void gguf_kvs_set_bool(struct gguf_kvs *kvs, const char *key, bool v);
void gguf_kvs_set_str(struct gguf_kvs *kvs, const char *key, const char *v);
void gguf_kvs_set_strn(struct gguf_kvs *kvs, const char *key, const char *v,
		       uint64_t n);
/* Arrays of numbers: `elems` holds n packed native-endian values of
 * elem_type (x86-64 is little-endian, as GGUF). Copied. */
void gguf_kvs_set_arr(struct gguf_kvs *kvs, const char *key,
		      enum gguf_vtype elem_type, const void *elems, uint64_t n);
/* Array of strings; each copied with strlen (lens == NULL) or lens[i]. */
void gguf_kvs_set_arr_str(struct gguf_kvs *kvs, const char *key,
			  const char *const *strs, const uint64_t *lens,
			  uint64_t n);
/* Array of strings taking ownership of an already-built gguf_str array
 * (avoids copying 100k+ token strings). */
void gguf_kvs_take_arr_str(struct gguf_kvs *kvs, const char *key,
			   struct gguf_str *strs, uint64_t n);

/* Copy the KV called key (if src has it) into dst, replacing dst's. */
void gguf_kvs_copy_key(struct gguf_kvs *dst, const struct gguf_kvs *src, const char *key);

/* Size in bytes of one element of a non-string, non-array type; 0 else. */
size_t gguf_vtype_size(enum gguf_vtype t);
const char *gguf_vtype_name(enum gguf_vtype t);

/* One tensor info as it appears in a GGUF header. ne[] is GGML order
 * (innermost first). offset is relative to the start of the data section. */
struct gguf_tensor_info {
	char *name;
	enum gg_type type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t offset;
	uint64_t nbytes;
};

/* Assign offsets as the running sum of sizes, each padded to `alignment`,
 * in array order. *data_size is the size of the data section: with
 * pad_last false (Ollama) the last tensor is not padded. */
void gguf_layout(struct gguf_tensor_info *t, size_t n, uint32_t alignment,
		 bool pad_last, uint64_t *data_size);

/* Serialise "GGUF", version 3, counts, the KVs in list order and the tensor
 * infos, then zero padding up to the data start (a multiple of alignment).
 * Returns a malloc'd buffer; *len is the data start offset. */
uint8_t *gguf_write_header(const struct gguf_kvs *kvs,
			   const struct gguf_tensor_info *t, size_t n,
			   uint32_t alignment, size_t *len);

#endif
