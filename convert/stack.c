/* stack.c - experts stacked by numeric index (stack.h). */
#include "stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "typerules.h"

struct gg_stacker {
	const struct gg_stack_rule *rules;
	size_t nrules;
	uint32_t n_blocks, n_index;
	const char *count_key, *dir;
	const struct st_tensor **slot; /* [block][rule][index] */
};

struct gg_stacker *gg_stacker_new(const struct gg_stack_rule *rules, size_t nrules,
				  uint32_t n_blocks, uint32_t n_index,
				  const char *count_key, const char *dir, gg_err *e)
{
	uint64_t cells = (uint64_t)n_blocks * nrules * n_index;
	if (n_blocks > 65536 || n_index > 65536 || cells > (1u << 24)) {
		gg_fail(e, "%s: %u blocks x %u %s is too large", dir, n_blocks, n_index, count_key);
		return NULL;
	}
	struct gg_stacker *s = gg_calloc(1, sizeof *s);
	*s = (struct gg_stacker){ rules, nrules, n_blocks, n_index, count_key, dir, NULL };
	s->slot = gg_calloc((size_t)cells + 1, sizeof *s->slot);
	return s;
}

void gg_stacker_free(struct gg_stacker *s)
{
	if (!s)
		return;
	free(s->slot);
	free(s);
}

/* A decimal field of at most 9 digits ending at '.' or the end; -1 if the
 * field is something else, -2 if it is empty. *p moves past it. */
static long field(const char **p)
{
	const char *s = *p;
	size_t n = strcspn(s, ".");
	*p = s + n;
	if (n == 0)
		return -2;
	if (n > 9)
		return -1;
	long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Match name against pat: 0 match, 1 no match, 2 the index field is not a
 * number (the rest matches). */
static int match(const char *pat, const char *name, long *block, long *index)
{
	int hashes = 0;
	bool bad_index = false;
	while (*pat) {
		if (*pat == '#') {
			long v = field(&name);
			if (v == -2 || (v == -1 && hashes == 0))
				return 1;
			if (v == -1)
				bad_index = true;
			*(hashes++ == 0 ? block : index) = v;
			pat++;
			continue;
		}
		if (*pat++ != *name++)
			return 1;
	}
	if (*name)
		return 1;
	return bad_index ? 2 : 0;
}

int gg_stacker_offer(struct gg_stacker *s, const struct st_tensor *st, gg_err *e)
{
	for (size_t r = 0; r < s->nrules; r++) {
		long block = 0, index = 0;
		int m = match(s->rules[r].src, st->name, &block, &index);
		if (m == 1)
			continue;
		if ((uint64_t)block >= s->n_blocks)
			return 0;
		if (m == 2)
			return gg_fail(e, "%s: tensor %s: expert index is not a number", s->dir, st->name);
		if ((uint64_t)index >= s->n_index)
			return gg_fail(e, "%s: tensor %s: expert %ld, but %s is %u", s->dir,
				       st->name, index, s->count_key, s->n_index);
		const struct st_tensor **slot =
			&s->slot[((size_t)block * s->nrules + r) * s->n_index + (size_t)index];
		if (*slot)
			return gg_fail(e, "%s: tensors %s and %s are the same expert", s->dir,
				       (*slot)->name, st->name);
		*slot = st;
		return 1;
	}
	return 0;
}

/* The member's kind name ("gate_proj") from its pattern, for messages. */
static void member_kind(const char *pat, char *buf, size_t cap)
{
	const char *last = strrchr(pat, '#');
	const char *p = last ? last + 2 : pat;
	snprintf(buf, cap, "%.*s", (int)strcspn(p, "."), p);
}

static int emit_one(struct gg_stacker *s, struct gg_outfile *f, uint32_t block,
		    size_t r, gg_err *e)
{
	const struct st_tensor **sts = &s->slot[((size_t)block * s->nrules + r) * s->n_index];
	uint32_t present = 0;
	for (uint32_t i = 0; i < s->n_index; i++)
		present += sts[i] != NULL;
	if (present == 0)
		return 0; /* a dense block */
	char kind[64];
	member_kind(s->rules[r].src, kind, sizeof kind);
	for (uint32_t i = 0; i < s->n_index; i++)
		if (!sts[i])
			return gg_fail(e, "%s: layer %u: expert %u of %u has no %s weight",
				       s->dir, block, i, s->n_index, kind);
	if (sts[0]->ndim < 1 || sts[0]->ndim > GGUF_MAX_DIMS - 1)
		return gg_fail(e, "%s: tensor %s: an expert weight of %d dims cannot be stacked",
			       s->dir, sts[0]->name, sts[0]->ndim);
	char name[256];
	snprintf(name, sizeof name, s->rules[r].dst, block);
	uint64_t shape[GGUF_MAX_DIMS] = { s->n_index };
	memcpy(shape + 1, sts[0]->shape, (size_t)sts[0]->ndim * sizeof *shape);
	/* A merged tensor takes its first member's type (Ollama mergeTensors);
	 * the member and stacked names meet the same type rules. */
	enum gg_type type = gg_ollama_kind(name, sts[0]->ndim, sts[0]->dtype);
	struct gg_tensor *t = gg_outfile_add(f, name, type, shape, sts[0]->ndim + 1, e);
	return t ? gg_tensor_set_stack(t, sts, s->n_index, e) : -1;
}

int gg_stacker_emit(struct gg_stacker *s, struct gg_outfile *f, gg_err *e)
{
	for (uint32_t b = 0; b < s->n_blocks; b++)
		for (size_t r = 0; r < s->nrules; r++)
			if (emit_one(s, f, b, r, e))
				return -1;
	return 0;
}
