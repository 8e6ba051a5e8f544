/* naming.c - llama.cpp's model and file names (contract in naming.h).
 *
 * The rules are gguf-py's (metadata.py get_model_id_components, id_to_title,
 * apply_metadata_heuristic; utility.py model_weight_count_rounded_notation,
 * size_label, naming_convention), written again in C; the regular
 * expressions they use are matched by hand, ASCII only.
 */
#include "naming.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftype.h"
#include "jsonutil.h"

#define MAX_PARTS 64
#define MODEL_CARD_MAX (4u << 20)

/* ---- the regular expressions of get_model_id_components ---- */

/* (v|iter)?\d+([.]\d+)* */
static bool is_version(const char *s)
{
	if (tolower((unsigned char)s[0]) == 'v')
		s++;
	else if (strncasecmp(s, "iter", 4) == 0)
		s += 4;
	for (;;) {
		size_t n = strspn(s, "0123456789");
		if (n == 0)
			return false;
		s += n;
		if (!*s)
			return true;
		if (*s++ != '.')
			return false;
	}
}

/* i?q\d(_\w)*|b?fp?(16|32) */
static bool is_quant_type(const char *s)
{
	const char *p = s;
	if (tolower((unsigned char)*p) == 'i')
		p++;
	if (tolower((unsigned char)*p) == 'q' && isdigit((unsigned char)p[1])) {
		for (p += 2; *p; p += 2)
			if (p[0] != '_' || !(isalnum((unsigned char)p[1]) || p[1] == '_'))
				break;
		if (!*p)
			return true;
	}
	p = s;
	if (tolower((unsigned char)*p) == 'b')
		p++;
	if (tolower((unsigned char)*p) != 'f')
		return false;
	p++;
	if (tolower((unsigned char)*p) == 'p')
		p++;
	return strcmp(p, "16") == 0 || strcmp(p, "32") == 0;
}

/* \d+([._]\d+)?[KMBT][\d]? */
static bool size_core(const char *p)
{
	size_t n = strspn(p, "0123456789");
	if (n == 0)
		return false;
	p += n;
	if ((*p == '.' || *p == '_') && isdigit((unsigned char)p[1]))
		p += 1 + strspn(p + 1, "0123456789");
	if (!*p || !strchr("kmbtKMBT", *p))
		return false;
	p++;
	if (isdigit((unsigned char)*p))
		p++;
	return *p == 0;
}

/* (([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl) */
static bool is_size(const char *s)
{
	static const char *const words[] = {"small", "mini", "medium", "large", "xl", "xxl"};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	if (size_core(s))
		return true;
	if (tolower((unsigned char)s[0]) == 'a')
		return size_core(s + 1);
	size_t n = strspn(s, "0123456789");
	return n && tolower((unsigned char)s[n]) == 'x' && size_core(s + n + 1);
}

static bool is_finetune_word(const char *s)
{
	return strcasecmp(s, "chat") == 0 || strcasecmp(s, "instruct") == 0 ||
	       strcasecmp(s, "vision") == 0 || strcasecmp(s, "lora") == 0;
}

/* ---- get_model_id_components ---- */

enum { T_BASENAME = 1, T_SIZE = 2, T_FINETUNE = 4, T_VERSION = 8, T_TYPE = 16 };

struct parts {
	char *p[MAX_PARTS];
	unsigned t[MAX_PARTS];
	size_t n;
};

/* A size part, normalised as the Python does, then checked against the
 * parameter count: far from it, it is a context length (a finetune). */
static void annotate_size(struct parts *ps, size_t i, int64_t total)
{
	char *part = ps->p[i];
	for (char *c = part; *c; c++)
		if (*c == '_')
			*c = '.';
	size_t n = strlen(part);
	if (n >= 2 && isdigit((unsigned char)part[n - 1])) { /* bloom-7b1 */
		char last = part[n - 1], unit = part[n - 2];
		char *q = gg_malloc(n + 2);
		snprintf(q, n + 2, "%.*s.%c%c", (int)(n - 2), part, last, unit);
		free(part);
		ps->p[i] = part = q;
		n = strlen(part);
	}
	if (n > 1 && isdigit((unsigned char)part[n - 2]) && strchr("kmbt", part[n - 1]))
		part[n - 1] = (char)toupper((unsigned char)part[n - 1]);
	if (total != 0) {
		const char *units = " KMBT", *u = strchr(units, part[n - 1]);
		char *num = gg_strndup(part, n - 1), *end;
		double x = strtod(num, &end);
		bool ok = n > 1 && *end == 0 && num[0] && !isspace((unsigned char)num[0]);
		free(num);
		if (ok) {
			double label = x * pow(1000, u && part[n - 1] ? (double)(u - units) : -1);
			double at = (double)llabs(total);
			if ((total < 0 && label < (double)(llabs(total) / 8)) ||
			    (total > 0 && fabs(label - at) > (double)(7 * total / 8))) {
				ps->t[i] |= T_FINETUNE;
				part[n - 1] = (char)tolower((unsigned char)part[n - 1]);
			}
		}
	}
	if (!ps->t[i])
		ps->t[i] |= T_SIZE;
}

