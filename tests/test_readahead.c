/* test_readahead.c - spotting sequential readers (readahead.h): a stream
 * gets each byte ahead handed out once, within its window and the file;
 * slightly out-of-order requests still count as the stream; a jump hands
 * out nothing and restarts; concurrent requests of one stream get
 * disjoint ranges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>

#include "readahead.h"

#define MiB (1ull << 20)

static void test_stream_hands_out_each_range_once(void **state)
{
	(void)state;
	struct vfs_ra ra;
	vfs_ra_init(&ra);
	uint64_t from, to, covered = 16 * MiB;
	/* The first request at 0 continues the empty stream. */
	assert_true(vfs_ra_next(&ra, 0, MiB, 16 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	assert_int_equal(from, MiB);
	assert_int_equal(to, 17 * MiB);
	covered = to;
	for (uint64_t off = MiB; off < 100 * MiB; off += MiB) {
		if (vfs_ra_next(&ra, off, MiB, 16 * MiB, 8 * MiB, 1000 * MiB, &from, &to)) {
			assert_int_equal(from, covered); /* no gap, no overlap */
			assert_int_equal(to, off + 17 * MiB);
			covered = to;
		}
	}
	assert_int_equal(covered, 116 * MiB);
	/* Clamped to the file's end: nothing past it. */
	assert_false(vfs_ra_next(&ra, 100 * MiB, MiB, 16 * MiB, 8 * MiB, 110 * MiB, &from, &to));
	vfs_ra_init(&ra);
	assert_true(vfs_ra_next(&ra, 0, MiB, 16 * MiB, 8 * MiB, 5 * MiB, &from, &to));
	assert_int_equal(to, 5 * MiB);
}

static void test_out_of_order_and_jumps(void **state)
{
	(void)state;
	struct vfs_ra ra;
	vfs_ra_init(&ra);
	uint64_t from, to;
	assert_true(vfs_ra_next(&ra, 0, MiB, 4 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	/* A request a little behind the last one is still the stream. */
	assert_true(vfs_ra_next(&ra, 3 * MiB, MiB, 4 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	assert_int_equal(from, 5 * MiB);
	assert_int_equal(to, 8 * MiB);
	assert_false(vfs_ra_next(&ra, 2 * MiB, MiB, 4 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	/* A jump far ahead: nothing handed out now; the next request after
	 * it continues a new stream from there. */
	assert_false(vfs_ra_next(&ra, 500 * MiB, MiB, 4 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	assert_true(vfs_ra_next(&ra, 501 * MiB, MiB, 4 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	assert_int_equal(from, 502 * MiB);
	assert_int_equal(to, 506 * MiB);
	/* A jump back restarts there. */
	assert_false(vfs_ra_next(&ra, 10 * MiB, MiB, 4 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	assert_true(vfs_ra_next(&ra, 11 * MiB, MiB, 4 * MiB, 8 * MiB, 1000 * MiB, &from, &to));
	assert_int_equal(from, 12 * MiB);
}

/* Four threads serving one stream's requests, as libfuse's workers do;
 * the barrier keeps them within a few requests of each other, as the
 * kernel's readahead window does. */
static pthread_barrier_t lockstep;

struct racer { struct vfs_ra *ra; uint64_t first; int overlap; uint64_t *owner; };

static void *race(void *arg)
{
	struct racer *r = arg;
	uint64_t from, to;
	for (uint64_t off = r->first; off < 256 * MiB; off += 4 * MiB) {
		pthread_barrier_wait(&lockstep);
		if (vfs_ra_next(r->ra, off, MiB, 8 * MiB, 16 * MiB, 300 * MiB, &from, &to))
			for (uint64_t m = from / MiB; m < to / MiB; m++)
				if (__atomic_fetch_add(&r->owner[m], 1, __ATOMIC_RELAXED))
					r->overlap = 1;
	}
	return NULL;
}

static void test_concurrent_ranges_are_disjoint(void **state)
{
	(void)state;
	struct vfs_ra ra;
	vfs_ra_init(&ra);
	uint64_t *owner = calloc(300, sizeof *owner);
	pthread_t t[4];
	struct racer r[4];
	pthread_barrier_init(&lockstep, NULL, 4);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ &ra, (uint64_t)i * MiB, 0, owner };
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].overlap, 0);
	}
	/* Past the last request, the window was handed out (what lies under
	 * requests need not be). */
	for (int m = 256; m < 264; m++)
		assert_int_equal(owner[m], 1);
	pthread_barrier_destroy(&lockstep);
	free(owner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_hands_out_each_range_once),
		cmocka_unit_test(test_out_of_order_and_jumps),
		cmocka_unit_test(test_concurrent_ranges_are_disjoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
