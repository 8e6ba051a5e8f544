/* test_util.c - overflow-checked arithmetic, UTF-8 validation, paths and
 * error messages: the primitives every parser's bounds checks rely on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static void test_mul_u64(void **state)
{
	(void)state;
	uint64_t r = 7;
	assert_true(gg_mul_u64(0, UINT64_MAX, &r));
	assert_int_equal(r, 0);
	assert_true(gg_mul_u64(UINT64_MAX, 1, &r));
	assert_true(r == UINT64_MAX);
	/* (2^32 - 1)(2^32 + 1) = 2^64 - 1: the largest exact product. */
	assert_true(gg_mul_u64(0xFFFFFFFFull, 0x100000001ull, &r));
	assert_true(r == UINT64_MAX);

	r = 42;
	assert_false(gg_mul_u64(1ull << 32, 1ull << 32, &r));
	assert_int_equal(r, 42); /* untouched on overflow */
	assert_false(gg_mul_u64(UINT64_MAX, 2, &r));
	assert_false(gg_mul_u64(0x100000000ull, 0x100000001ull, &r));
	assert_int_equal(r, 42);
}

static void test_add_u64(void **state)
{
	(void)state;
	uint64_t r = 0;
	assert_true(gg_add_u64(UINT64_MAX, 0, &r));
	assert_true(r == UINT64_MAX);
	assert_true(gg_add_u64(UINT64_MAX - 5, 5, &r));
	assert_true(r == UINT64_MAX);

	r = 9;
	assert_false(gg_add_u64(UINT64_MAX, 1, &r));
	assert_false(gg_add_u64(1ull << 63, 1ull << 63, &r));
	assert_int_equal(r, 9);
}

static bool utf8(const char *s)
{
	return gg_utf8_valid(s, strlen(s));
}

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(utf8(""));
	assert_true(utf8("plain ascii"));
	assert_true(utf8("\xC2\xA9"));           /* U+00A9 */
	assert_true(utf8("\xE2\x82\xAC"));       /* U+20AC */
	assert_true(utf8("\xF0\x9F\x98\x80"));   /* U+1F600 */
	assert_true(utf8("\xF4\x8F\xBF\xBF"));   /* U+10FFFF */
	assert_true(utf8("\xED\x9F\xBF"));       /* U+D7FF, below surrogates */
	assert_true(utf8("\xEE\x80\x80"));       /* U+E000, above surrogates */
	assert_true(gg_utf8_valid("a\0b", 3));   /* NUL is a character */
}

static void test_utf8_invalid(void **state)
{
	(void)state;
	assert_false(utf8("\xC0\x80"));          /* overlong NUL */
	assert_false(utf8("\xC1\xBF"));          /* overlong U+007F */
	assert_false(utf8("\xE0\x80\x80"));      /* overlong 3-byte */
	assert_false(utf8("\xE0\x9F\xBF"));      /* overlong U+07FF */
	assert_false(utf8("\xF0\x80\x80\x80"));  /* overlong 4-byte */
	assert_false(utf8("\xF0\x8F\xBF\xBF"));  /* overlong U+FFFF */
	assert_false(utf8("\xED\xA0\x80"));      /* U+D800 surrogate */
	assert_false(utf8("\xED\xBF\xBF"));      /* U+DFFF surrogate */
	assert_false(utf8("\xF4\x90\x80\x80"));  /* U+110000 */
	assert_false(utf8("\xF8\x88\x80\x80\x80")); /* 5-byte form */
	assert_false(utf8("\xFF"));
	assert_false(utf8("\x80"));              /* lone continuation */
	assert_false(utf8("ab\xE2\x82"));        /* truncated at end */
	assert_false(utf8("\xE2\x82" "abc"));    /* truncated mid-text */
	assert_false(utf8("\xF0\x9F\x98"));      /* truncated 4-byte */
	/* The length bounds the scan: a valid sequence cut by n is invalid. */
	assert_false(gg_utf8_valid("\xE2\x82\xAC", 2));
	assert_true(gg_utf8_valid("\xE2\x82\xAC" "\xFF", 3));
}

