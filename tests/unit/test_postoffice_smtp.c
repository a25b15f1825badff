/*
 * test_postoffice_smtp.c - the SMTP session state machine, fed bytes and
 * watched through its callbacks: replies, message data, commits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postoffice/smtp.h"

/* ------------------------------------------------------------------ */
/* the harness */

struct harness {
	struct smtp_session *s;
	struct smtp_config cfg;
	char replies[65536];
	size_t rlen;
	char data[65536];
	size_t dlen;
	int begins, ends, aborts, closes;
	bool fail_begin, fail_write;
	bool auto_commit;	/* commit inside data_end */
	char committed[65536];	/* data of committed messages, in order */
	size_t clen;
	char last_from[300], last_rcpt0[300];
	size_t last_nrcpt, last_size;
};

static void
h_reply(void *arg, const char *buf, size_t len)
{
	struct harness *h = arg;

	assert_true(h->rlen + len < sizeof(h->replies));
	memcpy(h->replies + h->rlen, buf, len);
	h->rlen += len;
	h->replies[h->rlen] = '\0';
}

static int
h_begin(void *arg, const struct smtp_envelope *env)
{
	struct harness *h = arg;

	(void)env;
	h->begins++;
	h->dlen = 0;
	return h->fail_begin ? -1 : 0;
}

static int
h_write(void *arg, const void *buf, size_t len)
{
	struct harness *h = arg;

	if (h->fail_write)
		return -1;
	assert_true(h->dlen + len < sizeof(h->data));
	memcpy(h->data + h->dlen, buf, len);
	h->dlen += len;
	return 0;
}

static void
h_end(void *arg, const struct smtp_envelope *env, size_t size)
{
	struct harness *h = arg;

	h->ends++;
	snprintf(h->last_from, sizeof(h->last_from), "%s", env->mail_from);
	snprintf(h->last_rcpt0, sizeof(h->last_rcpt0), "%s",
	    env->nrcpt ? env->rcpt[0] : "");
	h->last_nrcpt = env->nrcpt;
	h->last_size = size;
	assert_int_equal(size, h->dlen);
	memcpy(h->committed + h->clen, h->data, h->dlen);
	h->clen += h->dlen;
	if (h->auto_commit)
		smtp_session_committed(h->s, "00000000000000000000000000000001");
}

static void
h_abort(void *arg)
{
	struct harness *h = arg;

	h->aborts++;
	h->dlen = 0;
}

static void
h_close(void *arg)
{
	((struct harness *)arg)->closes++;
}

static const struct smtp_callbacks cbs = {
	h_reply, h_begin, h_write, h_end, h_abort, h_close,
};

static struct harness *
harness_new(enum smtp_bare_newline bare)
{
	struct harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	h->cfg.hostname = "mx.test";
	h->cfg.max_size = 1000;
	h->cfg.max_rcpt = 3;
	h->cfg.max_line = 512;
	h->cfg.bare_newline = bare;
	h->auto_commit = true;
	h->s = smtp_session_new(&h->cfg, &cbs, h, "127.0.0.1");
	assert_non_null(h->s);
	smtp_session_start(h->s, SMTP_GREET_OK);
	h->rlen = 0;
	return h;
}

static void
harness_free(struct harness *h)
{
	smtp_session_free(h->s);
	free(h);
}

/* Feeds everything; the harness commits synchronously, so all of it is
 * consumed unless the session closed. */
static void
feed(struct harness *h, const char *s)
{
	size_t len = strlen(s), n = 0;

	while (n < len && !smtp_session_closed(h->s)) {
		size_t k = smtp_session_feed(h->s, s + n, len - n);

		if (k == 0)
			break;
		n += k;
	}
}

static void
feed_bytes(struct harness *h, const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && !smtp_session_closed(h->s))
		n += smtp_session_feed(h->s, s + n, len - n);
}

/* Feeds one octet at a time: every split of the input must work. */
static void
feed_slowly(struct harness *h, const char *s)
{
	size_t i, len = strlen(s);

	for (i = 0; i < len; i++)
		assert_int_equal(smtp_session_feed(h->s, s + i, 1), 1);
}

static void
expect(struct harness *h, const char *replies)
{
	assert_string_equal(h->replies, replies);
	h->rlen = 0;
	h->replies[0] = '\0';
}

#define ENVELOPE "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
#define ENVELOPE_OK "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n" \
	"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n" \
	"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
#define QUEUED "250 2.0.0 Ok: queued as 00000000000000000000000000000001\r\n"
#define GO "354 End data with <CR><LF>.<CR><LF>\r\n"

/* ------------------------------------------------------------------ */
/* the parser */

static void
verbs_are_case_insensitive_and_split_args(void **state)
{
	const char *args;

	(void)state;
	assert_int_equal(smtp_parse_verb("helo x", &args), SMTP_HELO);
	assert_string_equal(args, "x");
	assert_int_equal(smtp_parse_verb("EhLo  x y", &args), SMTP_EHLO);
	assert_string_equal(args, "x y");
	assert_int_equal(smtp_parse_verb("MAIL FROM:<a@b>", &args), SMTP_MAIL);
	assert_string_equal(args, "FROM:<a@b>");
	assert_int_equal(smtp_parse_verb("rcpt TO:<a@b>", &args), SMTP_RCPT);
	assert_int_equal(smtp_parse_verb("DATA", &args), SMTP_DATA);
	assert_string_equal(args, "");
	assert_int_equal(smtp_parse_verb("rset", &args), SMTP_RSET);
	assert_int_equal(smtp_parse_verb("NOOP hi", &args), SMTP_NOOP);
	assert_int_equal(smtp_parse_verb("QUIT", &args), SMTP_QUIT);
	assert_int_equal(smtp_parse_verb("VRFY x", &args), SMTP_VRFY);
	assert_int_equal(smtp_parse_verb("HELP", &args), SMTP_HELP);
	assert_int_equal(smtp_parse_verb("DATAX", &args), SMTP_UNKNOWN);
	assert_int_equal(smtp_parse_verb("STARTTLS", &args), SMTP_UNKNOWN);
	assert_int_equal(smtp_parse_verb("", &args), SMTP_UNKNOWN);
}

