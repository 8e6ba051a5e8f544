/* engine.c - produce any byte range of an output file from its plan.
 *
 * Sources are read through their read-only mappings. A mapping of a file
 * that is truncated under us raises SIGBUS on access; a thread-local jump
 * buffer turns that into -EIO for the one read that hit it.
 */
#include "engine.h"
#include "pool.h"
#include "quant.h"

#include <errno.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static _Atomic uint64_t stat_src_bytes, stat_copy_bytes, stat_convert_elems, stat_repack_bytes,
	stat_quant_rows, stat_quant_bytes;
static gg_src_trace_fn trace_fn;
static void *trace_arg;

void gg_engine_stats_get(struct gg_engine_stats *out)
{
	out->src_bytes = atomic_load_explicit(&stat_src_bytes, memory_order_relaxed);
	out->copy_bytes = atomic_load_explicit(&stat_copy_bytes, memory_order_relaxed);
	out->convert_elems = atomic_load_explicit(&stat_convert_elems, memory_order_relaxed);
	out->repack_bytes = atomic_load_explicit(&stat_repack_bytes, memory_order_relaxed);
	out->quant_rows = atomic_load_explicit(&stat_quant_rows, memory_order_relaxed);
	out->quant_bytes = atomic_load_explicit(&stat_quant_bytes, memory_order_relaxed);
}

void gg_engine_set_trace(gg_src_trace_fn fn, void *arg)
{
	trace_arg = arg;
	trace_fn = fn;
}

/* ---- SIGBUS guard ------------------------------------------------------ */

/* The guard of the read running on this thread: where to jump and which
 * mappings it owns. */
struct guard {
	sigjmp_buf env;
	const struct st_set *set;
};

static _Thread_local struct guard *guard_cur;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static struct sigaction guard_prev; /* the handler before ours */

/* A kernel-raised fault at an address inside a source mapping of the read
 * running on this thread; anything else (another mapping, kill -BUS, a
 * fault outside an engine read) belongs to someone else. */
static bool guard_owns(const struct guard *g, const siginfo_t *si)
{
	if (!g || !g->set || si->si_code <= 0)
		return false;
	const uint8_t *a = si->si_addr;
	for (size_t i = 0; i < g->set->nfiles; i++) {
		const struct st_file *f = &g->set->files[i];
		if (f->map && a >= f->map && a < f->map + f->size)
			return true;
	}
	return false;
}

