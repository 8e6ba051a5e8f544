/* options.h - what the user chooses with -o: the conversion profile and
 * the options a converter reads (a LoRA adapter's base model).
 *
 * Parsing copies nothing: values point into the string the caller passed,
 * which gg_options_parse modifies in place and which must outlive opt.
 */
#ifndef GGUFFS_OPTIONS_H
#define GGUFFS_OPTIONS_H

#include "ftype.h"
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
	const char *hub_id; /* "org/name" when opened from the hub cache: names it */
};

/* Parse "-o" style options "profile=ollama,type=q4_k_m,base=/x" into opt (unknown keys
 * are left in *rest as a malloc'd comma list when rest != NULL, else an
 * error). s is modified in place; values point into it. */
int gg_options_parse(char *s, struct gg_options *opt, char **rest, gg_err *e);

/* "llamacpp", "ollama", "ollama-legacy". */
const char *gg_profile_name(enum gg_profile p);

/* True for the profiles that reproduce Ollama's converter. */
static inline bool gg_profile_is_ollama(enum gg_profile p)
{
	return p != GG_PROFILE_LLAMACPP;
}

/* Whether something flagged llamacpp_only and/or ollama_only (bits of
 * flags) applies in profile p. */
static inline bool gg_profile_allows(unsigned flags, unsigned llamacpp_only,
				     unsigned ollama_only, enum gg_profile p)
{
	return !((flags & llamacpp_only) && p != GG_PROFILE_LLAMACPP) &&
	       !((flags & ollama_only) && p == GG_PROFILE_LLAMACPP);
}

#endif