static void
paths_parse_with_brackets_route_and_params(void **state)
{
	char addr[255];
	const char *params;

	(void)state;
	assert_int_equal(smtp_parse_path("FROM:<a@b>", "FROM:", addr, sizeof(addr), &params), 0);
	assert_string_equal(addr, "a@b");
	assert_string_equal(params, "");
	assert_int_equal(smtp_parse_path("from: <a@b> SIZE=5", "FROM:", addr, sizeof(addr), &params), 0);
	assert_string_equal(addr, "a@b");
	assert_string_equal(params, "SIZE=5");
	assert_int_equal(smtp_parse_path("FROM:<>", "FROM:", addr, sizeof(addr), &params), 0);
	assert_string_equal(addr, "");
	assert_int_equal(smtp_parse_path("TO:<@r1,@r2:u@d>", "TO:", addr, sizeof(addr), &params), 0);
	assert_string_equal(addr, "u@d");
	assert_int_equal(smtp_parse_path("FROM:a@b", "FROM:", addr, sizeof(addr), &params), -1);
	assert_int_equal(smtp_parse_path("FROM:<a@b", "FROM:", addr, sizeof(addr), &params), -1);
	assert_int_equal(smtp_parse_path("FROM:<a@b>x", "FROM:", addr, sizeof(addr), &params), -1);
	assert_int_equal(smtp_parse_path("TO:<a@b>", "FROM:", addr, sizeof(addr), &params), -1);
	assert_int_equal(smtp_parse_path("FROM:<aaaaaaaaaa@b>", "FROM:", addr, 5, &params), -2);
}

static void
mail_params_size_body_smtputf8(void **state)
{
	struct smtp_mail_params mp;
	const char *bad;

	(void)state;
	assert_int_equal(smtp_parse_mail_params("SIZE=1234 BODY=8BITMIME SMTPUTF8", &mp, &bad), SMTP_PARAM_OK);
	assert_int_equal(mp.size, 1234);
	assert_true(mp.body_8bit);
	assert_true(mp.smtputf8);
	assert_int_equal(smtp_parse_mail_params("body=7bit", &mp, &bad), SMTP_PARAM_OK);
	assert_false(mp.body_8bit);
	assert_int_equal(smtp_parse_mail_params("", &mp, &bad), SMTP_PARAM_OK);
	assert_int_equal(smtp_parse_mail_params("SIZE=", &mp, &bad), SMTP_PARAM_BAD_SIZE);
	assert_int_equal(smtp_parse_mail_params("SIZE=12x", &mp, &bad), SMTP_PARAM_BAD_SIZE);
	assert_int_equal(smtp_parse_mail_params("SIZE=99999999999999999999", &mp, &bad), SMTP_PARAM_OK);
	assert_true(mp.size > 1000000);
	assert_int_equal(smtp_parse_mail_params("BODY=BINARYMIME", &mp, &bad), SMTP_PARAM_BAD_BODY);
	assert_int_equal(smtp_parse_mail_params("SIZE=1 AUTH=<>", &mp, &bad), SMTP_PARAM_UNKNOWN);
	assert_string_equal(bad, "AUTH=<>");
}

/* ------------------------------------------------------------------ */
/* commands and sequence */

static void
greeting_and_helo(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));

	(void)state;
	h->cfg.hostname = "mx.test";
	h->cfg.max_size = 1000;
	h->cfg.max_rcpt = 3;
	h->cfg.max_line = 512;
	h->s = smtp_session_new(&h->cfg, &cbs, h, "127.0.0.1");
	smtp_session_start(h->s, SMTP_GREET_OK);
	expect(h, "220 mx.test ESMTP PostOffice\r\n");
	feed(h, "HELO client.example\r\n");
	expect(h, "250 mx.test\r\n");
	feed(h, "HELO\r\nEHLO\r\n");
	expect(h, "501 5.5.4 Syntax: HELO hostname\r\n"
	    "501 5.5.4 Syntax: EHLO hostname\r\n");
	harness_free(h);
}

static void
ehlo_advertises_extensions(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "EHLO client.example\r\n");
	expect(h, "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
	harness_free(h);
}

static void
sequence_errors_get_503_and_session_goes_on(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "MAIL FROM:<a@b.example>\r\n");
	expect(h, "503 5.5.1 Error: send HELO/EHLO first\r\n");
	feed(h, "HELO c\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
	expect(h, "250 mx.test\r\n503 5.5.1 Error: need MAIL command\r\n"
	    "503 5.5.1 Error: need MAIL command\r\n");
	feed(h, "MAIL FROM:<a@b.example>\r\nDATA\r\nMAIL FROM:<a@b.example>\r\n");
	expect(h, "250 2.1.0 Ok\r\n503 5.5.1 Error: need RCPT command\r\n"
	    "503 5.5.1 Error: nested MAIL command\r\n");
	feed(h, "RCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\n");
	expect(h, "250 2.1.5 Ok\r\n" GO QUEUED);
	assert_int_equal(h->ends, 1);
	harness_free(h);
}

