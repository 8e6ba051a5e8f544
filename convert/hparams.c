/* hparams.c - hyperparameter tables (hparams.h). */
#include "hparams.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonutil.h"

static bool active(const struct gg_hparam *h, enum gg_profile p)
{
	return gg_profile_allows(h->flags, GG_HP_LLAMACPP, GG_HP_OLLAMA, p);
}

/* Whether obj has a non-null member named key (case-insensitively, as Go
 * and the jsonutil getters match keys). */
static bool has_member(const cJSON *obj, const char *key)
{
	for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next)
		if (c->string && !cJSON_IsNull(c) && strcasecmp(c->string, key) == 0)
			return true;
	return false;
}

/* A getter's "<file>: <key>: ..." message with the key's full path. */
static int with_path(const struct gg_hp *hp, const char *path, gg_err *e)
{
	const char *rest = strstr(e->msg, ": ");
	rest = rest ? strstr(rest + 2, ": ") : NULL;
	char msg[GG_ERR_MAX];
	snprintf(msg, sizeof msg, "%s", rest ? rest + 2 : e->msg);
	return gg_fail(e, "%s: %s%s: %s", hp->file, hp->prefix, path, msg);
}

/* The object holding the last component of path ("a.b.c" -> obj.a.b),
 * with *leaf pointing at "c"; NULL (no error) when an object is absent. */
static int walk(const struct gg_hp *hp, const cJSON *obj, const char *path,
		const char **leaf, const cJSON **out, gg_err *e)
{
	const char *dot;
	*out = obj;
	*leaf = path;
	while ((dot = strchr(path, '.')) && *out) {
		char part[64];
		snprintf(part, sizeof part, "%.*s", (int)(dot - path), path);
		const cJSON *next = NULL;
		if (gg_json_obj(*out, part, &next, hp->file, e))
			return with_path(hp, part, e);
		*out = next;
		path = dot + 1;
	}
	*leaf = path;
	return 0;
}

/* Read one key (a full path) into v; present says whether it was there. */
static int read_key(const struct gg_hp *hp, const struct gg_hparam *h,
		    const cJSON *obj, const char *path, struct gg_hp_value *v,
		    bool *present, gg_err *e)
{
	const char *leaf;
	const cJSON *o;
	*present = false;
	if (walk(hp, obj, path, &leaf, &o, e))
		return -1;
	if (!has_member(o, leaf))
		return 0;
	*present = true;
	int rc = 0;
	switch (h->type) {
	case GG_HP_U32: {
		uint32_t u = 0;
		rc = gg_json_u32(o, leaf, &u, hp->file, e);
		v->num = u;
		break;
	}
	case GG_HP_F32: {
		float f = 0;
		rc = gg_json_f32(o, leaf, &f, hp->file, e);
		v->num = f;
		break;
	}
	case GG_HP_BOOL: {
		bool b = false;
		rc = gg_json_bool(o, leaf, &b, hp->file, e);
		v->num = b;
		break;
	}
	case GG_HP_STR:
		rc = gg_json_str(o, leaf, &v->str, hp->file, e);
		break;
	}
	return rc ? with_path(hp, path, e) : 0;
}

static bool is_zero(const struct gg_hparam *h, const struct gg_hp_value *v)
{
	if (h->type == GG_HP_STR)
		return !v->str || !v->str[0];
	if (h->type == GG_HP_BOOL)
		return false; /* a boolean given as false is still given */
	return v->num == 0;
}

/* "a (or b, c)" for the keys of h. */
static void key_list(const struct gg_hp *hp, const struct gg_hparam *h,
		     char *buf, size_t cap)
{
	const char *bar = strchr(h->keys, '|');
	if (!bar) {
		snprintf(buf, cap, "%s%s", hp->prefix, h->keys);
		return;
	}
	snprintf(buf, cap, "%s%.*s (or ", hp->prefix, (int)(bar - h->keys), h->keys);
	size_t len = strlen(buf);
	for (const char *p = bar + 1; *p && len + 3 < cap; p++)
		buf[len++] = *p == '|' ? ',' : *p, buf[len] = 0;
	snprintf(buf + strlen(buf), cap - strlen(buf), ")");
}

/* The first key of a '|' list as its own string. */
static const char *key_at(const char *k, char *buf, size_t cap)
{
	snprintf(buf, cap, "%.*s", (int)strcspn(k, "|"), k);
	return buf;
}

