/* The spool: ids, durable writes, listing order, and moving messages
 * between areas by rename. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/spool.h"

struct fixture {
	char dir[64];
	struct spool *sp;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	strcpy(f->dir, "/tmp/spooltest.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->sp = spool_open(f->dir, err, sizeof(err));
	if (f->sp == NULL)
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

static bool
exists(struct fixture *f, const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	return stat(p, &st) == 0;
}

static void
ids_are_32_hex_and_increasing(void **state)
{
	char a[33], b[33];
	int i;

	(void)state;
	spool_id_new(a);
	assert_true(spool_id_valid(a));
	for (i = 0; i < 10000; i++) {
		spool_id_new(b);
		assert_true(strcmp(a, b) < 0);
		strcpy(a, b);
	}
}

static void
id_validation_refuses_paths_and_wrong_forms(void **state)
{
	(void)state;
	assert_false(spool_id_valid("../../../../../../../../etc/passwd"));
	assert_false(spool_id_valid("0123456789abcdef0123456789abcdeF"));
	assert_false(spool_id_valid("0123456789abcdef0123456789abcde"));
	assert_false(spool_id_valid("0123456789abcdef0123456789abcdef0"));
	assert_false(spool_id_valid("/123456789abcdef0123456789abcdef"));
	assert_false(spool_id_valid(""));
	assert_false(spool_id_valid(NULL));
	assert_true(spool_id_valid("0123456789abcdef0123456789abcdef"));
}

static void
open_creates_the_areas_and_refuses_a_missing_dir(void **state)
{
	struct fixture *f = *state;
	char err[256];

	assert_true(exists(f, ".tmp"));
	assert_true(exists(f, ".leased"));
	assert_true(exists(f, ".deferred"));
	assert_true(exists(f, ".dead"));
	assert_true(exists(f, ".quarantine"));
	assert_null(spool_open("/nonexistent/spool", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file or directory"));
}

static void
put_is_visible_only_when_complete(void **state)
{
	struct fixture *f = *state;
	struct spool_file *sf;
	char id[33], err[256], **names, *buf;
	size_t len;
	long n;

	spool_id_new(id);
	sf = spool_file_create(f->sp, id, err, sizeof(err));
	assert_non_null(sf);
	assert_int_equal(spool_file_write(sf, "{\"x\":", 5), 0);
	/* Half written: nothing in the queue. */
	assert_int_equal(spool_list(f->sp, SPOOL_QUEUE, &names), 0);
	spool_list_free(names, 0);
	assert_int_equal(spool_file_write(sf, "1}", 2), 0);
	assert_int_equal(spool_file_sync(sf), 0);
	assert_int_equal(spool_file_commit(sf, SPOOL_QUEUE, id), 0);
	assert_int_equal(spool_sync(f->sp, SPOOL_QUEUE), 0);
	n = spool_list(f->sp, SPOOL_QUEUE, &names);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], id);
	spool_list_free(names, n);
	assert_int_equal(spool_read(f->sp, SPOOL_QUEUE, id, 1 << 20, &buf, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(buf, "{\"x\":1}");
	free(buf);
	/* Nothing left in .tmp. */
	assert_int_equal(spool_list(f->sp, SPOOL_TMP, &names), 0);
	spool_list_free(names, 0);
}

static void
abort_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct spool_file *sf;
	char id[33], err[256], **names;

	spool_id_new(id);
	sf = spool_file_create(f->sp, id, err, sizeof(err));
	assert_int_equal(spool_file_write(sf, "partial", 7), 0);
	spool_file_abort(sf);
	spool_file_abort(NULL);
	assert_int_equal(spool_list(f->sp, SPOOL_TMP, &names), 0);
	spool_list_free(names, 0);
	assert_int_equal(spool_list(f->sp, SPOOL_QUEUE, &names), 0);
	spool_list_free(names, 0);
}

static void
list_is_oldest_first_and_skips_strangers(void **state)
{
	struct fixture *f = *state;
	char ids[3][33], err[256], **names, p[256];
	long n;
	int i, fd;

	for (i = 0; i < 3; i++)
		spool_id_new(ids[i]);
	for (i = 2; i >= 0; i--)
		assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, ids[i], "{}", 2,
		    err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/README", f->dir);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	close(fd);
	n = spool_list(f->sp, SPOOL_QUEUE, &names);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(names[i], ids[i]);
	spool_list_free(names, n);
}

