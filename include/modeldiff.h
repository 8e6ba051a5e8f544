/* modeldiff.h - what changed between two openings of one model.
 *
 * A mount keeps the gg_model it opened; its sources may change later
 * (a shard rewritten, touched, replaced). Opening the directory again and
 * comparing says whether the new model can take the old one's place under
 * the same mount (same layout: every output file with the same name, size
 * and header bytes, so every offset and every attribute the kernel and
 * the readers hold stays true), and which tensors' bytes may differ (their
 * plan differs, or a source file they read is not the file the old model
 * read). Pure data: no I/O, no FUSE. Thread-safe on immutable models.
 */
#ifndef GGUFFS_MODELDIFF_H
#define GGUFFS_MODELDIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

struct gg_modeldiff {
	bool same_layout;
	char why[256];          /* !same_layout: the first difference found */
	size_t changed_sources; /* source files of b that are not a's file */
	size_t nsources;        /* source files of b */
	/* same_layout only: affected[i][t] when tensor t of output file i may
	 * read differently in b than in a; naffected counts them. */
	bool **affected;
	size_t nfiles, naffected;
};

/* Compare a (the model being served) with b (the same directory opened
 * again). Fills *d; free it with gg_modeldiff_free. */
void gg_modeldiff(const struct gg_model *a, const struct gg_model *b,
		  struct gg_modeldiff *d);
void gg_modeldiff_free(struct gg_modeldiff *d);

#endif
