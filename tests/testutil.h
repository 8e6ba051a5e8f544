/* testutil.h - helpers the cmocka unit tests share: fixture lookup, reading
 * source and output tensors, KV assertions, scratch directories and naive
 * references. Include after <cmocka.h>; every failure goes through cmocka
 * (fail_msg / assert_*), so a helper never returns on error. */
#ifndef GGUFFS_TESTUTIL_H
#define GGUFFS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "model.h"
#include "plan.h"

/* ---- fixtures ------------------------------------------------------------ */

/* $GGUFFS_FIXTURES/name, else $GGUFFS_SOURCE_ROOT/tests/fixtures/out/name
 * (else ./tests/fixtures/out/name); malloc'd. */
char *fixture_path(const char *name);

/* Open a model directory with a profile; fails the test with the error. */
struct gg_model *open_model_dir(const char *dir, enum gg_profile p);

/* open_model_dir on fixture_path(name). */
struct gg_model *open_fixture(const char *name, enum gg_profile p);

/* ---- tensors ------------------------------------------------------------- */

/* The source tensor called name; fails the test if the model has none. */
const struct st_tensor *source_tensor(const struct gg_model *m, const char *name);

/* st's bytes read with pread from its shard: not through the engine, nor
 * through the safetensors module's mapping. malloc'd, st->nbytes long. */
uint8_t *read_source_bytes(const struct gg_model *m, const struct st_tensor *st);

/* read_source_bytes of the tensor called name; *st (if st) is that tensor. */
uint8_t *read_source(const struct gg_model *m, const char *name,
		     const struct st_tensor **st);

/* The output tensor called name in f; fails the test if f has none. */
const struct gg_tensor *output_tensor(const struct gg_outfile *f, const char *name);

/* All of t's bytes through the engine (gg_tensor_read); malloc'd. */
uint8_t *read_output(const struct gg_outfile *f, const struct gg_tensor *t);

/* ---- KVs ----------------------------------------------------------------- */

/* The KV called key in f; fails the test if it is missing. */
const struct gguf_kv *kv_get(const struct gg_outfile *f, const char *key);

/* Each checks both the value type and the value. */
void assert_kv_u32(const struct gg_outfile *f, const char *key, uint32_t want);
void assert_kv_f32(const struct gg_outfile *f, const char *key, float want);
void assert_kv_bool(const struct gg_outfile *f, const char *key, bool want);
void assert_kv_str(const struct gg_outfile *f, const char *key, const char *want);
void assert_kv_i32_array(const struct gg_outfile *f, const char *key,
			 const int32_t *want, uint64_t n);

/* ---- values and naive references ----------------------------------------- */

/* The next value of a xorshift64 generator (state must not be 0). */
uint64_t xorshift64(uint64_t *state);

/* Element i of a packed 16-bit array (no alignment needed). */
uint16_t u16_at(const uint8_t *p, size_t i);

/* A BF16 value widened to float by its bits (exact). */
float bf16_to_float(uint16_t b);

/* Llama's rotary row permutation by index arithmetic: output row
 * h*D + 2k + s holds source row h*D + s*D/2 + k (D = rows / heads). */
uint64_t rotary_source_row(uint64_t out_row, uint64_t rows, uint64_t heads);

/* The source element of output element i under view v, the slow way. */
uint64_t view_source_index(const struct gg_view *v, uint64_t i);

/* ---- scratch files ------------------------------------------------------- */

/* A new empty directory /tmp/gguffs-test-<tag>-XXXXXX; malloc'd path. */
char *make_temp_dir(const char *tag);

/* A scratch copy of fixture name (its regular files), made with
 * make_temp_dir(tag); malloc'd path. */
char *scratch_fixture(const char *name, const char *tag);

/* rm -rf dir (the path is not freed). */
void remove_tree(const char *dir);

/* Write the whole of output file f (through the engine) to path. */
void write_outfile(const struct gg_outfile *f, const char *path);

/* Write dir/name with exactly these bytes (or this text). */
void write_file(const char *dir, const char *name, const void *data, size_t len);
void write_text(const char *dir, const char *name, const char *text);

#endif
