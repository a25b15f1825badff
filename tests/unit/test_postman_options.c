/* PostMan's command line: the default --max-response, its floor, and the
 * settings that are each valid alone but cannot work together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "postman/options.h"


/* Parses the NULL-ended argv; returns 0 or -1, err filled. */
static int
parse(char **argv, struct postman_opts *o, char *err, size_t errlen)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	err[0] = '\0';
	return opts_parse(argc, argv, o, err, errlen);
}

static void
expect_refused(char **argv, const char *why)
{
	struct postman_opts o;
	char err[512];

	if (parse(argv, &o, err, sizeof(err)) != -1) {
		opts_free(&o);
		fail_msg("%s ... accepted", argv[1]);
	}
	assert_string_equal(err, why);
}

static void
expect_taken(char **argv, struct postman_opts *o)
{
	char err[512];

	if (parse(argv, o, err, sizeof(err)) != 0)
		fail_msg("%s ... refused: %s", argv[1], err);
}

static void
max_response_defaults_to_the_largest_spool_file_and_its_lease(void **state)
{
	char *argv[] = { "postman", "example.com/po", NULL };
	struct postman_opts o;

	(void)state;
	expect_taken(argv, &o);
	assert_int_equal(o.max_response, LIMIT_RESPONSE);
	assert_int_equal(o.max_response, 256UL * 1024 * 1024 + 4096);
	opts_free(&o);
}

static void
max_response_below_one_small_message_is_refused(void **state)
{
	char *low[] = { "postman", "--max-response", "69631", "x", NULL };
	char *k64[] = { "postman", "--max-response", "64K", "x", NULL };
	char *floor[] = { "postman", "--max-response", "68K", "x", NULL };
	struct postman_opts o;

	(void)state;
	expect_refused(low, "--max-response: 69631 is less than 68K (69632), a "
	    "lease's 4096 bytes around one 64 KiB message, the least SMTP "
	    "servers must take (RFC 5321 4.5.3.1.7)");
	expect_refused(k64, "--max-response: 64K is less than 68K (69632), a "
	    "lease's 4096 bytes around one 64 KiB message, the least SMTP "
	    "servers must take (RFC 5321 4.5.3.1.7)");
	expect_taken(floor, &o);
	assert_int_equal(o.max_response, OPTS_MAX_RESPONSE_MIN);
	assert_int_equal(OPTS_MAX_RESPONSE_MIN, 69632);
	opts_free(&o);
}

static void
watch_without_a_wait_is_refused(void **state)
{
	char *zero[] = { "postman", "--watch", "--wait", "0", "x", NULL };
	char *one[] = { "postman", "--watch", "--wait", "1", "x", NULL };
	struct postman_opts o;

	(void)state;
	expect_refused(zero, "--watch needs a --wait of 1 or more: with 0 "
	    "PostMan would ask PostMaster again and again without pause");
	expect_taken(one, &o);
	assert_int_equal(o.wait, 1);
	opts_free(&o);
}

static void
max_time_with_watch_is_refused(void **state)
{
	char *argv[] = { "postman", "--watch", "--max-time", "30", "x", NULL };

	(void)state;
	expect_refused(argv, "--max-time has no effect with --watch, which "
	    "runs until stopped");
}

static void
connect_timeout_longer_than_the_request_is_refused(void **state)
{
	char *both[] = { "postman", "--connect-timeout", "30", "--timeout",
	    "20", "x", NULL };
	char *dflt[] = { "postman", "--connect-timeout", "61", "x", NULL };
	char *equal[] = { "postman", "--connect-timeout", "5", "--timeout",
	    "5", "x", NULL };
	/* The default connect timeout (10) is no choice of the user's. */
	char *short_timeout[] = { "postman", "--timeout", "1.5", "x", NULL };
	struct postman_opts o;

	(void)state;
	expect_refused(both, "--connect-timeout 30 is longer than --timeout 20, "
	    "which counts the connect too");
	expect_refused(dflt, "--connect-timeout 61 is longer than --timeout 60, "
	    "which counts the connect too");
	expect_taken(equal, &o);
	opts_free(&o);
	expect_taken(short_timeout, &o);
	opts_free(&o);
}

static void
more_parallel_deliveries_than_a_batch_holds_are_refused(void **state)
{
	char *sm[] = { "postman", "--batch", "2", "--sendmail-parallel", "3",
	    "x", NULL };
	char *smtp[] = { "postman", "--batch", "2", "--smtp", "h",
	    "--smtp-connections", "3", "x", NULL };
	char *sm_eq[] = { "postman", "--batch", "3", "--sendmail-parallel", "3",
	    "x", NULL };
	/* The defaults (2 sendmails, 4 sessions) may exceed a small batch. */
	char *dflt[] = { "postman", "--batch", "1", "x", NULL };
	char *dflt_smtp[] = { "postman", "--batch", "1", "--smtp", "h", "x",
	    NULL };
	struct postman_opts o;

	(void)state;
	expect_refused(sm, "--sendmail-parallel 3 is more than --batch 2: a "
	    "batch never has more messages to hand over at once");
	expect_refused(smtp, "--smtp-connections 3 is more than --batch 2: a "
	    "batch never has more messages to send at once");
	expect_taken(sm_eq, &o);
	opts_free(&o);
	expect_taken(dflt, &o);
	opts_free(&o);
	expect_taken(dflt_smtp, &o);
	opts_free(&o);
}

static void
certificate_options_need_tls_and_exclude_each_other(void **state)
{
	char *both[] = { "postman", "--cacert", "ca.pem", "--insecure", "x",
	    NULL };
	char *cacert[] = { "postman", "--cacert", "ca.pem", "http://h/po", NULL };
	char *insecure[] = { "postman", "--insecure", "HTTP://h/po", NULL };
	char *bare[] = { "postman", "--cacert", "ca.pem", "h/po", NULL };
	char *https[] = { "postman", "--insecure", "https://h/po", NULL };
	struct postman_opts o;

	(void)state;
	expect_refused(both, "--cacert and --insecure exclude each other");
	expect_refused(cacert, "--cacert needs an https:// URL: plain http:// "
	    "has no certificate");
	expect_refused(insecure, "--insecure needs an https:// URL: plain "
	    "http:// has no certificate");
	expect_taken(bare, &o);
	opts_free(&o);
	expect_taken(https, &o);
	opts_free(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(max_response_defaults_to_the_largest_spool_file_and_its_lease),
		cmocka_unit_test(max_response_below_one_small_message_is_refused),
		cmocka_unit_test(watch_without_a_wait_is_refused),
		cmocka_unit_test(max_time_with_watch_is_refused),
		cmocka_unit_test(connect_timeout_longer_than_the_request_is_refused),
		cmocka_unit_test(more_parallel_deliveries_than_a_batch_holds_are_refused),
		cmocka_unit_test(certificate_options_need_tls_and_exclude_each_other),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
