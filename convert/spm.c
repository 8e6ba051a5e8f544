/* spm.c - a minimal, bounds-checked reader of SentencePiece tokenizer.model
 * files. See spm.h.
 *
 * The file is a protobuf (proto2) ModelProto. Ollama reads only field 1,
 * the repeated SentencePiece pieces; each piece has 1 piece (string),
 * 2 score (float, fixed32) and 3 type (enum varint, default NORMAL). All
 * other fields are skipped by wire type. A field whose wire type does not
 * match its declaration is skipped too: Go's protobuf runtime treats it as
 * an unknown field, and Ollama converts such files without complaint.
 *
 * Stricter than Ollama (on purpose; these inputs are broken models): a piece
 * that is not valid UTF-8 or contains a NUL byte, and a type outside 1..6,
 * are errors. Go would keep the bytes and silently read the type as NORMAL.
 */
#include "spm.h"

#include <stdlib.h>
#include <string.h>

/* tokenizer.model files are a few MB; this only guards against absurd input. */
#define SPM_MAX_BYTES (256u << 20)

enum {
	WT_VARINT = 0,
	WT_FIXED64 = 1,
	WT_LEN = 2,
	WT_GROUP_START = 3,
	WT_GROUP_END = 4,
	WT_FIXED32 = 5,
};

/* Largest protobuf field number (2^29 - 1). */
#define PB_MAX_FIELD 536870911u

struct pb_reader {
	const uint8_t *buf;
	size_t len; /* whole buffer, for messages */
	const char *name;
	gg_err *e;
};