static int check_value(const struct gg_hp *hp, const struct gg_hparam *h,
		       const struct gg_hp_value *v, bool present, gg_err *e)
{
	char keys[256], key[128];
	key_list(hp, h, keys, sizeof keys);
	if ((h->flags & GG_HP_REQUIRED) && !v->given)
		return gg_fail(e, "%s: %s %s: llama.cpp needs it", hp->file,
			       keys, present ? "is 0 or empty" : "is missing");
	if ((h->flags & GG_HP_POSITIVE) && present && !(v->num > 0) &&
	    h->type != GG_HP_STR && h->type != GG_HP_BOOL)
		return gg_fail(e, "%s: %s%s is %g: it must be positive", hp->file,
			       hp->prefix, key_at(v->key, key, sizeof key), v->num);
	return 0;
}

/* Alternatives in order; the first present non-zero one wins, and a
 * default stands in when none is (as Go's cmp.Or(..., def)). */
static int read_entry(const struct gg_hp *hp, const struct gg_hparam *h,
		      const cJSON *obj, struct gg_hp_value *v, gg_err *e)
{
	bool any_present = false;
	for (const char *k = h->keys; *k;) {
		size_t len = strcspn(k, "|");
		char path[128];
		snprintf(path, sizeof path, "%.*s", (int)len, k);
		struct gg_hp_value one = { .key = k };
		bool present;
		if (read_key(hp, h, obj, path, &one, &present, e))
			return -1;
		if (present && !any_present)
			*v = one; /* what the first key said, for messages */
		any_present = any_present || present;
		if (present && !is_zero(h, &one)) {
			*v = one;
			v->given = true;
			break;
		}
		k += len + (k[len] == '|');
	}
	if (!v->given && h->def != 0 && h->type != GG_HP_STR)
		v->num = h->def;
	return check_value(hp, h, v, any_present, e);
}

int gg_hp_add(struct gg_hp *hp, const struct gg_hparam *spec, size_t n, gg_err *e)
{
	hp->spec = gg_realloc(hp->spec, (hp->n + n + 1) * sizeof *hp->spec);
	hp->v = gg_realloc(hp->v, (hp->n + n + 1) * sizeof *hp->v);
	for (size_t i = 0; i < n; i++) {
		size_t k = hp->n++;
		hp->spec[k] = &spec[i];
		memset(&hp->v[k], 0, sizeof hp->v[k]);
		if (active(&spec[i], hp->profile) &&
		    read_entry(hp, &spec[i], hp->obj, &hp->v[k], e)) {
			gg_hp_free(hp);
			return -1;
		}
	}
	return 0;
}

int gg_hp_read(struct gg_hp *hp, const struct gg_hparam *spec, size_t n,
	       const cJSON *obj, const char *file, const char *prefix,
	       enum gg_profile profile, gg_err *e)
{
	memset(hp, 0, sizeof *hp);
	hp->profile = profile;
	hp->file = file;
	hp->obj = obj;
	snprintf(hp->prefix, sizeof hp->prefix, "%s", prefix ? prefix : "");
	return gg_hp_add(hp, spec, n, e);
}

void gg_hp_free(struct gg_hp *hp)
{
	for (size_t i = 0; i < hp->nextra; i++)
		free(hp->extra[i].name);
	free(hp->extra);
	free(hp->spec);
	free(hp->v);
	memset(hp, 0, sizeof *hp);
}

/* The spec entry active in this profile called name, or -1. */
static long find(const struct gg_hp *hp, const char *name)
{
	long other = -1;
	for (size_t i = 0; i < hp->n; i++) {
		if (strcmp(hp->spec[i]->name, name) != 0)
			continue;
		if (active(hp->spec[i], hp->profile))
			return (long)i;
		other = -2;
	}
	return other;
}

static const struct gg_hp_extra *find_extra(const struct gg_hp *hp, const char *name)
{
	for (size_t i = 0; i < hp->nextra; i++)
		if (strcmp(hp->extra[i].name, name) == 0)
			return &hp->extra[i];
	return NULL;
}

static const struct gg_hp_value *value_of(const struct gg_hp *hp, const char *name)
{
	static const struct gg_hp_value none = { 0 };
	long i = find(hp, name);
	if (i >= 0)
		return &hp->v[i];
	if (i == -2)
		return &none; /* an entry of the other profile */
	if (find_extra(hp, name))
		return NULL;
	fprintf(stderr, "gguffs: internal error: no hyperparameter '%s'\n", name);
	abort();
}

double gg_hp_num(const struct gg_hp *hp, const char *name)
{
	const struct gg_hp_value *v = value_of(hp, name);
	return v ? v->num : find_extra(hp, name)->num;
}

uint32_t gg_hp_u32(const struct gg_hp *hp, const char *name)
{
	double d = gg_hp_num(hp, name);
	return d > 0 && d <= (double)UINT32_MAX ? (uint32_t)d : 0;
}

