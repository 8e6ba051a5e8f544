/* gguffs-inspect - print a GGUF file's metadata and tensor table.
 *
 *   gguffs-inspect [--json] FILE.gguf
 *
 * Text mode is for people: arrays and long strings are abbreviated. JSON
 * mode is for scripts and tests: everything, in full, written with cJSON.
 * Any GGUF v2/v3 file is accepted, not just ones gguffs made; parsing is
 * gguf_reader's, so a malformed file gets its one-line diagnosis.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gguf_reader.h"
#include "model.h"

#define PROG "gguffs-inspect"

/* Text mode shows this many array elements and string bytes. */
#define SHOW_ELEMS 3
#define SHOW_BYTES 72

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " [--json] FILE.gguf\n"
		"Print a GGUF file's key/value metadata (in file order) and its\n"
		"tensor table (GGML dimension order, absolute file offsets).\n"
		"  --json     one JSON document with every value in full\n"
		"             (numbers are doubles: integers above 2^53 are\n"
		"             rounded; invalid UTF-8 becomes U+FFFD)\n"
		"  -h, --help     this text\n"
		"  -V, --version  print the version\n");
}

/* GGML type name, else "TYPE<n>" for ids the reader does not know. */
static const char *tensor_type_name(enum gg_type t, char buf[16])
{
	const char *name = gguf_ggml_type_name((uint32_t)t);
	if (name)
		return name;
	snprintf(buf, 16, "TYPE%u", (unsigned)t);
	return buf;
}

/* ---- text output ----------------------------------------------------- */

/* Print bytes as a quoted string with C escapes; at most `max` bytes,
 * then "...". Invalid UTF-8 is shown byte by byte as \xNN. */
static void print_quoted(const char *s, uint64_t n, uint64_t max)
{
	bool utf8 = gg_utf8_valid(s, (size_t)n);
	putchar('"');
	for (uint64_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		/* Stop at the limit, but not inside a UTF-8 sequence. */
		if (i >= max && (ch & 0xc0) != 0x80) {
			fputs("\"...", stdout);
			return;
		}
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8))
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* One number of a scalar or array element, from its packed bytes. */
static void print_number(enum gguf_vtype t, const uint8_t *p)
{
	uint64_t u = 0;
	memcpy(&u, p, gguf_vtype_size(t)); /* little-endian host */
	switch (t) {
	case GGUF_VT_I8: printf("%d", (int8_t)u); break;
	case GGUF_VT_I16: printf("%d", (int16_t)u); break;
	case GGUF_VT_I32: printf("%" PRId32, (int32_t)u); break;
	case GGUF_VT_I64: printf("%" PRId64, (int64_t)u); break;
	case GGUF_VT_BOOL: fputs(u ? "true" : "false", stdout); break;
	case GGUF_VT_F32: {
		float f;
		memcpy(&f, p, 4);
		printf("%.9g", f);
		break;
	}
	case GGUF_VT_F64: {
		double d;
		memcpy(&d, p, 8);
		printf("%.17g", d);
		break;
	}
	default: printf("%" PRIu64, u); break;
	}
}

/* A scalar KV as the packed little-endian bytes of its type, so scalars
 * and array elements share one formatter. */
static void pack_scalar(const struct gguf_kv *kv, uint8_t packed[8])
{
	if (kv->type == GGUF_VT_F32) {
		float f = (float)kv->v.f;
		memcpy(packed, &f, 4);
	} else if (kv->type == GGUF_VT_F64) {
		memcpy(packed, &kv->v.f, 8);
	} else if (kv->type == GGUF_VT_BOOL) {
		packed[0] = kv->v.b;
	} else {
		memcpy(packed, &kv->v.u, 8);
	}
}

static void print_scalar(const struct gguf_kv *kv)
{
	uint8_t packed[8];
	pack_scalar(kv, packed);
	print_number(kv->type, packed);
}

static void print_array(const struct gguf_kv *kv)
{
	printf("[%s x%" PRIu64 "]", gguf_vtype_name(kv->arr_type), kv->arr_n);
	uint64_t show = kv->arr_n < SHOW_ELEMS ? kv->arr_n : SHOW_ELEMS;
	size_t esz = gguf_vtype_size(kv->arr_type);
	for (uint64_t i = 0; i < show; i++) {
		fputs(i ? ", " : " ", stdout);
		if (kv->arr_type == GGUF_VT_STRING) {
			const struct gguf_str *s = &((struct gguf_str *)kv->arr)[i];
			print_quoted(s->s, s->n, SHOW_BYTES);
		} else {
			print_number(kv->arr_type, (const uint8_t *)kv->arr + i * esz);
		}
	}
	if (show < kv->arr_n)
		fputs(", ...", stdout);
}

