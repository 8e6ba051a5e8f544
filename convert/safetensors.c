/* safetensors.c - see safetensors.h.
 *
 * The files come from strangers, so nothing in a header is believed until
 * it has been checked against the file it describes: the header length
 * against the file size, every offset against the data section, every byte
 * span against shape x dtype size (with overflow checks), and the spans
 * against one another. Only then is a tensor handed to the converter, which
 * reads the mapped bytes without further checks.
 */
#include "safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "jsonutil.h"
#include "pool.h"

#define ST_SUFFIX ".safetensors"
#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_MODEL_PREFIX "model"

/* Numbers in a header are read through cJSON's double, which holds every
 * integer below 2^53 exactly; any integer literal from 2^53 up reads as
 * 2^53 or more, so refusing those refuses every value that might not be
 * the one the file wrote. No real file needs one (petabytes). */
#define ST_INT_LIMIT 9007199254740992.0 /* 2^53 */

/* The public st_set plus the name index, which callers never see. */
struct st_set_impl {
	struct st_set pub;
	size_t *slots; /* tensor index + 1; 0 marks an empty slot */
	size_t mask;   /* slot count - 1 (a power of two) */
};

/* The safetensors dtypes gguffs converts (dtype.h); the others (integers,
 * FP8, F64, bool) have no place in the GGUF files it writes. */
static int dtype_lookup(const char *s, enum gg_type *type, uint64_t *size)
{
	int t = gg_type_from_safetensors(s);
	if (t < 0)
		return -1;
	*type = (enum gg_type)t;
	*size = gg_type_size(*type);
	return 0;
}

static uint64_t read_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* ---- one header ------------------------------------------------------- */

/* A JSON number that is an exact non-negative integer. */
static bool json_uint(const cJSON *v, uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return false;
	double d = v->valuedouble;
	if (!(d >= 0 && d < ST_INT_LIMIT) || (double)(uint64_t)d != d)
		return false;
	*out = (uint64_t)d;
	return true;
}

static int parse_shape(const cJSON *shape, struct st_tensor *t,
		       const char *file, gg_err *e)
{
	if (!cJSON_IsArray(shape))
		return gg_fail(e, "%s: tensor '%s': shape is missing or not an "
			       "array", file, t->name);
	int ndim = cJSON_GetArraySize(shape);
	if (ndim > ST_MAX_DIMS)
		return gg_fail(e, "%s: tensor '%s': shape has %d dimensions "
			       "(at most %d supported)", file, t->name, ndim,
			       ST_MAX_DIMS);
	uint64_t nelem = 1;
	int d = 0;
	for (const cJSON *v = shape->child; v; v = v->next, d++) {
		if (!json_uint(v, &t->shape[d]))
			return gg_fail(e, "%s: tensor '%s': shape[%d] is not "
				       "an integer in 0..2^53-1", file,
				       t->name, d);
		if (!gg_mul_u64(nelem, t->shape[d], &nelem))
			return gg_fail(e, "%s: tensor '%s': shape element "
				       "count overflows 64 bits", file,
				       t->name);
	}
	/* A 0-D scalar is stored as [1], as Ollama does, since GGUF has no
	 * 0-D tensors. */
	if (ndim == 0) {
		ndim = 1;
		t->shape[0] = 1;
	}
	t->ndim = ndim;
	t->nelem = nelem;
	return 0;
}

/* Check data_offsets against the data section and the shape; set the
 * tensor's absolute offset and size. */