float gg_hp_f32(const struct gg_hp *hp, const char *name)
{
	return (float)gg_hp_num(hp, name);
}

bool gg_hp_bool(const struct gg_hp *hp, const char *name)
{
	return gg_hp_num(hp, name) != 0;
}

const char *gg_hp_str(const struct gg_hp *hp, const char *name)
{
	const struct gg_hp_value *v = value_of(hp, name);
	return v ? v->str : NULL;
}

bool gg_hp_given(const struct gg_hp *hp, const char *name)
{
	const struct gg_hp_value *v = value_of(hp, name);
	return v ? v->given : true;
}

void gg_hp_set(struct gg_hp *hp, const char *name, double v)
{
	long i = find(hp, name);
	if (i >= 0) {
		hp->v[i].num = v;
		hp->v[i].given = true;
		return;
	}
	for (size_t k = 0; k < hp->nextra; k++) {
		if (strcmp(hp->extra[k].name, name) == 0) {
			hp->extra[k].num = v;
			return;
		}
	}
	hp->extra = gg_realloc(hp->extra, (hp->nextra + 1) * sizeof *hp->extra);
	hp->extra[hp->nextra++] = (struct gg_hp_extra){ gg_strdup(name), v };
}

void gg_hp_write_kv(const struct gg_hp *hp, struct gguf_kvs *kv, const char *arch)
{
	for (size_t i = 0; i < hp->n; i++) {
		const struct gg_hparam *h = hp->spec[i];
		const struct gg_hp_value *v = &hp->v[i];
		if (!h->gguf || !active(h, hp->profile))
			continue;
		bool always = h->flags & GG_HP_ALWAYS;
		switch (h->type) {
		case GG_HP_U32:
			if (v->num != 0 || always)
				gg_kv_arch_u32(kv, arch, h->gguf, (uint32_t)v->num);
			break;
		case GG_HP_F32:
			if (v->num != 0 || always)
				gg_kv_arch_f32(kv, arch, h->gguf, (float)v->num);
			break;
		case GG_HP_BOOL:
			if (v->given || always)
				gg_kv_arch_bool(kv, arch, h->gguf, v->num != 0);
			break;
		case GG_HP_STR:
			if (v->given)
				gg_kv_arch_str(kv, arch, h->gguf, v->str);
			break;
		}
	}
}

int gg_hp_refuse(const struct gg_hp *hp, const char *name, const char *why, gg_err *e)
{
	long i = find(hp, name);
	char buf[128];
	const char *key = i < 0 ? name :
		key_at(hp->v[i].key ? hp->v[i].key : hp->spec[i]->keys, buf, sizeof buf);
	return gg_fail(e, "%s: %s%s %s", hp->file, hp->prefix, key, why);
}

int gg_hp_divisible(const struct gg_hp *hp, const char *of, const char *by, gg_err *e)
{
	uint32_t a = gg_hp_u32(hp, of), b = gg_hp_u32(hp, by);
	if (b != 0 && a % b == 0)
		return 0;
	char why[200], buf[128];
	long j = find(hp, by);
	const char *bykey = j < 0 ? by :
		key_at(hp->v[j].key ? hp->v[j].key : hp->spec[j]->keys, buf, sizeof buf);
	snprintf(why, sizeof why, "%u is not a multiple of %s %u", a, bykey, b);
	return gg_hp_refuse(hp, of, why, e);
}

/* ---- "<arch>.<key>" ---- */

static const char *arch_key(char *buf, size_t cap, const char *arch, const char *key)
{
	snprintf(buf, cap, "%s.%s", arch, key);
	return buf;
}

void gg_kv_arch_u32(struct gguf_kvs *kvs, const char *arch, const char *key, uint32_t v)
{
	char name[256];
	gguf_kvs_set_u32(kvs, arch_key(name, sizeof name, arch, key), v);
}

void gg_kv_arch_f32(struct gguf_kvs *kvs, const char *arch, const char *key, float v)
{
	char name[256];
	gguf_kvs_set_f32(kvs, arch_key(name, sizeof name, arch, key), v);
}

void gg_kv_arch_bool(struct gguf_kvs *kvs, const char *arch, const char *key, bool v)
{
	char name[256];
	gguf_kvs_set_bool(kvs, arch_key(name, sizeof name, arch, key), v);
}

void gg_kv_arch_str(struct gguf_kvs *kvs, const char *arch, const char *key, const char *v)
{
	char name[256];
	gguf_kvs_set_str(kvs, arch_key(name, sizeof name, arch, key), v);
}
