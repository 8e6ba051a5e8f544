/* main.c - gguffs: command line and the thin FUSE glue over vfs.h.
 *
 * The model is opened before anything is mounted, so a bad input refuses
 * the mount with one line on stderr and leaves nothing behind. The FUSE
 * callbacks only translate between libfuse and vfs.c; every decision about
 * content lives there.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fuse.h>
#include <fuse_lowlevel.h>

#include "hub.h"
#include "log.h"
#include "model.h"
#include "mountcheck.h"
#include "reload.h"
#include "vfs.h"

/* FUSE readahead wanted on the mount (KiB): the kernel default of 128 KiB
 * halves throughput; 1 MiB requests need at least 1024 (perf-anchors §2). */
#define READ_AHEAD_KB 4096

struct cli {
	char *profile, *cache_size, *chunk_size, *base, *type, *mmproj_type;
	char *cache_dir, *disk_cache_size;
	char *store_dir;   /* cache_dir= made absolute */
	char *model_opts;  /* "profile=..,type=.."; the model keeps pointers into it */
	char *base_dir;    /* base= resolved (hub.h) */
	char *hub_id;      /* org/name when MODEL came from the hub cache */
	unsigned max_read;
	int keep_source_cache;
	char *hfdir;
	int nonopts;
	int help, version, rw;
	int allow_other, allow_private;
};

struct ctx {
	struct vfs *vfs;
	char *mountpoint;
	unsigned max_read;
};

enum { KEY_HELP, KEY_VERSION, KEY_MAX_READ, KEY_RW, KEY_ALLOW_OTHER };

#define CLI_OPT(t, p) { t, offsetof(struct cli, p), 0 }
static const struct fuse_opt cli_opts[] = {
	CLI_OPT("profile=%s", profile),
	CLI_OPT("cache_size=%s", cache_size),
	CLI_OPT("chunk_size=%s", chunk_size),
	CLI_OPT("base=%s", base),
	CLI_OPT("type=%s", type),
	CLI_OPT("mmproj_type=%s", mmproj_type),
	CLI_OPT("cache_dir=%s", cache_dir),
	CLI_OPT("disk_cache_size=%s", disk_cache_size),
	{ "keep_source_cache", offsetof(struct cli, keep_source_cache), 1 },
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	{ "allow_private_sources", offsetof(struct cli, allow_private), 1 },
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END
};

static struct vfs *ctx_vfs(void)
{
	return ((struct ctx *)fuse_get_context()->private_data)->vfs;
}

/* ---- raising the mount's readahead ---- */

/* Runs once the mount answers: stat the mountpoint (served by the FUSE
 * loop, so it cannot run inside init) and write the bdi readahead. */
static void *readahead_main(void *arg)
{
	const struct ctx *c = arg;
	struct stat st;
	if (stat(c->mountpoint, &st) != 0)
		return NULL;
	char path[96];
	snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", READ_AHEAD_KB) < 0 || fclose(f) != 0) {
		log_msg(LOG_WARNING, "could not raise readahead (%s: %s); "
			"reads are faster after: echo %d > %s (as root)",
			path, strerror(errno), READ_AHEAD_KB, path);
	}
	return NULL;
}

/* ---- FUSE operations ---- */

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct ctx *c = fuse_get_context()->private_data;
	/* The tree is immutable: keep pages and attributes cached. */
	cfg->kernel_cache = 1;
	cfg->attr_timeout = 86400;
	cfg->entry_timeout = 86400;
	cfg->negative_timeout = 86400;
	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;
	/* libfuse 3.14 aborts INIT unless init() repeats -o max_read. */
	if (c->max_read)
		conn->max_read = c->max_read;
	/* Enough readahead and mmap-fault requests in flight to keep the
	 * pool's prefetch and the request threads busy (default 12/9). */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	/* init runs in the serving process (after fuse_daemonize forks). */
	if (vfs_start_threads(c->vfs) != 0)
		log_msg(LOG_WARNING, "no worker threads: reads run unprefetched");
	if (reload_start(c->vfs, fuse_get_context()->fuse) != 0)
		log_msg(LOG_WARNING, "no SIGUSR1 thread: SIGUSR1 does nothing");
	pthread_t t;
	if (pthread_create(&t, NULL, readahead_main, c) == 0)
		pthread_detach(t);
	return c;
}

static void op_destroy(void *private_data)
{
	struct ctx *c = private_data;
	reload_stop();
	vfs_free(c->vfs);
	c->vfs = NULL;
}

