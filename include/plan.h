/* plan.h - the description of an output GGUF file, as data.
 *
 * A converter never produces bytes. It describes each output tensor: its
 * source tensor(s), a strided view that says which source element feeds
 * each output element, an element-wise op and the output type. One shared
 * engine (engine.h) turns any byte range of the file into bytes from that
 * description.
 *
 * Views work like numpy strides over the source elements: the output
 * tensor's elements, in row-major order of view.dim[], come from source
 * element  base + sum(index[d] * stride[d]).  Reshape (split a dim),
 * transpose (swap dims) and slice cover the rotary permutation, expert
 * transposes, half splits and kv_b splits. A tensor with several sources
 * stacks them along a new outermost dimension (source s gives elements
 * [s * n, (s + 1) * n) of the output, n = elements of the view), each read
 * through the same view.
 */
#ifndef GGUFFS_PLAN_H
#define GGUFFS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "gguf.h"
#include "safetensors.h"
#include "util.h"

#define GG_VIEW_MAX_DIMS 8
/* The longest tensor name llama.cpp loads (GGML_MAX_NAME 64, with NUL). */
#define GG_MAX_TENSOR_NAME 63

/* Element-wise ops, applied in F32 between reading a source element and
 * storing the output element (adding one: a value here and its function
 * in convert/ops.c, gg_op_apply), and block repacks the engine runs on
 * whole blocks instead (GG_OP_MXFP4_REPACK; gg_op_apply ignores them). */
enum gg_op {
	GG_OP_NONE = 0,
	GG_OP_TANH,           /* tanhf(x) */
	GG_OP_ONE_MINUS_TANH, /* 1 - tanhf(x) */
	/* A 4-bit block byte repack, no arithmetic: output GG_TYPE_MXFP4 from
	 * MXFP4 sources as HF checkpoints store them (gpt-oss, compressed-
	 * tensors). Each element of the view is one 32-value block: srcs[s].st
	 * holds its 16 code bytes (U8; element 2j in the low nibble of byte j,
	 * 2j+1 in the high nibble), srcs[s].scales its E8M0 byte, both indexed
	 * by the same block number; srcs[s].nelem counts blocks. The output
	 * block is that scale byte, then 16 bytes with elements j and j + 16
	 * in byte j (low, high nibble). Set up with gg_tensor_set_mxfp4. */
	GG_OP_MXFP4_REPACK,
	GG_OP_ADD_ONE,        /* x + 1 (norm weights stored as w + 1, Gemma) */
	GG_OP_COUNT
};

/* x[i] = op(x[i]) for i < n. Thread-safe. */
void gg_op_apply(enum gg_op op, float *x, size_t n);
/* "tanh", ... (metadata.json names), "unknown" for a bad value. */
const char *gg_op_name(enum gg_op op);

struct gg_view {
	int ndim;
	uint64_t dim[GG_VIEW_MAX_DIMS];
	int64_t stride[GG_VIEW_MAX_DIMS]; /* in source elements */
	uint64_t base;                    /* source element of index 0 */
};

/* Contiguous row-major view of a tensor of the given shape. */
void gg_view_init(struct gg_view *v, const uint64_t *shape, int ndim);
/* Split dim d (size n) into [outer, n / outer]; fails unless outer divides
 * n and there is room for one more dim. */
int gg_view_split(struct gg_view *v, int d, uint64_t outer, gg_err *e);
/* Swap dims a and b (a transpose). */
int gg_view_swap(struct gg_view *v, int a, int b, gg_err *e);
/* Keep [start, start+len) of dim d. */
int gg_view_slice(struct gg_view *v, int d, uint64_t start, uint64_t len,
		  gg_err *e);
/* Llama's rotary permutation of the rows (dim 0) with `heads` heads:
 * reshape(heads, 2, rows/heads/2, ...).swapaxes(1, 2). Fails unless
 * 2*heads divides the rows. */
int gg_view_rotary(struct gg_view *v, uint64_t heads, gg_err *e);
/* Keep every step-th index of dim d, starting at first: rows interleaved
 * in a fused tensor (gpt-oss gate_up: even rows gate, odd rows up is
 * step 2, first 0 / 1). Fails unless step divides the dim. */
int gg_view_take_every(struct gg_view *v, int d, uint64_t step, uint64_t first,
		       gg_err *e);
uint64_t gg_view_nelem(const struct gg_view *v);
/* First and last source element the view reads (a non-empty view). */
void gg_view_span(const struct gg_view *v, int64_t *lo, int64_t *hi);
/* True when the view reads source elements base, base+1, ... in order. */
bool gg_view_is_contiguous(const struct gg_view *v);

struct gg_src {
	const struct st_tensor *st; /* a safetensors tensor, or NULL and: */
	const void *mem;            /* synthetic data owned by the plan */
	enum gg_type type;          /* element type of the source */
	uint64_t nelem;
	/* GG_OP_MXFP4_REPACK only: the E8M0 scale bytes, one per block. */
	const struct st_tensor *scales;
};

