/* test_lora.c - the LoRA adapter converter (convert/arch_lora.c), pinned on
 * the adapters made by tests/fixtures/make-lora.mjs for the base fixture
 * llama-f32-tied (root in $GGUFFS_FIXTURES).
 *
 * Every byte check compares the engine's output with a reference built here
 * element by element from the source bytes, with the permutations written
 * out as index arithmetic (no views), so a wrong view cannot agree with it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtype.h"
#include "engine.h"
#include "gguf_reader.h"
#include "model.h"
#include "testutil.h"

#define H 64
#define I 128
#define NH 4
#define NKV 2
#define HD 16
#define RANK 4
#define LAYERS 2

/* Open an adapter fixture against `base` (a path, or NULL for the default
 * base fixture directory). Returns -1 and the message on failure. */
static int try_open(const char *name, enum gg_profile p, const char *base,
		    struct gg_model **m, gg_err *e)
{
	char *dir = fixture_path(name);
	char *base_dir = base ? strdup(base) : fixture_path("llama-f32-tied");
	struct gg_options opt = { .profile = p, .base = base_dir };
	int rc = gg_model_open(dir, &opt, m, e);
	free(dir);
	free(base_dir);
	return rc;
}

static struct gg_model *open_adapter(const char *name, enum gg_profile p,
				     const char *base)
{
	struct gg_model *m = NULL;
	gg_err e;
	if (try_open(name, p, base, &m, &e))
		fail_msg("open %s: %s (run tests/run.sh, which makes the fixtures)",
			 name, e.msg);
	return m;
}

static void expect_error(const char *name, enum gg_profile p, const char *base,
			 const char *want1, const char *want2)
{
	struct gg_model *m = NULL;
	gg_err e = { { 0 } };
	int rc = try_open(name, p, base, &m, &e);
	if (rc == 0) {
		gg_model_close(m);
		fail_msg("%s: opened, expected an error mentioning '%s'", name, want1);
	}
	if (!strstr(e.msg, want1) || (want2 && !strstr(e.msg, want2)))
		fail_msg("%s: error '%s' does not mention '%s'%s%s", name, e.msg,
			 want1, want2 ? " and " : "", want2 ? want2 : "");
	assert_null(strchr(e.msg, '\n'));
}

/* ---- KVs ---- */

static void assert_adapter_kv(const struct gg_model *m, float alpha)
{
	assert_int_equal(m->nfiles, 1);
	const struct gg_outfile *f = &m->files[0];
	assert_string_equal(f->name, "adapter.gguf");
	assert_kv_f32(f, "adapter.lora.alpha", alpha);
	assert_kv_str(f, "adapter.type", "lora");
	assert_kv_str(f, "general.architecture", "llama");
	assert_kv_u32(f, "general.file_type", 1);
	assert_kv_str(f, "general.type", "adapter");
	assert_kv_str(f, "general.version", "v0.2");
	assert_kv_u32(f, "llama.attention.head_count", NH);
	assert_kv_u32(f, "llama.attention.head_count_kv", NKV);
	/* Exactly these, sorted byte-wise as Ollama writes them. */
	assert_int_equal(f->kvs->n, 8);
	assert_string_equal(f->kvs->kv[0].key, "adapter.lora.alpha");
	assert_string_equal(f->kvs->kv[7].key, "llama.attention.head_count_kv");
}

static void test_kv(void **state)
{
	(void)state;
	for (int p = GG_PROFILE_LLAMACPP; p <= GG_PROFILE_OLLAMA; p++) {
		struct gg_model *m = open_adapter("lora-llama", p, NULL);
		assert_adapter_kv(m, 8.0f);
		gg_model_close(m);
	}
	/* MLX: lora_parameters.alpha. */
	struct gg_model *m = open_adapter("lora-llama-mlx", GG_PROFILE_LLAMACPP, NULL);
	assert_adapter_kv(m, 8.0f);
	gg_model_close(m);
	/* lora_alpha written as a float (Ollama's uint32 would fail on it). */
	m = open_adapter("lora-alpha-float", GG_PROFILE_LLAMACPP, NULL);
	assert_adapter_kv(m, 12.5f);
	assert_int_equal(m->files[0].ntensors, 2);
	gg_model_close(m);
}