static void annotate(struct parts *ps, int64_t total)
{
	for (size_t i = 0; i < ps->n; i++) {
		char *part = ps->p[i];
		if (is_version(part)) {
			ps->t[i] |= T_VERSION;
		} else if (is_quant_type(part)) {
			ps->t[i] |= T_TYPE;
			for (char *c = part; *c; c++)
				*c = (char)toupper((unsigned char)*c);
		} else if (i > 0 && is_size(part)) {
			annotate_size(ps, i, total);
		} else if (i > 0 && is_finetune_word(part)) {
			ps->t[i] |= total < 0 && strcasecmp(part, "lora") == 0
				? T_TYPE : T_FINETUNE;
		}
	}
}

static bool has_digit(const char *s)
{
	for (; *s; s++)
		if (isdigit((unsigned char)*s))
			return true;
	return false;
}

static bool all_alpha(const char *s)
{
	for (; *s; s++)
		if (!isalpha((unsigned char)*s))
			return false;
	return true;
}

static void find_basename(struct parts *ps)
{
	/* Word sizes go when a numeric one is there. */
	bool numeric = false;
	for (size_t i = 0; i < ps->n; i++)
		numeric |= (ps->t[i] & T_SIZE) && has_digit(ps->p[i]);
	for (size_t i = 0; numeric && i < ps->n; i++)
		if ((ps->t[i] & T_SIZE) && all_alpha(ps->p[i]))
			ps->t[i] &= ~(unsigned)T_SIZE;
	bool at_start = true;
	for (size_t i = 0; i < ps->n; i++) {
		unsigned *t = &ps->t[i];
		if (at_start && ((*t == 0 && isalpha((unsigned char)ps->p[i][0])) ||
				 (*t & T_VERSION))) {
			*t |= T_BASENAME;
		} else {
			at_start = false;
			if (*t == 0)
				*t |= T_FINETUNE;
		}
	}
	/* A trailing version is not part of the basename. */
	for (size_t i = ps->n; i-- > 0;) {
		if ((ps->t[i] & T_BASENAME) && ps->t[i] != T_BASENAME)
			ps->t[i] &= ~(unsigned)T_BASENAME;
		else
			break;
	}
}

/* "-".join of the parts with flag (and without `without`), NULL if none;
 * dedup drops repeated strings (the size labels). */
static char *join(const struct parts *ps, unsigned flag, unsigned without, bool dedup)
{
	size_t len = 0;
	for (size_t i = 0; i < ps->n; i++)
		len += strlen(ps->p[i]) + 1;
	char *out = gg_malloc(len + 1);
	out[0] = 0;
	for (size_t i = 0; i < ps->n; i++) {
		if (!(ps->t[i] & flag) || (ps->t[i] & without))
			continue;
		bool seen = false;
		for (size_t k = 0; dedup && k < i && !seen; k++)
			seen = (ps->t[k] & flag) && !(ps->t[k] & without) &&
			       strcmp(ps->p[k], ps->p[i]) == 0;
		if (seen)
			continue;
		if (out[0])
			strcat(out, "-");
		strcat(out, ps->p[i]);
	}
	if (!out[0]) {
		free(out);
		return NULL;
	}
	return out;
}