static void check_join(const char *dir, const char *name, const char *want)
{
	char got[64];
	char *p = gg_path_join(dir, name);
	snprintf(got, sizeof got, "%s", p);
	free(p);
	assert_string_equal(got, want);
}

static void test_path_join(void **state)
{
	(void)state;
	check_join("a", "b", "a/b");
	check_join("a/", "b", "a/b");
	check_join("a//", "b", "a/b");
	check_join("/models/llama", "config.json", "/models/llama/config.json");
}

/* The root directory already ends in its separator. */
static void test_path_join_root(void **state)
{
	(void)state;
	check_join("/", "b", "/b");
	check_join("//", "b", "/b");
}

static void test_fail_one_line(void **state)
{
	(void)state;
	gg_err e;
	assert_int_equal(gg_fail(&e, "%s: bad %d", "f.json", 3), -1);
	assert_string_equal(e.msg, "f.json: bad 3");
	gg_fail(&e, "x: %s", "two\nlines\r");
	assert_string_equal(e.msg, "x: two\\x0alines\\x0d");
	/* A terminal escape sequence from a file stays inert text. */
	gg_fail(&e, "name '%s'", "\x1b[2Jgone\x7f");
	assert_string_equal(e.msg, "name '\\x1b[2Jgone\\x7f'");
	assert_int_equal(gg_fail(NULL, "ignored"), -1);
	/* Long messages are cut, never overflow, and stay terminated. */
	char big[3 * GG_ERR_MAX];
	memset(big, '\n', sizeof big - 1);
	big[sizeof big - 1] = 0;
	gg_fail(&e, "%s", big);
	assert_true(strlen(e.msg) < GG_ERR_MAX);
	assert_int_equal(strlen(e.msg) % 4, 0);
	assert_null(strchr(e.msg, '\n'));
}

/* A FIFO or a device where a file is expected: refused at once with the
 * kind named, never waited on (a blocking open of a FIFO with no writer
 * would hang the test until meson's timeout). */
static void test_open_input_refuses_non_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/gguffs-util-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *fifo = gg_path_join(dir, "config.json");
	char *link = gg_path_join(dir, "tokenizer.json");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	assert_int_equal(symlink("/dev/zero", link), 0);
	struct stat st;
	gg_err e;
	char *data;
	size_t len;
	assert_int_equal(gg_open_input(fifo, &st, &e), -1);
	assert_non_null(strstr(e.msg, fifo));
	assert_non_null(strstr(e.msg, "not a regular file (a FIFO)"));
	assert_int_equal(gg_read_file(fifo, 100, &data, &len, &e), -1);
	assert_non_null(strstr(e.msg, "(a FIFO)"));
	assert_int_equal(gg_read_file(link, 100, &data, &len, &e), -1);
	assert_non_null(strstr(e.msg, "not a regular file (a character device)"));
	assert_int_equal(gg_open_own(dir, &st, &e), -1);
	assert_non_null(strstr(e.msg, "(a directory)"));
	/* Present, though not files: a reader must not take them as absent. */
	assert_true(gg_path_exists(fifo));
	assert_true(gg_path_exists(link));
	unlink(link);
	assert_int_equal(symlink("/nonexistent/blob", link), 0);
	assert_true(gg_path_exists(link)); /* dangling: present, unreadable */
	assert_false(gg_file_exists(link));
	unlink(fifo);
	unlink(link);
	free(fifo);
	free(link);
	rmdir(dir);
}

/* With the public-only policy (a mount with allow_other), an input other
 * users could not read themselves is refused, naming the option that
 * lifts it; a symlink from a private place to a public file is fine. */
