/* spm.h - a minimal reader of SentencePiece tokenizer.model files
 * (protobuf ModelProto; only field 1, the pieces, is used; every other
 * field is skipped by wire type). Bounds-checked: truncated varints,
 * lengths past the end, bad wire types, invalid UTF-8 pieces and unknown
 * piece types all fail with a message naming the file and byte offset.
 */
#ifndef GGUFFS_SPM_H
#define GGUFFS_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* SentencePiece piece types; numerically equal to GGUF token types. */
enum spm_type {
	SPM_NORMAL = 1,
	SPM_UNKNOWN = 2,
	SPM_CONTROL = 3,
	SPM_USER_DEFINED = 4,
	SPM_UNUSED = 5,
	SPM_BYTE = 6,
};

struct spm_piece {
	char *piece;
	float score;        /* 0 when absent */
	enum spm_type type; /* NORMAL when absent */
};

struct spm_model {
	struct spm_piece *pieces;
	size_t n;
};

int spm_parse(const uint8_t *buf, size_t len, const char *name,
	      struct spm_model *out, gg_err *e);
int spm_load(const char *path, struct spm_model *out, gg_err *e);
void spm_free(struct spm_model *m);

#endif
