/* The lease response is validated whole: malformed responses are refused
 * with one reason; a message that breaks the spool rule, or has a hostile
 * envelope, is kept as a refusal of its own, never as a deliverable
 * message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postman/lease.h"

#define ID1 "0000000000000000000000000000000a"
#define ID2 "0000000000000000000000000000000b"
#define TOKEN "6a0b3c4d0123456789abcdef"
#define MSG(id, from, rcpts) \
	"{\"id\":\"" id "\",\"mail_from\":" from ",\"rcpt_tos\":" rcpts \
	",\"data\":\"Subject: x\\r\\n\\r\\nhi\\r\\n\"}"
#define LEASE(msgs) \
	"{\"lease\":\"" TOKEN "\",\"expires\":1780000000,\"messages\":[" msgs "]}"

static const struct lease_limits lim = { 50, 1000 };

static void
expect_malformed(const char *body, const char *why)
{
	struct lease l;
	char err[256] = "";

	if (lease_parse(body, strlen(body), &lim, &l, err, sizeof(err)) == 0) {
		lease_clear(&l);
		fail_msg("accepted: %s", body);
	}
	assert_string_equal(err, why);
	assert_int_equal(l.n, 0);
	assert_null(l.msgs);
}

static void
good_lease_is_parsed(void **state)
{
	const char *body = LEASE(MSG(ID1, "\"a@b.example\"", "[\"c@d.example\"]") ","
	    "{\"id\":\"" ID2 "\",\"mail_from\":\"\",\"rcpt_tos\":[\"e@f\"],"
	    "\"data_base64\":\"AP8=\",\"timestamp\":\"2026-01-01T00:00:00.000Z\"}");
	struct lease l;
	char err[256];

	(void)state;
	assert_int_equal(lease_parse(body, strlen(body), &lim, &l, err, sizeof(err)), 0);
	assert_string_equal(l.id, TOKEN);
	assert_int_equal(l.expires, 1780000000);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.msgs[0].m.id, ID1);
	assert_string_equal(l.msgs[0].refusal, "");
	assert_int_equal(l.msgs[0].m.data_len, 18);
	assert_memory_equal(l.msgs[0].m.data, "Subject: x\r\n\r\nhi\r\n", 18);
	assert_string_equal(l.msgs[1].m.mail_from, "");
	assert_string_equal(l.msgs[1].refusal, "");
	assert_int_equal(l.msgs[1].m.data_len, 2);
	assert_memory_equal(l.msgs[1].m.data, "\x00\xff", 2);
	lease_clear(&l);
}

static void
empty_lease_is_parsed(void **state)
{
	const char *body = "{\"lease\":null,\"expires\":null,\"messages\":[]}";
	struct lease l;
	char err[256];

	(void)state;
	assert_int_equal(lease_parse(body, strlen(body), &lim, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	assert_string_equal(l.id, "");
	lease_clear(&l);
}

static void
malformed_json_and_top_level_types_are_refused(void **state)
{
	(void)state;
	expect_malformed("", "response is not valid JSON");
	expect_malformed("{", "response is not valid JSON");
	expect_malformed("{\"lease\":null,\"messages\":[]} trailing", "response is not valid JSON");
	expect_malformed("null", "response is not a JSON object");
	expect_malformed("[]", "response is not a JSON object");
	expect_malformed("\"lease\"", "response is not a JSON object");
	expect_malformed("{}", "\"messages\" is missing or not an array");
	expect_malformed("{\"messages\":{}}", "\"messages\" is missing or not an array");
	expect_malformed("{\"messages\":\"[]\"}", "\"messages\" is missing or not an array");
	expect_malformed("{\"lease\":7,\"expires\":null,\"messages\":[]}",
	    "\"lease\" or \"expires\" has the wrong type");
}

/* A message that breaks the spool rule but carries its id fails alone:
 * kept with the rule's reason (a permanent failure to report), while the
 * next one stays deliverable. */
static void
expect_alone(const char *bad, const char *why)
{
	char body[4096];
	struct lease l;
	char err[256];

	snprintf(body, sizeof(body), LEASE("%s,%s"), bad,
	    MSG(ID2, "\"a@b\"", "[\"c@d\"]"));
	if (lease_parse(body, strlen(body), &lim, &l, err, sizeof(err)) == -1)
		fail_msg("refused whole (%s): %s", err, body);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.msgs[0].m.id, ID1);
	assert_string_equal(l.msgs[0].refusal, why);
	assert_int_equal(l.msgs[0].m.nrcpt, 0);
	assert_string_equal(l.msgs[1].m.id, ID2);
	assert_string_equal(l.msgs[1].refusal, "");
	lease_clear(&l);
}

