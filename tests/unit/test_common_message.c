/* The spool file format: encode, decode, and the exact round trip of the
 * raw message whatever its bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/message.h"

static char *rcpts[] = { "c@d.example", "e@f.example" };

static void
fill(struct message *m, const void *data, size_t len)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->id, "0005f0a1b2c3d4e5f60718293a4b5c6d");
	m->mail_from = "a@b.example";
	m->rcpt_tos = rcpts;
	m->nrcpt = 2;
	m->subject = "Gr\xc3\xbc\xc3\x9f""e";
	m->body = "hello\n";
	m->timestamp = "2026-11-25T15:27:30.123Z";
	m->client = "127.0.0.1";
	m->data = (unsigned char *)data;
	m->data_len = len;
}

static void
round_trip(const void *data, size_t len, const char *expect_key)
{
	struct message in, out;
	char err[128], *json;
	size_t jlen;

	fill(&in, data, len);
	json = message_encode(&in, &jlen);
	assert_non_null(json);
	assert_non_null(strstr(json, expect_key));
	assert_int_equal(message_decode(json, jlen, &out, err, sizeof(err)), 0);
	assert_int_equal(out.data_len, len);
	assert_memory_equal(out.data, data, len);
	assert_string_equal(out.id, in.id);
	assert_string_equal(out.mail_from, "a@b.example");
	assert_int_equal(out.nrcpt, 2);
	assert_string_equal(out.rcpt_tos[1], "e@f.example");
	assert_string_equal(out.subject, in.subject);
	assert_string_equal(out.timestamp, in.timestamp);
	assert_int_equal(out.attempts, 0);
	message_clear(&out);
	free(json);
}

static void
utf8_message_is_stored_as_data(void **state)
{
	const char raw[] = "Subject: x\r\n\r\n\"quoted\" \\ tab\t \xe2\x82\xac\r\n";

	(void)state;
	round_trip(raw, sizeof(raw) - 1, "\"data\":\"Subject: x\\r\\n");
}

static void
latin1_message_is_stored_as_base64(void **state)
{
	const char raw[] = "Subject: caf\xe9\r\n\r\n\xe9t\xe9\r\n";

	(void)state;
	round_trip(raw, sizeof(raw) - 1, "\"data_base64\":\"");
}

static void
nul_bytes_round_trip_through_base64(void **state)
{
	const char raw[] = "a\0b\0\0c\r\n";

	(void)state;
	round_trip(raw, sizeof(raw) - 1, "\"data_base64\":\"");
}

static void
all_256_byte_values_round_trip(void **state)
{
	unsigned char raw[512];
	int i;

	(void)state;
	for (i = 0; i < 512; i++)
		raw[i] = (unsigned char)i;
	round_trip(raw, sizeof(raw), "\"data_base64\":\"");
}

static void
control_characters_are_escaped(void **state)
{
	struct message m;
	char *json;

	(void)state;
	fill(&m, "\x01\x1f", 2);
	json = message_encode(&m, NULL);
	assert_non_null(strstr(json, "\"data\":\"\\u0001\\u001f\"}"));
	free(json);
}

/* The escaper copies runs of plain octets 32, 16 or 8 at a time: a
 * character that needs an escape at each position of such a run, and at
 * the end of the data, is escaped exactly as it is alone. */
static void
escapes_at_every_word_position_match_the_plain_form(void **state)
{
	static const struct {
		char c;
		const char *esc;
	} cases[] = {
		{ '"', "\\\"" }, { '\\', "\\\\" }, { '\n', "\\n" },
		{ '\r', "\\r" }, { '\t', "\\t" }, { '\x01', "\\u0001" },
		{ '\x1f', "\\u001f" }, { '\x7f', "\x7f" }, { ' ', " " },
	};
	char data[80], expect[128], *json, *p;
	struct message m;
	size_t i, at, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (len = 1; len <= sizeof(data); len++) {
			for (at = 0; at < len; at++) {
				memset(data, 'x', sizeof(data));
				data[at] = cases[i].c;
				fill(&m, data, len);
				json = message_encode(&m, NULL);
				assert_non_null(json);
				p = expect;
				p += sprintf(p, "\"data\":\"%.*s%s%.*s\"}", (int)at,
				    data, cases[i].esc, (int)(len - at - 1),
				    data + at + 1);
				assert_non_null(strstr(json, expect));
				free(json);
			}
		}
	}
}

