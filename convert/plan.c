/* plan.c - building and finishing output file descriptions (plan.h). */
#include "plan.h"
#include "quant.h"

#include "gguf_reader.h"
#include "quant.h"

#include <limits.h>
#include <xxhash.h>
#include <stdlib.h>
#include <string.h>

void gg_view_init(struct gg_view *v, const uint64_t *shape, int ndim)
{
	memset(v, 0, sizeof *v);
	v->ndim = ndim;
	int64_t stride = 1;
	for (int d = ndim - 1; d >= 0; d--) {
		v->dim[d] = shape[d];
		v->stride[d] = stride;
		stride *= (int64_t)shape[d];
	}
}

int gg_view_split(struct gg_view *v, int d, uint64_t outer, gg_err *e)
{
	if (d < 0 || d >= v->ndim || v->ndim >= GG_VIEW_MAX_DIMS)
		return gg_fail(e, "view: cannot split dim %d of %d", d, v->ndim);
	if (outer == 0 || v->dim[d] % outer)
		return gg_fail(e, "view: dim %d of size %llu is not divisible by %llu",
			       d, (unsigned long long)v->dim[d],
			       (unsigned long long)outer);
	uint64_t inner = v->dim[d] / outer;
	memmove(&v->dim[d + 1], &v->dim[d], (size_t)(v->ndim - d) * sizeof v->dim[0]);
	memmove(&v->stride[d + 1], &v->stride[d],
		(size_t)(v->ndim - d) * sizeof v->stride[0]);
	v->ndim++;
	v->dim[d] = outer;
	v->dim[d + 1] = inner;
	v->stride[d] = v->stride[d + 1] * (int64_t)inner;
	return 0;
}

int gg_view_swap(struct gg_view *v, int a, int b, gg_err *e)
{
	if (a < 0 || b < 0 || a >= v->ndim || b >= v->ndim)
		return gg_fail(e, "view: cannot swap dims %d and %d of %d", a, b,
			       v->ndim);
	uint64_t dim = v->dim[a];
	int64_t stride = v->stride[a];
	v->dim[a] = v->dim[b];
	v->stride[a] = v->stride[b];
	v->dim[b] = dim;
	v->stride[b] = stride;
	return 0;
}

int gg_view_slice(struct gg_view *v, int d, uint64_t start, uint64_t len,
		  gg_err *e)
{
	if (d < 0 || d >= v->ndim || start > v->dim[d] || len > v->dim[d] - start)
		return gg_fail(e, "view: slice [%llu, +%llu) outside dim %d",
			       (unsigned long long)start, (unsigned long long)len, d);
	v->base += start * (uint64_t)v->stride[d];
	v->dim[d] = len;
	return 0;
}

int gg_view_rotary(struct gg_view *v, uint64_t heads, gg_err *e)
{
	if (v->ndim < 1 || heads == 0 || v->dim[0] % (2 * heads))
		return gg_fail(e, "rotary permutation: %llu rows do not split into %llu heads of even size",
			       (unsigned long long)(v->ndim ? v->dim[0] : 0),
			       (unsigned long long)heads);
	/* rows -> [heads, 2, rows/heads/2], then swap the last two. */
	if (gg_view_split(v, 0, heads, e) || gg_view_split(v, 1, 2, e))
		return -1;
	return gg_view_swap(v, 1, 2, e);
}

int gg_view_take_every(struct gg_view *v, int d, uint64_t step, uint64_t first,
		       gg_err *e)
{
	if (d < 0 || d >= v->ndim || step == 0 || first >= step || v->dim[d] % step)
		return gg_fail(e, "view: cannot take every %llu-th of dim %d (size %llu) from %llu",
			       (unsigned long long)step, d,
			       (unsigned long long)(d >= 0 && d < v->ndim ? v->dim[d] : 0),
			       (unsigned long long)first);
	/* [n] -> [n/step, step], keep column `first`: a stride of step rows. */
	if (gg_view_split(v, d, v->dim[d] / step, e) ||
	    gg_view_slice(v, d + 1, first, 1, e))
		return -1;
	/* Drop the size-1 dim so later dims keep their numbers. */
	memmove(&v->dim[d + 1], &v->dim[d + 2], (size_t)(v->ndim - d - 2) * sizeof v->dim[0]);
	memmove(&v->stride[d + 1], &v->stride[d + 2],
		(size_t)(v->ndim - d - 2) * sizeof v->stride[0]);
	v->ndim--;
	return 0;
}