static void
unknown_command_gets_500_and_session_goes_on(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "STARTTLS\r\nBDAT 10\r\n\r\nNOOP\r\n");
	expect(h, "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: command not recognized\r\n"
	    "500 5.5.2 Error: bad syntax\r\n250 2.0.0 Ok\r\n");
	assert_false(smtp_session_closed(h->s));
	harness_free(h);
}

static void
command_with_nul_gets_500(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed_bytes(h, "HELO a\0b\r\nNOOP\r\n", 16);
	expect(h, "500 5.5.2 Error: bad syntax\r\n250 2.0.0 Ok\r\n");
	harness_free(h);
}

static void
bad_syntax_gets_501(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "EHLO c\r\n");
	h->rlen = 0;
	feed(h, "MAIL FROM:a@b.example\r\nMAIL TO:<a@b.example>\r\n"
	    "MAIL FROM:<a@b.example> SIZE=abc\r\n"
	    "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
	    "MAIL FROM:<a@b.example> FOO=1\r\n"
	    "RSET x\r\nVRFY\r\n");
	expect(h, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	    "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	    "501 5.5.4 Bad message size syntax\r\n"
	    "501 5.5.4 Unsupported BODY parameter value\r\n"
	    "555 5.5.4 Unsupported option: FOO=1\r\n"
	    "501 5.5.4 Syntax: RSET\r\n"
	    "501 5.5.4 Syntax: VRFY address\r\n");
	feed(h, "MAIL FROM:<a@b.example>\r\nRCPT TO:c@d.example\r\n"
	    "RCPT TO:<c@d.example> NOTIFY=NEVER\r\nRCPT TO:<c@d.example>\r\n"
	    "DATA now\r\n");
	expect(h, "250 2.1.0 Ok\r\n501 5.5.4 Syntax: RCPT TO:<address>\r\n"
	    "555 5.5.4 Unsupported option: NOTIFY=NEVER\r\n250 2.1.5 Ok\r\n"
	    "501 5.5.4 Syntax: DATA\r\n");
	harness_free(h);
}

/* The unknown parameter is the client's: its echo is cut to 64 octets and
 * shows only visible ASCII, so the reply stays one well-formed line. */
static void
unsupported_option_echo_is_short_and_printable(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);
	char cmd[256], want[128];

	(void)state;
	feed(h, "EHLO c\r\n");
	h->rlen = 0;
	feed(h, "MAIL FROM:<a@b.example> X\rY=\xe9\x01\r\n");
	expect(h, "555 5.5.4 Unsupported option: X?Y=??\r\n");
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<a@b.example> %0100d\r\n", 0);
	h->rlen = 0;
	feed(h, cmd);
	snprintf(want, sizeof(want), "555 5.5.4 Unsupported option: %064d\r\n", 0);
	expect(h, want);
	harness_free(h);
}

static void
bad_addresses_get_501_5_1_7_and_5_1_3(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "EHLO c\r\n");
	h->rlen = 0;
	feed(h, "MAIL FROM:<nodomain>\r\nMAIL FROM:<-x@b.example>\r\n"
	    "MAIL FROM:<a b@c.example>\r\nMAIL FROM:<@b.example>\r\n"
	    "MAIL FROM:<a@>\r\n");
	expect(h, "501 5.1.7 Bad sender address syntax\r\n"
	    "501 5.1.7 Bad sender address syntax\r\n"
	    "501 5.1.7 Bad sender address syntax\r\n"
	    "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	    "501 5.1.7 Bad sender address syntax\r\n");
	feed(h, "MAIL FROM:<>\r\nRCPT TO:<>\r\nRCPT TO:<x@>\r\n"
	    "RCPT TO:<Postmaster>\r\nRCPT TO:<\xff@d.example>\r\n");
	expect(h, "250 2.1.0 Ok\r\n501 5.1.3 Bad recipient address syntax\r\n"
	    "501 5.1.3 Bad recipient address syntax\r\n250 2.1.5 Ok\r\n"
	    "501 5.1.3 Bad recipient address syntax\r\n");
	harness_free(h);
}

static void
null_sender_is_accepted_and_spooled_as_empty(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\n");
	expect(h, "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO QUEUED);
	assert_string_equal(h->last_from, "");
	harness_free(h);
}

static void
utf8_address_needs_smtputf8(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "EHLO c\r\n");
	h->rlen = 0;
	feed(h, "MAIL FROM:<j\xc3\xb6rg@b.example>\r\n"
	    "MAIL FROM:<j\xc3\xb6rg@b.example> SMTPUTF8\r\n"
	    "RCPT TO:<\xc3\xa9@d.example>\r\n");
	expect(h, "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
	feed(h, "RSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<\xc3\xa9@d.example>\r\n");
	expect(h, "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n"
	    "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
	harness_free(h);
}

static void
size_over_limit_at_mail_gets_552(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "EHLO c\r\n");
	h->rlen = 0;
	feed(h, "MAIL FROM:<a@b.example> SIZE=1001\r\nMAIL FROM:<a@b.example> SIZE=1000\r\n");
	expect(h, "552 5.3.4 Message size exceeds fixed limit\r\n250 2.1.0 Ok\r\n");
	harness_free(h);
}

static void
rcpt_over_limit_gets_452(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "RCPT TO:<e@d.example>\r\nRCPT TO:<f@d.example>\r\n"
	    "RCPT TO:<g@d.example>\r\nDATA\r\nx\r\n.\r\n");
	expect(h, ENVELOPE_OK "250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "452 4.5.3 Error: too many recipients\r\n" GO QUEUED);
	assert_int_equal(h->last_nrcpt, 3);
	harness_free(h);
}

static void
rset_noop_vrfy_help_quit(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "RSET\r\nRCPT TO:<c@d.example>\r\nNOOP\r\nVRFY root\r\n"
	    "HELP\r\nQUIT\r\nNOOP\r\n");
	expect(h, ENVELOPE_OK "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n"
	    "250 2.0.0 Ok\r\n"
	    "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
	    "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n"
	    "221 2.0.0 Bye\r\n");
	assert_true(smtp_session_closed(h->s));
	assert_int_equal(h->closes, 1);
	harness_free(h);
}

