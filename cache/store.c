/* store.c - see store.h. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#define MAGIC "GGUFFSC1"
#define HEADER_BYTES 48
/* A write of this many bytes since the last count makes the next put count
 * the directory again, so files other processes wrote are budgeted too. */
#define RECOUNT_BYTES (256u << 20)
/* A hit refreshes a file's mtime (its LRU stamp) at most this often. */
#define TOUCH_SECONDS 60
/* Temporary files older than this are removed at open whatever their pid. */
#define STALE_TMP_SECONDS 3600

struct chunk_store {
	char *dir;
	uint64_t budget;
	atomic_uint_fast64_t bytes, since_count, tmp_seq;
	atomic_uint_fast64_t hits, misses, bad, writes, write_errors, evictions;
	pthread_mutex_t evict_mu;
};

/* ---- header ---------------------------------------------------------------- */

struct header {
	char magic[8];
	uint8_t key[16];
	uint64_t len;
	uint64_t payload_hash;
	uint64_t header_hash; /* XXH3 of the 40 bytes before it */
};
_Static_assert(sizeof(struct header) == HEADER_BYTES, "header layout");

static void header_fill(struct header *h, const struct chunk_store_key *k,
			const void *buf, size_t len)
{
	memcpy(h->magic, MAGIC, 8);
	memcpy(h->key, k->b, 16);
	h->len = len;
	h->payload_hash = XXH3_64bits(buf, len);
	h->header_hash = XXH3_64bits(h, offsetof(struct header, header_hash));
}

/* ---- paths ----------------------------------------------------------------- */

static void key_hex(const struct chunk_store_key *k, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[k->b[i] >> 4];
		out[2 * i + 1] = hex[k->b[i] & 15];
	}
	out[32] = 0;
}

/* dir/xx (sub) and dir/xx/<hex>.chunk (file). */
static void key_paths(const struct chunk_store *s, const struct chunk_store_key *k,
		      char *sub, char *file, size_t cap)
{
	char hex[33];
	key_hex(k, hex);
	snprintf(sub, cap, "%s/%.2s", s->dir, hex);
	snprintf(file, cap, "%s/%.2s/%s.chunk", s->dir, hex, hex);
}

/* ---- counting and eviction ------------------------------------------------- */

struct entry {
	char *path;
	struct timespec mtime;
	uint64_t size;
};

struct listing {
	struct entry *e;
	size_t n, cap;
	uint64_t total;
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A leftover temporary file: its writer is dead, or it is very old. */
static bool stale_tmp(const char *name, const struct stat *st)
{
	long pid = 0;
	if (sscanf(name, ".tmp-%ld-", &pid) != 1)
		return false;
	if (time(NULL) - st->st_mtime > STALE_TMP_SECONDS)
		return true;
	return pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* Every chunk file of s (and, when clean_tmp, remove stale temporaries). */
static void list_files(const struct chunk_store *s, struct listing *l, bool clean_tmp)
{
	DIR *top = opendir(s->dir);
	if (!top)
		return;
	struct dirent *d;
	while ((d = readdir(top))) {
		if (strlen(d->d_name) != 2 || d->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof sub, "%s/%s", s->dir, d->d_name);
		DIR *dd = opendir(sub);
		if (!dd)
			continue;
		struct dirent *f;
		while ((f = readdir(dd))) {
			char path[4400];
			struct stat st;
			snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
			if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (clean_tmp && stale_tmp(f->d_name, &st)) {
				unlink(path);
				continue;
			}
			if (!ends_with(f->d_name, ".chunk"))
				continue;
			if (l->n == l->cap) {
				l->cap = l->cap ? 2 * l->cap : 256;
				l->e = gg_realloc(l->e, l->cap * sizeof *l->e);
			}
			l->e[l->n++] = (struct entry){ gg_strdup(path), st.st_mtim,
						       (uint64_t)st.st_size };
			l->total += (uint64_t)st.st_size;
		}
		closedir(dd);
	}
	closedir(top);
}

static int older_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Count the directory; beyond the budget remove the least recently used
 * files down to 90% of it (so every put does not evict). One thread at a
 * time; the others go on without waiting. */
static void count_and_evict(struct chunk_store *s, bool clean_tmp)
{
	if (pthread_mutex_trylock(&s->evict_mu) != 0)
		return;
	struct listing l = { 0 };
	list_files(s, &l, clean_tmp);
	if (l.total > s->budget) {
		qsort(l.e, l.n, sizeof *l.e, older_first);
		uint64_t target = s->budget / 10 * 9;
		for (size_t i = 0; i < l.n && l.total > target; i++) {
			if (unlink(l.e[i].path) == 0) {
				l.total -= l.e[i].size;
				atomic_fetch_add(&s->evictions, 1);
			}
		}
	}
	atomic_store(&s->bytes, l.total);
	atomic_store(&s->since_count, 0);
	for (size_t i = 0; i < l.n; i++)
		free(l.e[i].path);
	free(l.e);
	pthread_mutex_unlock(&s->evict_mu);
}

/* ---- open / close ---------------------------------------------------------- */

int chunk_store_open(const char *dir, uint64_t budget, struct chunk_store **out,
		     gg_err *e)
{
	if (budget == 0)
		return gg_fail(e, "%s: the disk cache needs a size above 0", dir);
	if (strlen(dir) > 3000)
		return gg_fail(e, "%s: path too long for a cache directory", dir);
	if (gg_mkdir_p(dir) != 0)
		return gg_fail(e, "%s: cannot create the cache directory: %s", dir,
			       strerror(errno));
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0)
		return gg_fail(e, "%s: not a writable directory", dir);
	struct chunk_store *s = gg_calloc(1, sizeof *s);
	s->dir = gg_strdup(dir);
	s->budget = budget;
	pthread_mutex_init(&s->evict_mu, NULL);
	count_and_evict(s, true);
	*out = s;
	return 0;
}

void chunk_store_close(struct chunk_store *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->evict_mu);
	free(s->dir);
	free(s);
}

