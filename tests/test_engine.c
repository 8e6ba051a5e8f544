/* test_engine.c - the byte-range engine over memory sources: every view,
 * op and conversion against a naive reference, and random ranges of every
 * tensor and of the whole file against slices of a full read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "plan.h"
#include "testutil.h"

#define MAXT 12

struct fixture {
	struct gg_outfile f;
	struct gg_view views[MAXT]; /* views as built, before coalescing */
	void *bufs[32];
	size_t nbufs;
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	return xorshift64(&rng_state);
}

static float rnd_float(void)
{
	return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 4.0 - 2.0);
}

static void *make_source(struct fixture *fx, enum gg_type type, uint64_t n)
{
	size_t sz = gg_type_size(type);
	uint8_t *p = malloc(n * sz);
	for (uint64_t i = 0; i < n; i++) {
		float v = rnd_float();
		uint16_t h = type == GG_TYPE_F16 ? gg_f32_to_f16(v) : gg_f32_to_bf16(v);
		if (type == GG_TYPE_F32)
			memcpy(p + i * 4, &v, 4);
		else
			memcpy(p + i * 2, &h, 2);
	}
	fx->bufs[fx->nbufs++] = p;
	return p;
}

static struct gg_tensor *add(struct fixture *fx, const char *name,
			     enum gg_type out, const uint64_t *shape, int nd,
			     enum gg_type stype, const uint64_t *sshape, int snd,
			     size_t nsrc)
{
	gg_err e;
	struct gg_tensor *t = gg_outfile_add(&fx->f, name, out, shape, nd, &e);
	assert_non_null(t);
	uint64_t n = 1;
	for (int d = 0; d < snd; d++)
		n *= sshape[d];
	t->srcs = calloc(nsrc, sizeof *t->srcs);
	t->nsrc = nsrc;
	for (size_t s = 0; s < nsrc; s++)
		t->srcs[s] = (struct gg_src){ .mem = make_source(fx, stype, n),
					      .type = stype, .nelem = n };
	gg_view_init(&t->view, sshape, snd);
	return t;
}

static float to_f32(enum gg_type t, const uint8_t *p)
{
	uint16_t h;
	float f;
	if (t == GG_TYPE_F32) {
		memcpy(&f, p, 4);
		return f;
	}
	memcpy(&h, p, 2);
	return t == GG_TYPE_F16 ? gg_f16_to_f32(h) : gg_bf16_to_f32(h);
}

static void from_f32(enum gg_type t, float f, uint8_t *p)
{
	uint16_t h;
	if (t == GG_TYPE_F32) {
		memcpy(p, &f, 4);
		return;
	}
	h = t == GG_TYPE_F16 ? gg_f32_to_f16(f) : gg_f32_to_bf16(f);
	memcpy(p, &h, 2);
}

