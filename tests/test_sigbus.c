/* test_sigbus.c - the engine's SIGBUS guard (engine.h): a source truncated
 * in the middle of a read ends that read with -EIO, and every bus error the
 * engine does not own reaches the handler installed before it, or kills the
 * process as SIGBUS does by default.
 *
 * cmocka installs its own SIGBUS handler around every test, so each case
 * runs in a child process that sets the disposition it needs, installs the
 * engine's guard over it (the first engine read does) and reports by its
 * exit status; the parent never reads through the engine. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine.h"
#include "testutil.h"

#define FIXTURE "llama-f32-tied" /* F32 sources: every matrix is converted */

/* Child exit codes. */
enum { OK = 0, E_SETUP = 10, E_NO_FAULT, E_NOT_CHAINED, E_WRONG_INFO,
       E_NOT_EIO, E_STOLEN, E_NOT_TRUNCATED };

/* The first converted (not byte-copied) tensor of f with some bytes. */
static const struct gg_tensor *converted_tensor(const struct gg_outfile *f)
{
	for (size_t i = 0; i < f->ntensors; i++)
		if (!f->tensors[i].is_copy && f->tensors[i].nbytes >= 4096 &&
		    f->tensors[i].srcs[0].st)
			return &f->tensors[i];
	return NULL;
}

static struct gg_model *child_open(const char *dir)
{
	struct gg_options opt = { .profile = GG_PROFILE_LLAMACPP };
	struct gg_model *m = NULL;
	gg_err e;
	if (gg_model_open(dir, &opt, &m, &e)) {
		fprintf(stderr, "open %s: %s\n", dir, e.msg);
		_exit(E_SETUP);
	}
	if (!converted_tensor(&m->files[0]))
		_exit(E_SETUP);
	return m;
}

/* Read a converted tensor of the fixture: installs the engine's guard. */
static void engine_read_once(const char *dir)
{
	struct gg_model *m = child_open(dir);
	const struct gg_tensor *t = converted_tensor(&m->files[0]);
	uint8_t buf[64];
	gg_err e;
	if (gg_tensor_read(&m->files[0], t, 0, sizeof buf, buf, &e))
		_exit(E_SETUP);
	gg_model_close(m);
}

/* The second page of a mapping of a one-byte file: touching it is a bus
 * error nobody guards. */
static volatile uint8_t *beyond_eof_page(void)
{
	char path[] = "/tmp/gguffs-test-sigbus-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, "x", 1) != 1)
		_exit(E_SETUP);
	uint8_t *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	unlink(path);
	if (p == MAP_FAILED)
		_exit(E_SETUP);
	return p + 4096;
}

/* ---- a handler installed before the engine's -------------------------- */

static sigjmp_buf prev_env;
static volatile sig_atomic_t prev_calls;
static void *volatile prev_addr;
static volatile int prev_code;

static void prev_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)sig; (void)uctx;
	prev_calls++;
	prev_addr = si->si_addr;
	prev_code = si->si_code;
	siglongjmp(prev_env, 1);
}

static void set_disposition(bool handler)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	if (handler) {
		sa.sa_sigaction = prev_handler;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	} else {
		sa.sa_handler = SIG_DFL;
	}
	sigaction(SIGBUS, &sa, NULL);
}

/* ---- the cases (in the child) ----------------------------------------- */

static int case_default_kills(const char *dir)
{
	set_disposition(false);
	engine_read_once(dir);
	volatile uint8_t *p = beyond_eof_page();
	(void)*p;
	return E_NO_FAULT; /* survived a bus error */
}

static int case_fault_chained(const char *dir)
{
	set_disposition(true);
	engine_read_once(dir);
	volatile uint8_t *p = beyond_eof_page();
	if (sigsetjmp(prev_env, 1) == 0) {
		(void)*p;
		return E_NO_FAULT;
	}
	if (prev_calls != 1)
		return E_NOT_CHAINED;
	return prev_addr == (void *)p && prev_code == BUS_ADRERR ? OK : E_WRONG_INFO;
}

static int case_sent_chained(const char *dir)
{
	set_disposition(true);
	engine_read_once(dir);
	if (sigsetjmp(prev_env, 1) == 0) {
		raise(SIGBUS);
		return E_NOT_CHAINED;
	}
	return prev_calls == 1 && prev_code <= 0 ? OK : E_WRONG_INFO;
}

static const char *truncate_path;
static volatile int truncated;

/* The engine calls this just before it reads a source run: truncate the
 * source then, so that the read itself faults. */
static void truncate_on_first_read(const struct st_tensor *st, uint64_t off,
				   uint64_t len, void *arg)
{
	(void)st; (void)off; (void)len; (void)arg;
	if (!truncated++ && truncate(truncate_path, 0) != 0)
		_exit(E_SETUP);
}

static int case_owned_eio(const char *dir)
{
	set_disposition(true);
	struct gg_model *m = child_open(dir);
	const struct gg_outfile *f = &m->files[0];
	const struct gg_tensor *t = converted_tensor(f);
	truncate_path = m->st->files[t->srcs[0].st->file].path;
	uint8_t *buf = malloc(t->nbytes);
	gg_err e = {{0}};
	int rc;
	if (sigsetjmp(prev_env, 1) == 0) {
		gg_engine_set_trace(truncate_on_first_read, NULL);
		rc = gg_tensor_read(f, t, 0, t->nbytes, buf, &e);
		gg_engine_set_trace(NULL, NULL);
	} else {
		return E_STOLEN; /* the previous handler got our fault */
	}
	if (!truncated)
		return E_NOT_TRUNCATED;
	if (rc != -EIO || !strstr(e.msg, "bus error"))
		return E_NOT_EIO;
	/* Later reads see the change before touching the mapping. */
	if (gg_tensor_read(f, t, 0, 16, buf, &e) != -EIO)
		return E_NOT_EIO;
	free(buf);
	gg_model_close(m);
	return OK;
}

/* Run one case in a child on a scratch copy of the fixture; the wait
 * status. */
static int run_case(int (*fn)(const char *dir))
{
	char *dir = scratch_fixture(FIXTURE, "sigbus");
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(dir));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	remove_tree(dir);
	free(dir);
	return status;
}

static void assert_exit_ok(int status)
{
	if (!WIFEXITED(status))
		fail_msg("child killed by signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), OK);
}

static void test_foreign_fault_kills_by_default(void **state)
{
	(void)state;
	int status = run_case(case_default_kills);
	if (WIFEXITED(status))
		fail_msg("child exited %d instead of dying of SIGBUS",
			 WEXITSTATUS(status));
	assert_int_equal(WTERMSIG(status), SIGBUS);
}

static void test_foreign_fault_is_chained(void **state)
{
	(void)state;
	assert_exit_ok(run_case(case_fault_chained));
}

static void test_sent_signal_is_chained(void **state)
{
	(void)state;
	assert_exit_ok(run_case(case_sent_chained));
}

static void test_owned_fault_gives_eio(void **state)
{
	(void)state;
	assert_exit_ok(run_case(case_owned_eio));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_fault_kills_by_default),
		cmocka_unit_test(test_foreign_fault_is_chained),
		cmocka_unit_test(test_sent_signal_is_chained),
		cmocka_unit_test(test_owned_fault_gives_eio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
