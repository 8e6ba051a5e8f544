/* readahead.h - spotting sequential readers, for the daemon's own
 * readahead (plain C, no FUSE).
 *
 * The kernel sends a sequential reader's requests a few at a time and, on
 * several threads, slightly out of order. A vfs_ra per open file tells
 * whether a request continues the stream (it starts within `slack` bytes
 * of where the previous one ended) and, if so, which range ahead of it is
 * new to prefetch: up to `window` bytes past the request, never a range
 * handed out before while the stream goes on. A jump (a random reader, a
 * seek) hands out nothing; a jump back by more than window + slack behind
 * what was handed out restarts the stream where the request ends.
 *
 * Thread-safe: concurrent requests on one vfs_ra each get disjoint ranges.
 */
#ifndef GGUFFS_READAHEAD_H
#define GGUFFS_READAHEAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct vfs_ra {
	_Atomic uint64_t last_end;  /* end of the latest request */
	_Atomic uint64_t ahead_to;  /* prefetch handed out up to here */
};

/* A stream that has read nothing yet (offset 0 continues it). */
void vfs_ra_init(struct vfs_ra *ra);

/* Record a request for [off, off+len). Returns true and [*from, *to) (non-
 * empty) when the request is sequential and there is something new to
 * prefetch within window bytes past it, clamped to limit (the file size). */
bool vfs_ra_next(struct vfs_ra *ra, uint64_t off, uint64_t len,
		 uint64_t window, uint64_t slack, uint64_t limit,
		 uint64_t *from, uint64_t *to);

#endif
