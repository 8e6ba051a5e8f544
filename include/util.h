/* util.h - error reporting, overflow-checked arithmetic, opening inputs.
 *
 * gguffs has two error conventions, one per path; every module follows one
 * of them, as its header says:
 *
 * - The build path (opening a model: formats, tokenizer, plan, converters,
 *   the tools; convert/ except the engine's reads). A fallible function
 *   takes a `gg_err *` and, on failure, fills it with ONE line that names
 *   the file and the problem (no trailing newline) and returns -1 (or
 *   NULL). Out of memory is fatal: gg_malloc and friends print a line and
 *   abort, so no parser threads OOM through its callers. Callers print
 *   `gguffs: <msg>` and exit non-zero.
 * - The serve path (what runs under a mount once it is up: engine.h reads,
 *   cache/, fs/vfs.c). A fallible function returns 0 or a negative errno
 *   (-EIO for a changed source or a failed computation, -ENOMEM when an
 *   allocation fails) and never aborts: a daemon serving a model must fail
 *   one read, not die. Where it also takes a gg_err (the engine's reads),
 *   that only carries the message for the log. Allocations there use
 *   malloc/calloc and check the result, never gg_malloc.
 *
 * Messages never carry raw bytes of an input: gg_fail escapes control
 * characters, and parsers report positions and field names, not the bytes
 * they could not make sense of.
 */
#ifndef GGUFFS_UTIL_H
#define GGUFFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#define GG_ERR_MAX 1024

typedef struct gg_err {
	char msg[GG_ERR_MAX];
} gg_err;

/* Format a message into e (if e is not NULL). Always returns -1 so a caller
 * can write `return gg_fail(e, "%s: bad header", path);`. Control
 * characters (a newline, an escape sequence) from whatever was formatted
 * are written as \xNN, so the message stays one inert line. */
int gg_fail(gg_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Overflow-checked unsigned arithmetic: return false (and leave *out
 * untouched) if the exact result does not fit in 64 bits. */
bool gg_mul_u64(uint64_t a, uint64_t b, uint64_t *out);
bool gg_add_u64(uint64_t a, uint64_t b, uint64_t *out);

/* Open an input file for reading without ever blocking: O_NONBLOCK |
 * O_NOCTTY | O_CLOEXEC, then fstat. Anything that is not a regular file
 * once symlinks are resolved (the HuggingFace hub cache links snapshots/
 * into blobs/) is refused with "<path>: not a regular file (a FIFO)" and
 * the like, before it is opened when stat(2) already tells, so a FIFO or a
 * device named config.json costs a stat, not a hang or a device's open.
 * Applies the input policy below. Returns the fd (st filled in) or -1. */
int gg_open_input(const char *path, struct stat *st, gg_err *e);

/* The same for a file gguffs wrote itself (the tokenizer cache): no input
 * policy, the same refusal of non-regular files. */
int gg_open_own(const char *path, struct stat *st, gg_err *e);

/* Input policy, process-wide, set once before any input is opened (not
 * thread-safe against concurrent opens). When public_only is true (a mount
 * with -o allow_other that shows its files to every user), an input that
 * other users could not read themselves is refused: its resolved file
 * must be readable by others (S_IROTH) and every directory on the way to
 * it searchable by them (S_IXOTH). optname is the option that lifts the
 * policy, named in the refusal. */
void gg_input_policy(bool public_only, const char *optname);

/* 0 if path (resolved) passes the input policy, else -1 with a message.
 * Always 0 when the policy is off. */
int gg_input_allowed(const char *path, gg_err *e);

/* Read a whole regular file (opened with gg_open_input) into a
 * NUL-terminated malloc'd buffer. Fails (with a message naming path) if
 * the file is missing, not a regular file, refused by the input policy,
 * unreadable or larger than max_bytes. *len excludes the terminating NUL. */
int gg_read_file(const char *path, size_t max_bytes, char **data, size_t *len,
		 gg_err *e);

/* mkdir -p path (mode 0755): 0, or -1 with errno when a component cannot
 * be made (an existing one is fine). */
int gg_mkdir_p(const char *path);

/* True if path names an existing regular file (following symlinks). */
bool gg_file_exists(const char *path);

/* True if anything is at path (any type, a dangling symlink included): a
 * file that must be read if present is then refused clearly when it is not
 * a regular file, instead of being taken as absent. */
bool gg_path_exists(const char *path);

/* malloc'd "dir/name". Never returns NULL (aborts on OOM). */
char *gg_path_join(const char *dir, const char *name);

/* Allocation wrappers that abort with a message on out-of-memory; gguffs
 * treats OOM as fatal rather than threading it through every parser. */
void *gg_malloc(size_t n);
void *gg_calloc(size_t n, size_t size);
void *gg_realloc(void *p, size_t n);
char *gg_strdup(const char *s);
char *gg_strndup(const char *s, size_t n);

/* Strict UTF-8 validation (no overlongs, no surrogates, <= U+10FFFF). */
bool gg_utf8_valid(const char *s, size_t n);

/* The CPU has F16C (CPUID leaf 1, ECX bit 29). __builtin_cpu_supports
 * cannot say: clang 14, which builds the fuzzers, does not know "f16c". */
bool gg_cpu_f16c(void);

/* Whether s starts / ends with the given NUL-terminated string. */
static inline bool gg_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline bool gg_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* Round up to a multiple of align (align > 0). */
static inline uint64_t gg_align_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) / align * align;
}

#endif
