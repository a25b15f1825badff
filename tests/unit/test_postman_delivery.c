/* Delivery: sendmail's argv (no injection possible), the mapping of
 * sendmail exits and SMTP replies onto the three outcomes, and the
 * reason texts reported to PostMaster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>

#include "postman/delivery.h"
#include "postman/http.h"
#include "postman/sendmail.h"
#include "postman/smtp.h"

#define SM "/usr/sbin/sendmail"

static void
expect_argv(const char *from, char *const *rcpts, size_t n, const char *const *want)
{
	char err[128];
	char **argv = sendmail_argv(SM, from, rcpts, n, err, sizeof(err));
	size_t i;

	if (argv == NULL)
		fail_msg("refused: %s", err);
	for (i = 0; want[i] != NULL; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], want[i]);
	}
	assert_null(argv[i]);
	free(argv);
}

static void
argv_is_sendmail_i_f_sender_dashdash_recipients(void **state)
{
	char *r1[] = { "c@d.example" };
	char *r2[] = { "c@d.example", "e@f.example", "g@h.example" };
	const char *w1[] = { SM, "-i", "-f", "a@b.example", "--", "c@d.example", NULL };
	const char *w2[] = { SM, "-i", "-f", "a@b.example", "--", "c@d.example",
	    "e@f.example", "g@h.example", NULL };

	(void)state;
	expect_argv("a@b.example", r1, 1, w1);
	expect_argv("a@b.example", r2, 3, w2);
}

static void
null_sender_is_angle_brackets(void **state)
{
	char *r[] = { "postmaster@example.net" };
	const char *w[] = { SM, "-i", "-f", "<>", "--", "postmaster@example.net", NULL };

	(void)state;
	expect_argv("", r, 1, w);
}

static void
expect_argv_refused(const char *from, char *const *rcpts, size_t n, const char *why)
{
	char err[128] = "";
	char **argv = sendmail_argv(SM, from, rcpts, n, err, sizeof(err));

	if (argv != NULL) {
		free(argv);
		fail_msg("accepted from=%s", from);
	}
	assert_string_equal(err, why);
}

static void
argv_never_carries_an_option_or_a_line_break(void **state)
{
	char *dash[] = { "ok@x", "-oQ/tmp/x" };
	char *crlf[] = { "a@b\r\nRCPT TO:<c@d>" };
	char *space[] = { "a b@c" };
	char *fine[] = { "ok@x" };

	(void)state;
	expect_argv_refused("a@b", dash, 2, "recipient 2: address starts with '-'");
	expect_argv_refused("a@b", crlf, 1, "recipient 1: control character in address");
	expect_argv_refused("a@b", space, 1, "recipient 1: whitespace in address");
	expect_argv_refused("-oQ/tmp/x", fine, 1, "sender: address starts with '-'");
	expect_argv_refused("-f", fine, 1, "sender: address starts with '-'");
	expect_argv_refused("a@b\n", fine, 1, "sender: control character in address");
	expect_argv_refused("a@b", fine, 0, "no recipients");
}

static enum outcome
exit_outcome(int wstatus, bool timed_out, bool cut, const char *out, char *reason)
{
	struct sendmail_exit e = { wstatus, timed_out, cut, 30, out,
	    out ? strlen(out) : 0 };

	return sendmail_outcome(&e, reason, DELIVERY_REASON_MAX);
}

#define EXITED(n) ((n) << 8)

static void
sendmail_exit_0_is_sent(void **state)
{
	char r[DELIVERY_REASON_MAX];

	(void)state;
	assert_int_equal(exit_outcome(EXITED(0), false, false, "", r), OUTCOME_SENT);
	assert_string_equal(r, "delivered via sendmail");
	assert_true(WIFEXITED(EXITED(0)) && WEXITSTATUS(EXITED(75)) == 75);
}

static void
sendmail_tempfail_signal_timeout_and_early_exit_are_deferred(void **state)
{
	char r[DELIVERY_REASON_MAX];

	(void)state;
	assert_int_equal(exit_outcome(EXITED(EX_TEMPFAIL), false, false,
	    "queue file write error\n", r), OUTCOME_DEFERRED);
	assert_string_equal(r, "sendmail exit 75: queue file write error");
	assert_int_equal(exit_outcome(SIGKILL, false, false, "", r), OUTCOME_DEFERRED);
	assert_string_equal(r, "sendmail killed by signal 9 (Killed)");
	assert_int_equal(exit_outcome(SIGSEGV | 0x80, false, false, "", r), OUTCOME_DEFERRED);
	assert_string_equal(r, "sendmail killed by signal 11 (Segmentation fault)");
	assert_int_equal(exit_outcome(0, true, false, "", r), OUTCOME_DEFERRED);
	assert_string_equal(r, "sendmail timed out after 30s");
	assert_int_equal(exit_outcome(EXITED(0), false, true, "", r), OUTCOME_DEFERRED);
	assert_string_equal(r, "sendmail exited 0 before reading the whole message");
}

static void
sendmail_soft_sysexits_are_deferred(void **state)
{
	static const int soft[] = { EX_OSERR, EX_IOERR, EX_CANTCREAT, EX_OSFILE,
	    EX_SOFTWARE, EX_PROTOCOL, EX_CONFIG };
	char r[DELIVERY_REASON_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(soft) / sizeof(soft[0]); i++)
		assert_int_equal(exit_outcome(EXITED(soft[i]), false, false, "", r),
		    OUTCOME_DEFERRED);
}

static void
sendmail_other_exits_bounce_with_its_output(void **state)
{
	static const int hard[] = { 1, 2, EX_USAGE, EX_DATAERR, EX_NOINPUT,
	    EX_NOUSER, EX_NOHOST, EX_UNAVAILABLE, EX_NOPERM, 127, 255 };
	char r[DELIVERY_REASON_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hard) / sizeof(hard[0]); i++)
		assert_int_equal(exit_outcome(EXITED(hard[i]), false, false, "", r),
		    OUTCOME_BOUNCED);
	assert_int_equal(exit_outcome(EXITED(EX_NOUSER), false, false,
	    "sendmail: fatal:\r\n\tUser unknown \n\n", r), OUTCOME_BOUNCED);
	assert_string_equal(r, "sendmail exit 67: sendmail: fatal: User unknown");
	assert_int_equal(exit_outcome(EXITED(1), false, false, NULL, r), OUTCOME_BOUNCED);
	assert_string_equal(r, "sendmail exit 1");
}

static void
sendmail_output_in_a_reason_is_bounded(void **state)
{
	char r[DELIVERY_REASON_MAX], big[5000];

	(void)state;
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(exit_outcome(EXITED(1), false, false, big, r), OUTCOME_BOUNCED);
	assert_true(strlen(r) < DELIVERY_REASON_MAX);
	assert_true(strncmp(r, "sendmail exit 1: eeee", 21) == 0);
}

static void
smtp_reply_classes_map_onto_outcomes(void **state)
{
	(void)state;
	assert_int_equal(smtp_code_outcome(250), OUTCOME_SENT);
	assert_int_equal(smtp_code_outcome(251), OUTCOME_SENT);
	assert_int_equal(smtp_code_outcome(421), OUTCOME_DEFERRED);
	assert_int_equal(smtp_code_outcome(450), OUTCOME_DEFERRED);
	assert_int_equal(smtp_code_outcome(452), OUTCOME_DEFERRED);
	assert_int_equal(smtp_code_outcome(500), OUTCOME_BOUNCED);
	assert_int_equal(smtp_code_outcome(550), OUTCOME_BOUNCED);
	assert_int_equal(smtp_code_outcome(554), OUTCOME_BOUNCED);
	/* no reply at all (connection lost, timeout), or nonsense */
	assert_int_equal(smtp_code_outcome(0), OUTCOME_DEFERRED);
	assert_int_equal(smtp_code_outcome(354), OUTCOME_DEFERRED);
	assert_int_equal(smtp_code_outcome(199), OUTCOME_DEFERRED);
	assert_int_equal(smtp_code_outcome(600), OUTCOME_DEFERRED);
}

