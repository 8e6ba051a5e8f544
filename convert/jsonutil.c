/* jsonutil.c - see jsonutil.h.
 *
 * The getters mirror how Go's encoding/json fills a struct field, because
 * the `ollama` profile must accept and reject the same config files Ollama
 * does:
 *   - keys match ASCII-case-insensitively;
 *   - when an object repeats a key, every occurrence is decoded in order, so
 *     the last one wins and any one of the wrong type is an error;
 *   - null leaves the field as it was;
 *   - an integer field rejects fractions and out-of-range values, a float32
 *     field rejects values that overflow float32.
 * cJSON stores every number as a double, so integers beyond 2^53 lose
 * precision and "1.0" or "1e3" pass as integers (Go rejects those two).
 */
#include "jsonutil.h"

#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- NaN / Infinity rewriting ---------------------------------------- */

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A bare token may start a value only after one of these (or at offset 0). */
static bool starts_value_after(char c)
{
	return is_json_space(c) || c == ':' || c == ',' || c == '[';
}

/* ... and must be followed by one of these (or the end of input). */
static bool ends_value_before(char c)
{
	return is_json_space(c) || c == ',' || c == ']' || c == '}';
}

static size_t bare_token_at(const char *in, size_t len, size_t at,
			    const char *tok)
{
	size_t n = strlen(tok);
	if (len - at < n || memcmp(in + at, tok, n) != 0)
		return 0;
	if (at > 0 && !starts_value_after(in[at - 1]))
		return 0;
	if (at + n < len && !ends_value_before(in[at + n]))
		return 0;
	return n;
}

/* Length of a NaN/Infinity/-Infinity token at `at`, or 0. -Infinity is
 * tried first so its '-' is consumed with it. */
static size_t nonfinite_token_at(const char *in, size_t len, size_t at)
{
	size_t n = bare_token_at(in, len, at, "-Infinity");
	if (!n)
		n = bare_token_at(in, len, at, "Infinity");
	if (!n)
		n = bare_token_at(in, len, at, "NaN");
	return n;
}

/* What a non-finite token becomes: "0" (Ollama), or a number too large for
 * a double, which cJSON reads as +-Infinity so that every getter refuses
 * it (a NaN is marked as Infinity: the value is unusable either way). */
static const char *replacement(const char *in, size_t at, size_t tok, bool mark)
{
	if (!mark)
		return "0";
	return in[at] == '-' && tok > 3 ? "-1e999" : "1e999";
}

/* Copy in to out (which has room for 2 * len bytes), replacing each
 * non-finite token outside strings (replacement()). With pad, the rest of
 * the token becomes spaces so byte offsets still point into the original
 * file (used by gg_json_load to report syntax errors where the user can
 * find them; the parse result is the same because whitespace after a
 * number is free). Returns the output length. */
static size_t rewrite_nonfinite(const char *in, size_t len, char *out,
				bool pad, bool mark)
{
	size_t o = 0;
	bool in_string = false, escaped = false;
	for (size_t i = 0; i < len;) {
		char c = in[i];
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			out[o++] = c;
			i++;
			continue;
		}
		size_t tok = c == '"' ? 0 : nonfinite_token_at(in, len, i);
		if (tok) {
			const char *rep = replacement(in, i, tok, mark);
			size_t rlen = strlen(rep);
			memcpy(out + o, rep, rlen);
			o += rlen;
			if (pad)
				for (size_t k = rlen; k < tok; k++)
					out[o++] = ' ';
			i += tok;
			continue;
		}
		if (c == '"')
			in_string = true;
		out[o++] = c;
		i++;
	}
	return o;
}

/* The copy is NUL-terminated as a convenience (out_len excludes it). */
char *gg_json_sanitize_nonfinite(const char *in, size_t len, size_t *out_len)
{
	char *out = gg_malloc(len + 1);
	size_t n = rewrite_nonfinite(in, len, out, false, false);
	out[n] = 0;
	if (out_len)
		*out_len = n;
	return out;
}

/* ---- loading ---------------------------------------------------------- */

static size_t utf8_sequence_length(unsigned char lead)
{
	if (lead < 0x80)
		return 1;
	if ((lead & 0xE0) == 0xC0)
		return 2;
	if ((lead & 0xF0) == 0xE0)
		return 3;
	if ((lead & 0xF8) == 0xF0)
		return 4;
	return 0;
}

/* Offset of the first byte that does not start a valid UTF-8 sequence, or
 * len if the whole text is valid. Each sequence is judged by the strict
 * gg_utf8_valid so both agree on what "valid" means. */
static size_t utf8_error_offset(const char *s, size_t len)
{
	if (gg_utf8_valid(s, len))
		return len;
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_sequence_length((unsigned char)s[i]);
		if (n == 0 || n > len - i || !gg_utf8_valid(s + i, n))
			return i;
		i += n;
	}
	return len;
}