void gg_naming_id_parts(const char *id, int64_t total, struct gg_id_parts *out)
{
	memset(out, 0, sizeof *out);
	if (!id)
		return;
	if (strchr(id, ' ')) {
		out->full_name = gg_strdup(id);
		return;
	}
	const char *slash = strchr(id, '/');
	const char *full = slash ? slash + 1 : id;
	if (slash && slash > id && id[0] != '.')
		out->org = gg_strndup(id, (size_t)(slash - id));
	else if (slash && slash == id)
		out->org = gg_strdup("");
	out->full_name = gg_strdup(full);
	struct parts ps = {0};
	for (const char *p = full; *p && ps.n < MAX_PARTS;) {
		size_t n = strcspn(p, "-");
		if (n)
			ps.p[ps.n++] = gg_strndup(p, n);
		p += n + (p[n] == '-');
	}
	annotate(&ps, total);
	find_basename(&ps);
	out->basename = join(&ps, T_BASENAME, 0, false);
	out->size_label = join(&ps, T_SIZE, 0, true);
	out->finetune = join(&ps, T_FINETUNE, 0, false);
	out->version = join(&ps, T_VERSION, T_BASENAME, false);
	if (!out->size_label && !out->finetune && !out->version) {
		free(out->basename);
		out->basename = NULL;
	}
	for (size_t i = 0; i < ps.n; i++)
		free(ps.p[i]);
}

void gg_naming_id_parts_free(struct gg_id_parts *p)
{
	free(p->full_name);
	free(p->org);
	free(p->basename);
	free(p->finetune);
	free(p->version);
	free(p->size_label);
	memset(p, 0, sizeof *p);
}

/* ---- id_to_title ---- */

/* Python's str.islower(): some cased character, none upper case. */
static bool py_islower(const char *w, size_t n)
{
	bool cased = false;
	for (size_t i = 0; i < n; i++) {
		if (isupper((unsigned char)w[i]))
			return false;
		cased |= islower((unsigned char)w[i]) != 0;
	}
	return cased;
}

/* ^(v\d+(?:\.\d+)*|\d.*)$ on a word (re.match: anchored at the start). */
static bool version_or_number(const char *w, size_t n)
{
	if (n && isdigit((unsigned char)w[0]))
		return true;
	if (n < 2 || w[0] != 'v')
		return false;
	char *s = gg_strndup(w + 1, n - 1);
	bool ok = isdigit((unsigned char)s[0]) && is_version(s);
	free(s);
	return ok;
}

char *gg_naming_title(const char *s)
{
	size_t len = strlen(s);
	char *out = gg_malloc(len + 1), *w = out;
	const char *p = s;
	for (;;) {
		while (*p == ' ' || *p == '-' || (*p && isspace((unsigned char)*p)))
			p++;
		if (!*p)
			break;
		size_t n = 0;
		while (p[n] && p[n] != ' ' && p[n] != '-' && !isspace((unsigned char)p[n]))
			n++;
		if (w != out)
			*w++ = ' ';
		bool title = py_islower(p, n) && !version_or_number(p, n);
		for (size_t i = 0; i < n; i++) {
			char c = p[i];
			/* str.title(): upper after a non-letter, lower after one. */
			bool after_letter = i > 0 && isalpha((unsigned char)p[i - 1]);
			if (title && isalpha((unsigned char)c))
				c = (char)(after_letter ? tolower((unsigned char)c)
						       : toupper((unsigned char)c));
			*w++ = c;
		}
		p += n;
	}
	*w = 0;
	return out;
}

/* ---- sizes ---- */

char *gg_naming_count(uint64_t n, int min_digits)
{
	double x = (double)n, scaled;
	char suffix;
	if (x > 1e12)
		scaled = x * 1e-12, suffix = 'T';
	else if (x > 1e9)
		scaled = x * 1e-9, suffix = 'B';
	else if (x > 1e6)
		scaled = x * 1e-6, suffix = 'M';
	else
		scaled = x * 1e-3, suffix = 'K';
	/* len(str(round(scaled)).lstrip('0')): round() ties to even. */
	char digits[32];
	snprintf(digits, sizeof digits, "%.0f", nearbyint(scaled));
	const char *d = digits + strspn(digits, "0");
	int fix = min_digits - (int)strlen(d);
	if (fix < 0)
		fix = 0;
	char buf[64];
	snprintf(buf, sizeof buf, "%.*f%c", fix, scaled, suffix);
	return gg_strdup(buf);
}