/* ---- the modules: names, shapes, types ---- */

struct module {
	const char *hf, *gguf;
	uint64_t in, out;
	int qk; /* 0, 'q' or 'k' */
};

static const struct module modules[] = {
	{ "self_attn.q_proj", "attn_q", H, NH * HD, 'q' },
	{ "self_attn.k_proj", "attn_k", H, NKV * HD, 'k' },
	{ "self_attn.v_proj", "attn_v", H, NKV * HD, 0 },
	{ "self_attn.o_proj", "attn_output", NH * HD, H, 0 },
	{ "mlp.gate_proj", "ffn_gate", H, I, 0 },
	{ "mlp.up_proj", "ffn_up", H, I, 0 },
	{ "mlp.down_proj", "ffn_down", I, H, 0 },
};
#define NMOD (sizeof modules / sizeof *modules)

static const struct gg_tensor *find(const struct gg_model *m, const char *name)
{
	return output_tensor(&m->files[0], name);
}

static void out_name(char *buf, size_t n, int layer, const struct module *mod, bool b)
{
	snprintf(buf, n, "blk.%d.%s.weight.lora_%c", layer, mod->gguf, b ? 'b' : 'a');
}

static void check_names_shapes(const struct gg_model *m, enum gg_type type)
{
	assert_int_equal(m->files[0].ntensors, LAYERS * NMOD * 2);
	for (int l = 0; l < LAYERS; l++)
		for (size_t k = 0; k < NMOD; k++)
			for (int b = 0; b < 2; b++) {
				char name[128];
				out_name(name, sizeof name, l, &modules[k], b);
				const struct gg_tensor *t = find(m, name);
				assert_int_equal(t->n_dims, 2);
				assert_int_equal(t->type, type);
				/* ne is reversed PyTorch: A [r, in], B [out, r]. */
				assert_int_equal(t->ne[0], b ? RANK : modules[k].in);
				assert_int_equal(t->ne[1], b ? modules[k].out : RANK);
			}
	/* Ollama's order: by block, then name. */
	assert_string_equal(m->files[0].tensors[0].name, "blk.0.attn_k.weight.lora_a");
}

static void test_names_shapes(void **state)
{
	(void)state;
	for (int p = GG_PROFILE_LLAMACPP; p <= GG_PROFILE_OLLAMA; p++) {
		struct gg_model *m = open_adapter("lora-llama", p, NULL);
		check_names_shapes(m, GG_TYPE_F16); /* F32 source -> F16 */
		gg_model_close(m);
		m = open_adapter("lora-llama-mlx", p, NULL);
		check_names_shapes(m, GG_TYPE_BF16); /* BF16 stays BF16 */
		gg_model_close(m);
	}
}

/* ---- bytes against naive references ---- */

/* A source tensor's values as floats (bytes read from its shard). */
static float *source(const struct gg_model *m, const char *name, uint64_t *n)
{
	const struct st_tensor *st;
	uint8_t *p = read_source(m, name, &st);
	float *v = malloc(st->nelem * sizeof *v);
	for (uint64_t i = 0; i < st->nelem; i++) {
		if (st->dtype == GG_TYPE_F32) {
			memcpy(&v[i], p + 4 * i, 4);
		} else {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			v[i] = st->dtype == GG_TYPE_BF16 ? gg_bf16_to_f32(h) : gg_f16_to_f32(h);
		}
	}
	free(p);
	*n = st->nelem;
	return v;
}

enum layout { PEFT, MLX };

/* The expected logical values of one factor.
 * in_heads: Ollama's permutation of A read as [in, r]; out_heads: the
 * llamacpp permutation of B's rows. */
