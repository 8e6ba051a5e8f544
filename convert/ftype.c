/* ftype.c - see ftype.h. The rules are llama-quant.cpp's (bundled release)
 * for the file types gguffs offers, without an importance matrix; branches
 * that only concern other file types (IQ*, TQ*, MXFP4_MOE) are left out. */
#include "ftype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plan.h"
#include "quant.h"

/* ---- names ------------------------------------------------------------- */

static const struct {
	const char *name;
	enum gg_ftype f;
} ftypes[] = {
	{ "F32", GG_FTYPE_F32 },       { "F16", GG_FTYPE_F16 },
	{ "BF16", GG_FTYPE_BF16 },     { "Q8_0", GG_FTYPE_Q8_0 },
	{ "Q4_0", GG_FTYPE_Q4_0 },     { "Q4_1", GG_FTYPE_Q4_1 },
	{ "Q5_0", GG_FTYPE_Q5_0 },     { "Q5_1", GG_FTYPE_Q5_1 },
	{ "Q2_K", GG_FTYPE_Q2_K },     { "Q3_K_S", GG_FTYPE_Q3_K_S },
	{ "Q3_K_M", GG_FTYPE_Q3_K_M }, { "Q3_K_L", GG_FTYPE_Q3_K_L },
	{ "Q4_K_S", GG_FTYPE_Q4_K_S }, { "Q4_K_M", GG_FTYPE_Q4_K_M },
	{ "Q5_K_S", GG_FTYPE_Q5_K_S }, { "Q5_K_M", GG_FTYPE_Q5_K_M },
	{ "Q6_K", GG_FTYPE_Q6_K },
};
#define NFTYPES (sizeof ftypes / sizeof ftypes[0])

/* llama-quantize's aliases for the _M mixes. */
static const struct {
	const char *name;
	enum gg_ftype f;
} aliases[] = {
	{ "Q3_K", GG_FTYPE_Q3_K_M },
	{ "Q4_K", GG_FTYPE_Q4_K_M },
	{ "Q5_K", GG_FTYPE_Q5_K_M },
};

/* llama-quantize types that need an importance matrix (or give garbage
 * without one), and the ones it has that gguffs does not produce. */
static const char *const imatrix_types[] = {
	"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "Q2_K_S",
};
static const char *const other_types[] = {
	"Q1_0", "Q2_0", "MXFP4_MOE", "TQ1_0", "TQ2_0", "IQ3_S", "IQ3_M", "IQ3_XS",
	"IQ4_NL", "IQ4_XS", "COPY",
};

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(name, list[i]) == 0)
			return true;
	return false;
}

