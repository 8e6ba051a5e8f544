/* model.h - open a HuggingFace directory as one or more virtual GGUF files.
 *
 * gg_model_open reads config.json, picks the converter for
 * architectures[0], opens the safetensors, builds the tokenizer metadata
 * and lets the converter describe every output file (plan.h). Nothing is
 * converted here: the cost is parsing headers and JSON. The result is
 * immutable and may be read from many threads (engine.h).
 */
#ifndef GGUFFS_MODEL_H
#define GGUFFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "ftype.h"
#include "plan.h"
#include "safetensors.h"
#include "util.h"

enum gg_profile {
	GG_PROFILE_LLAMACPP = 0, /* default: what upstream llama.cpp loads */
	GG_PROFILE_OLLAMA,       /* byte for byte what Ollama's converter writes */
	GG_PROFILE_OLLAMA_LEGACY /* GLM only: the first published Ollama dialect */
};

struct gg_options {
	enum gg_profile profile;
	const char *base; /* LoRA: base model directory or GGUF file */
	bool has_ftype;   /* type= given: every file retyped (outtype.h) */
	enum gg_ftype ftype;
	bool has_aux_ftype; /* mmproj_type=: mmproj.gguf's own type */
	enum gg_ftype aux_ftype;
};

/* Parse "-o" style options "profile=ollama,type=q4_k_m,base=/x" into opt (unknown keys
 * are left in *rest as a comma list when rest != NULL, else an error).
 * Values are copied into the string the caller passed (modified in place). */
int gg_options_parse(char *s, struct gg_options *opt, char **rest, gg_err *e);
const char *gg_profile_name(enum gg_profile p);

struct gg_model;

/* What a converter receives. */
struct gg_build {
	const char *dir;
	const cJSON *config;     /* config.json, NaN/Infinity sanitised */
	const char *config_path;
	struct st_set *st;
	const struct gg_options *opt;
	struct gg_model *model;
	gg_err *e;
};

struct gg_arch {
	const char *hf_arch;    /* config.json architectures[0] */
	const char *gguf_arch;  /* general.architecture written */
	const char *notes;      /* one line for README / inspect */
	bool no_upstream;       /* no upstream llama.cpp runtime loads this arch */
	int (*build)(struct gg_build *b);
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
	struct gg_tokenizer_job *tok; /* private: tokenizer read in parallel */
};

int gg_model_open(const char *dir, const struct gg_options *opt,
		  struct gg_model **out, gg_err *e);
void gg_model_close(struct gg_model *m);

/* Add an output file to the model being built (Ollama container rules:
 * sorted keys and tensors, alignment 32, no trailing padding). */
struct gg_outfile *gg_model_add_file(struct gg_model *m, const char *name);

/* Supported converters, NULL-terminated. */
extern const struct gg_arch *const gg_archs[];
const struct gg_arch *gg_arch_find(const char *hf_arch);
/* The converter writing general.architecture gguf_arch (first match), or
 * NULL: lets tools print what gguffs knows about a file's runtime support. */
const struct gg_arch *gg_arch_find_gguf(const char *gguf_arch);

/* Go strings.NewReplacer semantics: scan left to right; at each position the
 * earliest-listed matching pair wins; no overlaps. pairs has 2*n entries.
 * Returns malloc'd string. */
char *gg_rename(const char *const *pairs, size_t n, const char *in);

/* Ollama's output type for a tensor (convert/reader.go tensorBase.Kind and
 * reader_safetensors.go safetensor.Kind). name is the renamed name. */
enum gg_type gg_ollama_kind(const char *name, int ndim, enum gg_type src);


/* ---- helpers for converters ---- */

/* general.architecture, general.file_type (always 1, as Ollama),
 * general.quantization_version (2) and the tokenizer KVs (vocabulary padded
 * to config vocab_size, else text_config.vocab_size). special_types NULL
 * means the default bos,eos,unk,sep,pad,cls,mask. */
int gg_build_base_kv(struct gg_build *b, struct gg_outfile *f, const char *arch,
		     const char *const *special_types, size_t n_special);

/* Set the per-architecture KV "<arch>.<key>" (e.g. "llama",
 * "attention.head_count" -> llama.attention.head_count). */
void gg_kv_arch_u32(struct gguf_kvs *kvs, const char *arch, const char *key,
		    uint32_t v);
void gg_kv_arch_f32(struct gguf_kvs *kvs, const char *arch, const char *key,
		    float v);
void gg_kv_arch_bool(struct gguf_kvs *kvs, const char *arch, const char *key,
		     bool v);
void gg_kv_arch_str(struct gguf_kvs *kvs, const char *arch, const char *key,
		    const char *v);

/* Add every source tensor (in st_set order) renamed by pairs (gg_rename),
 * typed by gg_ollama_kind, read whole and contiguously; skip(name, arg)
 * (renamed name) may drop some. Fails on two sources with one output name. */
int gg_build_add_renamed(struct gg_build *b, struct gg_outfile *f,
			 const char *const *pairs, size_t npairs,
			 bool (*skip)(const char *name, void *arg), void *arg);

#endif
