/* vfs.h - the gguffs filesystem as plain C (no FUSE here; fs/main.c is the
 * thin FUSE glue).
 *
 * Tree (all read-only, mtime = the source directory's at mount):
 *   /model.gguf          files[0] of the model; every other output file
 *   /mmproj.gguf ...     of the model sits next to it under its own name
 *   /<conventional>.gguf each output file again under the name llama.cpp's
 *                        converter gives it (naming.h), e.g.
 *                        Llama-3.2-1B-Instruct-BF16.gguf: same inode
 *                        number, two links
 *   /metadata.json       KV and tensor table of every output file (cJSON)
 *   /stats.json          live counters, generated when opened
 *   /tensors/<name>      one file per tensor of files[0], its exact bytes
 *   /tensors.<stem>/...  the same for each other output file <stem>.gguf
 * Tensor names are used as file names with '%' and '/' escaped as %25 and
 * %2F. Tensor files carry xattrs user.gguf.type, user.gguf.shape (GGML
 * order, "64,128"), user.gguf.offset (absolute offset in its .gguf) and
 * user.gguf.xxh3 (16 hex digits, computed on first request, remembered).
 *
 * Reads: header bytes come from memory, padding is zeros, byte-copy tensors
 * are pread straight from the source file (after st_file_check), every
 * other tensor goes through the chunk cache in chunk_size pieces aligned to
 * the tensor's first byte. Source pages consumed are dropped from the page
 * cache unless keep_source_cache (srcdrop.h). A source file that changed or
 * vanished makes reads needing it fail with -EIO; this is logged once per
 * file (log.h: stderr, or syslog once daemonised) and kept in stats.json.
 *
 * Every function is thread-safe once vfs_new has returned.
 *
 * Errors (util.h): vfs_new builds the tree before anything is served and
 * follows the build path (-1 and gg_err, abort on OOM); everything else is
 * the serve path: a negative errno, never an abort.
 */
#ifndef GGUFFS_VFS_H
#define GGUFFS_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "model.h"
#include "util.h"

/* The kernel page cache keeps every byte served (keep_cache), so the chunk
 * cache only needs to hold chunks being read by several requests and the
 * working set of random readers; a big cache costs fresh memory for no
 * gain on sequential reads (reading a 2 GB F32 Llama: 0.65-0.75 s with
 * 64M, 1.0-1.2 s with 256M, the difference being first-touch zeroing). */
#define VFS_DEFAULT_CACHE_SIZE (64ull << 20)
#define VFS_DEFAULT_CHUNK_SIZE (4ull << 20)
#define VFS_DEFAULT_STORE_SIZE (10ull << 30)
#define VFS_MIN_CHUNK_SIZE (1ull << 20)
#define VFS_MAX_CHUNK_SIZE (256ull << 20)

/* stats.json keeps this many of the last errors logged. */
#define VFS_LAST_ERRORS 16

struct vfs_options {
	uint64_t cache_size; /* bytes; 0: VFS_DEFAULT_CACHE_SIZE */
	uint64_t chunk_size; /* bytes; 0: VFS_DEFAULT_CHUNK_SIZE */
	/* Keep the source pages read in the page cache. By default they are
	 * dropped once consumed (srcdrop.h): the mount's own page cache then
	 * holds the model once. */
	bool keep_source_cache;
	/* Optional on-disk store of computed chunks (store.h): an absolute
	 * directory, or NULL (the default: nothing is written to disk), and
	 * its byte budget (0: VFS_DEFAULT_STORE_SIZE). */
	const char *store_dir;
	uint64_t store_size;
};

enum vfs_kind {
	VFS_DIR,
	VFS_GGUF,     /* an output .gguf file */
	VFS_TENSOR,   /* tensors/<name> */
	VFS_METADATA, /* metadata.json */
	VFS_STATS,    /* stats.json */
};

struct vfs;
struct vfs_node;
struct vfs_handle;

/* Build the tree over m, taking ownership of m (closed by vfs_free, also
 * when vfs_new fails). Fails when a size option is out of range
 * (chunk_size must be VFS_MIN_CHUNK_SIZE..VFS_MAX_CHUNK_SIZE). Costs
 * O(number of tensors); metadata.json is built on first use. */
int vfs_new(struct gg_model *m, const struct vfs_options *o, struct vfs **out,
	    gg_err *e);
void vfs_free(struct vfs *v);

