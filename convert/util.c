/* util.c - see util.h. */
#include "util.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gg_fail(gg_err *e, const char *fmt, ...)
{
	if (!e)
		return -1;
	char raw[GG_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	/* One inert line whatever the input put in it: no newline, no
	 * terminal escape sequence. */
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
		bool ctl = *p < 0x20 || *p == 0x7f;
		if (k + (ctl ? 4 : 1) >= sizeof e->msg)
			break;
		if (ctl)
			k += (size_t)snprintf(e->msg + k, 5, "\\x%02x", *p);
		else
			e->msg[k++] = (char)*p;
	}
	e->msg[k] = 0;
	return -1;
}

bool gg_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

bool gg_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

static void oom(void)
{
	fputs("gguffs: out of memory\n", stderr);
	abort();
}

void *gg_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *gg_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *gg_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

char *gg_strdup(const char *s)
{
	return gg_strndup(s, strlen(s));
}

char *gg_strndup(const char *s, size_t n)
{
	char *p = gg_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *gg_path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	while (a > 1 && dir[a - 1] == '/')
		a--;
	/* "/" stays "/": no second separator. */
	bool root = a == 1 && dir[0] == '/';
	char *p = gg_malloc(a + b + 2);
	memcpy(p, dir, a);
	size_t at = root ? a : a + 1;
	p[a] = '/';
	memcpy(p + at, name, b + 1);
	return p;
}

bool gg_file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool gg_path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* ---- opening inputs ---- */

static bool policy_public_only;
static const char *policy_optname = "";

void gg_input_policy(bool public_only, const char *optname)
{
	policy_public_only = public_only;
	policy_optname = optname ? optname : "";
}

static const char *file_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a plain file";
}

static int refuse_kind(const char *path, mode_t m, gg_err *e)
{
	return gg_fail(e, "%s: not a regular file (%s)", path, file_kind(m));
}

/* Other users can read the resolved file: o+r on it, o+x on every
 * directory above it. */
static int check_public(const char *path, gg_err *e)
{
	char *real = realpath(path, NULL);
	if (!real)
		return gg_fail(e, "%s: %s", path, strerror(errno));
	int rc = 0;
	struct stat st;
	for (char *p = real + 1;; p++) {
		bool last = *p == 0;
		if (*p != '/' && !last)
			continue;
		char save = *p;
		*p = 0;
		if (stat(real, &st) != 0) {
			rc = gg_fail(e, "%s: %s: %s", path, real, strerror(errno));
		} else if (!last && !(st.st_mode & S_IXOTH)) {
			rc = gg_fail(e, "%s: other users cannot reach it (directory "
				     "%s is mode %04o); with allow_other it would "
				     "be shown to them: -o %s serves it anyway",
				     path, real, (unsigned)(st.st_mode & 07777),
				     policy_optname);
		} else if (last && !(st.st_mode & S_IROTH)) {
			rc = gg_fail(e, "%s: other users cannot read it (%s is mode "
				     "%04o); with allow_other it would be shown to "
				     "them: -o %s serves it anyway", path, real,
				     (unsigned)(st.st_mode & 07777), policy_optname);
		}
		*p = save;
		if (rc || last)
			break;
	}
	free(real);
	return rc;
}

int gg_input_allowed(const char *path, gg_err *e)
{
	return policy_public_only ? check_public(path, e) : 0;
}

static int open_regular(const char *path, struct stat *st, gg_err *e)
{
	/* stat first, so a device is never opened at all (opening one can
	 * have effects); fstat after, which is what counts. */
	if (stat(path, st) == 0 && !S_ISREG(st->st_mode))
		return refuse_kind(path, st->st_mode, e);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return gg_fail(e, "%s: %s", path, strerror(errno));
	if (fstat(fd, st) != 0) {
		int err = errno;
		close(fd);
		return gg_fail(e, "%s: %s", path, strerror(err));
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return refuse_kind(path, st->st_mode, e);
	}
	return fd;
}

int gg_open_own(const char *path, struct stat *st, gg_err *e)
{
	return open_regular(path, st, e);
}

int gg_open_input(const char *path, struct stat *st, gg_err *e)
{
	int fd = open_regular(path, st, e);
	if (fd >= 0 && gg_input_allowed(path, e) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int gg_read_file(const char *path, size_t max_bytes, char **data, size_t *len,
		 gg_err *e)
{
	struct stat st;
	int fd = gg_open_input(path, &st, e);
	if (fd < 0)
		return -1;
	if ((uint64_t)st.st_size > max_bytes) {
		close(fd);
		return gg_fail(e, "%s: file too large (%lld bytes, limit %zu)",
			       path, (long long)st.st_size, max_bytes);
	}
	size_t n = (size_t)st.st_size, got = 0;
	char *buf = gg_malloc(n + 1);
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			close(fd);
			return gg_fail(e, "%s: read failed: %s", path,
				       r < 0 ? strerror(errno) : "file shrank");
		}
		got += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*data = buf;
	*len = n;
	return 0;
}

bool gg_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		/* JSON files are mostly ASCII: skip it eight bytes at a time. */
		uint64_t word;
		if (n - i >= 8) {
			memcpy(&word, s + i, 8);
			if (!(word & 0x8080808080808080ull)) {
				i += 8;
				continue;
			}
		}
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		uint32_t cp, min;
		if ((c & 0xE0) == 0xC0) {
			len = 2, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

bool gg_cpu_f16c(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

int gg_mkdir_p(const char *path)
{
	char *p = gg_strdup(path);
	int rc = 0;
	for (char *s = p + 1; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	if (rc == 0 && mkdir(p, 0755) != 0 && errno != EEXIST)
		rc = -1;
	free(p);
	return rc;
}
