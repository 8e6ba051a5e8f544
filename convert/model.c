/* model.c - open a HuggingFace directory as virtual GGUF files (model.h). */
#include "model.h"
#include "outtype.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonutil.h"
#include "tokenizer.h"
#include "tokcache.h"

extern const struct gg_arch gg_arch_llama, gg_arch_llama4, gg_arch_mllama,
	gg_arch_glm4moelite, gg_arch_lora;

const struct gg_arch *const gg_archs[] = {
	&gg_arch_llama,
	&gg_arch_llama4,
	&gg_arch_mllama,
	&gg_arch_glm4moelite,
	NULL,
};

static void tokenizer_job_free(struct gg_tokenizer_job *job);

const struct gg_arch *gg_arch_find(const char *hf_arch)
{
	for (size_t i = 0; gg_archs[i]; i++)
		if (strcmp(gg_archs[i]->hf_arch, hf_arch) == 0)
			return gg_archs[i];
	return NULL;
}

const struct gg_arch *gg_arch_find_gguf(const char *gguf_arch)
{
	for (size_t i = 0; gg_archs[i]; i++)
		if (strcmp(gg_archs[i]->gguf_arch, gguf_arch) == 0)
			return gg_archs[i];
	return NULL;
}

static const char *const profile_names[] = {
	[GG_PROFILE_LLAMACPP] = "llamacpp",
	[GG_PROFILE_OLLAMA] = "ollama",
	[GG_PROFILE_OLLAMA_LEGACY] = "ollama-legacy",
};

const char *gg_profile_name(enum gg_profile p)
{
	return profile_names[p];
}

static int parse_profile(const char *v, enum gg_profile *out, gg_err *e)
{
	for (size_t i = 0; i < sizeof profile_names / sizeof *profile_names; i++) {
		if (strcmp(v, profile_names[i]) == 0) {
			*out = (enum gg_profile)i;
			return 0;
		}
	}
	return gg_fail(e, "unknown profile '%s' (use llamacpp, ollama or ollama-legacy)", v);
}

int gg_options_parse(char *s, struct gg_options *opt, char **rest, gg_err *e)
{
	char *save = NULL, *unknown = NULL;
	size_t ulen = 0;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq && strncmp(tok, "profile", (size_t)(eq - tok)) == 0 && eq - tok == 7) {
			if (parse_profile(eq + 1, &opt->profile, e))
				return -1;
		} else if (eq && eq - tok == 4 && strncmp(tok, "base", 4) == 0) {
			opt->base = eq + 1;
		} else if (eq && eq - tok == 4 && strncmp(tok, "type", 4) == 0) {
			if (gg_ftype_parse(eq + 1, &opt->ftype, e))
				return -1;
			opt->has_ftype = true;
		} else if (eq && eq - tok == 11 && strncmp(tok, "mmproj_type", 11) == 0) {
			if (gg_ftype_parse(eq + 1, &opt->aux_ftype, e) ||
			    gg_outtype_check("mmproj_type", GG_ROLE_AUX, opt->aux_ftype, e))
				return -1;
			opt->has_aux_ftype = true;
		} else if (rest) {
			size_t n = strlen(tok);
			unknown = gg_realloc(unknown, ulen + n + 2);
			if (ulen)
				unknown[ulen++] = ',';
			memcpy(unknown + ulen, tok, n + 1);
			ulen += n;
		} else {
			return gg_fail(e, "unknown option '%s'", tok);
		}
	}
	if (rest)
		*rest = unknown;
	return 0;
}

