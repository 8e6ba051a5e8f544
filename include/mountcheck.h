/* mountcheck.h - refuse mountpoints a mount would only make worse.
 *
 * A regular file as mountpoint mounts "successfully" and leaves a node
 * that fails every access; a second gguffs on a mountpoint already
 * serving one stacks silently over it. Both are refused before mounting.
 * Reads /proc/self/mountinfo; thread-safe.
 */
#ifndef GGUFFS_MOUNTCHECK_H
#define GGUFFS_MOUNTCHECK_H

#include "util.h"

/* 0 when mountpoint (absolute, as libfuse resolved it) is a directory with
 * no gguffs mounted on it, or a /dev/fd/N descriptor handed over by
 * mount.fuse3 (drop_privileges); else -1 with a message naming it (and,
 * for a gguffs already there, its source and how to unmount it). */
int mountcheck(const char *mountpoint, gg_err *e);

#endif