/* Hand a fault we do not own to the previous disposition. */
static void guard_chain(int sig, siginfo_t *si, void *uctx)
{
	if (guard_prev.sa_flags & SA_SIGINFO) {
		if (guard_prev.sa_sigaction)
			guard_prev.sa_sigaction(sig, si, uctx);
		return;
	}
	if (guard_prev.sa_handler == SIG_IGN && si->si_code <= 0)
		return; /* an ignored kill -BUS stays ignored */
	if (guard_prev.sa_handler == SIG_DFL || guard_prev.sa_handler == SIG_IGN) {
		/* The default action (a fault cannot be ignored): die of it. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		raise(sig);
		return;
	}
	guard_prev.sa_handler(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	struct guard *g = guard_cur;
	if (guard_owns(g, si))
		siglongjmp(g->env, 1);
	guard_chain(sig, si, uctx);
}

static void guard_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &guard_prev);
}

typedef void (*guarded_fn)(void *arg);

/* fn(arg), with a bus error on a mapping of set turned into -EIO. */
static int run_guarded(const struct st_set *set, guarded_fn fn, void *arg)
{
	pthread_once(&guard_once, guard_install);
	struct guard g = { .set = set };
	struct guard *saved = guard_cur;
	if (sigsetjmp(g.env, 1)) {
		guard_cur = saved;
		return -EIO;
	}
	guard_cur = &g;
	fn(arg);
	guard_cur = saved;
	return 0;
}

/* ---- element production ------------------------------------------------ */

#define OP_BLOCK 1024
#define GATHER_BLOCK 4096

/* The type of the elements the view produces: the output type, or for a
 * quantized tensor the type of the values it quantizes. */
static enum gg_type elem_type(const struct gg_tensor *t)
{
	return gg_quant_supported(t->type) ? t->value_type : t->type;
}

/* Convert n contiguous source elements to the element type, applying op
 * and rounding through value_type on the way. */
static void emit(const struct gg_tensor *t, enum gg_type stype,
		 const uint8_t *src, uint64_t n, uint8_t *out)
{
	atomic_fetch_add_explicit(&stat_convert_elems, n, memory_order_relaxed);
	enum gg_type ot = elem_type(t), vt = t->value_type;
	if (t->op == GG_OP_NONE && vt == ot) {
		gg_convert(stype, src, ot, out, n);
		return;
	}
	size_t ssz = gg_type_size(stype), osz = gg_type_size(ot);
	float tmp[OP_BLOCK];
	uint16_t rounded[OP_BLOCK];
	while (n > 0) {
		size_t k = n < OP_BLOCK ? (size_t)n : OP_BLOCK;
		gg_convert(stype, src, GG_TYPE_F32, tmp, k);
		gg_op_apply(t->op, tmp, k);
		if (vt == ot || vt == GG_TYPE_F32) {
			gg_convert(GG_TYPE_F32, tmp, ot, out, k);
		} else {
			gg_convert(GG_TYPE_F32, tmp, vt, rounded, k);
			gg_convert(vt, rounded, ot, out, k);
		}
		src += k * ssz;
		out += k * osz;
		n -= k;
	}
}

static void trace_st(const struct st_tensor *st, uint64_t elem, uint64_t n, size_t ssz)
{
	gg_src_trace_fn fn = trace_fn;
	if (fn && st)
		fn(st, st->offset + elem * ssz, n * ssz, trace_arg);
}

static void trace(const struct gg_src *s, uint64_t elem, uint64_t n, size_t ssz)
{
	trace_st(s->st, elem, n, ssz);
}

/* Gather n elements spaced `stride` apart (a transposed run) and emit. */
static void emit_strided(const struct gg_tensor *t, const struct gg_src *s,
			 const uint8_t *base, int64_t first, int64_t stride,
			 uint64_t n, uint8_t *out)
{
	size_t ssz = gg_type_size(s->type), osz = gg_type_size(elem_type(t));
	uint8_t tmp[GATHER_BLOCK * 4];
	while (n > 0) {
		size_t k = n < GATHER_BLOCK ? (size_t)n : GATHER_BLOCK;
		for (size_t i = 0; i < k; i++) {
			int64_t el = first + (int64_t)i * stride;
			memcpy(tmp + i * ssz, base + el * (int64_t)ssz, ssz);
			trace(s, (uint64_t)el, 1, ssz);
		}
		emit(t, s->type, tmp, k, out);
		first += (int64_t)k * stride;
		out += k * osz;
		n -= k;
	}
}

#define TILE_ROWS 32
#define TILE_COLS 128

/* A transpose: `rows` whole output rows of `cols` elements, where row r,
 * column j is source element el0 + r + j * col_stride. Reading element by
 * element would touch a new cache line for each one; instead each source
 * run of `rows` adjacent elements is copied once into a column-major tile,
 * and output rows are assembled from the tile. */
static void emit_transposed(const struct gg_tensor *t, const struct gg_src *s,
			    const uint8_t *base, int64_t el0, uint64_t rows,
			    uint64_t cols, int64_t col_stride, uint8_t *out)
{
	size_t ssz = gg_type_size(s->type), osz = gg_type_size(elem_type(t));
	uint8_t tile[TILE_ROWS * TILE_COLS * 4], row[TILE_COLS * 4];
	for (uint64_t c0 = 0; c0 < cols; c0 += TILE_COLS) {
		uint64_t cn = cols - c0 < TILE_COLS ? cols - c0 : TILE_COLS;
		for (uint64_t j = 0; j < cn; j++) {
			int64_t el = el0 + (int64_t)(c0 + j) * col_stride;
			memcpy(tile + j * rows * ssz, base + el * (int64_t)ssz, rows * ssz);
			trace(s, (uint64_t)el, rows, ssz);
		}
		for (uint64_t r = 0; r < rows; r++) {
			for (uint64_t j = 0; j < cn; j++)
				memcpy(row + j * ssz, tile + (j * rows + r) * ssz, ssz);
			emit(t, s->type, row, cn, out + (r * cols + c0) * osz);
		}
	}
}

/* How many whole output rows from idx on can go through emit_transposed:
 * the view's last dim must be strided and the one before contiguous in the
 * source, and we must stand at the start of a row. */
static uint64_t transposable_rows(const struct gg_view *v, const uint64_t *idx,
				  uint64_t n)
{
	int last = v->ndim - 1;
	if (last < 1 || v->stride[last] == 1 || v->stride[last - 1] != 1 ||
	    idx[last] != 0)
		return 0;
	uint64_t rows = n / v->dim[last];
	if (rows > v->dim[last - 1] - idx[last - 1])
		rows = v->dim[last - 1] - idx[last - 1];
	if (rows > TILE_ROWS)
		rows = TILE_ROWS;
	return rows >= 2 ? rows : 0;
}

/* Advance a multi-index by `step` units of dim d, carrying outwards. */
static void index_advance(const struct gg_view *v, uint64_t *idx, int d,
			  uint64_t step)
{
	idx[d] += step;
	for (; d > 0 && idx[d] == v->dim[d]; d--) {
		idx[d] = 0;
		idx[d - 1]++;
	}
}

/* Produce elements [e0, e0+n) of the view over one source into out. */
static void fill_view(const struct gg_tensor *t, const struct gg_src *s,
		      const uint8_t *base, uint64_t e0, uint64_t n, uint8_t *out)
{
	const struct gg_view *v = &t->view;
	size_t ssz = gg_type_size(s->type), osz = gg_type_size(elem_type(t));
	int last = v->ndim - 1;
	uint64_t idx[GG_VIEW_MAX_DIMS];
	uint64_t rem = e0;
	for (int d = last; d >= 0; d--) {
		idx[d] = rem % v->dim[d];
		rem /= v->dim[d];
	}
	while (n > 0) {
		int64_t el = (int64_t)v->base;
		for (int d = 0; d <= last; d++)
			el += (int64_t)idx[d] * v->stride[d];
		uint64_t run, rows = transposable_rows(v, idx, n);
		if (rows) {
			run = rows * v->dim[last];
			emit_transposed(t, s, base, el, rows, v->dim[last],
					v->stride[last], out);
			index_advance(v, idx, last - 1, rows);
		} else {
			run = v->dim[last] - idx[last] < n ? v->dim[last] - idx[last] : n;
			if (v->stride[last] == 1) {
				trace(s, (uint64_t)el, run, ssz);
				emit(t, s->type, base + el * (int64_t)ssz, run, out);
			} else {
				emit_strided(t, s, base, el, v->stride[last], run, out);
			}
			index_advance(v, idx, last, run);
		}
		atomic_fetch_add_explicit(&stat_src_bytes, run * ssz,
					  memory_order_relaxed);
		out += run * osz;
		n -= run;
	}
}

/* ---- MXFP4 block repack (GG_OP_MXFP4_REPACK) --------------------------- */

#define MXFP4_CODE_BYTES 16
#define MXFP4_BLOCK_BYTES 17

/* HF packs element 2k in the low and 2k+1 in the high nibble of byte k;
 * GGML wants elements j and j + 16 in byte j. Nibble moves only: with
 * a = codes[0..8) and b = codes[8..16), output byte 2k is
 * lo(a_k) | lo(b_k) << 4 and byte 2k+1 is hi(a_k) | hi(b_k) << 4. */
static inline void mxfp4_block(const uint8_t *codes, uint8_t scale, uint8_t *out)
{
	out[0] = scale;
#if defined(__SSE2__)
	__m128i a = _mm_loadl_epi64((const __m128i *)codes);
	__m128i b = _mm_loadl_epi64((const __m128i *)(codes + 8));
	__m128i m = _mm_set1_epi8(0x0F);
	__m128i even = _mm_or_si128(_mm_and_si128(a, m), _mm_slli_epi16(_mm_and_si128(b, m), 4));
	__m128i odd = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m), _mm_andnot_si128(m, b));
	_mm_storeu_si128((__m128i *)(out + 1), _mm_unpacklo_epi8(even, odd));
#else
	for (int j = 0; j < 8; j++) {
		uint8_t a = codes[j], b = codes[j + 8];
		out[1 + 2 * j] = (uint8_t)((a & 0x0F) | (b << 4));
		out[2 + 2 * j] = (uint8_t)((a >> 4) | (b & 0xF0));
	}
#endif
}

