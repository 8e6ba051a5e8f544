/* vfs.c - the gguffs tree, attributes, reads and xattrs (contract in vfs.h).
 *
 * The tree is built once at mount as an array of nodes plus a path hash
 * table, so a lookup is one XXH3 of the path and a short chain walk. Reads
 * of an output file go through the engine's one walk over its layout
 * (gg_outfile_read_with); vfs.c only says how a tensor piece is made.
 * Byte-copy tensors are pread from the source file straight into the
 * caller's buffer; computed tensors go through the chunk cache, so a chunk
 * is materialised once however many (kernel) requests read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "cache.h"
#include "engine.h"
#include "fingerprint.h"
#include "gguf_reader.h"
#include "log.h"
#include "modeldiff.h"
#include "naming.h"
#include "pool.h"
#include "quant.h"
#include "readahead.h"
#include "srcdrop.h"
#include "store.h"
#include "vfs.h"

struct vfs_node {
	char *path;                /* absolute, e.g. "/tensors/output.weight" */
	const char *name;          /* last component (points into path) */
	enum vfs_kind kind;
	uint64_t ino;
	uint32_t file;             /* VFS_GGUF, VFS_TENSOR, tensor dirs */
	uint32_t tensor;           /* VFS_TENSOR */
	struct vfs_node **kids;    /* VFS_DIR */
	size_t nkids, ndirs;
	uint32_t nlink;            /* files: 2 for a .gguf with its alias */
	size_t hnext;              /* hash chain: index + 1, 0 ends */
};

struct vfs_handle {
	const struct vfs_node *node;
	struct vfs_ra ra;          /* sequential-reader state (prefetch) */
	char *data;                /* stats.json snapshot */
	size_t len;
};

/* Per output file: the remembered XXH3 of each tensor, and (with a chunk
 * store) each tensor's fingerprint, from which its chunks' keys come. */
struct vfs_file {
	uint64_t *xxh3;
	uint8_t *hashed;
	struct gg_fingerprint *fp;
};

struct vfs_error {
	struct timespec when;
	char msg[256];
};

struct vfs {
	/* vfs_reload swaps m, and what is built from it (drop, vf hashes,
	 * meta, logged keys), under the write lock; every entry point holds
	 * the read lock while it uses them. Writers are preferred, so a
	 * reload is not starved by a busy mount. */
	pthread_rwlock_t model_lock;
	pthread_mutex_t reload_mu; /* one reload at a time */
	atomic_uint_fast64_t reloads;
	bool keep_source_cache;
	struct gg_model *m;
	struct chunk_cache *cache;
	struct gg_srcdrop *drop;   /* NULL with keep_source_cache */
	struct gg_pool *pool;      /* parallel chunk loads and prefetch; may be NULL */
	uint64_t chunk_size, cache_size;
	struct timespec mtime;
	uid_t uid;
	gid_t gid;
	struct vfs_node *nodes;
	size_t nnodes;
	size_t *buckets;           /* node index + 1, 0 empty */
	size_t nbuckets;
	struct vfs_file *vf;       /* one per output file */

	pthread_mutex_t meta_mu;   /* builds metadata.json once */
	char *meta;
	size_t meta_len;

	pthread_mutex_t xattr_mu;  /* guards vf[].xxh3/hashed */

	pthread_mutex_t log_mu;    /* things already logged (log_once) */
	const void **logged;
	size_t nlogged, caplogged;
	struct vfs_error errs[VFS_LAST_ERRORS]; /* ring of the last ones */
	uint64_t nerrs;            /* ever logged; errs[(nerrs - 1) % N] newest */

	atomic_uint_fast64_t bytes_copied, reads, read_errors;
	atomic_uint_fast64_t prefetch_chunks, prefetch_source_bytes;
	atomic_uint_fast64_t quant_chunks; /* chunks of quantized tensors made */
	struct chunk_store *store; /* -o cache_dir=: NULL when off */
	char *store_dir;
};

/* Prefetch for a sequential reader: this far past its latest request
 * (a few chunks, well inside the default cache), once a request starts
 * within PREFETCH_SLACK of where the previous one ended (the kernel's
 * requests for one stream arrive out of order across threads). */
#define PREFETCH_WINDOW (16u << 20)
#define PREFETCH_SLACK (8u << 20)
/* A chunk is converted on several cores in parts of about this size. */
#define PART_BYTES (512u << 10)
/* Source readahead unit: posix_fadvise WILLNEED reads at most the
 * readahead window per call, so ask for at most this much each time. */
#define SOURCE_RA_BYTES (2u << 20)

static size_t min_sz(uint64_t a, uint64_t b)
{
	return (size_t)(a < b ? a : b);
}

/* ---- logging ---- */

/* True the first time key is seen (a source file, a tensor, a file). */
static bool first_time(struct vfs *v, const void *key)
{
	for (size_t i = 0; i < v->nlogged; i++)
		if (v->logged[i] == key)
			return false;
	if (v->nlogged == v->caplogged) {
		size_t n = v->caplogged ? v->caplogged * 2 : 16;
		const void **p = realloc(v->logged, n * sizeof *p);
		if (p) {
			v->logged = p;
			v->caplogged = n;
		}
	}
	if (v->nlogged < v->caplogged)
		v->logged[v->nlogged++] = key;
	return true;
}

/* Log msg once per key (log.h: stderr, or syslog once daemonised) and keep
 * it among the last errors that stats.json shows. */
static void log_once(struct vfs *v, const void *key, const char *msg)
{
	pthread_mutex_lock(&v->log_mu);
	bool first = first_time(v, key);
	if (first) {
		struct vfs_error *r = &v->errs[v->nerrs++ % VFS_LAST_ERRORS];
		clock_gettime(CLOCK_REALTIME, &r->when);
		snprintf(r->msg, sizeof r->msg, "%s", msg);
	}
	pthread_mutex_unlock(&v->log_mu);
	if (first)
		log_msg(LOG_ERR, "%s (reads that need it fail with EIO)", msg);
}

static const struct st_set *file_set(const struct vfs *v,
				     const struct gg_outfile *f)
{
	return f->st ? f->st : v->m->st;
}

/* 0 if source file sf is still the file recorded at mount; else logs (once)
 * and returns -EIO. */
static int check_source(struct vfs *v, const struct st_file *sf)
{
	gg_err e;
	if (st_file_check(sf, &e) == 0)
		return 0;
	log_once(v, sf, e.msg);
	return -EIO;
}

/* The engine failed on tensor t: name the source file responsible when one
 * fails its check, else log the engine's message (once per tensor). */
static void report_engine_error(struct vfs *v, const struct gg_outfile *f,
				const struct gg_tensor *t, const gg_err *e)
{
	const struct st_set *set = file_set(v, f);
	for (size_t i = 0; i < t->nsrc; i++) {
		const struct st_tensor *s = t->srcs[i].st;
		if (s && set && s->file < set->nfiles &&
		    check_source(v, &set->files[s->file]))
			return;
	}
	log_once(v, t, e->msg[0] ? e->msg : "engine read failed");
}

/* ---- reading tensors ---- */

/* Chunk keys are injective (cache.h): the output file index above the
 * chunk's first byte offset in that file. vfs_new refuses models whose
 * files or offsets do not fit (VFS_KEY_FILES, VFS_KEY_OFFSET_BITS). A
 * model replaced by vfs_reload empties the cache, so no key outlives the
 * bytes it named. */
#define VFS_KEY_OFFSET_BITS 48
#define VFS_KEY_FILES (1u << (64 - VFS_KEY_OFFSET_BITS))