static int parse_offsets(const cJSON *offsets, uint64_t elem_size,
			 uint64_t data_start, uint64_t data_len,
			 struct st_tensor *t, const char *file, gg_err *e)
{
	uint64_t begin, end, need;
	if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
		return gg_fail(e, "%s: tensor '%s': data_offsets is not an "
			       "array of two integers", file, t->name);
	if (!json_uint(offsets->child, &begin) ||
	    !json_uint(offsets->child->next, &end))
		return gg_fail(e, "%s: tensor '%s': data_offsets holds a value "
			       "that is not an integer in 0..2^53-1", file,
			       t->name);
	if (begin > end)
		return gg_fail(e, "%s: tensor '%s': data_offsets begin %llu is "
			       "after end %llu", file, t->name,
			       (unsigned long long)begin,
			       (unsigned long long)end);
	if (end > data_len)
		return gg_fail(e, "%s: tensor '%s': data_offsets end %llu is "
			       "past the data section (%llu bytes)", file,
			       t->name, (unsigned long long)end,
			       (unsigned long long)data_len);
	if (!gg_mul_u64(t->nelem, elem_size, &need))
		return gg_fail(e, "%s: tensor '%s': byte size overflows 64 "
			       "bits", file, t->name);
	if (need != end - begin)
		return gg_fail(e, "%s: tensor '%s': data_offsets span %llu "
			       "bytes but shape and dtype need %llu", file,
			       t->name, (unsigned long long)(end - begin),
			       (unsigned long long)need);
	t->offset = data_start + begin;
	t->nbytes = need;
	return 0;
}

static int parse_entry(const cJSON *entry, uint64_t data_start,
		       uint64_t data_len, struct st_tensor *t,
		       const char *file, gg_err *e)
{
	if (!gg_utf8_valid(t->name, strlen(t->name)))
		return gg_fail(e, "%s: a tensor name is not valid UTF-8", file);
	if (!cJSON_IsObject(entry))
		return gg_fail(e, "%s: tensor '%s': entry is not a JSON object",
			       file, t->name);
	const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
	if (!cJSON_IsString(dtype))
		return gg_fail(e, "%s: tensor '%s': dtype is missing or not a "
			       "string", file, t->name);
	uint64_t elem_size;
	if (dtype_lookup(dtype->valuestring, &t->dtype, &elem_size) != 0)
		return gg_fail(e, "%s: tensor '%s': unsupported dtype '%s' "
			       "(gguffs reads F32, F16, BF16)", file, t->name,
			       dtype->valuestring);
	const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
	if (parse_shape(shape, t, file, e) != 0)
		return -1;
	const cJSON *offsets =
		cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
	return parse_offsets(offsets, elem_size, data_start, data_len, t, file,
			     e);
}

/* cJSON decodes "\u0000" and then ends the C string there, so a name
 * holding one would be silently shortened; such headers are refused. A
 * backslash can only occur inside a JSON string, so no string tracking is
 * needed to find the escapes. */
static bool has_escaped_nul(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\')
			continue;
		if (n - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0)
			return true;
		i++; /* skip the escaped character */
	}
	return false;
}

/* Decode the header text into a cJSON object. */
static int parse_header_json(const uint8_t *buf, uint64_t hlen,
			     const char *file, cJSON **out, gg_err *e)
{
	char *text = gg_strndup((const char *)buf + 8, (size_t)hlen);
	int rc = -1;
	const char *end = NULL;
	if (memchr(text, 0, (size_t)hlen)) {
		gg_fail(e, "%s: header contains a NUL byte", file);
	} else if (!gg_utf8_valid(text, (size_t)hlen)) {
		gg_fail(e, "%s: header is not valid UTF-8", file);
	} else if (has_escaped_nul(text, (size_t)hlen)) {
		gg_fail(e, "%s: header contains an escaped NUL (\\u0000)",
			file);
	} else if (!(*out = cJSON_ParseWithLengthOpts(text, (size_t)hlen + 1,
						      &end, 1))) {
		gg_fail(e, "%s: header is not valid JSON (error at header byte "
			"%zu)", file, end ? (size_t)(end - text) : (size_t)0);
	} else if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		gg_fail(e, "%s: header is not a JSON object", file);
	} else {
		rc = 0;
	}
	free(text);
	return rc;
}