char *gg_rename(const char *const *pairs, size_t n, const char *in)
{
	size_t cap = strlen(in) * 2 + 16, len = 0;
	char *out = gg_malloc(cap);
	for (const char *p = in; *p;) {
		size_t best = n, oldlen = 1;
		for (size_t i = 0; i < n; i++) {
			const char *old = pairs[2 * i];
			/* First byte before strncmp: most pairs fail there. */
			if (old[0] != *p || !old[0])
				continue;
			size_t k = strlen(old);
			if (strncmp(p, old, k) == 0) {
				best = i, oldlen = k;
				break; /* the earliest-listed match wins */
			}
		}
		const char *add = best < n ? pairs[2 * best + 1] : p;
		size_t addlen = best < n ? strlen(add) : 1;
		if (len + addlen + 1 > cap) {
			cap = (len + addlen + 1) * 2;
			out = gg_realloc(out, cap);
		}
		memcpy(out + len, add, addlen);
		len += addlen;
		p += oldlen;
	}
	out[len] = 0;
	return out;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Names Ollama always stores as F32 (convert/reader.go tensorBase.Kind). */
static bool ollama_always_f32(const char *name)
{
	static const char *const suffixes[] = {
		".ffn_gate_inp.weight", ".bias", ".shortconv.conv.weight",
		".ssm_conv1d.weight", "rel_pos_h", "rel_pos_w",
	};
	static const char *const prefixes[] = {
		"a.feature_extractor.", "a.conv1d.", "a.subsampling.",
	};
	static const char *const exact[] = {
		"token_types.weight", "v.positional_embedding_vlm",
		"v.position_embd.weight", "v.tile_position_embd.weight",
		"v.pre_tile_position_embd.weight", "v.post_tile_position_embd.weight",
		"s.position_embd",
	};
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
		if (has_suffix(name, suffixes[i]))
			return true;
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
		if (has_prefix(name, prefixes[i]))
			return true;
	for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	return strstr(name, ".conv_dw.") != NULL;
}

enum gg_type gg_ollama_kind(const char *name, int ndim, enum gg_type src)
{
	if (ollama_always_f32(name) || ndim <= 1)
		return GG_TYPE_F32;
	/* A BF16 source stays BF16, except vision/projector tensors. */
	if (src == GG_TYPE_BF16 && !has_prefix(name, "v.") &&
	    !has_prefix(name, "s.") && !has_prefix(name, "mm.") &&
	    !strstr(name, "ffn_gate_inp_shexp.weight"))
		return GG_TYPE_BF16;
	return GG_TYPE_F16;
}

struct gg_outfile *gg_model_add_file(struct gg_model *m, const char *name)
{
	m->files = gg_realloc(m->files, (m->nfiles + 1) * sizeof *m->files);
	struct gg_outfile *f = &m->files[m->nfiles++];
	memset(f, 0, sizeof *f);
	f->name = gg_strdup(name);
	f->kvs = gguf_kvs_new();
	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	f->pad_last = false;
	f->sort_kv = true;
	f->sort_tensors = true;
	f->st = m->st;
	return f;
}

void gg_model_close(struct gg_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfiles; i++)
		gg_outfile_clear(&m->files[i]);
	free(m->files);
	tokenizer_job_free(m->tok);
	if (m->st)
		st_set_close(m->st);
	cJSON_Delete(m->config);
	free(m->dir);
	free(m);
}

/* The tokenizer files are most of the JSON a mount parses; reading them on
 * a second thread while the safetensors headers are parsed halves the time
 * to mount on two cores. The job uses the default special token types;
 * a converter asking for others loads synchronously instead. */
struct gg_tokenizer_job {
	pthread_t thread;
	bool joined;
	const char *dir;
	uint32_t vocab;
	uint64_t max_rows;
	struct gguf_kvs *kvs;
	gg_err err;
	int rc;
};

static int load_tokenizer(const char *dir, uint32_t vocab, uint64_t max_rows,
			  const char *const *special_types, size_t n_special,
			  struct gguf_kvs *kvs, gg_err *e)
{
	/* Only the default special token types are cached (tokcache.h). */
	if (!special_types && tokcache_load(dir, vocab, kvs))
		return 0;
	struct gguf_kvs *fresh = gguf_kvs_new();
	/* tokenizer_load copies out everything it keeps. */
	gg_json_arena_begin();
	int rc = tokenizer_load_bounded(dir, vocab, max_rows, special_types,
					n_special, fresh, e);
	gg_json_arena_end();
	if (rc == 0 && !special_types)
		tokcache_store(dir, vocab, fresh);
	gguf_kvs_move(kvs, fresh);
	gguf_kvs_free(fresh);
	return rc;
}

static void *tokenizer_thread(void *arg)
{
	struct gg_tokenizer_job *job = arg;
	job->rc = load_tokenizer(job->dir, job->vocab, job->max_rows, NULL, 0,
				 job->kvs, &job->err);
	return NULL;
}

