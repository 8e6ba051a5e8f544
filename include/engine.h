/* engine.h - produce any byte range of an output GGUF file.
 *
 * The engine reads only the source bytes a range needs: header bytes come
 * from memory, padding is zeros, a byte-copy tensor is read straight from
 * its source file, other tensors are computed element by element through
 * their view, converted to the output type (vectorised) and op-applied.
 *
 * Thread-safe: plans are immutable after gg_outfile_finish and the engine
 * keeps no shared mutable state except the atomic counters below.
 *
 * Errors: the serve path (util.h): reads return 0 or -EIO, with e holding
 * the message for the log, and never abort.
 *
 * Consistency: before and after touching a source file the engine checks it
 * is still the file recorded at open, unchanged (st_file_check); a file that
 * changed, was replaced or vanished makes the read fail with -EIO, so no byte
 * of a changed source is ever returned. A file truncated while being read
 * (SIGBUS on its mapping) also gives -EIO instead of killing the process.
 *
 * SIGBUS: the first read of a computed tensor installs, once per process,
 * a SIGBUS handler (SA_SIGINFO | SA_NODEFER). It owns only faults the kernel
 * raises on a thread inside an engine read at an address in a source mapping
 * of that read; those end the read with -EIO. Every other SIGBUS is passed
 * to the disposition that was installed before (its handler is called with
 * the same arguments; SIG_DFL, or SIG_IGN for a fault, kills the process with
 * SIGBUS as if the engine were not there). A program that installs its own
 * SIGBUS handler after the engine's must chain to the previous one
 * (sigaction's old action) to keep this behaviour.
 */
#ifndef GGUFFS_ENGINE_H
#define GGUFFS_ENGINE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "plan.h"

struct gg_engine_stats {
	uint64_t src_bytes;  /* source bytes read for computed tensors */
	uint64_t copy_bytes; /* bytes served by plain copy from sources */
	/* Elements that went through a dtype conversion or an element op
	 * (the only float arithmetic the engine does). */
	uint64_t convert_elems;
	/* Output bytes made by byte repacks (GG_OP_MXFP4_REPACK): no
	 * arithmetic, only nibble moves. */
	uint64_t repack_bytes;
	uint64_t quant_rows; /* rows of block-quantized tensors made */
	uint64_t quant_bytes; /* their bytes */
};

/* Fill buf with bytes [off, off+len) of f. Reads past the end of the file
 * are an error (callers clamp). Returns 0, or -EIO with e set. */
int gg_outfile_read(const struct gg_outfile *f, uint64_t off, size_t len,
		    void *buf, gg_err *e);

struct gg_pool;

/* gg_outfile_read on the threads of pool p and the caller's, in parts of
 * about part bytes (a quantized row cut by a part boundary is made by both
 * parts: keep parts much larger than rows). p NULL: on the caller alone. */
int gg_outfile_read_parallel(const struct gg_outfile *f, uint64_t off,
			     size_t len, void *buf, struct gg_pool *p,
			     size_t part, gg_err *e);

/* How the bytes of one tensor piece are produced: fill buf with bytes
 * [off, off+len) of f->tensors[ti] (off relative to the tensor). Returns 0
 * or a negative errno (setting e when it has something to say). */
typedef int (*gg_tensor_reader_fn)(void *arg, const struct gg_outfile *f,
				   size_t ti, uint64_t off, size_t len,
				   void *buf, gg_err *e);

/* gg_outfile_read with the tensor bytes produced by rd(arg, ...) (NULL:
 * gg_tensor_read): the engine walks the layout once (header bytes from
 * memory, zeros in padding, tensor pieces in file order) and the caller
 * decides how a tensor piece is made (a byte copy, through a cache...).
 * Returns 0, rd's negative errno, or -EIO (past the end; bad layout). */
int gg_outfile_read_with(const struct gg_outfile *f, uint64_t off, size_t len,
			 void *buf, gg_tensor_reader_fn rd, void *arg,
			 gg_err *e);

/* The same walk without bytes: fn(arg, ti, toff, tlen) for each tensor
 * piece overlapping [off, off+len) of f (clamped to the file), in file
 * order, stopping at fn's first nonzero return (returned). For prefetch. */
typedef int (*gg_tensor_piece_fn)(void *arg, size_t ti, uint64_t toff,
				  uint64_t tlen);
int gg_outfile_for_tensors(const struct gg_outfile *f, uint64_t off,
			   uint64_t len, gg_tensor_piece_fn fn, void *arg);

/* Fill buf with bytes [off, off+len) of tensor t (off relative to the
 * tensor's first byte; off + len <= t->nbytes). Returns 0 or -EIO. */
int gg_tensor_read(const struct gg_outfile *f, const struct gg_tensor *t,
		   uint64_t off, size_t len, void *buf, gg_err *e);

/* Whether t's bytes are made at copy speed (a byte copy, or a byte repack
 * with no arithmetic): callers may serve them straight into their buffer
 * instead of through a cache. */
bool gg_tensor_direct(const struct gg_tensor *t);

/* For a direct tensor: fn(arg, file, lo, hi) for each source byte span
 * [lo, hi) of st_set file `file` that bytes [off, off+len) of t read
 * (a repack: its code blocks and its scales; every source it covers), in
 * source order, so a caller can ask for them ahead. No-op for others. */
typedef void (*gg_src_span_fn)(void *arg, uint32_t file, uint64_t lo, uint64_t hi);
void gg_tensor_source_spans(const struct gg_tensor *t, uint64_t off, uint64_t len,
			    gg_src_span_fn fn, void *arg);

/* Index of the tensor whose bytes (padding after it included) contain file
 * offset off, or -1 when off lies in the header. */
long gg_outfile_tensor_at(const struct gg_outfile *f, uint64_t off);

/* Process-wide counters (relaxed atomics). */
void gg_engine_stats_get(struct gg_engine_stats *out);

/* Optional trace of every source range the engine reads (tests and
 * benchmarks use it to prove that a range touches only what it needs).
 * Called from reader threads; NULL disables. */
typedef void (*gg_src_trace_fn)(const struct st_tensor *st, uint64_t off,
				uint64_t len, void *arg);
void gg_engine_set_trace(gg_src_trace_fn fn, void *arg);

#endif