static const uint8_t *st_base(const struct gg_outfile *f, const struct st_tensor *st)
{
	return f->st->files[st->file].map + st->offset;
}

/* Source block of the view at multi-index idx. */
static int64_t view_index(const struct gg_view *v, const uint64_t *idx)
{
	int64_t b = (int64_t)v->base;
	for (int d = 0; d < v->ndim; d++)
		b += (int64_t)idx[d] * v->stride[d];
	return b;
}

/* How far ahead of the block being repacked its codes are fetched. The
 * loop does little per byte, so without this it waits on memory: the
 * hardware prefetcher alone keeps it at about half the speed of a plain
 * copy of the same bytes from the page cache. Within a run of a gate/up
 * view the address lands a few rows on, in the same half's next rows. */
#define REPACK_PREFETCH 4096

/* n blocks whose codes are `step` blocks apart, from block b on. */
static void repack_run(const uint8_t *codes, const uint8_t *scales, int64_t b,
		       int64_t step, uint64_t n, uint8_t *out)
{
	const uint8_t *c = codes + b * MXFP4_CODE_BYTES, *sc = scales + b;
	const int64_t cstep = step * MXFP4_CODE_BYTES;
	for (uint64_t i = 0; i < n; i++, c += cstep, sc += step, out += MXFP4_BLOCK_BYTES) {
		__builtin_prefetch(c + REPACK_PREFETCH);
		mxfp4_block(c, *sc, out);
	}
}

