/* Maildir delivery: the unique names (the spec's time.MusecPpid form with
 * a delivery counter and an encoded host), CRLF turned into LF, the
 * header lines put in front, the creation of tmp/new/cur, and whole
 * deliveries through the backend into a temporary Maildir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "postman/delivery.h"
#include "postman/maildir.h"

/* --- unique names --- */

static void
unique_name_is_time_usec_pid_counter_host(void **state)
{
	char name[MAILDIR_NAME_MAX];

	(void)state;
	assert_int_equal(maildir_unique_name(name, sizeof(name), 1764083250,
	    42, 3141, 7, "mx.example.org"), 0);
	assert_string_equal(name, "1764083250.M000042P3141Q7.mx.example.org");
	assert_int_equal(maildir_unique_name(name, sizeof(name), 1764083250,
	    999999, 1, 123456789, "h"), 0);
	assert_string_equal(name, "1764083250.M999999P1Q123456789.h");
}

static void
unique_name_that_does_not_fit_is_refused(void **state)
{
	char name[20];

	(void)state;
	assert_int_equal(maildir_unique_name(name, sizeof(name), 1764083250,
	    42, 3141, 7, "mx.example.org"), -1);
}

static void
names_of_two_deliveries_in_one_microsecond_differ(void **state)
{
	char a[MAILDIR_NAME_MAX], b[MAILDIR_NAME_MAX];

	(void)state;
	maildir_unique_name(a, sizeof(a), 1764083250, 42, 3141, 1, "h");
	maildir_unique_name(b, sizeof(b), 1764083250, 42, 3141, 2, "h");
	assert_string_not_equal(a, b);
}

static void
host_slash_and_colon_are_written_as_octal_escapes(void **state)
{
	char out[64];

	(void)state;
	maildir_host_encode(out, sizeof(out), "a/b:c.example");
	assert_string_equal(out, "a\\057b\\072c.example");
	maildir_host_encode(out, sizeof(out), "plain.example.org");
	assert_string_equal(out, "plain.example.org");
}

static void
empty_host_is_localhost(void **state)
{
	char out[64];

	(void)state;
	maildir_host_encode(out, sizeof(out), "");
	assert_string_equal(out, "localhost");
	maildir_host_encode(out, sizeof(out), NULL);
	assert_string_equal(out, "localhost");
}

static void
long_host_is_cut_never_inside_an_escape(void **state)
{
	char out[8];

	(void)state;
	maildir_host_encode(out, sizeof(out), "abcdefghij");
	assert_string_equal(out, "abcdefg");
	maildir_host_encode(out, sizeof(out), "abcd/xyz");
	assert_string_equal(out, "abcd");	/* "\057" would not fit */
	maildir_host_encode(out, sizeof(out), "ab:x");
	assert_string_equal(out, "ab\\072x");
}

/* --- line ends --- */

static void
expect_lf(const char *in, const char *want)
{
	unsigned char out[256];
	size_t n = maildir_lf(out, (const unsigned char *)in, strlen(in));

	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
}

static void
crlf_becomes_lf(void **state)
{
	(void)state;
	expect_lf("Subject: x\r\n\r\nbody\r\n", "Subject: x\n\nbody\n");
	expect_lf("a\r\n\r\n\r\nb", "a\n\n\nb");
}

static void
lone_cr_and_lone_lf_are_kept(void **state)
{
	(void)state;
	expect_lf("a\rb\nc\r", "a\rb\nc\r");
	expect_lf("\r\r\n", "\r\n");
	expect_lf("\n\r", "\n\r");
}

static void
lf_conversion_works_in_place_and_on_empty_input(void **state)
{
	unsigned char buf[] = "x\r\ny\r\n";
	unsigned char none[1];

	(void)state;
	assert_int_equal(maildir_lf(buf, buf, 6), 4);
	assert_memory_equal(buf, "x\ny\n", 4);
	assert_int_equal(maildir_lf(none, (const unsigned char *)"", 0), 0);
}

