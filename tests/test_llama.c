/* test_llama.c - the Llama converter's rules, pinned on the fixtures made by
 * tests/fixtures/make-fixtures.mjs (root in $GGUFFS_FIXTURES). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "engine.h"
#include "gguf_reader.h"
#include "llama_common.h"
#include "model.h"
#include "testutil.h"

static void sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Ollama's convert/testdata/Meta-Llama-3.1-8B-Instruct.json pins the
 * sha256 of its rope_freqs.weight; the same arithmetic must give it. */
static void test_rope_factors_match_ollama_hash(void **state)
{
	(void)state;
	struct llama_rope hp = { .hidden_size = 4096, .num_attention_heads = 32,
				 .rope_theta = 500000.0f, .rope_type = "llama3",
				 .factor = 8, .low_freq_factor = 1, .high_freq_factor = 4,
				 .original_max_position_embeddings = 8192 };
	float f[64];
	assert_int_equal(llama_rope_factors(&hp, 128, f), 64);
	char hex[65];
	sha256_hex(f, sizeof f, hex);
	assert_string_equal(hex, "80fd5efb2f729381785b293a091a268cfeceb0079167f6ece9b07070e662b222");
	hp.rope_type = "Llama3"; /* exact case, as Ollama */
	assert_int_equal(llama_rope_factors(&hp, 128, f), 0);
}

static void test_ollama_kv(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("llama-bf16-3shard-rope3", GG_PROFILE_OLLAMA);
	const struct gg_outfile *f = &m->files[0];
	const char *keys[] = {
		"general.architecture", "general.file_type",
		"general.quantization_version", "llama.attention.head_count",
		"llama.attention.head_count_kv",
		"llama.attention.layer_norm_rms_epsilon", "llama.block_count",
		"llama.context_length", "llama.embedding_length",
		"llama.feed_forward_length", "llama.rope.dimension_count",
		"llama.rope.freq_base", "llama.vocab_size",
		"tokenizer.chat_template", "tokenizer.ggml.bos_token_id",
		"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eos_token_ids",
		"tokenizer.ggml.merges", "tokenizer.ggml.model",
		"tokenizer.ggml.pre", "tokenizer.ggml.scores",
		"tokenizer.ggml.token_type", "tokenizer.ggml.tokens",
	};
	assert_int_equal(f->kvs->n, sizeof keys / sizeof *keys);
	for (size_t i = 0; i < f->kvs->n; i++)
		assert_string_equal(f->kvs->kv[i].key, keys[i]);
	assert_kv_str(f, "general.architecture", "llama");
	assert_kv_u32(f, "general.file_type", 1); /* even though tensors are BF16 */
	assert_kv_u32(f, "general.quantization_version", 2);
	assert_kv_u32(f, "llama.attention.head_count", 4);
	assert_kv_u32(f, "llama.attention.head_count_kv", 2);
	assert_kv_f32(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	assert_kv_u32(f, "llama.block_count", 2);
	assert_kv_u32(f, "llama.context_length", 131072);
	assert_kv_u32(f, "llama.embedding_length", 64);
	assert_kv_u32(f, "llama.feed_forward_length", 128);
	assert_kv_u32(f, "llama.rope.dimension_count", 16);
	assert_kv_f32(f, "llama.rope.freq_base", 500000.0f);
	assert_kv_u32(f, "llama.vocab_size", 128256);
	assert_kv_str(f, "tokenizer.ggml.model", "gpt2");
	assert_kv_str(f, "tokenizer.ggml.pre", "llama-bpe");
	assert_kv_u32(f, "tokenizer.ggml.bos_token_id", 128000);
	assert_kv_u32(f, "tokenizer.ggml.eos_token_id", 128001);
	const struct gguf_kv *ids = kv_get(f, "tokenizer.ggml.eos_token_ids");
	assert_int_equal(ids->type, GGUF_VT_ARRAY);
	assert_int_equal(ids->arr_type, GGUF_VT_I32);
	assert_int_equal(ids->arr_n, 3);
	assert_int_equal(((int32_t *)ids->arr)[2], 128009);
	const struct gguf_kv *tokens = kv_get(f, "tokenizer.ggml.tokens");
	assert_int_equal(tokens->arr_type, GGUF_VT_STRING);
	assert_int_equal(tokens->arr_n, 128256);
	assert_int_equal(kv_get(f, "tokenizer.ggml.merges")->arr_n, 280147);
	assert_int_equal(kv_get(f, "tokenizer.ggml.scores")->arr_type, GGUF_VT_F32);
	assert_int_equal(kv_get(f, "tokenizer.ggml.token_type")->arr_type, GGUF_VT_I32);
	gg_model_close(m);
}

static void test_ollama_tensor_table(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("llama-bf16-3shard-rope3", GG_PROFILE_OLLAMA);
	const struct gg_outfile *f = &m->files[0];
	const char *per_block[] = { "attn_k.weight", "attn_norm.weight",
				    "attn_output.weight", "attn_q.weight",
				    "attn_v.weight", "ffn_down.weight",
				    "ffn_gate.weight", "ffn_norm.weight",
				    "ffn_up.weight" };
	const char *tail[] = { "output.weight", "output_norm.weight",
			       "rope_freqs.weight", "token_embd.weight" };
	assert_int_equal(f->ntensors, 2 * 9 + 4);
	uint64_t off = f->header_len;
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		char want[64];
		if (i < 18)
			snprintf(want, sizeof want, "blk.%zu.%s", i / 9, per_block[i % 9]);
		else
			snprintf(want, sizeof want, "%s", tail[i - 18]);
		assert_string_equal(t->name, want);
		assert_int_equal(t->offset, off);
		off += (t->nbytes + 31) / 32 * 32;
		bool norm = strstr(t->name, "norm") || strstr(t->name, "rope_freqs");
		assert_int_equal(t->type, norm ? GG_TYPE_F32 : GG_TYPE_BF16);
		assert_int_equal(t->n_dims, norm ? 1 : 2);
		bool permuted = strstr(t->name, "attn_q.") || strstr(t->name, "attn_k.");
		assert_int_equal(t->is_copy, !norm && !permuted);
	}
	const struct gg_tensor *last = &f->tensors[f->ntensors - 1];
	assert_int_equal(f->size, last->offset + last->nbytes);
	const struct gg_tensor *q = &f->tensors[3], *k = &f->tensors[0];
	assert_int_equal(q->ne[0], 64);
	assert_int_equal(q->ne[1], 64);
	assert_int_equal(k->ne[0], 64);
	assert_int_equal(k->ne[1], 32);
	assert_int_equal(last->ne[0], 64);
	assert_int_equal(last->ne[1], 128256);
	gg_model_close(m);
}

