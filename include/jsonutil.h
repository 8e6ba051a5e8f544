/* jsonutil.h - reading HuggingFace JSON files with cJSON, Go-compatibly.
 *
 * Ollama decodes config files with Go's encoding/json, and its behaviour is
 * what the `ollama` profile must reproduce: object keys match
 * case-insensitively (cJSON_GetObjectItem does too), `null` leaves the zero
 * value, a value of the wrong JSON type is an error. config.json may contain
 * the non-standard tokens NaN, Infinity and -Infinity outside strings: they
 * are read as infinite numbers, which every typed getter refuses ("NaN,
 * Infinity or a number out of range is not a usable value"), so a value a converter uses cannot be
 * one, while keys nobody reads may hold them (Ollama reads them all as 0).
 */
#ifndef GGUFFS_JSONUTIL_H
#define GGUFFS_JSONUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "util.h"

/* Largest JSON file gguffs reads (tokenizer.json of big vocabularies is
 * ~30 MB). */
#define GG_JSON_MAX_BYTES (512u << 20)

/* Parse a JSON file. On a missing file: if optional, *out = NULL and return
 * 0; else fail. Syntax errors, bad UTF-8 and a top level that is not an
 * object fail with "<path>: ..." naming the byte offset. When
 * sanitize_nonfinite, NaN/Infinity/-Infinity tokens outside strings are
 * accepted and read as non-finite numbers (see above). */
int gg_json_load(const char *path, bool optional, bool sanitize_nonfinite,
		 cJSON **out, gg_err *e);

/* Rewrite NaN/Infinity/-Infinity tokens outside strings as "0", in place
 * semantics of Ollama's sanitizeNonFiniteJSON. Returns a malloc'd copy. */
char *gg_json_sanitize_nonfinite(const char *in, size_t len, size_t *out_len);

/* Parse arena for the calling thread: between begin and end, cJSON trees
 * built on this thread are allocated from large chunks (cJSON_Delete on
 * them is a no-op) and end frees them all at once. Every tree parsed inside
 * must be dropped before end, and nothing may keep pointers into it (copy
 * strings out). Outside an arena cJSON uses malloc as usual. Arenas nest:
 * an inner begin/end pair frees nothing, the outermost end frees all. */
void gg_json_arena_begin(void);
void gg_json_arena_end(void);

/* Typed getters. `obj` may be NULL (treated as empty). If the key is absent
 * or null, *out is left unchanged and 0 is returned. A present value of the
 * wrong type (or out of range, or a non-integral number for an integer)
 * fails with "<file>: <key>: expected ...". */
int gg_json_u32(const cJSON *obj, const char *key, uint32_t *out,
		const char *file, gg_err *e);
int gg_json_i64(const cJSON *obj, const char *key, int64_t *out,
		const char *file, gg_err *e);
int gg_json_f32(const cJSON *obj, const char *key, float *out,
		const char *file, gg_err *e);
int gg_json_f64(const cJSON *obj, const char *key, double *out,
		const char *file, gg_err *e);
int gg_json_bool(const cJSON *obj, const char *key, bool *out,
		 const char *file, gg_err *e);
/* *out points into the cJSON tree (valid while it lives). */
int gg_json_str(const cJSON *obj, const char *key, const char **out,
		const char *file, gg_err *e);
/* Nested object (NULL if absent/null; error if not an object). */
int gg_json_obj(const cJSON *obj, const char *key, const cJSON **out,
		const char *file, gg_err *e);

#endif