static uint64_t chunk_key(uint32_t file, uint64_t offset)
{
	return (uint64_t)file << VFS_KEY_OFFSET_BITS | offset;
}

/* Bytes of a tensor straight from the engine, bypassing the cache: byte-
 * copy tensors (the engine preads them from their source after checking
 * it), and whole tensors being hashed (so hot chunks are not evicted). */
static int read_direct(struct vfs *v, const struct gg_outfile *f,
		       const struct gg_tensor *t, uint64_t off, uint8_t *buf,
		       size_t len)
{
	gg_err e = {{0}};
	if (gg_tensor_read(f, t, off, len, buf, &e) != 0) {
		report_engine_error(v, f, t, &e);
		return -EIO;
	}
	gg_srcdrop_consumed(v->drop, f, t, off, len);
	if (t->is_copy)
		atomic_fetch_add_explicit(&v->bytes_copied, len,
					  memory_order_relaxed);
	return 0;
}

/* Bytes of one output row of t, or 0 when rows are not whole bytes. */
static uint64_t row_bytes(const struct gg_tensor *t)
{
	uint64_t rows = t->ne[0] ? t->nelem / t->ne[0] : 0;
	return rows && t->nbytes % rows == 0 ? t->nbytes / rows : 0;
}

/* Chunk size for tensor t: a quantized tensor's chunks are whole rows,
 * so no row is quantized twice (at the edges of two chunks). */
static uint64_t chunk_bytes(const struct vfs *v, const struct gg_tensor *t)
{
	uint64_t rb = gg_quant_supported(t->type) ? row_bytes(t) : 0;
	if (!rb || rb > v->chunk_size)
		return v->chunk_size;
	return v->chunk_size / rb * rb;
}

struct parts {
	const struct gg_outfile *f;
	const struct gg_tensor *t;
	uint64_t off, part;
	size_t len;
	uint8_t *buf;
	atomic_int failed;
	gg_err e;                  /* the first failure's message */
};

static void one_part(size_t i, void *arg)
{
	struct parts *p = arg;
	uint64_t a = i * p->part, n = p->len - a < p->part ? p->len - a : p->part;
	gg_err e = {{0}};
	if (gg_tensor_read(p->f, p->t, p->off + a, (size_t)n, p->buf + a, &e) &&
	    atomic_exchange(&p->failed, 1) == 0)
		p->e = e;
}

/* read_direct for a computed range, in parts of whole rows on the pool's
 * threads and the caller's. */
static int compute_parallel(struct vfs *v, const struct gg_outfile *f,
			    const struct gg_tensor *t, uint64_t off,
			    uint8_t *buf, size_t len)
{
	uint64_t rb = row_bytes(t);
	if (!v->pool || !rb || len < 2 * PART_BYTES || rb > len / 2)
		return read_direct(v, f, t, off, buf, len);
	struct parts p = { .f = f, .t = t, .off = off, .len = len, .buf = buf };
	p.part = (PART_BYTES + rb - 1) / rb * rb;
	atomic_init(&p.failed, 0);
	gg_pool_for(v->pool, (size_t)((len + p.part - 1) / p.part), one_part, &p);
	if (atomic_load(&p.failed)) {
		report_engine_error(v, f, t, &p.e);
		return -EIO;
	}
	gg_srcdrop_consumed(v->drop, f, t, off, len);
	return 0;
}

struct load_arg {
	struct vfs *v;
	const struct gg_outfile *f;
	const struct gg_tensor *t;
	uint32_t fi, ti;
	uint64_t start;
	size_t len;
};

/* A chunk from the disk store when it holds it; else computed (and then
 * kept there). */
static int load_chunk(uint64_t key, void *buf, size_t cap, size_t *len,
		      void *arg)
{
	(void)key;
	struct load_arg *la = arg;
	struct vfs *v = la->v;
	if (la->len > cap)
		return -EIO;
	struct chunk_store_key sk;
	if (v->store) {
		gg_chunk_fingerprint(&v->vf[la->fi].fp[la->ti], la->start, la->len,
				     (struct gg_fingerprint *)sk.b);
		if (chunk_store_get(v->store, &sk, buf, la->len) == 0) {
			*len = la->len;
			return 0;
		}
	}
	int rc = compute_parallel(v, la->f, la->t, la->start, buf, la->len);
	if (rc)
		return rc;
	if (gg_quant_supported(la->t->type))
		atomic_fetch_add_explicit(&v->quant_chunks, 1, memory_order_relaxed);
	if (v->store)
		chunk_store_put(v->store, &sk, buf, la->len);
	*len = la->len;
	return 0;
}

/* Pin chunk c of tensor ti of file fi, loading it on a miss. */
static int get_chunk(struct vfs *v, uint32_t fi, uint32_t ti, uint64_t c,
		     struct chunk **out)
{
	const struct gg_outfile *f = &v->m->files[fi];
	const struct gg_tensor *t = &f->tensors[ti];
	const uint64_t cs = chunk_bytes(v, t);
	struct load_arg la = {v, f, t, fi, ti, c * cs, min_sz(cs, t->nbytes - c * cs)};
	int rc = chunk_cache_get_sized(v->cache, chunk_key(fi, t->offset + c * cs),
				       la.len, load_chunk, &la, out);
	if (rc)
		return rc;
	if ((*out)->len != la.len) { /* a loader bug: never serve it */
		chunk_cache_put(v->cache, *out);
		log_once(v, t, "chunk of unexpected length");
		return -EIO;
	}
	return 0;
}