static int compare_names(const void *a, const void *b)
{
	const struct st_tensor *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static int compare_ranges(const void *a, const void *b)
{
	const struct st_tensor *x = *(const struct st_tensor *const *)a;
	const struct st_tensor *y = *(const struct st_tensor *const *)b;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Two tensors sharing bytes would make one a view of the other; the
 * format forbids it, and a crafted file could use it to alias data. Empty
 * tensors own no bytes and are skipped. */
static int check_overlaps(const struct st_tensor *t, size_t n,
			  const char *file, gg_err *e)
{
	const struct st_tensor **by_offset = gg_calloc(n, sizeof *by_offset);
	for (size_t i = 0; i < n; i++)
		by_offset[i] = &t[i];
	qsort(by_offset, n, sizeof *by_offset, compare_ranges);
	const struct st_tensor *prev = NULL;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct st_tensor *cur = by_offset[i];
		if (cur->nbytes == 0)
			continue;
		if (prev && cur->offset < prev->offset + prev->nbytes)
			rc = gg_fail(e, "%s: tensors '%s' and '%s' overlap in "
				     "the data section", file, prev->name,
				     cur->name);
		prev = cur;
	}
	free(by_offset);
	return rc;
}

static int check_unique_sorted(const struct st_tensor *t, size_t n,
			       const char *file, gg_err *e)
{
	for (size_t i = 1; i < n; i++)
		if (strcmp(t[i - 1].name, t[i].name) == 0)
			return gg_fail(e, "%s: tensor '%s' appears twice in "
				       "the header", file, t[i].name);
	return 0;
}

static size_t count_tensor_entries(const cJSON *root)
{
	size_t n = 0;
	for (const cJSON *v = root->child; v; v = v->next)
		if (strcmp(v->string, "__metadata__") != 0)
			n++;
	return n;
}

/* Fill t[] from the header's entries; *n counts those filled so far so the
 * caller can free them on failure. */
static int parse_entries(const cJSON *root, uint64_t data_start,
			 uint64_t data_len, struct st_tensor *t, size_t *n,
			 const char *file, gg_err *e)
{
	for (const cJSON *v = root->child; v; v = v->next) {
		if (strcmp(v->string, "__metadata__") == 0) {
			if (!cJSON_IsObject(v))
				return gg_fail(e, "%s: __metadata__ is not a "
					       "JSON object", file);
			continue;
		}
		struct st_tensor *cur = &t[(*n)++];
		cur->name = gg_strdup(v->string);
		if (parse_entry(v, data_start, data_len, cur, file, e) != 0)
			return -1;
	}
	return 0;
}

int st_parse(const uint8_t *buf, uint64_t size, const char *name,
	     struct st_tensor **tensors, size_t *n, uint64_t *data_start,
	     gg_err *e)
{
	if (size < 8)
		return gg_fail(e, "%s: file too small for a safetensors header "
			       "(%llu bytes)", name, (unsigned long long)size);
	/* The length is the file's first 8 bytes: never printed, since a
	 * file that is not safetensors at all would show its content. */
	uint64_t hlen = read_le64(buf);
	if (hlen > ST_MAX_HEADER)
		return gg_fail(e, "%s: not a safetensors file (the header length "
			       "in its first 8 bytes is above the format's 100 MB "
			       "limit)", name);
	if (hlen > size - 8)
		return gg_fail(e, "%s: not a safetensors file, or truncated (the "
			       "header length in its first 8 bytes runs past the "
			       "end of the file, %llu bytes)", name,
			       (unsigned long long)size);
	/* The tree lives in a parse arena (jsonutil.h): one header of 300,000
	 * entries is millions of nodes, freed at once instead of leaving the
	 * heap fragmented around the names copied out of it. */
	cJSON *root;
	gg_json_arena_begin();
	if (parse_header_json(buf, hlen, name, &root, e) != 0) {
		gg_json_arena_end();
		return -1;
	}
	uint64_t start = 8 + hlen;
	struct st_tensor *t = gg_calloc(count_tensor_entries(root), sizeof *t);
	size_t count = 0;
	int rc = parse_entries(root, start, size - start, t, &count, name, e);
	cJSON_Delete(root);
	gg_json_arena_end();
	if (rc == 0) {
		qsort(t, count, sizeof *t, compare_names);
		rc = check_unique_sorted(t, count, name, e);
	}
	if (rc == 0)
		rc = check_overlaps(t, count, name, e);
	if (rc != 0) {
		st_tensors_free(t, count);
		return -1;
	}
	*tensors = t;
	*n = count;
	*data_start = start;
	return 0;
}

void st_tensors_free(struct st_tensor *t, size_t n)
{
	if (!t)
		return;
	for (size_t i = 0; i < n; i++)
		free(t[i].name);
	free(t);
}

/* ---- files ------------------------------------------------------------ */

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static int open_file(struct st_file *f, const char *path, gg_err *e)
{
	f->fd = -1;
	f->path = gg_strdup(path);
	f->name = gg_strdup(base_name(path));
	struct stat st;
	f->fd = gg_open_input(path, &st, e);
	if (f->fd < 0)
		return -1;
	f->size = (uint64_t)st.st_size;
	f->mtime = st.st_mtim;
	f->ctime = st.st_ctim;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	if (f->size == 0)
		return 0; /* st_parse reports it as too small */
	void *map = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, f->fd,
			 0);
	if (map == MAP_FAILED)
		return gg_fail(e, "%s: mmap: %s", path, strerror(errno));
	f->map = map;
	return 0;
}

