/* Listen addresses, client networks and the envelope address check that
 * keeps hostile addresses out of sendmail's argv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"

static void
listen_specs_parse(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char *path, err[128], buf[64];

	(void)state;
	assert_int_equal(addr_parse_listen("127.0.0.1:2525", &ss, &len, &path, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 2525);
	assert_int_equal(addr_parse_listen("[::1]:25", &ss, &len, &path, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_string_equal(addr_ntop((struct sockaddr *)&ss, buf, sizeof(buf)), "::1");
	assert_int_equal(addr_parse_listen("unix:/run/x.sock", &ss, &len, &path, err, sizeof(err)), 0);
	assert_string_equal(path, "/run/x.sock");
	free(path);
	assert_int_equal(addr_parse_listen("localhost:1", &ss, &len, &path, err, sizeof(err)), 0);
	assert_true(addr_is_loopback((struct sockaddr *)&ss));
}

static void
bad_listen_specs_are_refused(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char *path, err[128];

	(void)state;
	assert_int_equal(addr_parse_listen("127.0.0.1", &ss, &len, &path, err, sizeof(err)), -1);
	assert_int_equal(addr_parse_listen("127.0.0.1:70000", &ss, &len, &path, err, sizeof(err)), -1);
	assert_int_equal(addr_parse_listen("example.com:25", &ss, &len, &path, err, sizeof(err)), -1);
	assert_int_equal(addr_parse_listen("unix:relative", &ss, &len, &path, err, sizeof(err)), -1);
	assert_int_equal(addr_parse_listen("::1:25", &ss, &len, &path, err, sizeof(err)), -1);
}

static void
cidr_matches_v4_v6_and_mapped(void **state)
{
	struct cidr c;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	char err[128];

	(void)state;
	assert_int_equal(cidr_parse("192.0.2.0/24", &c, err, sizeof(err)), 0);
	inet_pton(AF_INET, "192.0.2.77", &sin.sin_addr);
	assert_true(cidr_match(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.3.1", &sin.sin_addr);
	assert_false(cidr_match(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &sin6.sin6_addr);
	assert_true(cidr_match(&c, (struct sockaddr *)&sin6));
	assert_int_equal(cidr_parse("2001:db8::/32", &c, err, sizeof(err)), 0);
	inet_pton(AF_INET6, "2001:db8:1::5", &sin6.sin6_addr);
	assert_true(cidr_match(&c, (struct sockaddr *)&sin6));
	assert_false(cidr_match(&c, (struct sockaddr *)&sin));
	assert_int_equal(cidr_parse("10.0.0.1/33", &c, err, sizeof(err)), -1);
	assert_int_equal(cidr_parse("nonsense", &c, err, sizeof(err)), -1);
	assert_int_equal(cidr_parse("10.0.0.1/", &c, err, sizeof(err)), -1);
}

static void
hostile_addresses_are_refused(void **state)
{
	char local65[80], longaddr[300];

	(void)state;
	assert_null(addr_mail_problem("user@example.com", false));
	assert_null(addr_mail_problem("", true));
	assert_non_null(addr_mail_problem("", false));
	assert_string_equal(addr_mail_problem("-oQ/tmp/x@example.com", false),
	    "address starts with '-'");
	assert_string_equal(addr_mail_problem("a@b\r\nRCPT TO:<x@y>", false),
	    "control character in address");
	assert_string_equal(addr_mail_problem("a b@c", false),
	    "whitespace in address");
	assert_string_equal(addr_mail_problem("a\tb@c", false),
	    "control character in address");
	assert_string_equal(addr_mail_problem("<a@b>", false),
	    "angle bracket in address");
	memset(local65, 'x', 65);
	strcpy(local65 + 65, "@example.com");
	assert_string_equal(addr_mail_problem(local65, false),
	    "local part longer than 64 octets (RFC 5321 4.5.3.1.1)");
	memset(longaddr, 'y', 299);
	longaddr[0] = 'a';
	longaddr[1] = '@';
	longaddr[299] = '\0';
	assert_string_equal(addr_mail_problem(longaddr, false),
	    "address longer than 254 octets (RFC 5321 4.5.3.1.3)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listen_specs_parse),
		cmocka_unit_test(bad_listen_specs_are_refused),
		cmocka_unit_test(cidr_matches_v4_v6_and_mapped),
		cmocka_unit_test(hostile_addresses_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