/* Bytes [off, off+len) of tensor ti of output file fi (within the tensor). */
static int read_tensor(struct vfs *v, uint32_t fi, uint32_t ti, uint64_t off,
		       uint8_t *buf, size_t len)
{
	const struct gg_outfile *f = &v->m->files[fi];
	const struct gg_tensor *t = &f->tensors[ti];
	if (gg_tensor_direct(t))
		return read_direct(v, f, t, off, buf, len);
	const uint64_t cs = chunk_bytes(v, t);
	while (len) {
		uint64_t c = off / cs;
		size_t coff = (size_t)(off % cs);
		struct chunk *ch;
		int rc = get_chunk(v, fi, ti, c, &ch);
		if (rc)
			return rc;
		size_t n = min_sz(len, ch->len - coff);
		memcpy(buf, ch->data + coff, n);
		chunk_cache_put(v->cache, ch);
		buf += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- prefetch (the daemon's readahead) ---- */

struct chunk_job {
	struct vfs *v;
	uint32_t fi, ti;
	uint64_t c;
};

static void prefetch_chunk(void *arg)
{
	struct chunk_job *j = arg;
	struct chunk *ch;
	pthread_rwlock_rdlock(&j->v->model_lock);
	if (get_chunk(j->v, j->fi, j->ti, j->c, &ch) == 0) {
		chunk_cache_put(j->v->cache, ch);
		atomic_fetch_add_explicit(&j->v->prefetch_chunks, 1,
					  memory_order_relaxed);
	}
	pthread_rwlock_unlock(&j->v->model_lock);
	free(j);
}

struct source_job {
	struct vfs *v;
	const struct st_file *sf;
	uint64_t lo, hi;
};

/* Ask the kernel to read source bytes [lo, hi) now, in aligned pieces
 * (never past hi: the bytes beyond may belong to a tensor already served
 * and dropped). */
static void prefetch_source(const struct source_job *j)
{
	for (uint64_t a = j->lo; a < j->hi;) {
		uint64_t b = (a / SOURCE_RA_BYTES + 1) * SOURCE_RA_BYTES;
		if (b > j->hi)
			b = j->hi;
		posix_fadvise(j->sf->fd, (off_t)a, (off_t)(b - a),
			      POSIX_FADV_WILLNEED);
		a = b;
	}
	atomic_fetch_add_explicit(&j->v->prefetch_source_bytes, j->hi - j->lo,
				  memory_order_relaxed);
}

/* Collects the pieces of a prefetch range: chunks of computed tensors are
 * queued at once; byte-copy ranges are merged while they are adjacent in
 * one source file, and queued as one source readahead. */
struct prefetch_walk {
	struct vfs *v;
	uint32_t fi;
	struct source_job pending;
};

/* Source readahead is asked for at once, on the request's thread: it
 * only queues I/O, and a queued task could run after the reader caught up
 * and dropped those blocks, reading them back for nothing. */
static void flush_source(struct prefetch_walk *w)
{
	if (!w->pending.sf)
		return;
	prefetch_source(&w->pending);
	w->pending.sf = NULL;
}

/* One source span of a direct tensor: merged with the pending one when it
 * continues it in the same file. */
static void pend_span(void *arg, uint32_t file, uint64_t lo, uint64_t hi)
{
	struct prefetch_walk *w = arg;
	struct vfs *v = w->v;
	const struct st_file *sf = &file_set(v, &v->m->files[w->fi])->files[file];
	if (w->pending.sf == sf && w->pending.hi == lo) {
		w->pending.hi = hi;
		return;
	}
	flush_source(w);
	w->pending = (struct source_job){ v, sf, lo, hi };
}

static int prefetch_piece(void *arg, size_t ti, uint64_t toff, uint64_t tlen)
{
	struct prefetch_walk *w = arg;
	struct vfs *v = w->v;
	const struct gg_outfile *f = &v->m->files[w->fi];
	const struct gg_tensor *t = &f->tensors[ti];
	if (gg_tensor_direct(t)) {
		gg_tensor_source_spans(t, toff, tlen, pend_span, w);
		return 0;
	}
	const uint64_t cs = chunk_bytes(v, t);
	for (uint64_t c = toff / cs; c * cs < toff + tlen; c++) {
		struct chunk_job *j = malloc(sizeof *j);
		if (!j)
			return -1;
		*j = (struct chunk_job){ v, w->fi, (uint32_t)ti, c };
		if (gg_pool_submit(v->pool, prefetch_chunk, j)) {
			free(j);
			return -1; /* queue full: enough is coming */
		}
	}
	return 0;
}

/* Called for each read of output file fi through handle h, before it is
 * served: the pool then works ahead while this thread serves the read. */
static void prefetch_ahead(struct vfs *v, struct vfs_handle *h, uint32_t fi,
			   uint64_t off, size_t size)
{
	const struct gg_outfile *f = &v->m->files[fi];
	uint64_t from, to;
	if (off >= f->size)
		return;
	size = min_sz(size, f->size - off);
	if (!v->pool || !vfs_ra_next(&h->ra, off, size, PREFETCH_WINDOW,
				     PREFETCH_SLACK, f->size, &from, &to))
		return;
	struct prefetch_walk w = { .v = v, .fi = fi };
	gg_outfile_for_tensors(f, from, to - from, prefetch_piece, &w);
	flush_source(&w);
}

/* The engine's reader for model files: tensor pieces go through
 * read_tensor (byte copies from sources, computed tensors via the cache). */
struct gguf_reader_arg {
	struct vfs *v;
	uint32_t fi;
};

static int gguf_tensor_reader(void *arg, const struct gg_outfile *f, size_t ti,
			      uint64_t off, size_t len, void *buf, gg_err *e)
{
	(void)f;
	(void)e;
	struct gguf_reader_arg *a = arg;
	return read_tensor(a->v, a->fi, (uint32_t)ti, off, buf, len);
}

/* Bytes [off, off+size) of output file fi, clamped to its size. */
static ssize_t read_gguf(struct vfs *v, uint32_t fi, uint8_t *buf, size_t size,
			 uint64_t off)
{
	const struct gg_outfile *f = &v->m->files[fi];
	if (off >= f->size)
		return 0;
	size = min_sz(size, f->size - off);
	struct gguf_reader_arg a = { v, fi };
	gg_err e = {{0}};
	int rc = gg_outfile_read_with(f, off, size, buf, gguf_tensor_reader, &a, &e);
	if (rc == -EIO && e.msg[0])
		log_once(v, f, e.msg);
	return rc ? rc : (ssize_t)size;
}

/* ---- metadata.json ---- */

static cJSON *json_u64(uint64_t x)
{
	char s[24];
	snprintf(s, sizeof s, "%" PRIu64, x);
	return cJSON_CreateRaw(s); /* exact, even above 2^53 */
}

static cJSON *json_i64(int64_t x)
{
	char s[24];
	snprintf(s, sizeof s, "%" PRId64, x);
	return cJSON_CreateRaw(s);
}

static cJSON *json_f64(double x)
{
	return x == x && x - x == 0 ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

/* One value of scalar type t from packed little-endian bytes p. */
static cJSON *json_packed(enum gguf_vtype t, const uint8_t *p)
{
	union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32;
		int32_t i32; float f32; uint64_t u64; int64_t i64; double f64; } u;
	memcpy(&u, p, gguf_vtype_size(t));
	switch (t) {
	case GGUF_VT_U8: return json_u64(u.u8);
	case GGUF_VT_I8: return json_i64(u.i8);
	case GGUF_VT_U16: return json_u64(u.u16);
	case GGUF_VT_I16: return json_i64(u.i16);
	case GGUF_VT_U32: return json_u64(u.u32);
	case GGUF_VT_I32: return json_i64(u.i32);
	case GGUF_VT_F32: return json_f64(u.f32);
	case GGUF_VT_BOOL: return cJSON_CreateBool(u.u8 != 0);
	case GGUF_VT_U64: return json_u64(u.u64);
	case GGUF_VT_I64: return json_i64(u.i64);
	case GGUF_VT_F64: return json_f64(u.f64);
	default: return cJSON_CreateNull();
	}
}

/* A GGUF string; bytes after an embedded NUL are dropped (JSON from C). */
static cJSON *json_gstr(const struct gguf_str *s)
{
	return cJSON_CreateString(s->s ? s->s : "");
}

static cJSON *json_scalar(const struct gguf_kv *kv)
{
	switch (kv->type) {
	case GGUF_VT_U8: case GGUF_VT_U16: case GGUF_VT_U32: case GGUF_VT_U64:
		return json_u64(kv->v.u);
	case GGUF_VT_I8: case GGUF_VT_I16: case GGUF_VT_I32: case GGUF_VT_I64:
		return json_i64(kv->v.i);
	case GGUF_VT_F32: case GGUF_VT_F64:
		return json_f64(kv->v.f);
	case GGUF_VT_BOOL:
		return cJSON_CreateBool(kv->v.b);
	case GGUF_VT_STRING:
		return json_gstr(&kv->str);
	default:
		return cJSON_CreateNull();
	}
}

/* {"key", "type", "value"}; arrays add "elem_type" and "count" and list
 * every element (so the JSON is a complete copy of the KV section). */
static cJSON *json_kv(const struct gguf_kv *kv)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "key", kv->key);
	cJSON_AddStringToObject(o, "type", gguf_vtype_name(kv->type));
	if (kv->type != GGUF_VT_ARRAY) {
		cJSON_AddItemToObject(o, "value", json_scalar(kv));
		return o;
	}
	cJSON_AddStringToObject(o, "elem_type", gguf_vtype_name(kv->arr_type));
	cJSON_AddItemToObject(o, "count", json_u64(kv->arr_n));
	cJSON *a = cJSON_AddArrayToObject(o, "value");
	size_t es = gguf_vtype_size(kv->arr_type);
	for (uint64_t i = 0; i < kv->arr_n; i++) {
		cJSON *x;
		if (kv->arr_type == GGUF_VT_STRING)
			x = json_gstr(&((const struct gguf_str *)kv->arr)[i]);
		else if (es)
			x = json_packed(kv->arr_type, (const uint8_t *)kv->arr + i * es);
		else
			x = cJSON_CreateNull();
		cJSON_AddItemToArray(a, x);
	}
	return o;
}

/* Which source tensors and files feed t. */
static cJSON *json_sources(const struct st_set *set, const struct gg_tensor *t)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < t->nsrc; i++) {
		const struct gg_src *s = &t->srcs[i];
		cJSON *o = cJSON_CreateObject();
		if (s->st) {
			cJSON_AddStringToObject(o, "tensor", s->st->name);
			if (set && s->st->file < set->nfiles)
				cJSON_AddStringToObject(o, "file",
							set->files[s->st->file].name);
			cJSON_AddStringToObject(o, "dtype", gg_type_name(s->st->dtype));
			if (s->scales)
				cJSON_AddStringToObject(o, "scales", s->scales->name);
		} else {
			cJSON_AddBoolToObject(o, "synthetic", 1);
			cJSON_AddStringToObject(o, "dtype", gg_type_name(s->type));
		}
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

static cJSON *json_tensor(const struct st_set *set, const struct gg_outfile *f,
			  const struct gg_tensor *t)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", t->name);
	const char *tn = gg_type_name(t->type) ? gg_type_name(t->type) : gguf_ggml_type_name(t->type);
	cJSON_AddStringToObject(o, "type", tn ? tn : "?");
	if (t->value_type != t->type && gg_type_name(t->value_type))
		/* -o type=: the type the values pass through first */
		cJSON_AddStringToObject(o, "values", gg_type_name(t->value_type));
	cJSON *d = cJSON_AddArrayToObject(o, "dims");
	for (uint32_t i = 0; i < t->n_dims; i++)
		cJSON_AddItemToArray(d, json_u64(t->ne[i]));
	cJSON_AddItemToObject(o, "offset", json_u64(t->offset));
	cJSON_AddItemToObject(o, "data_offset", json_u64(t->offset - f->header_len));
	cJSON_AddItemToObject(o, "size", json_u64(t->nbytes));
	cJSON_AddBoolToObject(o, "copy", t->is_copy);
	cJSON_AddStringToObject(o, "op", gg_op_name(t->op));
	cJSON_AddItemToObject(o, "sources", json_sources(set, t));
	return o;
}

