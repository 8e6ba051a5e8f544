/* ptfs.c - the FUSE ceiling for bench/mount-bench.sh: a trivial read-only
 * passthrough of ONE file, shown as /model.gguf, with the same settings as
 * gguffs (high-level API, `read` op with pread into libfuse's buffer,
 * kernel_cache + keep_cache, readahead raised to 4 MiB after mount).
 *
 *   cc -O2 ptfs.c $(pkg-config --cflags --libs fuse3) -o ptfs
 *   ptfs [-f] [-s] [fuse options] FILE MOUNTPOINT
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
#include <unistd.h>

#include <fuse.h>

static int backing_fd = -1;
static struct stat backing_st;
static char *mountpoint;

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
	pthread_t t;
	if (pthread_create(&t, NULL, raise_readahead, NULL) == 0)
		pthread_detach(t);
	return NULL;
}

static int pt_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof *st);
	if (path && strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
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
	fill(buf, "model.gguf", NULL, 0, 0);
	return 0;
}

static int pt_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/model.gguf") != 0)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	fi->keep_cache = 1;
	return 0;
}

static int pt_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	(void)path; (void)fi;
	size_t done = 0;
	while (done < size) {
		ssize_t r = pread(backing_fd, buf + done, size - done, off + (off_t)done);
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
};

int main(int argc, char **argv)
{
	/* The last two non-option words are FILE and MOUNTPOINT; FILE is
	 * removed before libfuse parses the rest. */
	if (argc < 3) {
		fprintf(stderr, "usage: ptfs [fuse options] FILE MOUNTPOINT\n");
		return 2;
	}
	const char *file = argv[argc - 2];
	backing_fd = open(file, O_RDONLY);
	if (backing_fd < 0 || fstat(backing_fd, &backing_st) != 0) {
		perror(file);
		return 1;
	}
	mountpoint = realpath(argv[argc - 1], NULL);
	if (!mountpoint) {
		perror(argv[argc - 1]);
		return 1;
	}
	argv[argc - 2] = argv[argc - 1];
	argc--;
	return fuse_main(argc, argv, &ops, NULL);
}