/* Blocks [b0, b0+n) of the view over one source pair into out, a run (the
 * rest of a row of the view's last dim) at a time; the next row's first
 * block follows from the row before unless an outer index carried. */
static void repack_view(const struct gg_outfile *f, const struct gg_tensor *t,
			const struct gg_src *s, uint64_t b0, uint64_t n, uint8_t *out)
{
	const struct gg_view *v = &t->view;
	const uint8_t *codes = st_base(f, s->st), *scales = st_base(f, s->scales);
	const int last = v->ndim - 1;
	const int64_t step = v->stride[last], row_step = last > 0 ? v->stride[last - 1] : 0;
	uint64_t idx[GG_VIEW_MAX_DIMS], rem = b0, total = n;
	for (int d = last; d >= 0; d--) {
		idx[d] = rem % v->dim[d];
		rem /= v->dim[d];
	}
	int64_t b = view_index(v, idx);
	const bool traced = trace_fn != NULL;
	while (n > 0) {
		uint64_t run = v->dim[last] - idx[last] < n ? v->dim[last] - idx[last] : n;
		repack_run(codes, scales, b, step, run, out);
		if (traced)
			for (uint64_t i = 0; i < run; i += step == 1 ? run : 1) {
				uint64_t k = step == 1 ? run : 1, at = (uint64_t)(b + (int64_t)i * step);
				trace_st(s->st, at, k, MXFP4_CODE_BYTES);
				trace_st(s->scales, at, k, 1);
			}
		out += run * MXFP4_BLOCK_BYTES;
		n -= run;
		int64_t row = b - (int64_t)idx[last] * step;
		index_advance(v, idx, last, run);
		if (idx[last] != 0)
			b += (int64_t)run * step;
		else if (last > 0 && idx[last - 1] != 0)
			b = row + row_step;
		else
			b = view_index(v, idx);
	}
	/* once per call: the runs of a gate/up view are a few hundred bytes */
	atomic_fetch_add_explicit(&stat_repack_bytes, total * MXFP4_BLOCK_BYTES,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&stat_src_bytes, total * (MXFP4_CODE_BYTES + 1),
				  memory_order_relaxed);
}

