/*
 * test_postoffice_fuzz.c - the SMTP session, scrubber and MIME fuzz
 * targets (tests/fuzz) replayed over their seed corpora and every input
 * that once crashed them, so their properties hold in every `make check`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/fuzz/fuzz_mime.c"
#include "tests/fuzz/fuzz_scrub.c"
#include "tests/fuzz/fuzz_smtp.c"
#include "tests/fuzz/replay.h"

static void
smtp_corpus_and_regressions_hold_their_properties(void **state)
{
	(void)state;
	assert_true(replay_all("smtp", fuzz_smtp) > 10);
}

static void
scrub_corpus_and_regressions_hold_their_properties(void **state)
{
	(void)state;
	assert_true(replay_all("scrub", fuzz_scrub) > 3);
}

static void
mime_corpus_and_regressions_hold_their_properties(void **state)
{
	(void)state;
	assert_true(replay_all("mime", fuzz_mime) > 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(smtp_corpus_and_regressions_hold_their_properties),
		cmocka_unit_test(scrub_corpus_and_regressions_hold_their_properties),
		cmocka_unit_test(mime_corpus_and_regressions_hold_their_properties),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	mime_shutdown();
	return rc;
}