static void
lease_is_won_by_one_claimant_only(void **state)
{
	struct fixture *f = *state;
	char id[33], l1[25], l2[25], err[256], name[96];

	spool_id_new(id);
	assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, id, "{}", 2, err, sizeof(err)), 0);
	spool_lease_new(l1, time(NULL) + 60);
	spool_lease_new(l2, time(NULL) + 60);
	assert_int_equal(spool_lease(f->sp, id, l1), 0);
	assert_int_equal(spool_lease(f->sp, id, l2), -1);
	assert_int_equal(errno, ENOENT);
	snprintf(name, sizeof(name), ".leased/%s.%s", id, l1);
	assert_true(exists(f, name));
	assert_false(exists(f, id));
	/* Ack with the wrong lease fails; with the right one deletes. */
	assert_int_equal(spool_ack(f->sp, id, l2), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_ack(f->sp, id, l1), 0);
	assert_false(exists(f, name));
}

/* A hold is exclusive; a message leased or removed under a hold is gone
 * for the next holder; what is not a regular file is refused. */
static void
hold_is_exclusive_until_let_go_or_removed(void **state)
{
	struct fixture *f = *state;
	char id[33], other[33], link[33], l[25], err[256], p[256];
	int fd;

	spool_id_new(id);
	assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, id, "{}", 2, err, sizeof(err)), 0);
	assert_true((fd = spool_hold(f->sp, id)) >= 0);
	assert_int_equal(spool_hold(f->sp, id), -1);
	assert_int_equal(errno, EBUSY);
	close(fd);
	assert_true((fd = spool_hold(f->sp, id)) >= 0);	/* let go: free again */
	assert_int_equal(spool_remove_held(f->sp, id, fd), 0);
	assert_false(exists(f, id));
	assert_int_equal(spool_hold(f->sp, id), -1);
	assert_int_equal(errno, ENOENT);

	/* Leased away under the hold: the next holder finds nothing. */
	spool_id_new(other);
	assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, other, "{}", 2, err, sizeof(err)), 0);
	assert_true((fd = spool_hold(f->sp, other)) >= 0);
	spool_lease_new(l, time(NULL) + 60);
	assert_int_equal(spool_lease(f->sp, other, l), 0);
	close(fd);
	assert_int_equal(spool_hold(f->sp, other), -1);
	assert_int_equal(errno, ENOENT);

	spool_id_new(link);
	snprintf(p, sizeof(p), "%s/%s", f->dir, link);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(spool_hold(f->sp, link), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(spool_hold(f->sp, link), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_hold(f->sp, "../etc/passwd"), -1);
	assert_int_equal(errno, EINVAL);
}

static void
release_puts_the_message_back(void **state)
{
	struct fixture *f = *state;
	char id[33], l[25], err[256];

	spool_id_new(id);
	assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, id, "{}", 2, err, sizeof(err)), 0);
	spool_lease_new(l, time(NULL) + 60);
	assert_int_equal(spool_lease(f->sp, id, l), 0);
	assert_int_equal(spool_release(f->sp, id, l), 0);
	assert_true(exists(f, id));
}

static void
expired_leases_and_due_deferrals_return(void **state)
{
	struct fixture *f = *state;
	char a[33], b[33], c[33], la[25], lb[25], lc[25], err[256], name[96];
	time_t now = time(NULL);

	spool_id_new(a);
	spool_id_new(b);
	spool_id_new(c);
	assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, a, "{}", 2, err, sizeof(err)), 0);
	assert_int_equal(spool_put(f->sp, SPOOL_QUEUE, b, "{}", 2, err, sizeof(err)), 0);
	spool_lease_new(la, now - 1);
	spool_lease_new(lb, now + 3600);
	assert_int_equal(spool_lease_expiry(lb), now + 3600);
	assert_int_equal(spool_lease(f->sp, a, la), 0);
	assert_int_equal(spool_lease(f->sp, b, lb), 0);
	spool_lease_new(lc, now);
	snprintf(name, sizeof(name), "%s.%s", c, lc);
	assert_int_equal(spool_put(f->sp, SPOOL_DEFERRED, name, "{}", 2, err, sizeof(err)), 0);
	assert_int_equal(spool_expire(f->sp, now, NULL, NULL), 2);
	assert_true(exists(f, a));
	assert_false(exists(f, b));
	assert_true(exists(f, c));
}

