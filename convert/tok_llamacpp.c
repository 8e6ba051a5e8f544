/* tok_llamacpp.c - tokenizer vocabularies as upstream llama.cpp reads them
 * (tok_llamacpp.h). Facts: convert_hf_to_gguf.py get_vocab_base (gpt2
 * path), Phi3MiniModel.set_vocab (SentencePiece with added tokens),
 * llama-vocab.cpp (the SentencePiece merge loop, the pre-tokenizer names).
 */
#include "tok_llamacpp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "spm.h"
#include "tokcache.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* convert_hf_to_gguf pads missing SentencePiece ids with this score. */
#define PAD_SCORE (-10000.0f)
#define ADDED_SCORE (-1000.0f)
/* A vocabulary longer than this is refused: a hostile config.json could
 * otherwise ask for gigabytes of "[PAD<n>]" strings. */
#define MAX_ROWS (1u << 23)

/* The o200k split regex (gpt-oss, GPT-4o, Phi-4-mini) as tokenizer.json
 * spells it. */
static const char O200K_REGEX[] =
	"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
	"|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
	"|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* llama.cpp's implementation of exactly that regex, marks included. */
#define O200K_PRE "granite-embed-multi-97m"

/* ---- the vocabulary being built -------------------------------------- */

struct lcv {
	struct gguf_str *tok; /* tok[i].s == NULL: hole */
	float *score;
	int32_t *type;
	uint32_t n;
	uint32_t *past;       /* distinct ids >= n met (dropped) */
	size_t npast, cappast;
};

static void lcv_init(struct lcv *v, uint32_t n)
{
	memset(v, 0, sizeof *v);
	v->n = n;
	v->tok = gg_calloc(n ? n : 1, sizeof *v->tok);
	v->score = gg_calloc(n ? n : 1, sizeof *v->score);
	v->type = gg_calloc(n ? n : 1, sizeof *v->type);
}

static void lcv_free(struct lcv *v)
{
	if (v->tok)
		for (uint32_t i = 0; i < v->n; i++)
			free(v->tok[i].s);
	free(v->tok);
	free(v->score);
	free(v->type);
	free(v->past);
	memset(v, 0, sizeof *v);
}

static void lcv_note_past(struct lcv *v, uint64_t id)
{
	if (v->npast == v->cappast) {
		v->cappast = v->cappast ? 2 * v->cappast : 16;
		v->past = gg_realloc(v->past, v->cappast * sizeof *v->past);
	}
	v->past[v->npast++] = (uint32_t)(id > UINT32_MAX ? UINT32_MAX : id);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Distinct ids met past the end (one id may be in the vocabulary and in
 * the added tokens). */
static uint32_t lcv_dropped(struct lcv *v)
{
	if (v->npast == 0)
		return 0;
	qsort(v->past, v->npast, sizeof *v->past, cmp_u32);
	uint32_t n = 0;
	for (size_t i = 0; i < v->npast; i++)
		n += i == 0 || v->past[i] != v->past[i - 1];
	return n;
}

/* Set token id (or note it dropped when past the end). */
static void lcv_set(struct lcv *v, uint64_t id, const char *s, size_t len,
		    float score, int32_t type)
{
	if (id >= v->n) {
		lcv_note_past(v, id);
		return;
	}
	free(v->tok[id].s);
	v->tok[id].s = gg_strndup(s, len);
	v->tok[id].n = len;
	v->score[id] = score;
	v->type[id] = type;
}

static void lcv_fill_holes(struct lcv *v, float score)
{
	char buf[32];
	for (uint32_t i = 0; i < v->n; i++) {
		if (v->tok[i].s)
			continue;
		int k = snprintf(buf, sizeof buf, "[PAD%u]", i);
		lcv_set(v, i, buf, (size_t)k, score, TT_UNUSED);
	}
}

/* Hand tokens (and optionally scores) to kvs. */
static void lcv_emit(struct lcv *v, struct gguf_kvs *kvs, bool scores)
{
	gguf_kvs_remove(kvs, "tokenizer.ggml.scores");
	if (scores)
		gguf_kvs_set_arr(kvs, "tokenizer.ggml.scores", GGUF_VT_F32, v->score, v->n);
	gguf_kvs_set_arr(kvs, "tokenizer.ggml.token_type", GGUF_VT_I32, v->type, v->n);
	gguf_kvs_take_arr_str(kvs, "tokenizer.ggml.tokens", v->tok, v->n);
	v->tok = NULL;
}

/* ---- tokenizer.json --------------------------------------------------- */

static bool is_byte_token(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>' &&
	       strchr(hex, s[3]) && strchr(hex, s[4]);
}

bool tok_looks_special(const char *s)
{
	size_t n = strlen(s);
	if (!strcmp(s, "<pad>") || !strcmp(s, "<mask>") || !strcmp(s, "<2mass>") ||
	    !strcmp(s, "[@BOS@]"))
		return true;
	if (n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>"))
		return true;
	/* "<｜" and "｜>": U+FF5C is 3 bytes */
	if (n >= 8 && !strncmp(s, "<\xef\xbd\x9c", 4) && !strcmp(s + n - 4, "\xef\xbd\x9c>"))
		return true;
	return n >= 8 && !strncmp(s, "<unused", 7) && s[n - 1] == '>';
}

static int json_id(const cJSON *v, const char *file, const char *what, uint64_t *id,
		   gg_err *e)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0 ||
	    v->valuedouble != (double)(uint64_t)v->valuedouble)
		return gg_fail(e, "%s: %s: token id must be a non-negative integer", file, what);
	*id = (uint64_t)v->valuedouble;
	return 0;
}

