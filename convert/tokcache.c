/* tokcache.c - on-disk cache of tokenizer metadata (tokcache.h). */
#include "tokcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "gguf_reader.h"

/* Bump when the KVs gguffs derives from the same files change. */
#define TOKCACHE_FORMAT "gguffs-tokcache-1"

/* Entries are 1-25 MB (one per tokenizer identity and style); 1 GiB keeps
 * every model a user mounts and bounds what changed files leave behind. */
#define TOKCACHE_DEFAULT_BUDGET (1ull << 30)
/* A temporary file this old belongs to a writer that died. */
#define TOKCACHE_TMP_AGE 3600

/* Every file tokenizer_load may read (tokenizer.h). */
static const char *const inputs[] = {
	"tokenizer.json", "tokenizer.model", "tokenizer_config.json",
	"generation_config.json", "added_tokens.json", "special_tokens_map.json",
};

/* The cache directory, malloc'd, or NULL when disabled or unknown. */
static char *cache_dir(void)
{
	const char *dir = getenv("GGUFFS_CACHE_DIR");
	if (dir && strcmp(dir, "off") == 0)
		return NULL;
	if (dir && *dir)
		return gg_strdup(dir);
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && *xdg)
		return gg_path_join(xdg, "gguffs");
	const char *home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	return gg_path_join(home, ".cache/gguffs");
}

struct file_identity {
	uint64_t present, dev, ino, size;
	int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
};

/* The entry's file name: XXH3 over the format, the vocabulary size, the
 * variant (if any) and the identity of each input file (absent files count
 * too). *allowed turns false when an input present fails the input policy
 * (util.h): a cached entry must not serve what the files themselves would
 * not. */
static char *entry_path(const char *cache, const char *dir, uint32_t vocab,
			const char *variant, bool *allowed)
{
	XXH3_state_t *h = XXH3_createState();
	XXH3_64bits_reset(h);
	XXH3_64bits_update(h, TOKCACHE_FORMAT, sizeof TOKCACHE_FORMAT);
	XXH3_64bits_update(h, &vocab, sizeof vocab);
	if (variant)
		XXH3_64bits_update(h, variant, strlen(variant) + 1);
	for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
		struct file_identity id;
		struct stat st;
		char *path = gg_path_join(dir, inputs[i]);
		memset(&id, 0, sizeof id);
		if (stat(path, &st) == 0 && gg_input_allowed(path, NULL) != 0)
			*allowed = false;
		if (stat(path, &st) == 0) {
			id = (struct file_identity){ 1, (uint64_t)st.st_dev,
				(uint64_t)st.st_ino, (uint64_t)st.st_size,
				st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				st.st_ctim.tv_sec, st.st_ctim.tv_nsec };
		}
		free(path);
		XXH3_64bits_update(h, &id, sizeof id);
	}
	char name[64];
	snprintf(name, sizeof name, "tok-%016llx.gguf",
		 (unsigned long long)XXH3_64bits_digest(h));
	XXH3_freeState(h);
	return gg_path_join(cache, name);
}

bool tokcache_load(const char *dir, uint32_t vocab, struct gguf_kvs *kvs)
{
	return tokcache_load_variant(dir, vocab, NULL, kvs);
}

bool tokcache_load_variant(const char *dir, uint32_t vocab, const char *variant,
			   struct gguf_kvs *kvs)
{
	char *cache = cache_dir();
	if (!cache)
		return false;
	bool allowed = true;
	char *path = entry_path(cache, dir, vocab, variant, &allowed);
	if (!allowed) { /* the parse will refuse the input and say why */
		free(path);
		free(cache);
		return false;
	}
	struct gguf_file *g = NULL;
	gg_err e;
	struct stat st;
	int fd = gg_file_exists(path) ? gg_open_own(path, &st, &e) : -1;
	bool hit = fd >= 0 &&
		   gguf_read_fd(fd, (uint64_t)st.st_size, path, &g, &e) == 0 &&
		   g->ntensors == 0 && gguf_kvs_get(g->kvs, "tokenizer.ggml.tokens");
	if (hit) /* the mtime orders entries for pruning: most recently used last out */
		(void)futimens(fd, NULL);
	if (fd >= 0)
		close(fd);
	if (hit)
		gguf_kvs_move(kvs, g->kvs);
	if (g)
		gguf_file_free(g);
	free(path);
	free(cache);
	return hit;
}

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w, n -= (size_t)w;
	}
	return true;
}

static uint64_t cache_budget(void)
{
	const char *v = getenv("GGUFFS_CACHE_MAX");
	char *end;
	errno = 0;
	unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
	if (!v || !*v || errno || *end)
		return TOKCACHE_DEFAULT_BUDGET;
	return n;
}

struct entry {
	char *name;
	int64_t mtime;
	uint64_t size;
};

static int newest_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return (x->mtime < y->mtime) - (x->mtime > y->mtime);
}

/* Remove the least recently used entries beyond the budget (never keep, the
 * entry just written) and dead writers' temporary files. Another process
 * pruning or reading at once is harmless: a removed entry is a miss. */
static void prune(const char *cache, const char *keep)
{
	DIR *d = opendir(cache);
	if (!d)
		return;
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	int64_t now = (int64_t)time(NULL);
	for (struct dirent *de; (de = readdir(d));) {
		struct stat st;
		if (strncmp(de->d_name, "tok-", 4) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) || !S_ISREG(st.st_mode))
			continue;
		if (strstr(de->d_name, ".tmp-")) {
			if (now - (int64_t)st.st_mtime > TOKCACHE_TMP_AGE)
				(void)unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (n == cap)
			v = gg_realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
		v[n++] = (struct entry){ gg_strdup(de->d_name), st.st_mtim.tv_sec * 1000000000ll +
					 st.st_mtim.tv_nsec, (uint64_t)st.st_size };
	}
	qsort(v, n, sizeof *v, newest_first);
	uint64_t used = 0, budget = cache_budget();
	for (size_t i = 0; i < n; i++) {
		used += v[i].size;
		if (used > budget && strcmp(v[i].name, keep))
			(void)unlinkat(dirfd(d), v[i].name, 0);
		free(v[i].name);
	}
	free(v);
	closedir(d);
}

void tokcache_store(const char *dir, uint32_t vocab, const struct gguf_kvs *kvs)
{
	tokcache_store_variant(dir, vocab, NULL, kvs);
}

void tokcache_store_variant(const char *dir, uint32_t vocab, const char *variant,
			    const struct gguf_kvs *kvs)
{
	char *cache = cache_dir();
	if (!cache)
		return;
	bool allowed = true;
	char *path = entry_path(cache, dir, vocab, variant, &allowed);
	char *tmp = gg_malloc(strlen(path) + 32);
	sprintf(tmp, "%s.tmp-%ld", path, (long)getpid());
	(void)gg_mkdir_p(cache);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		size_t len;
		uint8_t *bytes = gguf_write_header(kvs, NULL, 0, GGUF_DEFAULT_ALIGNMENT, &len);
		bool ok = write_all(fd, bytes, len);
		ok = close(fd) == 0 && ok;
		if (!ok || rename(tmp, path) != 0)
			unlink(tmp);
		else
			prune(cache, strrchr(path, '/') + 1);
		free(bytes);
	}
	free(tmp);
	free(path);
	free(cache);
}