static void
line_too_long_gets_500_and_session_goes_on(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);
	char line[2100];

	(void)state;
	/* 510 octets + CRLF = 512: the longest line allowed. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 510, "\r\n", 3);
	feed(h, line);
	expect(h, "250 2.0.0 Ok\r\n");
	line[510] = 'x';
	memcpy(line + 511, "\r\n", 3);
	feed(h, line);
	expect(h, "500 5.5.2 Error: line too long\r\n");
	/* Much longer, in pieces: one 500, and the tail is not a command. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "NOOP ", 5);
	memcpy(line + 2000, "QUIT\r\nNOOP\r\n", 13);
	feed_slowly(h, line);
	expect(h, "500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n");
	assert_false(smtp_session_closed(h->s));
	harness_free(h);
}

static void
denied_client_gets_554_and_is_closed(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	char buf[SMTP_REFUSAL_MAX];

	(void)state;
	h->cfg.hostname = "mx.test";
	h->cfg.max_size = 1000;
	h->cfg.max_rcpt = 3;
	h->cfg.max_line = 512;
	h->s = smtp_session_new(&h->cfg, &cbs, h, "192.0.2.7");
	smtp_session_start(h->s, SMTP_GREET_DENIED);
	expect(h, "554 5.7.1 <192.0.2.7>: Client host rejected: Access denied\r\n");
	assert_true(smtp_session_closed(h->s));
	assert_int_equal(h->closes, 1);
	assert_int_equal(smtp_session_feed(h->s, "QUIT\r\n", 6), 0);
	/* The same line without a session, as the server sends it. */
	assert_int_equal(smtp_refusal(&h->cfg, SMTP_GREET_DENIED, "192.0.2.7",
	    buf, sizeof(buf)), 60);
	assert_string_equal(buf, "554 5.7.1 <192.0.2.7>: Client host rejected: "
	    "Access denied\r\n");
	assert_int_equal(smtp_refusal(&h->cfg, SMTP_GREET_BUSY, "192.0.2.7",
	    buf, sizeof(buf)), 62);
	assert_string_equal(buf, "421 4.7.0 mx.test Error: too many connections "
	    "from 192.0.2.7\r\n");
	assert_int_equal(smtp_refusal(&h->cfg, SMTP_GREET_OK, "192.0.2.7",
	    buf, sizeof(buf)), 0);
	harness_free(h);
}

static void
hostnames_are_checked_for_replies(void **state)
{
	char name[300];
	struct smtp_config cfg = { .hostname = name, .max_size = 1000,
	    .max_rcpt = 3, .max_line = 512 };
	struct harness h;

	(void)state;
	assert_true(smtp_hostname_ok("mx.test"));
	assert_true(smtp_hostname_ok("localhost"));
	assert_true(smtp_hostname_ok("a-1.B2.example"));
	assert_false(smtp_hostname_ok(""));
	assert_false(smtp_hostname_ok("mx.test."));
	assert_false(smtp_hostname_ok(".mx"));
	assert_false(smtp_hostname_ok("mx..test"));
	assert_false(smtp_hostname_ok("-mx.test"));
	assert_false(smtp_hostname_ok("mx-.test"));
	assert_false(smtp_hostname_ok("mx_1.test"));
	assert_false(smtp_hostname_ok("mx test"));
	assert_false(smtp_hostname_ok("mx.test\r\n250 x"));
	assert_false(smtp_hostname_ok("m\xc3\xa9.test"));
	/* 63 octets a label, 253 in all. */
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_false(smtp_hostname_ok(name));
	name[63] = '\0';
	assert_true(smtp_hostname_ok(name));
	memset(name, 'a', 253);
	for (size_t i = 50; i < 253; i += 50)
		name[i] = '.';
	name[253] = '\0';
	assert_true(smtp_hostname_ok(name));
	name[253] = 'a';
	name[254] = '\0';
	assert_false(smtp_hostname_ok(name));
	/* A session refuses a name its replies could not carry. */
	memset(&h, 0, sizeof(h));
	errno = 0;
	assert_null(smtp_session_new(&cfg, &cbs, &h, "127.0.0.1"));
	assert_int_equal(errno, EINVAL);
}

/* The longest name still gets every reply whole: the EHLO lines, the
 * greeting, the 421s. */