/* model.vocab {piece: id} into v with the given type (BYTE for <0xXX> when
 * bytes). */
static int json_vocab(const cJSON *tj, const char *file, struct lcv *v, bool bytes,
		      gg_err *e)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
	const cJSON *vocab = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
	if (!cJSON_IsObject(vocab))
		return gg_fail(e, "%s: model.vocab: expected an object of token ids", file);
	for (const cJSON *it = vocab->child; it; it = it->next) {
		uint64_t id = 0;
		if (json_id(it, file, "model.vocab", &id, e))
			return -1;
		int32_t type = bytes && is_byte_token(it->string) ? TT_BYTE : TT_NORMAL;
		lcv_set(v, id, it->string, strlen(it->string), 0, type);
	}
	return 0;
}

/* added_tokens [{id, content, special}]; CONTROL when special (or, with
 * heuristic, looking special), else USER_DEFINED. */
static int json_added(const cJSON *tj, const char *file, struct lcv *v, float score,
		      bool heuristic, gg_err *e)
{
	const cJSON *added = cJSON_GetObjectItemCaseSensitive(tj, "added_tokens");
	if (!added)
		return 0;
	if (!cJSON_IsArray(added))
		return gg_fail(e, "%s: added_tokens: expected a list", file);
	for (const cJSON *a = added->child; a; a = a->next) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
		uint64_t id = 0;
		if (!cJSON_IsString(c))
			return gg_fail(e, "%s: added_tokens: entry without a string content", file);
		if (json_id(cJSON_GetObjectItemCaseSensitive(a, "id"), file, "added_tokens", &id, e))
			return -1;
		bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special"));
		if (heuristic && tok_looks_special(c->valuestring))
			special = true;
		lcv_set(v, id, c->valuestring, strlen(c->valuestring), score,
			special ? TT_CONTROL : TT_USER);
	}
	return 0;
}

/* The first component of tokenizer.json's `section` (itself, or one of its
 * `list` when it is a Sequence) of the given type. */
static const cJSON *component(const cJSON *tj, const char *section, const char *list,
			      const char *type)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(tj, section);
	const cJSON *seq = c ? cJSON_GetObjectItemCaseSensitive(c, list) : NULL;
	for (const cJSON *p = cJSON_IsArray(seq) ? seq->child : c; p;
	     p = cJSON_IsArray(seq) ? p->next : NULL) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
		if (cJSON_IsString(t) && !strcmp(t->valuestring, type))
			return p;
	}
	return NULL;
}