void gg_naming_params(const struct gg_outfile *f, struct gg_param_count *c)
{
	memset(c, 0, sizeof *c);
	uint64_t expert_sum = 0, n_expert_tensors = 0;
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		uint64_t size = t->nelem;
		if (strstr(t->name, "_exps.") && t->n_dims >= 3) {
			/* numpy shape[-3] (shape[-2] for a bias): ne[2] (ne[1]) */
			uint64_t n = strstr(t->name, ".bias") ? t->ne[1] : t->ne[2];
			if (n) {
				c->expert += size / n;
				expert_sum += n;
				n_expert_tensors++;
			}
		} else {
			c->shared += size;
		}
		c->total += size;
	}
	c->expert_count = n_expert_tensors ? expert_sum / n_expert_tensors : 0;
}

char *gg_naming_size_label(const struct gg_param_count *c)
{
	if (c->expert_count == 0)
		return gg_naming_count(c->total, 2);
	char *pretty = gg_naming_count(c->shared + c->expert, 2);
	size_t n = strlen(pretty) + 24;
	char *out = gg_malloc(n);
	snprintf(out, n, "%llux%s", (unsigned long long)c->expert_count, pretty);
	free(pretty);
	return out;
}

/* ---- the model card ---- */

/* One top-level key of the front matter: a scalar (*scalar) or a list. */
struct card_value {
	char *scalar;
	char **list;
	size_t n;
};

/* Strip surrounding quotes and spaces from [s, s+n) (a YAML scalar). */
static char *yaml_scalar(const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0])
		s++, n -= 2;
	return gg_strndup(s, n);
}

static void list_add(struct card_value *v, char *item)
{
	v->list = gg_realloc(v->list, (v->n + 1) * sizeof *v->list);
	v->list[v->n++] = item;
}

/* "[a, b]" flow list into v. */
static void flow_list(const char *s, struct card_value *v)
{
	const char *end = strrchr(s, ']');
	for (const char *p = s + 1; end && p < end;) {
		size_t n = strcspn(p, ",]");
		if (p + n > end)
			n = (size_t)(end - p);
		char *item = yaml_scalar(p, n);
		if (item[0])
			list_add(v, item);
		else
			free(item);
		p += n + 1;
	}
}

/* The value of top-level key `key` in the front matter text fm. */
static bool card_get(const char *fm, const char *key, struct card_value *v)
{
	memset(v, 0, sizeof *v);
	size_t kl = strlen(key);
	for (const char *line = fm; *line;) {
		size_t n = strcspn(line, "\n");
		const char *next = line + n + (line[n] == '\n');
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			char *rest = yaml_scalar(line + kl + 1, n - kl - 1);
			if (rest[0] == '[') {
				flow_list(rest, v);
				free(rest);
				return true;
			}
			if (rest[0] && rest[0] != '|' && rest[0] != '>') {
				v->scalar = rest;
				return true;
			}
			free(rest);
			/* A block list: following "- item" lines. */
			for (const char *l = next; *l;) {
				size_t m = strcspn(l, "\n");
				const char *p = l + strspn(l, " ");
				if (*p != '-' || (p[1] != ' ' && p[1] != '\n' && p[1]))
					break;
				list_add(v, yaml_scalar(p + 1, (size_t)(l + m - p - 1)));
				l += m + (l[m] == '\n');
			}
			return v->n > 0;
		}
		line = next;
	}
	return false;
}

static void card_value_free(struct card_value *v)
{
	free(v->scalar);
	for (size_t i = 0; i < v->n; i++)
		free(v->list[i]);
	free(v->list);
}

/* README.md's front matter (between the first two "---" lines), or NULL. */
static char *read_front_matter(const char *dir)
{
	char *path = gg_path_join(dir, "README.md"), *text = NULL;
	size_t len;
	int rc = gg_read_file(path, MODEL_CARD_MAX, &text, &len, NULL);
	free(path);
	if (rc)
		return NULL;
	char *fm = NULL;
	if (strncmp(text, "---\n", 4) == 0 || strcmp(text, "---") == 0) {
		char *end = strstr(text + 3, "\n---\n");
		if (!end && (end = strstr(text + 3, "\n---")) && end[4])
			end = NULL;
		if (end) {
			fm = gg_strndup(text + 4, (size_t)(end - text - 3));
			for (char *c = fm; *c; c++) /* tabs as two spaces, roughly */
				if (*c == '\t')
					*c = ' ';
		}
	}
	free(text);
	return fm;
}

/* Set *field from the first of keys present as a scalar (if unset). */
static void card_scalar(const char *fm, char **field, const char *const *keys)
{
	for (; !*field && *keys; keys++) {
		struct card_value v;
		if (card_get(fm, *keys, &v) && v.scalar) {
			*field = v.scalar;
			v.scalar = NULL;
		}
		card_value_free(&v);
	}
}

