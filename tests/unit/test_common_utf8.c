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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
