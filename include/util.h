/* util.h - error reporting, overflow-checked arithmetic, small file helpers.
 *
 * Every fallible function in gguffs takes a `gg_err *` and, on failure, fills
 * it with ONE line that names the file and the problem (no trailing newline)
 * and returns -1 (or NULL). Callers print `gguffs: <msg>` and exit non-zero.
 */
#ifndef GGUFFS_UTIL_H
#define GGUFFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GG_ERR_MAX 1024

typedef struct gg_err {
	char msg[GG_ERR_MAX];
} gg_err;

/* Format a message into e (if e is not NULL). Always returns -1 so a caller
 * can write `return gg_fail(e, "%s: bad header", path);`. */
int gg_fail(gg_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Overflow-checked unsigned arithmetic: return false (and leave *out
 * untouched) if the exact result does not fit in 64 bits. */
bool gg_mul_u64(uint64_t a, uint64_t b, uint64_t *out);
bool gg_add_u64(uint64_t a, uint64_t b, uint64_t *out);

/* Read a whole regular file into a NUL-terminated malloc'd buffer.
 * Fails (with a message naming path) if the file is missing, unreadable or
 * larger than max_bytes. *len excludes the terminating NUL. */
int gg_read_file(const char *path, size_t max_bytes, char **data, size_t *len,
		 gg_err *e);

/* True if path names an existing regular file (following symlinks). */
bool gg_file_exists(const char *path);

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

/* Round up to a multiple of align (align > 0). */
static inline uint64_t gg_align_up(uint64_t x, uint64_t align)
{
	return (x + align - 1) / align * align;
}

#endif