/* Output units of t: elements, or 32-value blocks for a repack. */
static uint64_t tensor_units(const struct gg_tensor *t)
{
	return t->op == GG_OP_MXFP4_REPACK ? t->nelem / 32 : t->nelem;
}

static size_t unit_bytes(const struct gg_tensor *t)
{
	return t->op == GG_OP_MXFP4_REPACK ? MXFP4_BLOCK_BYTES : gg_type_size(elem_type(t));
}

static const uint8_t *src_base(const struct gg_outfile *f, const struct gg_src *s)
{
	if (s->mem)
		return s->mem;
	return f->st->files[s->st->file].map + s->st->offset;
}

struct fill_job {
	const struct gg_outfile *f;
	const struct gg_tensor *t;
	uint64_t e0, n;
	uint8_t *out;
};

static void fill_elements(void *arg)
{
	struct fill_job *j = arg;
	const struct gg_tensor *t = j->t;
	uint64_t per_src = tensor_units(t) / t->nsrc;
	uint64_t e = j->e0, n = j->n;
	uint8_t *out = j->out;
	size_t osz = unit_bytes(t);
	while (n > 0) {
		const struct gg_src *s = &t->srcs[e / per_src];
		uint64_t inner = e % per_src;
		uint64_t k = per_src - inner < n ? per_src - inner : n;
		if (t->op == GG_OP_MXFP4_REPACK)
			repack_view(j->f, t, s, inner, k, out);
		else
			fill_view(t, s, src_base(j->f, s), inner, k, out);
		out += k * osz;
		e += k;
		n -= k;
	}
}

/* Every source file feeding elements [e0, e0+n) must still be the file we
 * opened: a changed file would give bytes of a different model. */
static int check_sources(const struct gg_outfile *f, const struct gg_tensor *t,
			 uint64_t e0, uint64_t n, gg_err *e)
{
	uint64_t per_src = tensor_units(t) / t->nsrc;
	size_t first = (size_t)(e0 / per_src), end = (size_t)((e0 + n - 1) / per_src);
	uint32_t last_file = UINT32_MAX;
	for (size_t i = first; i <= end; i++) {
		const struct st_tensor *pair[2] = { t->srcs[i].st, t->srcs[i].scales };
		for (int k = 0; k < 2; k++) {
			const struct st_tensor *st = pair[k];
			if (!st || st->file == last_file)
				continue;
			last_file = st->file;
			if (st_file_check(&f->st->files[st->file], e))
				return -EIO;
		}
	}
	return 0;
}

static int compute_elements(const struct gg_outfile *f, const struct gg_tensor *t,
			    uint64_t e0, uint64_t n, uint8_t *out, gg_err *e)
{
	if (n == 0)
		return 0;
	if (check_sources(f, t, e0, n, e))
		return -EIO;
	struct fill_job job = { f, t, e0, n, out };
	if (run_guarded(f->st, fill_elements, &job)) {
		gg_fail(e, "%s: source of tensor %s changed while reading (bus error)",
			f->name, t->name);
		return -EIO;
	}
	/* Again after reading: a change that raced with the read moved the
	 * ctime before its bytes landed (safetensors.h). */
	return check_sources(f, t, e0, n, e);
}

static int copy_bytes(const struct gg_outfile *f, const struct gg_tensor *t,
		      uint64_t off, size_t len, uint8_t *buf, gg_err *e)
{
	const struct st_file *file = &f->st->files[t->copy_file];
	if (st_file_check(file, e))
		return -EIO;
	uint64_t pos = t->copy_offset + off;
	while (len > 0) {
		ssize_t r = pread(file->fd, buf, len, (off_t)pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			gg_fail(e, "%s: read failed: %s", file->path,
				r < 0 ? strerror(errno) : "unexpected end of file");
			return -EIO;
		}
		atomic_fetch_add_explicit(&stat_copy_bytes, (uint64_t)r,
					  memory_order_relaxed);
		gg_src_trace_fn fn = trace_fn;
		if (fn)
			fn(t->srcs[0].st, pos, (uint64_t)r, trace_arg);
		buf += r;
		pos += (uint64_t)r;
		len -= (size_t)r;
	}
	return st_file_check(file, e) ? -EIO : 0; /* a change during the read */
}