static void
lf_conversion_keeps_nul_and_8bit_bytes(void **state)
{
	const unsigned char in[] = { 0x00, '\r', '\n', 0xff, 0xe9, '\r', '\n' };
	const unsigned char want[] = { 0x00, '\n', 0xff, 0xe9, '\n' };
	unsigned char out[sizeof(in)];

	(void)state;
	assert_int_equal(maildir_lf(out, in, sizeof(in)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
}

/* --- header lines --- */

static void
prefix_is_return_path_then_one_delivered_to_per_recipient(void **state)
{
	char *rcpts[] = { "bob@example.net", "carl@example.net" };
	size_t len;
	char *p = maildir_prefix("ann@example.org", rcpts, 2, &len);

	(void)state;
	assert_non_null(p);
	assert_string_equal(p, "Return-Path: <ann@example.org>\n"
	    "Delivered-To: bob@example.net\nDelivered-To: carl@example.net\n");
	assert_int_equal(len, strlen(p));
	free(p);
}

static void
null_sender_return_path_is_empty_angle_brackets(void **state)
{
	char *rcpts[] = { "postmaster@example.net" };
	size_t len;
	char *p = maildir_prefix("", rcpts, 1, &len);

	(void)state;
	assert_non_null(p);
	assert_string_equal(p, "Return-Path: <>\n"
	    "Delivered-To: postmaster@example.net\n");
	free(p);
}

/* --- the Maildir on disk --- */

struct tmpdir {
	char path[64];
	char md[96];
};

static int
setup_tmp(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	strcpy(t->path, "/tmp/maildir-test.XXXXXX");
	if (mkdtemp(t->path) == NULL)
		return -1;
	snprintf(t->md, sizeof(t->md), "%s/Maildir", t->path);
	*state = t;
	return 0;
}

static void
remove_tree(const char *path)
{
	struct dirent *e;
	char sub[512];
	struct stat st;
	DIR *d;

	if (lstat(path, &st) == -1)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			remove_tree(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int
teardown_tmp(void **state)
{
	struct tmpdir *t = *state;

	remove_tree(t->path);
	free(t);
	return 0;
}

static bool
is_dir_with_mode(const char *dir, const char *sub, mode_t mode)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s%s", dir, sub[0] ? "/" : "", sub);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 07777) == mode;
}

static void
create_makes_dir_tmp_new_cur_mode_0700(void **state)
{
	struct tmpdir *t = *state;
	char err[256];
	mode_t old = umask(0);

	assert_int_equal(maildir_create(t->md, err, sizeof(err)), 0);
	umask(old);
	assert_true(is_dir_with_mode(t->md, "", 0700));
	assert_true(is_dir_with_mode(t->md, "tmp", 0700));
	assert_true(is_dir_with_mode(t->md, "new", 0700));
	assert_true(is_dir_with_mode(t->md, "cur", 0700));
	/* Again: what exists is fine. */
	assert_int_equal(maildir_create(t->md, err, sizeof(err)), 0);
}

static void
create_refuses_a_file_where_a_folder_belongs(void **state)
{
	struct tmpdir *t = *state;
	char err[256], path[256];
	int fd;

	assert_int_equal(mkdir(t->md, 0700), 0);
	snprintf(path, sizeof(path), "%s/new", t->md);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	assert_int_equal(maildir_create(t->md, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/new: not a directory"));
}

static void
create_needs_the_parent(void **state)
{
	struct tmpdir *t = *state;
	char err[256], path[256];

	snprintf(path, sizeof(path), "%s/no/Maildir", t->path);
	assert_int_equal(maildir_create(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_int_equal(maildir_create("", err, sizeof(err)), -1);
	assert_string_equal(err, "empty Maildir path");
}

/* The names in dir/sub, at most max of them. */
static size_t
list(const char *dir, const char *sub, char names[][MAILDIR_NAME_MAX],
    size_t max)
{
	char path[256];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && n < max)
			snprintf(names[n++], MAILDIR_NAME_MAX, "%s", e->d_name);
	closedir(d);
	return n;
}

static void
read_file(const char *dir, const char *sub, const char *name, char *buf,
    size_t len)
{
	char path[512];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	r = read(fd, buf, len - 1);
	assert_true(r >= 0);
	buf[r] = '\0';
	close(fd);
}

static void
count_done(struct delivery *d, struct delivery_ctl *ctl)
{
	(void)d;
	(*(int *)ctl->arg)++;
}

static void
backend_stores_each_message_once_in_new_and_leaves_tmp_empty(void **state)
{
	struct tmpdir *t = *state;
	char *r1[] = { "bob@example.net", "carl@example.net" };
	char *r2[] = { "dave@example.net" };
	char d1[] = "Subject: one\r\n\r\nfirst\r\n";
	char d2[] = "Subject: two\r\n\r\nsecond\r\n";
	struct message m[2];
	struct delivery d[2];
	struct delivery_ctl ctl;
	char names[4][MAILDIR_NAME_MAX], err[256], text[512], *a, *b;
	struct backend *be;
	int done = 0;
	size_t n;

	memset(m, 0, sizeof(m));
	memset(d, 0, sizeof(d));
	m[0].mail_from = "ann@example.org";
	m[0].rcpt_tos = r1;
	m[0].nrcpt = 2;
	m[0].data = (unsigned char *)d1;
	m[0].data_len = strlen(d1);
	m[1].mail_from = "";
	m[1].rcpt_tos = r2;
	m[1].nrcpt = 1;
	m[1].data = (unsigned char *)d2;
	m[1].data_len = strlen(d2);
	d[0].msg = &m[0];
	d[1].msg = &m[1];
	memset(&ctl, 0, sizeof(ctl));
	ctl.done = count_done;
	ctl.arg = &done;

	assert_non_null(be = maildir_backend_new(t->md, err, sizeof(err)));
	assert_string_equal(be->relay, "maildir");
	assert_int_equal(be->deliver(be, d, 2, &ctl, err, sizeof(err)), 0);
	assert_int_equal(done, 2);
	assert_true(d[0].attempted && d[1].attempted);
	assert_int_equal(d[0].outcome, OUTCOME_SENT);
	assert_int_equal(d[1].outcome, OUTCOME_SENT);
	assert_int_equal(list(t->md, "tmp", names, 4), 0);
	assert_int_equal(list(t->md, "cur", names, 4), 0);
	n = list(t->md, "new", names, 4);
	assert_int_equal(n, 2);
	/* The reason names the file; the file holds the message. */
	a = strstr(d[0].reason, "new/");
	b = strstr(d[1].reason, "new/");
	assert_non_null(a);
	assert_non_null(b);
	read_file(t->md, "", a, text, sizeof(text));
	assert_string_equal(text, "Return-Path: <ann@example.org>\n"
	    "Delivered-To: bob@example.net\nDelivered-To: carl@example.net\n"
	    "Subject: one\n\nfirst\n");
	read_file(t->md, "", b, text, sizeof(text));
	assert_string_equal(text, "Return-Path: <>\n"
	    "Delivered-To: dave@example.net\nSubject: two\n\nsecond\n");
	assert_string_not_equal(a, b);
	backend_free(be);
}

static void
backend_defers_every_message_when_new_is_not_a_folder(void **state)
{
	struct tmpdir *t = *state;
	char *r[] = { "bob@example.net" };
	char data[] = "Subject: x\r\n\r\nx\r\n";
	char names[4][MAILDIR_NAME_MAX], err[256], path[256];
	struct message m;
	struct delivery d[2];
	struct delivery_ctl ctl;
	struct backend *be;
	int done = 0, fd;

	memset(&m, 0, sizeof(m));
	memset(d, 0, sizeof(d));
	m.mail_from = "ann@example.org";
	m.rcpt_tos = r;
	m.nrcpt = 1;
	m.data = (unsigned char *)data;
	m.data_len = strlen(data);
	d[0].msg = d[1].msg = &m;
	memset(&ctl, 0, sizeof(ctl));
	ctl.done = count_done;
	ctl.arg = &done;
	assert_non_null(be = maildir_backend_new(t->md, err, sizeof(err)));
	/* Broken after the start: new/ replaced by a file. */
	snprintf(path, sizeof(path), "%s/new", t->md);
	assert_int_equal(rmdir(path), 0);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	assert_int_equal(be->deliver(be, d, 2, &ctl, err, sizeof(err)), 0);
	assert_int_equal(done, 2);
	assert_int_equal(d[0].outcome, OUTCOME_DEFERRED);
	assert_int_equal(d[1].outcome, OUTCOME_DEFERRED);
	assert_non_null(strstr(d[0].reason, "maildir: "));
	assert_non_null(strstr(d[0].reason, "/new: not a directory"));
	assert_int_equal(list(t->md, "tmp", names, 4), 0);
	backend_free(be);
}

static void
backend_new_fails_where_the_maildir_cannot_be(void **state)
{
	struct tmpdir *t = *state;
	char err[256], path[256];

	(void)t;
	snprintf(path, sizeof(path), "%s/missing/Maildir", t->path);
	assert_null(maildir_backend_new(path, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create "));
	backend_free(NULL);
}

static void
backend_stops_between_messages_when_the_flag_is_raised(void **state)
{
	struct tmpdir *t = *state;
	char *r[] = { "bob@example.net" };
	char data[] = "x\r\n";
	char err[256];
	struct message m;
	struct delivery d[2];
	struct delivery_ctl ctl;
	volatile sig_atomic_t flag = 1;
	struct backend *be;

	memset(&m, 0, sizeof(m));
	memset(d, 0, sizeof(d));
	m.mail_from = "ann@example.org";
	m.rcpt_tos = r;
	m.nrcpt = 1;
	m.data = (unsigned char *)data;
	m.data_len = strlen(data);
	d[0].msg = d[1].msg = &m;
	memset(&ctl, 0, sizeof(ctl));
	ctl.flag = &flag;
	assert_non_null(be = maildir_backend_new(t->md, err, sizeof(err)));
	assert_int_equal(be->deliver(be, d, 2, &ctl, err, sizeof(err)), 0);
	assert_false(d[0].attempted);
	assert_false(d[1].attempted);
	backend_free(be);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unique_name_is_time_usec_pid_counter_host),
		cmocka_unit_test(unique_name_that_does_not_fit_is_refused),
		cmocka_unit_test(names_of_two_deliveries_in_one_microsecond_differ),
		cmocka_unit_test(host_slash_and_colon_are_written_as_octal_escapes),
		cmocka_unit_test(empty_host_is_localhost),
		cmocka_unit_test(long_host_is_cut_never_inside_an_escape),
		cmocka_unit_test(crlf_becomes_lf),
		cmocka_unit_test(lone_cr_and_lone_lf_are_kept),
		cmocka_unit_test(lf_conversion_works_in_place_and_on_empty_input),
		cmocka_unit_test(lf_conversion_keeps_nul_and_8bit_bytes),
		cmocka_unit_test(prefix_is_return_path_then_one_delivered_to_per_recipient),
		cmocka_unit_test(null_sender_return_path_is_empty_angle_brackets),
		cmocka_unit_test_setup_teardown(create_makes_dir_tmp_new_cur_mode_0700,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(create_refuses_a_file_where_a_folder_belongs,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(create_needs_the_parent,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(
		    backend_stores_each_message_once_in_new_and_leaves_tmp_empty,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(
		    backend_defers_every_message_when_new_is_not_a_folder,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(backend_new_fails_where_the_maildir_cannot_be,
		    setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(
		    backend_stops_between_messages_when_the_flag_is_raised,
		    setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