/* What gguffs knows about the runtime support of the file's architecture
 * (mllama: none upstream), or NULL. */
static const char *arch_notice(const struct gguf_file *f)
{
	const struct gguf_kv *arch = gguf_kvs_get(f->kvs, "general.architecture");
	if (!arch || arch->type != GGUF_VT_STRING)
		return NULL;
	const struct gg_arch *a = gg_arch_find_gguf(arch->str.s);
	return a && a->no_upstream ? a->notes : NULL;
}

static void print_text(const char *path, const struct gguf_file *f)
{
	printf("%s: GGUF v%" PRIu32 ", %zu keys, %" PRIu64
	       " tensors, alignment %" PRIu32 ", data at offset %" PRIu64
	       ", file size %" PRIu64 "\n\n",
	       path, f->version, f->kvs->n, f->ntensors, f->alignment,
	       f->data_offset, f->file_size);
	if (arch_notice(f))
		printf("note: %s\n\n", arch_notice(f));

	size_t width = 0;
	for (size_t i = 0; i < f->kvs->n; i++)
		if (strlen(f->kvs->kv[i].key) > width)
			width = strlen(f->kvs->kv[i].key);
	for (size_t i = 0; i < f->kvs->n; i++) {
		const struct gguf_kv *kv = &f->kvs->kv[i];
		printf("%-*s  ", (int)width, kv->key);
		if (kv->type == GGUF_VT_ARRAY) {
			print_array(kv);
		} else if (kv->type == GGUF_VT_STRING) {
			printf("STRING ");
			print_quoted(kv->str.s, kv->str.n, SHOW_BYTES);
		} else {
			printf("%s ", gguf_vtype_name(kv->type));
			print_scalar(kv);
		}
		putchar('\n');
	}

	width = 4;
	for (uint64_t i = 0; i < f->ntensors; i++)
		if (strlen(f->tensors[i].name) > width)
			width = strlen(f->tensors[i].name);
	printf("\n%-*s  %-6s  %-28s  %14s  %14s\n", (int)width, "NAME", "TYPE",
	       "DIMS", "OFFSET", "SIZE");
	uint64_t total = 0;
	for (uint64_t i = 0; i < f->ntensors; i++) {
		const struct gguf_tensor_info *t = &f->tensors[i];
		char dims[128], tbuf[16];
		size_t len = 0;
		dims[len++] = '[';
		for (uint32_t d = 0; d < t->n_dims; d++)
			len += (size_t)snprintf(dims + len, sizeof dims - len,
						"%s%" PRIu64, d ? ", " : "", t->ne[d]);
		snprintf(dims + len, sizeof dims - len, "]");
		printf("%-*s  %-6s  %-28s  %14" PRIu64 "  %14" PRIu64 "\n",
		       (int)width, t->name, tensor_type_name(t->type, tbuf), dims,
		       f->data_offset + t->offset, t->nbytes);
		total += t->nbytes;
	}
	printf("\n%" PRIu64 " tensors, %" PRIu64 " bytes of tensor data"
	       " (data section %" PRIu64 " bytes)\n",
	       f->ntensors, total,
	       f->file_size > f->data_offset ? f->file_size - f->data_offset : 0);
}

/* ---- JSON output ----------------------------------------------------- */

/* JSON strings must be UTF-8 without NULs (cJSON takes C strings). GGUF
 * strings may hold any bytes, so invalid sequences and NULs become
 * U+FFFD. Returns s itself when it is already fine, else a malloc'd copy
 * in *copy. */