/* Rows of a quantized tensor are made in batches of about this many values
 * (whole rows; at least one). */
#define QUANT_BATCH (64u << 10)

/* Bytes [off, off+len) of quantized tensor t: the rows covering the range
 * are made as value_type elements, widened to F32 and quantized; a batch
 * lying wholly inside the range is quantized straight into buf. */
static int quant_read(const struct gg_outfile *f, const struct gg_tensor *t,
		      uint64_t off, size_t len, uint8_t *buf, gg_err *e)
{
	const uint64_t ne0 = t->ne[0], rb = gg_row_size(t->type, ne0);
	const size_t vsz = gg_type_size(t->value_type);
	uint64_t r = off / rb, rend = (off + len + rb - 1) / rb;
	uint64_t batch = QUANT_BATCH / ne0 ? QUANT_BATCH / ne0 : 1;
	if (batch > rend - r)
		batch = rend - r;
	float *x = malloc(batch * ne0 * sizeof *x);
	uint8_t *v = t->value_type == GG_TYPE_F32 ? (uint8_t *)x :
		     malloc(batch * ne0 * vsz);
	uint8_t *q = malloc(batch * rb);
	int rc = 0;
	if (!x || !v || !q) {
		rc = gg_fail(e, "%s: out of memory quantizing %s", f->name, t->name);
		goto out;
	}
	for (; r < rend; r += batch) {
		uint64_t k = rend - r < batch ? rend - r : batch;
		if ((rc = compute_elements(f, t, r * ne0, k * ne0, v, e)))
			goto out;
		if (v != (uint8_t *)x)
			gg_convert(t->value_type, v, GG_TYPE_F32, x, k * ne0);
		atomic_fetch_add_explicit(&stat_quant_rows, k, memory_order_relaxed);
		atomic_fetch_add_explicit(&stat_quant_bytes, k * rb, memory_order_relaxed);
		uint64_t qa = r * rb, qb = qa + k * rb;
		if (qa >= off && qb <= off + len) {
			gg_quantize(t->type, x, buf + (qa - off), k, ne0);
			continue;
		}
		gg_quantize(t->type, x, q, k, ne0);
		uint64_t a = qa > off ? qa : off, b = qb < off + len ? qb : off + len;
		memcpy(buf + (a - off), q + (a - qa), (size_t)(b - a));
	}
out:
	if (v != (uint8_t *)x)
		free(v);
	free(x);
	free(q);
	return rc ? -EIO : 0;
}

int gg_tensor_read(const struct gg_outfile *f, const struct gg_tensor *t,
		   uint64_t off, size_t len, void *out, gg_err *e)
{
	uint8_t *buf = out;
	if (off > t->nbytes || len > t->nbytes - off) {
		gg_fail(e, "%s: read of tensor %s past its end", f->name, t->name);
		return -EIO;
	}
	if (t->is_copy)
		return copy_bytes(f, t, off, len, buf, e);
	if (len == 0)
		return 0;
	if (gg_quant_supported(t->type))
		return quant_read(f, t, off, len, buf, e);
	size_t es = unit_bytes(t);
	uint8_t one[MXFP4_BLOCK_BYTES];
	/* A partial first element: compute it whole, copy the wanted bytes. */
	if (len > 0 && off % es) {
		size_t skip = off % es, k = es - skip < len ? es - skip : len;
		if (compute_elements(f, t, off / es, 1, one, e))
			return -EIO;
		memcpy(buf, one + skip, k);
		buf += k, off += k, len -= k;
	}
	uint64_t whole = len / es;
	if (compute_elements(f, t, off / es, whole, buf, e))
		return -EIO;
	buf += whole * es, off += whole * es, len -= whole * es;
	if (len > 0) {
		if (compute_elements(f, t, off / es, 1, one, e))
			return -EIO;
		memcpy(buf, one, len);
	}
	return 0;
}

bool gg_tensor_direct(const struct gg_tensor *t)
{
	return t->is_copy || t->op == GG_OP_MXFP4_REPACK;
}