static void
escaped_nul_in_an_address_fails_the_message_alone(void **state)
{
	const char *ok = LEASE("{\"id\":\"" ID1 "\",\"mail_from\":\"a@b\","
	    "\"rcpt_tos\":[\"c@d\"],\"data\":\"JSON says \\\\u0000\"}");
	const char *nul = LEASE("{\"id\":\"" ID1 "\",\"mail_from\":\"a@b\","
	    "\"rcpt_tos\":[\"c@d\"],\"data\":\"x\\\\\\u0000y\"}");
	struct lease l;
	char err[256];

	(void)state;
	/* a sender cut at the NUL would be "a@b" */
	expect_alone(MSG(ID1, "\"a@b\\u0000-oQ/tmp/x\"", "[\"c@d\"]"),
	    "not a spool message: \"mail_from\" holds a NUL character");
	expect_alone(MSG(ID1, "\"a@b\"", "[\"c@d\\u0000\"]"),
	    "not a spool message: \"rcpt_tos\" holds a NUL character");
	/* In the text a NUL is data like any other, kept whole. */
	assert_int_equal(lease_parse(nul, strlen(nul), &lim, &l, err, sizeof(err)), 0);
	assert_string_equal(l.msgs[0].refusal, "");
	assert_int_equal(l.msgs[0].m.data_len, 4);
	assert_memory_equal(l.msgs[0].m.data, "x\\\0y", 4);
	lease_clear(&l);
	assert_int_equal(lease_parse(ok, strlen(ok), &lim, &l, err, sizeof(err)), 0);
	assert_int_equal(l.msgs[0].m.data_len, 16);
	assert_memory_equal(l.msgs[0].m.data, "JSON says \\u0000", 16);
	lease_clear(&l);
}

static void
lease_token_and_expiry_are_checked(void **state)
{
	(void)state;
	expect_malformed("{\"lease\":\"../x\",\"expires\":1,\"messages\":["
	    MSG(ID1, "\"a@b\"", "[\"c@d\"]") "]}", "\"lease\" is not a lease token");
	expect_malformed("{\"lease\":\"" TOKEN "0\",\"expires\":1,\"messages\":["
	    MSG(ID1, "\"a@b\"", "[\"c@d\"]") "]}", "\"lease\" is not a lease token");
	expect_malformed("{\"lease\":\"6A0B3C4D0123456789ABCDEF\",\"expires\":1,\"messages\":["
	    MSG(ID1, "\"a@b\"", "[\"c@d\"]") "]}", "\"lease\" is not a lease token");
	expect_malformed("{\"lease\":null,\"expires\":null,\"messages\":["
	    MSG(ID1, "\"a@b\"", "[\"c@d\"]") "]}", "\"lease\" is not a lease token");
	expect_malformed("{\"lease\":\"" TOKEN "\",\"expires\":\"1\",\"messages\":["
	    MSG(ID1, "\"a@b\"", "[\"c@d\"]") "]}", "\"expires\" is not a time");
	expect_malformed("{\"lease\":\"" TOKEN "\",\"expires\":-5,\"messages\":["
	    MSG(ID1, "\"a@b\"", "[\"c@d\"]") "]}", "\"expires\" is not a time");
}