/* The first Split regex of the pre-tokenizer. */
static const char *split_regex(const cJSON *tj)
{
	const cJSON *p = component(tj, "pre_tokenizer", "pretokenizers", "Split");
	const cJSON *pat = p ? cJSON_GetObjectItemCaseSensitive(p, "pattern") : NULL;
	const cJSON *re = pat ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
	return cJSON_IsString(re) ? re->valuestring : NULL;
}

/* A normalizer Prepend("▁"): SentencePiece's dummy prefix. */
static bool prepends_space(const cJSON *tj)
{
	const cJSON *p = component(tj, "normalizer", "normalizers", "Prepend");
	const cJSON *pre = p ? cJSON_GetObjectItemCaseSensitive(p, "prepend") : NULL;
	return cJSON_IsString(pre) && !strcmp(pre->valuestring, "\xe2\x96\x81");
}

/* ---- merge ranks as SentencePiece scores ----------------------------- */

struct piece_ref {
	const char *s;
	uint32_t id;
};

static int cmp_piece(const void *a, const void *b)
{
	return strcmp(((const struct piece_ref *)a)->s, ((const struct piece_ref *)b)->s);
}

/* One merge as its two halves; 0 when it has that shape. */
static int merge_parts(const cJSON *m, const char **a, size_t *alen, const char **b)
{
	if (cJSON_IsString(m)) {
		const char *sp = strchr(m->valuestring, ' ');
		if (!sp)
			return -1;
		*a = m->valuestring, *alen = (size_t)(sp - m->valuestring), *b = sp + 1;
		return 0;
	}
	if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
	    cJSON_IsString(m->child->next)) {
		*a = m->child->valuestring, *alen = strlen(*a), *b = m->child->next->valuestring;
		return 0;
	}
	return -1;
}

/* score(token) = -(1 + rank of the first merge whose result it is). */
static int merge_scores(const cJSON *tj, const char *file, struct lcv *v, gg_err *e)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(tj, "model");
	const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
	if (!merges || cJSON_IsNull(merges))
		return 0;
	if (!cJSON_IsArray(merges))
		return gg_fail(e, "%s: model.merges: expected a list", file);
	struct piece_ref *idx = gg_malloc((size_t)v->n * sizeof *idx);
	size_t n = 0;
	for (uint32_t i = 0; i < v->n; i++)
		if (v->tok[i].s && v->type[i] == TT_NORMAL)
			idx[n++] = (struct piece_ref){ v->tok[i].s, i };
	qsort(idx, n, sizeof *idx, cmp_piece);
	bool *ranked = gg_calloc(v->n ? v->n : 1, 1);
	char *buf = NULL;
	size_t cap = 0;
	uint64_t rank = 0;
	int rc = 0;
	for (const cJSON *m = merges->child; m; m = m->next, rank++) {
		const char *a, *b;
		size_t alen;
		if (merge_parts(m, &a, &alen, &b)) {
			rc = gg_fail(e, "%s: model.merges[%llu]: expected \"a b\" or [a, b]", file,
				     (unsigned long long)rank);
			break;
		}
		size_t blen = strlen(b);
		if (alen + blen + 1 > cap) {
			cap = 2 * (alen + blen + 1);
			buf = gg_realloc(buf, cap);
		}
		memcpy(buf, a, alen);
		memcpy(buf + alen, b, blen + 1);
		struct piece_ref key = { buf, 0 };
		const struct piece_ref *hit = bsearch(&key, idx, n, sizeof *idx, cmp_piece);
		if (hit && !ranked[hit->id]) {
			ranked[hit->id] = true;
			v->score[hit->id] = -(float)(rank + 1);
		}
	}
	free(buf);
	free(ranked);
	free(idx);
	return rc;
}

/* ---- the three styles ----------------------------------------------- */

/* One step of a style, on a parsed JSON file. */
typedef int (*json_step)(const cJSON *j, const char *file, struct lcv *v,
			 struct gguf_kvs *kvs, gg_err *e);

/* Parse dir/name and run fn on it; an optional file that is absent is
 * skipped. */