static void
moves_refuse_names_that_are_not_spool_names(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(spool_move(f->sp, SPOOL_QUEUE, "../x", SPOOL_DEAD,
	    "0123456789abcdef0123456789abcdef"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_lease(f->sp, "/etc/passwd", "000000000000000000000000"), -1);
	assert_int_equal(errno, EINVAL);
}

/* A file in .tmp/ last written age seconds ago. */
static void
make_tmp_file(struct fixture *f, const char *name, time_t age)
{
	struct timespec ts[2];
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/.tmp/%s", f->dir, name);
	fd = open(p, O_CREAT | O_WRONLY, 0640);
	assert_true(fd >= 0);
	close(fd);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= age;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* What a crash between create and rename leaves behind is removed once
 * it is older than SPOOL_TMP_STALE; a younger file may be another
 * process's write in flight, and stays. */
static void
clean_tmp_removes_only_stale_files(void **state)
{
	struct fixture *f = *state;
	const char *old = "0123456789abcdef0123456789abcdef.0011223344556677";
	const char *fresh = "0123456789abcdef0123456789abcdee.0011223344556677";
	const char *edge = "0123456789abcdef0123456789abcded.0011223344556677";
	time_t now = time(NULL);

	make_tmp_file(f, old, SPOOL_TMP_STALE + 60);
	make_tmp_file(f, fresh, 0);
	make_tmp_file(f, edge, SPOOL_TMP_STALE - 60);
	assert_int_equal(spool_clean_tmp(f->sp, now, SPOOL_TMP_STALE), 1);
	assert_false(exists(f, ".tmp/0123456789abcdef0123456789abcdef.0011223344556677"));
	assert_true(exists(f, ".tmp/0123456789abcdef0123456789abcdee.0011223344556677"));
	assert_true(exists(f, ".tmp/0123456789abcdef0123456789abcded.0011223344556677"));
	/* Later, the same files are stale too. */
	assert_int_equal(spool_clean_tmp(f->sp, now + SPOOL_TMP_STALE + 1,
	    SPOOL_TMP_STALE), 2);
	assert_false(exists(f, ".tmp/0123456789abcdef0123456789abcdee.0011223344556677"));
}

static void
check_notices_a_spool_moved_replaced_or_missing_an_area(void **state)
{
	struct fixture *f = *state;
	char err[512], want[512], away[128], p[256];

	assert_int_equal(spool_check(f->sp, err, sizeof(err)), 0);

	snprintf(away, sizeof(away), "%s.away", f->dir);
	assert_int_equal(rename(f->dir, away), 0);
	assert_int_equal(spool_check(f->sp, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	snprintf(want, sizeof(want), "spool %s: No such file or directory",
	    f->dir);
	assert_string_equal(err, want);

	/* Another folder in its place is not the spool either. */
	assert_int_equal(mkdir(f->dir, 0700), 0);
	assert_int_equal(spool_check(f->sp, err, sizeof(err)), -1);
	assert_int_equal(errno, ESTALE);
	snprintf(want, sizeof(want), "spool %s: not the folder opened at start "
	    "(moved or replaced)", f->dir);
	assert_string_equal(err, want);
	assert_int_equal(rmdir(f->dir), 0);

	assert_int_equal(rename(away, f->dir), 0);
	assert_int_equal(spool_check(f->sp, err, sizeof(err)), 0);

	snprintf(p, sizeof(p), "%s/.quarantine", f->dir);
	assert_int_equal(rmdir(p), 0);
	assert_int_equal(spool_check(f->sp, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "spool %s/.quarantine: No such file or "
	    "directory", f->dir);
	assert_string_equal(err, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_are_32_hex_and_increasing),
		cmocka_unit_test(id_validation_refuses_paths_and_wrong_forms),
		cmocka_unit_test_setup_teardown(open_creates_the_areas_and_refuses_a_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(put_is_visible_only_when_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(list_is_oldest_first_and_skips_strangers, setup, teardown),
		cmocka_unit_test_setup_teardown(lease_is_won_by_one_claimant_only, setup, teardown),
		cmocka_unit_test_setup_teardown(hold_is_exclusive_until_let_go_or_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(release_puts_the_message_back, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_leases_and_due_deferrals_return, setup, teardown),
		cmocka_unit_test_setup_teardown(moves_refuse_names_that_are_not_spool_names, setup, teardown),
		cmocka_unit_test_setup_teardown(clean_tmp_removes_only_stale_files, setup, teardown),
		cmocka_unit_test_setup_teardown(check_notices_a_spool_moved_replaced_or_missing_an_area, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
