/* test_modeldiff.c - comparing two openings of one model directory: the
 * same files give the same layout and nothing affected; a touched shard
 * (a new mtime: new bytes of the same shape look the same) keeps the
 * layout and affects exactly the tensors that read it; a config change
 * that alters the header changes the layout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "modeldiff.h"
#include "testutil.h"

#define FX "llama-bf16-3shard-rope3"
#define SHARD2 "model-00002-of-00003.safetensors"

/* A copy of the fixture in a new temporary directory. */
static char *copy_fixture(void)
{
	char *src = fixture_path(FX), *dst = make_temp_dir("modeldiff");
	char cmd[4096];
	snprintf(cmd, sizeof cmd, "cp -p '%s'/* '%s'/", src, dst);
	assert_int_equal(system(cmd), 0);
	free(src);
	return dst;
}

/* Does tensor t read source file name? */
static bool reads_file(const struct gg_model *m, const struct gg_tensor *t,
		       const char *name)
{
	for (size_t i = 0; i < t->nsrc; i++)
		if (t->srcs[i].st && strcmp(m->st->files[t->srcs[i].st->file].name, name) == 0)
			return true;
	return false;
}

static void test_same_files(void **state)
{
	(void)state;
	struct gg_model *a = open_fixture(FX, GG_PROFILE_LLAMACPP);
	struct gg_model *b = open_fixture(FX, GG_PROFILE_LLAMACPP);
	struct gg_modeldiff d;
	gg_modeldiff(a, b, &d);
	assert_true(d.same_layout);
	assert_int_equal(d.changed_sources, 0);
	assert_int_equal(d.nsources, 3);
	assert_int_equal(d.naffected, 0);
	gg_modeldiff_free(&d);
	gg_model_close(a);
	gg_model_close(b);
}

static void test_touched_shard(void **state)
{
	(void)state;
	char *dir = copy_fixture();
	struct gg_model *a = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	char *shard = gg_path_join(dir, SHARD2);
	struct timespec ts[2] = {{time(NULL) + 10, 0}, {time(NULL) + 10, 0}};
	assert_int_equal(utimensat(AT_FDCWD, shard, ts, 0), 0);
	struct gg_model *b = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	struct gg_modeldiff d;
	gg_modeldiff(a, b, &d);
	assert_true(d.same_layout);
	assert_int_equal(d.changed_sources, 1);
	size_t want = 0;
	const struct gg_outfile *f = &a->files[0];
	for (size_t t = 0; t < f->ntensors; t++) {
		bool reads = reads_file(a, &f->tensors[t], SHARD2);
		want += reads;
		assert_int_equal(d.affected[0][t], reads);
	}
	assert_true(want > 0);
	assert_int_equal(d.naffected, want);
	gg_modeldiff_free(&d);
	gg_model_close(a);
	gg_model_close(b);
	free(shard);
	remove_tree(dir);
	free(dir);
}

/* A chmod moves only the ctime, which st_file_check watches: the source
 * counts as changed, so SIGUSR1 can clear the EIO it causes. */
static void test_chmod_counts(void **state)
{
	(void)state;
	char *dir = copy_fixture();
	struct gg_model *a = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	char *shard = gg_path_join(dir, SHARD2);
	struct stat st;
	assert_int_equal(stat(shard, &st), 0);
	usleep(20000); /* a coarse clock must tick */
	assert_int_equal(chmod(shard, st.st_mode ^ 0040), 0);
	gg_err e;
	assert_int_equal(st_file_check(&a->st->files[1], &e), -1);
	struct gg_model *b = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	struct gg_modeldiff d;
	gg_modeldiff(a, b, &d);
	assert_true(d.same_layout);
	assert_int_equal(d.changed_sources, 1);
	assert_true(d.naffected > 0);
	gg_modeldiff_free(&d);
	gg_model_close(a);
	gg_model_close(b);
	free(shard);
	remove_tree(dir);
	free(dir);
}

static void test_config_changes_header(void **state)
{
	(void)state;
	char *dir = copy_fixture();
	struct gg_model *a = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	char *cfg = gg_path_join(dir, "config.json"), *text;
	size_t len;
	gg_err e;
	assert_int_equal(gg_read_file(cfg, 1 << 20, &text, &len, &e), 0);
	char *eps = strstr(text, "\"rms_norm_eps\"");
	assert_non_null(eps);
	char *num = strchr(eps, ':') + 1;
	char *end = num + strcspn(num, ",}");
	char out[8192];
	snprintf(out, sizeof out, "%.*s 0.125%s", (int)(num - text), text, end);
	write_text(dir, "config.json", out);
	struct gg_model *b = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	struct gg_modeldiff d;
	gg_modeldiff(a, b, &d);
	assert_false(d.same_layout);
	assert_non_null(strstr(d.why, "model.gguf: the header"));
	assert_null(d.affected);
	assert_int_equal(d.changed_sources, 0);
	gg_modeldiff_free(&d);
	gg_model_close(a);
	gg_model_close(b);
	free(text);
	free(cfg);
	remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_files),
		cmocka_unit_test(test_touched_shard),
		cmocka_unit_test(test_chmod_counts),
		cmocka_unit_test(test_config_changes_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