static int with_json(const char *dir, const char *name, bool optional, json_step fn,
		     struct lcv *v, struct gguf_kvs *kvs, gg_err *e)
{
	cJSON *j = NULL;
	char *file = gg_path_join(dir, name);
	int rc = gg_json_load(file, optional, false, &j, e);
	if (rc == 0 && j)
		rc = fn(j, file, v, kvs, e);
	cJSON_Delete(j);
	free(file);
	return rc;
}

static int bpe_step(const cJSON *tj, const char *file, struct lcv *v,
		    struct gguf_kvs *kvs, gg_err *e)
{
	if (json_vocab(tj, file, v, false, e) || json_added(tj, file, v, 0, true, e))
		return -1;
	lcv_fill_holes(v, 0);
	const char *re = split_regex(tj);
	gguf_kvs_set_str(kvs, "tokenizer.ggml.model", "gpt2");
	if (re && !strcmp(re, O200K_REGEX))
		gguf_kvs_set_str(kvs, "tokenizer.ggml.pre", O200K_PRE);
	gguf_kvs_remove(kvs, "tokenizer.ggml.add_space_prefix");
	lcv_emit(v, kvs, false);
	return 0;
}

static int spm_json_step(const cJSON *tj, const char *file, struct lcv *v,
			 struct gguf_kvs *kvs, gg_err *e)
{
	if (json_vocab(tj, file, v, true, e) || merge_scores(tj, file, v, e) ||
	    json_added(tj, file, v, 0, false, e))
		return -1;
	lcv_fill_holes(v, PAD_SCORE);
	gguf_kvs_set_bool(kvs, "tokenizer.ggml.add_space_prefix", prepends_space(tj));
	return 0;
}

/* added_tokens.json {content: id}. */
static int added_json_step(const cJSON *j, const char *file, struct lcv *v,
			   struct gguf_kvs *kvs, gg_err *e)
{
	(void)kvs;
	for (const cJSON *it = j->child; it; it = it->next) {
		uint64_t id = 0;
		if (json_id(it, file, it->string, &id, e))
			return -1;
		lcv_set(v, id, it->string, strlen(it->string), ADDED_SCORE, TT_USER);
	}
	return 0;
}

/* tokenizer_config.json added_tokens_decoder {"id": {content, special}}. */
static int decoder_step(const cJSON *j, const char *file, struct lcv *v,
			struct gguf_kvs *kvs, gg_err *e)
{
	(void)kvs;
	const cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "added_tokens_decoder");
	if (dec && !cJSON_IsObject(dec))
		return gg_fail(e, "%s: added_tokens_decoder: expected an object", file);
	for (const cJSON *it = dec ? dec->child : NULL; it; it = it->next) {
		char *end;
		unsigned long long id = strtoull(it->string, &end, 10);
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
		if (!*it->string || *end || !cJSON_IsString(c))
			return gg_fail(e, "%s: added_tokens_decoder: bad entry \"%s\"", file, it->string);
		bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "special"));
		lcv_set(v, id, c->valuestring, strlen(c->valuestring), ADDED_SCORE,
			special ? TT_CONTROL : TT_USER);
	}
	return 0;
}

/* tokenizer.json added_tokens on the SentencePiece path. */
static int tj_added_step(const cJSON *tj, const char *file, struct lcv *v,
			 struct gguf_kvs *kvs, gg_err *e)
{
	(void)kvs;
	return json_added(tj, file, v, ADDED_SCORE, false, e);
}

static int spm_pieces(const char *dir, struct lcv *v, gg_err *e)
{
	struct spm_model sm = { 0 };
	char *path = gg_path_join(dir, "tokenizer.model");
	int rc = spm_load(path, &sm, e);
	free(path);
	if (rc)
		return -1;
	for (size_t i = 0; i < sm.n; i++) {
		const struct spm_piece *p = &sm.pieces[i];
		int32_t type = p->type == SPM_USER_DEFINED ? TT_NORMAL : (int32_t)p->type;
		lcv_set(v, i, p->piece, strlen(p->piece), p->score, type);
	}
	spm_free(&sm);
	lcv_fill_holes(v, PAD_SCORE);
	return 0;
}

