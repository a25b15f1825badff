/*
 * test_postoffice_mime.c - the "subject" and "body" fields: RFC 2047
 * subjects, the choice of the text part, transfer decoding and charset
 * conversion to UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/utf8.h"
#include "postoffice/mime.h"

static void
extract(const char *msg, size_t max, char **subject, char **body)
{
	assert_int_equal(mime_extract_mem(msg, strlen(msg), max, subject, body), 0);
	assert_true(utf8_valid(*subject, strlen(*subject)));
	assert_true(utf8_valid(*body, strlen(*body)));
}

static void
check(const char *msg, const char *want_subject, const char *want_body)
{
	char *subject, *body;

	extract(msg, MIME_DEFAULT_BODY_MAX, &subject, &body);
	assert_string_equal(subject, want_subject);
	assert_string_equal(body, want_body);
	free(subject);
	free(body);
}

static void
rfc2047_q_and_b_subjects_are_decoded(void **state)
{
	(void)state;
	check("Subject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nx", "caf\xc3\xa9", "x");
	check("Subject: =?utf-8?B?w6lsw6hwaGFudA==?=\r\n\r\nx",
	    "\xc3\xa9l\xc3\xa8phant", "x");
	check("Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus Wien\r\n\r\nx",
	    "Gr\xc3\xbc\xc3\x9f" "e aus Wien", "x");
	/* Adjacent encoded-words join without the blank (RFC 2047 6.2). */
	check("Subject: =?UTF-8?Q?a?= =?UTF-8?Q?b?=\r\n\r\nx", "ab", "x");
}

static void
folded_subject_is_unfolded(void **state)
{
	(void)state;
	check("Subject: one\r\n two\r\n\r\nx", "one two", "x");
}

static void
missing_subject_is_empty(void **state)
{
	(void)state;
	check("From: a@b\r\n\r\nbody\r\n", "", "body\r\n");
}

static void
raw_latin1_subject_becomes_utf8(void **state)
{
	char *subject, *body;

	(void)state;
	extract("Subject: caf\xe9\r\n\r\nx", 100, &subject, &body);
	assert_string_equal(subject, "caf\xc3\xa9");
	free(subject);
	free(body);
}

static void
first_text_plain_part_is_the_body(void **state)
{
	(void)state;
	check("Subject: s\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"XX\"\r\n\r\n"
	    "--XX\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n"
	    "--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain one\r\n"
	    "--XX\r\nContent-Type: text/plain\r\n\r\nplain two\r\n"
	    "--XX--\r\n", "s", "plain one");
}

static void
html_is_used_when_there_is_no_plain_part(void **state)
{
	(void)state;
	check("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n"
	    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>hi</b>\r\n"
	    "--b--\r\n", "", "<b>hi</b>");
}

static void
plain_attachment_is_not_the_body(void **state)
{
	(void)state;
	check("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nattached\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\ninline\r\n"
	    "--b--\r\n", "", "inline");
}

static void
base64_and_quoted_printable_are_decoded(void **state)
{
	(void)state;
	check("Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\naMOpbGxvIHfDtnJsZA==\r\n",
	    "", "h\xc3\xa9llo w\xc3\xb6rld");
	check("Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf=C3=A9 long =\r\nline\r\n", "", "caf\xc3\xa9 long line\r\n");
}

