/* test_json.c - NaN/Infinity rewriting, the Go-compatible typed getters and
 * gg_json_load's error reporting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonutil.h"
#include "testutil.h"

/* ---- sanitize --------------------------------------------------------- */

static void check_sanitize(const char *in, const char *want)
{
	size_t n = 12345;
	char *out = gg_json_sanitize_nonfinite(in, strlen(in), &n);
	assert_non_null(out);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	free(out);
}

static void test_sanitize_replaces_tokens(void **state)
{
	(void)state;
	check_sanitize("{\"a\":NaN}", "{\"a\":0}");
	check_sanitize("{\"a\": Infinity, \"b\":-Infinity}",
		       "{\"a\": 0, \"b\":0}");
	check_sanitize("[NaN]", "[0]");
	check_sanitize("[NaN,Infinity,-Infinity]", "[0,0,0]");
	check_sanitize("[ -Infinity ]", "[ 0 ]");
	check_sanitize("{\"a\":\n\tNaN\r\n}", "{\"a\":\n\t0\r\n}");
	check_sanitize("NaN", "0");
	check_sanitize("-Infinity", "0");
	check_sanitize("{\"a\":[1,NaN],\"b\":{\"c\":Infinity}}",
		       "{\"a\":[1,0],\"b\":{\"c\":0}}");
}

static void test_sanitize_only_full_tokens(void **state)
{
	(void)state;
	check_sanitize("{\"a\":NaNx}", "{\"a\":NaNx}");
	check_sanitize("{\"a\":xNaN}", "{\"a\":xNaN}");
	check_sanitize("{\"a\":Infinityy}", "{\"a\":Infinityy}");
	check_sanitize("{\"a\":1NaN}", "{\"a\":1NaN}");
	check_sanitize("{\"a\":-NaN}", "{\"a\":-NaN}");
	check_sanitize("{\"a\":--Infinity}", "{\"a\":--Infinity}");
	check_sanitize("{\"a\":nan}", "{\"a\":nan}");
	check_sanitize("{\"a\":NaN:}", "{\"a\":NaN:}");
	/* '{' is not a value-prefix boundary (a key must follow it). */
	check_sanitize("{NaN:1}", "{NaN:1}");
	check_sanitize("", "");
}

static void test_sanitize_skips_strings(void **state)
{
	(void)state;
	check_sanitize("{\"s\":\"NaN\"}", "{\"s\":\"NaN\"}");
	check_sanitize("{\"s\":\" NaN \"}", "{\"s\":\" NaN \"}");
	check_sanitize("{\"NaN\":NaN}", "{\"NaN\":0}");
	/* An escaped quote does not end the string... */
	check_sanitize("{\"s\":\"a \\\" NaN \\\" b\",\"n\":NaN}",
		       "{\"s\":\"a \\\" NaN \\\" b\",\"n\":0}");
	/* ...but a quote after an escaped backslash does. */
	check_sanitize("{\"s\":\"x\\\\\",\"n\":NaN}",
		       "{\"s\":\"x\\\\\",\"n\":0}");
	check_sanitize("[\"\\\\\", Infinity, \"\\\"Infinity\"]",
		       "[\"\\\\\", 0, \"\\\"Infinity\"]");
}

/* ---- getters ---------------------------------------------------------- */

static cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	assert_non_null(j);
	return j;
}

