/* fuzzutil.h - what the file-based fuzz harnesses share: a scratch
 * directory and writing one input as several files.
 *
 * Inputs of the tokenizer and config harnesses are files, not buffers, so
 * each run writes its input into a scratch directory (under $TMPDIR,
 * removed at exit) and lets the real reader open it. */
#ifndef GGUFFS_FUZZUTIL_H
#define GGUFFS_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

/* The scratch directory of this process (made on first call). */
const char *fuzz_dir(void);

/* Split data at NUL bytes (JSON text has none) into at most n parts and
 * write part i as fuzz_dir()/names[i]; names with no part are removed.
 * Returns the number of parts written. */
size_t fuzz_write_parts(const char *const *names, size_t n, const uint8_t *data,
			size_t size);

/* Make fuzz_dir()/name a symlink to dir/name (fixture files the input does
 * not replace). Aborts when dir/name is missing. */
void fuzz_link(const char *dir, const char *name);

#endif