static void
expect_crlf(const char *in, const char *want)
{
	size_t n;
	char *out = smtp_crlf((const unsigned char *)in, strlen(in), &n);

	assert_non_null(out);
	assert_int_equal(n, strlen(want));
	assert_string_equal(out, want);
	free(out);
}

static void
smtp_lines_all_end_in_crlf(void **state)
{
	(void)state;
	expect_crlf("a\r\nb\r\n", "a\r\nb\r\n");
	expect_crlf("a\nb\n", "a\r\nb\r\n");
	expect_crlf("a\rb", "a\r\nb");
	/* the SMTP smuggling pattern: a bare LF before ".\r\n" */
	expect_crlf("x\n.\r\nMAIL FROM:<e@vil>\r\n", "x\r\n.\r\nMAIL FROM:<e@vil>\r\n");
	expect_crlf("\n", "\r\n");
	expect_crlf("\r", "\r\n");
	expect_crlf("", "");
}

static void
reasons_lose_controls_and_extra_space(void **state)
{
	char r[16];

	(void)state;
	reason_clean(r, sizeof(r), "  a\r\n\tb  c \n", 12);
	assert_string_equal(r, "a b c");
	reason_clean(r, sizeof(r), "0123456789abcdefghij", 20);
	assert_string_equal(r, "0123456789ab...");
	reason_clean(r, sizeof(r), "abc\0def", 7);
	assert_string_equal(r, "abc");
}