static void
longest_hostname_fits_every_reply(void **state)
{
	char name[254], want[2048];
	struct harness *h = calloc(1, sizeof(*h));
	size_t i;

	(void)state;
	memset(name, 'b', 253);
	for (i = 62; i < 253; i += 63)
		name[i] = '.';
	name[253] = '\0';
	h->cfg.hostname = name;
	h->cfg.max_size = (size_t)-1;
	h->cfg.max_rcpt = 3;
	h->cfg.max_line = 512;
	h->s = smtp_session_new(&h->cfg, &cbs, h, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	assert_non_null(h->s);
	smtp_session_start(h->s, SMTP_GREET_OK);
	feed(h, "EHLO c\r\n");
	snprintf(want, sizeof(want), "220 %s ESMTP PostOffice\r\n"
	    "250-%s\r\n250-PIPELINING\r\n250-SIZE %zu\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
	    name, name, (size_t)-1);
	expect(h, want);
	smtp_session_timeout(h->s);
	snprintf(want, sizeof(want), "421 4.4.2 %s Error: timeout exceeded\r\n",
	    name);
	expect(h, want);
	harness_free(h);
}

static void
busy_greeting_is_421_and_closes(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));

	(void)state;
	h->cfg.hostname = "mx.test";
	h->cfg.max_line = 512;
	h->s = smtp_session_new(&h->cfg, &cbs, h, "127.0.0.1");
	smtp_session_start(h->s, SMTP_GREET_BUSY);
	expect(h, "421 4.7.0 mx.test Error: too many connections from 127.0.0.1\r\n");
	assert_true(smtp_session_closed(h->s));
	assert_int_equal(smtp_session_feed(h->s, "HELO x\r\n", 8), 0);
	harness_free(h);
}

static void
timeout_and_shutdown_send_421_and_close(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "DATA\r\nhalf a mess");
	h->rlen = 0;
	smtp_session_timeout(h->s);
	expect(h, "421 4.4.2 mx.test Error: timeout exceeded\r\n");
	assert_int_equal(h->aborts, 1);
	assert_int_equal(h->closes, 1);
	harness_free(h);

	h = harness_new(SMTP_BARE_REJECT);
	smtp_session_shutdown(h->s);
	expect(h, "421 4.3.2 mx.test Service shutting down\r\n");
	assert_true(smtp_session_closed(h->s));
	harness_free(h);
}

/* ------------------------------------------------------------------ */
/* DATA */

static void
dot_unstuffing_per_rfc5321_4_5_2(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "DATA\r\n");
	feed(h, "..leading dot\r\n...\r\n.x\r\nmid.dle\r\n. \r\n\r\n.\r\n");
	assert_int_equal(h->ends, 1);
	assert_int_equal(h->clen, strlen(".leading dot\r\n..\r\nx\r\nmid.dle\r\n \r\n\r\n"));
	assert_memory_equal(h->committed, ".leading dot\r\n..\r\nx\r\nmid.dle\r\n \r\n\r\n", h->clen);
	harness_free(h);
}

static void
data_split_into_single_octets_is_the_same(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "DATA\r\n");
	feed_slowly(h, "Subject: x\r\n\r\n..a\r\nb\r\n.\r");
	assert_int_equal(h->ends, 0);
	feed_slowly(h, "\n");
	assert_int_equal(h->ends, 1);
	assert_int_equal(h->clen, strlen("Subject: x\r\n\r\n.a\r\nb\r\n"));
	assert_memory_equal(h->committed, "Subject: x\r\n\r\n.a\r\nb\r\n", h->clen);
	harness_free(h);
}

static void
empty_message_is_accepted(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "DATA\r\n.\r\n");
	expect(h, ENVELOPE_OK GO QUEUED);
	assert_int_equal(h->last_size, 0);
	harness_free(h);
}

/* Inside a line the data is copied in runs up to the next <CR> or <LF>;
 * a run, a <CR>, a dot or a whole dot line cut by the end of one feed
 * goes on with the next. */
static void
runs_and_newlines_split_at_feed_ends_are_the_same(void **state)
{
	static const char *const pieces[] = {
		"abc", "def\r", "\n.", "..x\r", "\nlast\r\n.", "\r", "\n",
	};
	struct harness *h = harness_new(SMTP_BARE_REJECT);
	size_t i;

	(void)state;
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		assert_int_equal(h->ends, 0);
		feed(h, pieces[i]);
	}
	assert_int_equal(h->ends, 1);
	expect(h, QUEUED);
	assert_int_equal(h->clen, strlen("abcdef\r\n..x\r\nlast\r\n"));
	assert_memory_equal(h->committed, "abcdef\r\n..x\r\nlast\r\n", h->clen);
	feed(h, "NOOP\r\n");
	expect(h, "250 2.0.0 Ok\r\n");
	harness_free(h);
}

/* A <CR> at the end of one feed and something other than <LF> at the
 * start of the next: a bare <CR>, by either policy. */
static void
cr_at_feed_end_then_other_octet_is_bare(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	feed(h, "a\r");
	feed(h, "b\r\n.\r\n");
	expect(h, "550 5.5.2 Error: bare <CR> received\r\n");
	assert_int_equal(h->ends, 0);
	harness_free(h);

	h = harness_new(SMTP_BARE_NORMALIZE);
	feed(h, ENVELOPE "DATA\r\n");
	feed(h, "a\r");
	feed(h, "b\r\n.\r");
	feed(h, "x\r\n.\r\n");	/* ".<CR>x" was no end: data goes on */
	assert_int_equal(h->ends, 1);
	assert_int_equal(h->clen, strlen("a\r\nb\r\n\r\nx\r\n"));
	assert_memory_equal(h->committed, "a\r\nb\r\n\r\nx\r\n", h->clen);
	harness_free(h);
}

static struct harness *
harness_with_max_size(enum smtp_bare_newline bare, size_t max)
{
	struct harness *h = harness_new(bare);

	smtp_session_free(h->s);
	h->cfg.max_size = max;
	h->s = smtp_session_new(&h->cfg, &cbs, h, "127.0.0.1");
	assert_non_null(h->s);
	smtp_session_start(h->s, SMTP_GREET_OK);
	h->rlen = 0;
	return h;
}

/* Lines far longer than the session's output buffer, with stuffed dots
 * between them, come out whole however the input is cut. */
