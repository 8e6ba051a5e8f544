/* typerules.h - the element type each output tensor is stored in.
 *
 * Both profiles store tensors as Ollama's converter does (which for the
 * supported families is also what convert_hf_to_gguf writes): the
 * function below is the one place that rule lives. Pure and thread-safe.
 */
#ifndef GGUFFS_TYPERULES_H
#define GGUFFS_TYPERULES_H

#include "dtype.h"

/* Ollama's output type for a tensor (convert/reader.go tensorBase.Kind and
 * reader_safetensors.go safetensor.Kind): F32 for 1-D tensors, biases,
 * routers and a few named tensors; otherwise F16, except that a BF16 source
 * stays BF16 outside the vision tower and projector. name is the output
 * (renamed) name, ndim the source's dims, src the source's element type. */
enum gg_type gg_ollama_kind(const char *name, int ndim, enum gg_type src);

#endif