/* The bytes of a source tensor (pread from its shard) and of an output
 * tensor of model.gguf (through the engine), with their lengths. */
static uint8_t *read_source_n(const struct gg_model *m, const char *name, size_t *n)
{
	const struct st_tensor *st;
	uint8_t *buf = read_source(m, name, &st);
	*n = st->nbytes;
	return buf;
}

static uint8_t *read_tensor(const struct gg_model *m, const char *name, size_t *n)
{
	const struct gg_tensor *t = output_tensor(&m->files[0], name);
	*n = t->nbytes;
	return read_output(&m->files[0], t);
}

/* Every output row r holds source row rotary_source_row(r). */
static void assert_rows_permuted(const uint8_t *src, const uint8_t *out,
				 size_t rows, size_t row_bytes, size_t heads)
{
	for (size_t r = 0; r < rows; r++)
		assert_memory_equal(out + r * row_bytes,
				    src + rotary_source_row(r, rows, heads) * row_bytes,
				    row_bytes);
}

static void test_qk_permutation_bytes(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("llama-bf16-3shard-rope3", GG_PROFILE_OLLAMA);
	size_t ns, no;
	uint8_t *src = read_source_n(m, "model.layers.1.self_attn.q_proj.weight", &ns);
	uint8_t *out = read_tensor(m, "blk.1.attn_q.weight", &no);
	assert_int_equal(ns, no);
	assert_rows_permuted(src, out, 64, 64 * 2, 4);
	assert_memory_not_equal(src, out, ns);
	free(src);
	free(out);
	src = read_source_n(m, "model.layers.0.self_attn.k_proj.weight", &ns);
	out = read_tensor(m, "blk.0.attn_k.weight", &no);
	assert_rows_permuted(src, out, 32, 64 * 2, 2); /* k: num_key_value_heads */
	free(src);
	free(out);
	/* Byte copies are the source bytes. */
	src = read_source_n(m, "model.layers.0.mlp.down_proj.weight", &ns);
	out = read_tensor(m, "blk.0.ffn_down.weight", &no);
	assert_int_equal(ns, no);
	assert_memory_equal(src, out, ns);
	free(src);
	free(out);
	/* BF16 norms become exact F32. */
	src = read_source_n(m, "model.norm.weight", &ns);
	out = read_tensor(m, "output_norm.weight", &no);
	assert_int_equal(no, ns * 2);
	for (size_t i = 0; i < ns / 2; i++) {
		float f;
		memcpy(&f, out + 4 * i, 4);
		assert_true(f == bf16_to_float(u16_at(src, i)));
	}
	free(src);
	free(out);
	gg_model_close(m);
}

