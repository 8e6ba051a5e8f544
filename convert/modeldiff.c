/* modeldiff.c - see modeldiff.h. */
#include "modeldiff.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct st_set *set_of(const struct gg_model *m,
				   const struct gg_outfile *f)
{
	return f->st ? f->st : m->st;
}

static bool same_identity(const struct st_file *x, const struct st_file *y)
{
	return strcmp(x->path, y->path) == 0 && x->dev == y->dev &&
	       x->ino == y->ino && x->size == y->size &&
	       x->mtime.tv_sec == y->mtime.tv_sec &&
	       x->mtime.tv_nsec == y->mtime.tv_nsec &&
	       x->ctime.tv_sec == y->ctime.tv_sec &&
	       x->ctime.tv_nsec == y->ctime.tv_nsec;
}

static bool same_view(const struct gg_view *x, const struct gg_view *y)
{
	if (x->ndim != y->ndim || x->base != y->base)
		return false;
	for (int d = 0; d < x->ndim; d++)
		if (x->dim[d] != y->dim[d] || x->stride[d] != y->stride[d])
			return false;
	return true;
}

/* The same safetensors tensor (or both none), read from the same file. */
static bool same_st(const struct st_set *sa, const struct st_tensor *p,
		    const struct st_set *sb, const struct st_tensor *q)
{
	if (!p || !q)
		return p == q;
	if (strcmp(p->name, q->name) != 0 || p->dtype != q->dtype ||
	    p->offset != q->offset || p->nbytes != q->nbytes ||
	    !sa || !sb || p->file >= sa->nfiles || q->file >= sb->nfiles)
		return false;
	return same_identity(&sa->files[p->file], &sb->files[q->file]);
}

static bool same_src(const struct st_set *sa, const struct gg_src *x,
		     const struct st_set *sb, const struct gg_src *y)
{
	if (x->type != y->type || x->nelem != y->nelem || !x->st != !y->st ||
	    !same_st(sa, x->scales, sb, y->scales))
		return false;
	if (!x->st) {
		size_t es = gg_type_size(x->type);
		return es && x->mem && y->mem &&
		       memcmp(x->mem, y->mem, es * x->nelem) == 0;
	}
	return same_st(sa, x->st, sb, y->st);
}

/* Will tensor y of b produce the bytes tensor x of a produced? */
static bool same_bytes(const struct gg_model *a, const struct gg_outfile *fa,
		       const struct gg_tensor *x, const struct gg_model *b,
		       const struct gg_outfile *fb, const struct gg_tensor *y)
{
	if (x->op != y->op || x->nsrc != y->nsrc || x->is_copy != y->is_copy ||
	    (x->is_copy && x->copy_offset != y->copy_offset) ||
	    !same_view(&x->view, &y->view))
		return false;
	const struct st_set *sa = set_of(a, fa), *sb = set_of(b, fb);
	for (size_t i = 0; i < x->nsrc; i++)
		if (!same_src(sa, &x->srcs[i], sb, &y->srcs[i]))
			return false;
	return true;
}

static bool same_header(const struct gg_outfile *x, const struct gg_outfile *y,
			char *why, size_t cap)
{
	if (strcmp(x->name, y->name) != 0) {
		snprintf(why, cap, "output file %s is now %s", x->name, y->name);
		return false;
	}
	if (x->size != y->size || x->header_len != y->header_len ||
	    x->ntensors != y->ntensors) {
		snprintf(why, cap, "%s: %" PRIu64 " bytes, %zu tensors; now %"
			 PRIu64 " bytes, %zu tensors", x->name, x->size,
			 x->ntensors, y->size, y->ntensors);
		return false;
	}
	for (size_t i = 0; i < x->header_len; i++) {
		if (x->header[i] != y->header[i]) {
			snprintf(why, cap, "%s: the header (metadata or tensor "
				 "table) differs from byte %zu", x->name, i);
			return false;
		}
	}
	return true;
}

/* The distinct source sets of m: its own, then the output files' own. */
static size_t source_sets(const struct gg_model *m, const struct st_set **out,
			  size_t cap)
{
	size_t n = 0;
	for (size_t k = 0; k <= m->nfiles && n < cap; k++) {
		const struct st_set *s = k == 0 ? m->st : m->files[k - 1].st;
		bool seen = !s;
		for (size_t i = 0; i < n && !seen; i++)
			seen = out[i] == s;
		if (!seen)
			out[n++] = s;
	}
	return n;
}

/* Source files of b that are not the file a read (by position). */
static size_t count_changed_sources(const struct gg_model *a,
				    const struct gg_model *b, size_t *total)
{
	const struct st_set *sa[8], *sb[8];
	size_t na = source_sets(a, sa, 8), nb = source_sets(b, sb, 8);
	size_t changed = 0;
	*total = 0;
	for (size_t k = 0; k < nb; k++) {
		for (size_t i = 0; i < sb[k]->nfiles; i++, (*total)++)
			changed += !(k < na && i < sa[k]->nfiles &&
				     same_identity(&sa[k]->files[i], &sb[k]->files[i]));
	}
	return changed;
}

void gg_modeldiff(const struct gg_model *a, const struct gg_model *b,
		  struct gg_modeldiff *d)
{
	memset(d, 0, sizeof *d);
	d->changed_sources = count_changed_sources(a, b, &d->nsources);
	if (a->nfiles != b->nfiles) {
		snprintf(d->why, sizeof d->why, "%zu output files, now %zu",
			 a->nfiles, b->nfiles);
		return;
	}
	for (size_t i = 0; i < a->nfiles; i++)
		if (!same_header(&a->files[i], &b->files[i], d->why, sizeof d->why))
			return;
	d->same_layout = true;
	d->nfiles = a->nfiles;
	d->affected = gg_calloc(a->nfiles ? a->nfiles : 1, sizeof *d->affected);
	for (size_t i = 0; i < a->nfiles; i++) {
		const struct gg_outfile *fa = &a->files[i], *fb = &b->files[i];
		d->affected[i] = gg_calloc(fa->ntensors ? fa->ntensors : 1, 1);
		for (size_t t = 0; t < fa->ntensors; t++) {
			bool same = same_bytes(a, fa, &fa->tensors[t], b, fb,
					       &fb->tensors[t]);
			d->affected[i][t] = !same;
			d->naffected += !same;
		}
	}
}

void gg_modeldiff_free(struct gg_modeldiff *d)
{
	for (size_t i = 0; d->affected && i < d->nfiles; i++)
		free(d->affected[i]);
	free(d->affected);
	memset(d, 0, sizeof *d);
}
