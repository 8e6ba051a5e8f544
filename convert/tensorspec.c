/* tensorspec.c - output tensors against llama.cpp's loader (tensorspec.h). */
#include "tensorspec.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
	const struct gg_tensor_spec *spec;
	const struct gg_outfile *f;
	const char *arch;
	int64_t layer; /* the block being checked, or -1 */
	int depth;
};

static const char *where(const struct gg_outfile *f)
{
	return f->origin ? f->origin : f->name;
}

static int eval(struct ctx *c, const char *s, size_t len, uint64_t *out);

/* An integer KV of the architecture, or false when absent (arrays and
 * non-integers count as absent: these converters never write them). */
static bool kv_uint(const struct ctx *c, const char *key, uint64_t *out)
{
	char name[256];
	if (strcmp(key, "@tokens") == 0) {
		const struct gguf_kv *kv = gguf_kvs_get(c->f->kvs, "tokenizer.ggml.tokens");
		if (!kv || kv->type != GGUF_VT_ARRAY)
			return false;
		*out = kv->arr_n;
		return true;
	}
	snprintf(name, sizeof name, "%s.%s", c->arch, key);
	const struct gguf_kv *kv = gguf_kvs_get(c->f->kvs, name);
	if (!kv)
		return false;
	switch (kv->type) {
	case GGUF_VT_U8: case GGUF_VT_U16: case GGUF_VT_U32: case GGUF_VT_U64:
		*out = kv->v.u;
		return true;
	case GGUF_VT_I8: case GGUF_VT_I16: case GGUF_VT_I32: case GGUF_VT_I64:
		*out = kv->v.i < 0 ? 0 : (uint64_t)kv->v.i;
		return true;
	default:
		return false;
	}
}

static uint64_t sym_value(struct ctx *c, const char *name, size_t len)
{
	if (len == 5 && memcmp(name, "layer", 5) == 0)
		return c->layer < 0 ? 0 : (uint64_t)c->layer;
	for (size_t i = 0; i < c->spec->nsyms; i++) {
		const struct gg_tsym *s = &c->spec->syms[i];
		if (strlen(s->name) != len || memcmp(s->name, name, len) != 0)
			continue;
		uint64_t v = 0;
		if (s->key && kv_uint(c, s->key, &v))
			return v;
		if (!s->def || c->depth > 8)
			return 0;
		c->depth++;
		if (eval(c, s->def, strlen(s->def), &v))
			v = 0;
		c->depth--;
		return v;
	}
	fprintf(stderr, "gguffs: internal error: tensor spec %s has no symbol '%.*s'\n",
		c->spec->loader, (int)len, name);
	abort();
}

/* Products, quotients and remainders of integers and symbols, left to
 * right, at *p (up to end or a '+' / '-'). -1 when a quotient is not whole
 * or divides by 0 (nothing can have that shape). */
static int eval_term(struct ctx *c, const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t acc = 1;
	char op = '*';
	for (;;) {
		while (p < end && *p == ' ')
			p++;
		const char *t = p;
		uint64_t v;
		if (p < end && isdigit((unsigned char)*p)) {
			v = 0;
			while (p < end && isdigit((unsigned char)*p))
				v = v * 10 + (uint64_t)(*p++ - '0');
		} else {
			while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
				p++;
			v = sym_value(c, t, (size_t)(p - t));
		}
		if (op == '*') {
			acc *= v;
		} else if (op == '%') {
			if (v == 0)
				return -1;
			acc %= v;
		} else {
			if (v == 0 || acc % v)
				return -1;
			acc /= v;
		}
		while (p < end && *p == ' ')
			p++;
		if (p >= end || (*p != '*' && *p != '/' && *p != '%'))
			break;
		op = *p++;
	}
	*pp = p;
	*out = acc;
	return 0;
}

/* A sum / difference of terms; -1 as eval_term, or when it goes below 0. */
static int eval(struct ctx *c, const char *s, size_t len, uint64_t *out)
{
	const char *p = s, *end = s + len;
	int64_t acc = 0;
	char op = '+';
	while (p < end) {
		uint64_t v;
		if (eval_term(c, &p, end, &v))
			return -1;
		acc = op == '+' ? acc + (int64_t)v : acc - (int64_t)v;
		if (p < end)
			op = *p++;
	}
	if (acc < 0)
		return -1;
	*out = (uint64_t)acc;
	return 0;
}

static bool cond_true(struct ctx *c, const char *when)
{
	if (!when)
		return true;
	static const char *const ops[] = { "==", "!=", "<=", ">=", "<", ">" };
	for (int i = 0; i < 6; i++) {
		const char *at = strstr(when, ops[i]);
		if (!at)
			continue;
		uint64_t a, b;
		size_t olen = strlen(ops[i]);
		if (eval(c, when, (size_t)(at - when), &a) ||
		    eval(c, at + olen, strlen(at + olen), &b))
			return false;
		switch (i) {
		case 0: return a == b;
		case 1: return a != b;
		case 2: return a <= b;
		case 3: return a >= b;
		case 4: return a < b;
		default: return a > b;
		}
	}
	return false;
}