static void test_rope_freqs_tensor(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("llama-bf16-3shard-rope3", GG_PROFILE_OLLAMA);
	size_t n;
	float *f = (float *)read_tensor(m, "rope_freqs.weight", &n);
	assert_int_equal(n, 8 * sizeof(float)); /* hidden/heads/2 */
	/* theta 500000, dim 16: wavelengths 6.3 .. 607k against 2048 and 8192. */
	for (int i = 0; i < 4; i++)
		assert_true(f[i] == 1.0f);
	double lambda = 2 * M_PI * pow(500000.0, 8.0 / 16.0);
	float smooth = (8192.0f / (float)lambda - 1.0f) / 3.0f;
	assert_true(f[4] == 1.0f / ((1.0f - smooth) / 8.0f + smooth));
	assert_true(f[4] > 1.0f && f[4] < 8.0f);
	for (int i = 5; i < 8; i++)
		assert_true(f[i] == 8.0f);
	free(f);
	gg_model_close(m);
}

/* Writing the header and parsing it back gives the same table. */
static void test_header_round_trip(void **state)
{
	(void)state;
	struct gg_model *m = open_fixture("llama-bf16-3shard-rope3", GG_PROFILE_OLLAMA);
	const struct gg_outfile *f = &m->files[0];
	struct gguf_file *g;
	gg_err e;
	assert_int_equal(gguf_read_mem(f->header, f->header_len, f->size, "mem", &g, &e), 0);
	assert_int_equal(g->version, 3);
	assert_int_equal(g->data_offset, f->header_len);
	assert_int_equal(g->ntensors, f->ntensors);
	assert_int_equal(g->kvs->n, f->kvs->n);
	for (size_t i = 0; i < f->ntensors; i++) {
		assert_string_equal(g->tensors[i].name, f->tensors[i].name);
		assert_int_equal(g->tensors[i].offset + g->data_offset, f->tensors[i].offset);
		assert_int_equal(g->tensors[i].type, f->tensors[i].type);
	}
	gguf_file_free(g);
	gg_model_close(m);
}

static void test_llamacpp_profile_departures(void **state)
{
	(void)state;
	struct gg_model *o = open_fixture("llama-hd", GG_PROFILE_OLLAMA);
	struct gg_model *l = open_fixture("llama-hd", GG_PROFILE_LLAMACPP);
	const struct gg_outfile *fo = &o->files[0], *fl = &l->files[0];
	assert_kv_u32(fo, "llama.rope.dimension_count", 16); /* hidden / heads */
	assert_kv_u32(fl, "llama.rope.dimension_count", 32); /* head_dim */
	assert_kv_u32(fl, "llama.attention.key_length", 32);
	assert_non_null(gg_outfile_find((struct gg_outfile *)fo,
					"blk.0.self_attn.rotary_emb.inv_freq"));
	assert_null(gg_outfile_find((struct gg_outfile *)fl,
				    "blk.0.self_attn.rotary_emb.inv_freq"));
	assert_int_equal(fo->ntensors, fl->ntensors + 2);
	size_t ns, no, nl;
	uint8_t *src = read_source_n(l, "model.layers.0.self_attn.q_proj.bias", &ns);
	uint8_t *ob = read_tensor(o, "blk.0.attn_q.bias", &no);
	uint8_t *lb = read_tensor(l, "blk.0.attn_q.bias", &nl);
	assert_memory_equal(ob, src, ns); /* F32 bias, untouched by Ollama */
	assert_rows_permuted(src, lb, 128, 4, 4);
	free(src);
	free(ob);
	free(lb);
	src = read_source_n(l, "model.layers.1.self_attn.k_proj.bias", &ns);
	lb = read_tensor(l, "blk.1.attn_k.bias", &nl);
	assert_rows_permuted(src, lb, 64, 4, 2);
	free(src);
	free(lb);
	gg_model_close(o);
	gg_model_close(l);
}

