/* hparam_abbrev.h - short names for hyperparameter tables (hparams.h).
 *
 * Converters list their hyperparameters as one table row each; the full
 * enum names would push every row past a line. Include this only in a
 * converter's .c file, after hparams.h: the names are short on purpose and
 * must not leak into headers. */
#ifndef GGUFFS_HPARAM_ABBREV_H
#define GGUFFS_HPARAM_ABBREV_H

#include "hparams.h"

#define U32 GG_HP_U32
#define F32 GG_HP_F32
#define STR GG_HP_STR
#define REQ GG_HP_REQUIRED
#define POS GG_HP_POSITIVE
/* Ollama writes every key even when the config lacks it (as 0). */
#define ALW GG_HP_ALWAYS
#define LCP GG_HP_LLAMACPP
#define OLL GG_HP_OLLAMA

#endif