/* Read a base-128 varint at *pos, not reading at or past end. */
static int read_varint(const struct pb_reader *r, size_t *pos, size_t end,
		       uint64_t *out)
{
	size_t start = *pos;
	uint64_t v = 0;
	for (unsigned i = 0; i < 10; i++) {
		if (*pos >= end)
			return gg_fail(r->e, "%s: truncated varint at byte %zu",
				       r->name, start);
		uint8_t b = r->buf[(*pos)++];
		/* The 10th byte holds only bit 63 and must end the varint. */
		if (i == 9 && (b & 0x80))
			return gg_fail(r->e, "%s: varint longer than 10 bytes at byte %zu",
				       r->name, start);
		if (i == 9 && b > 1)
			return gg_fail(r->e, "%s: varint overflows 64 bits at byte %zu",
				       r->name, start);
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1; /* not reached: the 10th byte always decides */
}

/* Read a field key; split it into field number and wire type. */
static int read_key(const struct pb_reader *r, size_t *pos, size_t end,
		    uint32_t *field, unsigned *wt)
{
	size_t start = *pos;
	uint64_t key;
	if (read_varint(r, pos, end, &key) != 0)
		return -1;
	uint64_t num = key >> 3;
	if (num == 0 || num > PB_MAX_FIELD)
		return gg_fail(r->e, "%s: invalid protobuf field number at byte %zu",
			       r->name, start);
	*field = (uint32_t)num;
	*wt = (unsigned)(key & 7);
	return 0;
}

/* For a length-delimited field at *pos: the payload bounds. */
static int read_len(const struct pb_reader *r, size_t *pos, size_t end,
		    size_t *data_start, size_t *data_end)
{
	size_t start = *pos;
	uint64_t n;
	if (read_varint(r, pos, end, &n) != 0)
		return -1;
	if (n > end - *pos)
		return gg_fail(r->e,
			       "%s: the length at byte %zu runs past the end of its message (%zu bytes left)",
			       r->name, start, end - *pos);
	*data_start = *pos;
	*data_end = *pos + (size_t)n;
	*pos = *data_end;
	return 0;
}

/* Skip the value of a field of wire type wt starting at *pos. key_at is the
 * offset of the key, for messages. */
static int skip_value(const struct pb_reader *r, size_t *pos, size_t end,
		      unsigned wt, size_t key_at)
{
	uint64_t v;
	size_t a, b;
	switch (wt) {
	case WT_VARINT:
		return read_varint(r, pos, end, &v);
	case WT_FIXED64:
	case WT_FIXED32: {
		size_t n = wt == WT_FIXED64 ? 8 : 4;
		if (end - *pos < n)
			return gg_fail(r->e, "%s: truncated fixed%zu value at byte %zu",
				       r->name, n * 8, *pos);
		*pos += n;
		return 0;
	}
	case WT_LEN:
		return read_len(r, pos, end, &a, &b);
	case WT_GROUP_START:
	case WT_GROUP_END:
		return gg_fail(r->e, "%s: unsupported protobuf group at byte %zu",
			       r->name, key_at);
	default:
		return gg_fail(r->e, "%s: unknown protobuf wire type at byte %zu",
			       r->name, key_at);
	}
}

static float float_from_le(const uint8_t *p)
{
	uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
		     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static int set_piece_text(const struct pb_reader *r, struct spm_piece *p,
			  size_t a, size_t b)
{
	const char *s = (const char *)r->buf + a;
	size_t n = b - a;
	if (!gg_utf8_valid(s, n))
		return gg_fail(r->e, "%s: piece at byte %zu is not valid UTF-8",
			       r->name, a);
	if (memchr(s, 0, n))
		return gg_fail(r->e, "%s: piece at byte %zu contains a NUL byte",
			       r->name, a);
	free(p->piece); /* proto semantics: the last occurrence wins */
	p->piece = gg_strndup(s, n);
	return 0;
}

/* Parse one SentencePiece message occupying [start, end). */
static int parse_piece(const struct pb_reader *r, size_t start, size_t end,
		       struct spm_piece *p)
{
	size_t pos = start;
	p->piece = NULL;
	p->score = 0.0f;
	p->type = SPM_NORMAL;
	while (pos < end) {
		size_t key_at = pos;
		uint32_t field;
		unsigned wt;
		if (read_key(r, &pos, end, &field, &wt) != 0)
			return -1;
		if (field == 1 && wt == WT_LEN) {
			size_t a, b;
			if (read_len(r, &pos, end, &a, &b) != 0 ||
			    set_piece_text(r, p, a, b) != 0)
				return -1;
		} else if (field == 2 && wt == WT_FIXED32) {
			if (end - pos < 4)
				return gg_fail(r->e, "%s: truncated score at byte %zu",
					       r->name, pos);
			p->score = float_from_le(r->buf + pos);
			pos += 4;
		} else if (field == 3 && wt == WT_VARINT) {
			size_t at = pos;
			uint64_t t;
			if (read_varint(r, &pos, end, &t) != 0)
				return -1;
			if (t < SPM_NORMAL || t > SPM_BYTE)
				return gg_fail(r->e, "%s: piece type at byte %zu is not in 1..6",
					       r->name, at);
			p->type = (enum spm_type)t;
		} else if (skip_value(r, &pos, end, wt, key_at) != 0) {
			return -1;
		}
	}
	if (!p->piece)
		p->piece = gg_strdup("");
	return 0;
}

static void push_piece(struct spm_model *m, size_t *cap,
		       const struct spm_piece *p)
{
	if (m->n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		m->pieces = gg_realloc(m->pieces, *cap * sizeof *m->pieces);
	}
	m->pieces[m->n++] = *p;
}

int spm_parse(const uint8_t *buf, size_t len, const char *name,
	      struct spm_model *out, gg_err *e)
{
	struct pb_reader r = { buf, len, name, e };
	struct spm_model m = { NULL, 0 };
	size_t cap = 0, pos = 0;
	while (pos < len) {
		size_t key_at = pos;
		uint32_t field;
		unsigned wt;
		if (read_key(&r, &pos, len, &field, &wt) != 0)
			goto fail;
		if (field == 1 && wt == WT_LEN) {
			size_t a, b;
			struct spm_piece p;
			if (read_len(&r, &pos, len, &a, &b) != 0)
				goto fail;
			if (parse_piece(&r, a, b, &p) != 0) {
				free(p.piece);
				goto fail;
			}
			push_piece(&m, &cap, &p);
		} else if (skip_value(&r, &pos, len, wt, key_at) != 0) {
			goto fail;
		}
	}
	*out = m;
	return 0;
fail:
	spm_free(&m);
	return -1;
}

int spm_load(const char *path, struct spm_model *out, gg_err *e)
{
	char *data;
	size_t len;
	if (gg_read_file(path, SPM_MAX_BYTES, &data, &len, e) != 0)
		return -1;
	int rc = spm_parse((const uint8_t *)data, len, path, out, e);
	free(data);
	return rc;
}

void spm_free(struct spm_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->pieces[i].piece);
	free(m->pieces);
	m->pieces = NULL;
	m->n = 0;
}
