/*
 * Operating the queue by hand: finding a message in any area, requeueing,
 * deleting and flushing, on a real spool in a temporary folder.
 */
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
#include <unistd.h>

#include "common/message.h"
#include "common/spool.h"
#include "postmaster/queuectl.h"

struct fixture {
	char dir[64];
	struct spool *sp;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/queuectl-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->sp = spool_open(f->dir, err, sizeof(err));
	assert_non_null(f->sp);
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
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Writes a message with `attempts` and `last_error` as AREA/NAME and
 * returns its id in id. */
static void
put_message(struct spool *sp, enum spool_area area, char id[33],
    long attempts, const char *last_error)
{
	struct message m;
	char *rcpt = "c@d.example", *json, err[256], name[64], lease[25];
	size_t len;

	memset(&m, 0, sizeof(m));
	spool_id_new(id);
	memcpy(m.id, id, 33);
	m.mail_from = "a@b.example";
	m.rcpt_tos = &rcpt;
	m.nrcpt = 1;
	m.data = (unsigned char *)"Subject: t\r\n\r\nbody\r\n";
	m.data_len = strlen((char *)m.data);
	m.attempts = attempts;
	m.last_error = (char *)last_error;
	json = message_encode(&m, &len);
	assert_non_null(json);
	if (area == SPOOL_LEASED || area == SPOOL_DEFERRED) {
		spool_lease_new(lease, time(NULL) + 300);
		snprintf(name, sizeof(name), "%s.%s", id, lease);
	} else
		snprintf(name, sizeof(name), "%s", id);
	assert_int_equal(spool_put(sp, area, name, json, len, err,
	    sizeof(err)), 0);
	free(json);
}

static bool
exists(struct spool *sp, enum spool_area area, const char *name)
{
	struct stat st;

	return fstatat(spool_dirfd(sp, area), name, &st, 0) == 0;
}

static long
count(struct spool *sp, enum spool_area area)
{
	char **names;
	long n = spool_list(sp, area, &names);

	spool_list_free(names, n);
	return n;
}

static void
find_locates_a_message_in_every_area(void **state)
{
	struct fixture *f = *state;
	enum spool_area a[] = { SPOOL_QUEUE, SPOOL_LEASED, SPOOL_DEFERRED,
	    SPOOL_DEAD, SPOOL_QUARANTINE };
	struct qctl_where w;
	char id[33];
	size_t i;

	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		put_message(f->sp, a[i], id, 0, NULL);
		assert_int_equal(qctl_find(f->sp, id, &w), 0);
		assert_int_equal(w.area, a[i]);
		assert_memory_equal(w.name, id, 32);
		if (a[i] == SPOOL_LEASED || a[i] == SPOOL_DEFERRED)
			assert_int_equal(strlen(w.name), 32 + 1 + 24);
		else
			assert_string_equal(w.name, id);
	}
}

