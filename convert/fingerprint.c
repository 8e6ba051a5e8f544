/* fingerprint.c - see fingerprint.h. */
#include "fingerprint.h"

#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

/* Bump when what is hashed, or how chunks are made, changes meaning. */
#define FINGERPRINT_FORMAT 1

static void add(XXH3_state_t *h, const void *p, size_t n)
{
	XXH3_128bits_update(h, p, n);
}

static void add_u64(XXH3_state_t *h, uint64_t v)
{
	add(h, &v, sizeof v);
}

static void add_str(XXH3_state_t *h, const char *s)
{
	size_t n = strlen(s);
	add_u64(h, n);
	add(h, s, n);
}

static void add_file(XXH3_state_t *h, const struct st_file *f)
{
	add_str(h, f->path);
	add_u64(h, (uint64_t)f->dev);
	add_u64(h, (uint64_t)f->ino);
	add_u64(h, f->size);
	add_u64(h, (uint64_t)f->mtime.tv_sec);
	add_u64(h, (uint64_t)f->mtime.tv_nsec);
	add_u64(h, (uint64_t)f->ctime.tv_sec);
	add_u64(h, (uint64_t)f->ctime.tv_nsec);
}

static void add_st(XXH3_state_t *h, const struct st_set *set, const struct st_tensor *st)
{
	add_u64(h, st != NULL);
	if (!st)
		return;
	add_str(h, st->name);
	add_u64(h, (uint64_t)st->dtype);
	add_u64(h, st->nelem);
	add_u64(h, st->offset);
	add_u64(h, st->nbytes);
	if (set && st->file < set->nfiles)
		add_file(h, &set->files[st->file]);
}

void gg_tensor_fingerprint(const struct st_set *set, const struct gg_tensor *t,
			   struct gg_fingerprint *out)
{
	XXH3_state_t h;
	XXH3_128bits_reset(&h);
	add_u64(&h, FINGERPRINT_FORMAT);
	add_str(&h, GGUFFS_VERSION);
	add_u64(&h, (uint64_t)t->type);
	add_u64(&h, (uint64_t)t->value_type);
	add_u64(&h, (uint64_t)t->op);
	add_u64(&h, t->n_dims);
	for (int d = 0; d < GGUF_MAX_DIMS; d++)
		add_u64(&h, t->ne[d]);
	add_u64(&h, (uint64_t)t->view.ndim);
	for (int d = 0; d < t->view.ndim; d++) {
		add_u64(&h, t->view.dim[d]);
		add_u64(&h, (uint64_t)t->view.stride[d]);
	}
	add_u64(&h, t->view.base);
	add_u64(&h, t->nsrc);
	for (size_t i = 0; i < t->nsrc; i++) {
		const struct gg_src *s = &t->srcs[i];
		add_u64(&h, (uint64_t)s->type);
		add_u64(&h, s->nelem);
		add_st(&h, set, s->st);
		add_st(&h, set, s->scales);
		if (!s->st && s->mem)
			add(&h, s->mem, (size_t)(s->nelem * gg_type_size(s->type)));
	}
	XXH128_hash_t r = XXH3_128bits_digest(&h);
	XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, r);
}

void gg_chunk_fingerprint(const struct gg_fingerprint *fp, uint64_t off,
			  uint64_t len, struct gg_fingerprint *out)
{
	uint64_t buf[4];
	memcpy(buf, fp->b, 16);
	buf[2] = off;
	buf[3] = len;
	XXH128_hash_t r = XXH3_128bits(buf, sizeof buf);
	XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, r);
}
