/*
 * The ordered index of queued ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "postmaster/idindex.h"

static void
ids_come_out_oldest_first_whatever_the_insert_order(void **state)
{
	struct idindex *ix = idindex_new();
	char id[33];
	int i, k;

	(void)state;
	/* 1000 ids inserted in a scrambled order */
	for (i = 0; i < 1000; i++) {
		k = (i * 7919) % 1000;
		snprintf(id, sizeof(id), "%032x", k);
		assert_true(idindex_add(ix, id));
	}
	assert_int_equal(idindex_count(ix), 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "%032x", i);
		assert_string_equal(idindex_first(ix), id);
		assert_true(idindex_remove(ix, id));
	}
	assert_null(idindex_first(ix));
	assert_int_equal(idindex_count(ix), 0);
	idindex_free(ix);
}

static void
duplicates_and_non_ids_are_not_added(void **state)
{
	struct idindex *ix = idindex_new();
	const char *id = "0123456789abcdef0123456789abcdef";

	(void)state;
	assert_true(idindex_add(ix, id));
	assert_false(idindex_add(ix, id));
	assert_false(idindex_add(ix, "0123456789ABCDEF0123456789abcdef"));
	assert_false(idindex_add(ix, "../../etc/passwd"));
	assert_false(idindex_add(ix, ".leased"));
	assert_false(idindex_add(ix, "0123456789abcdef0123456789abcdef.tmp"));
	assert_int_equal(idindex_count(ix), 1);
	assert_true(idindex_contains(ix, id));
	assert_false(idindex_remove(ix, "00000000000000000000000000000000"));
	idindex_clear(ix);
	assert_int_equal(idindex_count(ix), 0);
	assert_false(idindex_contains(ix, id));
	idindex_free(ix);
	idindex_free(NULL);
}

static void
removing_the_middle_keeps_the_order(void **state)
{
	struct idindex *ix = idindex_new();

	(void)state;
	idindex_add(ix, "00000000000000000000000000000003");
	idindex_add(ix, "00000000000000000000000000000001");
	idindex_add(ix, "00000000000000000000000000000002");
	assert_true(idindex_remove(ix, "00000000000000000000000000000001"));
	assert_string_equal(idindex_first(ix), "00000000000000000000000000000002");
	/* a released message goes back in front */
	idindex_add(ix, "00000000000000000000000000000001");
	assert_string_equal(idindex_first(ix), "00000000000000000000000000000001");
	idindex_free(ix);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_come_out_oldest_first_whatever_the_insert_order),
		cmocka_unit_test(duplicates_and_non_ids_are_not_added),
		cmocka_unit_test(removing_the_middle_keeps_the_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