/* Keys the llamacpp profile adds or sets apart (naming.h): the names
 * convert_hf_to_gguf.py writes and its general.file_type. */
static bool naming_key(const char *k)
{
	return strncmp(k, "general.", 8) == 0 &&
	       strcmp(k, "general.architecture") != 0 &&
	       strcmp(k, "general.quantization_version") != 0;
}

static void assert_same_kv(const struct gguf_kv *a, const struct gguf_kv *b)
{
	assert_string_equal(a->key, b->key);
	assert_int_equal(a->type, b->type);
	if (a->type == GGUF_VT_STRING) {
		assert_int_equal(a->str.n, b->str.n);
		assert_memory_equal(a->str.s, b->str.s, a->str.n);
	} else if (a->type == GGUF_VT_ARRAY) {
		assert_int_equal(a->arr_type, b->arr_type);
		assert_int_equal(a->arr_n, b->arr_n);
		for (uint64_t i = 0; a->arr_type == GGUF_VT_STRING && i < a->arr_n; i++) {
			const struct gguf_str *x = &((const struct gguf_str *)a->arr)[i];
			const struct gguf_str *y = &((const struct gguf_str *)b->arr)[i];
			assert_int_equal(x->n, y->n);
			assert_memory_equal(x->s, y->s, x->n);
		}
		if (a->arr_type != GGUF_VT_STRING && a->arr_n)
			assert_memory_equal(a->arr, b->arr, a->arr_n * gguf_vtype_size(a->arr_type));
	} else {
		assert_memory_equal(&a->v, &b->v, sizeof a->v);
	}
}

static void test_profiles_agree_on_plain_llama(void **state)
{
	(void)state;
	struct gg_model *o = open_fixture("llama-bf16-3shard-rope3", GG_PROFILE_OLLAMA);
	struct gg_model *l = open_fixture("llama-bf16-3shard-rope3", GG_PROFILE_LLAMACPP);
	const struct gg_outfile *fo = &o->files[0], *fl = &l->files[0];
	/* Every key but the names, and every tensor, byte for byte. */
	size_t shared = 0;
	for (size_t i = 0; i < fo->kvs->n; i++) {
		const struct gguf_kv *a = &fo->kvs->kv[i];
		if (naming_key(a->key))
			continue;
		const struct gguf_kv *b = gguf_kvs_get(fl->kvs, a->key);
		assert_non_null(b);
		assert_same_kv(a, b);
		shared++;
	}
	for (size_t i = 0; i < fl->kvs->n; i++)
		shared -= !naming_key(fl->kvs->kv[i].key);
	assert_int_equal(shared, 0);
	assert_kv_u32(fo, "general.file_type", 1);
	assert_kv_u32(fl, "general.file_type", 32);
	assert_int_equal(fo->ntensors, fl->ntensors);
	assert_int_equal(fo->size - fo->header_len, fl->size - fl->header_len);
	for (size_t i = 0; i < fo->ntensors; i++) {
		const struct gg_tensor *a = &fo->tensors[i], *b = &fl->tensors[i];
		assert_string_equal(a->name, b->name);
		assert_int_equal(a->type, b->type);
		assert_memory_equal(a->ne, b->ne, sizeof a->ne);
		assert_int_equal(a->offset - fo->header_len, b->offset - fl->header_len);
		uint8_t *x = read_output(fo, a), *y = read_output(fl, b);
		assert_memory_equal(x, y, a->nbytes);
		free(x);
		free(y);
	}
	gg_model_close(o);
	gg_model_close(l);
}

static void test_open_errors(void **state)
{
	(void)state;
	struct gg_options opt = { 0 };
	struct gg_model *m;
	gg_err e;
	assert_int_equal(gg_model_open("/nonexistent-gguffs", &opt, &m, &e), -1);
	assert_non_null(strstr(e.msg, "No such file"));
	assert_int_equal(gg_model_open("/etc/hostname", &opt, &m, &e), -1);
	assert_non_null(strstr(e.msg, "not a directory"));
	char *dir = make_temp_dir("llama");
	assert_int_equal(gg_model_open(dir, &opt, &m, &e), -1);
	assert_non_null(strstr(e.msg, "config.json"));
	write_text(dir, "config.json", "{\"architectures\": [\"MagicForCausalLM\"]}");
	assert_int_equal(gg_model_open(dir, &opt, &m, &e), -1);
	assert_non_null(strstr(e.msg, "unsupported architecture 'MagicForCausalLM'"));
	assert_non_null(strstr(e.msg, "LlamaForCausalLM"));
	write_text(dir, "config.json",
		   "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": \"big\"}");
	assert_int_equal(gg_model_open(dir, &opt, &m, &e), -1);
	remove_tree(dir);
	free(dir);
}

