/* arch_lora.c - a PEFT (or MLX-LM) LoRA adapter for a Llama base model,
 * presented as adapter.gguf.
 *
 * Semantics: Ollama's convert/convert_llama_adapter.go and
 * AdapterParameters.KV (dialects.md §5). The profiles differ only in the
 * q/k factors:
 *   ollama    Ollama's bytes: lora_a of attn_q/attn_k read as an [in, r]
 *             matrix and row-permuted (for PEFT's [r, in] buffer that is a
 *             reinterpretation, not a transpose), with n_head heads for q
 *             and, for k, adapter_config's num_key_value_heads or n_head.
 *   llamacpp  what llama.cpp's convert_lora_to_gguf does: the rows of
 *             lora_b permuted as the base Q/K rows are (n_head for q,
 *             n_head_kv for k), lora_a untouched. Then B'A = P(BA), the
 *             delta of the permuted base weight.
 * Everything else (names, shapes, dtypes, KVs) is the same in both.
 *
 * The base model (option base=) gives the head counts and the tensor shapes
 * every factor is checked against, so an adapter llama.cpp would refuse
 * fails here with a message instead.
 */
#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf_reader.h"
#include "jsonutil.h"
#include "llama_common.h"
#include "typerules.h"

/* Ollama's llamaAdapter.Replacements: the llama projections, and these
 * (no pair here matches where a projection pair does, so the order
 * between the two lists does not matter). */
static const char *const lora_pairs[] = {
	"base_model.model.", "",
	"model.layers", "blk",
	"lora_A.weight", "weight.lora_a",
	"lora_B.weight", "weight.lora_b",
	"lora_a", "weight.lora_a",
	"lora_b", "weight.lora_b",
};
static const struct gg_renames lora_renames = GG_RENAMES(&llama_proj_renames, lora_pairs);

/* ---- the base model ---- */

struct base_tensor {
	char *name;
	uint64_t ne0, ne1; /* GGML order: ne0 = input dim, ne1 = output dim */
	uint32_t n_dims;
};

struct base_info {
	uint32_t n_head;
	uint32_t n_head_kv; /* 0 when the base does not say */
	struct base_tensor *tensors;
	size_t ntensors;
};

static void base_info_free(struct base_info *bi)
{
	for (size_t i = 0; i < bi->ntensors; i++)
		free(bi->tensors[i].name);
	free(bi->tensors);
}

static void base_add_tensor(struct base_info *bi, const char *name,
			    uint32_t n_dims, const uint64_t *ne)
{
	bi->tensors = gg_realloc(bi->tensors, (bi->ntensors + 1) * sizeof *bi->tensors);
	bi->tensors[bi->ntensors++] = (struct base_tensor){
		.name = gg_strdup(name), .n_dims = n_dims,
		.ne0 = ne[0], .ne1 = n_dims > 1 ? ne[1] : 1,
	};
}

static const struct base_tensor *base_find(const struct base_info *bi,
					   const char *name)
{
	for (size_t i = 0; i < bi->ntensors; i++)
		if (strcmp(bi->tensors[i].name, name) == 0)
			return &bi->tensors[i];
	return NULL;
}

/* A head count as any GGUF integer scalar that fits in u32; 0 if absent. */
static int base_count(const struct gguf_kvs *kvs, const char *key,
		      const char *base, uint32_t *out, gg_err *e)
{
	const struct gguf_kv *kv = gguf_kvs_get(kvs, key);
	*out = 0;
	if (!kv)
		return 0;
	switch (kv->type) {
	case GGUF_VT_U8: case GGUF_VT_U16: case GGUF_VT_U32: case GGUF_VT_U64:
		if (kv->v.u > UINT32_MAX)
			break;
		*out = (uint32_t)kv->v.u;
		return 0;
	case GGUF_VT_I8: case GGUF_VT_I16: case GGUF_VT_I32: case GGUF_VT_I64:
		if (kv->v.i < 0 || kv->v.i > (int64_t)UINT32_MAX)
			break;
		*out = (uint32_t)kv->v.i;
		return 0;
	case GGUF_VT_ARRAY:
		return gg_fail(e, "adapter: base %s: %s is a per-layer array; adapters need one head count",
			       base, key);
	default:
		break;
	}
	return gg_fail(e, "adapter: base %s: %s is not a usable head count (type %s)",
		       base, key, gguf_vtype_name(kv->type));
}

