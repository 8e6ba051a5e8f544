/* reload.h - SIGUSR1: re-validate a mount's sources and serve them again.
 *
 * A source that changes under a mount makes the reads needing it fail with
 * EIO until remount. `kill -USR1 <pid>` asks gguffs to look again
 * (vfs_reload): if the model it would mount now has the same layout, it is
 * served from then on and the kernel's cached pages of the files whose
 * bytes may differ are dropped (fuse_invalidate_path); if the layout
 * changed, the mount keeps failing and the log says why.
 *
 * SIGUSR1 is blocked in every thread (reload_block_signal, before any
 * thread exists) and taken by one thread with sigwait, so it never
 * interrupts a request nor kills the daemon (its default action). One
 * mount per process; not thread-safe against itself (call from main.c's
 * init/destroy only).
 */
#ifndef GGUFFS_RELOAD_H
#define GGUFFS_RELOAD_H

struct fuse;
struct vfs;

/* Block SIGUSR1 in the calling thread; threads created later inherit it. */
void reload_block_signal(void);

/* Start the thread serving SIGUSR1 for v mounted by f. 0 or -1. */
int reload_start(struct vfs *v, struct fuse *f);

/* Stop that thread and wait for it (a reload in progress finishes). */
void reload_stop(void);

#endif
