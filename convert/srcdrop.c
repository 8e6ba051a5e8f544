/* srcdrop.c - drop source blocks from the page cache once consumed
 * (contract in srcdrop.h).
 *
 * Each block has `want`, the source bytes all plans read from it, and an
 * atomic `got`. Expected and consumed bytes are both computed by one
 * function, account(), so a block whose every reader has run reaches its
 * `want` exactly. A source range read with density below one (a strided
 * view whose span holds bytes it skips) is spread over its blocks in
 * proportion to their overlap, with integer rounding that adds up exactly.
 */
#include "srcdrop.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util.h"

#define BLK ((uint64_t)GG_SRCDROP_BLOCK)

struct blocks {
	uint64_t *want;
	_Atomic uint64_t *got;
	size_t n;
};

struct gg_srcdrop {
	const struct st_set *set;
	const struct gg_outfile *files;
	size_t nfiles;
	struct blocks *b;             /* per source file */
	_Atomic uint64_t **produced;  /* per file, per tensor (whole-tensor mode) */
	_Atomic uint64_t drops, bytes_dropped;
	uint64_t nblocks;
};

enum mode { M_NONE, M_COPY, M_ELEMS, M_WHOLE };

/* How t's consumption is counted. M_ELEMS: a contiguous view over
 * safetensors sources, with a whole number of output bytes per element. */
static enum mode tensor_mode(const struct gg_srcdrop *d,
			     const struct gg_outfile *f,
			     const struct gg_tensor *t)
{
	if (f->st != d->set || t->nbytes == 0 || t->nsrc == 0)
		return M_NONE;
	if (t->is_copy)
		return M_COPY;
	/* sources read in units other than their elements (a repack's block
	 * and scale pairs) are not tracked */
	for (size_t s = 0; s < t->nsrc; s++)
		if (!t->srcs[s].st || t->srcs[s].scales)
			return M_NONE;
	if (gg_view_is_contiguous(&t->view) && t->nbytes % t->nelem == 0)
		return M_ELEMS;
	return M_WHOLE;
}

static void drop_block(struct gg_srcdrop *d, uint32_t file, size_t k)
{
	const struct st_file *sf = &d->set->files[file];
	uint64_t start = k * BLK;
	uint64_t len = sf->size - start < BLK ? sf->size - start : BLK;
	/* Mapped pages are not dropped: unmap ours first. */
	if (sf->map)
		madvise((void *)(sf->map + start), len, MADV_DONTNEED);
	posix_fadvise(sf->fd, (off_t)start, (off_t)len, POSIX_FADV_DONTNEED);
	atomic_fetch_add_explicit(&d->drops, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->bytes_dropped, len, memory_order_relaxed);
}

static void block_add(struct gg_srcdrop *d, uint32_t file, size_t k,
		      uint64_t n, bool expect)
{
	struct blocks *b = &d->b[file];
	if (k >= b->n || n == 0)
		return;
	if (expect) {
		b->want[k] += n;
		return;
	}
	uint64_t want = b->want[k];
	uint64_t old = atomic_fetch_add_explicit(&b->got[k], n,
						 memory_order_relaxed);
	if (want && old < want && old + n >= want) {
		atomic_fetch_sub_explicit(&b->got[k], want, memory_order_relaxed);
		drop_block(d, file, k);
	}
}

/* amount bytes read from the file range [lo, hi), spread over its blocks
 * in proportion to their overlap (exactly, when amount == hi - lo). */
static void account(struct gg_srcdrop *d, uint32_t file, uint64_t lo,
		    uint64_t hi, uint64_t amount, bool expect)
{
	if (hi <= lo)
		return;
	uint64_t span = hi - lo, given = 0;
	for (uint64_t k = lo / BLK; k * BLK < hi; k++) {
		uint64_t end = (k + 1) * BLK < hi ? (k + 1) * BLK : hi;
		uint64_t upto = amount == span ? end - lo :
			(uint64_t)((unsigned __int128)amount * (end - lo) / span);
		block_add(d, file, (size_t)k, upto - given, expect);
		given = upto;
	}
}

/* All source bytes of t (whole-tensor mode). */
static void account_whole(struct gg_srcdrop *d, const struct gg_tensor *t,
			  bool expect)
{
	int64_t lo, hi;
	gg_view_span(&t->view, &lo, &hi);
	uint64_t n = gg_view_nelem(&t->view);
	for (size_t s = 0; s < t->nsrc; s++) {
		const struct st_tensor *st = t->srcs[s].st;
		uint64_t ssz = gg_type_size(t->srcs[s].type);
		account(d, st->file, st->offset + (uint64_t)lo * ssz,
			st->offset + ((uint64_t)hi + 1) * ssz, n * ssz, expect);
	}
}

/* Source bytes of output bytes [off, off+len) of a contiguous-view tensor.
 * An element belongs to the piece holding its first byte, so pieces that
 * split an element still count it once. */