/* The obvious, slow computation of tensor k's bytes. */
static uint8_t *reference(const struct fixture *fx, size_t k)
{
	const struct gg_tensor *t = &fx->f.tensors[k];
	const struct gg_view *v = &fx->views[k];
	size_t osz = gg_type_size(t->type);
	uint8_t *out = malloc(t->nbytes);
	uint64_t per = t->nelem / t->nsrc;
	for (uint64_t i = 0; i < t->nelem; i++) {
		const struct gg_src *s = &t->srcs[i / per];
		uint64_t el = view_source_index(v, i % per);
		float x = to_f32(s->type, (const uint8_t *)s->mem + el * gg_type_size(s->type));
		if (t->op == GG_OP_TANH)
			x = tanhf(x);
		else if (t->op == GG_OP_ONE_MINUS_TANH)
			x = 1.0f - tanhf(x);
		if (s->type == t->type && t->op == GG_OP_NONE)
			memcpy(out + i * osz, (const uint8_t *)s->mem + el * osz, osz);
		else
			from_f32(t->type, x, out + i * osz);
	}
	return out;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	gg_err e;
	fx->f.name = gg_strdup("test.gguf");
	fx->f.alignment = 32;
	fx->f.kvs = gguf_kvs_new();
	gguf_kvs_set_str(fx->f.kvs, "general.architecture", "test");

	const uint64_t qs[2] = { 12, 5 };
	struct gg_tensor *t = add(fx, "blk.0.attn_q.weight", GG_TYPE_F16, qs, 2,
				  GG_TYPE_F32, qs, 2, 1);
	assert_int_equal(gg_view_rotary(&t->view, 3, &e), 0);

	const uint64_t es[3] = { 2, 3, 8 }, eo[3] = { 2, 4, 3 };
	t = add(fx, "blk.0.ffn_up_exps.weight", GG_TYPE_BF16, eo, 3, GG_TYPE_BF16, es, 3, 1);
	assert_int_equal(gg_view_slice(&t->view, 2, 4, 4, &e), 0);
	assert_int_equal(gg_view_swap(&t->view, 1, 2, &e), 0);

	const uint64_t ss[2] = { 4, 6 }, so[3] = { 3, 4, 6 };
	add(fx, "blk.1.ffn_down_exps.weight", GG_TYPE_F32, so, 3, GG_TYPE_F32, ss, 2, 3);

	const uint64_t d7[1] = { 7 }, d9[1] = { 9 }, d15[2] = { 5, 3 }, d3[2] = { 3, 5 };
	t = add(fx, "v.gate_tanh", GG_TYPE_F32, d7, 1, GG_TYPE_F16, d7, 1, 1);
	t->op = GG_OP_TANH;
	t = add(fx, "v.gate_one_minus", GG_TYPE_F16, d9, 1, GG_TYPE_F32, d9, 1, 1);
	t->op = GG_OP_ONE_MINUS_TANH;
	add(fx, "token_embd.weight", GG_TYPE_F32, d15, 2, GG_TYPE_BF16, d15, 2, 1);
	/* A plain transpose read through a 2-byte output (gather path). */
	t = add(fx, "output.weight", GG_TYPE_F16, d3, 2, GG_TYPE_BF16, d15, 2, 1);
	assert_int_equal(gg_view_swap(&t->view, 0, 1, &e), 0);

	/* Transposes large enough to span several tiles both ways. */
	const uint64_t ta[2] = { 37, 300 }, tb[2] = { 300, 37 };
	t = add(fx, "blk.2.tall", GG_TYPE_F16, tb, 2, GG_TYPE_BF16, ta, 2, 1);
	assert_int_equal(gg_view_swap(&t->view, 0, 1, &e), 0);
	t = add(fx, "blk.2.wide", GG_TYPE_F32, ta, 2, GG_TYPE_F32, tb, 2, 1);
	assert_int_equal(gg_view_swap(&t->view, 0, 1, &e), 0);

	fx->f.sort_tensors = false; /* keep views[] aligned with tensors[] */
	for (size_t i = 0; i < fx->f.ntensors; i++)
		fx->views[i] = fx->f.tensors[i].view;
	assert_int_equal(gg_outfile_finish(&fx->f, &e), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	gg_outfile_clear(&fx->f);
	for (size_t i = 0; i < fx->nbufs; i++)
		free(fx->bufs[i]);
	free(fx);
	return 0;
}

static void test_whole_tensors_match_reference(void **state)
{
	struct fixture *fx = *state;
	gg_err e;
	for (size_t k = 0; k < fx->f.ntensors; k++) {
		const struct gg_tensor *t = &fx->f.tensors[k];
		uint8_t *want = reference(fx, k), *got = malloc(t->nbytes);
		assert_int_equal(gg_tensor_read(&fx->f, t, 0, t->nbytes, got, &e), 0);
		assert_memory_equal(got, want, t->nbytes);
		free(want);
		free(got);
	}
}

static void test_random_ranges_match_slices(void **state)
{
	struct fixture *fx = *state;
	gg_err e;
	for (size_t k = 0; k < fx->f.ntensors; k++) {
		const struct gg_tensor *t = &fx->f.tensors[k];
		uint8_t *whole = reference(fx, k), *got = malloc(t->nbytes);
		for (int r = 0; r < 2000; r++) {
			uint64_t off = rnd() % t->nbytes;
			size_t len = (size_t)(rnd() % (t->nbytes - off + 1));
			memset(got, 0xAA, t->nbytes);
			assert_int_equal(gg_tensor_read(&fx->f, t, off, len, got, &e), 0);
			assert_memory_equal(got, whole + off, len);
		}
		free(whole);
		free(got);
	}
}

static void test_file_ranges(void **state)
{
	struct fixture *fx = *state;
	const struct gg_outfile *f = &fx->f;
	gg_err e;
	uint8_t *whole = calloc(1, f->size), *got = malloc(f->size);
	memcpy(whole, f->header, f->header_len);
	for (size_t k = 0; k < f->ntensors; k++) {
		uint8_t *t = reference(fx, k);
		memcpy(whole + f->tensors[k].offset, t, f->tensors[k].nbytes);
		free(t);
	}
	assert_int_equal(gg_outfile_read(f, 0, f->size, got, &e), 0);
	assert_memory_equal(got, whole, f->size);
	for (int r = 0; r < 3000; r++) {
		uint64_t off = rnd() % f->size;
		size_t len = (size_t)(rnd() % (f->size - off + 1));
		assert_int_equal(gg_outfile_read(f, off, len, got, &e), 0);
		assert_memory_equal(got, whole + off, len);
	}
	assert_int_equal(gg_outfile_read(f, f->size - 1, 2, got, &e), -5);
	free(whole);
	free(got);
}

/* The caller's reader sees each tensor piece once, in file order, within
 * its tensor; its bytes and errors are what gg_outfile_read_with returns. */
struct rec {
	size_t calls, last_ti;
	uint64_t bytes, last_end;
	int fail_at; /* call number that fails with -ENOSPC, or -1 */
};

static int rec_reader(void *arg, const struct gg_outfile *f, size_t ti,
		      uint64_t off, size_t len, void *buf, gg_err *e)
{
	struct rec *r = arg;
	const struct gg_tensor *t = &f->tensors[ti];
	assert_true(ti < f->ntensors);
	assert_true(len > 0 && off + len <= t->nbytes);
	assert_true(t->offset + off >= r->last_end); /* forward only */
	r->last_end = t->offset + off + len;
	r->bytes += len;
	if ((int)r->calls++ == r->fail_at)
		return -ENOSPC;
	return gg_tensor_read(f, t, off, len, buf, e);
}

struct span { uint64_t bytes; size_t calls; };

static int count_piece(void *arg, size_t ti, uint64_t toff, uint64_t tlen)
{
	(void)ti; (void)toff;
	struct span *s = arg;
	s->bytes += tlen;
	s->calls++;
	return 0;
}

/* Bytes of tensors inside [off, off+len). */
static uint64_t tensor_overlap(const struct gg_outfile *f, uint64_t off,
			       uint64_t len)
{
	uint64_t n = 0;
	for (size_t k = 0; k < f->ntensors; k++) {
		uint64_t a = f->tensors[k].offset, b = a + f->tensors[k].nbytes;
		uint64_t lo = a > off ? a : off, hi = b < off + len ? b : off + len;
		if (hi > lo)
			n += hi - lo;
	}
	return n;
}

static void test_read_with_reader(void **state)
{
	struct fixture *fx = *state;
	const struct gg_outfile *f = &fx->f;
	gg_err e = {{0}};
	uint8_t *whole = malloc(f->size), *got = malloc(f->size);
	assert_int_equal(gg_outfile_read(f, 0, f->size, whole, &e), 0);
	for (int r = 0; r < 2000; r++) {
		uint64_t off = r ? rnd() % f->size : 0;
		size_t len = r ? (size_t)(rnd() % (f->size - off + 1)) : f->size;
		struct rec rc = { .fail_at = -1 };
		memset(got, 0xAB, f->size);
		assert_int_equal(gg_outfile_read_with(f, off, len, got, rec_reader,
						      &rc, &e), 0);
		assert_memory_equal(got, whole + off, len);
		uint64_t want = tensor_overlap(f, off, len);
		assert_int_equal(rc.bytes, want);
		struct span sp = {0};
		assert_int_equal(gg_outfile_for_tensors(f, off, len, count_piece, &sp), 0);
		assert_int_equal(sp.bytes, want);
		assert_int_equal(sp.calls, rc.calls);
	}
	struct rec bad = { .fail_at = 1 };
	assert_int_equal(gg_outfile_read_with(f, 0, f->size, got, rec_reader, &bad,
					      &e), -ENOSPC);
	assert_int_equal(bad.calls, 2); /* stopped at the failing piece */
	free(whole);
	free(got);
}

static void test_copy_detection(void **state)
{
	struct fixture *fx = *state;
	/* Memory sources are never byte copies: only safetensors ranges are. */
	for (size_t k = 0; k < fx->f.ntensors; k++)
		assert_false(fx->f.tensors[k].is_copy);
	assert_int_equal(gg_outfile_tensor_at(&fx->f, 0), -1);
	assert_int_equal(gg_outfile_tensor_at(&fx->f, fx->f.tensors[2].offset + 1), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_tensors_match_reference),
		cmocka_unit_test(test_random_ranges_match_slices),
		cmocka_unit_test(test_file_ranges),
		cmocka_unit_test(test_read_with_reader),
		cmocka_unit_test(test_copy_detection),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
