/* test_spm.c - the SentencePiece tokenizer.model reader, on protobuf bytes
 * built here with a tiny encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spm.h"

/* ---- a minimal protobuf encoder -------------------------------------- */

struct pb {
	uint8_t b[4096];
	size_t n;
};

static void pb_raw(struct pb *p, const void *data, size_t n)
{
	assert_true(p->n + n <= sizeof p->b);
	memcpy(p->b + p->n, data, n);
	p->n += n;
}

static void pb_byte(struct pb *p, uint8_t v)
{
	pb_raw(p, &v, 1);
}

static void pb_varint(struct pb *p, uint64_t v)
{
	while (v >= 0x80) {
		pb_byte(p, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	pb_byte(p, (uint8_t)v);
}

static void pb_key(struct pb *p, uint32_t field, unsigned wt)
{
	pb_varint(p, (uint64_t)field << 3 | wt);
}

static void pb_bytes(struct pb *p, uint32_t field, const void *d, size_t n)
{
	pb_key(p, field, 2);
	pb_varint(p, n);
	pb_raw(p, d, n);
}

static void pb_str(struct pb *p, uint32_t field, const char *s)
{
	pb_bytes(p, field, s, strlen(s));
}

static void pb_float(struct pb *p, uint32_t field, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	pb_key(p, field, 5);
	for (int i = 0; i < 4; i++)
		pb_byte(p, (uint8_t)(u >> (8 * i)));
}

static void pb_uint(struct pb *p, uint32_t field, uint64_t v)
{
	pb_key(p, field, 0);
	pb_varint(p, v);
}

/* A SentencePiece message; score/type written only when has_* is set. */
static void pb_piece(struct pb *model, const char *piece, bool has_score,
		     float score, bool has_type, uint64_t type)
{
	struct pb m = { .n = 0 };
	if (piece)
		pb_str(&m, 1, piece);
	if (has_score)
		pb_float(&m, 2, score);
	if (has_type)
		pb_uint(&m, 3, type);
	pb_bytes(model, 1, m.b, m.n);
}

/* Parse bytes expecting failure; the message must contain want and the
 * file name. */
static void expect_fail(const struct pb *p, const char *want)
{
	struct spm_model m = { NULL, 0 };
	gg_err e = { "" };
	assert_int_equal(spm_parse(p->b, p->n, "x/tokenizer.model", &m, &e), -1);
	if (!strstr(e.msg, want) || !strstr(e.msg, "x/tokenizer.model"))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
	assert_null(m.pieces);
	assert_int_equal(m.n, 0);
}

/* ---- well-formed files ------------------------------------------------ */

static void test_pieces_scores_types(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	/* trainer_spec (field 2) and normalizer_spec (3) come first in real
	 * files; they must be skipped. */
	pb_str(&p, 2, "\x18\x02trainer");
	pb_piece(&p, "<unk>", true, 0.0f, true, SPM_UNKNOWN);
	pb_piece(&p, "\xe2\x96\x81the", true, -1.5f, false, 0);
	pb_piece(&p, "<0x41>", false, 0, true, SPM_BYTE);
	pb_piece(&p, "<s>", true, 0.25f, true, SPM_CONTROL);
	pb_piece(&p, "<user>", true, 0.0f, true, SPM_USER_DEFINED);
	pb_piece(&p, "<unused0>", true, 0.0f, true, SPM_UNUSED);
	pb_str(&p, 3, "normalizer");
	pb_uint(&p, 99, 12345);     /* varint field */
	pb_key(&p, 7, 1);           /* fixed64 field */
	pb_raw(&p, "\1\2\3\4\5\6\7\x8", 8);
	pb_key(&p, 8, 5);           /* fixed32 field */
	pb_raw(&p, "\1\2\3\4", 4);

	struct spm_model m;
	gg_err e = { "" };
	assert_int_equal(spm_parse(p.b, p.n, "t.model", &m, &e), 0);
	assert_int_equal(m.n, 6);
	assert_string_equal(m.pieces[0].piece, "<unk>");
	assert_int_equal(m.pieces[0].type, SPM_UNKNOWN);
	assert_string_equal(m.pieces[1].piece, "\xe2\x96\x81the");
	assert_true(m.pieces[1].score == -1.5f);
	assert_int_equal(m.pieces[1].type, SPM_NORMAL); /* default */
	assert_string_equal(m.pieces[2].piece, "<0x41>");
	assert_true(m.pieces[2].score == 0.0f); /* default */
	assert_int_equal(m.pieces[2].type, SPM_BYTE);
	assert_true(m.pieces[3].score == 0.25f);
	assert_int_equal(m.pieces[3].type, SPM_CONTROL);
	assert_int_equal(m.pieces[4].type, SPM_USER_DEFINED);
	assert_int_equal(m.pieces[5].type, SPM_UNUSED);
	spm_free(&m);
	assert_null(m.pieces);
}

static void test_defaults_and_unknown_piece_fields(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_piece(&p, NULL, false, 0, false, 0); /* an empty message */
	/* A piece with an unknown field and a repeated piece field: the
	 * last occurrence wins, as in protobuf. */
	struct pb m = { .n = 0 };
	pb_str(&m, 1, "first");
	pb_uint(&m, 4, 7);
	pb_float(&m, 2, 3.0f);
	pb_str(&m, 1, "second");
	pb_uint(&m, 3, SPM_CONTROL);
	pb_uint(&m, 3, SPM_BYTE);
	pb_bytes(&p, 1, m.b, m.n);
	/* Field 1 with the wrong wire type is an unknown field to Go's
	 * protobuf runtime: skipped, not a piece. */
	pb_uint(&p, 1, 5);

	struct spm_model out;
	gg_err e = { "" };
	assert_int_equal(spm_parse(p.b, p.n, "t.model", &out, &e), 0);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.pieces[0].piece, "");
	assert_true(out.pieces[0].score == 0.0f);
	assert_int_equal(out.pieces[0].type, SPM_NORMAL);
	assert_string_equal(out.pieces[1].piece, "second");
	assert_true(out.pieces[1].score == 3.0f);
	assert_int_equal(out.pieces[1].type, SPM_BYTE);
	spm_free(&out);
}

static void test_empty_file(void **state)
{
	(void)state;
	struct spm_model m;
	gg_err e = { "" };
	assert_int_equal(spm_parse((const uint8_t *)"", 0, "t.model", &m, &e), 0);
	assert_int_equal(m.n, 0);
	spm_free(&m);
}

static void test_many_pieces(void **state)
{
	(void)state;
	/* More pieces than the initial capacity, so the array grows. */
	static struct pb p;
	p.n = 0;
	char buf[16];
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof buf, "p%d", i);
		pb_piece(&p, buf, true, (float)-i, false, 0);
	}
	struct spm_model m;
	gg_err e = { "" };
	assert_int_equal(spm_parse(p.b, p.n, "t.model", &m, &e), 0);
	assert_int_equal(m.n, 300);
	assert_string_equal(m.pieces[299].piece, "p299");
	assert_true(m.pieces[299].score == -299.0f);
	spm_free(&m);
}