static void close_file(struct st_file *f)
{
	if (f->map)
		munmap((void *)f->map, (size_t)f->size);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->name);
}

int st_file_check(const struct st_file *f, gg_err *e)
{
	struct stat st;
	if (stat(f->path, &st) != 0) {
		if (errno == ENOENT)
			return gg_fail(e, "%s: source file vanished", f->path);
		return gg_fail(e, "%s: source file cannot be checked: %s",
			       f->path, strerror(errno));
	}
	if (st.st_dev != f->dev || st.st_ino != f->ino ||
	    (uint64_t)st.st_size != f->size ||
	    st.st_mtim.tv_sec != f->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != f->mtime.tv_nsec ||
	    st.st_ctim.tv_sec != f->ctime.tv_sec ||
	    st.st_ctim.tv_nsec != f->ctime.tv_nsec)
		return gg_fail(e, "%s: source file changed since mount",
			       f->path);
	return 0;
}

/* ---- the set ---------------------------------------------------------- */

static size_t name_slot(const struct st_set_impl *s, const char *name)
{
	return (size_t)XXH3_64bits(name, strlen(name)) & s->mask;
}

/* Insert every tensor; a name already present is an error naming both
 * files, since Ollama refuses duplicate names as well. */
static int build_index(struct st_set_impl *s, gg_err *e)
{
	struct st_set *set = &s->pub;
	size_t cap = 16;
	while (cap < set->ntensors * 2)
		cap *= 2;
	s->slots = gg_calloc(cap, sizeof *s->slots);
	s->mask = cap - 1;
	for (size_t i = 0; i < set->ntensors; i++) {
		const struct st_tensor *t = &set->tensors[i];
		size_t h = name_slot(s, t->name);
		for (; s->slots[h]; h = (h + 1) & s->mask) {
			const struct st_tensor *old =
				&set->tensors[s->slots[h] - 1];
			if (strcmp(old->name, t->name) == 0)
				return gg_fail(e, "tensor '%s' appears in both "
					       "%s and %s", t->name,
					       set->files[old->file].path,
					       set->files[t->file].path);
		}
		s->slots[h] = i + 1;
	}
	return 0;
}

