/* mountcheck.c - see mountcheck.h. */
#include "mountcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
		    r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
}

/* In one mountinfo line, the mount point (field 5) and, after " - ", the
 * filesystem type and source. Returns 0 when the line has them. */
static int parse_line(char *line, char **mnt, char **type, char **src)
{
	char *sep = strstr(line, " - ");
	if (!sep)
		return -1;
	*sep = 0;
	char *save = NULL, *tok = strtok_r(line, " ", &save);
	for (int i = 1; tok && i < 5; i++)
		tok = strtok_r(NULL, " ", &save);
	*mnt = tok;
	*type = strtok_r(sep + 3, " ", &save);
	*src = strtok_r(NULL, " ", &save);
	if (!*mnt || !*type || !*src)
		return -1;
	unescape(*mnt);
	unescape(*src);
	return 0;
}

/* The source of the gguffs mounted at mnt, malloc'd, or NULL. */
static char *gguffs_source_at(const char *mnt)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return NULL;
	char *line = NULL, *found = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = 0;
		char *m, *t, *s;
		if (parse_line(line, &m, &t, &s) == 0 && strcmp(m, mnt) == 0 &&
		    strcmp(t, "fuse.gguffs") == 0) {
			free(found);
			found = gg_strdup(s); /* the topmost one is listed last */
		}
	}
	free(line);
	fclose(f);
	return found;
}

int mountcheck(const char *mountpoint, gg_err *e)
{
	unsigned fd;
	int n = 0;
	if (sscanf(mountpoint, "/dev/fd/%u%n", &fd, &n) == 1 &&
	    mountpoint[n] == 0)
		return 0;
	struct stat st;
	if (stat(mountpoint, &st) != 0)
		return gg_fail(e, "%s: %s", mountpoint, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return gg_fail(e, "%s: not a directory (the mountpoint must be one)",
			       mountpoint);
	char *src = gguffs_source_at(mountpoint);
	if (!src)
		return 0;
	gg_fail(e, "%s: gguffs is already mounted here (from %s); unmount it "
		"first: fusermount3 -u %s", mountpoint, src, mountpoint);
	free(src);
	return -1;
}