static void test_input_policy(void **state)
{
	(void)state;
	char pub[] = "/tmp/gguffs-util-XXXXXX", priv[] = "/tmp/gguffs-util-XXXXXX";
	assert_non_null(mkdtemp(pub));
	assert_non_null(mkdtemp(priv));
	assert_int_equal(chmod(pub, 0711), 0); /* search is enough */
	assert_int_equal(chmod(priv, 0700), 0);
	char *open_f = gg_path_join(pub, "open.json");
	char *closed_f = gg_path_join(pub, "closed.json");
	char *hidden_f = gg_path_join(priv, "hidden.json");
	char *link_f = gg_path_join(priv, "link.json");
	FILE *f;
	const char *files[] = { open_f, closed_f, hidden_f };
	for (size_t i = 0; i < 3; i++) {
		assert_non_null(f = fopen(files[i], "w"));
		fputs("{}", f);
		fclose(f);
		assert_int_equal(chmod(files[i], 0644), 0);
	}
	assert_int_equal(chmod(closed_f, 0640), 0);
	assert_int_equal(symlink(open_f, link_f), 0);
	struct stat st;
	gg_err e;
	char *data;
	size_t len;

	/* Policy off: everything opens. */
	for (size_t i = 0; i < 3; i++) {
		int fd = gg_open_input(files[i], &st, &e);
		assert_true(fd >= 0);
		close(fd);
	}
	gg_input_policy(true, "allow_private_sources");
	assert_int_equal(gg_input_allowed(open_f, &e), 0);
	assert_int_equal(gg_input_allowed(link_f, &e), 0);
	assert_int_equal(gg_read_file(link_f, 100, &data, &len, &e), 0);
	free(data);
	assert_int_equal(gg_read_file(closed_f, 100, &data, &len, &e), -1);
	assert_non_null(strstr(e.msg, "other users cannot read it"));
	assert_non_null(strstr(e.msg, "0640"));
	assert_non_null(strstr(e.msg, "-o allow_private_sources"));
	assert_null(strstr(e.msg, "{}")); /* never the content */
	assert_int_equal(gg_open_input(hidden_f, &st, &e), -1);
	assert_non_null(strstr(e.msg, "other users cannot reach it"));
	assert_non_null(strstr(e.msg, priv));
	/* Files gguffs wrote itself are not inputs. */
	int fd = gg_open_own(hidden_f, &st, &e);
	assert_true(fd >= 0);
	close(fd);
	gg_input_policy(false, NULL);
	assert_int_equal(gg_input_allowed(closed_f, &e), 0);

	for (size_t i = 0; i < 3; i++)
		unlink(files[i]);
	unlink(link_f);
	rmdir(pub);
	rmdir(priv);
	free(open_f);
	free(closed_f);
	free(hidden_f);
	free(link_f);
}

static void test_read_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/gguffs-util-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = gg_path_join(dir, "f.txt");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs("hello", f);
	fclose(f);

	char *data = NULL;
	size_t len = 0;
	gg_err e;
	assert_int_equal(gg_read_file(path, 5, &data, &len, &e), 0);
	assert_int_equal(len, 5);
	assert_string_equal(data, "hello");
	free(data);
	assert_int_equal(gg_read_file(path, 4, &data, &len, &e), -1);
	assert_non_null(strstr(e.msg, "too large"));
	assert_true(gg_file_exists(path));
	assert_false(gg_file_exists(dir)); /* a directory is not a file */

	unlink(path);
	assert_int_equal(gg_read_file(path, 5, &data, &len, &e), -1);
	assert_non_null(strstr(e.msg, path));
	assert_false(gg_file_exists(path));
	free(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mul_u64),
		cmocka_unit_test(test_add_u64),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_path_join),
		cmocka_unit_test(test_path_join_root),
		cmocka_unit_test(test_fail_one_line),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_open_input_refuses_non_files),
		cmocka_unit_test(test_input_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