static void
decode_rejects(const char *json, const char *reason)
{
	struct message m;
	char err[128];

	assert_int_equal(message_decode(json, strlen(json), &m, err, sizeof(err)), -1);
	assert_string_equal(err, reason);
}

static void
malformed_objects_are_refused_with_a_reason(void **state)
{
	(void)state;
	decode_rejects("{", "not valid JSON");
	decode_rejects("[]", "not a JSON object");
	decode_rejects("{\"rcpt_tos\":[\"a\"],\"data\":\"\"}",
	    "\"mail_from\" is missing or not a string");
	decode_rejects("{\"mail_from\":1,\"rcpt_tos\":[\"a\"],\"data\":\"\"}",
	    "\"mail_from\" is missing or not a string");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[],\"data\":\"\"}",
	    "\"rcpt_tos\" is missing or not a non-empty array");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[1],\"data\":\"\"}",
	    "\"rcpt_tos\" holds a non-string");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"]}",
	    "exactly one of \"data\" and \"data_base64\" is required");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],\"data\":\"\",\"data_base64\":\"\"}",
	    "exactly one of \"data\" and \"data_base64\" is required");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],\"data_base64\":\"!!!!\"}",
	    "\"data_base64\" is not base64");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],\"data_base64\":\"QQ=a\"}",
	    "\"data_base64\" is not base64");
	decode_rejects("{\"id\":\"../../etc/passwd\",\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],\"data\":\"\"}",
	    "\"id\" is not a spool id");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],\"data\":\"\",\"attempts\":-1}",
	    "\"attempts\" is not a count");
	decode_rejects("{\"mail_from\":\"\",\"rcpt_tos\":[\"a\"],\"data\":\"\",\"subject\":[]}",
	    "\"subject\" is not a string");
}

static void
original_format_without_extras_decodes(void **state)
{
	/* What the original wrote: no id, size or attempts. */
	const char *json = "{\"mail_from\": \"\", \"rcpt_tos\": [\"x@y\"], "
	    "\"subject\": \"s\", \"body\": \"b\", \"data\": \"d\", "
	    "\"timestamp\": \"2020-01-01T00:00:00\"}";
	struct message m;
	char err[128];

	(void)state;
	assert_int_equal(message_decode(json, strlen(json), &m, err, sizeof(err)), 0);
	assert_string_equal(m.mail_from, "");
	assert_string_equal(m.id, "");
	assert_int_equal(m.data_len, 1);
	message_clear(&m);
}

/* What the original PostOffice's json.dumps writes for a message that
 * holds NUL octets: \u0000 in data, subject and body.  Decoded whole,
 * with the lengths, and written back losslessly. */
static void
original_nul_escapes_decode_whole_and_write_back(void **state)
{
	static const char raw[] = "Subject: a\0b\r\n\r\nx\0y\r\n";
	const char *json = "{\"mail_from\": \"a@b\", \"rcpt_tos\": [\"c@d\"], "
	    "\"subject\": \"a\\u0000b\", \"body\": \"x\\u0000y\\r\\n\", "
	    "\"data\": \"Subject: a\\u0000b\\r\\n\\r\\nx\\u0000y\\r\\n\", "
	    "\"timestamp\": \"2020-01-01T00:00:00.000001\"}";
	struct message m, back;
	char err[128], id[33], *again;
	size_t len;

	(void)state;
	assert_int_equal(message_check(json, strlen(json), id, err,
	    sizeof(err)), 0);
	assert_int_equal(message_decode(json, strlen(json), &m, err,
	    sizeof(err)), 0);
	assert_int_equal(m.data_len, sizeof(raw) - 1);
	assert_memory_equal(m.data, raw, sizeof(raw) - 1);
	assert_int_equal(m.subject_len, 3);
	assert_memory_equal(m.subject, "a\0b", 3);
	assert_int_equal(m.body_len, 5);
	assert_memory_equal(m.body, "x\0y\r\n", 5);
	/* Written back (as a deferral does): nothing is cut. */
	again = message_encode(&m, &len);
	assert_non_null(again);
	assert_non_null(strstr(again, "\"subject\":\"a\\u0000b\""));
	assert_non_null(strstr(again, "\"data_base64\""));
	assert_int_equal(message_decode(again, len, &back, err, sizeof(err)), 0);
	assert_int_equal(back.data_len, m.data_len);
	assert_memory_equal(back.data, raw, sizeof(raw) - 1);
	assert_int_equal(back.subject_len, 3);
	assert_int_equal(back.body_len, 5);
	free(again);
	message_clear(&back);
	message_clear(&m);
}