/* metadata.json is written piece by piece: the framing by hand, each KV
 * and each tensor as one cJSON object printed and dropped at once. A tree
 * of the whole file would cost about 2.5 KB per tensor (750 MB for a
 * 300,000-tensor model) on top of the text. The writer runs twice: once
 * counting, for the size stat reports, and once, on the first read,
 * writing; so listing a mount costs no memory for it. */
struct meta_out {
	char *buf; /* NULL: count only */
	size_t len;
	bool failed; /* out of memory */
};

static void meta_put(struct meta_out *o, const char *s)
{
	size_t n = strlen(s);
	if (o->buf)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* item printed compactly (then freed); with strip, without its outer
 * braces, so that its members join an object being written. */
static void meta_item(struct meta_out *o, cJSON *item, bool strip)
{
	char *t = item ? cJSON_PrintUnformatted(item) : NULL;
	cJSON_Delete(item);
	if (!t) {
		o->failed = true;
		return;
	}
	size_t n = strlen(t);
	if (strip && n >= 2) {
		t[n - 1] = 0;
		meta_put(o, t + 1);
	} else {
		meta_put(o, t);
	}
	free(t);
}

/* One output file's members: name, sizes, kv, tensors. */
static void meta_outfile(const struct vfs *v, const struct gg_outfile *f,
			 struct meta_out *o)
{
	cJSON *head = cJSON_CreateObject();
	cJSON_AddStringToObject(head, "name", f->name);
	cJSON_AddItemToObject(head, "size", json_u64(f->size));
	cJSON_AddItemToObject(head, "header_size", json_u64(f->header_len));
	cJSON_AddItemToObject(head, "alignment", json_u64(f->alignment));
	meta_item(o, head, true);
	meta_put(o, ",\n\"kv\":[");
	for (size_t i = 0; f->kvs && i < f->kvs->n; i++) {
		meta_put(o, i ? ",\n" : "\n");
		meta_item(o, json_kv(&f->kvs->kv[i]), false);
	}
	meta_put(o, "],\n\"tensors\":[");
	const struct st_set *set = file_set(v, f);
	for (size_t i = 0; i < f->ntensors; i++) {
		meta_put(o, i ? ",\n" : "\n");
		meta_item(o, json_tensor(set, f, &f->tensors[i]), false);
	}
	meta_put(o, "]");
}

/* metadata.json: model.gguf's description at the top level (name, size,
 * kv, tensors), the model facts, and the other output files in "files". */
static void write_metadata(const struct vfs *v, struct meta_out *o)
{
	const struct gg_model *m = v->m;
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "gguffs_version", GGUFFS_VERSION);
	cJSON_AddStringToObject(root, "source_dir", m->dir ? m->dir : "");
	cJSON_AddStringToObject(root, "profile", gg_profile_name(m->opt.profile));
	if (m->opt.has_ftype)
		cJSON_AddStringToObject(root, "type", gg_ftype_name(m->opt.ftype));
	if (m->arch) {
		cJSON_AddStringToObject(root, "hf_architecture", m->arch->hf_arch);
		cJSON_AddStringToObject(root, "architecture", m->arch->gguf_arch);
	}
	cJSON_AddBoolToObject(root, "llamacpp_loadable", m->notice == NULL);
	if (m->notice)
		cJSON_AddStringToObject(root, "notice", m->notice);
	meta_put(o, "{");
	meta_item(o, root, true);
	if (m->nfiles) {
		meta_put(o, ",\n");
		meta_outfile(v, &m->files[0], o);
	}
	meta_put(o, ",\n\"files\":[");
	for (size_t i = 1; i < m->nfiles; i++) {
		meta_put(o, i > 1 ? ",\n{" : "\n{");
		meta_outfile(v, &m->files[i], o);
		meta_put(o, "}");
	}
	meta_put(o, "]}\n");
}

/* metadata.json's size (counted once, writing nothing); 0 if it cannot be
 * made. */
static size_t metadata_size(struct vfs *v)
{
	pthread_mutex_lock(&v->meta_mu);
	if (!v->meta_len) {
		struct meta_out o = {0};
		write_metadata(v, &o);
		v->meta_len = o.failed ? 0 : o.len;
	}
	size_t n = v->meta_len;
	pthread_mutex_unlock(&v->meta_mu);
	return n;
}

/* metadata.json's text, written on first read; NULL when it cannot be made
 * (out of memory). */
static const char *metadata(struct vfs *v, size_t *len)
{
	size_t n = metadata_size(v);
	pthread_mutex_lock(&v->meta_mu);
	if (!v->meta && n) {
		struct meta_out o = { .buf = malloc(n + 1) };
		if (o.buf)
			write_metadata(v, &o);
		if (o.buf && !o.failed && o.len == n) {
			o.buf[n] = 0;
			v->meta = o.buf;
		} else {
			free(o.buf);
		}
	}
	pthread_mutex_unlock(&v->meta_mu);
	*len = n;
	return v->meta;
}

/* ---- stats.json ---- */