static void account_elems(struct gg_srcdrop *d, const struct gg_tensor *t,
			  uint64_t off, uint64_t len, bool expect)
{
	uint64_t osz = t->nbytes / t->nelem;
	uint64_t e0 = (off + osz - 1) / osz, e1 = (off + len + osz - 1) / osz;
	uint64_t per = t->nelem / t->nsrc;
	for (size_t s = e0 / per; s < t->nsrc && s * per < e1; s++) {
		const struct st_tensor *st = t->srcs[s].st;
		uint64_t ssz = gg_type_size(t->srcs[s].type);
		uint64_t a = e0 > s * per ? e0 - s * per : 0;
		uint64_t b = e1 - s * per < per ? e1 - s * per : per;
		uint64_t base = st->offset + t->view.base * ssz;
		account(d, st->file, base + a * ssz, base + b * ssz,
			(b - a) * ssz, expect);
	}
}

static void account_piece(struct gg_srcdrop *d, size_t fi, size_t ti,
			  uint64_t off, uint64_t len, bool expect)
{
	const struct gg_outfile *f = &d->files[fi];
	const struct gg_tensor *t = &f->tensors[ti];
	switch (tensor_mode(d, f, t)) {
	case M_NONE:
		return;
	case M_COPY:
		account(d, t->copy_file, t->copy_offset + off,
			t->copy_offset + off + len, len, expect);
		return;
	case M_ELEMS:
		account_elems(d, t, off, len, expect);
		return;
	case M_WHOLE:
		break;
	}
	if (expect) {
		account_whole(d, t, true);
		return;
	}
	_Atomic uint64_t *p = &d->produced[fi][ti];
	uint64_t old = atomic_fetch_add_explicit(p, len, memory_order_relaxed);
	if (old < t->nbytes && old + len >= t->nbytes) {
		atomic_fetch_sub_explicit(p, t->nbytes, memory_order_relaxed);
		account_whole(d, t, false);
	}
}

struct gg_srcdrop *gg_srcdrop_new(const struct st_set *set,
				  const struct gg_outfile *files, size_t nfiles)
{
	struct gg_srcdrop *d = gg_calloc(1, sizeof *d);
	d->set = set;
	d->files = files;
	d->nfiles = nfiles;
	d->b = gg_calloc(set->nfiles ? set->nfiles : 1, sizeof *d->b);
	for (size_t i = 0; i < set->nfiles; i++) {
		struct blocks *b = &d->b[i];
		/* A fault on the mapping reads around the page, so into blocks
		 * already dropped behind it; sequential makes it read ahead.
		 * Output order jumps around a shard, so the kernel's readahead
		 * for preads overshoots into tensors served (and dropped)
		 * already: the daemon prefetches exact ranges itself. */
		if (set->files[i].map)
			madvise((void *)set->files[i].map, set->files[i].size,
				MADV_SEQUENTIAL);
		posix_fadvise(set->files[i].fd, 0, 0, POSIX_FADV_RANDOM);
		b->n = (size_t)((set->files[i].size + BLK - 1) / BLK);
		b->want = gg_calloc(b->n ? b->n : 1, sizeof *b->want);
		b->got = gg_calloc(b->n ? b->n : 1, sizeof *b->got);
	}
	d->produced = gg_calloc(nfiles ? nfiles : 1, sizeof *d->produced);
	for (size_t fi = 0; fi < nfiles; fi++) {
		const struct gg_outfile *f = &files[fi];
		d->produced[fi] = gg_calloc(f->ntensors ? f->ntensors : 1,
					    sizeof **d->produced);
		for (size_t ti = 0; ti < f->ntensors; ti++)
			account_piece(d, fi, ti, 0, f->tensors[ti].nbytes, true);
	}
	for (size_t i = 0; i < set->nfiles; i++)
		for (size_t k = 0; k < d->b[i].n; k++)
			d->nblocks += d->b[i].want[k] != 0;
	return d;
}

void gg_srcdrop_free(struct gg_srcdrop *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->set->nfiles; i++) {
		free(d->b[i].want);
		free((void *)d->b[i].got);
	}
	free(d->b);
	for (size_t fi = 0; fi < d->nfiles; fi++)
		free((void *)d->produced[fi]);
	free(d->produced);
	free(d);
}

void gg_srcdrop_consumed(struct gg_srcdrop *d, const struct gg_outfile *f,
			 const struct gg_tensor *t, uint64_t off, uint64_t len)
{
	if (!d || f < d->files || f >= d->files + d->nfiles || len == 0)
		return;
	account_piece(d, (size_t)(f - d->files), (size_t)(t - f->tensors), off,
		      len, false);
}

void gg_srcdrop_stats_get(const struct gg_srcdrop *d,
			  struct gg_srcdrop_stats *out)
{
	out->blocks = d ? d->nblocks : 0;
	out->drops = d ? atomic_load(&d->drops) : 0;
	out->bytes_dropped = d ? atomic_load(&d->bytes_dropped) : 0;
}
