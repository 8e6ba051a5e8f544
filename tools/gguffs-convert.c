/* gguffs-convert - write the virtual GGUF file(s) of a HuggingFace
 * directory to disk, through the same engine the mount uses.
 *
 *   gguffs-convert [-o OPTIONS] MODEL OUT.gguf
 *   gguffs-convert [-o OPTIONS] --check MODEL
 *
 * MODEL is a directory, a hub id (org/name[@REV]) or a hub cache
 * repository directory (hub.h). OUT:
 *   - "-", or the file our stdout already is (/dev/stdout): written to
 *     stdout, sequentially;
 *   - an existing non-regular file (a pipe, a device, /dev/stderr): opened
 *     and written sequentially in place, never replaced;
 *   - otherwise a regular file, written to a temporary file beside it and
 *     renamed onto it, so a failed conversion never leaves a truncated GGUF
 *     behind. A symlink is followed: its target is replaced, the link kept.
 * Extra output files (a vision projector, say) are written beside OUT as
 * OUT-without-.gguf + "-" + name, e.g. out-mmproj.gguf; a stream can only
 * take one file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "hub.h"
#include "model.h"
#include "naming.h"
#include "pool.h"

#define PROG "gguffs-convert"
#define WRITE_BLOCK (8u << 20)
#define MAX_SYMLINKS 40

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " [-o OPTIONS] MODEL OUT.gguf\n"
		"       " PROG " [-o OPTIONS] --check MODEL\n"
		"Write the GGUF that `gguffs MODEL MNT` shows as model.gguf.\n"
		"MODEL: a HuggingFace model directory, a hub id org/name[@REV] or a\n"
		"hub cache directory models--org--name (read from the local hub cache,\n"
		"never downloaded). OUT: a file (written to a temporary file, then\n"
		"renamed onto it or onto a symlink's target), or - for stdout.\n"
		"options (comma-separated, -o may repeat):\n"
		"  profile=llamacpp   what upstream llama.cpp loads (default)\n"
		"  profile=ollama     byte for byte what Ollama's converter writes\n"
		"  profile=ollama-legacy  GLM-4.7-Flash in Ollama's first dialect\n"
		"  base=PATH          LoRA adapters: the base model (HF dir, hub id or GGUF)\n"
		"  type=NAME          F32, F16, BF16 or a llama-quantize type (Q8_0, Q4_0,\n"
		"                     Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M,\n"
		"                     Q6_K): llama-quantize's bytes, without an imatrix\n"
		"  mmproj_type=NAME   mmproj.gguf's type: F32, F16, BF16 or Q8_0\n"
		"  -c, --check        validate MODEL and print what a mount would show;\n"
		"                     write nothing (exit 0 valid, 1 invalid)\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n");
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

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w, len -= (size_t)w;
	}
	return 0;
}

/* ---- where the bytes go ---- */

struct output {
	int fd;
	bool stream;  /* written in place: stdout, a pipe, a device */
	char *target; /* regular files: the file replaced (symlinks resolved) */
	char *tmp;    /* regular files: the temporary file written first */
	const char *shown; /* the name the user gave */
};

/* path with every symlink of its last component followed (also a dangling
 * one, whose target is then created); malloc'd, NULL on a loop. */
static char *follow_links(const char *path)
{
	char *cur = gg_strdup(path);
	for (int i = 0; i < MAX_SYMLINKS; i++) {
		char buf[PATH_MAX];
		ssize_t n = readlink(cur, buf, sizeof buf - 1);
		if (n < 0)
			return cur; /* not a symlink (or absent): the target */
		buf[n] = 0;
		char *next;
		const char *slash = strrchr(cur, '/');
		if (buf[0] == '/' || !slash) {
			next = gg_strdup(buf);
		} else {
			char *dir = gg_strndup(cur, (size_t)(slash - cur) + 1);
			next = gg_path_join(dir, buf);
			free(dir);
		}
		free(cur);
		cur = next;
	}
	free(cur);
	errno = ELOOP;
	return NULL;
}

/* True when path names the file our stdout is (/dev/stdout, say). */
static bool is_stdout_file(const char *path)
{
	struct stat st, so;
	return stat(path, &st) == 0 && fstat(STDOUT_FILENO, &so) == 0 &&
	       so.st_dev == st.st_dev && so.st_ino == st.st_ino;
}