uint64_t gg_view_nelem(const struct gg_view *v)
{
	uint64_t n = 1;
	for (int d = 0; d < v->ndim; d++)
		n *= v->dim[d];
	return n;
}

void gg_view_span(const struct gg_view *v, int64_t *lo, int64_t *hi)
{
	*lo = *hi = (int64_t)v->base;
	for (int d = 0; d < v->ndim; d++) {
		int64_t span = (int64_t)(v->dim[d] - 1) * v->stride[d];
		if (span < 0)
			*lo += span;
		else
			*hi += span;
	}
}

bool gg_view_is_contiguous(const struct gg_view *v)
{
	int64_t expect = 1;
	for (int d = v->ndim - 1; d >= 0; d--) {
		if (v->dim[d] != 1 && v->stride[d] != expect)
			return false;
		expect *= (int64_t)v->dim[d];
	}
	return true;
}

static uint64_t tensor_bytes(const struct gg_tensor *t)
{
	if (gg_type_size(t->type) || t->n_dims == 0 || t->ne[0] == 0)
		return t->nelem * gg_type_size(t->type);
	/* A block type: whole blocks per row (0 when they do not divide the
	 * row, which tensor_validate refuses). */
	return gg_row_size(t->type, t->ne[0]) * (t->nelem / t->ne[0]);
}

static void tensor_set_shape(struct gg_tensor *t, const uint64_t *shape, int ndim)
{
	t->n_dims = (uint32_t)ndim;
	t->nelem = 1;
	for (int d = 0; d < ndim; d++) {
		t->ne[d] = shape[ndim - 1 - d];
		t->nelem *= shape[d];
	}
	t->nbytes = tensor_bytes(t);
}

void gg_tensor_set_type(struct gg_tensor *t, enum gg_type type,
			enum gg_type value_type)
{
	t->type = type;
	t->value_type = value_type;
	t->nbytes = tensor_bytes(t);
}

static size_t name_slot(const struct gg_outfile *f, const char *name)
{
	return (size_t)XXH3_64bits(name, strlen(name)) & (f->name_index_cap - 1);
}

static void index_insert(struct gg_outfile *f, size_t i)
{
	size_t slot = name_slot(f, f->tensors[i].name);
	while (f->name_index[slot])
		slot = (slot + 1) & (f->name_index_cap - 1);
	f->name_index[slot] = i + 1;
}

/* Rebuild the name index with room for at least twice the tensors. */
static void index_rebuild(struct gg_outfile *f, size_t want)
{
	size_t cap = 64;
	while (cap < want * 2)
		cap *= 2;
	free(f->name_index);
	f->name_index = gg_calloc(cap, sizeof *f->name_index);
	f->name_index_cap = cap;
	for (size_t i = 0; i < f->ntensors; i++)
		index_insert(f, i);
}

static const char *where(const struct gg_outfile *f)
{
	return f->origin ? f->origin : f->name;
}

/* Names llama.cpp cannot load (GGML_MAX_NAME is 64 with the NUL) or that
 * cannot be a file in the mount's tensors/ directory. src: the source it
 * came from, for the message (or NULL). */
static int check_name(const struct gg_outfile *f, const char *name, const char *src,
		      gg_err *e)
{
	const char *why = NULL;
	size_t n = strlen(name);
	if (n == 0)
		why = "is empty";
	else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		why = "cannot be a file name";
	else if (n > GG_MAX_TENSOR_NAME)
		why = "is longer than llama.cpp's 63-byte limit";
	if (!why)
		return 0;
	if (src)
		return gg_fail(e, "%s: tensor '%.200s' (%zu bytes, from '%.200s') %s",
			       where(f), name, n, src, why);
	return gg_fail(e, "%s: tensor '%.200s' (%zu bytes) %s", where(f), name, n, why);
}

static struct gg_tensor *add_named(struct gg_outfile *f, const char *name,
				   enum gg_type type, const uint64_t *shape,
				   int ndim, const char *src, gg_err *e)
{
	if (check_name(f, name, src, e))
		return NULL;
	if (gg_outfile_find(f, name)) {
		gg_fail(e, "%s: two tensors are both named '%s'", where(f), name);
		return NULL;
	}
	if (f->ntensors == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->tensors = gg_realloc(f->tensors, f->cap * sizeof *f->tensors);
	}
	struct gg_tensor *t = &f->tensors[f->ntensors++];
	memset(t, 0, sizeof *t);
	t->name = gg_strdup(name);
	t->type = type;
	t->value_type = type;
	tensor_set_shape(t, shape, ndim);
	if (f->ntensors * 2 > f->name_index_cap)
		index_rebuild(f, f->ntensors);
	else
		index_insert(f, f->ntensors - 1);
	return t;
}

