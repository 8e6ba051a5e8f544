/* typerules.c - output element types (typerules.h). */
#include "typerules.h"

#include <string.h>

#include "util.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

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
	for (size_t i = 0; i < COUNT(suffixes); i++)
		if (gg_has_suffix(name, suffixes[i]))
			return true;
	for (size_t i = 0; i < COUNT(prefixes); i++)
		if (gg_has_prefix(name, prefixes[i]))
			return true;
	for (size_t i = 0; i < COUNT(exact); i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	return strstr(name, ".conv_dw.") != NULL;
}

enum gg_type gg_ollama_kind(const char *name, int ndim, enum gg_type src)
{
	if (ollama_always_f32(name) || ndim <= 1)
		return GG_TYPE_F32;
	/* A BF16 source stays BF16, except vision/projector tensors. */
	if (src == GG_TYPE_BF16 && !gg_has_prefix(name, "v.") &&
	    !gg_has_prefix(name, "s.") && !gg_has_prefix(name, "mm.") &&
	    !strstr(name, "ffn_gate_inp_shexp.weight"))
		return GG_TYPE_BF16;
	return GG_TYPE_F16;
}