static int op_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct vfs *v = ctx_vfs();
	const struct vfs_node *n;
	if (fi && fi->fh) {
		vfs_getattr_open(v, (struct vfs_handle *)(uintptr_t)fi->fh, st);
		return 0;
	}
	if (!path || !(n = vfs_lookup(v, path)))
		return -ENOENT;
	vfs_getattr(v, n, st);
	return 0;
}

struct fill_arg {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_one(const char *name, const struct stat *st, void *arg)
{
	struct fill_arg *a = arg;
	return a->filler(a->buf, name, st, 0, FUSE_FILL_DIR_PLUS);
}

/* The directory's node rides in fi->fh: with nullpath_ok, readdir may get
 * no path. */
static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct vfs *v = ctx_vfs();
	const struct vfs_node *n = vfs_lookup(v, path);
	if (!n)
		return -ENOENT;
	if (vfs_node_kind(n) != VFS_DIR)
		return -ENOTDIR;
	struct vfs_handle *h;
	int rc = vfs_open(v, n, &h);
	if (rc)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->keep_cache = 1;
	fi->cache_readdir = 1;
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	vfs_release(ctx_vfs(), (struct vfs_handle *)(uintptr_t)fi->fh);
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	(void)path; (void)off; (void)flags;
	struct vfs *v = ctx_vfs();
	const struct vfs_node *n =
		vfs_handle_node((struct vfs_handle *)(uintptr_t)fi->fh);
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	struct fill_arg a = {buf, filler};
	return vfs_readdir(v, n, fill_one, &a);
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct vfs *v = ctx_vfs();
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	const struct vfs_node *n = vfs_lookup(v, path);
	if (!n)
		return -ENOENT;
	if (vfs_node_kind(n) == VFS_DIR)
		return -EISDIR;
	struct vfs_handle *h;
	int rc = vfs_open(v, n, &h);
	if (rc)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)h;
	if (vfs_handle_volatile(h)) {
		fi->direct_io = 1;  /* live content: never from the page cache */
		/* and its size changes: let the next stat ask again */
		fuse_invalidate_path(fuse_get_context()->fuse, path);
	} else
		fi->keep_cache = 1; /* immutable: re-reads and mmap stay cached */
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)path;
	struct vfs_handle *h = (struct vfs_handle *)(uintptr_t)fi->fh;
	return (int)vfs_read(ctx_vfs(), h, buf, size, (uint64_t)off);
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	vfs_release(ctx_vfs(), (struct vfs_handle *)(uintptr_t)fi->fh);
	return 0;
}

static int op_getxattr(const char *path, const char *name, char *buf,
		       size_t size)
{
	struct vfs *v = ctx_vfs();
	const struct vfs_node *n = vfs_lookup(v, path);
	if (!n)
		return -ENOENT;
	return (int)vfs_getxattr(v, n, name, buf, size);
}

static int op_listxattr(const char *path, char *buf, size_t size)
{
	struct vfs *v = ctx_vfs();
	const struct vfs_node *n = vfs_lookup(v, path);
	if (!n)
		return -ENOENT;
	return (int)vfs_listxattr(v, n, buf, size);
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	uint64_t bytes, nodes;
	vfs_totals(ctx_vfs(), &bytes, &nodes);
	memset(sv, 0, sizeof *sv);
	sv->f_bsize = sv->f_frsize = 4096;
	sv->f_blocks = (bytes + 4095) / 4096;
	sv->f_files = nodes;
	sv->f_namemax = 255;
	sv->f_flag = ST_RDONLY;
	return 0;
}

static const struct fuse_operations ops = {
	.init = op_init,
	.destroy = op_destroy,
	.getattr = op_getattr,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
};

/* ---- command line ---- */