static void
declared_charsets_are_converted_to_utf8(void **state)
{
	(void)state;
	check("Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\nna\xefve\r\n", "", "na\xc3\xafve\r\n");
	check("Content-Type: text/plain; charset=windows-1252\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=80 5\r\n",
	    "", "\xe2\x82\xac 5\r\n");
	check("Content-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n",
	    "", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\n");
}

static void
undeclared_8bit_text_is_read_as_latin1(void **state)
{
	(void)state;
	check("Subject: s\r\n\r\ncaf\xe9\r\n", "s", "caf\xc3\xa9\r\n");
	/* Already UTF-8: kept as it is. */
	check("Subject: s\r\n\r\ncaf\xc3\xa9\r\n", "s", "caf\xc3\xa9\r\n");
}

static void
bad_utf8_in_declared_utf8_becomes_replacement_char(void **state)
{
	(void)state;
	check("Content-Type: text/plain; charset=utf-8\r\n\r\na\xff" "b\r\n",
	    "", "a\xef\xbf\xbd" "b\r\n");
}

static void
body_is_cut_at_the_limit_on_a_character_boundary(void **state)
{
	char *subject, *body;

	(void)state;
	/* "aé" is 3 octets; a 2 octet limit must not split the é. */
	extract("Content-Type: text/plain; charset=utf-8\r\n\r\na\xc3\xa9xyz", 2,
	    &subject, &body);
	assert_string_equal(body, "a");
	free(subject);
	free(body);
	extract("Subject: s\r\n\r\n0123456789", 4, &subject, &body);
	assert_string_equal(body, "0123");
	free(subject);
	free(body);
	extract("Subject: s\r\n\r\n0123456789", 0, &subject, &body);
	assert_string_equal(body, "");
	free(subject);
	free(body);
}

static void
garbage_still_gives_strings(void **state)
{
	char *subject, *body;
	const char junk[] = "\0\xff\xfe\r\n\r\n--\r\n\0";

	(void)state;
	assert_int_equal(mime_extract_mem(junk, sizeof(junk), 100, &subject, &body), 0);
	assert_true(utf8_valid(subject, strlen(subject)));
	assert_true(utf8_valid(body, strlen(body)));
	free(subject);
	free(body);
	assert_int_equal(mime_extract_mem("", 0, 100, &subject, &body), 0);
	assert_string_equal(subject, "");
	free(subject);
	free(body);
}

static void
extract_from_a_file_matches_memory(void **state)
{
	const char *msg = "Subject: =?UTF-8?Q?f=C3=AFle?=\r\n\r\nfrom a file\r\n";
	char path[] = "/tmp/test_mime.XXXXXX", *subject, *body;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	unlink(path);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	assert_int_equal(mime_extract_fd(fd, 1000, &subject, &body), 0);
	assert_string_equal(subject, "f\xc3\xafle");
	assert_string_equal(body, "from a file\r\n");
	free(subject);
	free(body);
	close(fd);
}

static void
utf8_clean_replaces_and_drops_nul(void **state)
{
	char *s;

	(void)state;
	s = mime_utf8_clean("a\0b\xc3\xa9\xe2\x82", 7);
	assert_string_equal(s, "ab\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = mime_utf8_clean("\xed\xa0\x80", 3);	/* a surrogate */
	assert_true(utf8_valid(s, strlen(s)));
	free(s);
}

static int
setup(void **state)
{
	(void)state;
	mime_init();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mime_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc2047_q_and_b_subjects_are_decoded),
		cmocka_unit_test(folded_subject_is_unfolded),
		cmocka_unit_test(missing_subject_is_empty),
		cmocka_unit_test(raw_latin1_subject_becomes_utf8),
		cmocka_unit_test(first_text_plain_part_is_the_body),
		cmocka_unit_test(html_is_used_when_there_is_no_plain_part),
		cmocka_unit_test(plain_attachment_is_not_the_body),
		cmocka_unit_test(base64_and_quoted_printable_are_decoded),
		cmocka_unit_test(declared_charsets_are_converted_to_utf8),
		cmocka_unit_test(undeclared_8bit_text_is_read_as_latin1),
		cmocka_unit_test(bad_utf8_in_declared_utf8_becomes_replacement_char),
		cmocka_unit_test(body_is_cut_at_the_limit_on_a_character_boundary),
		cmocka_unit_test(garbage_still_gives_strings),
		cmocka_unit_test(extract_from_a_file_matches_memory),
		cmocka_unit_test(utf8_clean_replaces_and_drops_nul),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