static void test_load_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_spm_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/tokenizer.model", dir);
	struct pb p = { .n = 0 };
	pb_piece(&p, "a", true, -2.0f, true, SPM_NORMAL);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p.b, 1, p.n, f), p.n);
	fclose(f);

	struct spm_model m;
	gg_err e = { "" };
	assert_int_equal(spm_load(path, &m, &e), 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.pieces[0].piece, "a");
	assert_true(m.pieces[0].score == -2.0f);
	spm_free(&m);

	/* Errors name the path given to spm_load. */
	f = fopen(path, "wb");
	assert_non_null(f);
	fwrite("\x0a\x09", 1, 2, f);
	fclose(f);
	assert_int_equal(spm_load(path, &m, &e), -1);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "byte 1"));
	unlink(path);

	assert_int_equal(spm_load(path, &m, &e), -1);
	assert_non_null(strstr(e.msg, path));
	rmdir(dir);
}

/* ---- malformed files -------------------------------------------------- */

static void test_truncated_varint(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_raw(&p, "\x0a\x80", 2); /* length varint cut short */
	expect_fail(&p, "truncated varint at byte 1");
	p.n = 0;
	pb_byte(&p, 0x80); /* the key itself */
	expect_fail(&p, "truncated varint at byte 0");
}

static void test_long_varint(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_key(&p, 99, 0);
	for (int i = 0; i < 11; i++)
		pb_byte(&p, 0xff);
	pb_byte(&p, 0x01);
	expect_fail(&p, "varint longer than 10 bytes at byte 2");
	p.n = 0;
	pb_key(&p, 99, 0);
	for (int i = 0; i < 9; i++)
		pb_byte(&p, 0xff);
	pb_byte(&p, 0x02); /* bit 64 */
	expect_fail(&p, "varint overflows 64 bits at byte 2");
}