/* "errors_logged" and "last_errors": [{"time", "message"}], oldest first. */
static void json_errors(struct vfs *v, cJSON *o)
{
	pthread_mutex_lock(&v->log_mu);
	cJSON_AddItemToObject(o, "errors_logged", json_u64(v->nerrs));
	cJSON *a = cJSON_AddArrayToObject(o, "last_errors");
	uint64_t first = v->nerrs > VFS_LAST_ERRORS ? v->nerrs - VFS_LAST_ERRORS : 0;
	for (uint64_t i = first; i < v->nerrs; i++) {
		const struct vfs_error *r = &v->errs[i % VFS_LAST_ERRORS];
		struct tm tm;
		char when[40];
		gmtime_r(&r->when.tv_sec, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "time", when);
		cJSON_AddStringToObject(x, "message", r->msg);
		cJSON_AddItemToArray(a, x);
	}
	pthread_mutex_unlock(&v->log_mu);
}

/* stats.json's text (read lock held). */
static char *stats_json(struct vfs *v)
{
	struct chunk_cache_stats cs;
	struct gg_engine_stats es;
	chunk_cache_stats(v->cache, &cs);
	gg_engine_stats_get(&es);
	cJSON *o = cJSON_CreateObject();
	cJSON *c = cJSON_AddObjectToObject(o, "cache");
	cJSON_AddItemToObject(c, "hits", json_u64(cs.hits));
	cJSON_AddItemToObject(c, "misses", json_u64(cs.misses));
	cJSON_AddItemToObject(c, "evictions", json_u64(cs.evictions));
	cJSON_AddItemToObject(c, "coalesced", json_u64(cs.coalesced));
	cJSON_AddItemToObject(c, "load_errors", json_u64(cs.load_errors));
	cJSON_AddItemToObject(c, "entries", json_u64(cs.entries));
	cJSON_AddItemToObject(c, "cur_bytes", json_u64(cs.cur_bytes));
	cJSON_AddItemToObject(c, "peak_bytes", json_u64(cs.peak_bytes));
	cJSON_AddItemToObject(c, "budget", json_u64(cs.budget));
	cJSON_AddItemToObject(c, "chunk_size", json_u64(cs.chunk_size));
	cJSON_AddItemToObject(o, "bytes_materialised", json_u64(cs.bytes_loaded));
	cJSON_AddItemToObject(o, "bytes_copied",
			      json_u64(atomic_load(&v->bytes_copied)));
	cJSON_AddItemToObject(o, "reads", json_u64(atomic_load(&v->reads)));
	cJSON_AddItemToObject(o, "read_errors",
			      json_u64(atomic_load(&v->read_errors)));
	cJSON *pf = cJSON_AddObjectToObject(o, "prefetch");
	cJSON_AddItemToObject(pf, "chunks", json_u64(atomic_load(&v->prefetch_chunks)));
	cJSON_AddItemToObject(pf, "source_bytes",
			      json_u64(atomic_load(&v->prefetch_source_bytes)));
	struct gg_srcdrop_stats ds;
	gg_srcdrop_stats_get(v->drop, &ds);
	cJSON *d = cJSON_AddObjectToObject(o, "source_cache");
	cJSON_AddBoolToObject(d, "dropping", v->drop != NULL);
	cJSON_AddItemToObject(d, "blocks", json_u64(ds.blocks));
	cJSON_AddItemToObject(d, "drops", json_u64(ds.drops));
	cJSON_AddItemToObject(d, "bytes_dropped", json_u64(ds.bytes_dropped));
	cJSON *e = cJSON_AddObjectToObject(o, "engine");
	cJSON_AddItemToObject(e, "src_bytes", json_u64(es.src_bytes));
	cJSON_AddItemToObject(e, "copy_bytes", json_u64(es.copy_bytes));
	cJSON_AddItemToObject(e, "convert_elems", json_u64(es.convert_elems));
	cJSON_AddItemToObject(e, "repack_bytes", json_u64(es.repack_bytes));
	cJSON_AddStringToObject(e, "convert_kernel", gg_convert_kernel());
	cJSON_AddItemToObject(o, "reloads", json_u64(atomic_load(&v->reloads)));
	cJSON *q = cJSON_AddObjectToObject(o, "quant");
	cJSON_AddItemToObject(q, "chunks", json_u64(atomic_load(&v->quant_chunks)));
	cJSON_AddItemToObject(q, "rows", json_u64(es.quant_rows));
	cJSON_AddItemToObject(q, "bytes", json_u64(es.quant_bytes));
	cJSON_AddStringToObject(q, "kernel", gg_quant_kernel());
	cJSON *st = cJSON_AddObjectToObject(o, "store");
	cJSON_AddBoolToObject(st, "enabled", v->store != NULL);
	if (v->store) {
		struct chunk_store_stats ss;
		chunk_store_stats(v->store, &ss);
		cJSON_AddStringToObject(st, "dir", v->store_dir);
		cJSON_AddItemToObject(st, "hits", json_u64(ss.hits));
		cJSON_AddItemToObject(st, "misses", json_u64(ss.misses));
		cJSON_AddItemToObject(st, "bad_files", json_u64(ss.bad_files));
		cJSON_AddItemToObject(st, "writes", json_u64(ss.writes));
		cJSON_AddItemToObject(st, "write_errors", json_u64(ss.write_errors));
		cJSON_AddItemToObject(st, "evictions", json_u64(ss.evictions));
		cJSON_AddItemToObject(st, "bytes", json_u64(ss.bytes));
		cJSON_AddItemToObject(st, "budget", json_u64(ss.budget));
	}
	json_errors(v, o);
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	return s;
}

char *vfs_stats_json(struct vfs *v)
{
	pthread_rwlock_rdlock(&v->model_lock);
	char *s = stats_json(v);
	pthread_rwlock_unlock(&v->model_lock);
	return s;
}

/* ---- tree ---- */

static void node_hash_insert(struct vfs *v, size_t idx)
{
	struct vfs_node *n = &v->nodes[idx];
	uint64_t h = XXH3_64bits(n->path, strlen(n->path));
	size_t b = (size_t)(h & (v->nbuckets - 1));
	n->hnext = v->buckets[b];
	v->buckets[b] = idx + 1;
}

const struct vfs_node *vfs_lookup(struct vfs *v, const char *path)
{
	size_t len = strlen(path);
	uint64_t h = XXH3_64bits(path, len);
	for (size_t i = v->buckets[h & (v->nbuckets - 1)]; i;
	     i = v->nodes[i - 1].hnext)
		if (strcmp(v->nodes[i - 1].path, path) == 0)
			return &v->nodes[i - 1];
	return NULL;
}

/* "dir/name" with '%' and '/' of name escaped. */
static char *child_path(const char *dir, const char *name, bool escape)
{
	size_t dl = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
	char *p = gg_malloc(dl + 1 + 3 * strlen(name) + 1), *q = p;
	memcpy(q, dir, dl);
	q += dl;
	*q++ = '/';
	for (const char *s = name; *s; s++) {
		if (escape && (*s == '/' || *s == '%'))
			q += sprintf(q, "%%%02X", (unsigned char)*s);
		else
			*q++ = *s;
	}
	*q = 0;
	return p;
}

static struct vfs_node *add_node(struct vfs *v, struct vfs_node *parent,
				 const char *name, bool escape,
				 enum vfs_kind kind)
{
	size_t idx = v->nnodes++;
	struct vfs_node *n = &v->nodes[idx];
	n->path = parent ? child_path(parent->path, name, escape) : gg_strdup("/");
	n->name = strrchr(n->path, '/') + 1;
	n->kind = kind;
	n->ino = idx + 1;
	if (parent) {
		parent->kids[parent->nkids++] = n;
		if (kind == VFS_DIR)
			parent->ndirs++;
	}
	node_hash_insert(v, idx);
	return n;
}