/* Start the worker threads that convert a chunk on several cores and
 * prefetch ahead of sequential readers (pool.h). Call once, in the process
 * that serves (after daemonising: threads do not survive fork), before
 * serving; without it reads work, on the calling thread alone. Returns 0,
 * or -1 when no thread could be started (reads still work). */
int vfs_start_threads(struct vfs *v);

/* The model served now; vfs_reload may replace it (and free this one). */
const struct gg_model *vfs_model(const struct vfs *v);

/* Node of an absolute path ("/", "/tensors/x"); NULL if there is none. */
const struct vfs_node *vfs_lookup(struct vfs *v, const char *path);
enum vfs_kind vfs_node_kind(const struct vfs_node *n);
/* Attributes: exact size, read-only mode, the mount's uid/gid. */
void vfs_getattr(struct vfs *v, const struct vfs_node *n, struct stat *st);

/* Attributes of an open node: vfs_getattr's, but the size of a snapshot
 * (stats.json) is the snapshot's taken at open. */
void vfs_getattr_open(struct vfs *v, const struct vfs_handle *h,
		      struct stat *st);

/* Call fill(name, attr, arg) for every entry of directory n (without "."
 * and ".."), stopping early when fill returns nonzero. -ENOTDIR if n is
 * not a directory. */
typedef int (*vfs_fill_fn)(const char *name, const struct stat *st, void *arg);
int vfs_readdir(struct vfs *v, const struct vfs_node *n, vfs_fill_fn fill,
		void *arg);

/* Open a node (a file for reading, or a directory) and return a handle
 * naming it. stats.json gets a snapshot of the counters taken now.
 * Returns 0 and *h, or -ENOMEM. */
int vfs_open(struct vfs *v, const struct vfs_node *n, struct vfs_handle **h);
/* True when the content is not immutable (stats.json): the caller must
 * bypass the kernel page cache for it. */
bool vfs_handle_volatile(const struct vfs_handle *h);
const struct vfs_node *vfs_handle_node(const struct vfs_handle *h);
/* Read up to size bytes at off into buf. Returns the bytes read (short
 * only at end of file), -EISDIR for a directory, or -EIO when a source is
 * inconsistent or the engine fails. */
ssize_t vfs_read(struct vfs *v, struct vfs_handle *h, void *buf, size_t size,
		 uint64_t off);
void vfs_release(struct vfs *v, struct vfs_handle *h);

/* Extended attributes (getxattr(2)/listxattr(2) conventions: size 0 asks
 * for the length; -ERANGE when buf is too small; -ENODATA for an unknown
 * name; -EIO when user.gguf.xxh3 cannot be computed). */
ssize_t vfs_getxattr(struct vfs *v, const struct vfs_node *n, const char *name,
		     char *buf, size_t size);
ssize_t vfs_listxattr(struct vfs *v, const struct vfs_node *n, char *buf,
		      size_t size);

/* The stats.json text now (NUL-terminated), malloc'd; NULL on allocation
 * failure. Its size is its true length: each open takes a snapshot, read
 * through direct_io, and stat reports the length of a snapshot taken then.
 * Besides the counters it holds "errors_logged" and "last_errors" (the
 * VFS_LAST_ERRORS newest, [{"time": ISO 8601 UTC, "message"}]). */
char *vfs_stats_json(struct vfs *v);

/* Totals for statfs: bytes of the output .gguf files, each counted once
 * (tensors/ files are views of the same bytes), and the number of nodes. */
void vfs_totals(struct vfs *v, uint64_t *bytes, uint64_t *nodes);

/* ---- SIGUSR1 (reload.h) ---- */

typedef void (*vfs_inval_fn)(const char *path, void *arg);

/* Open the model's directory again (same options) and compare
 * (modeldiff.h). Same layout and something changed: serve the new model
 * from now on (chunks of the old one never hit again), then call
 * inval(path) for every node the kernel may hold stale pages or
 * attributes of (twice, 0.1 s apart: see vfs.c), and return 1. Nothing
 * changed: 0. The directory cannot be opened, or its layout changed: the
 * old model stays (its changed sources keep failing with EIO), -1. In
 * every case e holds the one-line report to log. Safe while reads run (it
 * waits for those in flight to finish before swapping); one reload at a
 * time. */
int vfs_reload(struct vfs *v, vfs_inval_fn inval, void *arg, gg_err *e);

#endif
