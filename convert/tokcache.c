/* tokcache.c - on-disk cache of tokenizer metadata (tokcache.h). */
#include "tokcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "gguf_reader.h"

/* Bump when the KVs gguffs derives from the same files change. */
#define TOKCACHE_FORMAT "gguffs-tokcache-1"

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
		free(bytes);
	}
	free(tmp);
	free(path);
	free(cache);
}
