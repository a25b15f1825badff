/*
 * The reaper on a real spool in a temporary folder: served files deleted
 * by its workers, each still locked until its name is gone, with the
 * backlog never past its bound.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/spool.h"
#include "postmaster/reaper.h"

#define BATCH 50

/* Held files carry no lease; reaper_add() copies a whole token. */
static const char no_lease[SPOOL_LEASE_LEN + 1];

struct fixture {
	char dir[64];
	struct spool *sp;
	int failures;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	strcpy(f->dir, "/tmp/postmaster-reaper.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if ((f->sp = spool_open(f->dir, err, sizeof(err))) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	spool_free(f->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
failed(void *arg, const char *id, const char *lease, int err)
{
	struct fixture *f = arg;

	(void)id;
	(void)lease;
	(void)err;
	f->failures++;
}

/* Entries of a folder, "." and ".." aside. */
static int
entries(const char *path)
{
	struct dirent *e;
	DIR *d;
	int n = 0;

	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Queues n files and holds each, as GET / does before its response. */
static void
hold_batch(struct fixture *f, int first, int n, char (*ids)[SPOOL_ID_LEN + 1],
    int *fds)
{
	char err[256];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(ids[i], SPOOL_ID_LEN + 1, "%032x", first + i);
		assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, ids[i], "{}", 2,
		    err, sizeof(err)), 0);
		assert_true((fds[i] = spool_hold(f->sp, ids[i])) >= 0);
	}
}

static void
deletions_run_on_four_workers_beside_the_caller(void **state)
{
	struct fixture *f = *state;
	struct reaper *r;
	char err[256];
	int before = entries("/proc/self/task"), i;

	r = reaper_new(f->sp, 100, failed, f, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(entries("/proc/self/task"), before + 4);
	reaper_free(r);
	/* A joined thread leaves /proc a moment after its join returns. */
	for (i = 0; i < 1000 && entries("/proc/self/task") != before; i++)
		usleep(1000);
	assert_int_equal(entries("/proc/self/task"), before);
}

static void
a_pending_deletion_keeps_its_lock_until_its_name_is_gone(void **state)
{
	struct fixture *f = *state;
	char ids[BATCH][SPOOL_ID_LEN + 1], err[256];
	int fds[BATCH], i, fd;
	struct reaper *r;

	r = reaper_new(f->sp, 1000, failed, f, err, sizeof(err));
	assert_non_null(r);
	hold_batch(f, 1, BATCH, ids, fds);
	reaper_add(r, (const char (*)[SPOOL_ID_LEN + 1])ids, BATCH, no_lease, fds);
	for (i = 0; i < BATCH; i++)
		assert_int_equal(fds[i], -1);	/* the reaper's now */
	/* Whenever another holder looks, each is either still locked or
	 * gone: never free to be served a second time. */
	while (reaper_pending(r) > 0)
		for (i = 0; i < BATCH; i++) {
			fd = spool_hold(f->sp, ids[i]);
			assert_int_equal(fd, -1);
			assert_true(errno == EBUSY || errno == ENOENT);
		}
	reaper_free(r);
	assert_int_equal(entries(f->dir), 0);
	assert_int_equal(f->failures, 0);
}

static void
the_backlog_stays_within_its_bound_and_all_is_deleted(void **state)
{
	struct fixture *f = *state;
	char ids[BATCH][SPOOL_ID_LEN + 1], err[256];
	int fds[BATCH], b;
	struct reaper *r;

	r = reaper_new(f->sp, 64, failed, f, err, sizeof(err));
	assert_non_null(r);
	for (b = 0; b < 20; b++) {
		hold_batch(f, 1 + b * BATCH, BATCH, ids, fds);
		reaper_add(r, (const char (*)[SPOOL_ID_LEN + 1])ids, BATCH,
		    no_lease, fds);
		assert_true(reaper_pending(r) <= 64);
	}
	reaper_free(r);
	assert_int_equal(entries(f->dir), 0);
	assert_int_equal(f->failures, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(deletions_run_on_four_workers_beside_the_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(a_pending_deletion_keeps_its_lock_until_its_name_is_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(the_backlog_stays_within_its_bound_and_all_is_deleted, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