static void
find_of_an_unknown_or_malformed_id_fails(void **state)
{
	struct fixture *f = *state;
	struct qctl_where w;

	assert_int_equal(qctl_find(f->sp, "0123456789abcdef0123456789abcdef",
	    &w), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(qctl_find(f->sp, "../../etc/passwd", &w), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(qctl_find(f->sp, "0123456789ABCDEF0123456789abcdef",
	    &w), -1);
	assert_int_equal(errno, EINVAL);
}

static void
id_age_reads_the_time_part_and_rejects_non_times(void **state)
{
	char id[40];
	time_t now = 1795621692;

	(void)state;
	/* made 90 s before now */
	snprintf(id, sizeof(id), "%014llx000000000000000000",
	    (unsigned long long)(now - 90) * 1000000ULL);
	assert_int_equal(qctl_id_age(id, now), 90);
	/* a random id (the original project's) is not a time */
	assert_int_equal(qctl_id_age("00000000000000a1b2c3d4e5f6a7b8c9", now), -1);
	assert_int_equal(qctl_id_age("ffffffffffffffa1b2c3d4e5f6a7b8c9", now), -1);
}

static void
format_age_uses_the_largest_whole_unit(void **state)
{
	char b[16];

	(void)state;
	qctl_format_age(0, b, sizeof(b));
	assert_string_equal(b, "0s");
	qctl_format_age(59, b, sizeof(b));
	assert_string_equal(b, "59s");
	qctl_format_age(60, b, sizeof(b));
	assert_string_equal(b, "1m");
	qctl_format_age(3599, b, sizeof(b));
	assert_string_equal(b, "59m");
	qctl_format_age(7200, b, sizeof(b));
	assert_string_equal(b, "2h");
	qctl_format_age(3 * 86400 + 5, b, sizeof(b));
	assert_string_equal(b, "3d");
	qctl_format_age(-1, b, sizeof(b));
	assert_string_equal(b, "?");
}

static void
requeue_of_a_dead_letter_resets_attempts_and_keeps_last_error(void **state)
{
	struct fixture *f = *state;
	struct message m;
	enum spool_area from;
	char id[33], err[256], *data;
	size_t len;
	long was;

	put_message(f->sp, SPOOL_DEAD, id, 10, "550 5.1.1 no such user");
	assert_int_equal(qctl_requeue(f->sp, id, &from, &was, err,
	    sizeof(err)), QCTL_OK);
	assert_int_equal(from, SPOOL_DEAD);
	assert_int_equal(was, 10);
	assert_false(exists(f->sp, SPOOL_DEAD, id));
	assert_int_equal(count(f->sp, SPOOL_LEASED), 0);
	assert_int_equal(count(f->sp, SPOOL_TMP), 0);
	assert_int_equal(spool_read(f->sp, SPOOL_QUEUE, id, 1 << 20, &data,
	    &len), 0);
	assert_int_equal(message_decode(data, len, &m, err, sizeof(err)), 0);
	assert_int_equal(m.attempts, 0);
	assert_string_equal(m.last_error, "550 5.1.1 no such user");
	assert_string_equal(m.id, id);
	assert_memory_equal(m.data, "Subject: t\r\n\r\nbody\r\n", m.data_len);
	message_clear(&m);
	free(data);
}

static void
requeue_of_a_deferred_message_keeps_its_attempts(void **state)
{
	struct fixture *f = *state;
	struct message m;
	enum spool_area from;
	char id[33], err[256], *data;
	size_t len;
	long was;

	put_message(f->sp, SPOOL_DEFERRED, id, 3, "451 4.7.1 greylisted");
	assert_int_equal(qctl_requeue(f->sp, id, &from, &was, err,
	    sizeof(err)), QCTL_OK);
	assert_int_equal(from, SPOOL_DEFERRED);
	assert_int_equal(count(f->sp, SPOOL_DEFERRED), 0);
	assert_int_equal(spool_read(f->sp, SPOOL_QUEUE, id, 1 << 20, &data,
	    &len), 0);
	assert_int_equal(message_decode(data, len, &m, err, sizeof(err)), 0);
	assert_int_equal(m.attempts, 3);
	message_clear(&m);
	free(data);
}

static void
requeue_of_a_leased_message_is_refused_and_leaves_it(void **state)
{
	struct fixture *f = *state;
	enum spool_area from;
	char id[33], err[256];
	long was;

	put_message(f->sp, SPOOL_LEASED, id, 0, NULL);
	assert_int_equal(qctl_requeue(f->sp, id, &from, &was, err,
	    sizeof(err)), QCTL_REFUSED);
	assert_non_null(strstr(err, "returns to the queue by itself"));
	assert_int_equal(count(f->sp, SPOOL_LEASED), 1);
	assert_int_equal(count(f->sp, SPOOL_QUEUE), 0);
}

static void
requeue_of_a_queued_message_changes_nothing(void **state)
{
	struct fixture *f = *state;
	enum spool_area from;
	char id[33], err[256];
	long was;

	put_message(f->sp, SPOOL_QUEUE, id, 0, NULL);
	assert_int_equal(qctl_requeue(f->sp, id, &from, &was, err,
	    sizeof(err)), QCTL_OK);
	assert_string_equal(err, "already queued");
	assert_true(exists(f->sp, SPOOL_QUEUE, id));
}

static void
requeue_of_an_invalid_quarantined_file_is_refused(void **state)
{
	struct fixture *f = *state;
	enum spool_area from;
	char id[33], err[256];
	long was;

	spool_id_new(id);
	assert_int_equal(spool_put(f->sp, SPOOL_QUARANTINE, id, "{not json", 9,
	    err, sizeof(err)), 0);
	assert_int_equal(qctl_requeue(f->sp, id, &from, &was, err,
	    sizeof(err)), QCTL_INVALID);
	assert_string_equal(err, "still not a valid message: not valid JSON");
	assert_true(exists(f->sp, SPOOL_QUARANTINE, id));
	assert_false(exists(f->sp, SPOOL_QUEUE, id));
}

static void
requeue_of_a_repaired_quarantined_file_queues_it(void **state)
{
	struct fixture *f = *state;
	enum spool_area from;
	char id[33], err[256];
	long was;

	put_message(f->sp, SPOOL_QUARANTINE, id, 2, NULL);
	assert_int_equal(qctl_requeue(f->sp, id, &from, &was, err,
	    sizeof(err)), QCTL_OK);
	assert_int_equal(from, SPOOL_QUARANTINE);
	assert_true(exists(f->sp, SPOOL_QUEUE, id));
	assert_false(exists(f->sp, SPOOL_QUARANTINE, id));
}

static void
requeue_of_an_unknown_id_is_not_found(void **state)
{
	struct fixture *f = *state;
	enum spool_area from;
	char err[256];
	long was;

	assert_int_equal(qctl_requeue(f->sp, "0123456789abcdef0123456789abcdef",
	    &from, &was, err, sizeof(err)), QCTL_NOT_FOUND);
}

static void
delete_removes_a_message_from_any_area_and_says_which(void **state)
{
	struct fixture *f = *state;
	enum spool_area a[] = { SPOOL_QUEUE, SPOOL_LEASED, SPOOL_DEFERRED,
	    SPOOL_DEAD, SPOOL_QUARANTINE }, was;
	struct qctl_where w;
	char id[33], err[256];
	size_t i;

	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
		put_message(f->sp, a[i], id, 0, NULL);
		assert_int_equal(qctl_delete(f->sp, id, &was, err, sizeof(err)),
		    QCTL_OK);
		assert_int_equal(was, a[i]);
		assert_int_equal(qctl_find(f->sp, id, &w), -1);
		assert_int_equal(count(f->sp, a[i]), 0);
	}
	assert_int_equal(qctl_delete(f->sp, id, &was, err, sizeof(err)),
	    QCTL_NOT_FOUND);
}

static void
flush_queues_every_deferred_message_and_only_those(void **state)
{
	struct fixture *f = *state;
	char id1[33], id2[33], dead[33], err[256];

	put_message(f->sp, SPOOL_DEFERRED, id1, 1, "451 later");
	put_message(f->sp, SPOOL_DEFERRED, id2, 2, "451 later");
	put_message(f->sp, SPOOL_DEAD, dead, 10, "550 no");
	assert_int_equal(qctl_flush(f->sp, NULL, NULL, err, sizeof(err)), 2);
	assert_true(exists(f->sp, SPOOL_QUEUE, id1));
	assert_true(exists(f->sp, SPOOL_QUEUE, id2));
	assert_int_equal(count(f->sp, SPOOL_DEFERRED), 0);
	assert_true(exists(f->sp, SPOOL_DEAD, dead));
	assert_int_equal(qctl_flush(f->sp, NULL, NULL, err, sizeof(err)), 0);
}

static void
state_words_parse_to_their_areas(void **state)
{
	enum spool_area a;

	(void)state;
	assert_int_equal(qctl_state_parse("dead", &a), 0);
	assert_int_equal(a, SPOOL_DEAD);
	assert_int_equal(qctl_state_parse("quarantine", &a), 0);
	assert_int_equal(a, SPOOL_QUARANTINE);
	assert_int_equal(qctl_state_parse("quarantined", &a), 0);
	assert_int_equal(a, SPOOL_QUARANTINE);
	assert_int_equal(qctl_state_parse("tmp", &a), -1);
	assert_int_equal(qctl_state_parse("Dead", &a), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(find_locates_a_message_in_every_area, setup, teardown),
		cmocka_unit_test_setup_teardown(find_of_an_unknown_or_malformed_id_fails, setup, teardown),
		cmocka_unit_test(id_age_reads_the_time_part_and_rejects_non_times),
		cmocka_unit_test(format_age_uses_the_largest_whole_unit),
		cmocka_unit_test_setup_teardown(requeue_of_a_dead_letter_resets_attempts_and_keeps_last_error, setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_of_a_deferred_message_keeps_its_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_of_a_leased_message_is_refused_and_leaves_it, setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_of_a_queued_message_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_of_an_invalid_quarantined_file_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_of_a_repaired_quarantined_file_queues_it, setup, teardown),
		cmocka_unit_test_setup_teardown(requeue_of_an_unknown_id_is_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_removes_a_message_from_any_area_and_says_which, setup, teardown),
		cmocka_unit_test_setup_teardown(flush_queues_every_deferred_message_and_only_those, setup, teardown),
		cmocka_unit_test(state_words_parse_to_their_areas),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
