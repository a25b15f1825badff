/* message_check(): the drain serves spool files byte for byte, so the
 * check must accept only what message_decode() accepts, refuse with
 * message_decode()'s reason, and refuse as well whatever would not be a
 * JSON value of its own inside the response array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/message.h"

#define ID "0005f0a1b2c3d4e5f60718293a4b5c6d"
#define MIN "\"mail_from\":\"\",\"rcpt_tos\":[\"a@b\"],\"data\":\"x\""

/* Both functions agree that json is a message, with this id. */
static void
accepted(const char *json, const char *id)
{
	struct message m;
	char err[128], got[33];

	assert_int_equal(message_check(json, strlen(json), got, err,
	    sizeof(err)), 0);
	assert_string_equal(got, id);
	assert_int_equal(message_decode(json, strlen(json), &m, err,
	    sizeof(err)), 0);
	assert_string_equal(m.id, id);
	message_clear(&m);
}

/* Both refuse json, with the same reason. */
static void
refused_alike(const char *json, const char *reason)
{
	struct message m;
	char err[128], why[128], got[33];

	assert_int_equal(message_decode(json, strlen(json), &m, why,
	    sizeof(why)), -1);
	assert_string_equal(why, reason);
	assert_int_equal(message_check(json, strlen(json), got, err,
	    sizeof(err)), -1);
	assert_string_equal(err, reason);
}

static void
encoded_messages_pass_with_their_id(void **state)
{
	char *rcpts[] = { "c@d.example", "e@f.example" };
	const unsigned char latin1[] = "Subject: \xe9t\xe9\r\n\r\nx\x01\"\\\r\n";
	struct message m;
	char *json;
	size_t len;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		memset(&m, 0, sizeof(m));
		strcpy(m.id, ID);
		m.mail_from = "a@b.example";
		m.rcpt_tos = rcpts;
		m.nrcpt = 2;
		m.subject = "Gr\xc3\xbc\xc3\x9f""e \"q\" \\";
		m.attempts = 3;
		m.last_error = "451 try\tlater\n";
		m.data = (unsigned char *)(i == 0 ? "Subject: x\r\n\r\n\xe2\x82\xac\r\n"
		    : (const char *)latin1);
		m.data_len = strlen((const char *)m.data);
		json = message_encode(&m, &len);
		assert_non_null(json);
		assert_non_null(strstr(json, i == 0 ? "\"data\"" : "\"data_base64\""));
		accepted(json, ID);
		free(json);
	}
}

static void
original_format_passes_without_id(void **state)
{
	(void)state;
	accepted(" \n{\"mail_from\": \"\", \"rcpt_tos\": [\"x@y\"], "
	    "\"subject\": \"s\\u00e9\\ud83d\\ude00\", \"body\": null, "
	    "\"data\": \"d\\/\\b\\f\\n\\r\\t\", \"x\": {\"y\": [1, -0.5e+3, "
	    "true, false, null, {}, []]},"
	    "\"timestamp\": \"2020-01-01T00:00:00\"}\r\n", "");
	accepted("{" MIN ",\"id\":\"" ID "\",\"attempts\":1e9,\"size\":-2}", ID);
}

static void
escaped_base64_is_settled_by_the_decoder(void **state)
{
	(void)state;
	accepted("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],"
	    "\"data_base64\":\"QUJD\\/w==\"}", "");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],"
	    "\"data_base64\":\"QUJ\\/w==\"}", "\"data_base64\" is not base64");
}

static void
what_the_decoder_refuses_is_refused_for_its_reason(void **state)
{
	(void)state;
	refused_alike("", "not valid JSON");
	refused_alike("{", "not valid JSON");
	refused_alike("{this is not json", "not valid JSON");
	refused_alike("{\"mail_from\":\"\\ud800\",\"rcpt_tos\":[\"a\"],"
	    "\"data\":\"\"}", "not valid JSON");
	refused_alike("{\"mail_from\":\"\\q\",\"rcpt_tos\":[\"a\"],"
	    "\"data\":\"\"}", "not valid JSON");
	refused_alike("[]", "not a JSON object");
	refused_alike("{\"rcpt_tos\":[\"a\"],\"data\":\"\"}",
	    "\"mail_from\" is missing or not a string");
	refused_alike("{\"mail_from\":null,\"rcpt_tos\":[\"a\"],\"data\":\"\"}",
	    "\"mail_from\" is missing or not a string");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":[],\"data\":\"\"}",
	    "\"rcpt_tos\" is missing or not a non-empty array");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":\"a\",\"data\":\"\"}",
	    "\"rcpt_tos\" is missing or not a non-empty array");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\",2],\"data\":\"\"}",
	    "\"rcpt_tos\" holds a non-string");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\",],\"data\":\"\"}",
	    "not valid JSON");
	refused_alike("{" MIN ",\"x\":[1,],\"y\":1}", "not valid JSON");
	refused_alike("{" MIN ",\"x\":{\"a\":1,},\"y\":1}", "not valid JSON");
	refused_alike("{" MIN ",}", "not valid JSON");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"]}",
	    "exactly one of \"data\" and \"data_base64\" is required");
	refused_alike("{" MIN ",\"data_base64\":\"\"}",
	    "exactly one of \"data\" and \"data_base64\" is required");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],\"data\":1}",
	    "\"data\" is not a string");
	refused_alike("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],"
	    "\"data_base64\":\"QQ=a\"}", "\"data_base64\" is not base64");
	refused_alike("{\"id\":\"../../etc/passwd\"," MIN "}",
	    "\"id\" is not a spool id");
	refused_alike("{\"id\":\"0005F0A1B2C3D4E5F60718293A4B5C6D\"," MIN "}",
	    "\"id\" is not a spool id");
	refused_alike("{" MIN ",\"attempts\":-1}", "\"attempts\" is not a count");
	refused_alike("{" MIN ",\"attempts\":1.5}", "\"attempts\" is not a count");
	refused_alike("{" MIN ",\"attempts\":\"1\"}", "\"attempts\" is not a count");
	refused_alike("{" MIN ",\"size\":\"1\"}", "\"size\" is not a number");
	refused_alike("{" MIN ",\"subject\":[]}", "\"subject\" is not a string");
	refused_alike("{" MIN ",\"last_error\":false}",
	    "\"last_error\" is not a string");
}

