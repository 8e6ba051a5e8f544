/* fuzzutil.c - see fuzzutil.h. */
#include "fuzzutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[4096];

static void remove_dir(void)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

const char *fuzz_dir(void)
{
	if (dir[0])
		return dir;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/gguffs-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(remove_dir);
	return dir;
}

static void write_one(const char *name, const uint8_t *p, size_t n)
{
	char path[4400];
	snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

size_t fuzz_write_parts(const char *const *names, size_t n, const uint8_t *data,
			size_t size)
{
	size_t parts = 0, at = 0;
	while (parts < n && (at < size || parts == 0)) {
		const uint8_t *nul = memchr(data + at, 0, size - at);
		size_t end = nul ? (size_t)(nul - data) : size;
		write_one(names[parts++], data + at, end - at);
		at = end + (nul != NULL);
		if (!nul)
			break;
	}
	for (size_t i = parts; i < n; i++) {
		char path[4400];
		snprintf(path, sizeof path, "%s/%s", fuzz_dir(), names[i]);
		unlink(path);
	}
	return parts;
}

void fuzz_link(const char *src_dir, const char *name)
{
	char from[4400], to[4400];
	snprintf(from, sizeof from, "%s/%s", src_dir, name);
	snprintf(to, sizeof to, "%s/%s", fuzz_dir(), name);
	unlink(to);
	if (access(from, R_OK) != 0 || symlink(from, to) != 0) {
		fprintf(stderr, "fuzz: cannot link %s (run tests/run.sh, which "
			"makes the fixtures)\n", from);
		abort();
	}
}
