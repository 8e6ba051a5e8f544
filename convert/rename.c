/* rename.c - Go strings.NewReplacer semantics (rename.h). */
#include "rename.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct pair {
	const char *old, *new;
	size_t oldlen, newlen;
};

/* Pairs grouped by the first byte of their old string, each group in
 * listed order, so a position tries only the pairs that can match. */
struct gg_replacer {
	struct pair *pairs;
	uint32_t start[257]; /* pairs[start[c] .. start[c + 1]) begin with byte c */
};

static size_t count_pairs(const struct gg_renames *r)
{
	return r ? count_pairs(r->first) + r->n : 0;
}

/* Append r's pairs (its `first` chain before them) in listed order. */
static void flatten(const struct gg_renames *r, struct pair *out, size_t *n)
{
	if (!r)
		return;
	flatten(r->first, out, n);
	for (size_t i = 0; i < r->n; i++) {
		const char *old = r->pairs[2 * i], *new = r->pairs[2 * i + 1];
		if (!old[0])
			continue; /* an empty old string never matches here */
		out[(*n)++] = (struct pair){ old, new, strlen(old), strlen(new) };
	}
}

struct gg_replacer *gg_replacer_new(const struct gg_renames *r)
{
	size_t total = count_pairs(r), n = 0;
	struct pair *flat = gg_calloc(total + 1, sizeof *flat);
	flatten(r, flat, &n);
	struct gg_replacer *rp = gg_calloc(1, sizeof *rp);
	rp->pairs = gg_calloc(n + 1, sizeof *rp->pairs);
	/* A stable counting sort by first byte keeps the listed order. */
	uint32_t count[256] = { 0 };
	for (size_t i = 0; i < n; i++)
		count[(unsigned char)flat[i].old[0]]++;
	for (int c = 0; c < 256; c++)
		rp->start[c + 1] = rp->start[c] + count[c];
	uint32_t fill[256];
	memcpy(fill, rp->start, sizeof fill);
	for (size_t i = 0; i < n; i++)
		rp->pairs[fill[(unsigned char)flat[i].old[0]]++] = flat[i];
	free(flat);
	return rp;
}

void gg_replacer_free(struct gg_replacer *rp)
{
	if (!rp)
		return;
	free(rp->pairs);
	free(rp);
}

/* The earliest-listed pair matching at p, or NULL. */
static const struct pair *match_at(const struct gg_replacer *rp, const char *p)
{
	unsigned char c = (unsigned char)*p;
	for (uint32_t i = rp->start[c]; i < rp->start[c + 1]; i++)
		if (strncmp(p, rp->pairs[i].old, rp->pairs[i].oldlen) == 0)
			return &rp->pairs[i];
	return NULL;
}

char *gg_replacer_apply(const struct gg_replacer *rp, const char *in)
{
	size_t cap = strlen(in) * 2 + 16, len = 0;
	char *out = gg_malloc(cap);
	for (const char *p = in; *p;) {
		const struct pair *m = match_at(rp, p);
		const char *add = m ? m->new : p;
		size_t addlen = m ? m->newlen : 1;
		if (len + addlen + 1 > cap) {
			cap = (len + addlen + 1) * 2;
			out = gg_realloc(out, cap);
		}
		memcpy(out + len, add, addlen);
		len += addlen;
		p += m ? m->oldlen : 1;
	}
	out[len] = 0;
	return out;
}

char *gg_rename(const struct gg_renames *r, const char *in)
{
	struct gg_replacer *rp = gg_replacer_new(r);
	char *out = gg_replacer_apply(rp, in);
	gg_replacer_free(rp);
	return out;
}