static float *expected(const float *src, enum layout lay, bool b, uint64_t in,
		       uint64_t out, uint64_t in_heads, uint64_t out_heads)
{
	const uint64_t r = RANK;
	float *v = malloc((b ? out : in) * r * sizeof *v);
	if (!b) {
		for (uint64_t i = 0; i < in; i++)
			for (uint64_t j = 0; j < r; j++) {
				uint64_t si = in_heads ? rotary_source_row(i, in, in_heads) : i;
				if (lay == MLX)       /* src [in, r] -> out [r, in] */
					v[j * in + i] = src[si * r + j];
				else if (in_heads)    /* buffer read as [in, r] */
					v[i * r + j] = src[si * r + j];
				else                  /* src [r, in] as is */
					v[j * in + i] = src[j * in + i];
			}
		return v;
	}
	for (uint64_t o = 0; o < out; o++) {
		uint64_t so = out_heads ? rotary_source_row(o, out, out_heads) : o;
		for (uint64_t j = 0; j < r; j++)
			v[o * r + j] = lay == MLX ? src[j * out + so] : src[so * r + j];
	}
	return v;
}

static void check_bytes(const struct gg_model *m, const char *name,
			const float *want, uint64_t n)
{
	const struct gg_outfile *f = &m->files[0];
	const struct gg_tensor *t = find(m, name);
	assert_int_equal(t->nelem, n);
	uint16_t *got = (uint16_t *)read_output(f, t);
	for (uint64_t i = 0; i < n; i++) {
		uint16_t w = t->type == GG_TYPE_F16 ? gg_f32_to_f16(want[i])
						    : gg_f32_to_bf16(want[i]);
		if (got[i] != w)
			fail_msg("%s: element %llu is 0x%04x, want 0x%04x (%g)", name,
				 (unsigned long long)i, got[i], w, (double)want[i]);
	}
	free(got);
}

static void check_profile(const char *fx, enum layout lay, enum gg_profile p)
{
	struct gg_model *m = open_adapter(fx, p, NULL);
	for (int l = 0; l < LAYERS; l++)
		for (size_t k = 0; k < NMOD; k++)
			for (int b = 0; b < 2; b++) {
				const struct module *mod = &modules[k];
				char src_name[160], name[128];
				if (lay == PEFT)
					snprintf(src_name, sizeof src_name,
						 "base_model.model.model.layers.%d.%s.lora_%c.weight",
						 l, mod->hf, b ? 'B' : 'A');
				else
					snprintf(src_name, sizeof src_name,
						 "model.layers.%d.%s.lora_%c", l, mod->hf,
						 b ? 'b' : 'a');
				out_name(name, sizeof name, l, mod, b);
				/* llamacpp: B rows, n_head for q, n_head_kv for k.
				 * ollama: A's input axis, n_head for q AND k. */
				uint64_t in_heads = 0, out_heads = 0;
				if (mod->qk && p == GG_PROFILE_LLAMACPP && b)
					out_heads = mod->qk == 'q' ? NH : NKV;
				if (mod->qk && p == GG_PROFILE_OLLAMA && !b)
					in_heads = NH;
				uint64_t n;
				float *src = source(m, src_name, &n);
				float *want = expected(src, lay, b, mod->in, mod->out,
						       in_heads, out_heads);
				check_bytes(m, name, want, n);
				free(src);
				free(want);
			}
	gg_model_close(m);
}

static void test_bytes_peft_llamacpp(void **state)
{
	(void)state;
	check_profile("lora-llama", PEFT, GG_PROFILE_LLAMACPP);
}

static void test_bytes_peft_ollama(void **state)
{
	(void)state;
	check_profile("lora-llama", PEFT, GG_PROFILE_OLLAMA);
}

static void test_bytes_mlx_llamacpp(void **state)
{
	(void)state;
	check_profile("lora-llama-mlx", MLX, GG_PROFILE_LLAMACPP);
}

static void test_bytes_mlx_ollama(void **state)
{
	(void)state;
	check_profile("lora-llama-mlx", MLX, GG_PROFILE_OLLAMA);
}