const struct st_tensor *st_set_find(const struct st_set *set, const char *name)
{
	const struct st_set_impl *s = (const struct st_set_impl *)set;
	if (!s || !s->slots)
		return NULL;
	for (size_t h = name_slot(s, name); s->slots[h];
	     h = (h + 1) & s->mask) {
		const struct st_tensor *t = &set->tensors[s->slots[h] - 1];
		if (strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t r = pread(fd, buf, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		buf += r, off += (uint64_t)r, len -= (size_t)r;
	}
	return 0;
}

/* The first 8 + header-length bytes of f, read with pread rather than
 * through the mapping: a file truncated while we open it then gives an
 * error instead of a SIGBUS. Lengths are checked by st_parse. */
static uint8_t *read_header(const struct st_file *f, gg_err *e)
{
	uint8_t len8[8] = { 0 };
	uint64_t hlen = 0;
	if (f->size >= 8 && pread_all(f->fd, len8, 8, 0) != 0) {
		gg_fail(e, "%s: cannot read the header length: %s", f->path,
			strerror(errno));
		return NULL;
	}
	for (int k = 7; k >= 0; k--)
		hlen = hlen << 8 | len8[k];
	if (hlen > ST_MAX_HEADER || f->size < 8 || hlen > f->size - 8)
		hlen = 0; /* st_parse reports it from the length bytes */
	uint8_t *buf = gg_malloc((size_t)(8 + hlen));
	memcpy(buf, len8, 8);
	if (hlen && pread_all(f->fd, buf + 8, (size_t)hlen, 8) != 0) {
		gg_fail(e, "%s: cannot read the header (file shrank?)", f->path);
		free(buf);
		return NULL;
	}
	return buf;
}

/* Parse f's header into a malloc'd tensor array (file index 0). */
static int parse_file(struct st_file *f, struct st_tensor **t, size_t *n,
		      gg_err *e)
{
	uint8_t *header = read_header(f, e);
	if (!header)
		return -1;
	int rc = st_parse(header, f->size, f->path, t, n, &f->data_start, e);
	free(header);
	return rc != 0 ? -1 : 0;
}

/* Append file i's parsed tensors to the set (taking their names). */
static void add_file_tensors(struct st_set *set, uint32_t i, struct st_tensor *t,
			     size_t n)
{
	set->tensors = gg_realloc(set->tensors,
				  (set->ntensors + n) * sizeof *t);
	for (size_t k = 0; k < n; k++) {
		t[k].file = i;
		set->tensors[set->ntensors++] = t[k];
	}
	free(t);
}

/* Opening and parsing one shard costs a few reads: over a high-latency
 * source (NFS, an object store) they dominate the mount, so every shard is
 * opened at once on a pool of threads, then the results are merged in
 * order (the first failing shard in order is the error reported). */
#define OPEN_THREADS 16

struct open_job {
	const char *const *paths;
	struct st_set *set;
	struct st_tensor **t;
	size_t *n;
	gg_err *errs;
	int *rc;
};

static void open_one(size_t i, void *arg)
{
	struct open_job *j = arg;
	struct st_file *f = &j->set->files[i];
	j->rc[i] = open_file(f, j->paths[i], &j->errs[i]);
	if (j->rc[i] == 0)
		j->rc[i] = parse_file(f, &j->t[i], &j->n[i], &j->errs[i]);
}

int st_set_open_files(const char *const *paths, size_t n, struct st_set **out,
		      gg_err *e)
{
	*out = NULL;
	if (n == 0)
		return gg_fail(e, "no safetensors files given");
	if (n > UINT32_MAX)
		return gg_fail(e, "too many safetensors files (%zu)", n);
	struct st_set_impl *s = gg_calloc(1, sizeof *s);
	struct st_set *set = &s->pub;
	set->files = gg_calloc(n, sizeof *set->files);
	set->nfiles = n;
	struct open_job j = { paths, set, gg_calloc(n, sizeof *j.t),
			      gg_calloc(n, sizeof *j.n),
			      gg_calloc(n, sizeof *j.errs),
			      gg_calloc(n, sizeof *j.rc) };
	struct gg_pool *pool = n > 1 ?
		gg_pool_new(n - 1 < OPEN_THREADS ? (unsigned)(n - 1) : OPEN_THREADS) : NULL;
	gg_pool_for(pool, n, open_one, &j);
	gg_pool_free(pool);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && j.rc[i] != 0) {
			if (e)
				*e = j.errs[i];
			rc = -1;
		}
		if (rc == 0)
			add_file_tensors(set, (uint32_t)i, j.t[i], j.n[i]);
		else if (j.t[i])
			st_tensors_free(j.t[i], j.n[i]);
	}
	free(j.t);
	free(j.n);
	free(j.errs);
	free(j.rc);
	if (rc == 0)
		rc = build_index(s, e);
	if (rc != 0) {
		st_set_close(set);
		return -1;
	}
	*out = set;
	return 0;
}