/* Append the list (or scalar) values of key to *arr. */
static void card_list(const char *fm, const char *key, char ***arr, size_t *n)
{
	struct card_value v;
	if (card_get(fm, key, &v)) {
		if (v.scalar) {
			list_add(&v, v.scalar);
			v.scalar = NULL;
		}
		*arr = gg_realloc(*arr, (*n + v.n + 1) * sizeof **arr);
		for (size_t i = 0; i < v.n; i++)
			(*arr)[(*n)++] = v.list[i];
		v.n = 0;
	}
	card_value_free(&v);
}

static void apply_card(const char *dir, struct gg_naming *o)
{
	char *fm = read_front_matter(dir);
	if (!fm)
		return;
	card_scalar(fm, &o->name, (const char *const[]){"name", "model_name", NULL});
	card_scalar(fm, &o->author, (const char *const[]){"author", "model_author", "model_creator", NULL});
	card_scalar(fm, &o->version, (const char *const[]){"version", "model_version", NULL});
	card_scalar(fm, &o->organization, (const char *const[]){"organization", "model_organization", NULL});
	card_scalar(fm, &o->finetune, (const char *const[]){"finetune", "model_finetune", NULL});
	card_scalar(fm, &o->basename, (const char *const[]){"basename", "model_basename", "model_type", NULL});
	card_scalar(fm, &o->size_label, (const char *const[]){"size_label", "model_size_label", NULL});
	card_scalar(fm, &o->license, (const char *const[]){"license", NULL});
	card_list(fm, "tags", &o->tags, &o->ntags);
	card_list(fm, "pipeline_tag", &o->tags, &o->ntags);
	card_list(fm, "languages", &o->languages, &o->nlanguages);
	card_list(fm, "language", &o->languages, &o->nlanguages);
	free(fm);
}

/* ---- the heuristics ---- */

/* Fill the unset names from a model id (hf params or directory name). */
static void apply_id(const char *id, int64_t total, struct gg_naming *o)
{
	struct gg_id_parts p;
	gg_naming_id_parts(id, total, &p);
	if (!o->name && p.full_name)
		o->name = gg_naming_title(p.full_name);
	if (!o->organization && p.org)
		o->organization = gg_naming_title(p.org);
#define TAKE(field) if (!o->field && p.field) { o->field = p.field; p.field = NULL; }
	TAKE(basename)
	TAKE(finetune)
	TAKE(version)
	TAKE(size_label)
#undef TAKE
	gg_naming_id_parts_free(&p);
}

static const char *last_component(const char *path, char *buf, size_t cap)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	const char *b = path + n;
	while (b > path && b[-1] != '/')
		b--;
	snprintf(buf, cap, "%.*s", (int)(path + n - b), b);
	return buf;
}

void gg_naming_derive(const struct gg_model *m, const struct gg_outfile *f,
		      struct gg_naming *o)
{
	memset(o, 0, sizeof *o);
	struct gg_param_count c;
	gg_naming_params(f, &c);
	int64_t total = (int64_t)c.total;
	apply_card(m->dir, o);
	const char *nop = NULL;
	if (gg_json_str(m->config, "_name_or_path", &nop, NULL, NULL))
		nop = NULL; /* not a string: not a name */
	if (nop && strchr(nop, '/') == strrchr(nop, '/'))
		apply_id(nop, total, o);
	char buf[512];
	const char *dirname = m->opt.hub_id ? strchr(m->opt.hub_id, '/') + 1
					    : last_component(m->dir, buf, sizeof buf);
	apply_id(dirname, total, o);
	if (!o->name)
		o->name = gg_strdup(dirname);
	if (!o->size_label && total > 0)
		o->size_label = gg_naming_size_label(&c);
}

void gg_naming_free(struct gg_naming *n)
{
	free(n->name);
	free(n->author);
	free(n->organization);
	free(n->basename);
	free(n->finetune);
	free(n->version);
	free(n->size_label);
	free(n->license);
	for (size_t i = 0; i < n->ntags; i++)
		free(n->tags[i]);
	free(n->tags);
	for (size_t i = 0; i < n->nlanguages; i++)
		free(n->languages[i]);
	free(n->languages);
	memset(n, 0, sizeof *n);
}

/* ---- the file name ---- */