/* Architecture and head counts from the base's GGUF KVs. */
static int base_read_kvs(const struct gguf_kvs *kvs, const char *base,
			 struct base_info *bi, gg_err *e)
{
	const struct gguf_kv *arch = gguf_kvs_get(kvs, "general.architecture");
	if (!arch || arch->type != GGUF_VT_STRING)
		return gg_fail(e, "adapter: base %s has no general.architecture", base);
	if (strcmp(arch->str.s, "llama") != 0)
		return gg_fail(e, "adapter: unsupported base architecture '%s' in %s (LoRA adapters: llama only)",
			       arch->str.s, base);
	if (base_count(kvs, "llama.attention.head_count", base, &bi->n_head, e) ||
	    base_count(kvs, "llama.attention.head_count_kv", base, &bi->n_head_kv, e))
		return -1;
	if (bi->n_head == 0)
		return gg_fail(e, "adapter: base %s has no llama.attention.head_count: the q/k factors cannot be permuted without it",
			       base);
	return 0;
}

static int base_from_dir(const char *dir, struct base_info *bi, gg_err *e)
{
	/* The base's converter knows its head counts and tensor names; its
	 * profile does not change either. */
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP };
	struct gg_model *m = NULL;
	gg_err sub;
	if (gg_model_open(dir, &opt, &m, &sub))
		return gg_fail(e, "adapter: base %s: %s", dir, sub.msg);
	const struct gg_outfile *f = &m->files[0];
	int rc = base_read_kvs(f->kvs, dir, bi, e);
	for (size_t i = 0; rc == 0 && i < f->ntensors; i++)
		base_add_tensor(bi, f->tensors[i].name, f->tensors[i].n_dims,
				f->tensors[i].ne);
	gg_model_close(m);
	return rc;
}

static int base_from_gguf(const char *path, struct base_info *bi, gg_err *e)
{
	struct gguf_file *g = NULL;
	gg_err sub;
	if (gguf_read_file(path, &g, &sub))
		return gg_fail(e, "adapter: base %s: %s", path, sub.msg);
	int rc = base_read_kvs(g->kvs, path, bi, e);
	for (uint64_t i = 0; rc == 0 && i < g->ntensors; i++)
		base_add_tensor(bi, g->tensors[i].name, g->tensors[i].n_dims,
				g->tensors[i].ne);
	gguf_file_free(g);
	return rc;
}

static int base_load(const char *base, struct base_info *bi, gg_err *e)
{
	if (!base || !*base)
		return gg_fail(e, "adapter: base=... is required: the base model's head counts and tensor shapes decide the q/k layout (give its HF directory or GGUF file)");
	struct stat sb;
	if (stat(base, &sb) != 0)
		return gg_fail(e, "adapter: base %s: %s", base, strerror(errno));
	return S_ISDIR(sb.st_mode) ? base_from_dir(base, bi, e)
				   : base_from_gguf(base, bi, e);
}

/* ---- adapter_config.json ---- */

struct adapter_params {
	float alpha;
	uint32_t num_key_value_heads; /* Ollama reads it from adapter_config */
	const cJSON *modules_to_save;  /* a non-empty array, or NULL */
};