void st_set_close(struct st_set *set)
{
	if (!set)
		return;
	struct st_set_impl *s = (struct st_set_impl *)set;
	for (size_t i = 0; i < set->nfiles; i++)
		close_file(&set->files[i]);
	free(set->files);
	for (size_t i = 0; i < set->ntensors; i++)
		free(set->tensors[i].name);
	free(set->tensors);
	free(s->slots);
	free(s);
}

/* ---- directories and the index ---------------------------------------- */

static bool has_st_suffix(const char *name)
{
	size_t n = strlen(name), k = strlen(ST_SUFFIX);
	return n >= k && strcmp(name + n - k, ST_SUFFIX) == 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct names {
	char **v;
	size_t n;
};

static void names_add(struct names *l, const char *name)
{
	l->v = gg_realloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = gg_strdup(name);
}

/* Sort and drop repeats. */
static void names_sort_unique(struct names *l)
{
	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof *l->v, compare_strings);
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (k && strcmp(l->v[k - 1], l->v[i]) == 0)
			free(l->v[i]);
		else
			l->v[k++] = l->v[i];
	}
	l->n = k;
}

/* Names in dir that start with prefix and end in .safetensors. Whatever
 * their type: a FIFO or a directory so named is refused when opened, not
 * silently skipped. */
static int list_prefixed(const char *dir, const char *prefix,
			 struct names *out, gg_err *e)
{
	DIR *d = opendir(dir);
	if (!d)
		return gg_fail(e, "%s: %s", dir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    has_st_suffix(de->d_name))
			names_add(out, de->d_name);
	closedir(d);
	names_sort_unique(out);
	return 0;
}

/* A shard named by the index must be a plain file name in the directory:
 * an index from a stranger must not reach "../../etc/shadow". */
static bool shard_name_ok(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0 && has_st_suffix(s);
}

/* The shards the index's weight_map names, each checked to be a file name
 * present in dir. */
static int index_shards(const char *dir, const cJSON *root, const char *index,
			struct names *out, gg_err *e)
{
	const cJSON *map = NULL;
	if (gg_json_obj(root, "weight_map", &map, index, e) != 0)
		return -1;
	if (!map)
		return gg_fail(e, "%s: weight_map is missing", index);
	for (const cJSON *v = map->child; v; v = v->next) {
		if (!cJSON_IsString(v))
			return gg_fail(e, "%s: weight_map: tensor '%s' maps to a "
				       "non-string", index, v->string);
		const char *shard = v->valuestring;
		if (!shard_name_ok(shard))
			return gg_fail(e, "%s: tensor '%s' is mapped to '%s', "
				       "which is not a *.safetensors file name in "
				       "the directory", index, v->string, shard);
		if (out->n && strcmp(out->v[out->n - 1], shard) == 0)
			continue; /* the usual run of one shard's tensors */
		char *path = gg_path_join(dir, shard);
		bool there = gg_path_exists(path);
		free(path);
		if (!there)
			return gg_fail(e, "%s: tensor '%s' is mapped to shard "
				       "'%s', which is not in the directory",
				       index, v->string, shard);
		names_add(out, shard);
	}
	names_sort_unique(out);
	if (out->n == 0)
		return gg_fail(e, "%s: weight_map names no shard", index);
	return 0;
}