struct gg_tensor *gg_outfile_add(struct gg_outfile *f, const char *name,
				 enum gg_type type, const uint64_t *shape,
				 int ndim, gg_err *e)
{
	return add_named(f, name, type, shape, ndim, NULL, e);
}

static void set_single_source(struct gg_tensor *t, const struct st_tensor *st)
{
	t->srcs = gg_calloc(1, sizeof *t->srcs);
	t->nsrc = 1;
	t->srcs[0] = (struct gg_src){ .st = st, .type = st->dtype, .nelem = st->nelem };
}

struct gg_tensor *gg_outfile_add_view(struct gg_outfile *f, const char *name,
				      enum gg_type type, const uint64_t *shape,
				      int ndim, const struct st_tensor *st,
				      const struct gg_view *view, gg_err *e)
{
	struct gg_tensor *prev = gg_outfile_find(f, name);
	if (prev && prev->nsrc && prev->srcs[0].st) {
		gg_fail(e, "%s: source tensors '%s' and '%s' are both named '%s' after renaming",
			where(f), prev->srcs[0].st->name, st->name, name);
		return NULL;
	}
	struct gg_tensor *t = add_named(f, name, type, shape, ndim, st->name, e);
	if (!t)
		return NULL;
	set_single_source(t, st);
	t->view = *view;
	return t;
}

struct gg_tensor *gg_outfile_add_source(struct gg_outfile *f, const char *name,
					enum gg_type type,
					const struct st_tensor *st, gg_err *e)
{
	struct gg_view v;
	gg_view_init(&v, st->shape, st->ndim);
	return gg_outfile_add_view(f, name, type, st->shape, st->ndim, st, &v, e);
}

struct gg_tensor *gg_outfile_add_f32(struct gg_outfile *f, const char *name,
				     const float *values, uint64_t n, gg_err *e)
{
	struct gg_tensor *t = gg_outfile_add(f, name, GG_TYPE_F32, &n, 1, e);
	if (!t)
		return NULL;
	float *copy = gg_malloc(n * sizeof *copy + 1);
	if (n) /* Ollama writes empty factor lists as empty tensors: values may be NULL */
		memcpy(copy, values, n * sizeof *copy);
	f->mem = gg_realloc(f->mem, (f->nmem + 1) * sizeof *f->mem);
	f->mem[f->nmem++] = copy;
	t->srcs = gg_calloc(1, sizeof *t->srcs);
	t->nsrc = 1;
	t->srcs[0] = (struct gg_src){ .mem = copy, .type = GG_TYPE_F32, .nelem = n };
	gg_view_init(&t->view, &n, 1);
	return t;
}

int gg_tensor_set_stack(struct gg_tensor *t, const struct st_tensor *const *st,
			size_t n, gg_err *e)
{
	for (size_t i = 1; i < n; i++) {
		if (st[i]->dtype != st[0]->dtype || st[i]->ndim != st[0]->ndim ||
		    memcmp(st[i]->shape, st[0]->shape,
			   (size_t)st[0]->ndim * sizeof st[0]->shape[0]))
			return gg_fail(e, "%s: cannot stack '%s' with '%s': shapes or dtypes differ",
				       t->name, st[0]->name, st[i]->name);
	}
	free(t->srcs);
	t->srcs = gg_calloc(n, sizeof *t->srcs);
	t->nsrc = n;
	for (size_t i = 0; i < n; i++)
		t->srcs[i] = (struct gg_src){ .st = st[i], .type = st[i]->dtype,
					      .nelem = st[i]->nelem };
	gg_view_init(&t->view, st[0]->shape, st[0]->ndim);
	return 0;
}