static const char *json_safe(const char *s, uint64_t n, char **copy)
{
	*copy = NULL;
	if (!memchr(s, '\0', (size_t)n) && gg_utf8_valid(s, (size_t)n))
		return s;
	char *out = gg_malloc((size_t)n * 3 + 1), *o = out;
	for (uint64_t i = 0; i < n;) {
		unsigned char ch = (unsigned char)s[i];
		size_t len = ch < 0x80 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
		if (ch != 0 && i + len <= n && gg_utf8_valid(s + i, len)) {
			memcpy(o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	*copy = out;
	return out;
}

static cJSON *json_string(const char *s, uint64_t n)
{
	char *copy;
	cJSON *j = cJSON_CreateString(json_safe(s, n, &copy));
	free(copy);
	return j;
}

/* Numbers become JSON doubles: 64-bit integers above 2^53 lose their low
 * bits, which no real GGUF key needs. */
static cJSON *json_number(enum gguf_vtype t, const uint8_t *p)
{
	uint64_t u = 0;
	memcpy(&u, p, gguf_vtype_size(t));
	switch (t) {
	case GGUF_VT_I8: return cJSON_CreateNumber((int8_t)u);
	case GGUF_VT_I16: return cJSON_CreateNumber((int16_t)u);
	case GGUF_VT_I32: return cJSON_CreateNumber((int32_t)u);
	case GGUF_VT_I64: return cJSON_CreateNumber((double)(int64_t)u);
	case GGUF_VT_BOOL: return cJSON_CreateBool(u != 0);
	case GGUF_VT_F32: {
		float f;
		memcpy(&f, p, 4);
		return cJSON_CreateNumber(f);
	}
	case GGUF_VT_F64: {
		double d;
		memcpy(&d, p, 8);
		return cJSON_CreateNumber(d);
	}
	default: return cJSON_CreateNumber((double)u);
	}
}

static cJSON *json_scalar(const struct gguf_kv *kv)
{
	uint8_t packed[8];
	pack_scalar(kv, packed);
	return json_number(kv->type, packed);
}

static cJSON *json_array_values(const struct gguf_kv *kv)
{
	cJSON *arr = cJSON_CreateArray();
	size_t esz = gguf_vtype_size(kv->arr_type);
	for (uint64_t i = 0; i < kv->arr_n; i++) {
		cJSON *item;
		if (kv->arr_type == GGUF_VT_STRING) {
			const struct gguf_str *s = &((struct gguf_str *)kv->arr)[i];
			item = json_string(s->s, s->n);
		} else {
			item = json_number(kv->arr_type,
					   (const uint8_t *)kv->arr + i * esz);
		}
		cJSON_AddItemToArray(arr, item);
	}
	return arr;
}

static cJSON *json_kv(const struct gguf_kv *kv)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "key", json_string(kv->key, strlen(kv->key)));
	cJSON_AddStringToObject(o, "type", gguf_vtype_name(kv->type));
	if (kv->type == GGUF_VT_ARRAY) {
		cJSON_AddStringToObject(o, "elem_type",
					gguf_vtype_name(kv->arr_type));
		cJSON_AddNumberToObject(o, "count", (double)kv->arr_n);
		cJSON_AddItemToObject(o, "value", json_array_values(kv));
	} else if (kv->type == GGUF_VT_STRING) {
		cJSON_AddItemToObject(o, "value", json_string(kv->str.s, kv->str.n));
	} else {
		cJSON_AddItemToObject(o, "value", json_scalar(kv));
	}
	return o;
}

static cJSON *json_tensor(const struct gguf_file *f,
			  const struct gguf_tensor_info *t)
{
	char tbuf[16];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "name", json_string(t->name, strlen(t->name)));
	cJSON_AddStringToObject(o, "type", tensor_type_name(t->type, tbuf));
	cJSON *dims = cJSON_AddArrayToObject(o, "dims");
	for (uint32_t d = 0; d < t->n_dims; d++)
		cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)t->ne[d]));
	cJSON_AddNumberToObject(o, "offset", (double)(f->data_offset + t->offset));
	cJSON_AddNumberToObject(o, "size", (double)t->nbytes);
	return o;
}

static int print_json(const struct gguf_file *f)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddNumberToObject(root, "version", f->version);
	cJSON_AddNumberToObject(root, "alignment", f->alignment);
	cJSON_AddNumberToObject(root, "data_offset", (double)f->data_offset);
	cJSON_AddNumberToObject(root, "file_size", (double)f->file_size);
	if (arch_notice(f))
		cJSON_AddStringToObject(root, "notice", arch_notice(f));
	cJSON *kvs = cJSON_AddArrayToObject(root, "kv");
	for (size_t i = 0; i < f->kvs->n; i++)
		cJSON_AddItemToArray(kvs, json_kv(&f->kvs->kv[i]));
	cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
	for (uint64_t i = 0; i < f->ntensors; i++)
		cJSON_AddItemToArray(ts, json_tensor(f, &f->tensors[i]));
	char *text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text) {
		fputs(PROG ": out of memory writing JSON\n", stderr);
		return 1;
	}
	puts(text);
	cJSON_free(text);
	return 0;
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
	bool json = false;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--help") == 0 ||
			   strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0 ||
			   strcmp(argv[i], "-V") == 0) {
			printf(PROG " %s\n", GGUFFS_VERSION);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, PROG ": unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (path) {
			fprintf(stderr, PROG ": only one file may be given\n");
			usage(stderr);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}

	struct gguf_file *f;
	gg_err e;
	if (gguf_read_file(path, &f, &e) < 0) {
		fprintf(stderr, PROG ": %s\n", e.msg);
		return 1;
	}
	int rc = 0;
	if (json)
		rc = print_json(f);
	else
		print_text(path, f);
	gguf_file_free(f);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror(PROG ": writing output");
		rc = 1;
	}
	return rc;
}