/* What cJSON alone would take but cannot be served byte for byte is not
 * a message either: both functions are one walk. */
static void
what_cannot_be_served_as_it_is_is_refused(void **state)
{
	char deep[600];
	int i, n = 0;

	(void)state;
	/* Bytes after the object would break the response array. */
	refused_alike("{" MIN "} trailing", "bytes follow the object");
	refused_alike("{" MIN "}{}", "bytes follow the object");
	/* Raw control characters are not JSON (RFC 8259 section 7). */
	refused_alike("{\"mail_from\":\"a\tb\",\"rcpt_tos\":[\"a\"],"
	    "\"data\":\"\"}", "not valid JSON");
	/* A second id could be the one a client reads. */
	refused_alike("{\"id\":\"" ID "\"," MIN ",\"id\":\"x\"}",
	    "\"id\" appears twice");
	refused_alike("{" MIN ",\"mail_from\":\"b\"}",
	    "\"mail_from\" appears twice");
	/* Whitespace that is not JSON's. */
	refused_alike("{" MIN ",\f\"y\":1}", "not valid JSON");
	/* An escaped member name could hide a spool member. */
	refused_alike("{" MIN ",\"\\u0069d\":\"" ID "\"}",
	    "the name of \"id\" is escaped");
	/* Nesting far deeper than a spool object has. */
	n += snprintf(deep + n, sizeof(deep) - n, "{" MIN ",\"x\":");
	for (i = 0; i < 100; i++)
		deep[n++] = '[';
	for (i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	refused_alike(deep, "not valid JSON");
}

static void
nothing_past_len_is_read(void **state)
{
	const char *json = "{" MIN "}garbage";
	char err[128], got[33];

	(void)state;
	assert_int_equal(message_check(json, strlen(json) - 7, got, err,
	    sizeof(err)), 0);
	assert_int_equal(message_check(json, strlen(json) - 8, got, err,
	    sizeof(err)), -1);
}

/* The string scanner looks at 32 or 16 octets at once: a raw control
 * or a stray quote is found at every position of a long string, and an
 * escape at every position is taken. */
static void
each_position_of_a_long_string_is_checked(void **state)
{
	static const char *const bad[] = { "\x01", "\x1f", "\"", "\\" };
	static const char *const good[] = { "\\\"", "\\\\", "\\r\\n",
	    "\\u00e9", "\x7f", "\xc3\xa9" };
	char data[128], json[512], got[33], err[128];
	size_t i, len, at;

	(void)state;
	for (len = 1; len <= 80; len++) {
		for (at = 0; at < len; at++) {
			for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
				memset(data, 'x', len);
				memcpy(data + at, bad[i], 1);
				snprintf(json, sizeof(json), "{\"mail_from\":\"\","
				    "\"rcpt_tos\":[\"a@b\"],\"data\":\"%.*s\"}",
				    (int)len, data);
				assert_int_equal(message_check(json, strlen(json),
				    got, err, sizeof(err)), -1);
			}
			for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
				snprintf(json, sizeof(json), "{\"mail_from\":\"\","
				    "\"rcpt_tos\":[\"a@b\"],\"data\":\"%.*s%s%.*s\"}",
				    (int)at, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", good[i],
				    (int)(len - at), "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
				    "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
				assert_int_equal(message_check(json, strlen(json),
				    got, err, sizeof(err)), 0);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encoded_messages_pass_with_their_id),
		cmocka_unit_test(original_format_passes_without_id),
		cmocka_unit_test(escaped_base64_is_settled_by_the_decoder),
		cmocka_unit_test(what_the_decoder_refuses_is_refused_for_its_reason),
		cmocka_unit_test(what_cannot_be_served_as_it_is_is_refused),
		cmocka_unit_test(nothing_past_len_is_read),
		cmocka_unit_test(each_position_of_a_long_string_is_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
