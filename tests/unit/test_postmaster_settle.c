/*
 * The transitions of a handed-out message that are pure logic: which
 * failure bounces, and the exact log line of each event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "postmaster/settle.h"

#define L "6a0b1c2d0123456789abcdef"

static const char *
line(const struct settle_event *ev)
{
	static char buf[512];

	return settle_describe(buf, sizeof(buf), ev);
}

static void
failures_defer_until_max_attempts_and_permanent_ones_bounce(void **state)
{
	(void)state;
	assert_int_equal(settle_outcome(false, 1, 3), FAIL_DEFERRED);
	assert_int_equal(settle_outcome(false, 2, 3), FAIL_DEFERRED);
	assert_int_equal(settle_outcome(false, 3, 3), FAIL_BOUNCED);
	assert_int_equal(settle_outcome(false, 9, 3), FAIL_BOUNCED);
	assert_int_equal(settle_outcome(true, 1, 3), FAIL_BOUNCED);
	assert_int_equal(settle_outcome(false, 1, 1), FAIL_BOUNCED);
}

static void
each_event_has_its_fields_in_one_order(void **state)
{
	struct settle_event ev = { .lease = L, .expires = 1780000000,
	    .attempts = 2, .retry = 120, .client = "127.0.0.1" };

	(void)state;
	ev.status = SETTLE_SERVED;
	ev.lease = "";
	assert_string_equal(line(&ev), "status=served, client=127.0.0.1");
	ev.status = SETTLE_LEASED;
	ev.lease = L;
	assert_string_equal(line(&ev), "status=leased, lease=" L
	    ", expires=1780000000, client=127.0.0.1");
	ev.status = SETTLE_SENT;
	assert_string_equal(line(&ev), "status=sent, lease=" L
	    ", client=127.0.0.1");
	ev.status = SETTLE_RELEASED;
	ev.reason = "response not completed";
	assert_string_equal(line(&ev), "status=released, lease=" L
	    ", client=127.0.0.1, reason=response not completed");
	ev.lease = "";
	assert_string_equal(line(&ev), "status=released, client=127.0.0.1, "
	    "reason=response not completed");
	ev.status = SETTLE_DEFERRED;
	ev.reason = "451 4.7.1 greylisted";
	assert_string_equal(line(&ev), "status=deferred, attempts=2, "
	    "retry=120, client=127.0.0.1, reason=451 4.7.1 greylisted");
	ev.status = SETTLE_BOUNCED;
	ev.permanent = true;
	ev.client = NULL;
	assert_string_equal(line(&ev), "status=bounced, attempts=2, "
	    "permanent=yes, reason=451 4.7.1 greylisted");
	ev.status = SETTLE_REQUEUED;
	ev.reason = NULL;
	assert_string_equal(line(&ev), "status=requeued");
	ev.status = SETTLE_QUARANTINED;
	ev.reason = "not valid JSON";
	assert_string_equal(line(&ev), "status=quarantined, "
	    "reason=not valid JSON");
}

static void
a_reason_stays_on_one_line_and_is_cut(void **state)
{
	struct settle_event ev = { .status = SETTLE_BOUNCED, .attempts = 1,
	    .reason = "550 no\r\nstatus=sent\x7f" };
	char long_reason[1000], small[20];

	(void)state;
	assert_string_equal(line(&ev), "status=bounced, attempts=1, "
	    "permanent=no, reason=550 no  status=sent ");
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	ev.reason = long_reason;
	assert_int_equal(strlen(line(&ev)), strlen("status=bounced, "
	    "attempts=1, permanent=no, reason=") + SETTLE_REASON_MAX);
	/* A small buffer gets a cut, terminated line. */
	assert_string_equal(settle_describe(small, sizeof(small), &ev),
	    "status=bounced, att");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(failures_defer_until_max_attempts_and_permanent_ones_bounce),
		cmocka_unit_test(each_event_has_its_fields_in_one_order),
		cmocka_unit_test(a_reason_stays_on_one_line_and_is_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
