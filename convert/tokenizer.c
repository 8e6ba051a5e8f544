/* tokenizer.c - tokenizer metadata from HuggingFace files, as Ollama's
 * convert/tokenizer.go and tokenizer_spm.go build it. See tokenizer.h and
 * shared/reference/tokenizer.md §1 for the rules reproduced here.
 *
 * Everything is parsed and validated first; the KVs are written only once
 * nothing can fail any more, so on error the caller's list is untouched.
 *
 * Go's encoding/json is the reference for every JSON decision:
 * - Files decoded into Go structs (tokenizer.json, special_tokens_map.json)
 *   match keys case-insensitively and let the last duplicate win; files
 *   decoded into map[string]json.RawMessage (tokenizer_config.json,
 *   generation_config.json) and map[string]int (added_tokens.json) match
 *   keys exactly, last duplicate wins. cJSON keeps duplicates, so the
 *   lookups below scan for the last match instead of using
 *   cJSON_GetObjectItem (which returns the first).
 * - `null` leaves the zero value (0, "", false) without error; a value of
 *   the wrong JSON type inside a decoded struct fails the whole file.
 */
#include "tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <xxhash.h>

#include "jsonutil.h"
#include "spm.h"

/* GGUF token types (numerically SentencePiece's). */
enum {
	TOKEN_NORMAL = 1,
	TOKEN_CONTROL = 3,
	TOKEN_USER_DEFINED = 4,
};

/* Padding beyond this many tokens is refused: a hostile config.json could
 * otherwise make us build billions of "[PAD%d]" strings (Ollama would
 * try). The largest real vocabularies are ~262k. */
#define MAX_PADDED_VOCAB (1u << 24)

static const char *const default_special_types[] = {
	"bos", "eos", "unk", "sep", "pad", "cls", "mask",
};

/* Pieces Ollama always marks CONTROL on the SentencePiece path ("temporary
 * fix to handle gemma3 broken configs"). */
static const char *const gemma_control_pieces[] = {
	"<end_of_turn>", "<start_of_turn>", "<start_function_declaration>",
	"<end_function_declaration>", "<start_function_call>",
	"<end_function_call>", "<start_function_response>",
	"<end_function_response>", "<escape>",
};

/* ---- JSON access with Go's decoding rules --------------------------- */

/* Last member whose key equals name ignoring ASCII case (Go struct field). */
static const cJSON *field_ci(const cJSON *obj, const char *name)
{
	const cJSON *hit = NULL;
	if (!cJSON_IsObject(obj))
		return NULL;
	for (const cJSON *c = obj->child; c; c = c->next)
		if (c->string && strcasecmp(c->string, name) == 0)
			hit = c;
	return hit;
}

/* Last member whose key equals name exactly (Go map key). */
static const cJSON *field_cs(const cJSON *obj, const char *name)
{
	const cJSON *hit = NULL;
	if (!cJSON_IsObject(obj))
		return NULL;
	for (const cJSON *c = obj->child; c; c = c->next)
		if (c->string && strcmp(c->string, name) == 0)
			hit = c;
	return hit;
}

static bool is_absent(const cJSON *v)
{
	return v == NULL || cJSON_IsNull(v);
}

/* A JSON number Go would decode into an integer of [lo, hi]. cJSON keeps
 * only the double, so 1.0 and 1e0 pass too (Go rejects those spellings). */
static bool json_int_in(const cJSON *v, double lo, double hi, int64_t *out)
{
	if (!cJSON_IsNumber(v))
		return false;
	double d = v->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < lo || d > hi)
		return false;
	*out = (int64_t)d;
	return true;
}

/* Go int (64-bit); 2^63 itself is out of range. */
static bool json_int64(const cJSON *v, int64_t *out)
{
	return json_int_in(v, -9223372036854775808.0, 9223372036854774784.0,
			   out);
}

/* Struct field of type string: absent/null -> *out unchanged. */
static int want_str(const cJSON *v, const char **out, const char *file,
		    const char *what, gg_err *e)
{
	if (is_absent(v))
		return 0;
	if (!cJSON_IsString(v))
		return gg_fail(e, "%s: %s: expected a string", file, what);
	*out = v->valuestring;
	return 0;
}

static int want_bool(const cJSON *v, bool *out, const char *file,
		     const char *what, gg_err *e)
{
	if (is_absent(v))
		return 0;
	if (!cJSON_IsBool(v))
		return gg_fail(e, "%s: %s: expected a boolean", file, what);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* Struct field of type object (or null). */
static int want_obj(const cJSON *v, const char *file, const char *what,
		    gg_err *e)
{
	if (is_absent(v) || cJSON_IsObject(v))
		return 0;
	return gg_fail(e, "%s: %s: expected an object", file, what);
}

static int want_arr(const cJSON *v, const char *file, const char *what,
		    gg_err *e)
{
	if (is_absent(v) || cJSON_IsArray(v))
		return 0;
	return gg_fail(e, "%s: %s: expected an array", file, what);
}

/* Every listed field of obj, if present, is a boolean (struct fields
 * Ollama never uses but which still fail the decode when mistyped). */
static int check_bools(const cJSON *obj, const char *const *names, size_t n,
		       const char *file, const char *where, gg_err *e)
{
	char what[128];
	bool ignored;
	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof what, "%s.%s", where, names[i]);
		if (want_bool(field_ci(obj, names[i]), &ignored, file, what,
			      e) != 0)
			return -1;
	}
	return 0;
}