/* Source index of view element i. */
static int64_t view_at(const struct gg_view *v, uint64_t i)
{
	int64_t el = (int64_t)v->base;
	for (int d = v->ndim - 1; d >= 0; d--) {
		el += (int64_t)(i % v->dim[d]) * v->stride[d];
		i /= v->dim[d];
	}
	return el;
}

void gg_tensor_source_spans(const struct gg_tensor *t, uint64_t off, uint64_t len,
			    gg_src_span_fn fn, void *arg)
{
	if (len == 0 || off >= t->nbytes)
		return;
	if (t->is_copy) {
		fn(arg, t->copy_file, t->copy_offset + off, t->copy_offset + off + len);
		return;
	}
	if (t->op != GG_OP_MXFP4_REPACK)
		return;
	uint64_t per_src = tensor_units(t) / t->nsrc;
	uint64_t b0 = off / MXFP4_BLOCK_BYTES;
	uint64_t b1 = (off + len + MXFP4_BLOCK_BYTES - 1) / MXFP4_BLOCK_BYTES;
	if (b1 > tensor_units(t))
		b1 = tensor_units(t);
	for (uint64_t b = b0; b < b1;) {
		const struct gg_src *s = &t->srcs[b / per_src];
		uint64_t i0 = b % per_src, n = per_src - i0 < b1 - b ? per_src - i0 : b1 - b;
		/* views here are monotonic: the first and last block bound it */
		int64_t lo = view_at(&t->view, i0), hi = view_at(&t->view, i0 + n - 1);
		if (lo > hi) {
			int64_t x = lo;
			lo = hi, hi = x;
		}
		fn(arg, s->st->file, s->st->offset + (uint64_t)lo * MXFP4_CODE_BYTES,
		   s->st->offset + ((uint64_t)hi + 1) * MXFP4_CODE_BYTES);
		fn(arg, s->scales->file, s->scales->offset + (uint64_t)lo,
		   s->scales->offset + (uint64_t)hi + 1);
		b += n;
	}
}

long gg_outfile_tensor_at(const struct gg_outfile *f, uint64_t off)
{
	if (off < f->header_len || f->ntensors == 0)
		return -1;
	size_t lo = 0, hi = f->ntensors; /* last tensor with offset <= off */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->tensors[mid].offset <= off)
			lo = mid;
		else
			hi = mid;
	}
	return (long)lo;
}

/* The one walk over a file's layout: split [off, off+len) into header,
 * tensor and padding pieces, in file order, and hand each to fn. Tensors
 * are laid out in array order (gg_outfile_finish), so after the first
 * binary search the walk only steps forward. */
enum piece_kind { PIECE_HEADER, PIECE_TENSOR, PIECE_PADDING };
typedef int (*piece_fn)(void *arg, enum piece_kind k, size_t ti,
			uint64_t pos, uint64_t len, uint64_t done);

static int walk(const struct gg_outfile *f, uint64_t off, uint64_t len,
		piece_fn fn, void *arg)
{
	uint64_t done = 0;
	long i = gg_outfile_tensor_at(f, off);
	while (done < len) {
		uint64_t pos = off + done, k, end;
		int rc;
		if (pos < f->header_len) {
			end = f->header_len;
			k = end - pos < len - done ? end - pos : len - done;
			rc = fn(arg, PIECE_HEADER, 0, pos, k, done);
		} else {
			while (i < 0 || ((size_t)i + 1 < f->ntensors &&
					 f->tensors[i + 1].offset <= pos))
				i++;
			const struct gg_tensor *t = f->ntensors ? &f->tensors[i] : NULL;
			bool in_tensor = t && t->offset <= pos &&
					 pos < t->offset + t->nbytes;
			if (in_tensor)
				end = t->offset + t->nbytes;
			else
				end = (size_t)i + 1 < f->ntensors ?
					f->tensors[i + 1].offset : f->size;
			if (end <= pos)
				return -EIO; /* inconsistent layout: never loop */
			k = end - pos < len - done ? end - pos : len - done;
			rc = in_tensor
				? fn(arg, PIECE_TENSOR, (size_t)i, pos - t->offset, k, done)
				: fn(arg, PIECE_PADDING, 0, pos, k, done);
		}
		if (rc)
			return rc;
		done += k;
	}
	return 0;
}