struct gg_tensor {
	char *name;
	enum gg_type type;        /* output type (a block type when quantized) */
	/* The type the values pass through on their way to `type` (F32, F16
	 * or BF16; gg_outfile_add sets it to the output type): each source
	 * element is rounded to value_type, then converted (or, for a block
	 * type, widened to F32 and quantized). F32 keeps the exact source
	 * values (convert_hf_to_gguf --outtype f32 before llama-quantize);
	 * F16/BF16 are the values an Ollama file holds before llama-quantize
	 * turns it into another type. */
	enum gg_type value_type;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS]; /* GGML order (innermost first) */
	uint64_t nelem, nbytes;
	uint64_t offset;          /* absolute offset in the output file */
	enum gg_op op;
	struct gg_view view;
	struct gg_src *srcs;
	size_t nsrc;
	/* Set by gg_outfile_finish: the tensor is the exact bytes of one
	 * contiguous source range (same type, no op, contiguous view, one
	 * safetensors source). Served from the source file directly. */
	bool is_copy;
	uint32_t copy_file;
	uint64_t copy_offset;
};

struct gg_outfile {
	char *name;             /* "model.gguf", "mmproj.gguf", "adapter.gguf" */
	const char *origin;     /* the model directory, for messages (or NULL) */
	struct gguf_kvs *kvs;
	struct gg_tensor *tensors;
	size_t ntensors, cap;
	uint32_t alignment;     /* 32 */
	bool pad_last;          /* false: Ollama writes no padding after the last tensor */
	bool sort_kv;           /* Ollama: keys byte-wise */
	bool sort_tensors;      /* Ollama: by (block, name) */
	/* Set by gg_outfile_finish: */
	uint8_t *header;        /* header_len bytes, padded to the data start */
	size_t header_len;
	uint64_t size;          /* total file size */
	const struct st_set *st;
	void **mem;             /* synthetic source buffers, freed with the file */
	size_t nmem;
	/* private: open-addressing index of tensor names (tensor index + 1,
	 * 0 = empty), kept in step with tensors[] so lookups stay O(1) for
	 * converters of 10,000-tensor models */
	size_t *name_index;
	size_t name_index_cap;
};

/* Add a tensor. shape is in PyTorch order (outermost first); ne[] is its
 * reverse. The caller then sets srcs/view/op (or uses the helpers below).
 * Refused (NULL, with e naming the tensor): a name already in f, and a
 * name llama.cpp cannot load or a mount cannot list: "", ".", "..", more
 * than GG_MAX_TENSOR_NAME bytes. The returned pointer is valid until the
 * next add. */
struct gg_tensor *gg_outfile_add(struct gg_outfile *f, const char *name,
				 enum gg_type type, const uint64_t *shape,
				 int ndim, gg_err *e);
/* Add a tensor that reads one safetensors tensor whole, contiguously, with
 * the source's shape. NULL on a duplicate name (e names both sources). */
struct gg_tensor *gg_outfile_add_source(struct gg_outfile *f, const char *name,
					enum gg_type type,
					const struct st_tensor *st, gg_err *e);
/* Add a tensor of the given PyTorch shape reading st through view (a
 * reshaped, transposed, sliced view of st's elements; plan.h top). */
struct gg_tensor *gg_outfile_add_view(struct gg_outfile *f, const char *name,
				      enum gg_type type, const uint64_t *shape,
				      int ndim, const struct st_tensor *st,
				      const struct gg_view *view, gg_err *e);
/* Add an F32 tensor holding a copy of values[0..n). */
struct gg_tensor *gg_outfile_add_f32(struct gg_outfile *f, const char *name,
				     const float *values, uint64_t n, gg_err *e);
/* Set t's sources to a stack of n safetensors tensors (all of one shape
 * and dtype); the view is the contiguous view of one member. */
int gg_tensor_set_stack(struct gg_tensor *t, const struct st_tensor *const *st,
			size_t n, gg_err *e);
/* Set t's source to the MXFP4 pair (blocks [..., G, 16] U8, scales
 * [..., G] U8 of the same leading shape) with GG_OP_MXFP4_REPACK and the
 * contiguous view over the blocks, shape blocks.shape[:-1]; a converter
 * may then split/slice/swap that view (in block units) like any other
 * (gg_outfile_finish checks it yields t's values). t must be MXFP4. */
int gg_tensor_set_mxfp4(struct gg_tensor *t, const struct st_tensor *blocks,
			const struct st_tensor *scales, gg_err *e);
/* Apply the rotary permutation (gg_view_rotary) to t's rows with `heads`
 * heads; `what` names them in messages ("attention head", "vision
 * head"). heads == 0 fails with "config has no <what> count". The one
 * place Q/K permutations and their errors come from. */
int gg_tensor_rotary(const struct gg_outfile *f, struct gg_tensor *t,
		     uint32_t heads, const char *what, gg_err *e);
/* Find a tensor by output name; NULL if absent. */
struct gg_tensor *gg_outfile_find(struct gg_outfile *f, const char *name);
/* Give t a new output type (and, for a block type, the type of the values
 * quantized), keeping nbytes in step. Before gg_outfile_finish. */
void gg_tensor_set_type(struct gg_tensor *t, enum gg_type type,
			enum gg_type value_type);
/* Remove a tensor by output name (no-op if absent). */
void gg_outfile_remove(struct gg_outfile *f, const char *name);

/* Free everything f owns (tensors, KVs, header, synthetic buffers, the
 * name index); the struct itself belongs to the caller. */
void gg_outfile_clear(struct gg_outfile *f);

/* Validate every tensor (view within its sources, element counts match the
 * shape), sort (if asked), assign offsets, serialise the header, mark byte
 * copies. After this the file is immutable and safe to read from many
 * threads. */
int gg_outfile_finish(struct gg_outfile *f, gg_err *e);

/* Ollama's block number of a tensor name ("blk.%d." prefix), or INT_MAX. */
int gg_tensor_block(const char *name);

#endif