int gg_tensor_set_mxfp4(struct gg_tensor *t, const struct st_tensor *blocks,
			const struct st_tensor *scales, gg_err *e)
{
	int n = blocks->ndim;
	if (blocks->dtype != GG_TYPE_U8 || scales->dtype != GG_TYPE_U8 || n < 2 ||
	    blocks->shape[n - 1] != 16 || scales->ndim != n - 1 ||
	    memcmp(blocks->shape, scales->shape, (size_t)(n - 1) * sizeof blocks->shape[0]))
		return gg_fail(e, "%s: '%s' and '%s' are not MXFP4 blocks [..., G, 16] and scales [..., G] (U8)",
			       t->name, blocks->name, scales->name);
	if (t->type != GG_TYPE_MXFP4)
		return gg_fail(e, "%s: MXFP4 blocks need an MXFP4 output tensor", t->name);
	free(t->srcs);
	t->srcs = gg_calloc(1, sizeof *t->srcs);
	t->nsrc = 1;
	t->srcs[0] = (struct gg_src){ .st = blocks, .scales = scales, .type = GG_TYPE_U8,
				      .nelem = scales->nelem };
	t->op = GG_OP_MXFP4_REPACK;
	gg_view_init(&t->view, scales->shape, scales->ndim);
	return 0;
}

int gg_tensor_rotary(const struct gg_outfile *f, struct gg_tensor *t,
		     uint32_t heads, const char *what, gg_err *e)
{
	if (heads == 0)
		return gg_fail(e, "%s: cannot permute %s: config has no %s count",
			       where(f), t->name, what);
	gg_err sub;
	if (gg_view_rotary(&t->view, heads, &sub))
		return gg_fail(e, "%s: tensor %s: %llu rows cannot be permuted for %u %ss",
			       where(f), t->name, (unsigned long long)t->view.dim[0],
			       heads, what);
	return 0;
}