/* cJSON checks "nothing after the value" by looking for a NUL inside the
 * given length, so text is parsed with its terminator included, and an
 * embedded NUL (which would silently end the document early) is refused
 * before parsing. The offset cJSON reports for a syntax error can lie a
 * byte or so past the culprit, hence "near". */
static int parse_text(const char *path, const char *text, size_t len,
		      cJSON **out, gg_err *e)
{
	const char *nul = memchr(text, 0, len);
	if (nul)
		return gg_fail(e, "%s: NUL byte at byte offset %zu", path,
			       (size_t)(nul - text));
	size_t bad = utf8_error_offset(text, len);
	if (bad < len)
		return gg_fail(e, "%s: invalid UTF-8 at byte offset %zu", path,
			       bad);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (!root) {
		size_t at = end ? (size_t)(end - text) : 0;
		return gg_fail(e, "%s: JSON syntax error near byte offset %zu",
			       path, at);
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return gg_fail(e, "%s: top level (byte offset 0) is not a JSON "
			       "object", path);
	}
	*out = root;
	return 0;
}

int gg_json_load(const char *path, bool optional, bool sanitize_nonfinite,
		 cJSON **out, gg_err *e)
{
	*out = NULL;
	/* Absent means nothing there at all: a dangling link (an unfinished
	 * hub download) or a FIFO is refused by gg_read_file with its reason. */
	if (optional && !gg_path_exists(path))
		return 0;
	char *text;
	size_t len;
	if (gg_read_file(path, GG_JSON_MAX_BYTES, &text, &len, e) != 0)
		return -1;
	if (!sanitize_nonfinite) {
		int rc = parse_text(path, text, len, out, e);
		free(text);
		return rc;
	}
	/* Marked tokens may be longer than the originals ("NaN" becomes
	 * "1e999"); a syntax error is then reported from the padded "0"
	 * rewrite, which keeps every byte offset. */
	char *marked = gg_malloc(2 * len + 1);
	size_t mlen = rewrite_nonfinite(text, len, marked, true, true);
	marked[mlen] = 0;
	gg_err ignored;
	int rc = parse_text(path, marked, mlen, out, &ignored);
	if (rc) {
		char *clean = gg_malloc(len + 1);
		rewrite_nonfinite(text, len, clean, true, false);
		clean[len] = 0;
		rc = parse_text(path, clean, len, out, e);
		if (rc == 0) { /* cannot happen: the same syntax */
			cJSON_Delete(*out);
			*out = NULL;
			rc = gg_fail(e, "%s: JSON syntax error", path);
		}
		free(clean);
	}
	free(marked);
	free(text);
	return rc;
}


/* ---- parse arena ---------------------------------------------------------
 * cJSON allocates one block per node and per string: a tokenizer.json of
 * 400k entries spends most of its parse time in malloc and free. While a
 * thread has an arena open, cJSON's allocations on that thread come from
 * large chunks and its frees of them are no-ops; closing the arena drops
 * the chunks. Allocations outside an arena go to malloc as usual. */

#define ARENA_CHUNK (8u << 20)
#define ARENA_CHUNK_MAX ((size_t)1 << 30)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	_Alignas(16) char data[];
};

static _Thread_local struct arena_chunk *arena_head;
static _Thread_local unsigned arena_open; /* nesting depth */
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static bool arena_owns(const void *p)
{
	for (const struct arena_chunk *c = arena_head; c; c = c->next)
		if ((const char *)p >= c->data && (const char *)p < c->data + c->size)
			return true;
	return false;
}