/* config vocab_size, else text_config.vocab_size (Ollama's rule). */
static int config_vocab_size(const cJSON *config, const char *path,
			     uint32_t *vocab, gg_err *e)
{
	const cJSON *text = NULL;
	*vocab = 0;
	if (gg_json_u32(config, "vocab_size", vocab, path, e) ||
	    gg_json_obj(config, "text_config", &text, path, e))
		return -1;
	if (*vocab == 0 && text && gg_json_u32(text, "vocab_size", vocab, path, e))
		return -1;
	return 0;
}

/* The most rows (or any dimension) a source tensor has: an embedding holds
 * one row per token, so padding a vocabulary past it is refused before any
 * pad token is made (tokenizer.h). */
static uint64_t largest_dim(const struct st_set *st)
{
	uint64_t largest = 0;
	for (size_t i = 0; st && i < st->ntensors; i++)
		for (int d = 0; d < st->tensors[i].ndim; d++)
			if (st->tensors[i].shape[d] > largest)
				largest = st->tensors[i].shape[d];
	return largest;
}

static void tokenizer_job_start(struct gg_model *m, const char *config_path)
{
	gg_err ignored;
	uint32_t vocab;
	if (config_vocab_size(m->config, config_path, &vocab, &ignored))
		return; /* the converter reports it */
	struct gg_tokenizer_job *job = gg_calloc(1, sizeof *job);
	job->dir = m->dir;
	job->vocab = vocab;
	job->max_rows = largest_dim(m->st);
	job->kvs = gguf_kvs_new();
	if (pthread_create(&job->thread, NULL, tokenizer_thread, job) != 0) {
		gguf_kvs_free(job->kvs);
		free(job);
		return;
	}
	m->tok = job;
}

static void tokenizer_job_join(struct gg_tokenizer_job *job)
{
	if (!job->joined)
		pthread_join(job->thread, NULL);
	job->joined = true;
}

static void tokenizer_job_free(struct gg_tokenizer_job *job)
{
	if (!job)
		return;
	tokenizer_job_join(job);
	gguf_kvs_free(job->kvs);
	free(job);
}

static int supported_list(char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; gg_archs[i] && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "",
					gg_archs[i]->hf_arch);
	return 0;
}

