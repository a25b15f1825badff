/*
 * The queue on a real spool in a temporary folder: claiming, quarantine,
 * failures with back-off and dead letters, release, expiry.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/message.h"
#include "common/spool.h"
#include "postmaster/queue.h"

struct fixture {
	char dir[64];
	struct queue *q;
	char notes[8][128];
	int nnotes;
};

static const struct queue_config config = {
	.lease_time = 300, .max_attempts = 3, .retry_min = 60,
	.retry_max = 3600, .max_batch_bytes = 1 << 20,
};

static void
note(void *arg, const char *id, const char *what)
{
	struct fixture *f = arg;

	if (f->nnotes < 8)
		snprintf(f->notes[f->nnotes++], 128, "%s: %s", id, what);
}

/* A message whose "id" is id, of data, queued under name. */
static void
put_named(struct fixture *f, const char *name, const char *id,
    const char *data)
{
	struct message m;
	char *rcpt = "b@example.net", *json, err[128];
	struct spool *sp = spool_open(f->dir, err, sizeof(err));
	size_t len;

	memset(&m, 0, sizeof(m));
	memcpy(m.id, id, 33);
	m.mail_from = "a@example.org";
	m.rcpt_tos = &rcpt;
	m.nrcpt = 1;
	m.data = (unsigned char *)data;
	m.data_len = strlen(data);
	json = message_encode(&m, &len);
	assert_int_equal(spool_put(sp, SPOOL_QUEUE, name, json, len, err,
	    sizeof(err)), 0);
	free(json);
	spool_free(sp);
}

static void
put_message(struct fixture *f, const char *id)
{
	put_named(f, id, id, "Subject: t\r\n\r\nhi\r\n");
}

static bool
noted(const struct fixture *f, const char *what)
{
	int i;

	for (i = 0; i < f->nnotes; i++)
		if (strstr(f->notes[i], what) != NULL)
			return true;
	return false;
}

static int
path_exists(struct fixture *f, const char *sub)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", f->dir, sub);
	return stat(p, &st) == 0;
}

/* Entries in a sub-folder of the spool, "." and ".." aside. */
static int
count(struct fixture *f, const char *sub)
{
	char p[256];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", f->dir, sub);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/postmaster-queue.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	queue_free(f->q);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct queue *
open_queue(struct fixture *f)
{
	char err[256];

	f->q = queue_open(f->dir, &config, note, f, err, sizeof(err));
	assert_non_null(f->q);
	return f->q;
}

#define ID1 "00000000000000000000000000000001"
#define ID2 "00000000000000000000000000000002"
#define ID3 "00000000000000000000000000000003"

static void
backoff_doubles_from_min_up_to_max(void **state)
{
	(void)state;
	assert_int_equal(queue_backoff(1, 60, 3600), 60);
	assert_int_equal(queue_backoff(2, 60, 3600), 120);
	assert_int_equal(queue_backoff(3, 60, 3600), 240);
	assert_int_equal(queue_backoff(6, 60, 3600), 1920);
	assert_int_equal(queue_backoff(7, 60, 3600), 3600);
	assert_int_equal(queue_backoff(1000, 60, 3600), 3600);
	assert_int_equal(queue_backoff(0, 60, 3600), 60);
	assert_int_equal(queue_backoff(5, 1, 1), 1);
}

static void
claim_serves_oldest_first_and_quarantines_invalid_files(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256], path[128];
	struct batch *b;
	FILE *fp;

	put_message(f, ID3);
	put_message(f, ID1);
	snprintf(path, sizeof(path), "%s/%s", f->dir, ID2);
	fp = fopen(path, "w");
	fputs("{not json", fp);
	fclose(fp);
	open_queue(f);
	assert_int_equal(queue_length(f->q), 3);
	spool_lease_new(lease, time(NULL) + 300);
	b = queue_claim(f->q, 10, 0, lease, "<", ">", err, sizeof(err));
	assert_non_null(b);
	assert_string_equal(err, "");
	assert_int_equal(b->n, 2);
	assert_string_equal(b->ids[0], ID1);
	assert_string_equal(b->ids[1], ID3);
	assert_true(b->json.p[0] == '<' && b->json.p[1] == '[' &&
	    b->json.p[b->json.len - 1] == '>');
	assert_true(path_exists(f, ".quarantine/" ID2));
	assert_int_equal(f->nnotes, 1);
	assert_non_null(strstr(f->notes[0], ID2 ": status=quarantined, reason=not valid JSON"));
	assert_int_equal(queue_length(f->q), 0);
	/* settle: one acknowledged, one released */
	assert_int_equal(queue_ack(f->q, lease, ID1), 0);
	assert_int_equal(queue_release(f->q, lease, ID3), 0);
	assert_true(path_exists(f, ID3));
	assert_false(path_exists(f, ID1));
	assert_int_equal(queue_length(f->q), 1);
	assert_int_equal(queue_ack(f->q, lease, ID1), -1);
	assert_int_equal(errno, ENOENT);
	batch_free(b);
}

