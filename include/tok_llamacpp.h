/* tok_llamacpp.h - tokenizer vocabularies as upstream llama.cpp reads them.
 *
 * tokenizer.h builds Ollama's tokenizer metadata. For some families that
 * vocabulary is refused by llama.cpp or tokenizes differently there (the
 * vocabulary is ranked instead of indexed by id, padding tokens are
 * USER_DEFINED, a SentencePiece-style BPE tokenizer.json is labelled gpt2,
 * the vocabulary is longer than the embedding). The llamacpp profile then
 * replaces the vocabulary KVs of that output with one of these styles;
 * special token ids, add_* flags and the chat template are kept as
 * tokenizer.h wrote them.
 *
 * Styles:
 *  TOK_STYLE_BPE        tokenizer.json as convert_hf_to_gguf's gpt2 path:
 *                       tokens indexed by id up to n_rows, holes "[PAD<id>]"
 *                       (UNUSED), added tokens CONTROL when special or
 *                       looking special (<|...|>, <unused...>), else
 *                       USER_DEFINED; no scores; merges kept. The o200k
 *                       pre-tokenizer regex gets the pre-tokenizer name whose
 *                       implementation in llama.cpp keeps \p{M} in the
 *                       letter classes ("granite-embed-multi-97m", the same
 *                       regex): under "gpt-4o" llama.cpp splits words with
 *                       combining marks (Hindi, Thai, ...) differently from
 *                       the HF tokenizer.
 *  TOK_STYLE_SPM_JSON   a byte-fallback BPE tokenizer.json ("▁" for spaces,
 *                       <0xXX> byte tokens: Gemma 3 without tokenizer.model)
 *                       as a SentencePiece vocabulary ("llama"): each token
 *                       scored -(1 + rank of the first merge producing it),
 *                       0 when no merge does, <0xXX> BYTE, special added
 *                       tokens CONTROL, other added tokens USER_DEFINED;
 *                       add_space_prefix as the normalizer says (a Prepend
 *                       of "▁"). llama.cpp's SentencePiece tokenizer merges
 *                       the best-scored pair first, which is then the HF BPE
 *                       merge order.
 *  TOK_STYLE_SPM_MODEL  tokenizer.model as convert_hf_to_gguf's Phi-3 path:
 *                       pieces with their scores and types (USER_DEFINED
 *                       pieces NORMAL), holes up to n_rows "[PAD<id>]"
 *                       score -10000 UNUSED, then added_tokens.json,
 *                       tokenizer_config.json added_tokens_decoder and
 *                       tokenizer.json added_tokens overwrite their ids with
 *                       score -1000, CONTROL when special, else USER_DEFINED.
 *
 * In every style tokens with an id >= n_rows (the embedding rows) are
 * dropped: llama.cpp refuses a vocabulary longer than the embedding.
 *
 * The result is kept in the tokenizer cache (tokcache.h, one variant per
 * style), so a later mount of the same files parses nothing.
 *
 * Errors: a missing or malformed file fails with one line naming it.
 * Thread safety: reentrant; allocates and frees its own memory.
 */
#ifndef GGUFFS_TOK_LLAMACPP_H
#define GGUFFS_TOK_LLAMACPP_H

#include <stdint.h>

#include "gguf.h"
#include "util.h"

enum tok_style {
	TOK_STYLE_BPE = 1,
	TOK_STYLE_SPM_JSON,
	TOK_STYLE_SPM_MODEL,
};

/* Replace tokenizer.ggml.{model,pre,tokens,scores,token_type,merges} and
 * tokenizer.ggml.add_space_prefix of kvs by the vocabulary of dir in the
 * given style, n_rows tokens long at most. *dropped (if not NULL) gets the
 * number of tokens left out for lying past n_rows. Returns 0 or -1. */
int tok_llamacpp_apply(const char *dir, enum tok_style style, uint32_t n_rows,
		       struct gguf_kvs *kvs, uint32_t *dropped, gg_err *e);

/* The gpt2 vocabulary tokenizer.h wrote in kvs (Ollama's), retyped as
 * convert_hf_to_gguf's gpt2 path types it, without reading the tokenizer
 * files again (so it costs what the cached KVs do): Ollama's padding
 * "[PAD<k>]" (USER_DEFINED, k counted from the first pad) becomes
 * "[PAD<id>]" UNUSED, USER_DEFINED tokens that look special become
 * CONTROL, the scores are dropped. Ollama's list is ranked, so this is
 * llama.cpp's only when tokenizer.json's ids have no holes. A vocabulary
 * that is not gpt2 is left alone. */
void tok_llamacpp_retype_bpe(struct gguf_kvs *kvs);

/* Whether a token text looks special to convert_hf_to_gguf
 * (does_token_look_special): <|...|>, <｜...｜>, <unused...>, <pad>, <mask>,
 * <2mass>, [@BOS@]. */
bool tok_looks_special(const char *s);

#endif
