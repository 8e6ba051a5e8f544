/* test_hub.c - model names to directories: tilde expansion, the hub cache
 * location from the environment, and resolution of hub ids, revisions and
 * repository directories in a cache laid out as huggingface_hub lays it out
 * (refs/, snapshots/<commit>/ of symlinks into blobs/). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub.h"
#include "testutil.h"

#define MAIN_COMMIT "0123456789abcdef0123456789abcdef01234567"
#define V1_COMMIT "fedcba9876543210fedcba9876543210fedcba98"

static char *cat(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 1);
	strcpy(s, a);
	strcat(s, b);
	return s;
}

static void mkdirs(const char *root, const char *rel)
{
	char *p = gg_path_join(root, rel);
	for (char *q = p + strlen(root) + 1; *q; q++) {
		if (*q == '/') {
			*q = 0;
			mkdir(p, 0755);
			*q = '/';
		}
	}
	mkdir(p, 0755);
	free(p);
}

/* <root>/models--org--name with refs main and v1, one snapshot each, files
 * as symlinks into blobs/ (huggingface_hub's layout). */
static void make_repo(const char *root, const char *repo)
{
	char *r = gg_path_join(root, repo);
	mkdir(r, 0755);
	mkdirs(r, "blobs");
	mkdirs(r, "refs");
	mkdirs(r, "snapshots/" MAIN_COMMIT);
	mkdirs(r, "snapshots/" V1_COMMIT);
	write_text(r, "blobs/aaaa", "{\"architectures\": [\"LlamaForCausalLM\"]}");
	write_text(r, "refs/main", MAIN_COMMIT "\n");
	write_text(r, "refs/v1", V1_COMMIT);
	char *s1 = gg_path_join(r, "snapshots/" MAIN_COMMIT "/config.json");
	char *s2 = gg_path_join(r, "snapshots/" V1_COMMIT "/config.json");
	assert_int_equal(symlink("../../blobs/aaaa", s1), 0);
	assert_int_equal(symlink("../../blobs/aaaa", s2), 0);
	free(s1);
	free(s2);
	free(r);
}

struct hub_fixture {
	char *tmp, *cache, *repo;
};