static void
claim_stops_at_max(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256];
	struct batch *b;

	put_message(f, ID1);
	put_message(f, ID2);
	put_message(f, ID3);
	open_queue(f);
	spool_lease_new(lease, time(NULL) + 300);
	b = queue_claim(f->q, 2, 0, lease, "", "", err, sizeof(err));
	assert_int_equal(b->n, 2);
	assert_int_equal(queue_length(f->q), 1);
	batch_free(b);
}

static void
failures_defer_with_attempts_then_go_dead(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256];
	struct fail_result res;
	struct batch *b;
	time_t now = time(NULL);
	int i;

	put_message(f, ID1);
	open_queue(f);
	for (i = 1; i <= 3; i++) {
		spool_lease_new(lease, now + 300);
		b = queue_claim(f->q, 1, 0, lease, "", "", err, sizeof(err));
		assert_int_equal(b->n, 1);
		if (i > 1)
			assert_non_null(strstr(b->json.p, "\"last_error\""));
		batch_free(b);
		assert_int_equal(queue_fail(f->q, lease, ID1, false, "451 try later",
		    now, &res, err, sizeof(err)), 0);
		assert_int_equal(res.attempts, i);
		if (i < 3) {
			assert_int_equal(res.outcome, FAIL_DEFERRED);
			assert_int_equal(res.retry_at, now + (i == 1 ? 60 : 120));
			/* not back before its time, back at it */
			assert_int_equal(queue_expire(f->q, res.retry_at - 1), 0);
			assert_int_equal(queue_expire(f->q, res.retry_at), 1);
			assert_true(path_exists(f, ID1));
		} else {
			assert_int_equal(res.outcome, FAIL_BOUNCED);
			assert_true(path_exists(f, ".dead/" ID1));
			assert_false(path_exists(f, ID1));
		}
	}
	/* a second report on the same lease finds nothing */
	assert_int_equal(queue_fail(f->q, lease, ID1, false, "again", now, &res,
	    err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(err, "");
}

static void
permanent_failure_goes_dead_at_once(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256], *data;
	struct fail_result res;
	struct message m;
	struct batch *b;
	size_t len;

	put_message(f, ID1);
	open_queue(f);
	spool_lease_new(lease, time(NULL) + 300);
	b = queue_claim(f->q, 1, 0, lease, "", "", err, sizeof(err));
	batch_free(b);
	assert_int_equal(queue_fail(f->q, lease, ID1, true, "550 no such user",
	    time(NULL), &res, err, sizeof(err)), 0);
	assert_int_equal(res.outcome, FAIL_BOUNCED);
	assert_int_equal(res.attempts, 1);
	assert_int_equal(spool_read(queue_spool(f->q), SPOOL_DEAD, ID1, 1 << 20,
	    &data, &len), 0);
	assert_int_equal(message_decode(data, len, &m, err, sizeof(err)), 0);
	assert_string_equal(m.last_error, "550 no such user");
	assert_int_equal(m.attempts, 1);
	message_clear(&m);
	free(data);
}

/* A leased file that is no longer a message when its failure is reported
 * cannot be written back: it fails alone, into quarantine, and the report
 * succeeds (the client goes on with the rest of its batch). */
static void
failure_of_a_file_that_is_not_a_message_quarantines_it(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256], path[256];
	struct fail_result res;
	struct batch *b;
	FILE *fp;

	put_message(f, ID1);
	open_queue(f);
	spool_lease_new(lease, time(NULL) + 300);
	b = queue_claim(f->q, 1, 0, lease, "", "", err, sizeof(err));
	assert_int_equal(b->n, 1);
	batch_free(b);
	snprintf(path, sizeof(path), "%s/.leased/%s.%s", f->dir, ID1, lease);
	assert_non_null(fp = fopen(path, "w"));
	fputs("{\"mail_from\":\"a\\u0000\",\"rcpt_tos\":[\"b\"],\"data\":\"\"}", fp);
	fclose(fp);
	assert_int_equal(queue_fail(f->q, lease, ID1, true, "not a spool message",
	    time(NULL), &res, err, sizeof(err)), 0);
	assert_int_equal(res.outcome, FAIL_QUARANTINED);
	assert_int_equal(count(f, ".quarantine"), 1);
	assert_int_equal(count(f, ".leased"), 0);
	assert_int_equal(count(f, ".dead"), 0);
}

