/* The sendmail backend driving real children: several at once, each
 * message reported exactly once and only after its own sendmail exited,
 * a stop that lets the children in flight finish, a hanging child that
 * holds up no other, and a sendmail that exits without reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "postman/delivery.h"
#include "postman/sendmail.h"

#define NMAX 32

/* Behaves by its first recipient ($5: after -i -f SENDER --). */
static const char script[] =
    "#!/bin/sh\n"
    "case \"$5\" in\n"
    "fail*) cat >/dev/null; echo '550 no such user' >&2; exit 1 ;;\n"
    "temp*) cat >/dev/null; exit 75 ;;\n"
    "early*) exit 0 ;;\n"
    "hang*) exec sleep 30 ;;\n"
    "esac\n"
    "cat >/dev/null\n"
    "exit 0\n";

struct fixture {
	char dir[64];
	char path[128];
	struct message m[NMAX];
	char *rcpt[NMAX];
	struct delivery d[NMAX];
	int done[NMAX];		/* reports per message */
	int order[NMAX];	/* message index of each report */
	int nreports;
	int halt_after;		/* raise halt at this report, 0: never */
	size_t n;
};

static char msgdata[] = "Subject: t\r\n\r\nhello\r\n";

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	FILE *fp;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pm-sendmail-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/sendmail", f->dir);
	if ((fp = fopen(f->path, "w")) == NULL)
		return -1;
	fputs(script, fp);
	fclose(fp);
	chmod(f->path, 0755);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->rcpt[i]);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Message i goes to "<word><i>@example.net". */
static void
add(struct fixture *f, const char *word)
{
	size_t i = f->n++;
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%zu@example.net", word, i);
	f->rcpt[i] = strdup(buf);
	snprintf(f->m[i].id, sizeof(f->m[i].id), "m%zu", i);
	f->m[i].mail_from = "a@example.org";
	f->m[i].rcpt_tos = &f->rcpt[i];
	f->m[i].nrcpt = 1;
	f->m[i].data = (unsigned char *)msgdata;
	f->m[i].data_len = sizeof(msgdata) - 1;
	f->d[i].msg = &f->m[i];
}

static void
on_done(struct delivery *d, struct delivery_ctl *ctl)
{
	struct fixture *f = ctl->arg;
	size_t i = (size_t)(d - f->d);

	assert_true(i < f->n);
	assert_true(d->attempted);
	f->done[i]++;
	f->order[f->nreports++] = (int)i;
	if (f->halt_after > 0 && f->nreports == f->halt_after)
		ctl->halt = true;
}

static void
run(struct fixture *f, long parallel, double timeout)
{
	struct sendmail_opts o = { f->path, timeout, parallel };
	struct delivery_ctl ctl = { NULL, 0, false, on_done, f };
	struct backend *b;
	char err[256];

	b = sendmail_backend_new(&o, err, sizeof(err));
	if (b == NULL)
		fail_msg("%s", err);
	assert_int_equal(b->deliver(b, f->d, f->n, &ctl, err, sizeof(err)), 0);
	backend_free(b);
}

static void
parallel_sendmails_report_each_message_once_with_its_outcome(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < 24; i++)
		add(f, i % 6 == 1 ? "fail" : i % 6 == 4 ? "temp" : "ok");
	run(f, 4, 30);
	assert_int_equal(f->nreports, 24);
	for (i = 0; i < f->n; i++) {
		assert_int_equal(f->done[i], 1);
		assert_true(f->d[i].attempted);
		if (i % 6 == 1) {
			assert_int_equal(f->d[i].outcome, OUTCOME_BOUNCED);
			assert_string_equal(f->d[i].reason,
			    "sendmail exit 1: 550 no such user");
		} else if (i % 6 == 4) {
			assert_int_equal(f->d[i].outcome, OUTCOME_DEFERRED);
		} else {
			assert_int_equal(f->d[i].outcome, OUTCOME_SENT);
		}
	}
}

static void
a_halt_starts_nothing_new_but_reports_the_children_in_flight(void **state)
{
	struct fixture *f = *state;
	size_t i, attempted = 0;

	for (i = 0; i < 20; i++)
		add(f, "ok");
	f->halt_after = 2;
	run(f, 3, 30);
	for (i = 0; i < f->n; i++) {
		assert_int_equal(f->done[i], f->d[i].attempted ? 1 : 0);
		attempted += f->d[i].attempted;
	}
	/* The first alone, then three at once; those started in place of
	 * the second are taken back before they get their message. */
	assert_int_equal(attempted, 4);
	assert_int_equal(f->nreports, (int)attempted);
	for (i = attempted; i < f->n; i++)
		assert_false(f->d[i].attempted);	/* batch order */
}

static void
until_a_report_is_taken_one_message_at_a_time(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < 10; i++)
		add(f, "ok");
	f->halt_after = 1;	/* the first report fails */
	run(f, 4, 30);
	assert_int_equal(f->nreports, 1);
	assert_true(f->d[0].attempted);
	for (i = 1; i < f->n; i++)
		assert_false(f->d[i].attempted);
}

static void
a_hanging_sendmail_holds_up_no_other(void **state)
{
	struct fixture *f = *state;

	add(f, "ok");
	add(f, "hang");
	add(f, "ok");
	add(f, "ok");
	add(f, "ok");
	run(f, 2, 1);
	assert_int_equal(f->nreports, 5);
	assert_int_equal(f->order[4], 1);	/* the hanging one last */
	assert_int_equal(f->d[1].outcome, OUTCOME_DEFERRED);
	assert_string_equal(f->d[1].reason, "sendmail timed out after 1s");
	assert_int_equal(f->d[2].outcome, OUTCOME_SENT);
	assert_int_equal(f->d[4].outcome, OUTCOME_SENT);
}

static void
exit_0_without_reading_a_small_message_is_deferred(void **state)
{
	struct fixture *f = *state;

	add(f, "early");
	add(f, "ok");
	run(f, 1, 30);
	assert_int_equal(f->d[0].outcome, OUTCOME_DEFERRED);
	assert_string_equal(f->d[0].reason,
	    "sendmail exited 0 before reading the whole message");
	assert_int_equal(f->d[1].outcome, OUTCOME_SENT);
	assert_int_equal(f->order[0], 0);	/* one at a time: batch order */
	assert_int_equal(f->order[1], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    parallel_sendmails_report_each_message_once_with_its_outcome,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_halt_starts_nothing_new_but_reports_the_children_in_flight,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    until_a_report_is_taken_one_message_at_a_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_hanging_sendmail_holds_up_no_other, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    exit_0_without_reading_a_small_message_is_deferred,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