static void
long_lines_come_out_whole_at_any_cut(void **state)
{
	static const size_t cuts[] = { 1, 7, 8, 9, 4095, 8192, 8193, 65536 };
	enum { LINE = 20000 };
	char *in, *want;
	size_t len, wlen, c, off, k;

	(void)state;
	in = malloc(3 * LINE + 64);
	want = malloc(3 * LINE + 64);
	assert_non_null(in);
	assert_non_null(want);
	memset(in, 'q', LINE);
	memcpy(in + LINE, "\r\n..", 4);
	memset(in + LINE + 4, 'r', LINE);
	memcpy(in + 2 * LINE + 4, "\r\n.\r\n", 5);
	len = 2 * LINE + 9;
	memcpy(want, in, LINE + 2);
	memcpy(want + LINE + 2, in + LINE + 3, LINE + 3);
	wlen = 2 * LINE + 5;
	for (c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		struct harness *h = harness_with_max_size(SMTP_BARE_REJECT,
		    100000);

		feed(h, ENVELOPE "DATA\r\n");
		h->rlen = 0;
		for (off = 0; off < len; off += k) {
			k = len - off < cuts[c] ? len - off : cuts[c];
			assert_int_equal(smtp_session_feed(h->s, in + off, k), k);
		}
		expect(h, QUEUED);
		assert_int_equal(h->last_size, wlen);
		assert_int_equal(h->clen, wlen);
		assert_memory_equal(h->committed, want, wlen);
		harness_free(h);
	}
	free(in);
	free(want);
}

/* The size limit falls inside a run: one octet over is 552 whether the
 * run comes in one feed or two; exactly the limit in one run passes. */
static void
size_limit_inside_a_run_is_exact(void **state)
{
	char big[1100];
	struct harness *h;

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big + 1001, "\r\n.\r\n", 6);	/* 1001 + CRLF */
	h = harness_new(SMTP_BARE_REJECT);
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	feed(h, big);
	expect(h, "552 5.3.4 Message size exceeds fixed limit\r\n");
	assert_int_equal(h->ends, 0);
	harness_free(h);

	h = harness_new(SMTP_BARE_REJECT);
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	feed_bytes(h, big, 999);
	feed(h, big + 999);
	expect(h, "552 5.3.4 Message size exceeds fixed limit\r\n");
	harness_free(h);

	memcpy(big + 998, "\r\n.\r\n", 6);	/* 998 + CRLF = 1000 */
	h = harness_new(SMTP_BARE_REJECT);
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	feed_bytes(h, big, 500);
	feed(h, big + 500);
	expect(h, QUEUED);
	assert_int_equal(h->last_size, 1000);
	harness_free(h);
}

/* A command pipelined behind a long run and the final dot, in the same
 * feed, stays with the caller until the commit. */
static void
command_after_long_run_and_dot_waits_for_commit(void **state)
{
	char in[1200];
	struct harness *h = harness_new(SMTP_BARE_REJECT);
	size_t len, n;

	(void)state;
	h->auto_commit = false;
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	memset(in, 'z', 900);
	memcpy(in + 900, "\r\n.\r\nNOOP\r\n", 11);
	len = 911;
	n = smtp_session_feed(h->s, in, len);
	assert_int_equal(n, 905);
	assert_true(smtp_session_waiting(h->s));
	assert_int_equal(h->rlen, 0);
	smtp_session_committed(h->s, "00000000000000000000000000000001");
	assert_int_equal(smtp_session_feed(h->s, in + n, len - n), len - n);
	expect(h, QUEUED "250 2.0.0 Ok\r\n");
	harness_free(h);
}

/* Each sequence would end the data on a server that accepts a bare LF or
 * bare CR around the dot; here the data goes on, and the message that
 * contains it is refused with 550 at the real end. */
static const char *const smuggling[] = {
	"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\n.\r", "\r\n.\r",
	"\r\n.\rX\r\n",
};

static void
smuggling_sequences_never_end_data_and_get_550(void **state)
{
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]); i++) {
		struct harness *h = harness_new(SMTP_BARE_REJECT);

		feed(h, ENVELOPE "DATA\r\n");
		h->rlen = 0;
		snprintf(buf, sizeof(buf), "Subject: a\r\n\r\nbody%s"
		    "MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@d.example>\r\n"
		    "DATA\r\nsmuggled\r\n.\r\n", smuggling[i]);
		feed(h, buf);
		assert_int_equal(h->ends, 0);
		assert_true(strncmp(h->replies, "550 5.5.2 Error: bare <", 23) == 0);
		assert_int_equal(h->aborts, 1);
		/* The session goes on after the refusal. */
		feed(h, "NOOP\r\n");
		assert_non_null(strstr(h->replies, "\r\n250 2.0.0 Ok\r\n"));
		harness_free(h);
	}
}

static void
bare_lf_reply_names_lf(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	feed(h, "a\nb\r\n.\r\n");
	expect(h, "550 5.5.2 Error: bare <LF> received\r\n");
	harness_free(h);
	h = harness_new(SMTP_BARE_REJECT);
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	feed(h, "a\rb\r\n.\r\n");
	expect(h, "550 5.5.2 Error: bare <CR> received\r\n");
	harness_free(h);
}