static void
messages_of_wrong_types_are_refused(void **state)
{
	(void)state;
	/* Not an object, not JSON, or no id: nothing can be reported, the
	 * response is malformed. */
	expect_malformed(LEASE("1"), "messages[0] is not an object");
	expect_malformed(LEASE(MSG(ID1, "\"a@b\"", "[\"c@d\"]") ",[]"),
	    "messages[1] is not an object");
	expect_malformed(LEASE("{\"mail_from\":7,\"rcpt_tos\":[\"c@d\"],"
	    "\"data\":\"x\"}"),
	    "messages[0]: \"mail_from\" is missing or not a string");
	expect_malformed(LEASE("{\"id\":\"" ID1 "\",\"data\":\"\\q\"}"),
	    "response is not valid JSON");
	/* With an id, each fails alone, for the rule's reason. */
	expect_alone(MSG(ID1, "7", "[\"c@d\"]"),
	    "not a spool message: \"mail_from\" is missing or not a string");
	expect_alone(MSG(ID1, "null", "[\"c@d\"]"),
	    "not a spool message: \"mail_from\" is missing or not a string");
	expect_alone(MSG(ID1, "\"a@b\"", "\"c@d\""),
	    "not a spool message: \"rcpt_tos\" is missing or not a non-empty array");
	expect_alone(MSG(ID1, "\"a@b\"", "[]"),
	    "not a spool message: \"rcpt_tos\" is missing or not a non-empty array");
	expect_alone(MSG(ID1, "\"a@b\"", "[\"c@d\",{}]"),
	    "not a spool message: \"rcpt_tos\" holds a non-string");
	expect_alone("{\"id\":\"" ID1 "\",\"mail_from\":\"a@b\","
	    "\"rcpt_tos\":[\"c@d\"],\"data\":[1]}",
	    "not a spool message: \"data\" is not a string");
	expect_alone("{\"id\":\"" ID1 "\",\"mail_from\":\"a@b\","
	    "\"rcpt_tos\":[\"c@d\"],\"data_base64\":\"a b c\"}",
	    "not a spool message: \"data_base64\" is not base64");
	expect_alone("{\"id\":\"" ID1 "\",\"mail_from\":\"a@b\","
	    "\"rcpt_tos\":[\"c@d\"]}",
	    "not a spool message: exactly one of \"data\" and \"data_base64\" is required");
	expect_alone("{\"id\":\"" ID1 "\",\"mail_from\":\"a@b\","
	    "\"rcpt_tos\":[\"c@d\"],\"data\":\"\xff\"}",
	    "not a spool message: not UTF-8 (RFC 8259 section 8.1)");
	expect_alone("{\"id\":\"" ID1 "\",\"mail_from\":\"a@b\","
	    "\"rcpt_tos\":[\"c@d\"],\"data\":\"x\",\"data\":\"y\"}",
	    "not a spool message: \"data\" appears twice");
}

static void
ids_must_be_spool_ids_and_unique(void **state)
{
	(void)state;
	expect_malformed(LEASE(MSG("../../../etc/passwd", "\"a@b\"", "[\"c@d\"]")),
	    "messages[0]: \"id\" is not a spool id");
	expect_malformed(LEASE("{\"mail_from\":\"a@b\",\"rcpt_tos\":[\"c@d\"],\"data\":\"x\"}"),
	    "messages[0] has no \"id\"");
	expect_malformed(LEASE(MSG(ID1, "\"a@b\"", "[\"c@d\"]") ","
	    MSG(ID2, "\"a@b\"", "[\"c@d\"]") "," MSG(ID1, "\"a@b\"", "[\"c@d\"]")),
	    "message " ID1 " appears twice");
}

static void
more_messages_than_asked_for_are_refused(void **state)
{
	struct lease_limits one = { 1, 1000 };
	const char *body = LEASE(MSG(ID1, "\"a@b\"", "[\"c@d\"]") ","
	    MSG(ID2, "\"a@b\"", "[\"c@d\"]"));
	struct lease l;
	char err[256];

	(void)state;
	assert_int_equal(lease_parse(body, strlen(body), &one, &l, err, sizeof(err)), -1);
	assert_string_equal(err, "2 messages where at most 1 were asked for");
}

/* One message with a hostile envelope, one good: the first is refused
 * with the reason, the second stays deliverable. */
static void
expect_refusal(const char *from, const char *rcpts, const char *why)
{
	char body[4096];
	struct lease l;
	char err[256];

	snprintf(body, sizeof(body),
	    "{\"lease\":\"" TOKEN "\",\"expires\":1780000000,\"messages\":["
	    "{\"id\":\"" ID1 "\",\"mail_from\":%s,\"rcpt_tos\":%s,\"data\":\"x\"},"
	    MSG(ID2, "\"a@b\"", "[\"c@d\"]") "]}", from, rcpts);
	if (lease_parse(body, strlen(body), &lim, &l, err, sizeof(err)) == -1)
		fail_msg("refused whole: %s: %s", body, err);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.msgs[0].refusal, why);
	assert_string_equal(l.msgs[1].refusal, "");
	lease_clear(&l);
}