static void usage(const char *prog)
{
	printf("usage: %s [options] MODEL MOUNTPOINT\n\n"
	       "Mount a HuggingFace model as a read-only GGUF tree: model.gguf,\n"
	       "metadata.json, stats.json and tensors/. MODEL is a directory, a hub\n"
	       "id org/name[@REV] or a hub cache directory models--org--name (looked\n"
	       "up in the local hub cache only; nothing is downloaded).\n\n"
	       "gguffs options:\n"
	       "    -o profile=NAME        conversion profile (below)\n"
	       "    -o cache_size=BYTES    chunk cache budget, K/M/G suffixes (default 64M)\n"
	       "    -o chunk_size=BYTES    chunk size, 1M..256M (default 4M)\n"
	       "    -o base=MODEL          base model for LoRA adapters (or a GGUF file)\n"
	       "    -o type=NAME           tensor types: F32, F16, BF16, or a llama-quantize\n"
	       "                           type (Q8_0, Q4_K_M, ...) computed lazily\n"
	       "    -o mmproj_type=NAME    mmproj.gguf's type: F32, F16, BF16, Q8_0\n"
	       "    -o cache_dir=PATH      keep computed chunks on disk there (off by default)\n"
	       "    -o disk_cache_size=BYTES  its budget, K/M/G/T suffixes (default 10G)\n"
	       "    -o keep_source_cache   keep source pages read in the page cache\n"
	       "                           (default: drop them once served)\n"
	       "    -o allow_private_sources  with allow_other: also serve sources\n"
	       "                           that other users cannot read themselves\n"
	       "    -h, --help             this help\n"
	       "    -V, --version          versions\n\n"
	       "profiles:\n"
	       "    llamacpp               what upstream llama.cpp loads and runs (default)\n"
	       "    ollama                 byte for byte what Ollama's converter writes\n"
	       "    ollama-legacy          GLM-4.7-Flash in Ollama's first dialect\n\n"
	       "architectures (config.json architectures[0] -> GGUF):\n", prog);
	for (size_t i = 0; gg_archs[i]; i++)
		printf("    %-34s %s%s\n", gg_archs[i]->hf_arch, gg_archs[i]->gguf_arch,
		       gg_archs[i]->no_upstream ? " (no upstream llama.cpp runtime)" : "");
	printf("    PEFT or MLX LoRA adapter           adapter.gguf (needs -o base=)\n\n"
	       "The mount is read-only (-o rw is refused). Unmount with\n"
	       "fusermount3 -u MOUNTPOINT, or SIGTERM/SIGINT (exit status 0).\n"
	       "SIGUSR1 re-validates the sources after they changed.\n"
	       "Once in the background, messages go to syslog (ident gguffs).\n"
	       "See gguffs(1).\n\n");
}

static int cli_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	(void)outargs;
	struct cli *c = data;
	switch (key) {
	case FUSE_OPT_KEY_NONOPT:
		if (c->nonopts++ == 0) {
			c->hfdir = strdup(arg);
			return 0; /* consumed: libfuse sees only MOUNTPOINT */
		}
		return 1;
	case KEY_HELP:
		c->help = 1;
		return 0;
	case KEY_VERSION:
		c->version = 1;
		return 0;
	case KEY_RW:
		c->rw = 1;
		return 0;
	case KEY_ALLOW_OTHER:
		c->allow_other = 1;
		return 1; /* libfuse's own option */
	case KEY_MAX_READ:
		c->max_read = (unsigned)strtoul(arg + strlen("max_read="), NULL, 0);
		return 1; /* libfuse needs it too */
	}
	return 1;
}