static void assert_msg(const gg_err *e, const char *want)
{
	if (!strstr(e->msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", e->msg, want);
}

static void test_u32(void **state)
{
	(void)state;
	cJSON *j = parse("{\"n\":4096, \"max\":4294967295, \"z\":null,"
			 " \"neg\":-1, \"frac\":1.5, \"big\":4294967296,"
			 " \"s\":\"12\", \"b\":true, \"arr\":[1]}");
	gg_err e;
	uint32_t v = 7;
	assert_int_equal(gg_json_u32(j, "n", &v, "config.json", &e), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(gg_json_u32(j, "max", &v, "config.json", &e), 0);
	assert_int_equal(v, UINT32_MAX);

	v = 7;
	assert_int_equal(gg_json_u32(j, "absent", &v, "config.json", &e), 0);
	assert_int_equal(v, 7);
	assert_int_equal(gg_json_u32(j, "z", &v, "config.json", &e), 0);
	assert_int_equal(v, 7);
	assert_int_equal(gg_json_u32(NULL, "n", &v, "config.json", &e), 0);
	assert_int_equal(v, 7);

	assert_int_equal(gg_json_u32(j, "neg", &v, "config.json", &e), -1);
	assert_string_equal(e.msg, "config.json: neg: expected an unsigned "
			    "32-bit integer, got -1");
	assert_int_equal(gg_json_u32(j, "frac", &v, "config.json", &e), -1);
	assert_msg(&e, "config.json: frac: expected an unsigned 32-bit "
		   "integer, got 1.5");
	assert_int_equal(gg_json_u32(j, "big", &v, "config.json", &e), -1);
	assert_msg(&e, "big: expected an unsigned 32-bit integer, got "
		   "4294967296");
	assert_int_equal(gg_json_u32(j, "s", &v, "config.json", &e), -1);
	assert_string_equal(e.msg, "config.json: s: expected an unsigned "
			    "32-bit integer, got a string");
	assert_int_equal(gg_json_u32(j, "b", &v, "config.json", &e), -1);
	assert_msg(&e, "got a boolean");
	assert_int_equal(gg_json_u32(j, "arr", &v, "config.json", &e), -1);
	assert_msg(&e, "got an array");
	assert_int_equal(v, 7); /* failures leave the value alone */
	cJSON_Delete(j);
}

static void test_i64(void **state)
{
	(void)state;
	cJSON *j = parse("{\"a\":-5, \"b\":1e15, \"frac\":-0.25,"
			 " \"huge\":9.3e18, \"low\":-9.3e18, \"s\":\"1\"}");
	gg_err e;
	int64_t v = 1;
	assert_int_equal(gg_json_i64(j, "a", &v, "f", &e), 0);
	assert_int_equal(v, -5);
	assert_int_equal(gg_json_i64(j, "b", &v, "f", &e), 0);
	assert_int_equal(v, 1000000000000000LL);
	assert_int_equal(gg_json_i64(j, "frac", &v, "f", &e), -1);
	assert_msg(&e, "f: frac: expected a 64-bit integer");
	assert_int_equal(gg_json_i64(j, "huge", &v, "f", &e), -1);
	assert_msg(&e, "huge: expected a 64-bit integer");
	assert_int_equal(gg_json_i64(j, "low", &v, "f", &e), -1);
	assert_int_equal(gg_json_i64(j, "s", &v, "f", &e), -1);
	assert_msg(&e, "got a string");
	assert_int_equal(v, 1000000000000000LL);
	cJSON_Delete(j);
}

static void test_floats(void **state)
{
	(void)state;
	cJSON *j = parse("{\"eps\":1e-6, \"theta\":500000, \"big\":1e39,"
			 " \"inf\":1e400, \"s\":\"0.5\", \"b\":false}");
	gg_err e;
	float f = 9;
	double d = 9;
	assert_int_equal(gg_json_f32(j, "eps", &f, "f", &e), 0);
	assert_true(f == 1e-6f);
	assert_int_equal(gg_json_f32(j, "theta", &f, "f", &e), 0);
	assert_true(f == 500000.0f);
	assert_int_equal(gg_json_f32(j, "big", &f, "f", &e), -1);
	assert_msg(&e, "f: big: expected a 32-bit float");
	assert_int_equal(gg_json_f32(j, "s", &f, "f", &e), -1);
	assert_msg(&e, "got a string");
	assert_true(f == 500000.0f);

	assert_int_equal(gg_json_f64(j, "big", &d, "f", &e), 0);
	assert_true(d == 1e39);
	assert_int_equal(gg_json_f64(j, "inf", &d, "f", &e), -1);
	assert_msg(&e, "inf: NaN, Infinity or a number out of range is not a usable value (expected a number)");
	assert_int_equal(gg_json_f64(j, "b", &d, "f", &e), -1);
	assert_msg(&e, "b: expected a number, got a boolean");
	assert_int_equal(gg_json_f64(j, "absent", &d, "f", &e), 0);
	assert_true(d == 1e39);
	cJSON_Delete(j);
}

static void test_bool_str(void **state)
{
	(void)state;
	cJSON *j = parse("{\"t\":true, \"f\":false, \"one\":1, \"s\":\"hi\","
			 " \"n\":null}");
	gg_err e;
	bool b = false;
	assert_int_equal(gg_json_bool(j, "t", &b, "f", &e), 0);
	assert_true(b);
	assert_int_equal(gg_json_bool(j, "f", &b, "f", &e), 0);
	assert_false(b);
	assert_int_equal(gg_json_bool(j, "one", &b, "f", &e), -1);
	assert_string_equal(e.msg, "f: one: expected a boolean, got 1");
	assert_int_equal(gg_json_bool(j, "s", &b, "f", &e), -1);

	const char *s = "keep";
	assert_int_equal(gg_json_str(j, "n", &s, "f", &e), 0);
	assert_string_equal(s, "keep");
	assert_int_equal(gg_json_str(j, "s", &s, "f", &e), 0);
	assert_string_equal(s, "hi");
	assert_int_equal(gg_json_str(j, "t", &s, "f", &e), -1);
	assert_string_equal(e.msg, "f: t: expected a string, got a boolean");
	cJSON_Delete(j);
}

static void test_nested_obj(void **state)
{
	(void)state;
	cJSON *j = parse("{\"rope_scaling\":{\"factor\":8.0,\"type\":\"llama3\"},"
			 " \"n\":null, \"arr\":[], \"num\":3}");
	gg_err e;
	const cJSON *o = NULL;
	assert_int_equal(gg_json_obj(j, "rope_scaling", &o, "c", &e), 0);
	assert_non_null(o);
	float factor = 0;
	assert_int_equal(gg_json_f32(o, "factor", &factor, "c", &e), 0);
	assert_true(factor == 8.0f);
	const char *type = NULL;
	assert_int_equal(gg_json_str(o, "type", &type, "c", &e), 0);
	assert_string_equal(type, "llama3");

	assert_int_equal(gg_json_obj(j, "absent", &o, "c", &e), 0);
	assert_null(o);
	o = j;
	assert_int_equal(gg_json_obj(j, "n", &o, "c", &e), 0);
	assert_null(o);
	assert_int_equal(gg_json_obj(j, "arr", &o, "c", &e), -1);
	assert_string_equal(e.msg, "c: arr: expected an object, got an array");
	assert_int_equal(gg_json_obj(j, "num", &o, "c", &e), -1);
	assert_msg(&e, "expected an object, got 3");
	cJSON_Delete(j);
}

/* Go matches keys case-insensitively and decodes repeated keys in order. */
static void test_go_key_rules(void **state)
{
	(void)state;
	gg_err e;
	uint32_t v = 0;
	cJSON *j = parse("{\"Hidden_Size\":5}");
	assert_int_equal(gg_json_u32(j, "hidden_size", &v, "c", &e), 0);
	assert_int_equal(v, 5);
	cJSON_Delete(j);

	j = parse("{\"a\":1, \"A\":2}");
	assert_int_equal(gg_json_u32(j, "a", &v, "c", &e), 0);
	assert_int_equal(v, 2); /* last one wins */
	cJSON_Delete(j);

	j = parse("{\"a\":1, \"a\":null}");
	assert_int_equal(gg_json_u32(j, "a", &v, "c", &e), 0);
	assert_int_equal(v, 1); /* a later null changes nothing */
	cJSON_Delete(j);

	v = 0;
	j = parse("{\"a\":\"x\", \"a\":1}");
	assert_int_equal(gg_json_u32(j, "a", &v, "c", &e), -1);
	assert_msg(&e, "got a string");
	assert_int_equal(v, 0);
	cJSON_Delete(j);

	double d = 0;
	const char *str = NULL;
	j = parse("{\"x\":1.5, \"s\":\"p\", \"X\":2.5, \"S\":\"q\"}");
	assert_int_equal(gg_json_f64(j, "x", &d, "c", &e), 0);
	assert_true(d == 2.5);
	assert_int_equal(gg_json_str(j, "s", &str, "c", &e), 0);
	assert_string_equal(str, "q");
	cJSON_Delete(j);

	j = parse("{\"ab\":1, \"a\":3, \"abc\":4}");
	assert_int_equal(gg_json_u32(j, "a", &v, "c", &e), 0);
	assert_int_equal(v, 3); /* prefixes are not matches */
	cJSON_Delete(j);
}

/* ---- load ------------------------------------------------------------- */

static char *tmpdir;

static int setup_dir(void **state)
{
	(void)state;
	tmpdir = make_temp_dir("json");
	return 0;
}

static int remove_dir(void **state)
{
	(void)state;
	remove_tree(tmpdir);
	free(tmpdir);
	return 0;
}

/* Write bytes (or text) to tmpdir/name; returns the malloc'd path. */
static char *put_file(const char *name, const char *data, size_t len)
{
	write_file(tmpdir, name, data, len);
	return gg_path_join(tmpdir, name);
}

static char *put_text(const char *name, const char *text)
{
	return put_file(name, text, strlen(text));
}

/* Expect gg_json_load to fail with a message holding `want`. */
static void load_fails(const char *text, size_t len, bool sanitize,
		       const char *want)
{
	char *path = put_file("bad.json", text, len);
	cJSON *j = (cJSON *)1;
	gg_err e;
	assert_int_equal(gg_json_load(path, false, sanitize, &j, &e), -1);
	assert_null(j);
	assert_msg(&e, path);
	assert_msg(&e, want);
	free(path);
}

static void test_load_ok(void **state)
{
	(void)state;
	char *path = put_text("config.json",
				"{\"n\":3,"
				" \"name\":\"caf\xC3\xA9\"}\n");
	cJSON *j = NULL;
	gg_err e;
	assert_int_equal(gg_json_load(path, false, false, &j, &e), 0);
	assert_non_null(j);
	uint32_t n = 0;
	const char *name = NULL;
	assert_int_equal(gg_json_u32(j, "n", &n, path, &e), 0);
	assert_int_equal(gg_json_str(j, "name", &name, path, &e), 0);
	assert_int_equal(n, 3);
	assert_string_equal(name, "caf\xC3\xA9");
	cJSON_Delete(j);
	free(path);
}

static void test_load_missing(void **state)
{
	(void)state;
	char *path = gg_path_join(tmpdir, "nope.json");
	cJSON *j = (cJSON *)1;
	gg_err e;
	assert_int_equal(gg_json_load(path, true, false, &j, &e), 0);
	assert_null(j);
	assert_int_equal(gg_json_load(path, false, false, &j, &e), -1);
	assert_null(j);
	assert_msg(&e, path);
	assert_msg(&e, "No such file");
	free(path);
}

static void test_load_errors(void **state)
{
	(void)state;
	load_fails("{\"a\":1,}", 8, false, "JSON syntax error near byte offset 8");
	load_fails("{\"a\": 1 x}", 10, false,
		   "JSON syntax error near byte offset 8");
	load_fails("{} {}", 5, false, "JSON syntax error near byte offset 3");
	load_fails("", 0, false, "JSON syntax error near byte offset 0");
	load_fails("[1, 2]", 6, false, "is not a JSON object");
	load_fails("\"str\"", 5, false, "is not a JSON object");
	load_fails("{\"a\":\"\xFF\"}", 9, false, "invalid UTF-8 at byte offset 6");
	load_fails("{\"a\":\"\xC0\x80\"}", 10, false,
		   "invalid UTF-8 at byte offset 6");
	load_fails("{\"a\":\"\xED\xA0\x80\"}", 11, false,
		   "invalid UTF-8 at byte offset 6");
	load_fails("{\"a\":\"\xE2\x82\"}", 10, false,
		   "invalid UTF-8 at byte offset 6");
	load_fails("{\"a\":1}\0{", 9, false, "NUL byte at byte offset 7");
	load_fails("{\"a\":NaN}", 9, false, "JSON syntax error");
}

static void test_load_sanitize(void **state)
{
	(void)state;
	char *path = put_text("nan.json", "{\"a\": NaN, \"b\": [Infinity, "
				"-Infinity], \"c\": \"NaN\", \"d\": 2}");
	cJSON *j = NULL;
	gg_err e;
	/* The file loads; a key holding NaN is refused by every getter (a
	 * converter uses no such value), the others read normally. */
	assert_int_equal(gg_json_load(path, false, true, &j, &e), 0);
	double a = 9, d = 0;
	float af = 9;
	uint32_t au = 9;
	const char *c = NULL;
	assert_int_equal(gg_json_f64(j, "a", &a, path, &e), -1);
	assert_non_null(strstr(e.msg, "a: NaN, Infinity or a number out of range is not a usable value"));
	assert_int_equal(gg_json_f32(j, "a", &af, path, &e), -1);
	assert_int_equal(gg_json_u32(j, "a", &au, path, &e), -1);
	assert_non_null(strstr(e.msg, "(expected an unsigned 32-bit integer)"));
	assert_true(a == 9 && af == 9 && au == 9);
	assert_int_equal(gg_json_str(j, "c", &c, path, &e), 0);
	assert_int_equal(gg_json_f64(j, "d", &d, path, &e), 0);
	assert_true(d == 2.0);
	assert_string_equal(c, "NaN");
	const cJSON *b = cJSON_GetObjectItem(j, "b");
	assert_int_equal(cJSON_GetArraySize(b), 2);
	assert_true(isinf(cJSON_GetArrayItem(b, 0)->valuedouble) &&
		    cJSON_GetArrayItem(b, 0)->valuedouble > 0);
	assert_true(isinf(cJSON_GetArrayItem(b, 1)->valuedouble) &&
		    cJSON_GetArrayItem(b, 1)->valuedouble < 0);
	cJSON_Delete(j);
	free(path);

	/* Error offsets still point into the file as written: the same
	 * mistake after a NaN and after a three-digit number is reported at
	 * the same byte. */
	gg_err e2;
	char *p1 = put_text("o1.json", "{\"a\":NaN,\"b\":}");
	char *p2 = put_text("o2.json", "{\"a\":123,\"b\":}");
	assert_int_equal(gg_json_load(p1, false, true, &j, &e), -1);
	assert_int_equal(gg_json_load(p2, false, true, &j, &e2), -1);
	assert_non_null(strstr(e.msg, "byte offset 13"));
	assert_non_null(strstr(e2.msg, "byte offset 13"));
	free(p1);
	free(p2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize_replaces_tokens),
		cmocka_unit_test(test_sanitize_only_full_tokens),
		cmocka_unit_test(test_sanitize_skips_strings),
		cmocka_unit_test(test_u32),
		cmocka_unit_test(test_i64),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_bool_str),
		cmocka_unit_test(test_nested_obj),
		cmocka_unit_test(test_go_key_rules),
		cmocka_unit_test(test_load_ok),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_sanitize),
	};
	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
