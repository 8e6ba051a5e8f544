/* reload.c - the SIGUSR1 thread (contract in reload.h). */
#define FUSE_USE_VERSION 31

#include "reload.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <fuse.h>

#include "log.h"
#include "vfs.h"

static pthread_t thread;
static bool running;
static atomic_bool stopping;
static struct vfs *the_vfs;
static struct fuse *the_fuse;

static void sigusr1_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGUSR1);
}

void reload_block_signal(void)
{
	sigset_t s;
	sigusr1_set(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

/* -ENOENT only means the kernel never looked the path up: nothing cached. */
static void invalidate(const char *path, void *arg)
{
	(void)arg;
	fuse_invalidate_path(the_fuse, path);
}

static void *reload_main(void *arg)
{
	(void)arg;
	sigset_t s;
	sigusr1_set(&s);
	for (;;) {
		int sig;
		if (sigwait(&s, &sig) != 0)
			continue;
		if (atomic_load(&stopping))
			break;
		gg_err e;
		int rc = vfs_reload(the_vfs, invalidate, NULL, &e);
		log_msg(rc < 0 ? LOG_ERR : rc ? LOG_NOTICE : LOG_INFO,
			"SIGUSR1: %s", e.msg);
	}
	return NULL;
}

int reload_start(struct vfs *v, struct fuse *f)
{
	the_vfs = v;
	the_fuse = f;
	atomic_store(&stopping, false);
	running = pthread_create(&thread, NULL, reload_main, NULL) == 0;
	return running ? 0 : -1;
}

void reload_stop(void)
{
	if (!running)
		return;
	atomic_store(&stopping, true);
	pthread_kill(thread, SIGUSR1);
	pthread_join(thread, NULL);
	running = false;
}