static int setup(void **state)
{
	struct hub_fixture *f = calloc(1, sizeof *f);
	f->tmp = make_temp_dir("hub");
	f->cache = gg_path_join(f->tmp, "hub");
	mkdir(f->cache, 0755);
	make_repo(f->cache, "models--org--name");
	f->repo = gg_path_join(f->cache, "models--org--name");
	unsetenv("HUGGINGFACE_HUB_CACHE");
	unsetenv("HF_HOME");
	unsetenv("XDG_CACHE_HOME");
	setenv("HF_HUB_CACHE", f->cache, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct hub_fixture *f = *state;
	remove_tree(f->tmp);
	free(f->tmp);
	free(f->cache);
	free(f->repo);
	free(f);
	return 0;
}

static char *snapshot(const struct hub_fixture *f, const char *commit)
{
	char *s = gg_path_join(f->repo, "snapshots");
	char *p = gg_path_join(s, commit);
	free(s);
	return p;
}

static void expect_dir(const char *spec, const char *dir, const char *commit,
		       const char *rev)
{
	struct hub_model m;
	gg_err e = {{0}};
	if (hub_resolve(spec, &m, &e))
		fail_msg("%s: %s", spec, e.msg);
	assert_string_equal(m.dir, dir);
	if (commit) {
		assert_string_equal(m.repo_id, "org/name");
		assert_string_equal(m.commit, commit);
		assert_string_equal(m.revision, rev);
		/* The snapshot's files reach the blobs through the symlinks. */
		char *cfg = gg_path_join(m.dir, "config.json");
		assert_true(gg_file_exists(cfg));
		free(cfg);
	} else {
		assert_null(m.repo_id);
	}
	hub_model_free(&m);
}

/* hub_resolve(spec) fails and its message contains every needle. */
static void expect_error(const char *spec, ...)
{
	struct hub_model m;
	gg_err e = {{0}};
	assert_int_equal(hub_resolve(spec, &m, &e), -1);
	assert_null(m.dir);
	va_list ap;
	va_start(ap, spec);
	for (const char *n; (n = va_arg(ap, const char *));)
		if (!strstr(e.msg, n))
			fail_msg("%s: '%s' not in: %s", spec, n, e.msg);
	va_end(ap);
	assert_null(strchr(e.msg, '\n'));
}

static void test_expand_user(void **state)
{
	(void)state;
	setenv("HOME", "/home/someone", 1);
	char *s;
	assert_string_equal(s = hub_expand_user("~"), "/home/someone"); free(s);
	assert_string_equal(s = hub_expand_user("~/hf/x"), "/home/someone/hf/x"); free(s);
	assert_string_equal(s = hub_expand_user("/a/~/b"), "/a/~/b"); free(s);
	assert_string_equal(s = hub_expand_user("a~"), "a~"); free(s);
	assert_string_equal(s = hub_expand_user("~no-such-user-gguffs/x"),
			    "~no-such-user-gguffs/x"); free(s);
	struct passwd *pw = getpwuid(0);
	assert_non_null(pw);
	char *want = cat(pw->pw_dir, "/models");
	char *spec = cat("~", pw->pw_name);
	char *spec2 = cat(spec, "/models");
	assert_string_equal(s = hub_expand_user(spec2), want); free(s);
	assert_string_equal(s = hub_expand_user(spec), pw->pw_dir); free(s);
	free(want);
	free(spec);
	free(spec2);
	setenv("HOME", "/", 1);
	assert_string_equal(s = hub_expand_user("~/x"), "/x"); free(s);
}

static void test_cache_dir_from_env(void **state)
{
	(void)state;
	char *s;
	setenv("HOME", "/home/u", 1);
	unsetenv("HF_HUB_CACHE");
	unsetenv("HUGGINGFACE_HUB_CACHE");
	unsetenv("HF_HOME");
	unsetenv("XDG_CACHE_HOME");
	assert_string_equal(s = hub_cache_dir(), "/home/u/.cache/huggingface/hub"); free(s);
	setenv("XDG_CACHE_HOME", "/xdg", 1);
	assert_string_equal(s = hub_cache_dir(), "/xdg/huggingface/hub"); free(s);
	setenv("HF_HOME", "~/hfhome", 1);
	assert_string_equal(s = hub_cache_dir(), "/home/u/hfhome/hub"); free(s);
	setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
	assert_string_equal(s = hub_cache_dir(), "/legacy"); free(s);
	setenv("HF_HUB_CACHE", "/hubcache", 1);
	assert_string_equal(s = hub_cache_dir(), "/hubcache"); free(s);
	setenv("HF_HUB_CACHE", "", 1); /* empty counts as unset */
	assert_string_equal(s = hub_cache_dir(), "/legacy"); free(s);
}

static void test_repo_id(void **state)
{
	struct hub_fixture *f = *state;
	char *main_dir = snapshot(f, MAIN_COMMIT), *v1 = snapshot(f, V1_COMMIT);
	expect_dir("org/name", main_dir, MAIN_COMMIT, "main");
	expect_dir("org/name@main", main_dir, MAIN_COMMIT, "main");
	expect_dir("org/name@v1", v1, V1_COMMIT, "v1");
	/* A commit hash with a snapshot needs no ref. */
	expect_dir("org/name@" V1_COMMIT, v1, V1_COMMIT, V1_COMMIT);
	free(main_dir);
	free(v1);
}

static void test_repo_dir(void **state)
{
	struct hub_fixture *f = *state;
	char *main_dir = snapshot(f, MAIN_COMMIT), *v1 = snapshot(f, V1_COMMIT);
	expect_dir(f->repo, main_dir, MAIN_COMMIT, "main");
	char *slash = cat(f->repo, "/");
	expect_dir(slash, main_dir, MAIN_COMMIT, "main");
	char *at = cat(f->repo, "@v1");
	expect_dir(at, v1, V1_COMMIT, "v1");
	/* A snapshot directory is an ordinary model directory. */
	expect_dir(main_dir, main_dir, NULL, NULL);
	free(slash);
	free(at);
	free(main_dir);
	free(v1);
}

static void test_not_in_cache(void **state)
{
	struct hub_fixture *f = *state;
	char *want = gg_path_join(f->cache, "models--other--model");
	expect_error("other/model", want, "huggingface-cli download other/model",
		     "not in the HuggingFace hub cache", NULL);
	expect_error("other/model@v2", want,
		     "huggingface-cli download other/model --revision v2", NULL);
	free(want);
	char *ref = gg_path_join(f->repo, "refs/nope");
	expect_error("org/name@nope", ref,
		     "huggingface-cli download org/name --revision nope", NULL);
	free(ref);
	expect_error("org/name@../../../etc", "not a revision", NULL);
	/* Nothing was created while looking. */
	char *other = gg_path_join(f->cache, "models--other--model");
	struct stat st;
	assert_int_equal(stat(other, &st), -1);
	free(other);
}

static void test_broken_refs(void **state)
{
	struct hub_fixture *f = *state;
	write_text(f->repo, "refs/bad", "not a hash\n");
	char *bad = gg_path_join(f->repo, "refs/bad");
	expect_error("org/name@bad", bad, "not a commit hash", NULL);
	free(bad);
	write_text(f->repo, "refs/gone", "1111111111111111111111111111111111111111");
	char *gone = snapshot(f, "1111111111111111111111111111111111111111");
	expect_error("org/name@gone", gone, "no snapshot",
		     "huggingface-cli download org/name --revision gone", NULL);
	free(gone);
}

static void test_paths_win(void **state)
{
	struct hub_fixture *f = *state;
	/* An existing relative directory that looks like a hub id is a path. */
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(f->tmp), 0);
	mkdirs(f->tmp, "org/name");
	expect_dir("org/name", "org/name", NULL, NULL);
	assert_int_equal(chdir(cwd), 0);
	/* Not hub ids: returned as given, for the caller's open to report. */
	expect_dir("/no/such/dir", "/no/such/dir", NULL, NULL);
	expect_dir("org/na--me", "org/na--me", NULL, NULL);
	expect_dir("-org/name", "-org/name", NULL, NULL);
	expect_dir("a/b/c", "a/b/c", NULL, NULL);
	setenv("HOME", f->tmp, 1);
	char *want = gg_path_join(f->tmp, "org/name");
	expect_dir("~/org/name", want, NULL, NULL);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_user),
		cmocka_unit_test(test_cache_dir_from_env),
		cmocka_unit_test_setup_teardown(test_repo_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_in_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_refs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths_win, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
