/* UTF-8 validation: what may go into a spool file's "data" string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/utf8.h"

static void
ascii_and_multibyte_are_valid(void **state)
{
	(void)state;
	assert_true(utf8_valid("hello\r\n", 7));
	assert_true(utf8_valid("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\xa8", 15));
	assert_true(utf8_valid("", 0));
}

static void
latin1_byte_is_invalid(void **state)
{
	(void)state;
	assert_false(utf8_valid("caf\xe9", 4));
}

static void
nul_byte_is_invalid(void **state)
{
	(void)state;
	assert_false(utf8_valid("a\0b", 3));
}

static void
overlong_surrogate_and_too_high_are_invalid(void **state)
{
	(void)state;
	assert_false(utf8_valid("\xc0\xaf", 2));		/* overlong '/' */
	assert_false(utf8_valid("\xe0\x80\xaf", 3));		/* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));		/* U+D800 */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	assert_false(utf8_valid("\xf5\x80\x80\x80", 4));
}

static void
truncated_sequence_is_invalid(void **state)
{
	(void)state;
	assert_false(utf8_valid("\xe2\x82", 2));
}

static void
sequence_split_across_feeds_is_valid(void **state)
{
	struct utf8_check c;
	const char *euro = "\xe2\x82\xac";

	(void)state;
	utf8_check_init(&c);
	utf8_check_feed(&c, euro, 1);
	assert_false(utf8_check_done(&c));	/* open sequence */
	utf8_check_feed(&c, euro + 1, 1);
	utf8_check_feed(&c, euro + 2, 1);
	assert_true(utf8_check_done(&c));
}

/* The ASCII fast path reads eight octets at a time: a stop at every
 * position of a word, and at its end, gives the same span. */
static void
ascii_span_stops_at_high_or_nul_octet_anywhere(void **state)
{
	unsigned char buf[40];
	size_t len, at;

	(void)state;
	for (len = 0; len <= sizeof(buf); len++) {
		memset(buf, 'a', sizeof(buf));
		assert_int_equal(utf8_ascii_span(buf, len), len);
		for (at = 0; at < len; at++) {
			memset(buf, 'a', sizeof(buf));
			buf[at] = 0x80;
			assert_int_equal(utf8_ascii_span(buf, len), at);
			buf[at] = 0xff;
			assert_int_equal(utf8_ascii_span(buf, len), at);
			buf[at] = 0;
			assert_int_equal(utf8_ascii_span(buf, len), at);
			buf[at] = 0x7f;
			assert_int_equal(utf8_ascii_span(buf, len), len);
			buf[at] = 0x01;
			assert_int_equal(utf8_ascii_span(buf, len), len);
		}
	}
}

/* A sequence or a bad octet placed across and at each word boundary of
 * the fast path is judged as it is anywhere else. */
static void
sequences_and_bad_octets_at_every_word_boundary(void **state)
{
	unsigned char buf[40];
	size_t at, split;
	struct utf8_check c;

	(void)state;
	for (at = 0; at + 3 <= sizeof(buf); at++) {
		memset(buf, 'a', sizeof(buf));
		memcpy(buf + at, "\xe2\x82\xac", 3);
		assert_true(utf8_valid(buf, sizeof(buf)));
		/* cut short by the end of the buffer: open sequence */
		assert_false(utf8_valid(buf, at + 2));
		/* the same, fed in two pieces split anywhere */
		for (split = 0; split <= sizeof(buf); split++) {
			utf8_check_init(&c);
			utf8_check_feed(&c, buf, split);
			utf8_check_feed(&c, buf + split, sizeof(buf) - split);
			assert_true(utf8_check_done(&c));
		}
		memcpy(buf + at, "\xe2\x82\x41", 3);	/* bad continuation */
		assert_false(utf8_valid(buf, sizeof(buf)));
	}
	for (at = 0; at < sizeof(buf); at++) {
		memset(buf, 'a', sizeof(buf));
		buf[at] = 0;
		assert_false(utf8_valid(buf, sizeof(buf)));
		assert_true(utf8_valid(buf, at));
		buf[at] = 0xe9;		/* latin-1 */
		assert_false(utf8_valid(buf, sizeof(buf)));
		buf[at] = 0x7f;
		assert_true(utf8_valid(buf, sizeof(buf)));
	}
}

/* Once invalid, later ASCII runs do not make the input valid again. */
static void
ascii_after_an_error_stays_invalid(void **state)
{
	struct utf8_check c;
	char run[64];

	(void)state;
	memset(run, 'a', sizeof(run));
	utf8_check_init(&c);
	utf8_check_feed(&c, "\xc3", 1);
	utf8_check_feed(&c, run, sizeof(run));	/* 'a' cannot continue it */
	assert_false(utf8_check_done(&c));
	utf8_check_feed(&c, "\xa9", 1);
	assert_false(utf8_check_done(&c));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ascii_and_multibyte_are_valid),
		cmocka_unit_test(latin1_byte_is_invalid),
		cmocka_unit_test(nul_byte_is_invalid),
		cmocka_unit_test(overlong_surrogate_and_too_high_are_invalid),
		cmocka_unit_test(truncated_sequence_is_invalid),
		cmocka_unit_test(sequence_split_across_feeds_is_valid),
		cmocka_unit_test(ascii_span_stops_at_high_or_nul_octet_anywhere),
		cmocka_unit_test(sequences_and_bad_octets_at_every_word_boundary),
		cmocka_unit_test(ascii_after_an_error_stays_invalid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
