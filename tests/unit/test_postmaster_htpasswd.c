/*
 * htpasswd files: parsing, and checking passwords with crypt(3).
 * The hashes below were made with `htpasswd -nbB alice secret`,
 * `htpasswd -nb5 bob hunter2` and `openssl passwd -6 -salt abcdefgh x`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "postmaster/htpasswd.h"

#define ALICE "alice:$2y$05$9qWEz4JW1tCF1ZYXRPCNWuwwtArKdLYzy1Jk2.EjgI5Iyv1bsUKW6"
#define BOB "bob:$6$RoSHct9qyBe8ODoL$JN1J4RseIbSSoWRaWdgLlUqGBidc5ob3PmZcpqDujr/9XkrEUgK2YHWBOKMOR/8/Jlka7bTH6I3crSCA.5jAq0"
#define CAROL "carol:$6$abcdefgh$UiBDlppAaokDoBkojZp5flSqCug7/2tYdnfCmz47eWpORI9/qazdPXZq8jQTf8Bu7GFe0BokyB.fa9doJp6be1"

static struct htpasswd *
parse(const char *text, char *err, size_t errlen)
{
	return htpasswd_parse(text, strlen(text), err, errlen);
}

static void
bcrypt_and_sha512_entries_check_their_password(void **state)
{
	char err[256];
	struct htpasswd *h;

	(void)state;
	h = parse("# users\n" ALICE "\n\n" BOB "\r\n" CAROL, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(htpasswd_count(h), 3);
	assert_true(htpasswd_check(h, "alice", "secret"));
	assert_true(htpasswd_check(h, "bob", "hunter2"));
	assert_true(htpasswd_check(h, "carol", "carol"));
	/* twice: the second answer comes from the cache of good logins */
	assert_true(htpasswd_check(h, "alice", "secret"));
	htpasswd_free(h);
}

static void
wrong_password_unknown_user_and_swapped_pairs_fail(void **state)
{
	char err[256];
	struct htpasswd *h;

	(void)state;
	h = parse(ALICE "\n" BOB "\n", err, sizeof(err));
	assert_non_null(h);
	assert_true(htpasswd_check(h, "alice", "secret"));	/* cached */
	assert_false(htpasswd_check(h, "alice", "Secret"));
	assert_false(htpasswd_check(h, "alice", "secret "));
	assert_false(htpasswd_check(h, "alice", ""));
	assert_false(htpasswd_check(h, "mallory", "secret"));
	assert_false(htpasswd_check(h, "bob", "secret"));
	assert_false(htpasswd_check(h, "", ""));
	assert_false(htpasswd_check(h, "alice:secret", ""));
	htpasswd_free(h);
}

static void
an_empty_file_lets_nobody_in(void **state)
{
	char err[256];
	struct htpasswd *h;

	(void)state;
	h = parse("# nobody yet\n", err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(htpasswd_count(h), 0);
	assert_false(htpasswd_check(h, "alice", "secret"));
	htpasswd_free(h);
}

static void
weak_or_malformed_lines_are_refused_with_their_line_number(void **state)
{
	char err[256];

	(void)state;
	assert_null(parse(ALICE "\ndave:$apr1$.LmF.bGs$6O35YNOw.X/OXUasnNU/K0\n",
	    err, sizeof(err)));
	assert_non_null(strstr(err, "line 2"));
	assert_non_null(strstr(err, "unsupported"));
	assert_null(parse("eve:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", err,
	    sizeof(err)));
	assert_non_null(strstr(err, "line 1"));
	assert_null(parse("frank:plaintext\n", err, sizeof(err)));
	assert_null(parse("no colon here\n", err, sizeof(err)));
	assert_non_null(strstr(err, "expected user:hash"));
	assert_null(parse(":$2y$05$abc\n", err, sizeof(err)));
	assert_null(parse("gina:\n", err, sizeof(err)));
	assert_null(parse(ALICE "\n" ALICE "\n", err, sizeof(err)));
	assert_non_null(strstr(err, "twice"));
}

static void
a_missing_file_names_the_file(void **state)
{
	char err[256];

	(void)state;
	assert_null(htpasswd_load("/nonexistent/htpasswd", err, sizeof(err)));
	assert_string_equal(err,
	    "/nonexistent/htpasswd: No such file or directory");
}

static void
a_file_on_disk_loads(void **state)
{
	char path[] = "/tmp/htpasswd-test.XXXXXX", err[256];
	struct htpasswd *h;
	FILE *f;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	f = fdopen(fd, "w");
	fputs(BOB "\n", f);
	fclose(f);
	h = htpasswd_load(path, err, sizeof(err));
	unlink(path);
	assert_non_null(h);
	assert_true(htpasswd_check(h, "bob", "hunter2"));
	htpasswd_free(h);
	htpasswd_free(NULL);
}

static void
a_job_checks_off_the_file_and_only_a_pass_is_remembered(void **state)
{
	struct htpasswd_job *j;
	struct htpasswd *h;
	void *data = NULL;
	int size = 0;
	char err[256];

	(void)state;
	h = parse(ALICE "\n" BOB "\n", err, sizeof(err));
	assert_non_null(h);
	assert_false(htpasswd_cached(h, "alice", "secret"));
	/* The job holds what it needs: the file may go meanwhile. */
	j = htpasswd_job_new(h, "alice", "secret");
	assert_non_null(j);
	assert_true(htpasswd_job_run(j, &data, &size));
	assert_true(htpasswd_job_passed(j));
	htpasswd_job_free(j);
	assert_false(htpasswd_cached(h, "alice", "secret"));
	htpasswd_remember(h, "alice", "secret");
	assert_true(htpasswd_cached(h, "alice", "secret"));
	assert_false(htpasswd_cached(h, "alice", "secre"));
	assert_false(htpasswd_cached(h, "bob", "secret"));
	j = htpasswd_job_new(h, "alice", "wrong");
	assert_false(htpasswd_job_run(j, &data, &size));
	htpasswd_job_free(j);
	j = htpasswd_job_new(h, "mallory", "secret");	/* unknown user */
	assert_false(htpasswd_job_run(j, &data, &size));
	htpasswd_job_free(j);
	free(data);
	htpasswd_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bcrypt_and_sha512_entries_check_their_password),
		cmocka_unit_test(wrong_password_unknown_user_and_swapped_pairs_fail),
		cmocka_unit_test(an_empty_file_lets_nobody_in),
		cmocka_unit_test(a_job_checks_off_the_file_and_only_a_pass_is_remembered),
		cmocka_unit_test(weak_or_malformed_lines_are_refused_with_their_line_number),
		cmocka_unit_test(a_missing_file_names_the_file),
		cmocka_unit_test(a_file_on_disk_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