static void *hook_malloc(size_t n)
{
	if (!arena_open)
		return malloc(n);
	n = (n + 15) & ~(size_t)15;
	struct arena_chunk *c = arena_head;
	if (!c || c->size - c->used < n) {
		/* Each chunk twice the last: a tree of any size spans O(log n)
		 * chunks, so arena_owns (run for every node cJSON frees)
		 * stays cheap, and the newest, largest chunk, checked first,
		 * holds most nodes. */
		size_t size = c ? c->size * 2 : ARENA_CHUNK;
		if (size > ARENA_CHUNK_MAX)
			size = ARENA_CHUNK_MAX;
		if (size < n)
			size = n;
		c = malloc(sizeof *c + size);
		if (!c)
			return NULL;
		c->next = arena_head;
		c->used = 0;
		c->size = size;
		arena_head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

static void hook_free(void *p)
{
	if (arena_open && arena_owns(p))
		return;
	free(p);
}

static void install_hooks(void)
{
	cJSON_Hooks hooks = { .malloc_fn = hook_malloc, .free_fn = hook_free };
	cJSON_InitHooks(&hooks);
}

void gg_json_arena_begin(void)
{
	pthread_once(&hooks_once, install_hooks);
	arena_open++;
}

void gg_json_arena_end(void)
{
	if (arena_open && --arena_open)
		return; /* an inner arena: the outer one frees */
	while (arena_head) {
		struct arena_chunk *next = arena_head->next;
		free(arena_head);
		arena_head = next;
	}
}

/* ---- typed getters ---------------------------------------------------- */

static bool ascii_equal_fold(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
		if (x == 0)
			return true;
	}
}

/* The next non-null member after `after` (NULL: from the start) whose key
 * equals key case-insensitively. */
static const cJSON *next_match(const cJSON *obj, const cJSON *after,
			       const char *key)
{
	if (!obj)
		return NULL;
	const cJSON *v = after ? after->next : obj->child;
	for (; v; v = v->next)
		if (v->string && !cJSON_IsNull(v) &&
		    ascii_equal_fold(v->string, key))
			return v;
	return NULL;
}

static const char *json_kind(const cJSON *v)
{
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "an unknown value";
}

static int type_error(const cJSON *v, const char *key, const char *want,
		      const char *file, gg_err *e)
{
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return gg_fail(e, "%s: %s: NaN, Infinity or a number out of range is not a usable value (expected %s)",
			       file, key, want);
	if (cJSON_IsNumber(v))
		return gg_fail(e, "%s: %s: expected %s, got %.17g", file, key,
			       want, v->valuedouble);
	return gg_fail(e, "%s: %s: expected %s, got %s", file, key, want,
		       json_kind(v));
}

static bool is_integral(double d)
{
	return isfinite(d) && floor(d) == d;
}

int gg_json_u32(const cJSON *obj, const char *key, uint32_t *out,
		const char *file, gg_err *e)
{
	const char *want = "an unsigned 32-bit integer";
	uint32_t val = *out;
	for (const cJSON *v = next_match(obj, NULL, key); v;
	     v = next_match(obj, v, key)) {
		double d = v->valuedouble;
		if (!cJSON_IsNumber(v) || !is_integral(d) || d < 0 ||
		    d > (double)UINT32_MAX)
			return type_error(v, key, want, file, e);
		val = (uint32_t)d;
	}
	*out = val;
	return 0;
}

int gg_json_i64(const cJSON *obj, const char *key, int64_t *out,
		const char *file, gg_err *e)
{
	const char *want = "a 64-bit integer";
	/* 2^63 is exact as a double; every integral double below it fits. */
	const double limit = 9223372036854775808.0;
	int64_t val = *out;
	for (const cJSON *v = next_match(obj, NULL, key); v;
	     v = next_match(obj, v, key)) {
		double d = v->valuedouble;
		if (!cJSON_IsNumber(v) || !is_integral(d) || d < -limit ||
		    d >= limit)
			return type_error(v, key, want, file, e);
		val = (int64_t)d;
	}
	*out = val;
	return 0;
}

int gg_json_f64(const cJSON *obj, const char *key, double *out,
		const char *file, gg_err *e)
{
	double val = *out;
	for (const cJSON *v = next_match(obj, NULL, key); v;
	     v = next_match(obj, v, key)) {
		/* cJSON reads 1e400 as infinity; Go reports it out of range. */
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return type_error(v, key, "a number", file, e);
		val = v->valuedouble;
	}
	*out = val;
	return 0;
}

int gg_json_f32(const cJSON *obj, const char *key, float *out,
		const char *file, gg_err *e)
{
	const char *want = "a 32-bit float";
	float val = *out;
	for (const cJSON *v = next_match(obj, NULL, key); v;
	     v = next_match(obj, v, key)) {
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return type_error(v, key, want, file, e);
		float f = (float)v->valuedouble;
		if (!isfinite(f))
			return type_error(v, key, want, file, e);
		val = f;
	}
	*out = val;
	return 0;
}

int gg_json_bool(const cJSON *obj, const char *key, bool *out,
		 const char *file, gg_err *e)
{
	bool val = *out;
	for (const cJSON *v = next_match(obj, NULL, key); v;
	     v = next_match(obj, v, key)) {
		if (!cJSON_IsBool(v))
			return type_error(v, key, "a boolean", file, e);
		val = cJSON_IsTrue(v);
	}
	*out = val;
	return 0;
}

int gg_json_str(const cJSON *obj, const char *key, const char **out,
		const char *file, gg_err *e)
{
	const char *val = *out;
	for (const cJSON *v = next_match(obj, NULL, key); v;
	     v = next_match(obj, v, key)) {
		if (!cJSON_IsString(v))
			return type_error(v, key, "a string", file, e);
		val = v->valuestring;
	}
	*out = val;
	return 0;
}

int gg_json_obj(const cJSON *obj, const char *key, const cJSON **out,
		const char *file, gg_err *e)
{
	const cJSON *val = NULL;
	for (const cJSON *v = next_match(obj, NULL, key); v;
	     v = next_match(obj, v, key)) {
		if (!cJSON_IsObject(v))
			return type_error(v, key, "an object", file, e);
		val = v;
	}
	*out = val;
	return 0;
}
