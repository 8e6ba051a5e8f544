/* model.h - open a HuggingFace directory as one or more virtual GGUF files.
 *
 * gg_model_open reads config.json, picks the converter (archs.h), opens
 * the safetensors, starts reading the tokenizer (tokjob.h) and lets the
 * converter describe every output file (plan.h); a file with a tensor
 * spec (tensorspec.h) is then checked against it. Nothing is converted
 * here: the cost is parsing headers and JSON. The result is immutable and
 * may be read from many threads (engine.h).
 */
#ifndef GGUFFS_MODEL_H
#define GGUFFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "archs.h"
#include "options.h"
#include "plan.h"
#include "rename.h"
#include "safetensors.h"
#include "tensorspec.h"
#include "util.h"

struct gg_model;

/* What a converter receives. */
struct gg_build {
	const char *dir;
	const cJSON *config;     /* config.json (adapter_config.json for adapters) */
	const char *config_path;
	struct st_set *st;
	const struct gg_options *opt;
	struct gg_model *model;
	gg_err *e;
};

struct gg_model {
	char *dir;
	const struct gg_arch *arch;
	struct gg_options opt;
	cJSON *config;
	struct st_set *st;
	struct gg_outfile *files; /* model.gguf first */
	size_t nfiles;
	const char *notice;     /* e.g. "mllama: no upstream llama.cpp runtime" */
	struct gg_tokjob *tok;  /* private: tokenizer read in parallel */
	/* private: per file, the tensor spec checked after the build, and the
	 * profile the file was built in (its rules, its types for type=) */
	struct gg_model_spec { const struct gg_tensor_spec *spec; enum gg_profile profile; } *specs;
};

int gg_model_open(const char *dir, const struct gg_options *opt,
		  struct gg_model **out, gg_err *e);
void gg_model_close(struct gg_model *m);

/* Add an output file to the model being built (Ollama container rules:
 * sorted keys and tensors, alignment 32, no trailing padding). Pointers to
 * earlier files are invalid after this (the array grows). */
struct gg_outfile *gg_model_add_file(struct gg_model *m, const char *name);

/* Have gg_model_open check file `index` against spec (rules of profile p,
 * the profile the file was built in) once the converter is done (llama.cpp's
 * loader checks, tensorspec.h); spec may be NULL to set the profile only. */
void gg_model_set_spec(struct gg_model *m, size_t index, const struct gg_tensor_spec *spec,
		       enum gg_profile p);


/* ---- helpers for converters ---- */

/* general.architecture, general.file_type (always 1, as Ollama),
 * general.quantization_version (2) and the tokenizer KVs (vocabulary padded
 * to config vocab_size, else text_config.vocab_size). special_types NULL
 * means the default bos,eos,unk,sep,pad,cls,mask. */
int gg_build_base_kv(struct gg_build *b, struct gg_outfile *f, const char *arch,
		     const char *const *special_types, size_t n_special);

/* Add every source tensor (in st_set order) renamed by r, typed by
 * gg_ollama_kind, read whole and contiguously; skip(st, renamed, arg) may
 * take some tensors (return true: the caller handled or dropped them).
 * Fails on two sources with one output name. */
int gg_build_add_renamed(struct gg_build *b, struct gg_outfile *f,
			 const struct gg_renames *r,
			 bool (*skip)(const struct st_tensor *st, const char *name, void *arg),
			 void *arg);

#endif