static int params_parse(const struct gg_build *b, struct adapter_params *p)
{
	const char *file = b->config_path;
	double lora_alpha = 0;
	float mlx_alpha = 0;
	const cJSON *mlx = NULL;
	memset(p, 0, sizeof *p);
	/* Ollama decodes lora_alpha as uint32 and so fails on "16.0"; PEFT
	 * writes whatever number the user passed, so both are read here. */
	if (gg_json_f64(b->config, "lora_alpha", &lora_alpha, file, b->e) ||
	    gg_json_obj(b->config, "lora_parameters", &mlx, file, b->e) ||
	    gg_json_f32(mlx, "alpha", &mlx_alpha, file, b->e) ||
	    gg_json_u32(b->config, "num_key_value_heads", &p->num_key_value_heads,
			file, b->e))
		return -1;
	if (!isfinite(lora_alpha) || lora_alpha < 0 || lora_alpha > 1e30)
		return gg_fail(b->e, "%s: lora_alpha: expected a non-negative number", file);
	p->alpha = mlx_alpha != 0 ? mlx_alpha : (float)lora_alpha;
	const cJSON *mts = cJSON_GetObjectItem(b->config, "modules_to_save");
	if (cJSON_IsArray(mts) && cJSON_GetArraySize(mts) > 0)
		p->modules_to_save = mts;
	return 0;
}

static void write_kv(struct gguf_kvs *kv, const struct adapter_params *p,
		     const struct base_info *bi)
{
	gguf_kvs_set_f32(kv, "adapter.lora.alpha", p->alpha);
	gguf_kvs_set_str(kv, "adapter.type", "lora");
	gguf_kvs_set_str(kv, "general.architecture", "llama");
	gguf_kvs_set_u32(kv, "general.file_type", 1);
	gguf_kvs_set_str(kv, "general.type", "adapter");
	gguf_kvs_set_str(kv, "general.version", "v0.2");
	gguf_kvs_set_u32(kv, "llama.attention.head_count", bi->n_head);
	gguf_kvs_set_u32(kv, "llama.attention.head_count_kv", bi->n_head_kv);
}

/* ---- the factors ---- */

/* One lora_a or lora_b tensor. Logical shapes: A [r, in], B [out, r]. */
struct factor {
	const struct st_tensor *st;
	char *name;       /* renamed: "<module>.lora_a" / ".lora_b" */
	bool is_b;
	bool transposed;  /* MLX layout: stored as A [in, r] / B [r, out] */
	uint64_t rows, cols;
};

/* Why a tensor that is not a lora_a/lora_b factor cannot be carried. */
static int reject_other(const struct gg_build *b, const struct adapter_params *p,
			const struct st_tensor *st)
{
	const char *file = b->st->files[st->file].name;
	if (p->modules_to_save)
		return gg_fail(b->e, "%s: tensor '%s' is a full copy of a base module (adapter_config modules_to_save); a llama.cpp LoRA adapter carries only lora_a/lora_b pairs",
			       file, st->name);
	if (strstr(st->name, "lm_head") || strstr(st->name, "embed_tokens"))
		return gg_fail(b->e, "%s: tensor '%s': adapter targets %s, which llama.cpp adapters cannot apply (only q/k/v/o/gate/up/down projections)",
			       file, st->name,
			       strstr(st->name, "lm_head") ? "lm_head" : "embed_tokens");
	return gg_fail(b->e, "%s: tensor '%s' is not a LoRA factor (lora_A/lora_B)",
		       file, st->name);
}

static int factor_classify(const struct gg_build *b, const struct adapter_params *p,
			   const struct st_tensor *st, struct factor *fa)
{
	const char *file = b->st->files[st->file].name;
	char *name = gg_rename(&lora_renames, st->name);
	bool a = gg_has_suffix(name, ".weight.lora_a"), is_b = gg_has_suffix(name, ".weight.lora_b");
	if (!a && !is_b) {
		free(name);
		return reject_other(b, p, st);
	}
	if (st->ndim != 2 || st->shape[0] == 0 || st->shape[1] == 0) {
		free(name);
		return gg_fail(b->e, "%s: tensor '%s': a LoRA factor must be a non-empty matrix",
			       file, st->name);
	}
	/* Ollama's layout test: A is [r, in] with r < in, B is [out, r]. */
	bool transposed = a ? st->shape[0] > st->shape[1] : st->shape[0] < st->shape[1];
	*fa = (struct factor){
		.st = st, .name = name, .is_b = is_b, .transposed = transposed,
		.rows = transposed ? st->shape[1] : st->shape[0],
		.cols = transposed ? st->shape[0] : st->shape[1],
	};
	return 0;
}

