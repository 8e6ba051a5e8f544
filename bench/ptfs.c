/* ptfs.c - the FUSE ceiling for bench/mount-bench.sh: a trivial read-only
 * passthrough with the same settings as gguffs (high-level API, `read` op
 * with pread into libfuse's buffer, kernel_cache + keep_cache, readahead
 * raised to 4 MiB after mount). FILE is shown as /model.gguf; a DIRECTORY
 * is shown whole (its regular files, flat), as a source tree for gguffs.
 * --delay-ms=X sleeps X ms in every read (a high-latency source: NFS,
 * object stores); reads run in parallel on libfuse's threads.
 *
 *   cc -O2 ptfs.c $(pkg-config --cflags --libs fuse3) -o ptfs
 *   ptfs [--delay-ms=X] [-f] [-s] [fuse options] FILE|DIRECTORY MOUNTPOINT
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>

static int backing_fd = -1;   /* FILE mode: the file; DIRECTORY mode: the dir */
static struct stat backing_st;
static int dir_mode;
static char *mountpoint;
static long delay_ns;

static void *raise_readahead(void *arg)
{
	(void)arg;
	struct stat st;
	if (stat(mountpoint, &st) != 0)
		return NULL;
	char p[96];
	snprintf(p, sizeof p, "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	FILE *f = fopen(p, "w");
	if (f) {
		fputs("4096\n", f);
		fclose(f);
	}
	return NULL;
}

static void *pt_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->kernel_cache = 1;
	cfg->attr_timeout = cfg->entry_timeout = 86400;
	cfg->nullpath_ok = 1;
	/* Real inode numbers: gguffs keys its tokenizer cache on them. */
	cfg->use_ino = 1;
	pthread_t t;
	if (pthread_create(&t, NULL, raise_readahead, NULL) == 0)
		pthread_detach(t);
	return NULL;
}

/* DIRECTORY mode: "/name" -> "name" (flat: no subdirectories). */
static const char *leaf(const char *path)
{
	return path[0] == '/' && path[1] && !strchr(path + 1, '/') ? path + 1 : NULL;
}

static int pt_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	memset(st, 0, sizeof *st);
	if (path && strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	if (dir_mode) {
		if (fi ? fstat((int)fi->fh, st) != 0 :
		    !leaf(path) || fstatat(backing_fd, leaf(path), st, 0) != 0)
			return -errno ? -errno : -ENOENT;
		if (!S_ISREG(st->st_mode))
			return -ENOENT;
		st->st_mode = S_IFREG | 0444;
		st->st_blksize = 1 << 20;
		return 0;
	}
	if (path && strcmp(path, "/model.gguf") != 0)
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = backing_st.st_size;
	st->st_mtim = backing_st.st_mtim;
	st->st_blksize = 1 << 20;
	return 0;
}

static int pt_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags fl)
{
	(void)path; (void)off; (void)fi; (void)fl;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	if (!dir_mode) {
		fill(buf, "model.gguf", NULL, 0, 0);
		return 0;
	}
	DIR *d = fdopendir(dup(backing_fd));
	if (!d)
		return -errno;
	rewinddir(d);
	struct dirent *de;
	struct stat st;
	while ((de = readdir(d)))
		if (fstatat(backing_fd, de->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
			fill(buf, de->d_name, NULL, 0, 0);
	closedir(d);
	return 0;
}

static int pt_open(const char *path, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	if (dir_mode) {
		int fd = leaf(path) ? openat(backing_fd, leaf(path), O_RDONLY) : -1;
		if (fd < 0)
			return -ENOENT;
		fi->fh = (uint64_t)fd;
	} else if (strcmp(path, "/model.gguf") != 0) {
		return -ENOENT;
	} else {
		fi->fh = (uint64_t)backing_fd;
	}
	fi->keep_cache = 1;
	return 0;
}

static int pt_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	if (dir_mode)
		close((int)fi->fh);
	return 0;
}

static int pt_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)path;
	if (delay_ns) {
		struct timespec ts = { delay_ns / 1000000000L, delay_ns % 1000000000L };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	size_t done = 0;
	while (done < size) {
		ssize_t r = pread((int)fi->fh, buf + done, size - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (int)done;
}

static const struct fuse_operations ops = {
	.init = pt_init,
	.getattr = pt_getattr,
	.readdir = pt_readdir,
	.open = pt_open,
	.read = pt_read,
	.release = pt_release,
};

int main(int argc, char **argv)
{
	/* --delay-ms=X is ours; the last two non-option words are the source
	 * and MOUNTPOINT; the source is removed before libfuse parses the
	 * rest. */
	int k = 1;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--delay-ms=", 11) == 0)
			delay_ns = (long)(atof(argv[i] + 11) * 1e6);
		else
			argv[k++] = argv[i];
	}
	argc = k;
	if (argc < 3) {
		fprintf(stderr, "usage: ptfs [--delay-ms=X] [fuse options] FILE|DIR MOUNTPOINT\n");
		return 2;
	}
	const char *file = argv[argc - 2];
	backing_fd = open(file, O_RDONLY);
	if (backing_fd < 0 || fstat(backing_fd, &backing_st) != 0) {
		perror(file);
		return 1;
	}
	dir_mode = S_ISDIR(backing_st.st_mode);
	mountpoint = realpath(argv[argc - 1], NULL);
	if (!mountpoint) {
		perror(argv[argc - 1]);
		return 1;
	}
	argv[argc - 2] = argv[argc - 1];
	argc--;
	return fuse_main(argc, argv, &ops, NULL);
}
