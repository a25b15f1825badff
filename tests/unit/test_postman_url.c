/* PostMaster's URL as written on the command line: a bare host means
 * https://, http:// only when written, nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "postman/url.h"

static void
expect_url(const char *in, const char *want)
{
	char err[256] = "";
	char *got = url_normalize(in, err, sizeof(err));

	if (got == NULL)
		fail_msg("%s: refused: %s", in, err);
	assert_string_equal(got, want);
	free(got);
}

static void
expect_refused(const char *in, const char *why)
{
	char err[256] = "";
	char *got = url_normalize(in, err, sizeof(err));

	if (got != NULL)
		fail_msg("%s: accepted as %s", in, got);
	assert_string_equal(err, why);
}

static void
bare_host_and_path_mean_https(void **state)
{
	(void)state;
	expect_url("example.com/postoffice", "https://example.com/postoffice");
	expect_url("example.com", "https://example.com");
	expect_url("example.com:8443/a/b/", "https://example.com:8443/a/b");
	expect_url("127.0.0.1/po", "https://127.0.0.1/po");
}

static void
written_scheme_is_kept_and_trailing_slashes_go(void **state)
{
	(void)state;
	expect_url("http://127.0.0.1:8080/po/", "http://127.0.0.1:8080/po");
	expect_url("http://127.0.0.1:8080", "http://127.0.0.1:8080");
	expect_url("https://example.com//", "https://example.com");
	expect_url("HTTP://example.com/x", "http://example.com/x");
	expect_url("HttpS://example.com/x", "https://example.com/x");
	expect_url("http://[::1]:8080/po", "http://[::1]:8080/po");
}

static void
other_schemes_are_refused(void **state)
{
	(void)state;
	expect_refused("ftp://example.com/x", "URL scheme must be http:// or https://");
	expect_refused("file:///etc/passwd", "URL scheme must be http:// or https://");
	expect_refused("gopher://example.com", "URL scheme must be http:// or https://");
}

static void
queries_fragments_spaces_and_controls_are_refused(void **state)
{
	(void)state;
	expect_refused("", "empty URL");
	expect_refused("example.com/p?x=1", "URL must not hold a query or a fragment");
	expect_refused("example.com/p#top", "URL must not hold a query or a fragment");
	expect_refused("exa mple.com", "URL holds whitespace or control characters");
	expect_refused("example.com/\r\nHost: evil", "URL holds whitespace or control characters");
	expect_refused("example.com/\x7f", "URL holds whitespace or control characters");
	expect_refused("/just/a/path", "URL has no host");
	expect_refused("//example.com", "URL has no host");
}

static void
bad_ports_are_refused(void **state)
{
	char err[256];
	char *got;

	(void)state;
	got = url_normalize("example.com:99999/po", err, sizeof(err));
	assert_null(got);
	assert_true(strncmp(err, "bad URL: ", 9) == 0);
	got = url_normalize("http://example.com:port/po", err, sizeof(err));
	assert_null(got);
	assert_true(strncmp(err, "bad URL: ", 9) == 0);
}

static void
join_appends_endpoint_paths(void **state)
{
	char *s = url_join("https://example.com/po", "/lease?wait=0");

	(void)state;
	assert_string_equal(s, "https://example.com/po/lease?wait=0");
	free(s);
}

static void
loopback_is_127_8_ipv6_one_and_localhost_names(void **state)
{
	(void)state;
	assert_true(url_host_is_loopback("127.0.0.1"));
	assert_true(url_host_is_loopback("127.255.3.4"));
	assert_true(url_host_is_loopback("[::1]"));
	assert_true(url_host_is_loopback("[::ffff:127.0.0.1]"));
	assert_true(url_host_is_loopback("localhost"));
	assert_true(url_host_is_loopback("LocalHost"));
	assert_true(url_host_is_loopback("postmaster.localhost"));
	assert_false(url_host_is_loopback("128.0.0.1"));
	assert_false(url_host_is_loopback("192.0.2.1"));
	assert_false(url_host_is_loopback("[2001:db8::1]"));
	assert_false(url_host_is_loopback("[::ffff:192.0.2.1]"));
	assert_false(url_host_is_loopback("::1"));	/* not as a URL holds it */
	/* A name is not resolved: what it names at connect time may differ. */
	assert_false(url_host_is_loopback("localhost."));
	assert_false(url_host_is_loopback("notlocalhost"));
	assert_false(url_host_is_loopback("localhost.example.com"));
	assert_false(url_host_is_loopback("example.com"));
}

static void
in_clear_is_plain_http_to_a_host_not_loopback(void **state)
{
	char host[64] = "";

	(void)state;
	assert_true(url_in_clear("http://192.0.2.1/po", host, sizeof(host)));
	assert_string_equal(host, "192.0.2.1");
	assert_true(url_in_clear("http://[2001:db8::1]:8080/po", host, sizeof(host)));
	assert_string_equal(host, "2001:db8::1");
	assert_true(url_in_clear("http://u:p@example.com", host, sizeof(host)));
	assert_string_equal(host, "example.com");
	assert_false(url_in_clear("https://192.0.2.1/po", host, sizeof(host)));
	assert_false(url_in_clear("https://example.com", NULL, 0));
	assert_false(url_in_clear("http://127.0.0.1:8000", NULL, 0));
	assert_false(url_in_clear("http://[::1]:8000/po", NULL, 0));
	assert_false(url_in_clear("http://localhost:8000", NULL, 0));
}

static void
password_in_the_url_is_seen(void **state)
{
	(void)state;
	assert_true(url_has_password("http://u:p@192.0.2.1/po"));
	assert_false(url_has_password("http://u@192.0.2.1/po"));
	assert_false(url_has_password("http://u:@192.0.2.1/po"));
	assert_false(url_has_password("https://example.com/po"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bare_host_and_path_mean_https),
		cmocka_unit_test(written_scheme_is_kept_and_trailing_slashes_go),
		cmocka_unit_test(other_schemes_are_refused),
		cmocka_unit_test(queries_fragments_spaces_and_controls_are_refused),
		cmocka_unit_test(bad_ports_are_refused),
		cmocka_unit_test(join_appends_endpoint_paths),
		cmocka_unit_test(loopback_is_127_8_ipv6_one_and_localhost_names),
		cmocka_unit_test(in_clear_is_plain_http_to_a_host_not_loopback),
		cmocka_unit_test(password_in_the_url_is_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