static void
normalize_stores_bare_newlines_as_crlf_and_keeps_reading(void **state)
{
	size_t i;
	char buf[256];

	(void)state;
	for (i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]); i++) {
		struct harness *h = harness_new(SMTP_BARE_NORMALIZE);

		feed(h, ENVELOPE "DATA\r\n");
		h->rlen = 0;
		snprintf(buf, sizeof(buf), "body%sMAIL FROM:<e@x.example>\r\n.\r\n",
		    smuggling[i]);
		feed(h, buf);
		assert_int_equal(h->ends, 1);
		expect(h, QUEUED);
		/* The smuggled command is data of the one message. */
		assert_non_null(memmem(h->committed, h->clen,
		    "MAIL FROM:<e@x.example>\r\n", 25));
		assert_null(memchr(h->committed, '\n', 5));
		harness_free(h);
	}
	{
		struct harness *h = harness_new(SMTP_BARE_NORMALIZE);

		feed(h, ENVELOPE "DATA\r\n");
		feed(h, "a\nb\rc\r\n.\n..\r\n.\r\n");
		/* ".\n" after a CRLF: the dot is unstuffed and the bare LF
		 * stored as CRLF, but a bare newline never starts a line,
		 * so the ".." after it keeps both dots. */
		assert_int_equal(h->clen, strlen("a\r\nb\r\nc\r\n\r\n..\r\n"));
		assert_memory_equal(h->committed, "a\r\nb\r\nc\r\n\r\n..\r\n", h->clen);
		harness_free(h);
	}
}

static void
message_over_size_is_read_to_end_then_552(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);
	char big[1200];

	(void)state;
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 20, "\r\n.\r\nNOOP\r\n", 12);
	feed(h, big);
	expect(h, "552 5.3.4 Message size exceeds fixed limit\r\n250 2.0.0 Ok\r\n");
	assert_int_equal(h->ends, 0);
	assert_int_equal(h->aborts, 1);
	harness_free(h);
}

static void
message_of_exactly_max_size_is_accepted(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);
	char big[1100];

	(void)state;
	feed(h, ENVELOPE "DATA\r\n");
	h->rlen = 0;
	memset(big, 'a', sizeof(big));
	memcpy(big + 998, "\r\n.\r\n", 6);	/* 998 + CRLF = 1000 */
	feed(h, big);
	expect(h, QUEUED);
	assert_int_equal(h->last_size, 1000);
	harness_free(h);
}

static void
data_begin_failure_gets_451(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	h->fail_begin = true;
	feed(h, ENVELOPE "DATA\r\nNOOP\r\n");
	expect(h, ENVELOPE_OK "451 4.3.0 Error: queue file write error\r\n"
	    "250 2.0.0 Ok\r\n");
	assert_false(smtp_session_in_transaction(h->s));
	harness_free(h);
}

static void
write_failure_gets_451_at_the_end(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	h->fail_write = true;
	feed(h, ENVELOPE "DATA\r\nsome data\r\n.\r\n");
	expect(h, ENVELOPE_OK GO "451 4.3.0 Error: queue file write error\r\n");
	assert_int_equal(h->ends, 0);
	harness_free(h);
}

/* The spool file would be over the limit: 552 with Postfix's text for a
 * queue file too big, and the session goes on. */
static void
too_big_file_gets_552_and_the_session_goes_on(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	h->auto_commit = false;
	feed(h, ENVELOPE "DATA\r\nbig\r\n.\r\n");
	assert_true(smtp_session_waiting(h->s));
	smtp_session_too_big(h->s);
	assert_false(smtp_session_waiting(h->s));
	assert_false(smtp_session_in_transaction(h->s));
	feed(h, "MAIL FROM:<a@b.example>\r\n");
	expect(h, ENVELOPE_OK GO "552 5.3.4 Error: message file too big\r\n"
	    "250 2.1.0 Ok\r\n");
	harness_free(h);
}

/* ------------------------------------------------------------------ */
/* bare newlines in command lines */

/* Under reject a command line ending in a bare <LF> is refused with
 * Postfix's reply for smtpd_forbid_bare_newline = reject and not run;
 * the session goes on and CRLF lines are served. */
static void
reject_refuses_a_command_line_ending_in_bare_lf(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, "EHLO c\nMAIL FROM:<a@b.example>\nQUIT\n\n");
	expect(h, "550 5.5.2 mx.test Error: bare <LF> received\r\n"
	    "550 5.5.2 mx.test Error: bare <LF> received\r\n"
	    "550 5.5.2 mx.test Error: bare <LF> received\r\n"
	    "550 5.5.2 mx.test Error: bare <LF> received\r\n");
	assert_false(smtp_session_closed(h->s));
	assert_false(smtp_session_in_transaction(h->s));
	feed(h, ENVELOPE);
	expect(h, ENVELOPE_OK);
	/* Split anywhere, the same. */
	feed_slowly(h, "RCPT TO:<e@d.example>\n");
	expect(h, "550 5.5.2 mx.test Error: bare <LF> received\r\n");
	feed(h, "DATA\r\n.\r\nQUIT\r\n");
	expect(h, GO QUEUED "221 2.0.0 Bye\r\n");
	assert_int_equal(h->last_nrcpt, 1);
	harness_free(h);
}

static void
normalize_takes_a_bare_lf_as_the_end_of_a_command_line(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_NORMALIZE);

	(void)state;
	feed(h, "EHLO c\nMAIL FROM:<a@b.example>\nRCPT TO:<c@d.example>\r\n");
	expect(h, ENVELOPE_OK);
	harness_free(h);
}

/* ------------------------------------------------------------------ */
/* pipelining */