/* The profiles differ exactly in the q/k factors. */
static void test_profiles_differ_only_in_qk(void **state)
{
	(void)state;
	struct gg_model *a = open_adapter("lora-llama", GG_PROFILE_LLAMACPP, NULL);
	struct gg_model *b = open_adapter("lora-llama", GG_PROFILE_OLLAMA, NULL);
	const struct gg_outfile *fa = &a->files[0], *fb = &b->files[0];
	assert_int_equal(fa->size, fb->size);
	assert_memory_equal(fa->header, fb->header, fa->header_len);
	int differ = 0;
	for (size_t i = 0; i < fa->ntensors; i++) {
		const struct gg_tensor *t = &fa->tensors[i];
		assert_int_equal(fb->tensors[i].nbytes, t->nbytes);
		uint8_t *x = read_output(fa, t), *y = read_output(fb, &fb->tensors[i]);
		bool qk = strstr(t->name, "attn_q.") || strstr(t->name, "attn_k.");
		bool same = memcmp(x, y, t->nbytes) == 0;
		if (qk == same)
			fail_msg("%s: profiles %s", t->name, same ? "agree" : "differ");
		differ += !same;
		free(x);
		free(y);
	}
	assert_int_equal(differ, LAYERS * 2 * 2);
	gg_model_close(a);
	gg_model_close(b);
}

/* ---- the base as a GGUF file ---- */

static char *tmp_path(const char *tag)
{
	char *p = malloc(64);
	snprintf(p, 64, "/tmp/gguffs-test-lora-%s-XXXXXX", tag);
	int fd = mkstemp(p);
	assert_true(fd >= 0);
	close(fd);
	return p;
}

/* A base model.gguf (what a gguffs mount shows) gives the same adapter as
 * the base's HF directory. */
static void test_base_gguf_file(void **state)
{
	(void)state;
	struct gg_model *base = open_fixture("llama-f32-tied", GG_PROFILE_LLAMACPP);
	char *path = tmp_path("base");
	write_outfile(&base->files[0], path);
	gg_model_close(base);
	gg_err e;
	for (int p = GG_PROFILE_LLAMACPP; p <= GG_PROFILE_OLLAMA; p++) {
		struct gg_model *x = open_adapter("lora-llama", p, NULL);
		struct gg_model *y = open_adapter("lora-llama", p, path);
		char *px = tmp_path("x"), *py = tmp_path("y");
		write_outfile(&x->files[0], px);
		write_outfile(&y->files[0], py);
		char *bx = NULL, *by = NULL;
		size_t nx = 0, ny = 0;
		assert_int_equal(gg_read_file(px, 1 << 24, &bx, &nx, &e), 0);
		assert_int_equal(gg_read_file(py, 1 << 24, &by, &ny, &e), 0);
		assert_int_equal(nx, ny);
		assert_memory_equal(bx, by, nx);
		/* And the written file parses as a GGUF with the same header. */
		struct gguf_file *g = NULL;
		if (gguf_read_file(px, &g, &e))
			fail_msg("reparse: %s", e.msg);
		assert_int_equal(g->ntensors, LAYERS * NMOD * 2);
		assert_non_null(gguf_kvs_get(g->kvs, "adapter.lora.alpha"));
		gguf_file_free(g);
		free(bx);
		free(by);
		unlink(px);
		unlink(py);
		free(px);
		free(py);
		gg_model_close(x);
		gg_model_close(y);
	}
	unlink(path);
	free(path);
}

/* A hand-made base GGUF: chosen KVs and one [64, 64] attn_q tensor of layer
 * 0 (what lora-alpha-float adapts). head counts < 0 are left out. */
