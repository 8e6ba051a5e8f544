/* lm.c - Llama-like causal LMs from a description (lm.h). */
#include "lm.h"

#include <stdlib.h>
#include <string.h>

#include "llama_common.h"
#include "tok_llamacpp.h"
#include "typerules.h"

static int read_hparams(struct gg_build *b, const struct gg_lm *lm, struct gg_hp *hp,
			enum gg_profile p)
{
	if (lm->read_hp) {
		if (lm->read_hp(b, hp, p))
			return -1;
		return lm->hparams ? gg_hp_add(hp, lm->hparams, lm->nhparams, b->e) : 0;
	}
	return gg_hp_read(hp, lm->hparams, lm->nhparams, b->config, b->config_path, "", p, b->e);
}

static bool dropped(const struct gg_lm *lm, const char *name, enum gg_profile p)
{
	/* Legacy checkpoints carry rotary tables llama.cpp would reject as
	 * extra tensors ("wrong number of tensors"). */
	return (lm->flags & GG_LM_DROP_INV_FREQ) && p == GG_PROFILE_LLAMACPP &&
	       gg_has_suffix(name, "rotary_emb.inv_freq");
}

static int add_tensors(struct gg_build *b, const struct gg_lm *lm, struct gg_outfile *f,
		       struct gg_stacker *stk, enum gg_profile p)
{
	struct gg_replacer *rp = gg_replacer_new(lm->renames);
	int rc = 0;
	for (size_t i = 0; i < b->st->ntensors && rc == 0; i++) {
		const struct st_tensor *st = &b->st->tensors[i];
		int taken = stk ? gg_stacker_offer(stk, st, b->e) : 0;
		if (taken)
			rc = taken < 0 ? -1 : 0;
		if (taken)
			continue;
		char *name = gg_replacer_apply(rp, st->name);
		if (!dropped(lm, name, p) &&
		    !gg_outfile_add_source(f, name, gg_ollama_kind(name, st->ndim, st->dtype),
					   st, b->e))
			rc = -1;
		free(name);
	}
	gg_replacer_free(rp);
	if (rc == 0 && stk)
		rc = gg_stacker_emit(stk, f, b->e);
	return rc;
}

/* The llamacpp profile's vocabulary, once the embedding's rows are known. */
static int set_vocab(struct gg_build *b, const struct gg_lm *lm, struct gg_outfile *f,
		     enum gg_profile p)
{
	if (p != GG_PROFILE_LLAMACPP || lm->vocab == GG_LM_VOCAB_OLLAMA)
		return 0;
	if (lm->vocab == GG_LM_VOCAB_BPE) {
		tok_llamacpp_retype_bpe(f->kvs);
		return 0;
	}
	char *model = gg_path_join(b->dir, "tokenizer.model");
	bool spm = gg_path_exists(model);
	free(model);
	const struct gg_tensor *emb = gg_outfile_find(f, "token_embd.weight");
	if (spm || !emb)
		return 0; /* a missing embedding is refused by the spec */
	uint32_t dropped = 0;
	return tok_llamacpp_apply(b->dir, TOK_STYLE_SPM_JSON, (uint32_t)emb->ne[1], f->kvs,
				  &dropped, b->e);
}

static int build(struct gg_build *b, const struct gg_lm *lm, const struct gg_hp *hp,
		 enum gg_profile p)
{
	struct gg_outfile *f = gg_model_add_file(b->model, "model.gguf");
	if (gg_build_base_kv(b, f, lm->arch, NULL, 0))
		return -1;
	if (lm->write_kv)
		lm->write_kv(b, f->kvs, lm->arch, hp, p);
	else
		gg_hp_write_kv(hp, f->kvs, lm->arch);
	if ((lm->flags & GG_LM_ROPE_FREQS) && llama_add_rope_freqs(f, hp, p, b->e))
		return -1;
	struct gg_stacker *stk = NULL;
	if (lm->stacks) {
		stk = gg_stacker_new(lm->stacks, lm->nstacks, gg_hp_u32(hp, "n_layer"),
				     gg_hp_u32(hp, lm->n_experts), lm->n_experts, b->dir, b->e);
		if (!stk)
			return -1;
	}
	int rc = add_tensors(b, lm, f, stk, p);
	gg_stacker_free(stk);
	if (rc == 0 && (lm->flags & GG_LM_PERMUTE_QK))
		rc = llama_permute_qk(f, hp, p, b->e);
	if (rc == 0)
		rc = set_vocab(b, lm, f, p);
	if (rc == 0)
		gg_model_set_spec(b->model, b->model->nfiles - 1, lm->spec, p);
	return rc;
}

int gg_lm_build(struct gg_build *b, const struct gg_lm *lm)
{
	enum gg_profile p = b->opt->profile;
	if (lm->no_ollama && p != GG_PROFILE_LLAMACPP) {
		b->model->notice = lm->no_ollama;
		p = GG_PROFILE_LLAMACPP;
	}
	struct gg_hp hp;
	if (read_hparams(b, lm, &hp, p))
		return -1;
	int rc = lm->check ? lm->check(b, &hp, p) : 0;
	if (rc == 0)
		rc = build(b, lm, &hp, p);
	gg_hp_free(&hp);
	return rc;
}