/* ---- string entries: (content, id) lists ---------------------------- */

/* One vocabulary or added-token entry; content points into a cJSON tree.
 * seq is the position in file order, to make "last one wins" exact after
 * qsort (which is not stable). */
struct entry {
	const char *content;
	int64_t id;
	uint32_t seq;
	int32_t type;
};

static int cmp_entry_id(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Keep only the last entry of each run of equal ids in a list sorted by
 * id (a Go map keyed by id keeps the last value written). Returns the new
 * count. */
static size_t keep_last_of_each_id(struct entry *v, size_t n)
{
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (i + 1 == n || v[i].id != v[i + 1].id)
			v[out++] = v[i];
	return out;
}

/* Go map[string]int semantics for a JSON object: a repeated key keeps its
 * last value. cJSON keeps every duplicate, so find them with a hash set of
 * contents (open addressing, XXH3); real files have none, and a 128k
 * vocabulary must not pay for a sort by string. Keeps file order. Returns
 * the new count. */
static size_t drop_duplicate_keys(struct entry *v, size_t n)
{
	const uint32_t empty = UINT32_MAX;
	size_t cap = 16, dropped = 0;
	while (cap < 2 * n)
		cap *= 2;
	uint32_t *slot = gg_malloc(cap * sizeof *slot);
	memset(slot, 0xff, cap * sizeof *slot);
	for (size_t i = 0; i < n; i++) {
		size_t h = (size_t)XXH3_64bits(v[i].content,
					       strlen(v[i].content)) & (cap - 1);
		while (slot[h] != empty &&
		       strcmp(v[slot[h]].content, v[i].content) != 0)
			h = (h + 1) & (cap - 1);
		if (slot[h] != empty) {
			v[slot[h]].content = NULL; /* superseded by entry i */
			dropped++;
		}
		slot[h] = (uint32_t)i;
	}
	free(slot);
	if (!dropped)
		return n;
	size_t out = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].content)
			v[out++] = v[i];
	return out;
}

/* ---- the vocabulary being built ------------------------------------- */

struct vocab {
	const char *model; /* "gpt2" or "llama" */
	struct gguf_str *tokens;
	float *scores;
	int32_t *types;
	size_t n, cap;
};

static void vocab_push(struct vocab *v, const char *s, size_t len,
		       float score, int32_t type)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 1024;
		v->tokens = gg_realloc(v->tokens, v->cap * sizeof *v->tokens);
		v->scores = gg_realloc(v->scores, v->cap * sizeof *v->scores);
		v->types = gg_realloc(v->types, v->cap * sizeof *v->types);
	}
	v->tokens[v->n].s = gg_strndup(s, len);
	v->tokens[v->n].n = len;
	v->scores[v->n] = score;
	v->types[v->n] = type;
	v->n++;
}

static void vocab_free(struct vocab *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->tokens[i].s);
	free(v->tokens);
	free(v->scores);
	free(v->types);
	memset(v, 0, sizeof *v);
}

/* Ollama's LoadModelMetadata: append "[PAD<k>]" (k counting from 0),
 * score -1, USER_DEFINED, up to the config's vocab size. Never truncates. */
static void vocab_pad(struct vocab *v, uint32_t config_vocab_size)
{
	char buf[32];
	size_t have = v->n;
	for (size_t k = 0; have + k < config_vocab_size; k++) {
		int len = snprintf(buf, sizeof buf, "[PAD%zu]", k);
		vocab_push(v, buf, (size_t)len, -1.0f, TOKEN_USER_DEFINED);
	}
}

/* ---- tokenizer.json -------------------------------------------------- */

struct added_token {
	const char *content;
	int64_t id;
	bool special;
};

struct tok_json {
	char *path;
	cJSON *root; /* NULL when the file does not exist */
	struct added_token *added;
	size_t n_added;
	const cJSON *vocab;   /* model.vocab object, or NULL */
	struct gguf_str *merges;
	size_t n_merges;
	const char *pre;
};

static void tok_json_free(struct tok_json *t)
{
	for (size_t i = 0; i < t->n_merges; i++)
		free(t->merges[i].s);
	free(t->merges);
	free(t->added);
	cJSON_Delete(t->root);
	free(t->path);
	memset(t, 0, sizeof *t);
}

/* The usual well-formed entry, checked without formatting the labels the
 * messages need (a million added tokens must not cost five snprintf each):
 * false sends it through the labelled checks below. */
static bool added_token_fast(const cJSON *el, struct added_token *out)
{
	if (!cJSON_IsObject(el))
		return false;
	const cJSON *id = field_ci(el, "id"), *c = field_ci(el, "content");
	const cJSON *sp = field_ci(el, "special"), *ud = field_ci(el, "UserDefined");
	if ((!is_absent(id) && !json_int64(id, &out->id)) ||
	    (!is_absent(c) && !cJSON_IsString(c)) ||
	    (!is_absent(sp) && !cJSON_IsBool(sp)) ||
	    (!is_absent(ud) && !cJSON_IsBool(ud)))
		return false;
	if (!is_absent(c))
		out->content = c->valuestring;
	if (!is_absent(sp))
		out->special = cJSON_IsTrue(sp);
	return true;
}

