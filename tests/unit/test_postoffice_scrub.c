/*
 * test_postoffice_scrub.c - removal of upstream trace header fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "postoffice/scrub.h"

struct out {
	char buf[8192];
	size_t len;
};

static int
sink(void *arg, const void *buf, size_t len)
{
	struct out *o = arg;

	assert_true(o->len + len < sizeof(o->buf));
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	o->buf[o->len] = '\0';
	return 0;
}

static int
failing_sink(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return -1;
}

/* Scrubs in one piece, then again split at every octet boundary, and
 * checks both give want. */
static void
check(const char *in, const char *want)
{
	struct scrub sc;
	struct out o;
	size_t i, len = strlen(in);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	assert_int_equal(scrub_feed(&sc, in, len, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	for (i = 0; i < len; i++)
		assert_int_equal(scrub_feed(&sc, in + i, 1, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);
}

static void
received_and_x_originating_ip_are_removed(void **state)
{
	(void)state;
	check("Received: from web1 (10.0.0.5)\r\n"
	    "From: a@b\r\n"
	    "X-Originating-IP: [10.0.0.9]\r\n"
	    "Subject: hi\r\n\r\nbody\r\n",
	    "From: a@b\r\nSubject: hi\r\n\r\nbody\r\n");
}

static void
folded_continuation_lines_go_with_their_field(void **state)
{
	(void)state;
	check("Received: from web1\r\n\tby relay (10.0.0.5);\r\n  Tue, 1 Jan 2030\r\n"
	    "Subject: a\r\n folded subject\r\n\r\nbody\r\n",
	    "Subject: a\r\n folded subject\r\n\r\nbody\r\n");
}

static void
names_compare_case_insensitively(void **state)
{
	(void)state;
	check("RECEIVED: x\r\nreceived: y\r\nx-originating-ip: 1\r\n"
	    "X-PHP-Originating-Script: 33:mail.php\r\nx-php-script: h/a.php for 1.2.3.4\r\n"
	    "To: c@d\r\n\r\n",
	    "To: c@d\r\n\r\n");
}

static void
blank_before_colon_is_still_the_field(void **state)
{
	(void)state;
	check("Received : x\r\nTo: c@d\r\n\r\n", "To: c@d\r\n\r\n");
}

static void
similar_names_are_kept(void **state)
{
	(void)state;
	check("Received-SPF: pass\r\nX-Received: y\r\nX-Originating-IPs: z\r\n"
	    "X-Mailer: PHP\r\n\r\n",
	    "Received-SPF: pass\r\nX-Received: y\r\nX-Originating-IPs: z\r\n"
	    "X-Mailer: PHP\r\n\r\n");
}

static void
body_is_never_touched(void **state)
{
	(void)state;
	check("To: c@d\r\n\r\nReceived: in the body\r\nX-Originating-IP: 1\r\n",
	    "To: c@d\r\n\r\nReceived: in the body\r\nX-Originating-IP: 1\r\n");
	/* A continuation-looking line after the empty line is body too. */
	check("Received: a\r\n\r\n b\r\n", "\r\n b\r\n");
}

static void
long_names_and_lines_without_colon_pass(void **state)
{
	char in[300], want[300];

	(void)state;
	memset(in, 'N', 100);
	memcpy(in + 100, ": v\r\n\r\n", 8);
	memcpy(want, in, sizeof(in));
	check(in, want);
	check("not a header line\r\nReceived: x\r\n\r\n", "not a header line\r\n\r\n");
	/* A message that ends inside a field name keeps it. */
	check("To: c@d\r\nX-Trunc", "To: c@d\r\nX-Trunc");
}

static void
passthrough_keeps_everything(void **state)
{
	struct scrub sc;
	struct out o;
	const char *in = "Received: x\r\n\r\nb";

	(void)state;
	memset(&o, 0, sizeof(o));
	scrub_init(&sc, true);
	assert_int_equal(scrub_feed(&sc, in, strlen(in), sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, in);
}

static void
sink_failure_is_reported(void **state)
{
	struct scrub sc;

	(void)state;
	scrub_init(&sc, false);
	assert_int_equal(scrub_feed(&sc, "To: x\r\n", 7, failing_sink, NULL), -1);
}

static void
field_removed_list(void **state)
{
	(void)state;
	assert_true(scrub_field_removed("Received", 8));
	assert_true(scrub_field_removed("x-originating-ip\t", 17));
	assert_false(scrub_field_removed("Receive", 7));
	assert_false(scrub_field_removed("Subject", 7));
	assert_false(scrub_field_removed("", 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(received_and_x_originating_ip_are_removed),
		cmocka_unit_test(folded_continuation_lines_go_with_their_field),
		cmocka_unit_test(names_compare_case_insensitively),
		cmocka_unit_test(blank_before_colon_is_still_the_field),
		cmocka_unit_test(similar_names_are_kept),
		cmocka_unit_test(body_is_never_touched),
		cmocka_unit_test(long_names_and_lines_without_colon_pass),
		cmocka_unit_test(passthrough_keeps_everything),
		cmocka_unit_test(sink_failure_is_reported),
		cmocka_unit_test(field_removed_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