/* ---- get / put ------------------------------------------------------------- */

static bool pread_all(int fd, void *buf, size_t len, off_t off)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t r = pread(fd, p, len, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		off += r;
		len -= (size_t)r;
	}
	return true;
}

/* The file at path holds exactly k's len bytes, now in buf. */
static bool file_good(int fd, const struct chunk_store_key *k, void *buf, size_t len)
{
	struct stat st;
	struct header h;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != HEADER_BYTES + (uint64_t)len ||
	    !pread_all(fd, &h, sizeof h, 0))
		return false;
	if (memcmp(h.magic, MAGIC, 8) != 0 || memcmp(h.key, k->b, 16) != 0 ||
	    h.len != len ||
	    h.header_hash != XXH3_64bits(&h, offsetof(struct header, header_hash)))
		return false;
	if (!pread_all(fd, buf, len, HEADER_BYTES))
		return false;
	if (XXH3_64bits(buf, len) != h.payload_hash)
		return false;
	if (time(NULL) - st.st_mtime > TOUCH_SECONDS)
		(void)futimens(fd, NULL); /* the LRU stamp */
	return true;
}

int chunk_store_get(struct chunk_store *s, const struct chunk_store_key *k,
		    void *buf, size_t len)
{
	char sub[4096], path[4096];
	key_paths(s, k, sub, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		atomic_fetch_add(&s->misses, 1);
		return -1;
	}
	bool good = file_good(fd, k, buf, len);
	close(fd);
	if (good) {
		atomic_fetch_add(&s->hits, 1);
		return 0;
	}
	/* Never served: removed, and rewritten by the caller's put. */
	unlink(path);
	atomic_fetch_add(&s->bad, 1);
	atomic_fetch_add(&s->misses, 1);
	return -1;
}

static bool write_all_v(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return true;
}

void chunk_store_put(struct chunk_store *s, const struct chunk_store_key *k,
		     const void *buf, size_t len)
{
	char sub[4096], path[4096], tmp[4200];
	key_paths(s, k, sub, path, sizeof path);
	if (mkdir(sub, 0755) != 0 && errno != EEXIST) {
		atomic_fetch_add(&s->write_errors, 1);
		return;
	}
	snprintf(tmp, sizeof tmp, "%s/.tmp-%ld-%llu", sub, (long)getpid(),
		 (unsigned long long)atomic_fetch_add(&s->tmp_seq, 1));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		atomic_fetch_add(&s->write_errors, 1);
		return;
	}
	struct header h;
	header_fill(&h, k, buf, len);
	struct iovec iov[2] = { { &h, sizeof h }, { (void *)buf, len } };
	bool ok = write_all_v(fd, iov, 2);
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		atomic_fetch_add(&s->write_errors, 1);
		return;
	}
	atomic_fetch_add(&s->writes, 1);
	uint64_t size = HEADER_BYTES + (uint64_t)len;
	uint64_t total = atomic_fetch_add(&s->bytes, size) + size;
	uint64_t since = atomic_fetch_add(&s->since_count, size) + size;
	if (total > s->budget || since > RECOUNT_BYTES)
		count_and_evict(s, false);
}

void chunk_store_stats(struct chunk_store *s, struct chunk_store_stats *out)
{
	out->hits = atomic_load(&s->hits);
	out->misses = atomic_load(&s->misses);
	out->bad_files = atomic_load(&s->bad);
	out->writes = atomic_load(&s->writes);
	out->write_errors = atomic_load(&s->write_errors);
	out->evictions = atomic_load(&s->evictions);
	out->bytes = atomic_load(&s->bytes);
	out->budget = s->budget;
}