/* Whether name fits pattern; *layer is the '#' block (or -1). */
static bool name_fits(const char *pat, const char *name, int64_t *layer)
{
	*layer = -1;
	for (;; pat++, name++) {
		if (*pat == '*' && pat[1] == 0)
			return true;
		if (*pat == '#') {
			if (!isdigit((unsigned char)*name) || (name[0] == '0' && isdigit((unsigned char)name[1])))
				return false;
			int64_t v = 0;
			while (isdigit((unsigned char)*name) && v < (1 << 30))
				v = v * 10 + (*name++ - '0');
			*layer = v;
			name--;
			continue;
		}
		if (*pat != *name)
			return false;
		if (!*pat)
			return true;
	}
}

static bool rule_active(const struct gg_trule *r, enum gg_profile p)
{
	return gg_profile_allows(r->flags, GG_T_LLAMACPP, GG_T_OLLAMA, p);
}

static const struct gg_trule *rule_for(struct ctx *c, const char *name,
				       uint64_t n_layer, enum gg_profile p)
{
	for (size_t i = 0; i < c->spec->nrules; i++) {
		const struct gg_trule *r = &c->spec->rules[i];
		int64_t layer;
		if (!rule_active(r, p) || !name_fits(r->name, name, &layer))
			continue;
		if (layer >= 0 && (uint64_t)layer >= n_layer)
			continue;
		c->layer = layer;
		if (cond_true(c, r->when))
			return r;
	}
	return NULL;
}

static void shape_str(const uint64_t *ne, uint32_t n, char *buf, size_t cap)
{
	size_t len = (size_t)snprintf(buf, cap, "{");
	for (uint32_t i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%" PRIu64, i ? ", " : "", ne[i]);
	if (len < cap)
		snprintf(buf + len, cap - len, "}");
}

static const char *source_of(const struct gg_tensor *t)
{
	return t->nsrc && t->srcs[0].st ? t->srcs[0].st->name : NULL;
}

static int check_shape(struct ctx *c, const struct gg_trule *r, const struct gg_tensor *t,
		       gg_err *e)
{
	uint64_t want[GGUF_MAX_DIMS];
	uint32_t n = 0;
	for (const char *p = r->shape; *p && n < GGUF_MAX_DIMS;) {
		size_t len = strcspn(p, ",");
		if (eval(c, p, len, &want[n]))
			want[n] = 0;
		n++;
		p += len + (p[len] == ',');
	}
	bool ok = true;
	for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++) {
		uint64_t have = i < t->n_dims ? t->ne[i] : 1, w = i < n ? want[i] : 1;
		ok = ok && have == w;
	}
	if (ok)
		return 0;
	char got[128], exp[128];
	shape_str(t->ne, t->n_dims, got, sizeof got);
	shape_str(want, n, exp, sizeof exp);
	const char *src = source_of(t);
	return gg_fail(e, "%s: tensor '%s'%s%s%s has shape %s, but llama.cpp's %s loader expects %s",
		       where(c->f), t->name, src ? " (from " : "", src ? src : "",
		       src ? ")" : "", got, c->spec->loader, exp);
}

static int cannot_map(struct ctx *c, const struct gg_tensor *t, gg_err *e)
{
	const char *src = source_of(t);
	if (src && strcmp(src, t->name) != 0)
		return gg_fail(e, "%s: cannot map tensor '%s' (it would be '%s', which llama.cpp's %s loader does not create)",
			       where(c->f), src, t->name, c->spec->loader);
	return gg_fail(e, "%s: cannot map tensor '%s': llama.cpp's %s loader has no such tensor",
		       where(c->f), src ? src : t->name, c->spec->loader);
}

/* Every non-optional rule's tensors (per block for '#') must be there. */
static int check_required(struct ctx *c, uint64_t n_layer, enum gg_profile p, gg_err *e)
{
	for (size_t i = 0; i < c->spec->nrules; i++) {
		const struct gg_trule *r = &c->spec->rules[i];
		if (!rule_active(r, p) || (r->flags & GG_T_OPTIONAL) || strchr(r->name, '*'))
			continue;
		const char *hash = strchr(r->name, '#');
		uint64_t blocks = hash ? n_layer : 1;
		for (uint64_t l = 0; l < blocks; l++) {
			char name[256];
			c->layer = hash ? (int64_t)l : -1;
			if (!cond_true(c, r->when))
				continue;
			if (hash)
				snprintf(name, sizeof name, "%.*s%" PRIu64 "%s",
					 (int)(hash - r->name), r->name, l, hash + 1);
			else
				snprintf(name, sizeof name, "%s", r->name);
			if (!gg_outfile_find((struct gg_outfile *)c->f, name))
				return gg_fail(e, "%s: tensor '%s' is missing: llama.cpp's %s loader requires it",
					       where(c->f), name, c->spec->loader);
		}
	}
	return 0;
}

int gg_spec_check(const struct gg_tensor_spec *spec, const struct gg_outfile *f,
		  enum gg_profile p, gg_err *e)
{
	const struct gguf_kv *arch = gguf_kvs_get(f->kvs, "general.architecture");
	struct ctx c = { .spec = spec, .f = f, .layer = -1,
			 .arch = arch && arch->type == GGUF_VT_STRING ? arch->str.s : "" };
	uint64_t n_layer = sym_value(&c, spec->layers, strlen(spec->layers));
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		const struct gg_trule *r = rule_for(&c, t->name, n_layer, p);
		if (!r)
			return cannot_map(&c, t, e);
		if (r->shape && check_shape(&c, r, t, e))
			return -1;
	}
	return check_required(&c, n_layer, p, e);
}