static size_t count_entries(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls %s | grep -c '^tok-.*\\.gguf$'", dir);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

static uint8_t *header_copy(const char *dir, size_t *len)
{
	struct gg_model *m = open_model_dir(dir, GG_PROFILE_LLAMACPP);
	*len = m->files[0].header_len;
	uint8_t *h = malloc(*len);
	memcpy(h, m->files[0].header, *len);
	gg_model_close(m);
	return h;
}

static void assert_same_header(const char *dir, const uint8_t *want, size_t len)
{
	size_t n;
	uint8_t *h = header_copy(dir, &n);
	assert_int_equal(n, len);
	assert_memory_equal(h, want, len);
	free(h);
}

/* The tokenizer cache (tokcache.h) gives the bytes parsing gives, is used
 * when it matches, and is bypassed when a tokenizer file changes or the
 * entry is damaged. */
static void test_tokenizer_cache(void **state)
{
	(void)state;
	char *cache = make_temp_dir("tokcache"), *work = make_temp_dir("tokmodel");
	char cmd[1024], *src = fixture_path("llama-spm");
	snprintf(cmd, sizeof cmd, "cp -r %s/. %s/", src, work);
	assert_int_equal(system(cmd), 0);
	setenv("GGUFFS_CACHE_DIR", "off", 1);
	size_t len;
	uint8_t *parsed = header_copy(work, &len);
	setenv("GGUFFS_CACHE_DIR", cache, 1);
	assert_same_header(work, parsed, len); /* miss: parses and stores */
	assert_int_equal(count_entries(cache), 1);
	assert_same_header(work, parsed, len); /* hit */
	assert_int_equal(count_entries(cache), 1);

	/* A hit really is read from the cache: plant a one-token entry. */
	snprintf(cmd, sizeof cmd, "ls %s/tok-*.gguf", cache);
	FILE *p = popen(cmd, "r");
	char entry[512];
	assert_non_null(fgets(entry, sizeof entry, p));
	pclose(p);
	entry[strcspn(entry, "\n")] = 0;
	struct gguf_kvs *fake = gguf_kvs_new();
	const char *one = "x";
	gguf_kvs_set_arr_str(fake, "tokenizer.ggml.tokens", &one, NULL, 1);
	size_t flen;
	uint8_t *bytes = gguf_write_header(fake, NULL, 0, 32, &flen);
	FILE *fp = fopen(entry, "wb");
	fwrite(bytes, 1, flen, fp);
	fclose(fp);
	free(bytes);
	gguf_kvs_free(fake);
	/* One token against 512 embedding rows: llama.cpp would refuse the
	 * file, and so does the open, naming the shape the entry implies. */
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP };
	struct gg_model *m = NULL;
	gg_err e;
	assert_int_equal(gg_model_open(work, &opt, &m, &e), -1);
	if (!strstr(e.msg, "has shape {64, 512}") || !strstr(e.msg, "expects {64, 1}"))
		fail_msg("%s", e.msg);

	/* A damaged entry falls back to parsing. */
	assert_int_equal(truncate(entry, 10), 0);
	assert_same_header(work, parsed, len);

	/* Touching a tokenizer file makes a new entry. */
	sleep(1);
	snprintf(cmd, sizeof cmd, "touch %s/tokenizer_config.json", work);
	assert_int_equal(system(cmd), 0);
	size_t before = count_entries(cache);
	assert_same_header(work, parsed, len);
	assert_int_equal(count_entries(cache), before + 1);

	unsetenv("GGUFFS_CACHE_DIR");
	free(parsed);
	free(src);
	remove_tree(work);
	remove_tree(cache);
	free(work);
	free(cache);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rope_factors_match_ollama_hash),
		cmocka_unit_test(test_ollama_kv),
		cmocka_unit_test(test_ollama_tensor_table),
		cmocka_unit_test(test_qk_permutation_bytes),
		cmocka_unit_test(test_rope_freqs_tensor),
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_llamacpp_profile_departures),
		cmocka_unit_test(test_profiles_agree_on_plain_llama),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_tokenizer_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