/* The module a factor adapts: its name minus ".lora_a"/".lora_b". */
static size_t module_len(const struct factor *fa)
{
	return strlen(fa->name) - strlen(".lora_a");
}

static const struct factor *find_partner(const struct factor *fs, size_t n,
					 const struct factor *fa)
{
	size_t len = module_len(fa);
	for (size_t i = 0; i < n; i++)
		if (fs[i].is_b != fa->is_b && module_len(&fs[i]) == len &&
		    strncmp(fs[i].name, fa->name, len) == 0)
			return &fs[i];
	return NULL;
}

/* Check one A/B pair against each other and against the base tensor. */
static int check_pair(const struct gg_build *b, const struct base_info *bi,
		      const struct factor *a, const struct factor *bb)
{
	const char *file = b->st->files[a->st->file].name;
	char module[512];
	snprintf(module, sizeof module, "%.*s", (int)module_len(a), a->name);
	if (a->rows != bb->cols)
		return gg_fail(b->e, "%s: '%s' has rank %llu but '%s' has rank %llu",
			       file, a->st->name, (unsigned long long)a->rows,
			       bb->st->name, (unsigned long long)bb->cols);
	const struct base_tensor *w = base_find(bi, module);
	if (!w) {
		if (strstr(module, "lm_head") || strstr(module, "embed_tokens"))
			return gg_fail(b->e, "%s: tensor '%s': adapter targets %s, which llama.cpp adapters cannot apply (only q/k/v/o/gate/up/down projections)",
				       file, a->st->name,
				       strstr(module, "lm_head") ? "lm_head" : "embed_tokens");
		return gg_fail(b->e, "%s: tensor '%s' adapts '%s', which the base model does not have",
			       file, a->st->name, module);
	}
	if (w->n_dims != 2 || w->ne0 != a->cols || w->ne1 != bb->rows)
		return gg_fail(b->e, "%s: '%s' and '%s' give a [%llu, %llu] delta but base '%s' is [%llu, %llu]",
			       file, a->st->name, bb->st->name,
			       (unsigned long long)bb->rows, (unsigned long long)a->cols,
			       module, (unsigned long long)w->ne1,
			       (unsigned long long)w->ne0);
	return 0;
}

static int check_pairs(const struct gg_build *b, const struct base_info *bi,
		       const struct factor *fs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct factor *other = find_partner(fs, n, &fs[i]);
		if (!other)
			return gg_fail(b->e, "%s: tensor '%s' has no matching %s",
				       b->st->files[fs[i].st->file].name, fs[i].st->name,
				       fs[i].is_b ? "lora_A" : "lora_B");
		if (!fs[i].is_b && check_pair(b, bi, &fs[i], other))
			return -1;
	}
	return 0;
}

/* Head counts of the q/k permutation a factor takes in this profile:
 * *in_heads permutes A's input axis (Ollama), *out_heads B's rows. */
static void qk_heads(const struct factor *fa, enum gg_profile prof,
		     const struct adapter_params *p, const struct base_info *bi,
		     uint64_t *in_heads, uint64_t *out_heads)
{
	bool q = gg_has_suffix(fa->name, ".attn_q.weight.lora_a") ||
		 gg_has_suffix(fa->name, ".attn_q.weight.lora_b");
	bool k = gg_has_suffix(fa->name, ".attn_k.weight.lora_a") ||
		 gg_has_suffix(fa->name, ".attn_k.weight.lora_b");
	*in_heads = *out_heads = 0;
	if (!q && !k)
		return;
	if (prof == GG_PROFILE_LLAMACPP) {
		if (fa->is_b)
			*out_heads = q ? bi->n_head : bi->n_head_kv;
	} else if (!fa->is_b) {
		/* cmp.Or(adapter num_key_value_heads, base head_count): GQA
		 * bases usually get n_head for k, as Ollama does. */
		*in_heads = q || !p->num_key_value_heads ? bi->n_head
							 : p->num_key_value_heads;
	}
}