/* Without an index: model*.safetensors, else an adapter's own file. */
static int default_shards(const char *dir, struct names *out, gg_err *e)
{
	if (list_prefixed(dir, ST_MODEL_PREFIX, out, e) != 0)
		return -1;
	for (size_t i = 0; out->n == 0 && i < 2; i++) {
		static const char *const adapters[] = {
			"adapter_model.safetensors", /* PEFT */
			"adapters.safetensors",      /* MLX-LM */
		};
		char *path = gg_path_join(dir, adapters[i]);
		if (gg_path_exists(path))
			names_add(out, adapters[i]);
		free(path);
	}
	if (out->n == 0)
		return gg_fail(e, "%s: no model*.safetensors files (and no "
			       ST_INDEX_NAME ")", dir);
	return 0;
}

/* One weight_map entry (shape already checked by index_shards): the shard
 * holds that tensor. */
static int check_index_entry(const struct st_set *set, const cJSON *entry,
			     bool *listed, const char *index, gg_err *e)
{
	const char *name = entry->string;
	const char *shard = entry->valuestring;
	const struct st_tensor *t = st_set_find(set, name);
	if (!t)
		return gg_fail(e, "%s: tensor '%s' is listed in the index but "
			       "not in any shard", index, name);
	const char *actual = set->files[t->file].name;
	if (strcmp(actual, shard) != 0)
		return gg_fail(e, "%s: tensor '%s' is in %s but the index "
			       "says %s", index, name, actual, shard);
	listed[t - set->tensors] = true;
	return 0;
}

/* The shards the index names must hold exactly the tensors it lists, each
 * where it says: anything else is an incomplete download or a mixed
 * directory, better refused than silently converted. */
static int check_index(const struct st_set *set, const cJSON *root,
		       const char *index, gg_err *e)
{
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
	bool *listed = gg_calloc(set->ntensors, sizeof *listed);
	int rc = 0;
	for (const cJSON *v = map->child; v && rc == 0; v = v->next)
		rc = check_index_entry(set, v, listed, index, e);
	for (size_t i = 0; i < set->ntensors && rc == 0; i++) {
		const struct st_tensor *t = &set->tensors[i];
		if (!listed[i])
			rc = gg_fail(e, "%s: tensor '%s' in %s is not listed "
				     "in the index", index, t->name,
				     set->files[t->file].name);
	}
	free(listed);
	return rc;
}

static int open_names(const char *dir, const struct names *l,
		      struct st_set **out, gg_err *e)
{
	char **paths = gg_calloc(l->n, sizeof *paths);
	for (size_t i = 0; i < l->n; i++)
		paths[i] = gg_path_join(dir, l->v[i]);
	int rc = st_set_open_files((const char *const *)paths, l->n, out, e);
	free_strings(paths, l->n);
	return rc;
}

int st_set_open_dir(const char *dir, struct st_set **out, gg_err *e)
{
	*out = NULL;
	char *index = gg_path_join(dir, ST_INDEX_NAME);
	cJSON *root = NULL;
	struct names shards = { 0 };
	int rc = gg_json_load(index, true, false, &root, e);
	if (rc == 0)
		rc = root ? index_shards(dir, root, index, &shards, e)
			  : default_shards(dir, &shards, e);
	if (rc == 0)
		rc = open_names(dir, &shards, out, e);
	if (rc == 0 && root && check_index(*out, root, index, e) != 0) {
		st_set_close(*out);
		*out = NULL;
		rc = -1;
	}
	cJSON_Delete(root);
	free_strings(shards.v, shards.n);
	free(index);
	return rc;
}
