/* The log line's form: "PROG[PID]: text" on a file or a plain standard
 * error, "<PRIORITY>text" when standard error is the journal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

static char path[] = "/tmp/test_common_log.XXXXXX";
static int saved_stderr = -1;

/* Points standard error at a fresh temporary file. */
static int
stderr_to_file(void **state)
{
	int fd;

	(void)state;
	strcpy(path + sizeof(path) - 7, "XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	saved_stderr = dup(2);
	if (saved_stderr == -1 || dup2(fd, 2) == -1)
		return -1;
	close(fd);
	return 0;
}

static int
stderr_back(void **state)
{
	(void)state;
	log_close();
	unsetenv("JOURNAL_STREAM");
	dup2(saved_stderr, 2);
	close(saved_stderr);
	unlink(path);
	return 0;
}

static char *
slurp(const char *p)
{
	static char buf[4096];
	FILE *f = fopen(p, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
set_journal_stream(int fd, long long ino_delta)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (unsigned long long)ino_delta);
	setenv("JOURNAL_STREAM", v, 1);
}

static void
plain_stderr_lines_name_program_and_pid(void **state)
{
	char want[128];

	(void)state;
	assert_int_equal(log_open("postman", NULL, false), 0);
	log_info("hello %d", 42);
	log_err("bad");
	snprintf(want, sizeof(want), "postman[%ld]: hello 42\npostman[%ld]: bad\n",
	    (long)getpid(), (long)getpid());
	assert_string_equal(slurp(path), want);
}

static void
journal_lines_carry_the_priority_alone(void **state)
{
	(void)state;
	set_journal_stream(2, 0);
	assert_int_equal(log_open("postman", NULL, false), 0);
	log_info("delivered=%d", 3);
	log_warn("careful");
	log_err("broken");
	assert_string_equal(slurp(path),
	    "<6>delivered=3\n<4>careful\n<3>broken\n");
}

static void
another_stream_in_journal_stream_is_not_the_journal(void **state)
{
	char want[128];

	(void)state;
	set_journal_stream(2, 1);	/* stderr was redirected since */
	assert_int_equal(log_open("postoffice", NULL, false), 0);
	log_info("x");
	snprintf(want, sizeof(want), "postoffice[%ld]: x\n", (long)getpid());
	assert_string_equal(slurp(path), want);
}

static void
malformed_journal_stream_is_ignored(void **state)
{
	char want[128];

	(void)state;
	setenv("JOURNAL_STREAM", "12:34junk", 1);
	assert_int_equal(log_open("postmaster", NULL, false), 0);
	log_info("y");
	snprintf(want, sizeof(want), "postmaster[%ld]: y\n", (long)getpid());
	assert_string_equal(slurp(path), want);
}

static void
log_file_keeps_the_full_prefix_under_the_journal(void **state)
{
	char file[] = "/tmp/test_common_log_file.XXXXXX", want[128];
	int fd = mkstemp(file);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	set_journal_stream(2, 0);
	assert_int_equal(log_open("postman", file, false), 0);
	log_info("z");
	log_close();
	snprintf(want, sizeof(want), "postman[%ld]: z\n", (long)getpid());
	assert_string_equal(slurp(file), want);
	assert_string_equal(slurp(path), "");
	unlink(file);
}

/* --- the reopen while other threads log --- */

#define WRITERS 4
#define LINES 20000

static atomic_int writers_left;

static void *
writer(void *arg)
{
	int w = (int)(intptr_t)arg, i;

	for (i = 0; i < LINES; i++)
		log_info("w%d %06d %s", w, i, "0123456789abcdef0123456789");
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

/* Counts the lines of file p into seen[w][i]; every line must be whole. */
static void
count_lines(const char *p, unsigned char seen[WRITERS][LINES], long *total)
{
	char want[64], line[256];
	FILE *f = fopen(p, "r");
	int w, i, n;

	assert_non_null(f);
	snprintf(want, sizeof(want), "rot[%ld]: w", (long)getpid());
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_true(strncmp(line, want, strlen(want)) == 0);
		n = 0;
		assert_int_equal(sscanf(line + strlen(want), "%d %d "
		    "0123456789abcdef0123456789\n%n", &w, &i, &n), 2);
		assert_true(n > 0 && line[strlen(want) + n] == '\0');
		assert_true(w >= 0 && w < WRITERS && i >= 0 && i < LINES);
		assert_int_equal(seen[w][i], 0);
		seen[w][i] = 1;
		(*total)++;
	}
	fclose(f);
}

/*
 * Threads log while the file is renamed away and reopened, again and
 * again; after each reopen a decoy file is opened, which would get the
 * number of a descriptor the reopen had closed.  Every line must be in
 * one of the log files, whole, and none in a decoy.
 */
static void
reopen_while_threads_log_loses_no_line(void **state)
{
	static unsigned char seen[WRITERS][LINES];
	char dir[] = "/tmp/test_common_log_rot.XXXXXX", log[128], old[320];
	char decoy[128];
	pthread_t t[WRITERS];
	struct stat st;
	long total = 0, rotations = 0, k;
	int i, dfd = -1;
	DIR *d;
	struct dirent *de;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(decoy, sizeof(decoy), "%s/decoy", dir);
	assert_int_equal(log_open("rot", log, false), 0);
	atomic_store(&writers_left, WRITERS);
	for (i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer,
		    (void *)(intptr_t)i), 0);
	while (atomic_load(&writers_left) > 0) {
		snprintf(old, sizeof(old), "%s/log.%ld", dir, rotations++);
		assert_int_equal(rename(log, old), 0);
		assert_int_equal(log_reopen(), 0);
		if (dfd != -1)
			close(dfd);
		dfd = open(decoy, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		assert_true(dfd >= 0);
		usleep(500);
	}
	for (i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	log_close();
	close(dfd);
	assert_int_equal(stat(decoy, &st), 0);
	assert_int_equal(st.st_size, 0);
	count_lines(log, seen, &total);
	for (k = 0; k < rotations; k++) {
		snprintf(old, sizeof(old), "%s/log.%ld", dir, k);
		count_lines(old, seen, &total);
	}
	assert_true(rotations > 10);
	assert_int_equal(total, (long)WRITERS * LINES);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(old, sizeof(old), "%s/%s", dir, de->d_name);
		unlink(old);
	}
	closedir(d);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    plain_stderr_lines_name_program_and_pid,
		    stderr_to_file, stderr_back),
		cmocka_unit_test_setup_teardown(
		    journal_lines_carry_the_priority_alone,
		    stderr_to_file, stderr_back),
		cmocka_unit_test_setup_teardown(
		    another_stream_in_journal_stream_is_not_the_journal,
		    stderr_to_file, stderr_back),
		cmocka_unit_test_setup_teardown(
		    malformed_journal_stream_is_ignored,
		    stderr_to_file, stderr_back),
		cmocka_unit_test_setup_teardown(
		    log_file_keeps_the_full_prefix_under_the_journal,
		    stderr_to_file, stderr_back),
		cmocka_unit_test_setup_teardown(
		    reopen_while_threads_log_loses_no_line,
		    stderr_to_file, stderr_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
