/*
 * test_postman_fuzz.c - the lease response fuzz target (tests/fuzz)
 * replayed over its seed corpus and every input that once crashed it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/fuzz/fuzz_lease.c"
#include "tests/fuzz/replay.h"

static void
lease_corpus_and_regressions_hold_their_properties(void **state)
{
	(void)state;
	assert_true(replay_all("lease", fuzz_lease) > 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lease_corpus_and_regressions_hold_their_properties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