struct read_walk {
	const struct gg_outfile *f;
	uint8_t *buf;
	gg_tensor_reader_fn rd;
	void *arg;
	gg_err *e;
};

static int default_reader(void *arg, const struct gg_outfile *f, size_t ti,
			  uint64_t off, size_t len, void *buf, gg_err *e)
{
	(void)arg;
	return gg_tensor_read(f, &f->tensors[ti], off, len, buf, e);
}

static int read_piece(void *arg, enum piece_kind k, size_t ti, uint64_t pos,
		      uint64_t len, uint64_t done)
{
	struct read_walk *w = arg;
	uint8_t *out = w->buf + done;
	switch (k) {
	case PIECE_HEADER:
		memcpy(out, w->f->header + pos, (size_t)len);
		return 0;
	case PIECE_PADDING:
		memset(out, 0, (size_t)len);
		return 0;
	case PIECE_TENSOR:
		break;
	}
	int rc = w->rd(w->arg, w->f, ti, pos, (size_t)len, out, w->e);
	return rc < 0 ? rc : rc > 0 ? -EIO : 0;
}

int gg_outfile_read_with(const struct gg_outfile *f, uint64_t off, size_t len,
			 void *buf, gg_tensor_reader_fn rd, void *arg,
			 gg_err *e)
{
	if (off > f->size || len > f->size - off) {
		gg_fail(e, "%s: read past the end of the file", f->name);
		return -EIO;
	}
	struct read_walk w = { f, buf, rd ? rd : default_reader, arg, e };
	int rc = walk(f, off, len, read_piece, &w);
	if (rc == -EIO && e && !e->msg[0])
		gg_fail(e, "%s: inconsistent layout at %" PRIu64, f->name, off);
	return rc;
}

int gg_outfile_read(const struct gg_outfile *f, uint64_t off, size_t len,
		    void *buf, gg_err *e)
{
	return gg_outfile_read_with(f, off, len, buf, NULL, NULL, e);
}

struct read_parts {
	const struct gg_outfile *f;
	uint64_t off, len, part;
	uint8_t *buf;
	atomic_int failed;
	gg_err e; /* the first failure's */
};

static void read_part(size_t i, void *arg)
{
	struct read_parts *r = arg;
	uint64_t a = i * r->part, n = r->len - a < r->part ? r->len - a : r->part;
	gg_err e = {{0}};
	if (gg_outfile_read(r->f, r->off + a, (size_t)n, r->buf + a, &e) &&
	    atomic_exchange(&r->failed, 1) == 0)
		r->e = e;
}

int gg_outfile_read_parallel(const struct gg_outfile *f, uint64_t off,
			     size_t len, void *buf, struct gg_pool *p,
			     size_t part, gg_err *e)
{
	struct read_parts r = { .f = f, .off = off, .len = len, .buf = buf,
				.part = part ? part : len };
	atomic_init(&r.failed, 0);
	if (len)
		gg_pool_for(p, (size_t)((len + r.part - 1) / r.part), read_part, &r);
	if (atomic_load(&r.failed)) {
		if (e)
			*e = r.e;
		return -EIO;
	}
	return 0;
}

struct tensor_walk {
	gg_tensor_piece_fn fn;
	void *arg;
};

static int tensor_piece(void *arg, enum piece_kind k, size_t ti, uint64_t pos,
			uint64_t len, uint64_t done)
{
	(void)done;
	struct tensor_walk *w = arg;
	return k == PIECE_TENSOR ? w->fn(w->arg, ti, pos, len) : 0;
}

int gg_outfile_for_tensors(const struct gg_outfile *f, uint64_t off,
			   uint64_t len, gg_tensor_piece_fn fn, void *arg)
{
	if (off >= f->size)
		return 0;
	if (len > f->size - off)
		len = f->size - off;
	struct tensor_walk w = { fn, arg };
	return walk(f, off, len, tensor_piece, &w);
}
