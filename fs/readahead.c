/* readahead.c - sequential-reader detection (contract in readahead.h). */
#include "readahead.h"

void vfs_ra_init(struct vfs_ra *ra)
{
	atomic_init(&ra->last_end, 0);
	atomic_init(&ra->ahead_to, 0);
}

bool vfs_ra_next(struct vfs_ra *ra, uint64_t off, uint64_t len,
		 uint64_t window, uint64_t slack, uint64_t limit,
		 uint64_t *from, uint64_t *to)
{
	uint64_t end = off + len;
	uint64_t last = atomic_exchange(&ra->last_end, end);
	bool seq = off <= last + slack && off + slack >= last;
	uint64_t have = atomic_load(&ra->ahead_to);
	if (!seq) {
		/* A seek far back restarts the stream there; a straggler of
		 * the stream (behind it by less than a window) does not. */
		if (end + window + slack < have)
			atomic_compare_exchange_strong(&ra->ahead_to, &have, end);
		return false;
	}
	uint64_t want = end + window < limit ? end + window : limit;
	for (;;) {
		uint64_t start = have > end ? have : end;
		if (start >= want)
			return false;
		if (atomic_compare_exchange_weak(&ra->ahead_to, &have, want)) {
			*from = start;
			*to = want;
			return true;
		}
	}
}