int gg_ftype_parse(const char *name, enum gg_ftype *out, gg_err *e)
{
	for (size_t i = 0; i < NFTYPES; i++) {
		if (strcasecmp(name, ftypes[i].name) == 0) {
			*out = ftypes[i].f;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
		if (strcasecmp(name, aliases[i].name) == 0) {
			*out = aliases[i].f;
			return 0;
		}
	}
	char valid[256] = "";
	for (size_t i = 0; i < NFTYPES; i++) {
		strcat(valid, ftypes[i].name);
		if (i + 1 < NFTYPES)
			strcat(valid, ", ");
	}
	const char *why = "unknown type";
	if (in_list(name, imatrix_types, sizeof imatrix_types / sizeof imatrix_types[0]))
		why = "needs an importance matrix, which gguffs does not use";
	else if (in_list(name, other_types, sizeof other_types / sizeof other_types[0]))
		why = "not a type gguffs produces";
	return gg_fail(e, "type=%s: %s; valid types: %s", name, why, valid);
}

const char *gg_ftype_name(enum gg_ftype f)
{
	for (size_t i = 0; i < NFTYPES; i++)
		if (ftypes[i].f == f)
			return ftypes[i].name;
	return NULL;
}

bool gg_ftype_is_quantized(enum gg_ftype f)
{
	return f != GG_FTYPE_F32 && f != GG_FTYPE_F16 && f != GG_FTYPE_BF16;
}

enum gg_type gg_ftype_base_type(enum gg_ftype f)
{
	switch (f) {
	case GG_FTYPE_F32: return GG_TYPE_F32;
	case GG_FTYPE_F16: return GG_TYPE_F16;
	case GG_FTYPE_BF16: return GG_TYPE_BF16;
	case GG_FTYPE_Q4_0: return GG_TYPE_Q4_0;
	case GG_FTYPE_Q4_1: return GG_TYPE_Q4_1;
	case GG_FTYPE_Q5_0: return GG_TYPE_Q5_0;
	case GG_FTYPE_Q5_1: return GG_TYPE_Q5_1;
	case GG_FTYPE_Q8_0: return GG_TYPE_Q8_0;
	case GG_FTYPE_Q2_K: return GG_TYPE_Q2_K;
	case GG_FTYPE_Q3_K_S:
	case GG_FTYPE_Q3_K_M:
	case GG_FTYPE_Q3_K_L: return GG_TYPE_Q3_K;
	case GG_FTYPE_Q4_K_S:
	case GG_FTYPE_Q4_K_M: return GG_TYPE_Q4_K;
	case GG_FTYPE_Q5_K_S:
	case GG_FTYPE_Q5_K_M: return GG_TYPE_Q5_K;
	case GG_FTYPE_Q6_K: return GG_TYPE_Q6_K;
	case GG_FTYPE_MXFP4_MOE: return GG_TYPE_MXFP4;
	}
	return GG_TYPE_F32;
}

/* ---- model facts ---------------------------------------------------------- */

/* A u32/i32 KV, or element 0 of an array of them (per-layer values). */
static bool kv_u32(const struct gguf_kvs *kvs, const char *arch,
		   const char *suffix, uint32_t *out)
{
	char key[160];
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	const struct gguf_kv *kv = gguf_kvs_get(kvs, key);
	if (!kv)
		return false;
	if (kv->type == GGUF_VT_U32 || kv->type == GGUF_VT_I32) {
		*out = (uint32_t)kv->v.u;
		return true;
	}
	if (kv->type == GGUF_VT_ARRAY && kv->arr_n > 0 &&
	    (kv->arr_type == GGUF_VT_U32 || kv->arr_type == GGUF_VT_I32)) {
		memcpy(out, kv->arr, 4);
		return true;
	}
	return false;
}

int gg_qmodel_from_kvs(const struct gguf_kvs *kvs, struct gg_qmodel *m,
		       const char *what, gg_err *e)
{
	memset(m, 0, sizeof *m);
	const struct gguf_kv *a = gguf_kvs_get(kvs, "general.architecture");
	if (!a || a->type != GGUF_VT_STRING || a->str.n >= sizeof m->arch)
		return gg_fail(e, "%s: no general.architecture to choose quantization types by", what);
	memcpy(m->arch, a->str.s, a->str.n);
	m->arch[a->str.n] = 0;
	if (!kv_u32(kvs, m->arch, "block_count", &m->n_layer))
		return gg_fail(e, "%s: no %s.block_count to choose quantization types by",
			       what, m->arch);
	kv_u32(kvs, m->arch, "nextn_predict_layers", &m->n_layer_nextn);
	kv_u32(kvs, m->arch, "attention.head_count", &m->n_head);
	if (!kv_u32(kvs, m->arch, "attention.head_count_kv", &m->n_head_kv))
		m->n_head_kv = m->n_head;
	kv_u32(kvs, m->arch, "expert_count", &m->n_expert);
	return 0;
}

/* ---- which tensors llama-quantize may quantize ---------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Substrings that keep a tensor's type (tensor_allows_quantization). */
static const char *const keep_substrings[] = {
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight",
	"altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
	"shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
	"time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
	"time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
	"time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
	"sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
	".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
};

static uint32_t n_dims_used(const struct gg_qtensor *t)
{
	uint32_t n = t->n_dims;
	while (n > 1 && t->ne[n - 1] == 1)
		n--;
	return n;
}

bool gg_qtensor_quantizable(const struct gg_qtensor *t)
{
	/* ggml_n_dims: trailing dims of 1 do not count. */
	if (n_dims_used(t) < 2 || !ends_with(t->name, "weight"))
		return false;
	for (size_t i = 0; i < sizeof keep_substrings / sizeof keep_substrings[0]; i++)
		if (strstr(t->name, keep_substrings[i]))
			return false;
	return strcmp(t->name, "position_embd.weight") != 0 &&
	       strcmp(t->name, "token_types.weight") != 0;
}

/* ---- categories and the walk order ---------------------------------------- */

enum category {
	CAT_TOKEN_EMBD, CAT_ATTN_Q, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_OUTPUT,
	CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN, CAT_OUTPUT, CAT_OTHER,
};

/* tensor_get_category; attn_qkv and attn_kv_b count as attn_v (the
 * quantizer's separate qkv branch is never reached). */
static enum category category(const char *name)
{
	if (strcmp(name, "output.weight") == 0)
		return CAT_OUTPUT;
	if (strcmp(name, "token_embd.weight") == 0 ||
	    strcmp(name, "per_layer_token_embd.weight") == 0)
		return CAT_TOKEN_EMBD;
	if (strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight") ||
	    strstr(name, "attn_v.weight"))
		return CAT_ATTN_V;
	if (strstr(name, "attn_k.weight"))
		return CAT_ATTN_K;
	if (strstr(name, "attn_q.weight"))
		return CAT_ATTN_Q;
	if (strstr(name, "attn_output.weight"))
		return CAT_ATTN_OUTPUT;
	if (strstr(name, "ffn_up"))
		return CAT_FFN_UP;
	if (strstr(name, "ffn_gate"))
		return CAT_FFN_GATE;
	if (strstr(name, "ffn_down"))
		return CAT_FFN_DOWN;
	return CAT_OTHER;
}

/* The "blk.%d." number sscanf reads, or -1. */
static int name_layer(const char *name)
{
	int layer = -1;
	if (sscanf(name, "blk.%d.", &layer) != 1)
		return -1;
	return layer;
}

/* llama_model_loader's weight order: by layer (non-block first), then name. */
static int walk_cmp(const void *a, const void *b, void *arg)
{
	const struct gg_qtensor *base = arg;
	const struct gg_qtensor *x = &base[*(const size_t *)a];
	const struct gg_qtensor *y = &base[*(const size_t *)b];
	int lx = name_layer(x->name), ly = name_layer(y->name);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* ---- the type of one tensor ----------------------------------------------- */

struct walk {
	const struct gg_qmodel *m;
	enum gg_ftype f;
	bool tied;        /* no output.weight: token_embd is the output */
	bool is_70b;      /* llama.cpp's LLM_TYPE_70B */
	bool falcon;
	int n_attn_v, i_attn_v, i_ffn_down;
};

static bool use_more_bits(int i, int n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static uint32_t gqa(const struct gg_qmodel *m)
{
	return m->n_head_kv ? m->n_head / m->n_head_kv : 0;
}

/* Archs whose loader calls a model of this many layers "70B" (and for
 * llama only with grouped-query attention and not 8 experts). */
static bool model_is_70b(const struct gg_qmodel *m)
{
	uint32_t layers = m->n_layer - m->n_layer_nextn;
	if (strcmp(m->arch, "llama") == 0)
		return m->n_expert != 8 && layers == 80 && m->n_head != m->n_head_kv;
	if (!strcmp(m->arch, "qwen2") || !strcmp(m->arch, "deci") || !strcmp(m->arch, "olmo"))
		return layers == 80;
	if (strcmp(m->arch, "jais2") == 0)
		return layers == 68;
	return false;
}

static enum gg_type attn_v_type(struct walk *w, enum gg_type t)
{
	switch (w->f) {
	case GG_FTYPE_Q2_K: t = gqa(w->m) >= 4 ? GG_TYPE_Q4_K : GG_TYPE_Q3_K; break;
	case GG_FTYPE_Q3_K_M: t = w->i_attn_v < 2 ? GG_TYPE_Q5_K : GG_TYPE_Q4_K; break;
	case GG_FTYPE_Q3_K_L: t = GG_TYPE_Q5_K; break;
	case GG_FTYPE_Q4_K_M:
	case GG_FTYPE_Q5_K_M:
		if (use_more_bits(w->i_attn_v, w->n_attn_v))
			t = GG_TYPE_Q6_K;
		break;
	case GG_FTYPE_Q4_K_S:
		if (w->i_attn_v < 4)
			t = GG_TYPE_Q5_K;
		break;
	default: break;
	}
	if (w->is_70b && (t == GG_TYPE_Q3_K || t == GG_TYPE_Q4_K))
		t = GG_TYPE_Q5_K;
	if (w->m->n_expert == 8)
		t = GG_TYPE_Q8_0;
	w->i_attn_v++;
	return t;
}

static enum gg_type ffn_down_type(struct walk *w, enum gg_type t, int il, int nl)
{
	bool more = use_more_bits(il, nl);
	switch (w->f) {
	case GG_FTYPE_Q2_K: return GG_TYPE_Q3_K;
	case GG_FTYPE_Q3_K_M:
		return il < nl / 16 ? GG_TYPE_Q5_K :
		       !w->falcon || more ? GG_TYPE_Q4_K : GG_TYPE_Q3_K;
	case GG_FTYPE_Q3_K_L: return w->falcon ? GG_TYPE_Q4_K : GG_TYPE_Q5_K;
	case GG_FTYPE_Q4_K_M:
		if (w->falcon)
			return il < nl / 16 ? GG_TYPE_Q6_K : more ? GG_TYPE_Q5_K : GG_TYPE_Q4_K;
		return more ? GG_TYPE_Q6_K : t;
	case GG_FTYPE_Q5_K_M: return more ? GG_TYPE_Q6_K : t;
	case GG_FTYPE_Q4_K_S:
		return !w->falcon && il < nl / 8 ? GG_TYPE_Q5_K : t;
	default: return t;
	}
}

static enum gg_type attn_output_type(const struct walk *w, enum gg_type t)
{
	if (w->falcon)
		return w->f == GG_FTYPE_Q3_K_L ? GG_TYPE_Q4_K : t;
	if (w->m->n_expert == 8) {
		switch (w->f) {
		case GG_FTYPE_Q2_K: case GG_FTYPE_Q3_K_S: case GG_FTYPE_Q3_K_M:
		case GG_FTYPE_Q4_K_S: case GG_FTYPE_Q4_K_M:
			return GG_TYPE_Q5_K;
		default: return t;
		}
	}
	switch (w->f) {
	case GG_FTYPE_Q2_K: return GG_TYPE_Q3_K;
	case GG_FTYPE_Q3_K_M: return GG_TYPE_Q4_K;
	case GG_FTYPE_Q3_K_L: return GG_TYPE_Q5_K;
	default: return t;
	}
}

/* tensor_type_fallback: a type whose block does not divide the row. */
static enum gg_type fallback(enum gg_type t, uint64_t ncols)
{
	if (ncols % gg_quant_block(t) == 0)
		return t;
	switch (t) {
	case GG_TYPE_Q2_K:
	case GG_TYPE_Q3_K: t = GG_TYPE_Q4_0; break;
	case GG_TYPE_Q4_K: t = GG_TYPE_Q5_0; break;
	case GG_TYPE_Q5_K: t = GG_TYPE_Q5_1; break;
	case GG_TYPE_Q6_K: t = GG_TYPE_Q8_0; break;
	default: break; /* a 32-block type: F16 below */
	}
	return ncols % gg_quant_block(t) ? GG_TYPE_F16 : t;
}

/* The layer of an ffn tensor: the running count, or (expert models) the
 * number in its name, which must be a block of the model. */
static int ffn_layer(const struct walk *w, int counter, const char *name,
		     gg_err *e)
{
	if (w->m->n_expert <= 1)
		return counter;
	int il = name_layer(name);
	if (il < 0)
		return gg_fail(e, "%s: no layer number in the tensor name of an expert model", name), -1;
	if ((uint32_t)il >= w->m->n_layer)
		return gg_fail(e, "%s: layer %d is not below block_count %u", name, il,
			       w->m->n_layer), -1;
	return il;
}

static int tensor_type(struct walk *w, const struct gg_qtensor *t,
		       enum gg_type *out, gg_err *e)
{
	enum gg_type base = gg_ftype_base_type(w->f), nt = base;
	enum category c = category(t->name);
	if (c == CAT_OUTPUT || (w->tied && c == CAT_TOKEN_EMBD)) {
		if (w->falcon || t->ne[0] % gg_quant_block(base))
			nt = GG_TYPE_Q8_0;
		else if (nt != GG_TYPE_Q8_0)
			nt = GG_TYPE_Q6_K;
	} else if (c == CAT_ATTN_V) {
		nt = attn_v_type(w, nt);
	} else if (c == CAT_ATTN_K) {
		if (w->m->n_expert == 8)
			nt = GG_TYPE_Q8_0;
	} else if (c == CAT_FFN_DOWN) {
		int il = ffn_layer(w, w->i_ffn_down, t->name, e);
		if (il < 0)
			return -1;
		nt = ffn_down_type(w, nt, il, (int)w->m->n_layer);
		w->i_ffn_down++;
	} else if (c == CAT_ATTN_OUTPUT) {
		nt = attn_output_type(w, nt);
	} else if (c == CAT_FFN_GATE || c == CAT_FFN_UP) {
		/* Only IQ3_XS changes these, but the layer must still parse. */
		if (ffn_layer(w, 0, t->name, e) < 0)
			return -1;
	}
	*out = fallback(nt, t->ne[0]);
	return 0;
}

int gg_ftype_tensor_types(const struct gg_qmodel *m, enum gg_ftype f,
			  const struct gg_qtensor *tensors, size_t n,
			  enum gg_type *types, gg_err *e)
{
	struct walk w = { .m = m, .f = f, .tied = true, .is_70b = model_is_70b(m),
			  .falcon = strcmp(m->arch, "falcon") == 0 };
	size_t *order = gg_malloc((n ? n : 1) * sizeof *order);
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		enum category c = category(tensors[i].name);
		if (c == CAT_ATTN_V)
			w.n_attn_v++;
		if (c == CAT_OUTPUT)
			w.tied = false;
	}
	qsort_r(order, n, sizeof *order, walk_cmp, (void *)tensors);
	int rc = 0;
	for (size_t k = 0; k < n && rc == 0; k++) {
		const struct gg_qtensor *t = &tensors[order[k]];
		enum gg_type *out = &types[order[k]];
		if (!gg_qtensor_quantizable(t))
			*out = t->type;
		else if (!gg_ftype_is_quantized(f))
			*out = gg_ftype_base_type(f);
		else
			rc = tensor_type(&w, t, out, e);
		/* A source already in a block type (gpt-oss's MXFP4 experts)
		 * keeps its blocks: llama-quantize would refuse to requantize
		 * it without --allow-requantize. */
		if (gg_type_size(t->type) == 0)
			*out = t->type;
	}
	free(order);
	return rc;
}

enum gg_ftype gg_ftype_of_outfile(const struct gg_outfile *f)
{
	for (size_t i = 0; i < f->ntensors; i++)
		if (f->tensors[i].type == GG_TYPE_MXFP4)
			return GG_FTYPE_MXFP4_MOE;
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		if (t->n_dims < 2 || t->type == GG_TYPE_F32)
			continue;
		return t->type == GG_TYPE_BF16 ? GG_FTYPE_BF16 : GG_FTYPE_F16;
	}
	return GG_FTYPE_F32;
}