static char *fake_base(const char *arch, int head, int head_kv)
{
	struct gguf_kvs *kvs = gguf_kvs_new();
	if (arch)
		gguf_kvs_set_str(kvs, "general.architecture", arch);
	if (head >= 0)
		gguf_kvs_set_u32(kvs, "llama.attention.head_count", (uint32_t)head);
	if (head_kv >= 0)
		gguf_kvs_set_u32(kvs, "llama.attention.head_count_kv", (uint32_t)head_kv);
	struct gguf_tensor_info ti = { .name = "blk.0.attn_q.weight", .type = GG_TYPE_F16,
				       .n_dims = 2, .ne = { H, NH * HD, 1, 1 },
				       .nbytes = H * NH * HD * 2 };
	uint64_t data_size;
	gguf_layout(&ti, 1, GGUF_DEFAULT_ALIGNMENT, false, &data_size);
	size_t len;
	uint8_t *hdr = gguf_write_header(kvs, &ti, 1, GGUF_DEFAULT_ALIGNMENT, &len);
	char *path = tmp_path("fake");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(hdr, 1, len, f), len);
	assert_int_equal(ftruncate(fileno(f), (off_t)(len + data_size)), 0);
	fclose(f);
	free(hdr);
	gguf_kvs_free(kvs);
	return path;
}

static void test_base_errors(void **state)
{
	(void)state;
	struct gg_model *m = NULL;
	gg_err e = { { 0 } };
	char *dir = fixture_path("lora-llama");
	struct gg_options none = { .profile = GG_PROFILE_LLAMACPP };
	assert_int_equal(gg_model_open(dir, &none, &m, &e), -1);
	assert_non_null(strstr(e.msg, "base=... is required"));
	free(dir);

	expect_error("lora-llama", GG_PROFILE_LLAMACPP, "/nonexistent/base",
		     "/nonexistent/base", "No such file");

	char *p = fake_base("gemma2", 8, 4);
	expect_error("lora-alpha-float", GG_PROFILE_LLAMACPP, p,
		     "unsupported base architecture 'gemma2'", NULL);
	unlink(p);
	free(p);

	p = fake_base(NULL, 8, 4);
	expect_error("lora-alpha-float", GG_PROFILE_LLAMACPP, p,
		     "no general.architecture", NULL);
	unlink(p);
	free(p);

	p = fake_base("llama", -1, 2);
	expect_error("lora-alpha-float", GG_PROFILE_LLAMACPP, p,
		     "no llama.attention.head_count", NULL);
	unlink(p);
	free(p);

	/* Without head_count_kv: Ollama fails; llamacpp takes n_head (as
	 * llama.cpp's loader does). */
	p = fake_base("llama", NH, -1);
	expect_error("lora-alpha-float", GG_PROFILE_OLLAMA, p,
		     "head_count_kv", NULL);
	m = open_adapter("lora-alpha-float", GG_PROFILE_LLAMACPP, p);
	assert_kv_u32(&m->files[0], "llama.attention.head_count_kv", NH);
	gg_model_close(m);
	unlink(p);
	free(p);

	/* A base whose heads do not divide the q rows. */
	p = fake_base("llama", 3, 3);
	expect_error("lora-alpha-float", GG_PROFILE_LLAMACPP, p,
		     "q_proj.lora_B.weight", "heads");
	expect_error("lora-alpha-float", GG_PROFILE_OLLAMA, p,
		     "q_proj.lora_A.weight", "heads");
	unlink(p);
	free(p);

	/* Not a GGUF at all. */
	char *cfg = fixture_path("llama-f32-tied/config.json");
	expect_error("lora-llama", GG_PROFILE_LLAMACPP, cfg, "config.json", NULL);
	free(cfg);
}

static void test_adapter_errors(void **state)
{
	(void)state;
	for (int p = GG_PROFILE_LLAMACPP; p <= GG_PROFILE_OLLAMA; p++) {
		expect_error("lora-bad-lm-head", p, NULL, "lm_head.lora_A.weight",
			     "adapter targets lm_head");
		expect_error("lora-bad-embed", p, NULL, "embed_tokens.lora_embedding_A",
			     "adapter targets embed_tokens");
		expect_error("lora-bad-modules-to-save", p, NULL,
			     "'base_model.model.model.norm.weight'", "modules_to_save");
		expect_error("lora-bad-rank", p, NULL, "has rank 4", "has rank 3");
		expect_error("lora-bad-unpaired", p, NULL, "q_proj.lora_A.weight",
			     "no matching lora_B");
		expect_error("lora-bad-layer", p, NULL, "blk.5.attn_q.weight",
			     "base model does not have");
		expect_error("lora-bad-shape", p, NULL, "[64, 48] delta",
			     "is [64, 64]");
	}
}