/* "tensors" for files[0]; "tensors.<stem>" for another file <stem>.gguf. */
static char *tensor_dir_name(const struct gg_outfile *f, size_t i)
{
	if (i == 0)
		return gg_strdup("tensors");
	size_t n = strlen(f->name);
	if (n > 5 && strcmp(f->name + n - 5, ".gguf") == 0)
		n -= 5;
	char *s = gg_malloc(8 + n + 1);
	memcpy(s, "tensors.", 8);
	memcpy(s + 8, f->name, n);
	s[8 + n] = 0;
	return s;
}

/* The conventional name of output file i (naming.h), as a second link
 * to it: same inode number, two links. Skipped if it names something
 * already there. */
static void add_alias(struct vfs *v, struct vfs_node *root, size_t i)
{
	char *name = gg_naming_file_name(v->m, &v->m->files[i]);
	char *path = child_path("/", name, true);
	struct vfs_node *file = NULL;
	for (size_t k = 0; k < root->nkids; k++)
		if (root->kids[k]->kind == VFS_GGUF && root->kids[k]->file == i)
			file = root->kids[k];
	if (file && !vfs_lookup(v, path) && strncmp(name, "tensors", 7) != 0) {
		struct vfs_node *n = add_node(v, root, name, true, VFS_GGUF);
		n->file = (uint32_t)i;
		n->ino = file->ino;
		n->nlink = file->nlink = 2;
	}
	free(path);
	free(name);
}

static void build_tree(struct vfs *v)
{
	const struct gg_model *m = v->m;
	size_t total = 3; /* root, metadata.json, stats.json */
	for (size_t i = 0; i < m->nfiles; i++)
		total += 3 + m->files[i].ntensors; /* file, alias, dir, tensors */
	v->nodes = gg_calloc(total, sizeof *v->nodes);
	v->nbuckets = 64;
	while (v->nbuckets < 2 * total)
		v->nbuckets *= 2;
	v->buckets = gg_calloc(v->nbuckets, sizeof *v->buckets);

	struct vfs_node *root = add_node(v, NULL, "", false, VFS_DIR);
	root->kids = gg_calloc(2 + 3 * m->nfiles, sizeof *root->kids);
	for (size_t i = 0; i < m->nfiles; i++)
		add_node(v, root, m->files[i].name, true, VFS_GGUF)->file = (uint32_t)i;
	add_node(v, root, "metadata.json", false, VFS_METADATA);
	add_node(v, root, "stats.json", false, VFS_STATS);
	for (size_t i = 0; i < m->nfiles; i++)
		add_alias(v, root, i);
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct gg_outfile *f = &m->files[i];
		char *dn = tensor_dir_name(f, i);
		struct vfs_node *d = add_node(v, root, dn, true, VFS_DIR);
		free(dn);
		d->file = (uint32_t)i;
		d->kids = gg_calloc(f->ntensors ? f->ntensors : 1, sizeof *d->kids);
		for (size_t t = 0; t < f->ntensors; t++) {
			struct vfs_node *n = add_node(v, d, f->tensors[t].name,
						      true, VFS_TENSOR);
			n->file = (uint32_t)i;
			n->tensor = (uint32_t)t;
		}
	}
}

/* With a store: the fingerprint of every computed tensor of v->m. */
static void fingerprint_files(struct vfs *v)
{
	const struct gg_model *m = v->m;
	for (size_t i = 0; v->store && i < m->nfiles; i++) {
		const struct gg_outfile *f = &m->files[i];
		for (size_t t = 0; t < f->ntensors; t++)
			if (!f->tensors[t].is_copy)
				gg_tensor_fingerprint(file_set(v, f), &f->tensors[t],
						      &v->vf[i].fp[t]);
	}
}

static void build_files(struct vfs *v)
{
	const struct gg_model *m = v->m;
	v->vf = gg_calloc(m->nfiles ? m->nfiles : 1, sizeof *v->vf);
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct gg_outfile *f = &m->files[i];
		size_t n = f->ntensors ? f->ntensors : 1;
		struct vfs_file *vf = &v->vf[i];
		vf->xxh3 = gg_calloc(n, sizeof *vf->xxh3);
		vf->hashed = gg_calloc(n, 1);
		if (v->store)
			vf->fp = gg_calloc(n, sizeof *vf->fp);
	}
	fingerprint_files(v);
}

int vfs_new(struct gg_model *m, const struct vfs_options *o, struct vfs **out,
	    gg_err *e)
{
	*out = NULL;
	uint64_t cs = o && o->chunk_size ? o->chunk_size : VFS_DEFAULT_CHUNK_SIZE;
	uint64_t budget = o && o->cache_size ? o->cache_size : VFS_DEFAULT_CACHE_SIZE;
	if (cs < VFS_MIN_CHUNK_SIZE || cs > VFS_MAX_CHUNK_SIZE) {
		gg_model_close(m);
		return gg_fail(e, "chunk_size=%" PRIu64 ": must be between 1M and 256M",
			       cs);
	}
	for (size_t i = 0; i < m->nfiles; i++) {
		if (i >= VFS_KEY_FILES || m->files[i].size >> VFS_KEY_OFFSET_BITS) {
			gg_fail(e, "%s: too large to serve (at most %u files of "
				"%u TiB)", m->files[i].name, VFS_KEY_FILES,
				1u << (VFS_KEY_OFFSET_BITS - 40));
			gg_model_close(m);
			return -1;
		}
	}
	struct vfs *v = gg_calloc(1, sizeof *v);
	v->m = m;
	v->chunk_size = cs;
	v->cache_size = budget;
	v->cache = chunk_cache_new((size_t)budget, (size_t)cs);
	if (!v->cache) {
		gg_model_close(m);
		free(v);
		return gg_fail(e, "out of memory");
	}
	struct stat st;
	if (m->dir && stat(m->dir, &st) == 0)
		v->mtime = st.st_mtim;
	v->uid = getuid();
	v->gid = getgid();
	pthread_mutex_init(&v->meta_mu, NULL);
	pthread_mutex_init(&v->xattr_mu, NULL);
	pthread_mutex_init(&v->log_mu, NULL);
	pthread_mutex_init(&v->reload_mu, NULL);
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&v->model_lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	v->keep_source_cache = o && o->keep_source_cache;
	if (o && o->store_dir) {
		uint64_t ss = o->store_size ? o->store_size : VFS_DEFAULT_STORE_SIZE;
		if (chunk_store_open(o->store_dir, ss, &v->store, e)) {
			chunk_cache_free(v->cache);
			gg_model_close(m);
			free(v);
			return -1;
		}
		v->store_dir = gg_strdup(o->store_dir);
	}
	if (!v->keep_source_cache && m->st)
		v->drop = gg_srcdrop_new(m->st, m->files, m->nfiles);
	build_tree(v);
	build_files(v);
	*out = v;
	return 0;
}