/* The view of a factor's source elements in the output's element order. */
static int factor_view(struct gg_view *v, const struct factor *fa,
		       uint64_t in_heads, uint64_t out_heads, gg_err *e)
{
	if (in_heads) {
		/* Ollama's repack/repackAndTranspose: A's elements as [in, r]
		 * (for PEFT a reinterpretation of the [r, in] buffer), rows
		 * permuted; the MLX layout is then transposed to [r, in]. */
		uint64_t shape[2] = { fa->cols, fa->rows };
		gg_view_init(v, shape, 2);
		if (gg_view_rotary(v, in_heads, e))
			return -1;
		/* Now [heads, in/heads/2, 2, r]: the transpose moves r to the
		 * front, keeping the permuted row order behind it. */
		for (int d = v->ndim - 1; fa->transposed && d > 0; d--)
			if (gg_view_swap(v, d - 1, d, e))
				return -1;
		return 0;
	}
	gg_view_init(v, fa->st->shape, 2);
	if (fa->transposed && gg_view_swap(v, 0, 1, e))
		return -1;
	return out_heads ? gg_view_rotary(v, out_heads, e) : 0;
}

static int add_factor(const struct gg_build *b, struct gg_outfile *f,
		      const struct factor *fa, const struct adapter_params *p,
		      const struct base_info *bi)
{
	uint64_t in_heads, out_heads, shape[2] = { fa->rows, fa->cols };
	qk_heads(fa, b->opt->profile, p, bi, &in_heads, &out_heads);
	enum gg_type type = gg_ollama_kind(fa->name, 2, fa->st->dtype);
	struct gg_view v;
	gg_err sub;
	if (factor_view(&v, fa, in_heads, out_heads, &sub))
		return gg_fail(b->e, "%s: tensor '%s': %s",
			       b->st->files[fa->st->file].name, fa->st->name, sub.msg);
	return gg_outfile_add_view(f, fa->name, type, shape, 2, fa->st, &v, b->e) ? 0 : -1;
}

static void factors_free(struct factor *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(fs[i].name);
	free(fs);
}

static int build_tensors(const struct gg_build *b, struct gg_outfile *f,
			 const struct adapter_params *p, const struct base_info *bi)
{
	size_t n = b->st->ntensors;
	if (n == 0)
		return gg_fail(b->e, "%s: the adapter's safetensors hold no LoRA factors",
			       b->dir);
	struct factor *fs = gg_calloc(n, sizeof *fs);
	int rc = -1;
	for (size_t i = 0; i < n; i++)
		if (factor_classify(b, p, &b->st->tensors[i], &fs[i]))
			goto out;
	/* Adding refuses two factors with one name before pairs are matched. */
	for (size_t i = 0; i < n; i++)
		if (add_factor(b, f, &fs[i], p, bi))
			goto out;
	rc = check_pairs(b, bi, fs, n);
out:
	factors_free(fs, n);
	return rc;
}

static int build_lora(struct gg_build *b)
{
	struct adapter_params p;
	struct base_info bi = { 0 };
	int rc = -1;
	if (params_parse(b, &p) || base_load(b->opt->base, &bi, b->e))
		goto out;
	if (bi.n_head_kv == 0 && b->opt->profile == GG_PROFILE_OLLAMA) {
		/* Ollama copies a nil head_count_kv and fails writing it. */
		gg_fail(b->e, "adapter: base %s has no llama.attention.head_count_kv (Ollama needs it)",
			b->opt->base);
		goto out;
	}
	/* llama.cpp's own default when a GGUF omits it: one KV head per head. */
	if (bi.n_head_kv == 0)
		bi.n_head_kv = bi.n_head;
	struct gg_outfile *f = gg_model_add_file(b->model, "adapter.gguf");
	write_kv(f->kvs, &p, &bi);
	rc = build_tensors(b, f, &p, &bi);
out:
	base_info_free(&bi);
	return rc;
}

const struct gg_arch gg_arch_lora = {
	.hf_arch = "PEFT LoRA adapter",
	.gguf_arch = "llama",
	.notes = "PEFT/MLX LoRA for a llama base (option base=); loads in llama.cpp",
	.config_file = "adapter_config.json",
	.build = build_lora,
};