static int style_spm_model(const char *dir, struct lcv *v, struct gguf_kvs *kvs, gg_err *e)
{
	if (spm_pieces(dir, v, e) ||
	    with_json(dir, "added_tokens.json", true, added_json_step, v, kvs, e) ||
	    with_json(dir, "tokenizer_config.json", true, decoder_step, v, kvs, e) ||
	    with_json(dir, "tokenizer.json", true, tj_added_step, v, kvs, e))
		return -1;
	/* convert_hf_to_gguf writes no add_space_prefix here: llama.cpp's
	 * SentencePiece default (true) applies. */
	gguf_kvs_remove(kvs, "tokenizer.ggml.add_space_prefix");
	return 0;
}

/* Both SentencePiece styles: a "llama" vocabulary without merges. */
static void emit_spm(struct lcv *v, struct gguf_kvs *kvs)
{
	gguf_kvs_set_str(kvs, "tokenizer.ggml.model", "llama");
	gguf_kvs_set_str(kvs, "tokenizer.ggml.pre", "default");
	gguf_kvs_remove(kvs, "tokenizer.ggml.merges");
	lcv_emit(v, kvs, true);
}

/* Every key a style sets or removes: what its cache entry holds. */
static const char *const style_keys[] = {
	"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
	"tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
	"tokenizer.ggml.add_space_prefix",
};
#define DROPPED_KEY "gguffs.tok_llamacpp.dropped"

static const char *variant(enum tok_style style)
{
	switch (style) {
	case TOK_STYLE_BPE: return "llamacpp-bpe-1";
	case TOK_STYLE_SPM_JSON: return "llamacpp-spm-json-1";
	case TOK_STYLE_SPM_MODEL: return "llamacpp-spm-model-1";
	}
	return NULL;
}

/* The style's keys from the on-disk cache (tokcache.h), if there. */
static bool from_cache(const char *dir, enum tok_style style, uint32_t n_rows,
		       struct gguf_kvs *kvs, uint32_t *dropped)
{
	struct gguf_kvs *hit = gguf_kvs_new();
	bool ok = variant(style) && tokcache_load_variant(dir, n_rows, variant(style), hit);
	if (ok) {
		const struct gguf_kv *d = gguf_kvs_get(hit, DROPPED_KEY);
		if (dropped)
			*dropped = d ? (uint32_t)d->v.u : 0;
		gguf_kvs_remove(hit, DROPPED_KEY);
		for (size_t i = 0; i < sizeof style_keys / sizeof *style_keys; i++)
			gguf_kvs_remove(kvs, style_keys[i]);
		gguf_kvs_move(kvs, hit);
	}
	gguf_kvs_free(hit);
	return ok;
}

static void to_cache(const char *dir, enum tok_style style, uint32_t n_rows,
		     const struct gguf_kvs *kvs, uint32_t dropped)
{
	struct gguf_kvs *snap = gguf_kvs_new();
	for (size_t i = 0; i < sizeof style_keys / sizeof *style_keys; i++)
		gguf_kvs_copy_key(snap, kvs, style_keys[i]);
	gguf_kvs_set_u32(snap, DROPPED_KEY, dropped);
	tokcache_store_variant(dir, n_rows, variant(style), snap);
	gguf_kvs_free(snap);
}

static int compute(const char *dir, enum tok_style style, uint32_t n_rows,
		   struct gguf_kvs *kvs, uint32_t *dropped, gg_err *e);

int tok_llamacpp_apply(const char *dir, enum tok_style style, uint32_t n_rows,
		       struct gguf_kvs *kvs, uint32_t *dropped, gg_err *e)
{
	if (n_rows == 0 || n_rows > MAX_ROWS)
		return gg_fail(e, "%s: a vocabulary of %u tokens is implausible", dir, n_rows);
	if (from_cache(dir, style, n_rows, kvs, dropped))
		return 0;
	uint32_t n_dropped = 0;
	if (compute(dir, style, n_rows, kvs, &n_dropped, e))
		return -1;
	to_cache(dir, style, n_rows, kvs, n_dropped);
	if (dropped)
		*dropped = n_dropped;
	return 0;
}

