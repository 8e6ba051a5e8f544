/* tokenizer.h - tokenizer metadata from HuggingFace files, as Ollama's
 * convert/tokenizer.go builds it (see ../shared/reference/tokenizer.md §1).
 *
 * Reads, from dir: tokenizer.model (SentencePiece, preferred) or
 * tokenizer.json for the vocabulary; tokenizer.json again for added tokens,
 * merges (list of strings or list of pairs) and the pre-tokenizer hash;
 * tokenizer_config.json (chat_template string or list, <t>_token,
 * add_<t>_token); generation_config.json (<t>_token_id lists);
 * added_tokens.json and special_tokens_map.json (SentencePiece path).
 * Pads the vocabulary with "[PAD%d]" (score -1, type 4) up to
 * config_vocab_size when that is larger.
 *
 * Writes into kvs: tokenizer.ggml.model, .pre, .tokens, .scores,
 * .token_type, .merges (if any), tokenizer.chat_template (if non-empty),
 * tokenizer.ggml.<key>_token_id, .add_<key>_token (only when set in
 * tokenizer_config), .<key>_token_ids (generation_config lists), where
 * <key> is bos, eos, unknown, seperator, padding, cls, mask.
 */
#ifndef GGUFFS_TOKENIZER_H
#define GGUFFS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "util.h"

/* special_types: e.g. {"bos","eos","unk","sep","pad","cls","mask"}; NULL
 * means that default list. */
int tokenizer_load(const char *dir, uint32_t config_vocab_size,
		   const char *const *special_types, size_t n_special,
		   struct gguf_kvs *kvs, gg_err *e);

/* tokenizer_load with the padding bounded by what the model's embedding
 * can hold: when config_vocab_size exceeds both the tokenizer's own token
 * count and max_rows (the largest dimension of any source tensor; an
 * embedding has a row per token), it is refused before any pad token is
 * made, instead of costing gigabytes for a file llama.cpp refuses.
 * tokenizer_load is this with no bound but MAX_PADDED_VOCAB's. */
int tokenizer_load_bounded(const char *dir, uint32_t config_vocab_size,
			   uint64_t max_rows, const char *const *special_types,
			   size_t n_special, struct gguf_kvs *kvs, gg_err *e);

/* The pre-tokenizer name for a SHA-256 hex digest of the concatenated Split
 * regexes ("llama-bpe", "qwen2", ...), or "default". */
const char *tokenizer_pre_from_hash(const char *sha256_hex);

#endif
