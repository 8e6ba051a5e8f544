/* gguffs-convert - write the virtual GGUF file(s) of a HuggingFace
 * directory to disk, through the same engine the mount uses.
 *
 *   gguffs-convert [-o profile=llamacpp|ollama|ollama-legacy] HFDIR OUT.gguf
 *
 * Extra output files (a vision projector, say) are written beside OUT as
 * OUT-without-.gguf + "-" + name, e.g. out-mmproj.gguf.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "model.h"

#define WRITE_BLOCK (8u << 20)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gguffs-convert [-o OPTIONS] HFDIR OUT.gguf\n"
		"Write the GGUF that `gguffs HFDIR MNT` shows as model.gguf.\n"
		"options (comma-separated, -o may repeat):\n"
		"  profile=llamacpp   what upstream llama.cpp loads (default)\n"
		"  profile=ollama     byte for byte what Ollama's converter writes\n"
		"  profile=ollama-legacy  GLM-4.7-Flash in Ollama's first dialect\n"
		"  base=PATH          LoRA adapters: the base model (HF dir or GGUF)\n");
}

static void progress(const char *name, uint64_t done, uint64_t total, double t0)
{
	int width = 40, fill = total ? (int)(done * (uint64_t)width / total) : width;
	double secs = now_s() - t0;
	fprintf(stderr, "\r%-14s [%.*s%*s] %5.1f%% %7.1f MB/s", name, fill,
		"########################################", width - fill, "",
		total ? 100.0 * (double)done / (double)total : 100.0,
		secs > 0 ? (double)done / secs / 1e6 : 0.0);
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w, off += (uint64_t)w, len -= (size_t)w;
	}
	return 0;
}

/* Write f to path via a temporary file renamed into place, so a failed
 * conversion never leaves a truncated GGUF behind. */
static int write_file(const struct gg_outfile *f, const char *path, bool tty,
		      uint64_t *written, gg_err *e)
{
	size_t tlen = strlen(path) + 32;
	char *tmp = gg_malloc(tlen);
	snprintf(tmp, tlen, "%s.tmp-%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		gg_fail(e, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	uint8_t *buf = gg_malloc(WRITE_BLOCK);
	double t0 = now_s(), last = 0;
	int rc = 0;
	for (uint64_t off = 0; off < f->size && rc == 0;) {
		size_t n = f->size - off < WRITE_BLOCK ? (size_t)(f->size - off) : WRITE_BLOCK;
		if (gg_outfile_read(f, off, n, buf, e)) {
			rc = -1;
		} else if (write_all(fd, buf, n, off)) {
			rc = gg_fail(e, "%s: write failed: %s", tmp, strerror(errno));
		}
		off += n;
		if (tty && (now_s() - last > 0.1 || off == f->size)) {
			progress(f->name, off, f->size, t0);
			last = now_s();
		}
	}
	if (tty)
		fputc('\n', stderr);
	if (rc == 0 && close(fd) != 0)
		rc = gg_fail(e, "%s: %s", tmp, strerror(errno));
	else if (rc != 0)
		close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = gg_fail(e, "%s: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	else
		*written += f->size;
	free(buf);
	free(tmp);
	return rc;
}

static char *extra_path(const char *out, const char *name)
{
	size_t n = strlen(out);
	if (n > 5 && strcmp(out + n - 5, ".gguf") == 0)
		n -= 5;
	char *p = gg_malloc(n + strlen(name) + 2);
	memcpy(p, out, n);
	p[n] = '-';
	strcpy(p + n + 1, name);
	return p;
}

int main(int argc, char **argv)
{
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP };
	gg_err e = { { 0 } };
	int c;
	while ((c = getopt(argc, argv, "o:hV")) != -1) {
		switch (c) {
		case 'o':
			if (gg_options_parse(optarg, &opt, NULL, &e)) {
				fprintf(stderr, "gguffs-convert: %s\n", e.msg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("gguffs-convert %s\n", GGUFFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	const char *dir = argv[optind], *out = argv[optind + 1];
	double t0 = now_s();
	struct gg_model *m;
	if (gg_model_open(dir, &opt, &m, &e)) {
		fprintf(stderr, "gguffs-convert: %s\n", e.msg);
		return 1;
	}
	bool tty = isatty(STDERR_FILENO);
	uint64_t written = 0;
	int rc = 0;
	for (size_t i = 0; i < m->nfiles && rc == 0; i++) {
		char *path = i == 0 ? gg_strdup(out) : extra_path(out, m->files[i].name);
		rc = write_file(&m->files[i], path, tty, &written, &e);
		if (rc == 0)
			fprintf(stderr, "%s: %s, %zu tensors, %llu bytes\n", path,
				m->files[i].name, m->files[i].ntensors,
				(unsigned long long)m->files[i].size);
		free(path);
	}
	double secs = now_s() - t0;
	if (rc == 0)
		fprintf(stderr, "wrote %.2f MB in %.2f s (%.1f MB/s, profile %s)\n",
			(double)written / 1e6, secs,
			secs > 0 ? (double)written / secs / 1e6 : 0.0,
			gg_profile_name(opt.profile));
	else
		fprintf(stderr, "gguffs-convert: %s\n", e.msg);
	if (m->notice)
		fprintf(stderr, "note: %s\n", m->notice);
	gg_model_close(m);
	return rc == 0 ? 0 : 1;
}
