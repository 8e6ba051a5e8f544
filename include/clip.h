/* clip.h - the KVs of a clip mmproj.gguf as convert_hf_to_gguf's
 * MmprojModel writes them (vision encoders of the llamacpp profile).
 *
 * gg_clip_write_kv sets general.architecture "clip", general.type
 * "mmproj", general.file_type 1, clip.has_vision_encoder, the projector
 * type, clip.use_gelu and the clip.vision.* geometry below, and
 * image_mean / image_std from dir/preprocessor_config.json (0.5 each when
 * the file or a key is absent, as Ollama's compat shim assumes). Errors:
 * a malformed preprocessor_config.json. Reentrant.
 */
#ifndef GGUFFS_CLIP_H
#define GGUFFS_CLIP_H

#include <stdint.h>

#include "gguf.h"
#include "util.h"

struct gg_clip {
	const char *projector;  /* clip.projector_type: "llama4", "gemma3" */
	uint32_t image_size, patch_size, hidden, intermediate, layers, heads;
	uint32_t projection_dim; /* the text model's hidden size */
	float norm_eps;
};

/* Returns 0 or -1. *image_seq_length (if not NULL) gets
 * preprocessor_config.json's image_seq_length, 0 when absent. */
int gg_clip_write_kv(const char *dir, const struct gg_clip *c, struct gguf_kvs *kv,
		     double *image_seq_length, gg_err *e);

#endif
