/*
 * test_postmaster_liveness_fuzz.c - the liveness fuzz target
 * (tests/fuzz/fuzz_liveness.c: PostMaster's queue and PostMan's lease
 * parser on a spool of hostile files) replayed over its seed corpus and
 * every input that once broke it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/fuzz/fuzz_liveness.c"
#include "tests/fuzz/replay.h"

static void
liveness_corpus_and_regressions_hold_their_properties(void **state)
{
	(void)state;
	assert_true(replay_all("liveness", fuzz_liveness) > 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(liveness_corpus_and_regressions_hold_their_properties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