static int parse_added_token(const struct tok_json *t, const cJSON *el,
			     size_t i, struct added_token *out, gg_err *e)
{
	static const char *const unused_bools[] = { "UserDefined" };
	char what[64];
	*out = (struct added_token){ "", 0, false };
	if (cJSON_IsNull(el))
		return 0; /* Go leaves a zero token: id 0, content "" */
	if (added_token_fast(el, out))
		return 0;
	*out = (struct added_token){ "", 0, false };
	snprintf(what, sizeof what, "added_tokens[%zu]", i);
	if (!cJSON_IsObject(el))
		return gg_fail(e, "%s: %s: expected an object", t->path, what);
	const cJSON *id = field_ci(el, "id");
	if (!is_absent(id) && !json_int64(id, &out->id))
		return gg_fail(e, "%s: %s.id: expected an integer", t->path,
			       what);
	snprintf(what, sizeof what, "added_tokens[%zu].content", i);
	if (want_str(field_ci(el, "content"), &out->content, t->path, what,
		     e) != 0)
		return -1;
	snprintf(what, sizeof what, "added_tokens[%zu].special", i);
	if (want_bool(field_ci(el, "special"), &out->special, t->path, what,
		      e) != 0)
		return -1;
	snprintf(what, sizeof what, "added_tokens[%zu]", i);
	return check_bools(el, unused_bools, 1, t->path, what, e);
}

static int parse_added_tokens(struct tok_json *t, gg_err *e)
{
	const cJSON *arr = field_ci(t->root, "added_tokens");
	if (want_arr(arr, t->path, "added_tokens", e) != 0)
		return -1;
	if (is_absent(arr))
		return 0;
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
	t->added = gg_calloc(n, sizeof *t->added);
	for (const cJSON *el = arr->child; el; el = el->next, i++)
		if (parse_added_token(t, el, i, &t->added[i], e) != 0)
			return -1;
	t->n_added = i;
	return 0;
}

/* model.vocab values must decode as Go ints (null reads as 0). */
static int check_vocab(const struct tok_json *t, gg_err *e)
{
	int64_t id;
	if (!t->vocab)
		return 0;
	for (const cJSON *c = t->vocab->child; c; c = c->next)
		if (!cJSON_IsNull(c) && !json_int64(c, &id))
			return gg_fail(e, "%s: model.vocab: id of \"%.64s\" is not an integer",
				       t->path, c->string ? c->string : "");
	return 0;
}

/* Merges as a list of strings (null elements read as ""). */
static void merges_from_strings(struct tok_json *t, const cJSON *arr)
{
	size_t i = 0;
	for (const cJSON *el = arr->child; el; el = el->next, i++) {
		const char *s = cJSON_IsString(el) ? el->valuestring : "";
		t->merges[i].n = strlen(s);
		t->merges[i].s = gg_strndup(s, t->merges[i].n);
	}
}

/* Merges as a list of lists: parts joined by one space, as Go's
 * strings.Join (no escaping of spaces inside parts; any list length). */
static void merges_from_lists(struct tok_json *t, const cJSON *arr)
{
	size_t i = 0;
	for (const cJSON *el = arr->child; el; el = el->next, i++) {
		size_t len = 0, parts = 0;
		for (const cJSON *p = cJSON_IsArray(el) ? el->child : NULL; p;
		     p = p->next, parts++)
			len += cJSON_IsString(p) ? strlen(p->valuestring) : 0;
		len += parts ? parts - 1 : 0;
		char *s = gg_malloc(len + 1), *w = s;
		parts = 0;
		for (const cJSON *p = cJSON_IsArray(el) ? el->child : NULL; p;
		     p = p->next, parts++) {
			if (parts)
				*w++ = ' ';
			if (cJSON_IsString(p)) {
				size_t pl = strlen(p->valuestring);
				memcpy(w, p->valuestring, pl);
				w += pl;
			}
		}
		*w = 0;
		t->merges[i].s = s;
		t->merges[i].n = len;
	}
}

/* Which of Go's two attempts, []string then [][]string, would succeed. */
static void classify_merges(const cJSON *arr, bool *strings, bool *lists)
{
	*strings = *lists = true;
	for (const cJSON *el = arr->child; el; el = el->next) {
		if (cJSON_IsString(el)) {
			*lists = false;
		} else if (cJSON_IsArray(el)) {
			*strings = false;
			for (const cJSON *p = el->child; p; p = p->next)
				if (!cJSON_IsString(p) && !cJSON_IsNull(p))
					*lists = false;
		} else if (!cJSON_IsNull(el)) {
			*strings = *lists = false;
		}
	}
}