static void
http_troubles_map_onto_exit_statuses(void **state)
{
	(void)state;
	assert_int_equal(http_status_exit(401), EX_NOPERM);
	assert_int_equal(http_status_exit(403), EX_NOPERM);
	assert_int_equal(http_status_exit(404), EX_UNAVAILABLE);
	assert_int_equal(http_status_exit(500), EX_TEMPFAIL);
	assert_int_equal(http_status_exit(502), EX_TEMPFAIL);
	assert_int_equal(http_status_exit(429), EX_TEMPFAIL);
	assert_int_equal(http_status_exit(408), EX_TEMPFAIL);
	assert_int_equal(http_status_exit(400), EX_PROTOCOL);
	assert_int_equal(http_status_exit(301), EX_PROTOCOL);
	assert_int_equal(http_fail_exit(HTTP_FAIL_TRANSPORT), EX_TEMPFAIL);
	assert_int_equal(http_fail_exit(HTTP_FAIL_TLS), EX_UNAVAILABLE);
	assert_int_equal(http_fail_exit(HTTP_FAIL_TOO_BIG), EX_PROTOCOL);
	assert_int_equal(http_fail_exit(HTTP_FAIL_LOCAL), EX_OSERR);
	assert_int_equal(http_fail_exit(HTTP_FAIL_ABORTED), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(argv_is_sendmail_i_f_sender_dashdash_recipients),
		cmocka_unit_test(null_sender_is_angle_brackets),
		cmocka_unit_test(argv_never_carries_an_option_or_a_line_break),
		cmocka_unit_test(sendmail_exit_0_is_sent),
		cmocka_unit_test(sendmail_tempfail_signal_timeout_and_early_exit_are_deferred),
		cmocka_unit_test(sendmail_soft_sysexits_are_deferred),
		cmocka_unit_test(sendmail_other_exits_bounce_with_its_output),
		cmocka_unit_test(sendmail_output_in_a_reason_is_bounded),
		cmocka_unit_test(smtp_reply_classes_map_onto_outcomes),
		cmocka_unit_test(smtp_lines_all_end_in_crlf),
		cmocka_unit_test(reasons_lose_controls_and_extra_space),
		cmocka_unit_test(http_troubles_map_onto_exit_statuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