/* A temporary file beside target, with target's mode when it exists. */
static int open_temp(struct output *o, gg_err *e)
{
	size_t tlen = strlen(o->target) + 32;
	o->tmp = gg_malloc(tlen);
	snprintf(o->tmp, tlen, "%s.tmp-%ld", o->target, (long)getpid());
	struct stat st;
	mode_t mode = stat(o->target, &st) == 0 ? (st.st_mode & 07777) : 0644;
	o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (o->fd < 0)
		return gg_fail(e, "%s: %s", o->tmp, strerror(errno));
	if (mode != 0644)
		(void)fchmod(o->fd, mode); /* the umask must not loosen/tighten it */
	return 0;
}

enum out_kind { OUT_STDOUT, OUT_STREAM, OUT_DIR, OUT_FILE };

static enum out_kind out_kind(const char *arg)
{
	struct stat st;
	if (strcmp(arg, "-") == 0)
		return OUT_STDOUT;
	if (stat(arg, &st) != 0 || S_ISREG(st.st_mode))
		return is_stdout_file(arg) ? OUT_STDOUT : OUT_FILE;
	if (is_stdout_file(arg))
		return OUT_STDOUT;
	return S_ISDIR(st.st_mode) ? OUT_DIR : OUT_STREAM;
}

static int output_open(const char *arg, struct output *o, gg_err *e)
{
	memset(o, 0, sizeof *o);
	o->fd = -1;
	o->shown = arg;
	switch (out_kind(arg)) {
	case OUT_STDOUT:
		o->fd = STDOUT_FILENO;
		o->stream = true;
		return 0;
	case OUT_STREAM:
		o->fd = open(arg, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (o->fd < 0)
			return gg_fail(e, "%s: %s", arg, strerror(errno));
		o->stream = true;
		return 0;
	case OUT_DIR: /* out_path names a file inside it */
		return gg_fail(e, "%s: is a directory", arg);
	case OUT_FILE:
		break;
	}
	if (!(o->target = follow_links(arg)))
		return gg_fail(e, "%s: %s", arg, strerror(errno));
	return open_temp(o, e);
}

/* Finish o: on success rename the temporary file into place; on failure
 * remove it. Streams are left as they are (a reader may have the bytes). */
static int output_close(struct output *o, int rc, gg_err *e)
{
	if (o->stream) {
		if (o->fd > STDERR_FILENO && close(o->fd) != 0 && rc == 0)
			rc = gg_fail(e, "%s: %s", o->shown, strerror(errno));
	} else if (o->fd >= 0) {
		if (close(o->fd) != 0 && rc == 0)
			rc = gg_fail(e, "%s: %s", o->tmp, strerror(errno));
		if (rc == 0 && rename(o->tmp, o->target) != 0)
			rc = gg_fail(e, "%s: %s", o->target, strerror(errno));
		if (rc != 0)
			unlink(o->tmp);
	}
	free(o->target);
	free(o->tmp);
	memset(o, 0, sizeof *o);
	return rc;
}

/* ---- converting ---- */

/* Bytes are made a block at a time on every core (the pool's threads and
 * ours) while a writer thread writes the block before: computing and
 * writing overlap, two buffers in turn. */
#define PART_BYTES (1u << 20)

struct writer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	uint8_t *buf[2];
	size_t len[2];
	bool full[2];
	bool done;
	int err; /* errno of the first failed write */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (int k = 0;; k ^= 1) {
		while (!w->full[k] && !w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->full[k])
			break;
		pthread_mutex_unlock(&w->mu);
		int rc = w->err ? 0 : write_all(w->fd, w->buf[k], w->len[k]);
		int err = rc ? errno : 0;
		pthread_mutex_lock(&w->mu);
		if (err && !w->err)
			w->err = err;
		w->full[k] = false;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Buffer k once the writer is done with it; false after a write failed. */
static bool writer_wait(struct writer *w, int k)
{
	pthread_mutex_lock(&w->mu);
	while (w->full[k] && !w->err)
		pthread_cond_wait(&w->cv, &w->mu);
	bool ok = !w->err;
	pthread_mutex_unlock(&w->mu);
	return ok;
}

static void writer_put(struct writer *w, int k, size_t len)
{
	pthread_mutex_lock(&w->mu);
	w->len[k] = len;
	w->full[k] = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Stop the writer after its last buffer; the errno of a failed write. */
static int writer_finish(struct writer *w, pthread_t th)
{
	pthread_mutex_lock(&w->mu);
	w->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(th, NULL);
	return w->err;
}

static int write_file(const struct gg_outfile *f, const char *path, bool tty,
		      struct gg_pool *pool, uint64_t *written, gg_err *e)
{
	struct output o;
	if (output_open(path, &o, e))
		return output_close(&o, -1, e);
	struct writer w = { .fd = o.fd };
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.buf[0] = gg_malloc(WRITE_BLOCK);
	w.buf[1] = gg_malloc(WRITE_BLOCK);
	pthread_t th;
	int rc = 0;
	if (pthread_create(&th, NULL, writer_main, &w) != 0) {
		rc = gg_fail(e, "%s: cannot start a writer thread", path);
		goto out;
	}
	double t0 = now_s(), last = 0;
	int k = 0;
	for (uint64_t off = 0; off < f->size && rc == 0; k ^= 1) {
		size_t n = f->size - off < WRITE_BLOCK ? (size_t)(f->size - off) : WRITE_BLOCK;
		if (!writer_wait(&w, k))
			break;
		if (gg_outfile_read_parallel(f, off, n, w.buf[k], pool, PART_BYTES, e)) {
			rc = -1;
			break;
		}
		writer_put(&w, k, n);
		off += n;
		if (tty && (now_s() - last > 0.1 || off == f->size)) {
			progress(f->name, off, f->size, t0);
			last = now_s();
		}
	}
	int err = writer_finish(&w, th);
	if (err && rc == 0)
		rc = gg_fail(e, "%s: write failed: %s", path, strerror(err));
	if (tty)
		fputc('\n', stderr);
out:
	free(w.buf[0]);
	free(w.buf[1]);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	rc = output_close(&o, rc, e);
	if (rc == 0)
		*written += f->size;
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

/* Where output file i goes: into a directory OUT under its conventional
 * name (as convert_hf_to_gguf.py does), else OUT and OUT-<name>. */
static char *out_path(const struct gg_model *m, const char *out, size_t i)
{
	if (out_kind(out) == OUT_DIR) {
		char *name = gg_naming_file_name(m, &m->files[i]);
		char *p = gg_path_join(out, name);
		free(name);
		return p;
	}
	return i == 0 ? gg_strdup(out) : extra_path(out, m->files[i].name);
}

/* A stream takes one file: refuse before writing anything. */
static int check_stream(const struct gg_model *m, const char *out, gg_err *e)
{
	bool stream = out_kind(out) == OUT_STDOUT || out_kind(out) == OUT_STREAM;
	if (!stream || m->nfiles < 2)
		return 0;
	return gg_fail(e, "%s: this model has %zu output files (%s and %s...), "
		       "which a stream cannot hold: give a file name", out,
		       m->nfiles, m->files[0].name, m->files[1].name);
}

static int convert(const struct gg_model *m, const char *out, gg_err *e)
{
	if (check_stream(m, out, e))
		return -1;
	double t0 = now_s();
	bool tty = isatty(STDERR_FILENO);
	uint64_t written = 0;
	int rc = 0;
	struct gg_pool *pool = gg_pool_new(0); /* NULL: the caller alone */
	for (size_t i = 0; i < m->nfiles && rc == 0; i++) {
		char *path = out_path(m, out, i);
		rc = write_file(&m->files[i], path, tty, pool, &written, e);
		if (rc == 0)
			fprintf(stderr, "%s: %s, %zu tensors, %llu bytes\n", path,
				m->files[i].name, m->files[i].ntensors,
				(unsigned long long)m->files[i].size);
		free(path);
	}
	gg_pool_free(pool);
	double secs = now_s() - t0;
	if (rc == 0)
		fprintf(stderr, "wrote %.2f MB in %.2f s (%.1f MB/s, profile %s)\n",
			(double)written / 1e6, secs,
			secs > 0 ? (double)written / secs / 1e6 : 0.0,
			gg_profile_name(m->opt.profile));
	return rc;
}

/* ---- --check ---- */

/* "22 BF16, 36 F32" for the tensors of f. */
static void print_types(const struct gg_outfile *f)
{
	size_t count[256] = {0};
	for (size_t i = 0; i < f->ntensors; i++)
		count[(unsigned)f->tensors[i].type & 255]++;
	const char *sep = "";
	for (unsigned t = 0; t < 256; t++) {
		if (!count[t])
			continue;
		const char *name = gg_type_name((enum gg_type)t);
		printf("%s%zu %s", sep, count[t], name ? name : "?");
		sep = ", ";
	}
}

static void print_check(const struct gg_model *m, const struct hub_model *hm)
{
	const struct st_set *st = m->st;
	uint64_t src_bytes = 0;
	for (size_t i = 0; st && i < st->nfiles; i++)
		src_bytes += st->files[i].size;
	printf("source        %s\n", m->dir);
	if (hm->repo_id)
		printf("hub           %s, revision %s, commit %s\n", hm->repo_id,
		       hm->revision, hm->commit);
	if (m->arch)
		printf("architecture  %s -> %s%s\n", m->arch->hf_arch,
		       m->arch->gguf_arch, m->arch->no_upstream
		       ? " (no upstream llama.cpp runtime)" : "");
	printf("profile       %s\n", gg_profile_name(m->opt.profile));
	if (st)
		printf("safetensors   %zu files, %llu bytes, %zu tensors\n",
		       st->nfiles, (unsigned long long)src_bytes, st->ntensors);
	printf("a mount shows:\n");
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct gg_outfile *f = &m->files[i];
		printf("  %-16s %llu bytes, %zu KV, %zu tensors (", f->name,
		       (unsigned long long)f->size, f->kvs ? f->kvs->n : 0,
		       f->ntensors);
		print_types(f);
		char *alias = gg_naming_file_name(m, f);
		printf(")\n  %-16s the same file\n", alias);
		free(alias);
	}
	for (size_t i = 0; i < m->nfiles; i++) {
		const char *name = m->files[i].name;
		size_t n = strlen(name);
		char dir[300];
		if (i == 0)
			snprintf(dir, sizeof dir, "tensors/");
		else
			snprintf(dir, sizeof dir, "tensors.%.*s/",
				 (int)(n > 5 ? n - 5 : n), name);
		printf("  %-16s %zu files\n", dir, m->files[i].ntensors);
	}
	printf("  metadata.json\n  stats.json\n");
	if (m->notice)
		printf("notice        %s\n", m->notice);
}

/* ---- main ---- */

struct args {
	struct gg_options opt;
	char *optbuf[64];   /* copies of -o values: the options point into them */
	size_t nopt;
	bool check;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longs[] = {
		{"check", no_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	gg_err e = {{0}};
	int c;
	while ((c = getopt_long(argc, argv, "o:chV", longs, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (a->nopt == sizeof a->optbuf / sizeof *a->optbuf) {
				fprintf(stderr, PROG ": too many -o\n");
				return 2;
			}
			a->optbuf[a->nopt] = gg_strdup(optarg);
			if (gg_options_parse(a->optbuf[a->nopt++], &a->opt, NULL, &e)) {
				fprintf(stderr, PROG ": %s\n", e.msg);
				return 2;
			}
			break;
		case 'c':
			a->check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " %s\n", GGUFFS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != (a->check ? 1 : 2)) {
		usage(stderr);
		return 2;
	}
	return -1; /* go on */
}

int main(int argc, char **argv)
{
	struct args a = { .opt = { .profile = GG_PROFILE_LLAMACPP } };
	struct hub_model hm = {0}, base = {0};
	struct gg_model *m = NULL;
	gg_err e = {{0}};
	int rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		goto out;
	rc = 1;
	if (hub_resolve(argv[optind], &hm, &e))
		goto fail;
	if (a.opt.base) {
		if (hub_resolve(a.opt.base, &base, &e))
			goto fail;
		a.opt.base = base.dir;
	}
	a.opt.hub_id = hm.repo_id;
	if (gg_model_open(hm.dir, &a.opt, &m, &e))
		goto fail;
	if (a.check) {
		print_check(m, &hm);
		rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		goto out;
	}
	if (convert(m, argv[optind + 1], &e))
		goto fail;
	if (m->notice)
		fprintf(stderr, "note: %s\n", m->notice);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, PROG ": %s\n", e.msg);
	if (m && m->notice)
		fprintf(stderr, "note: %s\n", m->notice);
out:
	gg_model_close(m);
	hub_model_free(&hm);
	hub_model_free(&base);
	for (size_t i = 0; i < a.nopt; i++)
		free(a.optbuf[i]);
	return rc;
}
