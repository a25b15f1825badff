/*
 * test_common_fuzz.c - the spool format fuzz target (tests/fuzz)
 * replayed over its seed corpus and every input that once crashed it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/fuzz/fuzz_message.c"
#include "tests/fuzz/replay.h"

static void
message_corpus_and_regressions_hold_their_properties(void **state)
{
	(void)state;
	assert_true(replay_all("message", fuzz_message) > 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(message_corpus_and_regressions_hold_their_properties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
