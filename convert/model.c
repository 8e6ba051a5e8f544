/* model.c - open a HuggingFace directory as virtual GGUF files (model.h). */
#include "model.h"
#include "outtype.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonutil.h"
#include "naming.h"
#include "tokjob.h"
#include "typerules.h"

struct gg_outfile *gg_model_add_file(struct gg_model *m, const char *name)
{
	m->files = gg_realloc(m->files, (m->nfiles + 1) * sizeof *m->files);
	m->specs = gg_realloc(m->specs, (m->nfiles + 1) * sizeof *m->specs);
	m->specs[m->nfiles] = (struct gg_model_spec){ NULL, m->opt.profile };
	struct gg_outfile *f = &m->files[m->nfiles++];
	memset(f, 0, sizeof *f);
	f->name = gg_strdup(name);
	f->origin = m->dir;
	f->kvs = gguf_kvs_new();
	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	f->pad_last = false;
	f->sort_kv = true;
	f->sort_tensors = true;
	f->st = m->st;
	return f;
}

void gg_model_set_spec(struct gg_model *m, size_t index, const struct gg_tensor_spec *spec,
		       enum gg_profile p)
{
	if (index < m->nfiles)
		m->specs[index] = (struct gg_model_spec){ spec, p };
}

void gg_model_close(struct gg_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfiles; i++)
		gg_outfile_clear(&m->files[i]);
	free(m->files);
	free(m->specs);
	gg_tokjob_free(m->tok);
	if (m->st)
		st_set_close(m->st);
	cJSON_Delete(m->config);
	free(m->dir);
	free(m);
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
		char list[1024];
		gg_arch_list(list, sizeof list);
		return gg_fail(e, "%s: unsupported architecture '%s' (supported: %s)",
			       path, name, list);
	}
	return 0;
}

/* type= (and mmproj_type= for mmproj.gguf) on one output file, in the
 * profile the file was built in (an architecture Ollama does not convert
 * builds the llamacpp output in the ollama profile too). */
static int apply_types(const struct gg_model *m, struct gg_outfile *f,
		       enum gg_profile profile, gg_err *e)
{
	bool mmproj = strcmp(f->name, "mmproj.gguf") == 0;
	if (mmproj && m->opt.has_aux_ftype)
		return gg_outfile_apply_ftype(f, m->opt.aux_ftype, profile,
					      !m->arch->no_upstream, e);
	if (!m->opt.has_ftype)
		return 0;
	if (mmproj && gg_outtype_check(f->name, GG_ROLE_AUX, m->opt.ftype, e)) {
		gg_fail(e, "mmproj.gguf: type=%s: this file takes F32, F16, BF16 or "
			"Q8_0; add mmproj_type= with one of them",
			gg_ftype_name(m->opt.ftype));
		return -1;
	}
	return gg_outfile_apply_ftype(f, m->opt.ftype, profile,
				      !m->arch->no_upstream, e);
}

/* Build and finish every output file; check those with a spec first. */
static int build(struct gg_model *m, struct gg_build *b, gg_err *e)
{
	if (m->arch->build(b))
		return -1;
	for (size_t i = 0; i < m->nfiles; i++) {
		m->files[i].st = m->st;
		const struct gg_model_spec *sp = &m->specs[i];
		if (sp->spec && gg_spec_check(sp->spec, &m->files[i], sp->profile, e))
			return -1;
		/* llama.cpp's converter names every model file it writes (not
		 * adapters, nor architectures it has no converter for); type=
		 * then retypes the file and sets general.file_type. */
		if (sp->profile == GG_PROFILE_LLAMACPP && !m->arch->config_file &&
		    !m->arch->no_upstream)
			gg_naming_set_kvs(m, &m->files[i]);
		if (apply_types(m, &m->files[i], sp->profile, e) ||
		    gg_outfile_finish(&m->files[i], e))
			return -1;
	}
	return 0;
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
	/* An adapter directory is described by its own file (archs.h). */
	m->arch = gg_arch_for_dir(dir);
	char *config_path = gg_path_join(dir, m->arch ? m->arch->config_file : "config.json");
	struct gg_build b = { .dir = m->dir, .config_path = config_path,
			      .opt = &m->opt, .model = m, .e = e };
	int rc = -1;
	if (gg_json_load(config_path, false, true, &m->config, e))
		goto out;
	b.config = m->config;
	bool adapter = m->arch != NULL;
	if (!adapter && pick_arch(m->config, config_path, &m->arch, e))
		goto out;
	if (st_set_open_dir(dir, &m->st, e))
		goto out;
	b.st = m->st;
	/* The tokenizer starts once the embedding's bound is known: padding a
	 * vocabulary no tensor can hold would cost gigabytes for a file
	 * llama.cpp refuses. The converter's work still overlaps it. */
	if (!adapter)
		m->tok = gg_tokjob_start(m->dir, m->config, config_path, largest_dim(m->st));
	rc = build(m, &b, e);
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
	if (b->model->tok && !special_types)
		return gg_tokjob_take(b->model->tok, kv, b->e);
	return gg_tokenizer_kvs(b->dir, b->config, b->config_path, largest_dim(b->st),
				special_types, n_special, kv, b->e);
}

int gg_build_add_renamed(struct gg_build *b, struct gg_outfile *f,
			 const struct gg_renames *r,
			 bool (*skip)(const struct st_tensor *st, const char *name, void *arg),
			 void *arg)
{
	struct gg_replacer *rp = gg_replacer_new(r);
	int rc = 0;
	for (size_t i = 0; i < b->st->ntensors && rc == 0; i++) {
		const struct st_tensor *st = &b->st->tensors[i];
		char *name = gg_replacer_apply(rp, st->name);
		if (!(skip && skip(st, name, arg)) &&
		    !gg_outfile_add_source(f, name, gg_ollama_kind(name, st->ndim, st->dtype),
					   st, b->e))
			rc = -1;
		free(name);
	}
	gg_replacer_free(rp);
	return rc;
}