void vfs_free(struct vfs *v)
{
	if (!v)
		return;
	/* First: queued prefetches still run here, and use everything below
	 * (the fingerprints and store, the log, the cache). */
	gg_pool_free(v->pool);
	for (size_t i = 0; i < v->nnodes; i++) {
		free(v->nodes[i].path);
		free(v->nodes[i].kids);
	}
	free(v->nodes);
	free(v->buckets);
	for (size_t i = 0; v->m && i < v->m->nfiles; i++) {
		free(v->vf[i].xxh3);
		free(v->vf[i].hashed);
		free(v->vf[i].fp);
	}
	chunk_store_close(v->store);
	free(v->store_dir);
	free(v->vf);
	free(v->meta);
	free(v->logged);
	chunk_cache_free(v->cache);
	gg_srcdrop_free(v->drop);
	gg_model_close(v->m);
	pthread_mutex_destroy(&v->meta_mu);
	pthread_mutex_destroy(&v->xattr_mu);
	pthread_mutex_destroy(&v->log_mu);
	pthread_mutex_destroy(&v->reload_mu);
	pthread_rwlock_destroy(&v->model_lock);
	free(v);
}

int vfs_start_threads(struct vfs *v)
{
	if (!v->pool)
		v->pool = gg_pool_new(0);
	return v->pool ? 0 : -1;
}

const struct gg_model *vfs_model(const struct vfs *v)
{
	return v->m;
}

enum vfs_kind vfs_node_kind(const struct vfs_node *n)
{
	return n->kind;
}

/* stats.json's size now: the length of a snapshot taken now. */
static uint64_t stats_size(struct vfs *v)
{
	char *s = stats_json(v);
	uint64_t n = s ? strlen(s) : 0;
	free(s);
	return n;
}

static uint64_t node_size(struct vfs *v, const struct vfs_node *n)
{
	switch (n->kind) {
	case VFS_GGUF:
		return v->m->files[n->file].size;
	case VFS_TENSOR:
		return v->m->files[n->file].tensors[n->tensor].nbytes;
	case VFS_METADATA:
		return metadata_size(v);
	case VFS_STATS:
		return stats_size(v);
	case VFS_DIR:
		break;
	}
	return 0;
}

/* vfs_getattr with the read lock held. */
static void getattr(struct vfs *v, const struct vfs_node *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = n->ino;
	st->st_uid = v->uid;
	st->st_gid = v->gid;
	st->st_atim = st->st_mtim = st->st_ctim = v->mtime;
	st->st_blksize = 1 << 20; /* invites 1 MiB reads (cat, cp) */
	if (n->kind == VFS_DIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + n->ndirs;
		return;
	}
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = n->nlink ? n->nlink : 1;
	st->st_size = (off_t)node_size(v, n);
	st->st_blocks = (st->st_size + 511) / 512;
}

void vfs_getattr(struct vfs *v, const struct vfs_node *n, struct stat *st)
{
	pthread_rwlock_rdlock(&v->model_lock);
	getattr(v, n, st);
	pthread_rwlock_unlock(&v->model_lock);
}

void vfs_getattr_open(struct vfs *v, const struct vfs_handle *h,
		      struct stat *st)
{
	vfs_getattr(v, h->node, st);
	if (h->data) { /* a snapshot: its own length */
		st->st_size = (off_t)h->len;
		st->st_blocks = (st->st_size + 511) / 512;
	}
}

int vfs_readdir(struct vfs *v, const struct vfs_node *n, vfs_fill_fn fill,
		void *arg)
{
	if (n->kind != VFS_DIR)
		return -ENOTDIR;
	struct stat st;
	pthread_rwlock_rdlock(&v->model_lock);
	for (size_t i = 0; i < n->nkids; i++) {
		getattr(v, n->kids[i], &st);
		if (fill(n->kids[i]->name, &st, arg))
			break;
	}
	pthread_rwlock_unlock(&v->model_lock);
	return 0;
}

void vfs_totals(struct vfs *v, uint64_t *bytes, uint64_t *nodes)
{
	uint64_t b = 0;
	pthread_rwlock_rdlock(&v->model_lock);
	for (size_t i = 0; i < v->m->nfiles; i++)
		b += v->m->files[i].size; /* tensors/ are views of the same bytes */
	pthread_rwlock_unlock(&v->model_lock);
	*bytes = b;
	*nodes = v->nnodes;
}

/* ---- open / read ---- */

int vfs_open(struct vfs *v, const struct vfs_node *n, struct vfs_handle **h)
{
	*h = NULL;
	struct vfs_handle *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	x->node = n;
	vfs_ra_init(&x->ra);
	if (n->kind == VFS_STATS) {
		x->data = vfs_stats_json(v);
		if (!x->data) {
			free(x);
			return -ENOMEM;
		}
		x->len = strlen(x->data);
	}
	*h = x;
	return 0;
}

bool vfs_handle_volatile(const struct vfs_handle *h)
{
	return h->node->kind == VFS_STATS;
}

const struct vfs_node *vfs_handle_node(const struct vfs_handle *h)
{
	return h->node;
}

static ssize_t read_mem(const char *data, size_t len, void *buf, size_t size,
			uint64_t off)
{
	if (!data)
		return -EIO;
	if (off >= len)
		return 0;
	size = min_sz(size, len - off);
	memcpy(buf, data + off, size);
	return (ssize_t)size;
}

static ssize_t read_tensor_file(struct vfs *v, const struct vfs_node *n,
				void *buf, size_t size, uint64_t off)
{
	const struct gg_tensor *t = &v->m->files[n->file].tensors[n->tensor];
	if (off >= t->nbytes)
		return 0;
	size = min_sz(size, t->nbytes - off);
	int rc = read_tensor(v, n->file, n->tensor, off, buf, size);
	return rc ? rc : (ssize_t)size;
}

ssize_t vfs_read(struct vfs *v, struct vfs_handle *h, void *buf, size_t size,
		 uint64_t off)
{
	const struct vfs_node *n = h->node;
	ssize_t r;
	size_t len;
	atomic_fetch_add_explicit(&v->reads, 1, memory_order_relaxed);
	pthread_rwlock_rdlock(&v->model_lock);
	switch (n->kind) {
	case VFS_GGUF:
		prefetch_ahead(v, h, n->file, off, size);
		r = read_gguf(v, n->file, buf, size, off);
		break;
	case VFS_TENSOR:
		r = read_tensor_file(v, n, buf, size, off);
		break;
	case VFS_METADATA: {
		const char *s = metadata(v, &len);
		r = read_mem(s, len, buf, size, off);
		break;
	}
	case VFS_STATS:
		r = read_mem(h->data, h->len, buf, size, off);
		break;
	default:
		r = -EISDIR;
	}
	pthread_rwlock_unlock(&v->model_lock);
	if (r < 0)
		atomic_fetch_add_explicit(&v->read_errors, 1, memory_order_relaxed);
	return r;
}

void vfs_release(struct vfs *v, struct vfs_handle *h)
{
	(void)v;
	if (!h)
		return;
	free(h->data);
	free(h);
}

/* ---- xattrs ---- */

static const char xattr_names[] =
	"user.gguf.type\0user.gguf.shape\0user.gguf.offset\0user.gguf.xxh3";

/* XXH3-64 of tensor ti of file fi, computed once by streaming the tensor
 * through the engine (not the cache: hashing must not evict hot chunks).
 * Two threads may race to compute it; both get the same value. */
