/* outtype.c - see outtype.h. */
#include "outtype.h"

#include <stdlib.h>
#include <string.h>

#include "quant.h"

enum gg_outfile_role gg_outfile_role_of(const char *name)
{
	return strcmp(name, "mmproj.gguf") == 0 || strcmp(name, "adapter.gguf") == 0 ?
	       GG_ROLE_AUX : GG_ROLE_MODEL;
}

int gg_outtype_check(const char *file, enum gg_outfile_role role,
		     enum gg_ftype ft, gg_err *e)
{
	if (role == GG_ROLE_AUX && gg_ftype_is_quantized(ft) && ft != GG_FTYPE_Q8_0)
		return gg_fail(e, "%s: type=%s: this file takes F32, F16, BF16 or Q8_0",
			       file, gg_ftype_name(ft));
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "blk.<digits>.<kind>.weight" */
static bool is_block_tensor(const char *name, const char *kind)
{
	if (strncmp(name, "blk.", 4) != 0)
		return false;
	const char *p = name + 4;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	size_t k = strlen(kind);
	return *p == '.' && strncmp(p + 1, kind, k) == 0 &&
	       strcmp(p + 1 + k, ".weight") == 0;
}

/* The tensors convert_hf_to_gguf.py always writes in F32 (the list in
 * ModelBase.prepare_tensors that mirrors llama-quantize's exceptions). */
static bool hf_always_f32(const char *name)
{
	static const char *const block_kinds[] = {
		"ffn_gate_inp", "ffn_gate_inp_shexp", "ssm_conv1d", "shortconv.conv",
		"time_mix_first", "time_mix_w1", "time_mix_w2", "time_mix_decay_w1",
		"time_mix_decay_w2", "time_mix_lerp_fused", "altup_correct_coef",
		"altup_predict_coef", "ssm_conv1d_q", "ssm_conv1d_k", "ssm_conv1d_v",
		"indexer.proj",
	};
	static const char *const names[] = {
		"position_embd.weight", "token_types.weight",
		"v.position_embd.weight", "a.position_embd.weight",
	};
	for (size_t i = 0; i < sizeof block_kinds / sizeof block_kinds[0]; i++)
		if (is_block_tensor(name, block_kinds[i]))
			return true;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	if (strncmp(name, "posnet.", 7) == 0 &&
	    (ends_with(name, ".norm1.weight") || ends_with(name, ".norm2.weight")))
		return true;
	/* Anything but a weight or a LoRA factor stays F32. */
	size_t n = strlen(name);
	return n < 7 || (strcmp(name + n - 7, ".weight") != 0 &&
			 strcmp(name + n - 7, ".lora_a") != 0 &&
			 strcmp(name + n - 7, ".lora_b") != 0);
}

/* True when an HF source name of t contains needle. */
static bool source_named(const struct gg_tensor *t, const char *needle)
{
	for (size_t i = 0; i < t->nsrc; i++)
		if (t->srcs[i].st && strstr(t->srcs[i].st->name, needle))
			return true;
	return false;
}

/* The type convert_hf_to_gguf.py --outtype `want` (F32, F16, BF16, Q8_0)
 * writes for t in a file of this role. */
static enum gg_type hf_type(const struct gg_tensor *t, enum gg_outfile_role role,
			    enum gg_type want)
{
	/* Gemma3VisionModel.tensor_force_quant, by HF name: the projector's
	 * input projection always F16, the vision embeddings F32. */
	if (role == GG_ROLE_AUX && t->n_dims > 1 && source_named(t, "input_projection"))
		return GG_TYPE_F16;
	if (role == GG_ROLE_AUX && source_named(t, ".embeddings."))
		return GG_TYPE_F32;
	/* MmprojModel.tensor_force_quant: patch embeddings stay float. */
	if (role == GG_ROLE_AUX && (strstr(t->name, ".patch_embd.weight") ||
				    strstr(t->name, ".patch_merger.weight")))
		return t->n_dims <= 1 ? GG_TYPE_F32 :
		       want == GG_TYPE_F16 ? GG_TYPE_F16 : GG_TYPE_F32;
	if (t->n_dims <= 1 || ends_with(t->name, "_norm.weight") || hf_always_f32(t->name))
		return GG_TYPE_F32;
	/* gguf-py refuses rows that do not fill Q8_0 blocks: F16 instead. */
	if (want == GG_TYPE_Q8_0 && t->ne[0] % gg_quant_block(GG_TYPE_Q8_0))
		return GG_TYPE_F16;
	return want;
}

/* llama-quantize's types for f's tensors as they now are. */
static int quantize_types(struct gg_outfile *f, enum gg_ftype ft,
			  enum gg_type *types, gg_err *e)
{
	struct gg_qmodel m;
	if (gg_qmodel_from_kvs(f->kvs, &m, f->name, e))
		return -1;
	struct gg_qtensor *qt = gg_calloc(f->ntensors ? f->ntensors : 1, sizeof *qt);
	for (size_t i = 0; i < f->ntensors; i++) {
		const struct gg_tensor *t = &f->tensors[i];
		qt[i] = (struct gg_qtensor){ .name = t->name, .n_dims = t->n_dims,
					     .type = t->type };
		memcpy(qt[i].ne, t->ne, sizeof qt[i].ne);
	}
	gg_err why;
	int rc = gg_ftype_tensor_types(&m, ft, qt, f->ntensors, types, &why);
	if (rc)
		gg_fail(e, "%s: type=%s: %s", f->name, gg_ftype_name(ft), why.msg);
	free(qt);
	return rc;
}

/* Every tensor to the type convert_hf_to_gguf.py --outtype want gives it;
 * its values either rounded straight from the source (exact: true) or
 * first to the type the tensor has now (Ollama's). */
static void apply_hf_types(struct gg_outfile *f, enum gg_outfile_role role,
			   enum gg_type want, bool exact)
{
	for (size_t i = 0; i < f->ntensors; i++) {
		struct gg_tensor *t = &f->tensors[i];
		if (gg_type_size(t->type) == 0)
			continue; /* blocks repacked from the source (MXFP4) stay */
		enum gg_type ty = hf_type(t, role, want);
		enum gg_type vt = exact ? (gg_quant_supported(ty) ? GG_TYPE_F32 : ty) : t->type;
		gg_tensor_set_type(t, ty, vt);
	}
}

/* llama-quantize over f as it now is: each changed tensor's values first
 * rounded to the type it has in that file. */
static int apply_quantize_types(struct gg_outfile *f, enum gg_ftype ft, gg_err *e)
{
	enum gg_type *types = gg_malloc((f->ntensors ? f->ntensors : 1) * sizeof *types);
	int rc = quantize_types(f, ft, types, e);
	for (size_t i = 0; rc == 0 && i < f->ntensors; i++) {
		struct gg_tensor *t = &f->tensors[i];
		if (types[i] != t->type)
			gg_tensor_set_type(t, types[i], t->type);
	}
	free(types);
	return rc;
}

int gg_outfile_apply_ftype(struct gg_outfile *f, enum gg_ftype ft,
			   enum gg_profile p, bool upstream, gg_err *e)
{
	enum gg_outfile_role role = gg_outfile_role_of(f->name);
	if (gg_outtype_check(f->name, role, ft, e))
		return -1;
	if (!upstream && gg_ftype_is_quantized(ft))
		return gg_fail(e, "%s: type=%s: llama.cpp cannot load or quantize this "
			       "architecture; it takes F32, F16 or BF16",
			       f->name, gg_ftype_name(ft));
	bool exact = p == GG_PROFILE_LLAMACPP;
	if (role == GG_ROLE_AUX || !upstream) {
		/* convert_hf_to_gguf.py / convert_lora_to_gguf.py --outtype */
		apply_hf_types(f, role, gg_ftype_base_type(ft), exact);
	} else if (exact) {
		/* --outtype, or --outtype f32 then llama-quantize */
		bool quant = gg_ftype_is_quantized(ft);
		apply_hf_types(f, role, quant ? GG_TYPE_F32 : gg_ftype_base_type(ft), true);
		if (quant && apply_quantize_types(f, ft, e))
			return -1;
	} else if (apply_quantize_types(f, ft, e)) {
		/* llama-quantize over Ollama's file, as ollama create does */
		return -1;
	}
	gguf_kvs_set_u32(f->kvs, "general.file_type", (uint32_t)ft);
	gguf_kvs_set_u32(f->kvs, "general.quantization_version", 2);
	return 0;
}
