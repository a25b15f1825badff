/*
 * Routing and the checks on path parts that name spool files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "postmaster/route.h"

#define LEASE "0000ffff0123456789abcdef"
#define ID "0123456789abcdef0123456789abcdef"

static void
known_paths_route_to_their_endpoint(void **state)
{
	struct route_match m;

	(void)state;
	assert_int_equal(route_match("GET", "/", &m), 0);
	assert_int_equal(m.route, ROUTE_DRAIN);
	assert_int_equal(route_match("POST", "/lease", &m), 0);
	assert_int_equal(m.route, ROUTE_LEASE);
	assert_int_equal(route_match("GET", "/healthz", &m), 0);
	assert_int_equal(m.route, ROUTE_HEALTHZ);
	assert_int_equal(route_match("HEAD", "/metrics", &m), 0);
	assert_int_equal(m.route, ROUTE_METRICS);
	assert_int_equal(route_match("POST", "/leases/" LEASE "/" ID "/ack", &m), 0);
	assert_int_equal(m.route, ROUTE_ACK);
	assert_string_equal(m.lease, LEASE);
	assert_string_equal(m.id, ID);
	assert_int_equal(route_match("POST", "/leases/" LEASE "/" ID "/fail", &m), 0);
	assert_int_equal(m.route, ROUTE_FAIL);
}

static void
unknown_paths_get_404(void **state)
{
	static const char *const paths[] = {
		"/x", "/lease/", "//", "/healthz/", "/leases", "/leases/",
		"/leases/" LEASE "/" ID, "/leases/" LEASE "/" ID "/nack",
		"/LEASE", "",
	};
	struct route_match m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		assert_int_equal(route_match("GET", paths[i], &m), 404);
}

static void
wrong_method_gets_405_with_allow(void **state)
{
	struct route_match m;

	(void)state;
	assert_int_equal(route_match("POST", "/", &m), 405);
	assert_string_equal(m.allow, "GET");
	assert_int_equal(route_match("HEAD", "/", &m), 405);
	assert_int_equal(route_match("GET", "/lease", &m), 405);
	assert_string_equal(m.allow, "POST");
	assert_int_equal(route_match("DELETE", "/healthz", &m), 405);
	assert_string_equal(m.allow, "GET, HEAD");
	assert_int_equal(route_match("GET", "/leases/" LEASE "/" ID "/ack", &m), 405);
	assert_string_equal(m.allow, "POST");
	assert_int_equal(route_match("POS", "/lease", &m), 405);
}

static void
ids_and_leases_not_of_the_exact_form_get_400(void **state)
{
	static const char *const paths[] = {
		"/leases/" LEASE "/../../../etc/passwd/ack",
		"/leases/" LEASE "/..%2f..%2fetc%2fpasswd0000000000/ack",
		"/leases/" LEASE "//etc/passwd/ack",
		"/leases/" LEASE "/0123456789ABCDEF0123456789abcdef/ack",
		"/leases/" LEASE "/0123456789abcdef0123456789abcde/ack",
		"/leases/" LEASE "/0123456789abcdef0123456789abcdef0/fail",
		"/leases/" LEASE "/0123456789abcdef%000123456789abc/ack",
		"/leases/../" ID "/ack",
		"/leases/0000FFFF0123456789abcdef/" ID "/ack",
		"/leases/" LEASE "/" ID "/x/ack",
		"/leases/" LEASE "/ack",
		"/leases//ack",
	};
	struct route_match m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(route_match("POST", paths[i], &m), 400);
		assert_non_null(m.error);
	}
}

static void
query_numbers_are_checked_and_clamped(void **state)
{
	unsigned long v = 0;

	(void)state;
	assert_int_equal(route_number("5", 1, 50, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(route_number("500", 1, 50, &v), 0);
	assert_int_equal(v, 50);
	assert_int_equal(route_number("99999999999999999999999", 0, 60, &v), 0);
	assert_int_equal(v, 60);
	assert_int_equal(route_number("0", 0, 60, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(route_number("0", 1, 50, &v), -1);
	assert_int_equal(route_number("-1", 0, 50, &v), -1);
	assert_int_equal(route_number("", 0, 50, &v), -1);
	assert_int_equal(route_number("5x", 0, 50, &v), -1);
	assert_int_equal(route_number(" 5", 0, 50, &v), -1);
	assert_int_equal(route_number("+5", 0, 50, &v), -1);
	assert_int_equal(route_number(NULL, 0, 50, &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_paths_route_to_their_endpoint),
		cmocka_unit_test(unknown_paths_get_404),
		cmocka_unit_test(wrong_method_gets_405_with_allow),
		cmocka_unit_test(ids_and_leases_not_of_the_exact_form_get_400),
		cmocka_unit_test(query_numbers_are_checked_and_clamped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