static bool is_projector(const struct gg_outfile *f)
{
	const struct gguf_kv *kv = gguf_kvs_get(f->kvs, "general.architecture");
	return kv && kv->type == GGUF_VT_STRING && kv->str.s &&
	       strcmp(kv->str.s, "clip") == 0;
}

const char *gg_naming_output_type(const struct gg_outfile *f)
{
	const struct gguf_kv *kv = gguf_kvs_get(f->kvs, "general.file_type");
	enum gg_ftype t = kv && kv->type == GGUF_VT_U32 ? (enum gg_ftype)kv->v.u
						      : gg_ftype_of_outfile(f);
	/* Ollama's file_type says F16 for BF16 tensors too: the tensors tell. */
	if (t == GG_FTYPE_F16)
		t = gg_ftype_of_outfile(f);
	const char *name = gg_ftype_name(t);
	return name ? name : "F16";
}

/* s without leading and trailing white space, spaces (and, for a name,
 * slashes) as dashes: naming_convention's clean-up of each part. */
static void append_clean(char *out, size_t cap, const char *s, bool slashes,
			 bool upper)
{
	size_t n = strlen(out), len;
	while (isspace((unsigned char)*s))
		s++;
	for (len = strlen(s); len && isspace((unsigned char)s[len - 1]); len--)
		;
	for (size_t i = 0; i < len && n + 1 < cap; i++) {
		char ch = s[i] == ' ' || (slashes && s[i] == '/') ? '-' : s[i];
		out[n++] = upper ? (char)toupper((unsigned char)ch) : ch;
	}
	out[n] = 0;
}

/* "-part" appended; the size label goes in as it is. */
static void add_part(char *out, size_t cap, const char *part, bool clean,
		     bool upper)
{
	if (!part)
		return;
	size_t n = strlen(out);
	if (n + 1 < cap) {
		out[n] = '-';
		out[n + 1] = 0;
	}
	if (clean)
		append_clean(out, cap, part, false, upper);
	else
		snprintf(out + strlen(out), cap - strlen(out), "%s", part);
}

char *gg_naming_file_name(const struct gg_model *m, const struct gg_outfile *f)
{
	struct gg_naming nm;
	gg_naming_derive(m, f, &nm);
	bool proj = is_projector(f);
	char out[1024];
	snprintf(out, sizeof out, "%s", proj ? "mmproj-" : "");
	append_clean(out, sizeof out, nm.basename ? nm.basename
			 : nm.name ? nm.name : "ggml-model", true, false);
	if (!proj)
		add_part(out, sizeof out, nm.size_label, false, false);
	add_part(out, sizeof out, nm.finetune, true, false);
	add_part(out, sizeof out, nm.version, true, false);
	add_part(out, sizeof out, gg_naming_output_type(f), true, true);
	gg_naming_free(&nm);
	size_t n = strlen(out);
	char *name = gg_malloc(n + 6);
	snprintf(name, n + 6, "%s.gguf", out);
	return name;
}

/* ---- the keys ---- */

static void set_str(struct gguf_kvs *kvs, const char *key, const char *v)
{
	if (v && v[0])
		gguf_kvs_set_str(kvs, key, v);
}

void gg_naming_set_kvs(const struct gg_model *m, struct gg_outfile *f)
{
	struct gg_naming nm;
	gg_naming_derive(m, f, &nm);
	struct gguf_kvs *kv = f->kvs;
	set_str(kv, "general.type", is_projector(f) ? "mmproj" : "model");
	set_str(kv, "general.name", nm.name);
	set_str(kv, "general.author", nm.author);
	set_str(kv, "general.version", nm.version);
	set_str(kv, "general.organization", nm.organization);
	set_str(kv, "general.finetune", nm.finetune);
	set_str(kv, "general.basename", nm.basename);
	set_str(kv, "general.size_label", nm.size_label);
	set_str(kv, "general.license", nm.license);
	if (nm.ntags)
		gguf_kvs_set_arr_str(kv, "general.tags", (const char *const *)nm.tags,
				     NULL, nm.ntags);
	if (nm.nlanguages)
		gguf_kvs_set_arr_str(kv, "general.languages",
				     (const char *const *)nm.languages, NULL,
				     nm.nlanguages);
	gguf_kvs_set_u32(kv, "general.file_type", (uint32_t)gg_ftype_of_outfile(f));
	gg_naming_free(&nm);
}