static int parse_merges(struct tok_json *t, const cJSON *model, gg_err *e)
{
	const cJSON *arr = field_ci(model, "merges");
	bool strings, lists;
	if (is_absent(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return gg_fail(e, "%s: could not parse tokenizer merges: expected a list of strings or a list of string pairs",
			       t->path);
	classify_merges(arr, &strings, &lists);
	if (!strings && !lists)
		return gg_fail(e, "%s: could not parse tokenizer merges: expected a list of strings or a list of string pairs",
			       t->path);
	size_t n = (size_t)cJSON_GetArraySize(arr);
	if (n == 0)
		return 0;
	t->merges = gg_calloc(n, sizeof *t->merges);
	t->n_merges = n;
	if (strings)
		merges_from_strings(t, arr);
	else
		merges_from_lists(t, arr);
	return 0;
}

static int parse_model(struct tok_json *t, gg_err *e)
{
	const cJSON *model = field_ci(t->root, "model");
	const char *type = NULL;
	if (want_obj(model, t->path, "model", e) != 0 ||
	    want_str(field_ci(model, "type"), &type, t->path, "model.type",
		     e) != 0)
		return -1;
	const cJSON *vocab = field_ci(model, "vocab");
	if (!is_absent(vocab) && !cJSON_IsObject(vocab))
		return gg_fail(e, "%s: model.vocab: expected an object of token -> id (a Unigram vocabulary list is not supported)",
			       t->path);
	t->vocab = is_absent(vocab) ? NULL : vocab;
	if (check_vocab(t, e) != 0)
		return -1;
	return parse_merges(t, model, e);
}

/* One element of pre_tokenizer.pretokenizers: type-check its fields; feed
 * a Split's non-empty regex into the digest. */
static int hash_pretokenizer(const struct tok_json *t, const cJSON *pt,
			     size_t i, EVP_MD_CTX *md, gg_err *e)
{
	static const char *const bools[] = {
		"invert", "add_prefix_space", "trim_offsets", "use_regex",
	};
	char what[96];
	const char *type = "", *behavior = "", *regex = "";
	if (cJSON_IsNull(pt))
		return 0;
	snprintf(what, sizeof what, "pre_tokenizer.pretokenizers[%zu]", i);
	if (!cJSON_IsObject(pt))
		return gg_fail(e, "%s: %s: expected an object", t->path, what);
	if (check_bools(pt, bools, 4, t->path, what, e) != 0)
		return -1;
	strcat(what, ".type");
	if (want_str(field_ci(pt, "type"), &type, t->path, what, e) != 0)
		return -1;
	snprintf(what, sizeof what, "pre_tokenizer.pretokenizers[%zu].behavior", i);
	if (want_str(field_ci(pt, "behavior"), &behavior, t->path, what, e) != 0)
		return -1;
	const cJSON *pattern = field_ci(pt, "pattern");
	snprintf(what, sizeof what, "pre_tokenizer.pretokenizers[%zu].pattern", i);
	if (want_obj(pattern, t->path, what, e) != 0)
		return -1;
	strcat(what, ".Regex");
	if (want_str(field_ci(pattern, "Regex"), &regex, t->path, what, e) != 0)
		return -1;
	if (strcmp(type, "Split") == 0 && regex[0])
		EVP_DigestUpdate(md, regex, strlen(regex));
	return 0;
}

static void hex_encode(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = 0;
}

/* tokenizer.ggml.pre: SHA-256 of the concatenated Split regexes of a
 * Sequence pre-tokenizer, looked up in Ollama's table. */
static int parse_pre(struct tok_json *t, gg_err *e)
{
	const cJSON *pre = field_ci(t->root, "pre_tokenizer");
	if (want_obj(pre, t->path, "pre_tokenizer", e) != 0)
		return -1;
	const cJSON *list = field_ci(pre, "pretokenizers");
	if (want_arr(list, t->path, "pre_tokenizer.pretokenizers", e) != 0)
		return -1;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return gg_fail(e, "%s: cannot initialise SHA-256", t->path);
	}
	size_t i = 0;
	for (const cJSON *pt = is_absent(list) ? NULL : list->child; pt;
	     pt = pt->next, i++) {
		if (hash_pretokenizer(t, pt, i, md, e) != 0) {
			EVP_MD_CTX_free(md);
			return -1;
		}
	}
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	EVP_DigestFinal_ex(md, digest, &dlen);
	EVP_MD_CTX_free(md);
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	hex_encode(digest, dlen, hex);
	t->pre = tokenizer_pre_from_hash(hex);
	return 0;
}

/* Load and fully check tokenizer.json if it exists: Ollama decodes it
 * whenever present, so a malformed file fails even on the SPM path. */
static int tok_json_load(struct tok_json *t, const char *dir, gg_err *e)
{
	memset(t, 0, sizeof *t);
	t->path = gg_path_join(dir, "tokenizer.json");
	t->pre = "default";
	if (gg_json_load(t->path, true, false, &t->root, e) != 0)
		return -1;
	if (!t->root)
		return 0;
	if (parse_added_tokens(t, e) != 0 || parse_model(t, e) != 0 ||
	    parse_pre(t, e) != 0)
		return -1;
	return 0;
}

/* The content -> id map Ollama builds from added_tokens: last one wins. */
static const struct added_token *find_added(const struct tok_json *t,
					    const char *content)
{
	for (size_t i = t->n_added; i-- > 0;)
		if (strcmp(t->added[i].content, content) == 0)
			return &t->added[i];
	return NULL;
}

/* parseVocabularyFromTokenizer: model.vocab, then added_tokens overwriting
 * by id; ascending id order, index = rank (holes are not filled);
 * score = id; type CONTROL if special, USER_DEFINED if added, else NORMAL. */
static void vocab_from_json(const struct tok_json *t, struct vocab *v)
{
	size_t n_vocab = t->vocab ? (size_t)cJSON_GetArraySize(t->vocab) : 0;
	struct entry *ents = gg_calloc(n_vocab + t->n_added, sizeof *ents);
	size_t n = 0;
	for (const cJSON *c = t->vocab ? t->vocab->child : NULL; c; c = c->next) {
		int64_t id = 0;
		if (!cJSON_IsNull(c))
			json_int64(c, &id); /* checked by check_vocab */
		ents[n] = (struct entry){ c->string ? c->string : "", id,
					  (uint32_t)n, TOKEN_NORMAL };
		n++;
	}
	n = drop_duplicate_keys(ents, n);
	for (size_t i = 0; i < t->n_added; i++) {
		const struct added_token *a = &t->added[i];
		ents[n++] = (struct entry){
			a->content, a->id, (uint32_t)(n_vocab + i),
			a->special ? TOKEN_CONTROL : TOKEN_USER_DEFINED };
	}
	qsort(ents, n, sizeof *ents, cmp_entry_id);
	n = keep_last_of_each_id(ents, n);
	v->model = "gpt2";
	for (size_t i = 0; i < n; i++)
		vocab_push(v, ents[i].content, strlen(ents[i].content),
			   (float)ents[i].id, ents[i].type);
	free(ents);
}

/* ---- SentencePiece path ---------------------------------------------- */

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted list of piece texts that become CONTROL: Ollama's Gemma list plus
 * special_tokens_map.json additional_special_tokens[].content. */
struct control_set {
	cJSON *root;
	const char **items;
	size_t n;
};

static int parse_special_token_obj(const cJSON *el, size_t i,
				   const char *path, const char **content,
				   gg_err *e)
{
	static const char *const bools[] = {
		"lstrip", "normalized", "rstrip", "single_word",
	};
	char what[80];
	snprintf(what, sizeof what, "additional_special_tokens[%zu]", i);
	/* Ollama asserts map[string]any here and panics on anything else,
	 * notably on the common list-of-strings form. */
	if (!cJSON_IsObject(el))
		return gg_fail(e, "%s: %s: expected an object with \"content\" (Ollama cannot convert a list of strings)",
			       path, what);
	if (check_bools(el, bools, 4, path, what, e) != 0)
		return -1;
	strcat(what, ".content");
	*content = "";
	return want_str(field_ci(el, "content"), content, path, what, e);
}

static int control_set_load(struct control_set *cs, const char *dir,
			    gg_err *e)
{
	size_t n_gemma = sizeof gemma_control_pieces / sizeof *gemma_control_pieces;
	char *path = gg_path_join(dir, "special_tokens_map.json");
	int rc = -1;
	memset(cs, 0, sizeof *cs);
	if (gg_json_load(path, true, false, &cs->root, e) != 0)
		goto out;
	const cJSON *ast = field_ci(cs->root, "additional_special_tokens");
	/* Anything but a list is only a warning in Ollama. */
	size_t n_ast = cJSON_IsArray(ast) ? (size_t)cJSON_GetArraySize(ast) : 0;
	cs->items = gg_calloc(n_gemma + n_ast, sizeof *cs->items);
	for (size_t i = 0; i < n_gemma; i++)
		cs->items[cs->n++] = gemma_control_pieces[i];
	size_t i = 0;
	for (const cJSON *el = n_ast ? ast->child : NULL; el; el = el->next, i++)
		if (parse_special_token_obj(el, i, path, &cs->items[cs->n++],
					    e) != 0)
			goto out;
	qsort(cs->items, cs->n, sizeof *cs->items, cmp_cstr);
	rc = 0;
out:
	free(path);
	return rc;
}

static bool control_set_has(const struct control_set *cs, const char *s)
{
	return bsearch(&s, cs->items, cs->n, sizeof *cs->items, cmp_cstr) != NULL;
}

static void control_set_free(struct control_set *cs)
{
	free(cs->items);
	cJSON_Delete(cs->root);
	memset(cs, 0, sizeof *cs);
}

/* Ollama keeps UNKNOWN/CONTROL/UNUSED/BYTE; NORMAL and USER_DEFINED become
 * NORMAL, upgraded to CONTROL for the listed pieces. */
static int32_t spm_token_type(const struct spm_piece *p,
			      const struct control_set *cs)
{
	switch (p->type) {
	case SPM_UNKNOWN:
	case SPM_CONTROL:
	case SPM_UNUSED:
	case SPM_BYTE:
		return (int32_t)p->type;
	default:
		return control_set_has(cs, p->piece) ? TOKEN_CONTROL
						      : TOKEN_NORMAL;
	}
}

/* One added_tokens.json entry against the vocabulary so far. */
static int append_added(struct vocab *v, const struct entry *a,
			const char *path, gg_err *e)
{
	if (a->id >= 0 && (uint64_t)a->id < v->n) {
		const struct gguf_str *have = &v->tokens[a->id];
		if (strcmp(have->s, a->content) == 0)
			return 0; /* duplicate of the model's own piece */
		return gg_fail(e, "%s: token mismatch: %.100s != %.100s at pos [%lld]",
			       path, a->content, have->s, (long long)a->id);
	}
	/* Negative ids panic in Ollama (index out of range). */
	if (a->id < 0 || (uint64_t)a->id != v->n)
		return gg_fail(e, "%s: invalid token id: [%lld] as pos [%zu] (ids must continue the vocabulary contiguously)",
			       path, (long long)a->id, v->n);
	vocab_push(v, a->content, strlen(a->content), -1000.0f,
		   TOKEN_USER_DEFINED);
	return 0;
}

/* added_tokens.json: {content: id}, applied in id order. */
static int spm_added_tokens(struct vocab *v, const char *dir, gg_err *e)
{
	char *path = gg_path_join(dir, "added_tokens.json");
	cJSON *root = NULL;
	struct entry *ents = NULL;
	int rc = -1;
	if (gg_json_load(path, true, false, &root, e) != 0)
		goto out;
	size_t n = root ? (size_t)cJSON_GetArraySize(root) : 0;
	ents = gg_calloc(n, sizeof *ents);
	n = 0;
	for (const cJSON *c = root ? root->child : NULL; c; c = c->next, n++) {
		int64_t id = 0;
		if (!cJSON_IsNull(c) && !json_int64(c, &id)) {
			gg_fail(e, "%s: id of \"%.64s\" is not an integer", path,
				c->string ? c->string : "");
			goto out;
		}
		ents[n] = (struct entry){ c->string ? c->string : "", id,
					  (uint32_t)n, TOKEN_USER_DEFINED };
	}
	n = drop_duplicate_keys(ents, n);
	qsort(ents, n, sizeof *ents, cmp_entry_id);
	for (size_t i = 0; i < n; i++)
		if (append_added(v, &ents[i], path, e) != 0)
			goto out;
	rc = 0;
out:
	free(ents);
	cJSON_Delete(root);
	free(path);
	return rc;
}

/* parseSentencePiece. */
static int vocab_from_spm(struct vocab *v, const char *dir, gg_err *e)
{
	struct control_set cs;
	struct spm_model m = { NULL, 0 };
	char *path = gg_path_join(dir, "tokenizer.model");
	int rc = -1;
	if (control_set_load(&cs, dir, e) != 0)
		goto out;
	if (spm_load(path, &m, e) != 0)
		goto out;
	v->model = "llama";
	for (size_t i = 0; i < m.n; i++)
		vocab_push(v, m.pieces[i].piece, strlen(m.pieces[i].piece),
			   m.pieces[i].score, spm_token_type(&m.pieces[i], &cs));
	rc = spm_added_tokens(v, dir, e);
out:
	spm_free(&m);
	control_set_free(&cs);
	free(path);
	return rc;
}

/* ---- tokenizer_config.json and generation_config.json ---------------- */

struct special {
	const char *type; /* bos, eos, unk, ... */
	const char *key;  /* bos, eos, unknown, ... */
	int64_t id;
	bool add, add_set;
	int32_t *ids;
	size_t n_ids;
};

static const char *special_key(const char *type)
{
	static const char *const map[][2] = {
		{ "bos", "bos" }, { "eos", "eos" }, { "cls", "cls" },
		{ "mask", "mask" }, { "unk", "unknown" },
		{ "sep", "seperator" }, /* sic: Ollama's key */
		{ "pad", "padding" },
	};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (strcmp(map[i][0], type) == 0)
			return map[i][1];
	return NULL;
}

/* chat_template: a string, or a list of {name, template} whose "default"
 * entry is used. */
static int parse_chat_template(const cJSON *cfg, const char *path,
			       char **out, gg_err *e)
{
	const cJSON *v = field_cs(cfg, "chat_template");
	if (is_absent(v))
		return 0;
	if (cJSON_IsString(v)) {
		*out = gg_strdup(v->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(v))
		return gg_fail(e, "%s: invalid chat_template: expected a string or a list of {name, template}",
			       path);
	const char *found = NULL;
	size_t i = 0;
	for (const cJSON *el = v->child; el; el = el->next, i++) {
		const char *name = "", *tmpl = "";
		if (cJSON_IsNull(el))
			continue;
		const cJSON *nv = field_ci(el, "name");
		const cJSON *tv = field_ci(el, "template");
		bool ok = cJSON_IsObject(el) &&
			  (is_absent(nv) || cJSON_IsString(nv)) &&
			  (is_absent(tv) || cJSON_IsString(tv));
		if (!ok)
			return gg_fail(e, "%s: invalid chat_template: element %zu is not {name, template} strings",
				       path, i);
		if (cJSON_IsString(nv))
			name = nv->valuestring;
		if (cJSON_IsString(tv))
			tmpl = tv->valuestring;
		/* Go decodes the whole list (all must be well-typed) and
		 * then takes the first "default". */
		if (!found && strcmp(name, "default") == 0)
			found = tmpl;
	}
	if (found)
		*out = gg_strdup(found);
	return 0;
}

/* The content named by <type>_token: a string, an object's "content"
 * string, or null (""). false: skip this type, as Ollama's `continue`. */
static bool special_content(const cJSON *v, const char **content)
{
	*content = "";
	if (!v || cJSON_IsNull(v))
		return true;
	if (cJSON_IsString(v)) {
		*content = v->valuestring;
		return true;
	}
	if (!cJSON_IsObject(v))
		return false;
	const cJSON *c = field_cs(v, "content"); /* Go map[string]any */
	if (!cJSON_IsString(c))
		return false;
	*content = c->valuestring;
	return true;
}

/* One special type from tokenizer_config.json. *kept is false when the
 * token does not resolve through tokenizer.json's added_tokens. */
static int parse_special(const cJSON *cfg, const char *path,
			 const struct tok_json *tj, struct special *sv,
			 bool *kept, gg_err *e)
{
	char key[64];
	const char *content;
	*kept = false;
	snprintf(key, sizeof key, "add_%s_token", sv->type);
	const cJSON *add = field_cs(cfg, key);
	if (add) {
		if (want_bool(add, &sv->add, path, key, e) != 0)
			return -1;
		sv->add_set = true;
	}
	snprintf(key, sizeof key, "%s_token", sv->type);
	if (!special_content(field_cs(cfg, key), &content))
		return 0;
	const struct added_token *at = find_added(tj, content);
	if (!at)
		return 0;
	sv->id = at->id;
	*kept = true;
	return 0;
}

static int parse_tokenizer_config(const char *dir, const struct tok_json *tj,
				  const char *const *types, size_t n_types,
				  char **chat_template, struct special *svs,
				  size_t *n_svs, gg_err *e)
{
	char *path = gg_path_join(dir, "tokenizer_config.json");
	cJSON *cfg = NULL;
	int rc = -1;
	*n_svs = 0;
	if (gg_json_load(path, true, false, &cfg, e) != 0)
		goto out;
	if (!cfg) {
		rc = 0;
		goto out;
	}
	if (parse_chat_template(cfg, path, chat_template, e) != 0)
		goto out;
	for (size_t i = 0; i < n_types; i++) {
		struct special sv = { .type = types[i],
				      .key = special_key(types[i]) };
		bool kept;
		if (parse_special(cfg, path, tj, &sv, &kept, e) != 0)
			goto out;
		if (kept)
			svs[(*n_svs)++] = sv;
	}
	rc = 0;
out:
	cJSON_Delete(cfg);
	free(path);
	return rc;
}

/* A JSON list Go decodes as []int32 (null elements read as 0). */
static bool json_int32_list(const cJSON *v, int32_t **out, size_t *n)
{
	if (!cJSON_IsArray(v))
		return false;
	size_t cnt = (size_t)cJSON_GetArraySize(v), i = 0;
	int32_t *ids = gg_calloc(cnt, sizeof *ids);
	for (const cJSON *el = v->child; el; el = el->next, i++) {
		int64_t x = 0;
		if (!cJSON_IsNull(el) &&
		    !json_int_in(el, -2147483648.0, 2147483647.0, &x)) {
			free(ids);
			return false;
		}
		ids[i] = (int32_t)x;
	}
	*out = ids;
	*n = cnt;
	return true;
}

/* generation_config.json: <type>_token_id lists for kept specials. A
 * scalar (or anything but an int32 list) is ignored, as in Ollama. */
static int parse_generation_config(const char *dir, const char *const *types,
				   size_t n_types, struct special *svs,
				   size_t n_svs, gg_err *e)
{
	char *path = gg_path_join(dir, "generation_config.json");
	cJSON *cfg = NULL;
	char key[64];
	if (gg_json_load(path, true, false, &cfg, e) != 0) {
		free(path);
		return -1;
	}
	for (size_t t = 0; cfg && t < n_types; t++) {
		snprintf(key, sizeof key, "%s_token_id", types[t]);
		const cJSON *v = field_cs(cfg, key);
		int32_t *ids;
		size_t n;
		if (!v || !json_int32_list(v, &ids, &n)) {
			/* null decodes to an empty list, setting nothing */
			continue;
		}
		/* Ollama gives the list to the first kept entry of the type. */
		size_t i = 0;
		while (i < n_svs && strcmp(svs[i].type, types[t]) != 0)
			i++;
		if (i == n_svs) {
			free(ids);
			continue;
		}
		free(svs[i].ids);
		svs[i].ids = ids;
		svs[i].n_ids = n;
	}
	cJSON_Delete(cfg);
	free(path);
	return 0;
}

/* ---- pre-tokenizer table ---------------------------------------------- */

const char *tokenizer_pre_from_hash(const char *sha256_hex)
{
	static const char *const table[][2] = {
		{ "d98f9631be1e9607a9848c26c1f9eac1aa9fc21ac6ba82a2fc0741af9780a48f", "llama-bpe" },
		{ "03df5c5863ad70781dcfdef491ead25140f895fe8010964be0daefe27be32b02", "deepseek-llm" },
		{ "21cde974d587f0d54dc8d56b183cc1e6239600172035c68fbd6d4b9f8da0576e", "deepseek-coder" },
		{ "1ff7f41064896984db5d1bb6ff64fa4bc29007d08c1b439e505b7392777a319e", "qwen2" },
		{ "00431aed57e696b747435f734d1e3b9b1bfd931a121fb5cac7129e97c181e9ba", "qwen35" },
		{ "b92c0824a58e1d8dc3221cf3e12c433c3a86f57e46d57229993489f0798e7702", "laguna" },
	};
	if (!sha256_hex)
		return "default";
	for (size_t i = 0; i < sizeof table / sizeof *table; i++)
		if (strcmp(table[i][0], sha256_hex) == 0)
			return table[i][1];
	/* includes the empty digest (no Split regexes) */
	return "default";
}

/* ---- output --------------------------------------------------------- */

static void emit_specials(struct gguf_kvs *kvs, struct special *svs,
			  size_t n)
{
	char key[96];
	for (size_t i = 0; i < n; i++) {
		struct special *sv = &svs[i];
		if (sv->add_set) {
			snprintf(key, sizeof key, "tokenizer.ggml.add_%s_token",
				 sv->key);
			gguf_kvs_set_bool(kvs, key, sv->add);
		}
		snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", sv->key);
		/* Go's uint32(int) conversion wraps; so does this. */
		gguf_kvs_set_u32(kvs, key, (uint32_t)sv->id);
		if (sv->n_ids > 0) {
			snprintf(key, sizeof key, "tokenizer.ggml.%s_token_ids",
				 sv->key);
			gguf_kvs_set_arr(kvs, key, GGUF_VT_I32, sv->ids, sv->n_ids);
		}
	}
}

/* Hand everything over to kvs; v and tj's merges are consumed. */
static void emit(struct gguf_kvs *kvs, struct vocab *v, struct tok_json *tj,
		 const char *chat_template, struct special *svs, size_t n_svs)
{
	gguf_kvs_set_str(kvs, "tokenizer.ggml.model", v->model);
	gguf_kvs_set_str(kvs, "tokenizer.ggml.pre", tj->pre);
	gguf_kvs_set_arr(kvs, "tokenizer.ggml.scores", GGUF_VT_F32, v->scores,
			 v->n);
	gguf_kvs_set_arr(kvs, "tokenizer.ggml.token_type", GGUF_VT_I32,
			 v->types, v->n);
	gguf_kvs_take_arr_str(kvs, "tokenizer.ggml.tokens", v->tokens, v->n);
	v->tokens = NULL;
	v->n = 0;
	if (tj->n_merges > 0) {
		gguf_kvs_take_arr_str(kvs, "tokenizer.ggml.merges", tj->merges,
				      tj->n_merges);
		tj->merges = NULL;
		tj->n_merges = 0;
	}
	if (chat_template && chat_template[0])
		gguf_kvs_set_str(kvs, "tokenizer.chat_template", chat_template);
	emit_specials(kvs, svs, n_svs);
}

/* Anything at dir/name: a FIFO or a dangling link there is then refused
 * by the reader with its reason instead of being taken as absent. */
static bool path_exists(const char *dir, const char *name)
{
	char *p = gg_path_join(dir, name);
	bool ok = gg_path_exists(p);
	free(p);
	return ok;
}

static int check_special_types(const char *const *types, size_t n,
			       gg_err *e)
{
	for (size_t i = 0; i < n; i++)
		if (!types[i] || !special_key(types[i]))
			return gg_fail(e, "unknown special token type \"%s\"",
				       types[i] ? types[i] : "(null)");
	return 0;
}

int tokenizer_load(const char *dir, uint32_t config_vocab_size,
		   const char *const *special_types, size_t n_special,
		   struct gguf_kvs *kvs, gg_err *e)
{
	return tokenizer_load_bounded(dir, config_vocab_size, UINT64_MAX,
				      special_types, n_special, kvs, e);
}

int tokenizer_load_bounded(const char *dir, uint32_t config_vocab_size,
			   uint64_t max_rows, const char *const *special_types,
			   size_t n_special, struct gguf_kvs *kvs, gg_err *e)
{
	struct tok_json tj;
	struct vocab v = { 0 };
	struct special *svs = NULL;
	size_t n_svs = 0;
	char *chat_template = NULL;
	int rc = -1;

	if (!special_types) {
		special_types = default_special_types;
		n_special = sizeof default_special_types / sizeof *default_special_types;
	}
	memset(&tj, 0, sizeof tj);
	if (check_special_types(special_types, n_special, e) != 0)
		goto out;
	if (tok_json_load(&tj, dir, e) != 0)
		goto out;
	/* tokenizer.json's own model.type is never consulted. */
	if (path_exists(dir, "tokenizer.model")) {
		if (vocab_from_spm(&v, dir, e) != 0)
			goto out;
	} else if (tj.root) {
		vocab_from_json(&tj, &v);
	} else {
		gg_fail(e, "%s: unknown tokenizer format (no tokenizer.model or tokenizer.json)",
			dir);
		goto out;
	}
	svs = gg_calloc(n_special, sizeof *svs);
	if (parse_tokenizer_config(dir, &tj, special_types, n_special,
				   &chat_template, svs, &n_svs, e) != 0 ||
	    parse_generation_config(dir, special_types, n_special, svs, n_svs,
				    e) != 0)
		goto out;
	if (config_vocab_size > v.n && config_vocab_size > MAX_PADDED_VOCAB) {
		gg_fail(e, "%s/config.json: vocab_size %u is implausible (tokenizer has %zu tokens; padding is limited to %u)",
			dir, config_vocab_size, v.n, MAX_PADDED_VOCAB);
		goto out;
	}
	if (config_vocab_size > v.n && config_vocab_size > max_rows) {
		gg_fail(e, "%s/config.json: vocab_size %u would pad the tokenizer's %zu tokens past every tensor dimension (the largest is %llu): no embedding holds that many tokens",
			dir, config_vocab_size, v.n, (unsigned long long)max_rows);
		goto out;
	}
	vocab_pad(&v, config_vocab_size);
	emit(kvs, &v, &tj, chat_template, svs, n_svs);
	rc = 0;
out:
	for (size_t i = 0; i < n_svs; i++)
		free(svs[i].ids);
	free(svs);
	free(chat_template);
	vocab_free(&v);
	tok_json_free(&tj);
	return rc;
}