static int compute(const char *dir, enum tok_style style, uint32_t n_rows,
		   struct gguf_kvs *kvs, uint32_t *dropped, gg_err *e)
{
	struct lcv v;
	lcv_init(&v, n_rows);
	int rc;
	switch (style) {
	case TOK_STYLE_BPE:
		rc = with_json(dir, "tokenizer.json", false, bpe_step, &v, kvs, e);
		break;
	case TOK_STYLE_SPM_JSON:
		rc = with_json(dir, "tokenizer.json", false, spm_json_step, &v, kvs, e);
		if (rc == 0)
			emit_spm(&v, kvs);
		break;
	case TOK_STYLE_SPM_MODEL:
		rc = style_spm_model(dir, &v, kvs, e);
		if (rc == 0)
			emit_spm(&v, kvs);
		break;
	default:
		rc = gg_fail(e, "%s: unknown tokenizer style %d", dir, (int)style);
	}
	if (rc == 0 && dropped)
		*dropped = lcv_dropped(&v);
	lcv_free(&v);
	return rc;
}

/* ---- Ollama's gpt2 vocabulary, retyped ---------------------------------- */

/* Where Ollama's padding "[PAD0]", "[PAD1]", ... (USER_DEFINED) starts,
 * or n when the list has none. */
static uint64_t ollama_pad_start(const struct gguf_str *tok, const int32_t *type, uint64_t n)
{
	unsigned long long k;
	char tail;
	if (n == 0 || sscanf(tok[n - 1].s, "[PAD%llu]%c", &k, &tail) != 1 || k >= n)
		return n;
	uint64_t start = n - 1 - k;
	for (uint64_t i = start; i < n; i++) {
		char want[32];
		snprintf(want, sizeof want, "[PAD%llu]", (unsigned long long)(i - start));
		if (type[i] != TT_USER || strcmp(tok[i].s, want) != 0)
			return n;
	}
	return start;
}

void tok_llamacpp_retype_bpe(struct gguf_kvs *kvs)
{
	const struct gguf_kv *tk = gguf_kvs_get(kvs, "tokenizer.ggml.tokens");
	const struct gguf_kv *ty = gguf_kvs_get(kvs, "tokenizer.ggml.token_type");
	const struct gguf_kv *model = gguf_kvs_get(kvs, "tokenizer.ggml.model");
	if (!tk || !ty || !model || tk->type != GGUF_VT_ARRAY || tk->arr_type != GGUF_VT_STRING ||
	    ty->type != GGUF_VT_ARRAY || ty->arr_type != GGUF_VT_I32 || ty->arr_n != tk->arr_n ||
	    model->type != GGUF_VT_STRING || strcmp(model->str.s, "gpt2") != 0)
		return;
	uint64_t n = tk->arr_n;
	const struct gguf_str *old = tk->arr;
	int32_t *types = gg_malloc(n * sizeof *types + 1);
	memcpy(types, ty->arr, n * sizeof *types);
	uint64_t pad = ollama_pad_start(old, types, n);
	struct gguf_str *tok = gg_calloc(n + 1, sizeof *tok);
	for (uint64_t i = 0; i < n; i++) {
		if (i >= pad) {
			char name[32];
			int len = snprintf(name, sizeof name, "[PAD%llu]", (unsigned long long)i);
			tok[i] = (struct gguf_str){ gg_strndup(name, (size_t)len), (uint64_t)len };
			types[i] = TT_UNUSED;
			continue;
		}
		tok[i] = (struct gguf_str){ gg_strndup(old[i].s, old[i].n), old[i].n };
		if (types[i] == TT_USER && tok_looks_special(tok[i].s))
			types[i] = TT_CONTROL;
	}
	gguf_kvs_take_arr_str(kvs, "tokenizer.ggml.tokens", tok, n);
	gguf_kvs_set_arr(kvs, "tokenizer.ggml.token_type", GGUF_VT_I32, types, n);
	gguf_kvs_remove(kvs, "tokenizer.ggml.scores");
	free(types);
}