static void test_length_past_end(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_raw(&p, "\x0a\x05" "ab", 4);
	expect_fail(&p, "the length at byte 1 runs past the end");

	/* Inside a piece: the string claims more than the piece holds, even
	 * though the file has bytes left after the piece. */
	p.n = 0;
	pb_raw(&p, "\x0a\x03" "\x0a\x05" "a", 5);
	pb_piece(&p, "padding-after", false, 0, false, 0);
	expect_fail(&p, "the length at byte 3 runs past the end");
}

static void test_bad_wire_types(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_key(&p, 5, 7);
	expect_fail(&p, "unknown protobuf wire type at byte 0");
	p.n = 0;
	pb_piece(&p, "ok", false, 0, false, 0);
	pb_key(&p, 5, 3);
	expect_fail(&p, "unsupported protobuf group at byte 6");
	p.n = 0;
	pb_key(&p, 5, 4);
	expect_fail(&p, "unsupported protobuf group at byte");
	p.n = 0;
	pb_byte(&p, 0x02); /* field 0 */
	expect_fail(&p, "invalid protobuf field number at byte 0");
}

static void test_truncated_fixed(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_key(&p, 7, 1);
	pb_raw(&p, "\1\2\3", 3);
	expect_fail(&p, "truncated fixed64 value at byte 1");
	p.n = 0;
	pb_raw(&p, "\x0a\x03" "\x15\x00\x00", 5); /* score with 2 bytes */
	expect_fail(&p, "truncated score at byte 3");
}

static void test_bad_piece_text(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_piece(&p, "ok", false, 0, false, 0);
	pb_piece(&p, "a\xff", false, 0, false, 0);
	expect_fail(&p, "piece at byte 10 is not valid UTF-8");
	p.n = 0;
	struct pb m = { .n = 0 };
	pb_bytes(&m, 1, "a\0b", 3);
	pb_bytes(&p, 1, m.b, m.n);
	expect_fail(&p, "contains a NUL byte");
}

static void test_bad_piece_type(void **state)
{
	(void)state;
	struct pb p = { .n = 0 };
	pb_piece(&p, "x", false, 0, true, 7);
	expect_fail(&p, "piece type at byte 6 is not in 1..6");
	p.n = 0;
	pb_piece(&p, "x", false, 0, true, 0);
	expect_fail(&p, "piece type at byte 6 is not in 1..6");
	p.n = 0;
	pb_piece(&p, "x", false, 0, true, UINT64_MAX); /* enum -1 */
	expect_fail(&p, "piece type at byte 6");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces_scores_types),
		cmocka_unit_test(test_defaults_and_unknown_piece_fields),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_many_pieces),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_truncated_varint),
		cmocka_unit_test(test_long_varint),
		cmocka_unit_test(test_length_past_end),
		cmocka_unit_test(test_bad_wire_types),
		cmocka_unit_test(test_truncated_fixed),
		cmocka_unit_test(test_bad_piece_text),
		cmocka_unit_test(test_bad_piece_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