/* "512M" -> bytes (K/M/G/T, binary; optional trailing B/iB). */
static int parse_size(const char *name, const char *s, uint64_t *out, gg_err *e)
{
	if (!s)
		return 0;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	int shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (shift && *end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (errno || end == s || *end || !*s || s[0] == '-' ||
	    (shift && x > (UINT64_MAX >> shift)))
		return gg_fail(e, "%s=%s: expected a size such as 512M", name, s);
	*out = (uint64_t)x << shift;
	return 0;
}

/* The profile through the engine's own option parser; base= through the
 * hub cache (hub.h), so it may be a directory, a hub id or a GGUF file. */
static int model_options(struct cli *c, struct gg_options *o, gg_err *e)
{
	memset(o, 0, sizeof *o);
	if (c->base) {
		struct hub_model hb;
		if (hub_resolve(c->base, &hb, e))
			return -1;
		c->base_dir = hb.dir;
		hb.dir = NULL;
		hub_model_free(&hb);
		o->base = c->base_dir;
	}
	/* The engine's own parser reads profile=, type=, mmproj_type=. */
	const char *keys[] = { "profile", "type", "mmproj_type" };
	const char *vals[] = { c->profile, c->type, c->mmproj_type };
	size_t n = 1;
	for (size_t i = 0; i < 3; i++)
		n += vals[i] ? strlen(keys[i]) + strlen(vals[i]) + 2 : 0;
	c->model_opts = calloc(1, n); /* the parser keeps pointers into it */
	if (!c->model_opts)
		return gg_fail(e, "out of memory");
	for (size_t i = 0; i < 3; i++) {
		if (!vals[i])
			continue;
		if (*c->model_opts)
			strcat(c->model_opts, ",");
		strcat(c->model_opts, keys[i]);
		strcat(c->model_opts, "=");
		strcat(c->model_opts, vals[i]);
	}
	return gg_options_parse(c->model_opts, o, NULL, e);
}

/* "-oro,subtype=gguffs,fsname=SOURCE": df and mount(8) show the source as
 * given (made absolute), as sshfs and squashfuse do, so that an fstab
 * line's source matches the mount. Commas and backslashes are escaped for
 * libfuse's option parser. */
static char *base_options(const char *spec)
{
	char *src = hub_expand_user(spec);
	struct stat st;
	char cwd[PATH_MAX];
	if (src[0] != '/' && stat(src, &st) == 0 && getcwd(cwd, sizeof cwd)) {
		char *abs = gg_path_join(cwd, src);
		free(src);
		src = abs;
	}
	/* default_permissions: the kernel checks the files' modes itself,
	 * whoever the mount is shown to. */
	static const char head[] = "-oro,default_permissions,subtype=gguffs,fsname=";
	char *opt = gg_malloc(sizeof head + 2 * strlen(src)), *w = opt;
	w += sprintf(w, "%s", head);
	for (const char *r = src; *r; r++) {
		if (*r == ',' || *r == '\\')
			*w++ = '\\';
		*w++ = *r;
	}
	*w = 0;
	free(src);
	return opt;
}

/* cache_dir= as an absolute path (~ expanded): the daemon leaves its
 * working directory. */
static int store_path(struct cli *c, struct vfs_options *vo, gg_err *e)
{
	char *p = hub_expand_user(c->cache_dir);
	if (!*p) {
		free(p);
		return gg_fail(e, "cache_dir=: needs a directory");
	}
	if (p[0] != '/') {
		char cwd[4096];
		if (!getcwd(cwd, sizeof cwd)) {
			free(p);
			return gg_fail(e, "cache_dir=%s: %s", c->cache_dir, strerror(errno));
		}
		char *abs = gg_path_join(cwd, p);
		free(p);
		p = abs;
	}
	c->store_dir = p;
	vo->store_dir = p;
	return 0;
}

/* Open the model and build the tree (before any mount). */
static int open_vfs(struct cli *c, struct vfs **out, gg_err *e)
{
	struct hub_model hm;
	if (hub_resolve(c->hfdir, &hm, e))
		return -1;
	struct stat st;
	int rc = 0;
	if (stat(hm.dir, &st) != 0)
		rc = gg_fail(e, "%s: %s", c->hfdir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		rc = gg_fail(e, "%s: not a directory", c->hfdir);
	/* Absolute, since the daemon leaves its working directory. */
	char *dir = rc ? NULL : realpath(hm.dir, NULL);
	if (!rc && !dir)
		rc = gg_fail(e, "%s: %s", c->hfdir, strerror(errno));
	c->hub_id = hm.repo_id; /* names the model (naming.h) */
	hm.repo_id = NULL;
	hub_model_free(&hm);
	if (rc)
		return rc;
	struct vfs_options vo = { .keep_source_cache = c->keep_source_cache != 0 };
	struct gg_options go;
	struct gg_model *m = NULL;
	rc = parse_size("cache_size", c->cache_size, &vo.cache_size, e);
	if (!rc)
		rc = parse_size("chunk_size", c->chunk_size, &vo.chunk_size, e);
	if (!rc && c->cache_size && vo.cache_size == 0)
		rc = gg_fail(e, "cache_size=%s: must be above 0", c->cache_size);
	if (!rc && c->chunk_size && (vo.chunk_size < VFS_MIN_CHUNK_SIZE ||
				     vo.chunk_size > VFS_MAX_CHUNK_SIZE))
		rc = gg_fail(e, "chunk_size=%s: must be between 1M and 256M",
			     c->chunk_size);
	if (!rc)
		rc = parse_size("disk_cache_size", c->disk_cache_size, &vo.store_size, e);
	if (!rc && c->disk_cache_size && !c->cache_dir)
		rc = gg_fail(e, "disk_cache_size=%s: needs cache_dir=", c->disk_cache_size);
	if (!rc && c->disk_cache_size && vo.store_size == 0)
		rc = gg_fail(e, "disk_cache_size=%s: must be above 0", c->disk_cache_size);
	if (!rc && c->cache_dir)
		rc = store_path(c, &vo, e);
	if (!rc)
		rc = model_options(c, &go, e);
	go.hub_id = c->hub_id;
	if (!rc)
		rc = gg_model_open(dir, &go, &m, e);
	free(dir);
	if (!rc)
		rc = vfs_new(m, &vo, out, e); /* takes m */
	return rc;
}

static int run(struct fuse_args *args, struct fuse_cmdline_opts *fo,
	       struct ctx *c)
{
	struct fuse *f = fuse_new(args, &ops, sizeof ops, c);
	if (!f)
		return 1;
	int rc = 1;
	if (fuse_mount(f, fo->mountpoint) != 0)
		goto out_destroy;
	struct fuse_session *se = fuse_get_session(f);
	if (fuse_set_signal_handlers(se) != 0)
		goto out_unmount;
	if (fuse_daemonize(fo->foreground) != 0)
		goto out_signals;
	if (!fo->foreground)
		log_to_syslog(); /* stderr is /dev/null from here on */
	rc = fo->singlethread ? fuse_loop(f) : fuse_loop_mt(f, fo->clone_fd);
	/* The loop returns the signal that ended it: SIGTERM, SIGINT and
	 * SIGHUP are requests to unmount, which it did. */
	rc = rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
out_signals:
	fuse_remove_signal_handlers(se);
out_unmount:
	fuse_unmount(f);
out_destroy:
	fuse_destroy(f);
	return rc;
}

/* libfuse mallocs each read's buffer (up to 1 MiB) and frees it after the
 * reply. With glibc's defaults such buffers come from mmap or from heap
 * tops that are trimmed after every free, so each request faulted in and
 * zeroed a fresh megabyte: the biggest cost of serving converted tensors.
 * Keeping them in the heap, untrimmed, lets every request reuse memory. */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	tune_malloc();
	reload_block_signal(); /* before any thread: SIGUSR1 is for reload.c */
	struct cli cli = {0};
	struct fuse_cmdline_opts fo = {0};
	struct ctx c = {0};
	gg_err e = {{0}};
	char *base_opts = NULL;
	int rc = 1;

	if (fuse_opt_parse(&args, &cli, cli_opts, cli_proc) != 0)
		goto out;
	if (cli.help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lib_help(&args);
		rc = 0;
		goto out;
	}
	if (cli.version) {
		printf("gguffs version %s\nFUSE library version %s\n",
		       GGUFFS_VERSION, fuse_pkgversion());
		fflush(stdout); /* before fusermount3 --version writes its line */
		fuse_lowlevel_version();
		rc = 0;
		goto out;
	}
	if (cli.rw) {
		fprintf(stderr, "gguffs: the mount is read-only: -o rw is refused "
			"(drop it, or say ro)\n");
		goto out;
	}
	if (!cli.hfdir) {
		fprintf(stderr, "gguffs: usage: %s [options] MODEL MOUNTPOINT "
			"(--help for more)\n", argv[0]);
		goto out;
	}
	/* First, so that a user's own fsname= or subtype= wins. */
	base_opts = base_options(cli.hfdir);
	fuse_opt_insert_arg(&args, 1, base_opts);
	if (fuse_parse_cmdline(&args, &fo) != 0)
		goto out;
	if (!fo.mountpoint || cli.nonopts > 2) {
		fprintf(stderr, "gguffs: usage: %s [options] MODEL MOUNTPOINT "
			"(--help for more)\n", argv[0]);
		goto out;
	}
	/* allow_other shows every file to every user: then no source may be
	 * one they could not read themselves, unless asked for. */
	gg_input_policy(cli.allow_other && !cli.allow_private,
			"allow_private_sources");
	if (mountcheck(fo.mountpoint, &e) != 0 || open_vfs(&cli, &c.vfs, &e) != 0) {
		fprintf(stderr, "gguffs: %s\n", e.msg);
		goto out;
	}
	c.mountpoint = fo.mountpoint;
	c.max_read = cli.max_read;
	rc = run(&args, &fo, &c);
	vfs_free(c.vfs); /* NULL once destroy ran */
out:
	free(fo.mountpoint);
	free(cli.hfdir);
	free(cli.profile);
	free(cli.type);
	free(cli.mmproj_type);
	free(cli.cache_dir);
	free(cli.disk_cache_size);
	free(cli.store_dir);
	free(cli.cache_size);
	free(cli.chunk_size);
	free(cli.base);
	free(cli.model_opts);
	free(cli.base_dir);
	free(cli.hub_id);
	free(base_opts);
	fuse_opt_free_args(&args);
	return rc;
}