struct gg_tensor *gg_outfile_find(struct gg_outfile *f, const char *name)
{
	if (!f->name_index_cap)
		return NULL;
	for (size_t slot = name_slot(f, name); f->name_index[slot];
	     slot = (slot + 1) & (f->name_index_cap - 1)) {
		struct gg_tensor *t = &f->tensors[f->name_index[slot] - 1];
		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

static void tensor_free(struct gg_tensor *t)
{
	free(t->name);
	free(t->srcs);
}

void gg_outfile_clear(struct gg_outfile *f)
{
	for (size_t i = 0; i < f->ntensors; i++) {
		free(f->tensors[i].name);
		free(f->tensors[i].srcs);
	}
	free(f->tensors);
	free(f->name_index);
	for (size_t i = 0; i < f->nmem; i++)
		free(f->mem[i]);
	free(f->mem);
	gguf_kvs_free(f->kvs);
	free(f->header);
	free(f->name);
}

void gg_outfile_remove(struct gg_outfile *f, const char *name)
{
	struct gg_tensor *t = gg_outfile_find(f, name);
	if (!t)
		return;
	size_t i = (size_t)(t - f->tensors);
	tensor_free(t);
	memmove(t, t + 1, (f->ntensors - i - 1) * sizeof *t);
	f->ntensors--;
	index_rebuild(f, f->ntensors);
}

int gg_tensor_block(const char *name)
{
	/* Mirrors Go's fmt.Sscanf(name, "blk.%d.", &n): optional sign, digits,
	 * then a literal '.'; anything else sorts after every block. */
	if (strncmp(name, "blk.", 4) != 0)
		return INT_MAX;
	const char *p = name + 4;
	bool neg = false;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (*p < '0' || *p > '9')
		return INT_MAX;
	long long n = 0;
	while (*p >= '0' && *p <= '9') {
		n = n * 10 + (*p++ - '0');
		if (n > INT_MAX)
			return INT_MAX;
	}
	if (*p != '.')
		return INT_MAX;
	return (int)(neg ? -n : n);
}

static int tensor_order(const void *pa, const void *pb)
{
	const struct gg_tensor *a = pa, *b = pb;
	int ba = gg_tensor_block(a->name), bb = gg_tensor_block(b->name);
	if (ba != bb)
		return ba < bb ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Drop size-1 dims and merge dims that are contiguous in the source, so the
 * engine's inner loop runs over the longest possible spans. */
static void view_coalesce(struct gg_view *v)
{
	struct gg_view c = { .base = v->base };
	for (int d = 0; d < v->ndim; d++) {
		if (v->dim[d] == 1)
			continue;
		if (c.ndim > 0 &&
		    c.stride[c.ndim - 1] == v->stride[d] * (int64_t)v->dim[d]) {
			c.dim[c.ndim - 1] *= v->dim[d];
			c.stride[c.ndim - 1] = v->stride[d];
			continue;
		}
		c.dim[c.ndim] = v->dim[d];
		c.stride[c.ndim] = v->stride[d];
		c.ndim++;
	}
	if (c.ndim == 0) {
		c.ndim = 1;
		c.dim[0] = 1;
		c.stride[0] = 1;
	}
	*v = c;
}

static int tensor_validate(const struct gg_outfile *f, struct gg_tensor *t,
			   gg_err *e)
{
	bool repack = t->op == GG_OP_MXFP4_REPACK;
	bool quant = gg_quant_supported(t->type);
	/* An element type with a GGUF id, MXFP4 from a repack, or a block type
	 * quantized from plain values (whole blocks per row): never U8. */
	bool plain_values = gg_type_size(t->value_type) &&
			    gguf_ggml_type_name((uint32_t)t->value_type);
	if (repack ? t->type != GG_TYPE_MXFP4 || t->nbytes == 0 :
	    quant ? !plain_values || t->ne[0] % gg_quant_block(t->type) != 0 :
		    !plain_values || gg_type_size(t->type) == 0 ||
		    !gguf_ggml_type_name((uint32_t)t->type))
		return gg_fail(e, "%s: tensor %s: unsupported output type %d",
			       f->name, t->name, (int)t->type);
	if (t->nsrc == 0)
		return gg_fail(e, "%s: tensor %s has no source", f->name, t->name);
	for (size_t s = 0; s < t->nsrc; s++)
		if (repack != (t->srcs[s].scales != NULL) || (repack && !t->srcs[s].st))
			return gg_fail(e, "%s: tensor %s: MXFP4 repack needs block and scale sources",
				       f->name, t->name);
	uint64_t per_src = gg_view_nelem(&t->view);
	if (per_src * t->nsrc * (repack ? 32 : 1) != t->nelem)
		return gg_fail(e, "%s: tensor %s: %llu source elements for a shape of %llu",
			       f->name, t->name,
			       (unsigned long long)(per_src * t->nsrc),
			       (unsigned long long)t->nelem);
	if (per_src == 0)
		return 0;
	int64_t lo, hi;
	gg_view_span(&t->view, &lo, &hi);
	for (size_t s = 0; s < t->nsrc; s++)
		if (lo < 0 || (uint64_t)hi >= t->srcs[s].nelem)
			return gg_fail(e, "%s: tensor %s: view reads outside source %s",
				       f->name, t->name,
				       t->srcs[s].st ? t->srcs[s].st->name : "(memory)");
	return 0;
}

static void tensor_mark_copy(struct gg_tensor *t)
{
	const struct gg_src *s = &t->srcs[0];
	t->is_copy = t->nsrc == 1 && s->st && s->type == t->type && !s->scales &&
		     t->value_type == t->type && t->op == GG_OP_NONE &&
		     gg_view_is_contiguous(&t->view);
	if (t->is_copy) {
		t->copy_file = s->st->file;
		t->copy_offset = s->st->offset + t->view.base * gg_type_size(t->type);
	}
}

int gg_outfile_finish(struct gg_outfile *f, gg_err *e)
{
	for (size_t i = 0; i < f->ntensors; i++) {
		struct gg_tensor *t = &f->tensors[i];
		if (tensor_validate(f, t, e))
			return -1;
		view_coalesce(&t->view);
		tensor_mark_copy(t);
	}
	if (f->sort_tensors) {
		qsort(f->tensors, f->ntensors, sizeof *f->tensors, tensor_order);
		index_rebuild(f, f->ntensors);
	}
	for (size_t i = 1; i < f->ntensors; i++)
		if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
			return gg_fail(e, "%s: duplicate tensor name '%s'", f->name,
				       f->tensors[i].name);
	if (f->sort_kv)
		gguf_kvs_sort(f->kvs);

	struct gguf_tensor_info *info = gg_calloc(f->ntensors, sizeof *info);
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		info[i].name = t->name;
		info[i].type = t->type;
		info[i].n_dims = t->n_dims;
		memcpy(info[i].ne, t->ne, sizeof info[i].ne);
		info[i].nbytes = t->nbytes;
	}
	uint64_t data_size;
	gguf_layout(info, f->ntensors, f->alignment, f->pad_last, &data_size);
	f->header = gguf_write_header(f->kvs, info, f->ntensors, f->alignment,
				      &f->header_len);
	for (size_t i = 0; i < f->ntensors; i++)
		f->tensors[i].offset = f->header_len + info[i].offset;
	f->size = f->header_len + data_size;
	free(info);
	return 0;
}