static int pick_arch(const cJSON *config, const char *path,
		     const struct gg_arch **out, gg_err *e)
{
	const cJSON *archs = cJSON_GetObjectItem(config, "architectures");
	if (!cJSON_IsArray(archs) || cJSON_GetArraySize(archs) < 1 ||
	    !cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
		return gg_fail(e, "%s: no architectures list naming the model class", path);
	const char *name = cJSON_GetArrayItem(archs, 0)->valuestring;
	*out = gg_arch_find(name);
	if (!*out) {
		char list[512];
		supported_list(list, sizeof list);
		return gg_fail(e, "%s: unsupported architecture '%s' (supported: %s)",
			       path, name, list);
	}
	return 0;
}

/* type= (and mmproj_type= for mmproj.gguf) on one output file. */
static int apply_types(const struct gg_model *m, struct gg_outfile *f, gg_err *e)
{
	bool mmproj = strcmp(f->name, "mmproj.gguf") == 0;
	if (mmproj && m->opt.has_aux_ftype)
		return gg_outfile_apply_ftype(f, m->opt.aux_ftype, m->opt.profile,
					      !m->arch->no_upstream, e);
	if (!m->opt.has_ftype)
		return 0;
	if (mmproj && gg_outtype_check(f->name, GG_ROLE_AUX, m->opt.ftype, e)) {
		gg_fail(e, "mmproj.gguf: type=%s: this file takes F32, F16, BF16 or "
			"Q8_0; add mmproj_type= with one of them",
			gg_ftype_name(m->opt.ftype));
		return -1;
	}
	return gg_outfile_apply_ftype(f, m->opt.ftype, m->opt.profile,
				      !m->arch->no_upstream, e);
}

int gg_model_open(const char *dir, const struct gg_options *opt,
		  struct gg_model **out, gg_err *e)
{
	struct stat sb;
	if (stat(dir, &sb) != 0)
		return gg_fail(e, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return gg_fail(e, "%s: not a directory", dir);

	struct gg_model *m = gg_calloc(1, sizeof *m);
	m->dir = gg_strdup(dir);
	m->opt = *opt;
	/* A PEFT adapter directory is described by adapter_config.json. */
	char *adapter_path = gg_path_join(dir, "adapter_config.json");
	bool adapter = gg_path_exists(adapter_path);
	char *config_path = adapter ? adapter_path : gg_path_join(dir, "config.json");
	if (!adapter)
		free(adapter_path);
	struct gg_build b = { .dir = m->dir, .config_path = config_path,
			      .opt = &m->opt, .model = m, .e = e };
	int rc = -1;
	if (gg_json_load(config_path, false, true, &m->config, e))
		goto out;
	b.config = m->config;
	if (adapter) {
		m->arch = &gg_arch_lora;
	} else if (pick_arch(m->config, config_path, &m->arch, e)) {
		goto out;
	}
	if (st_set_open_dir(dir, &m->st, e))
		goto out;
	b.st = m->st;
	/* The tokenizer starts once the embedding's bound is known: padding a
	 * vocabulary no tensor can hold would cost gigabytes for a file
	 * llama.cpp refuses. The converter's work still overlaps it. */
	if (!adapter)
		tokenizer_job_start(m, config_path);
	if (m->arch->build(&b))
		goto out;
	for (size_t i = 0; i < m->nfiles; i++) {
		m->files[i].st = m->st;
		if (apply_types(m, &m->files[i], e))
			goto out;
		if (gg_outfile_finish(&m->files[i], e))
			goto out;
	}
	rc = 0;
out:
	free(config_path);
	if (rc) {
		gg_model_close(m);
		return -1;
	}
	*out = m;
	return 0;
}

int gg_build_base_kv(struct gg_build *b, struct gg_outfile *f, const char *arch,
		     const char *const *special_types, size_t n_special)
{
	struct gguf_kvs *kv = f->kvs;
	gguf_kvs_set_str(kv, "general.architecture", arch);
	/* Ollama always writes file type 1 (F16), whatever the tensor types. */
	gguf_kvs_set_u32(kv, "general.file_type", 1);
	gguf_kvs_set_u32(kv, "general.quantization_version", 2);
	struct gg_tokenizer_job *job = b->model->tok;
	if (job && !special_types) {
		tokenizer_job_join(job);
		if (job->rc) {
			*b->e = job->err;
			return -1;
		}
		gguf_kvs_move(kv, job->kvs);
		return 0;
	}
	uint32_t vocab;
	if (config_vocab_size(b->config, b->config_path, &vocab, b->e))
		return -1;
	return load_tokenizer(b->dir, vocab, largest_dim(b->st), special_types,
			      n_special, kv, b->e);
}

/* "<arch>.<key>" into buf; keys are short literals, arch names short. */
static const char *arch_key(char *buf, size_t cap, const char *arch,
			    const char *key)
{
	snprintf(buf, cap, "%s.%s", arch, key);
	return buf;
}

void gg_kv_arch_u32(struct gguf_kvs *kvs, const char *arch, const char *key,
		    uint32_t v)
{
	char name[256];
	gguf_kvs_set_u32(kvs, arch_key(name, sizeof name, arch, key), v);
}

void gg_kv_arch_f32(struct gguf_kvs *kvs, const char *arch, const char *key,
		    float v)
{
	char name[256];
	gguf_kvs_set_f32(kvs, arch_key(name, sizeof name, arch, key), v);
}

void gg_kv_arch_bool(struct gguf_kvs *kvs, const char *arch, const char *key,
		     bool v)
{
	char name[256];
	gguf_kvs_set_bool(kvs, arch_key(name, sizeof name, arch, key), v);
}

void gg_kv_arch_str(struct gguf_kvs *kvs, const char *arch, const char *key,
		    const char *v)
{
	char name[256];
	gguf_kvs_set_str(kvs, arch_key(name, sizeof name, arch, key), v);
}

int gg_build_add_renamed(struct gg_build *b, struct gg_outfile *f,
			 const char *const *pairs, size_t npairs,
			 bool (*skip)(const char *name, void *arg), void *arg)
{
	for (size_t i = 0; i < b->st->ntensors; i++) {
		const struct st_tensor *st = &b->st->tensors[i];
		char *name = gg_rename(pairs, npairs, st->name);
		if (skip && skip(name, arg)) {
			free(name);
			continue;
		}
		if (gg_outfile_find(f, name)) {
			gg_fail(b->e, "%s: two source tensors are both named '%s' after renaming",
				b->dir, name);
			free(name);
			return -1;
		}
		gg_outfile_add_source(f, name, gg_ollama_kind(name, st->ndim, st->dtype), st);
		free(name);
	}
	return 0;
}