/* A leased file rewritten meanwhile with another message's id is not
 * written back as a dead letter (it would name a message it is not). */
static void
failure_of_a_file_with_another_id_quarantines_it(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256], from[256], to[256];
	struct fail_result res;
	struct batch *b;

	put_message(f, ID1);
	open_queue(f);
	spool_lease_new(lease, time(NULL) + 300);
	b = queue_claim(f->q, 1, 0, lease, "", "", err, sizeof(err));
	assert_int_equal(b->n, 1);
	batch_free(b);
	put_named(f, ID1, ID2, "Subject: t\r\n\r\nhi\r\n");
	snprintf(from, sizeof(from), "%s/%s", f->dir, ID1);
	snprintf(to, sizeof(to), "%s/.leased/%s.%s", f->dir, ID1, lease);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(queue_fail(f->q, lease, ID1, true, "550 no such user",
	    time(NULL), &res, err, sizeof(err)), 0);
	assert_int_equal(res.outcome, FAIL_QUARANTINED);
	assert_int_equal(count(f, ".quarantine"), 1);
	assert_int_equal(count(f, ".dead"), 0);
	assert_true(noted(f, "\"id\" differs from the file name"));
}

/* A file too large for the client's max_bytes is dead-lettered only when
 * it is a message; one naming another id is quarantined, as a claim
 * would have done had it fitted. */
static void
too_large_with_another_id_is_quarantined_not_dead(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256], data[3000];
	struct batch *b;

	memset(data, 'x', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	put_named(f, ID1, ID2, data);
	open_queue(f);
	spool_lease_new(lease, time(NULL) + 300);
	b = queue_claim(f->q, 1, 1024, lease, "", "", err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(b->n, 0);
	batch_free(b);
	assert_int_equal(count(f, ".quarantine"), 1);
	assert_int_equal(count(f, ".dead"), 0);
	assert_int_equal(count(f, ".leased"), 0);
	assert_true(noted(f, "\"id\" differs from the file name"));
	assert_false(noted(f, "status=bounced"));
}

static void
expired_leases_return_when_the_queue_opens(void **state)
{
	struct fixture *f = *state;
	char lease[SPOOL_LEASE_LEN + 1], err[256];
	struct batch *b;

	put_message(f, ID1);
	open_queue(f);
	spool_lease_new(lease, time(NULL) - 1);
	b = queue_claim(f->q, 1, 0, lease, "", "", err, sizeof(err));
	assert_int_equal(b->n, 1);
	batch_free(b);
	queue_free(f->q);
	f->q = NULL;
	open_queue(f);
	assert_int_equal(queue_length(f->q), 1);
	assert_true(path_exists(f, ID1));
}

/* Reading a message to serve it writes nothing back to its inode: its
 * access time stays what it was (a journal entry per message saved). */
static void
claim_leaves_the_access_time_alone(void **state)
{
	struct fixture *f = *state;
	struct timespec ts[2] = { { .tv_sec = 1000000000 },
	    { .tv_nsec = UTIME_OMIT } };
	char p[256], err[256];
	struct batch *b;
	struct stat st;

	put_message(f, ID1);
	snprintf(p, sizeof(p), "%s/%s", f->dir, ID1);
	/* An access time long before the change time: relatime (and
	 * strictatime) would set it on the next read. */
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	b = queue_claim(open_queue(f), 10, 0, NULL, "", "", err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(b->n, 1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_atim.tv_sec, 1000000000);
	queue_unhold(f->q, b);
	batch_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_doubles_from_min_up_to_max),
		cmocka_unit_test_setup_teardown(claim_serves_oldest_first_and_quarantines_invalid_files, setup, teardown),
		cmocka_unit_test_setup_teardown(claim_stops_at_max, setup, teardown),
		cmocka_unit_test_setup_teardown(claim_leaves_the_access_time_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(failures_defer_with_attempts_then_go_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(permanent_failure_goes_dead_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_of_a_file_that_is_not_a_message_quarantines_it, setup, teardown),
		cmocka_unit_test_setup_teardown(failure_of_a_file_with_another_id_quarantines_it, setup, teardown),
		cmocka_unit_test_setup_teardown(too_large_with_another_id_is_quarantined_not_dead, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_leases_return_when_the_queue_opens, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