/* A scratch adapter directory: the given adapter_config.json text and a
 * copy of lora-alpha-float's safetensors (or an empty one). */
static char *scratch_adapter(const char *config, bool empty)
{
	char *dir = make_temp_dir("lora-dir");
	write_text(dir, "adapter_config.json", config);
	if (empty) {
		/* header length 8, then the 8-byte header "{}" padded */
		static const char st[16] = { 8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' ' };
		write_file(dir, "adapter_model.safetensors", st, sizeof st);
	} else {
		char *src = fixture_path("lora-alpha-float/adapter_model.safetensors");
		char *data = NULL;
		size_t len = 0;
		gg_err e;
		if (gg_read_file(src, 1 << 20, &data, &len, &e))
			fail_msg("%s", e.msg);
		write_file(dir, "adapter_model.safetensors", data, len);
		free(data);
		free(src);
	}
	return dir;
}

/* Opens the scratch adapter; want == NULL expects success with alpha. */
static void scratch_case(const char *config, bool empty, const char *want,
			 float alpha)
{
	char *dir = scratch_adapter(config, empty);
	char *base = fixture_path("llama-f32-tied");
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP, .base = base };
	struct gg_model *m = NULL;
	gg_err e = { { 0 } };
	int rc = gg_model_open(dir, &opt, &m, &e);
	if (want) {
		if (rc == 0)
			fail_msg("%s: opened, expected '%s'", config, want);
		if (!strstr(e.msg, want))
			fail_msg("%s: error '%s' lacks '%s'", config, e.msg, want);
	} else {
		if (rc)
			fail_msg("%s: %s", config, e.msg);
		assert_kv_f32(&m->files[0], "adapter.lora.alpha", alpha);
		gg_model_close(m);
	}
	free(base);
	remove_tree(dir);
	free(dir);
}

static void test_config_values(void **state)
{
	(void)state;
	scratch_case("{\"r\": 4, \"lora_alpha\": 8.0}", false, NULL, 8.0f);
	scratch_case("{\"r\": 4, \"lora_alpha\": 16}", false, NULL, 16.0f);
	/* MLX's alpha wins when non-zero, else lora_alpha. */
	scratch_case("{\"lora_alpha\": 16, \"lora_parameters\": {\"rank\": 4, \"alpha\": 2.5}}",
		     false, NULL, 2.5f);
	scratch_case("{\"lora_alpha\": 16, \"lora_parameters\": {\"rank\": 4, \"alpha\": 0}}",
		     false, NULL, 16.0f);
	scratch_case("{\"lora_alpha\": \"8\"}", false, "lora_alpha", 0);
	scratch_case("{\"lora_alpha\": -8}", false, "lora_alpha", 0);
	scratch_case("{\"lora_parameters\": [1]}", false, "lora_parameters", 0);
	scratch_case("{\"lora_parameters\": {\"alpha\": \"x\"}}", false, "alpha", 0);
	scratch_case("{\"lora_alpha\": 8}", true, "no LoRA factors", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_names_shapes),
		cmocka_unit_test(test_bytes_peft_llamacpp),
		cmocka_unit_test(test_bytes_peft_ollama),
		cmocka_unit_test(test_bytes_mlx_llamacpp),
		cmocka_unit_test(test_bytes_mlx_ollama),
		cmocka_unit_test(test_profiles_differ_only_in_qk),
		cmocka_unit_test(test_base_gguf_file),
		cmocka_unit_test(test_base_errors),
		cmocka_unit_test(test_adapter_errors),
		cmocka_unit_test(test_config_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