static int tensor_xxh3(struct vfs *v, uint32_t fi, uint32_t ti, uint64_t *out)
{
	struct vfs_file *vf = &v->vf[fi];
	pthread_mutex_lock(&v->xattr_mu);
	bool have = vf->hashed[ti];
	*out = vf->xxh3[ti];
	pthread_mutex_unlock(&v->xattr_mu);
	if (have)
		return 0;
	const struct gg_outfile *f = &v->m->files[fi];
	const struct gg_tensor *t = &f->tensors[ti];
	size_t step = (size_t)v->chunk_size;
	uint8_t *buf = malloc(step);
	XXH3_state_t *s = XXH3_createState();
	int rc = buf && s ? 0 : -ENOMEM;
	if (!rc)
		XXH3_64bits_reset(s);
	for (uint64_t off = 0; !rc && off < t->nbytes; off += step) {
		size_t n = min_sz(step, t->nbytes - off);
		rc = read_direct(v, f, t, off, buf, n);
		if (!rc)
			XXH3_64bits_update(s, buf, n);
	}
	if (!rc) {
		*out = XXH3_64bits_digest(s);
		pthread_mutex_lock(&v->xattr_mu);
		vf->xxh3[ti] = *out;
		vf->hashed[ti] = 1;
		pthread_mutex_unlock(&v->xattr_mu);
	}
	XXH3_freeState(s);
	free(buf);
	return rc;
}

/* The value text of xattr name of tensor node n into val (cap bytes). */
static int xattr_value(struct vfs *v, const struct vfs_node *n,
		       const char *name, char *val, size_t cap)
{
	const struct gg_tensor *t = &v->m->files[n->file].tensors[n->tensor];
	if (strcmp(name, "user.gguf.type") == 0) {
		const char *tn = gg_type_name(t->type) ? gg_type_name(t->type) : gguf_ggml_type_name(t->type);
		snprintf(val, cap, "%s", tn ? tn : "?");
	} else if (strcmp(name, "user.gguf.shape") == 0) {
		size_t k = 0;
		val[0] = 0;
		for (uint32_t i = 0; i < t->n_dims && k < cap; i++)
			k += (size_t)snprintf(val + k, cap - k, "%s%" PRIu64,
					      i ? "," : "", t->ne[i]);
	} else if (strcmp(name, "user.gguf.offset") == 0) {
		snprintf(val, cap, "%" PRIu64, t->offset);
	} else if (strcmp(name, "user.gguf.xxh3") == 0) {
		uint64_t h;
		int rc = tensor_xxh3(v, n->file, n->tensor, &h);
		if (rc)
			return rc;
		snprintf(val, cap, "%016" PRIx64, h);
	} else {
		return -ENODATA;
	}
	return 0;
}

ssize_t vfs_getxattr(struct vfs *v, const struct vfs_node *n, const char *name,
		     char *buf, size_t size)
{
	if (n->kind != VFS_TENSOR)
		return -ENODATA;
	char val[128];
	pthread_rwlock_rdlock(&v->model_lock);
	int rc = xattr_value(v, n, name, val, sizeof val);
	pthread_rwlock_unlock(&v->model_lock);
	if (rc)
		return rc;
	size_t len = strlen(val);
	if (size == 0)
		return (ssize_t)len;
	if (size < len)
		return -ERANGE;
	memcpy(buf, val, len);
	return (ssize_t)len;
}

ssize_t vfs_listxattr(struct vfs *v, const struct vfs_node *n, char *buf,
		      size_t size)
{
	(void)v;
	if (n->kind != VFS_TENSOR)
		return 0;
	size_t len = sizeof xattr_names; /* includes the final NUL */
	if (size == 0)
		return (ssize_t)len;
	if (size < len)
		return -ERANGE;
	memcpy(buf, xattr_names, len);
	return (ssize_t)len;
}

/* ---- reload (SIGUSR1) ---- */

/* Drop the kernel's caches of what may read differently now: each
 * affected tensor's file, the output files holding one, metadata.json. */
static void invalidate_affected(struct vfs *v, const struct gg_modeldiff *d,
				vfs_inval_fn inval, void *arg)
{
	bool *hit = gg_calloc(d->nfiles ? d->nfiles : 1, 1);
	for (size_t i = 0; i < v->nnodes; i++) {
		const struct vfs_node *n = &v->nodes[i];
		if (n->kind == VFS_TENSOR && n->file < d->nfiles &&
		    d->affected[n->file][n->tensor]) {
			hit[n->file] = true;
			inval(n->path, arg);
		}
	}
	for (size_t i = 0; i < v->nnodes; i++) {
		const struct vfs_node *n = &v->nodes[i];
		if (n->kind == VFS_GGUF && n->file < d->nfiles && hit[n->file])
			inval(n->path, arg);
	}
	inval("/metadata.json", arg);
	free(hit);
}

/* Put nm in place of the model (and everything built from it); returns
 * the old model, which no reader uses any more. */
static struct gg_model *swap_model(struct vfs *v, struct gg_model *nm)
{
	pthread_rwlock_wrlock(&v->model_lock);
	struct gg_model *old = v->m;
	v->m = nm;
	chunk_cache_clear(v->cache); /* no reader is in: nothing pinned */
	gg_srcdrop_free(v->drop);
	v->drop = !v->keep_source_cache && nm->st
		? gg_srcdrop_new(nm->st, nm->files, nm->nfiles) : NULL;
	for (size_t i = 0; i < nm->nfiles; i++) {
		size_t n = nm->files[i].ntensors ? nm->files[i].ntensors : 1;
		memset(v->vf[i].xxh3, 0, n * sizeof *v->vf[i].xxh3);
		memset(v->vf[i].hashed, 0, n);
	}
	fingerprint_files(v); /* the sources' identities changed */
	free(v->meta);
	v->meta = NULL;
	v->meta_len = 0;
	pthread_mutex_lock(&v->log_mu);
	v->nlogged = 0; /* the keys point into the old model */
	pthread_mutex_unlock(&v->log_mu);
	pthread_rwlock_unlock(&v->model_lock);
	return old;
}

/* Replies to reads that ran before the swap may reach the kernel just
 * after a first invalidation; a second one, this much later, drops them. */
#define RELOAD_REINVALIDATE_US 100000

static int reload(struct vfs *v, vfs_inval_fn inval, void *arg, gg_err *e)
{
	/* Only reload() replaces v->m, under reload_mu: reading it is safe. */
	const struct gg_model *cur = v->m;
	struct gg_options opt = cur->opt;
	struct gg_model *nm;
	gg_err oe;
	if (gg_model_open(cur->dir, &opt, &nm, &oe))
		return gg_fail(e, "%s cannot be opened again (%s): the changed "
			       "sources keep failing with EIO", cur->dir, oe.msg);
	struct gg_modeldiff d;
	gg_modeldiff(cur, nm, &d);
	int rc;
	if (!d.same_layout) {
		rc = gg_fail(e, "%s: %zu of %zu source files changed and the "
			     "layout changed (%s): still serving the mounted model, "
			     "whose changed sources fail with EIO; remount to see "
			     "the new one", cur->dir, d.changed_sources, d.nsources,
			     d.why);
		gg_model_close(nm);
	} else if (d.changed_sources == 0 && d.naffected == 0) {
		rc = 0;
		gg_fail(e, "%s: no source changed", cur->dir);
		gg_model_close(nm);
	} else {
		rc = 1;
		gg_fail(e, "%s: %zu of %zu source files changed, %zu tensors may "
			"read differently, the layout is the same: serving the "
			"sources again", nm->dir, d.changed_sources, d.nsources,
			d.naffected);
		struct gg_model *old = swap_model(v, nm);
		invalidate_affected(v, &d, inval, arg);
		usleep(RELOAD_REINVALIDATE_US);
		invalidate_affected(v, &d, inval, arg);
		gg_model_close(old);
		atomic_fetch_add(&v->reloads, 1);
	}
	gg_modeldiff_free(&d);
	return rc;
}

int vfs_reload(struct vfs *v, vfs_inval_fn inval, void *arg, gg_err *e)
{
	pthread_mutex_lock(&v->reload_mu);
	int rc = reload(v, inval, arg, e);
	pthread_mutex_unlock(&v->reload_mu);
	return rc;
}