static void
hostile_envelopes_are_refused_per_message(void **state)
{
	(void)state;
	expect_refusal("\"a@b\"", "[\"-oQ/tmp/x\"]",
	    "invalid recipient <-oQ/tmp/x>: address starts with '-'");
	expect_refusal("\"a@b\"", "[\"ok@x\",\"-X/var/www/shell.php\"]",
	    "invalid recipient <-X/var/www/shell.php>: address starts with '-'");
	expect_refusal("\"-oQ/tmp/x\"", "[\"c@d\"]",
	    "invalid sender <-oQ/tmp/x>: address starts with '-'");
	expect_refusal("\"a@b\"", "[\"c@d\\r\\nRCPT TO:<e@f>\"]",
	    "invalid recipient <c@d??RCPT TO:<e@f>>: control character in address");
	expect_refusal("\"a@b\"", "[\"c d@e\"]",
	    "invalid recipient <c d@e>: whitespace in address");
	expect_refusal("\"a@b\"", "[\"c@d\\u007f\"]",
	    "invalid recipient <c@d?>: control character in address");
	expect_refusal("\"a@b\"", "[\"\"]", "invalid recipient <>: empty address");
	expect_refusal("\"a@b\"",
	    "[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@d\"]",
	    "invalid recipient <xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx@d>: "
	    "local part longer than 64 octets (RFC 5321 4.5.3.1.1)");
}

static void
too_many_recipients_are_refused(void **state)
{
	struct lease_limits two = { 50, 2 };
	const char *body = LEASE(MSG(ID1, "\"a@b\"", "[\"c@d\",\"e@f\",\"g@h\"]"));
	struct lease l;
	char err[256];

	(void)state;
	assert_int_equal(lease_parse(body, strlen(body), &two, &l, err, sizeof(err)), 0);
	assert_string_equal(l.msgs[0].refusal, "too many recipients (3, at most 2)");
	lease_clear(&l);
}

static void
printable_addresses_hide_controls_and_cut(void **state)
{
	char out[16];

	(void)state;
	assert_string_equal(addr_printable(out, sizeof(out), "a\r\nb\xc3\xa9", 100), "a??b??");
	assert_string_equal(addr_printable(out, sizeof(out), "abcdefgh", 4), "abcd...");
	assert_string_equal(addr_printable(out, sizeof(out), "0123456789abcdefghij", 100),
	    "0123456789abcde");
}

static const char *
error_text(const char *body, size_t outlen)
{
	static char out[256];

	lease_error_text(body, body != NULL ? strlen(body) : 0, out, outlen);
	return out;
}

static void
error_responses_give_a_clean_reason(void **state)
{
	char big[600];

	(void)state;
	assert_string_equal(error_text("{\"error\": \"no such lease\"}", 256),
	    "no such lease");
	/* controls in the server's text never reach a log line */
	assert_string_equal(error_text("{\"error\": \"a\\r\\nFAKE: line\\u0007\"}",
	    256), "a FAKE: line");
	/* not JSON, or no "error" string: the start of the body */
	assert_string_equal(error_text("<html>\r\n<b>Bad Gateway</b>", 256),
	    "<html> <b>Bad Gateway</b>");
	assert_string_equal(error_text("{\"error\": 42}", 256), "{\"error\": 42}");
	assert_string_equal(error_text("", 256), "no details");
	assert_string_equal(error_text(NULL, 256), "no details");
	assert_string_equal(error_text(" \r\n\t", 256), "no details");
	assert_string_equal(error_text("{\"error\": \"\\n\"}", 256), "no details");
	/* a long body: 200 octets of it, marked as cut */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(strlen(error_text(big, 256)), 203);
	assert_string_equal(error_text(big, 256) + 200, "...");
	/* the buffer is never overrun */
	assert_string_equal(error_text("{\"error\": \"no such lease\"}", 8),
	    "no s...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_lease_is_parsed),
		cmocka_unit_test(empty_lease_is_parsed),
		cmocka_unit_test(malformed_json_and_top_level_types_are_refused),
		cmocka_unit_test(escaped_nul_in_an_address_fails_the_message_alone),
		cmocka_unit_test(lease_token_and_expiry_are_checked),
		cmocka_unit_test(messages_of_wrong_types_are_refused),
		cmocka_unit_test(ids_must_be_spool_ids_and_unique),
		cmocka_unit_test(more_messages_than_asked_for_are_refused),
		cmocka_unit_test(hostile_envelopes_are_refused_per_message),
		cmocka_unit_test(too_many_recipients_are_refused),
		cmocka_unit_test(printable_addresses_hide_controls_and_cut),
		cmocka_unit_test(error_responses_give_a_clean_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
