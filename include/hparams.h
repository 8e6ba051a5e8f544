/* hparams.h - an architecture's hyperparameters as data: which config keys
 * give each one, how it is checked, and which GGUF key it becomes.
 *
 * A converter lists its hyperparameters in a table (struct gg_hparam) and
 * reads them all at once with gg_hp_read, which refuses a config llama.cpp
 * could not run: a required value missing or 0, a value that must be
 * positive and is not, NaN or Infinity (jsonutil.h reads those as
 * non-finite numbers that every getter refuses), a wrong JSON type. Code
 * then asks for values by name, and gg_hp_write_kv writes the table's GGUF
 * keys. Values that are not in the config (a rotary dimension computed
 * from others) are set with gg_hp_set and can be asked for the same way.
 *
 *   static const struct gg_hparam qwen2_hparams[] = {
 *       { "n_layer", "num_hidden_layers", GG_HP_U32, GG_HP_REQUIRED | GG_HP_ALWAYS, "block_count" },
 *       { "rope_theta", "rope_theta", GG_HP_F32, GG_HP_POSITIVE, "rope.freq_base" },
 *       ...
 *   };
 *
 * A struct gg_hp is owned by its caller; it points into the cJSON tree it
 * was read from (strings), which must outlive it. Not thread-safe.
 */
#ifndef GGUFFS_HPARAMS_H
#define GGUFFS_HPARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "gguf.h"
#include "options.h"
#include "util.h"

enum gg_hp_type { GG_HP_U32, GG_HP_F32, GG_HP_BOOL, GG_HP_STR };

enum {
	GG_HP_REQUIRED = 1u << 0, /* absent, null, 0 or "" is refused */
	GG_HP_POSITIVE = 1u << 1, /* a value given must be > 0 (0 is refused) */
	GG_HP_ALWAYS   = 1u << 2, /* written even when no key gives it, as the
				     default (Go writes a field's zero value) */
	GG_HP_LLAMACPP = 1u << 3, /* read, checked and written in the llamacpp
				     profile only */
	GG_HP_OLLAMA   = 1u << 4, /* ... in the ollama profiles only */
};

struct gg_hparam {
	const char *name;  /* what code and messages call it */
	/* Config keys, '|' between alternatives: the first one present and
	 * non-zero wins (Go's cmp.Or). "a.b" is key b of the object a. */
	const char *keys;
	enum gg_hp_type type;
	unsigned flags;
	const char *gguf;  /* written as "<arch>.<gguf>", or NULL */
	double def;        /* the value when no key gives one (0: none) */
};

struct gg_hp_value {
	bool given;        /* a key gave a non-zero value */
	double num;        /* U32, F32, BOOL (0/1) */
	const char *str;   /* STR: points into the cJSON tree, or NULL */
	const char *key;   /* the key that gave it */
};

struct gg_hp_extra {
	char *name;
	double num;
};

struct gg_hp {
	const struct gg_hparam **spec; /* every entry read, in order */
	size_t n;
	struct gg_hp_value *v;     /* one per spec entry */
	const cJSON *obj;          /* what gg_hp_read read */
	struct gg_hp_extra *extra; /* values set by gg_hp_set, not in spec */
	size_t nextra;
	enum gg_profile profile;
	const char *file;          /* for messages */
	char prefix[64];           /* "text_config." when read from one */
};

/* Read and check every entry of spec active in profile from obj (NULL
 * reads as an empty object). file names the config in messages; prefix
 * ("" or e.g. "text_config.") is put before each key in them. On failure
 * hp is freed and e says which key and why, on one line. */
int gg_hp_read(struct gg_hp *hp, const struct gg_hparam *spec, size_t n,
	       const cJSON *obj, const char *file, const char *prefix,
	       enum gg_profile profile, gg_err *e);
void gg_hp_free(struct gg_hp *hp);
/* Read a further table from the same object (a family's table extended by
 * one architecture's entries). On failure hp is freed. */
int gg_hp_add(struct gg_hp *hp, const struct gg_hparam *spec, size_t n, gg_err *e);

/* Values by name (the entry active in this profile, or a gg_hp_set one;
 * 0 / NULL / false for an entry of the other profile). An unknown name
 * is a programming error and aborts. */
uint32_t gg_hp_u32(const struct gg_hp *hp, const char *name);
float gg_hp_f32(const struct gg_hp *hp, const char *name);
double gg_hp_num(const struct gg_hp *hp, const char *name);
bool gg_hp_bool(const struct gg_hp *hp, const char *name);
const char *gg_hp_str(const struct gg_hp *hp, const char *name);
/* Whether a config key gave the value (a default does not count). */
bool gg_hp_given(const struct gg_hp *hp, const char *name);
/* Set (or add) a value that does not come from the config. */
void gg_hp_set(struct gg_hp *hp, const char *name, double v);

/* "<arch>.<gguf>" for every active entry with a gguf key whose value is
 * non-zero (strings: non-NULL; booleans: given), or that is GG_HP_ALWAYS. */
void gg_hp_write_kv(const struct gg_hp *hp, struct gguf_kvs *kv, const char *arch);

/* Refuse unless value `of` is a multiple of value `by` (both by name). */
int gg_hp_divisible(const struct gg_hp *hp, const char *of, const char *by, gg_err *e);

/* Refuse with "<file>: <key> <why>" naming the key that gave name (or, if
 * none did, its first key). Returns -1. */
int gg_hp_refuse(const struct gg_hp *hp, const char *name, const char *why, gg_err *e);

/* Set the per-architecture KV "<arch>.<key>" (e.g. "llama",
 * "attention.head_count" -> llama.attention.head_count). */
void gg_kv_arch_u32(struct gguf_kvs *kvs, const char *arch, const char *key, uint32_t v);
void gg_kv_arch_f32(struct gguf_kvs *kvs, const char *arch, const char *key, float v);
void gg_kv_arch_bool(struct gguf_kvs *kvs, const char *arch, const char *key, bool v);
void gg_kv_arch_str(struct gguf_kvs *kvs, const char *arch, const char *key, const char *v);

#endif