static void
refused(const char *json, const char *reason)
{
	struct message m;
	char err[128], id[33];

	assert_int_equal(message_decode(json, strlen(json), &m, err,
	    sizeof(err)), -1);
	assert_string_equal(err, reason);
	assert_int_equal(message_check(json, strlen(json), id, err,
	    sizeof(err)), -1);
	assert_string_equal(err, reason);
}

/* The fields the programs use as C strings cannot hold a NUL: refused,
 * never cut short. */
static void
nul_in_envelope_fields_is_refused(void **state)
{
	const char *json;
	char id[33], err[128];

	(void)state;
	refused("{\"mail_from\":\"a\\u0000@b\",\"rcpt_tos\":[\"c@d\"],"
	    "\"data\":\"x\"}", "\"mail_from\" holds a NUL character");
	refused("{\"mail_from\":\"\",\"rcpt_tos\":[\"c@d\",\"e\\u0000\"],"
	    "\"data\":\"x\"}", "\"rcpt_tos\" holds a NUL character");
	refused("{\"mail_from\":\"\",\"rcpt_tos\":[\"c@d\"],\"data\":\"x\","
	    "\"client\":\"\\u0000\"}", "\"client\" holds a NUL character");
	refused("{\"mail_from\":\"\",\"rcpt_tos\":[\"c@d\"],\"data\":\"x\","
	    "\"last_error\":\"a\\\\u0000\\u0000\"}",
	    "\"last_error\" holds a NUL character");
	/* An escaped backslash before "u0000" is no NUL. */
	json = "{\"mail_from\":\"\\\\u0000\",\"rcpt_tos\":[\"c\"],\"data\":\"\"}";
	assert_int_equal(message_check(json, strlen(json), id, err,
	    sizeof(err)), 0);
}

/* RFC 8259 section 8.1: a JSON text is UTF-8; a file that is not cannot
 * be served as it is to a strict reader. */
static void
invalid_utf8_is_refused(void **state)
{
	(void)state;
	refused("{\"mail_from\":\"\",\"rcpt_tos\":[\"c@d\"],"
	    "\"data\":\"\xff\"}", "not UTF-8 (RFC 8259 section 8.1)");
	refused("{\"mail_from\":\"\",\"rcpt_tos\":[\"c@d\"],"
	    "\"data\":\"\xed\xa0\x80\"}", "not UTF-8 (RFC 8259 section 8.1)");
}

/* A field that is not UTF-8 is written with U+FFFD in place of each bad
 * octet: the file is always one the rule takes. */
static void
fields_that_are_not_utf8_are_written_with_replacement(void **state)
{
	struct message m, back;
	char *json, err[128];
	size_t len;

	(void)state;
	fill(&m, "x", 1);
	m.subject = "caf\xe9 \xc3\xa9";
	json = message_encode(&m, &len);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"subject\":\"caf\\ufffd \xc3\xa9\""));
	assert_int_equal(message_decode(json, len, &back, err, sizeof(err)), 0);
	assert_string_equal(back.subject, "caf\xef\xbf\xbd \xc3\xa9");
	message_clear(&back);
	free(json);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_message_is_stored_as_data),
		cmocka_unit_test(latin1_message_is_stored_as_base64),
		cmocka_unit_test(nul_bytes_round_trip_through_base64),
		cmocka_unit_test(all_256_byte_values_round_trip),
		cmocka_unit_test(control_characters_are_escaped),
		cmocka_unit_test(escapes_at_every_word_position_match_the_plain_form),
		cmocka_unit_test(malformed_objects_are_refused_with_a_reason),
		cmocka_unit_test(original_format_without_extras_decodes),
		cmocka_unit_test(original_nul_escapes_decode_whole_and_write_back),
		cmocka_unit_test(nul_in_envelope_fields_is_refused),
		cmocka_unit_test(invalid_utf8_is_refused),
		cmocka_unit_test(fields_that_are_not_utf8_are_written_with_replacement),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