static void
pipelined_mail_after_final_dot_waits_for_commit(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);
	const char *in = "DATA\r\nfirst\r\n.\r\nMAIL FROM:<x@b.example>\r\n"
	    "RCPT TO:<y@d.example>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n";
	size_t len = strlen(in), n;

	(void)state;
	h->auto_commit = false;
	feed(h, ENVELOPE);
	h->rlen = 0;
	n = smtp_session_feed(h->s, in, len);
	/* Stopped right after the final dot, waiting. */
	assert_int_equal(n, strlen("DATA\r\nfirst\r\n.\r\n"));
	assert_true(smtp_session_waiting(h->s));
	assert_int_equal(smtp_session_feed(h->s, in + n, len - n), 0);
	expect(h, GO);
	smtp_session_committed(h->s, "00000000000000000000000000000001");
	n += smtp_session_feed(h->s, in + n, len - n);
	assert_true(smtp_session_waiting(h->s));
	expect(h, QUEUED "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO);
	assert_string_equal(h->last_from, "x@b.example");
	smtp_session_committed(h->s, NULL);
	n += smtp_session_feed(h->s, in + n, len - n);
	assert_int_equal(n, len);
	expect(h, "451 4.3.0 Error: queue file write error\r\n221 2.0.0 Bye\r\n");
	assert_memory_equal(h->committed, "first\r\nsecond\r\n", h->clen);
	harness_free(h);
}

static void
whole_pipelined_session_in_one_buffer(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	feed(h, ENVELOPE "DATA\r\n1\r\n.\r\nMAIL FROM:<a@b.example>\r\n"
	    "RCPT TO:<c@d.example>\r\nDATA\r\n2\r\n.\r\nQUIT\r\n");
	expect(h, ENVELOPE_OK GO QUEUED "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n" GO
	    QUEUED "221 2.0.0 Bye\r\n");
	assert_int_equal(h->ends, 2);
	harness_free(h);
}

static void
transaction_state_is_reported(void **state)
{
	struct harness *h = harness_new(SMTP_BARE_REJECT);

	(void)state;
	h->auto_commit = false;
	assert_false(smtp_session_in_transaction(h->s));
	feed(h, "EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
	assert_true(smtp_session_in_transaction(h->s));
	feed(h, "RCPT TO:<c@d.example>\r\nDATA\r\n");
	assert_true(smtp_session_in_data(h->s));
	feed(h, "x\r\n.\r\n");
	assert_true(smtp_session_waiting(h->s));
	assert_true(smtp_session_in_transaction(h->s));
	smtp_session_committed(h->s, "00000000000000000000000000000001");
	assert_false(smtp_session_in_transaction(h->s));
	harness_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verbs_are_case_insensitive_and_split_args),
		cmocka_unit_test(paths_parse_with_brackets_route_and_params),
		cmocka_unit_test(mail_params_size_body_smtputf8),
		cmocka_unit_test(greeting_and_helo),
		cmocka_unit_test(ehlo_advertises_extensions),
		cmocka_unit_test(sequence_errors_get_503_and_session_goes_on),
		cmocka_unit_test(unknown_command_gets_500_and_session_goes_on),
		cmocka_unit_test(command_with_nul_gets_500),
		cmocka_unit_test(bad_syntax_gets_501),
		cmocka_unit_test(unsupported_option_echo_is_short_and_printable),
		cmocka_unit_test(bad_addresses_get_501_5_1_7_and_5_1_3),
		cmocka_unit_test(null_sender_is_accepted_and_spooled_as_empty),
		cmocka_unit_test(utf8_address_needs_smtputf8),
		cmocka_unit_test(size_over_limit_at_mail_gets_552),
		cmocka_unit_test(rcpt_over_limit_gets_452),
		cmocka_unit_test(rset_noop_vrfy_help_quit),
		cmocka_unit_test(line_too_long_gets_500_and_session_goes_on),
		cmocka_unit_test(denied_client_gets_554_and_is_closed),
		cmocka_unit_test(hostnames_are_checked_for_replies),
		cmocka_unit_test(longest_hostname_fits_every_reply),
		cmocka_unit_test(busy_greeting_is_421_and_closes),
		cmocka_unit_test(timeout_and_shutdown_send_421_and_close),
		cmocka_unit_test(dot_unstuffing_per_rfc5321_4_5_2),
		cmocka_unit_test(data_split_into_single_octets_is_the_same),
		cmocka_unit_test(runs_and_newlines_split_at_feed_ends_are_the_same),
		cmocka_unit_test(cr_at_feed_end_then_other_octet_is_bare),
		cmocka_unit_test(long_lines_come_out_whole_at_any_cut),
		cmocka_unit_test(size_limit_inside_a_run_is_exact),
		cmocka_unit_test(command_after_long_run_and_dot_waits_for_commit),
		cmocka_unit_test(empty_message_is_accepted),
		cmocka_unit_test(smuggling_sequences_never_end_data_and_get_550),
		cmocka_unit_test(bare_lf_reply_names_lf),
		cmocka_unit_test(normalize_stores_bare_newlines_as_crlf_and_keeps_reading),
		cmocka_unit_test(message_over_size_is_read_to_end_then_552),
		cmocka_unit_test(message_of_exactly_max_size_is_accepted),
		cmocka_unit_test(data_begin_failure_gets_451),
		cmocka_unit_test(write_failure_gets_451_at_the_end),
		cmocka_unit_test(too_big_file_gets_552_and_the_session_goes_on),
		cmocka_unit_test(reject_refuses_a_command_line_ending_in_bare_lf),
		cmocka_unit_test(normalize_takes_a_bare_lf_as_the_end_of_a_command_line),
		cmocka_unit_test(pipelined_mail_after_final_dot_waits_for_commit),
		cmocka_unit_test(whole_pipelined_session_in_one_buffer),
		cmocka_unit_test(transaction_state_is_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
