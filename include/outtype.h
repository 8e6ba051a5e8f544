/* outtype.h - give an output file the tensor types of -o type=NAME.
 *
 * Applied to a plan after its converter built it and before
 * gg_outfile_finish. Each tensor keeps its sources and view; only its
 * output type (and the type its values pass through, plan.h value_type)
 * change, so a quantized tensor is still made lazily, row by row, from the
 * same source bytes.
 *
 *   llamacpp profile: what convert_hf_to_gguf.py --outtype writes (F32,
 *     F16, BF16; Q8_0 for mmproj/adapter files), and for a quantized file
 *     type what llama-quantize makes of the --outtype f32 file: every
 *     quantized value is the exact source value.
 *   ollama profile: what llama-quantize makes of Ollama's file (as
 *     `ollama create --quantize` does): values rounded to Ollama's F16 or
 *     BF16 first.
 *
 * general.file_type becomes the file type's number and, for quantized file
 * types, general.quantization_version 2 is set (as llama-quantize does).
 */
#ifndef GGUFFS_OUTTYPE_H
#define GGUFFS_OUTTYPE_H

#include <stdbool.h>

#include "ftype.h"
#include "model.h"
#include "plan.h"
#include "util.h"

/* Which file of a model a plan is, for the types it may take. */
enum gg_outfile_role {
	GG_ROLE_MODEL,   /* model.gguf: every type */
	GG_ROLE_AUX,     /* mmproj.gguf, adapter.gguf: F32, F16, BF16, Q8_0 */
};

/* The role of a file named name ("model.gguf", "mmproj.gguf", ...). */
enum gg_outfile_role gg_outfile_role_of(const char *name);

/* 0 if file type ft can be written to a file of this role; else -1 with a
 * one-line message naming the file and the types it takes. */
int gg_outtype_check(const char *file, enum gg_outfile_role role,
		     enum gg_ftype ft, gg_err *e);

/* Retype every tensor of f for file type ft in profile p (see above).
 * upstream is false for an architecture llama.cpp cannot load (mllama):
 * then only F32, F16 and BF16 are allowed, by convert_hf_to_gguf's rules.
 * Fails (one line) when ft is not allowed for f, or when the rules fail (a
 * layer index llama-quantize could not read). */
int gg_outfile_apply_ftype(struct gg_outfile *f, enum gg_ftype ft,
			   enum gg_profile p, bool upstream, gg_err *e);

#endif
