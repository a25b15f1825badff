/*
 * test_postoffice_journal.c - the write-ahead journal: its record format
 * (CRC-32C, a torn or corrupted tail stops the scan), and recovery at
 * open: records whose message is not queued are written into the queue,
 * files left in .staged/ are queued, queued ones are not written twice,
 * both files end empty; a second opener is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/spool.h"
#include "postoffice/journal.h"

struct fixture {
	char dir[64];
	struct spool *sp;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256];

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_journal.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->sp = spool_open(fx->dir, err, sizeof(err));
	assert_non_null(fx->sp);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	spool_free(fx->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static const char ID1[] = "0661c0301960000000000000000000a1";
static const char ID2[] = "0661c0301960000000000000000000a2";
static const char ID3[] = "0661c0301960000000000000000000a3";

/* One record, as journal_append() writes it, onto the end of buf. */
static size_t
record(unsigned char *buf, const char *id, const char *json)
{
	size_t len = strlen(json);

	journal_header(buf, id, json, len);
	memcpy(buf + JOURNAL_HEADER, id, SPOOL_ID_LEN);
	memcpy(buf + JOURNAL_HEADER + SPOOL_ID_LEN, json, len);
	return JOURNAL_HEADER + SPOOL_ID_LEN + len;
}

struct seen {
	int n;
	char ids[4][SPOOL_ID_LEN + 1];
	char json[4][64];
};

static int
collect(void *arg, const char *id, const char *json, size_t len)
{
	struct seen *s = arg;

	if (s->n >= 4)
		return -1;
	snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", id);
	snprintf(s->json[s->n], sizeof(s->json[0]), "%.*s", (int)len, json);
	s->n++;
	return 0;
}

static void
crc32c_matches_the_standard_check_value(void **state)
{
	(void)state;
	/* RFC 3720, appendix B.4: CRC-32C of "123456789". */
	assert_int_equal(journal_crc32c(0, "123456789", 9), 0xe3069283U);
	/* Continuing a CRC over pieces gives the CRC of the whole. */
	assert_int_equal(journal_crc32c(journal_crc32c(0, "1234", 4),
	    "56789", 5), 0xe3069283U);
	assert_int_equal(journal_crc32c_table(0, "123456789", 9), 0xe3069283U);
}

static void
crc32c_instruction_and_table_agree(void **state)
{
	unsigned char buf[300];
	size_t i, off, len;

	(void)state;
	srand(7);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	/* Every alignment and length, tails of 0 to 7 octets included. */
	for (off = 0; off < 9; off++)
		for (len = 0; len + off <= sizeof(buf); len++)
			assert_int_equal(journal_crc32c(0x1234, buf + off, len),
			    journal_crc32c_table(0x1234, buf + off, len));
}

static void
scan_walks_whole_records_and_stops_at_a_torn_one(void **state)
{
	unsigned char buf[1024];
	struct seen s = { 0 };
	size_t len = 0, whole;

	(void)state;
	len += record(buf + len, ID1, "{\"a\":1}");
	len += record(buf + len, ID2, "{\"b\":2}");
	whole = len;
	len += record(buf + len, ID3, "{\"c\":3}");
	/* The last append cut by a crash: every shorter length drops it. */
	for (size_t cut = whole; cut < len; cut++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(journal_scan(buf, cut, collect, &s), whole);
		assert_int_equal(s.n, 2);
	}
	memset(&s, 0, sizeof(s));
	assert_int_equal(journal_scan(buf, len, collect, &s), len);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.ids[1], ID2);
	assert_string_equal(s.json[1], "{\"b\":2}");
	assert_string_equal(s.json[2], "{\"c\":3}");
}

static void
scan_stops_at_a_corrupted_octet(void **state)
{
	unsigned char buf[1024], copy[1024];
	size_t len = 0, first;
	struct seen s;

	(void)state;
	first = record(buf, ID1, "{\"a\":1}");
	len = first + record(buf + first, ID2, "{\"b\":2}");
	/* Any one octet of the second record changed: only the first is
	 * taken (header, id and JSON are all covered by a CRC). */
	for (size_t i = first; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= 0x20;
		memset(&s, 0, sizeof(s));
		assert_int_equal(journal_scan(copy, len, collect, &s), first);
		assert_int_equal(s.n, 1);
	}
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static char *
read_queued(struct fixture *fx, const char *id)
{
	char *buf;
	size_t len;

	if (spool_read(fx->sp, SPOOL_QUEUE, id, 1 << 20, &buf, &len) == -1)
		return NULL;
	return buf;
}

static void
open_recovers_records_and_staged_files(void **state)
{
	struct fixture *fx = *state;
	struct journal_recovery rec;
	struct journal *j;
	unsigned char buf[1024];
	char path[128], err[256], *got;
	size_t len = 0;

	/* a: ID1 (not queued) and ID2 (queued already), then a torn tail;
	 * b: ID3, whose file is also in .staged/. */
	len += record(buf + len, ID1, "{\"id\":\"one\"}");
	len += record(buf + len, ID2, "{\"id\":\"two, from the journal\"}");
	memcpy(buf + len, "POJ1xx", 6);
	snprintf(path, sizeof(path), "%s/.journal/a", fx->dir);
	write_file(path, buf, len + 6);
	snprintf(path, sizeof(path), "%s/%s", fx->dir, ID2);
	write_file(path, "{\"id\":\"two\"}", 12);
	len = record(buf, ID3, "{\"id\":\"three, from the journal\"}");
	snprintf(path, sizeof(path), "%s/.journal/b", fx->dir);
	write_file(path, buf, len);
	snprintf(path, sizeof(path), "%s/.staged/%s", fx->dir, ID3);
	write_file(path, "{\"id\":\"three\"}", 14);

	j = journal_open(fx->sp, &rec, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(rec.staged, 1);
	assert_int_equal(rec.replayed, 1);
	assert_int_equal(rec.present, 2);
	assert_int_equal(rec.torn, 6);

	assert_non_null(got = read_queued(fx, ID1));
	assert_string_equal(got, "{\"id\":\"one\"}");
	free(got);
	assert_non_null(got = read_queued(fx, ID2));
	assert_string_equal(got, "{\"id\":\"two\"}");	/* not written over */
	free(got);
	assert_non_null(got = read_queued(fx, ID3));
	assert_string_equal(got, "{\"id\":\"three\"}");	/* the staged file */
	free(got);
	snprintf(path, sizeof(path), "%s/.staged/%s", fx->dir, ID3);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/.journal/a", fx->dir);
	assert_int_equal(file_size(path), 0);
	snprintf(path, sizeof(path), "%s/.journal/b", fx->dir);
	assert_int_equal(file_size(path), 0);
	journal_free(j);
}

static void
appended_records_survive_a_reopen_and_a_cleared_file_does_not(void **state)
{
	struct fixture *fx = *state;
	struct journal_recovery rec;
	struct journal *j;
	char err[256], *got, back[8];
	int old;

	j = journal_open(fx->sp, &rec, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(rec.replayed + rec.staged + rec.present, 0);
	assert_int_equal(journal_append(j, ID1, "{\"n\":1}", 7), 0);
	assert_int_equal(journal_sync(j), 0);
	/* A checkpoint: the file of ID1's record is switched out and
	 * cleared; ID2 goes into the other file. */
	old = journal_switch(j);
	assert_int_equal(journal_append(j, ID2, "{\"n\":2}", 7), 0);
	assert_int_equal(journal_sync(j), 0);
	assert_int_equal(journal_size(j), JOURNAL_HEADER + SPOOL_ID_LEN + 7);
	/* The old file's record reads back as appended (a checkpoint's
	 * way to write a failed file again). */
	memset(back, 0, sizeof(back));
	assert_int_equal(journal_read(j, old, 0, back, 7), 0);
	assert_string_equal(back, "{\"n\":1}");
	assert_int_equal(journal_read(j, old, 1, back, 7), -1);	/* past it */
	assert_int_equal(journal_clear(j, old), 0);
	journal_free(j);	/* a crash: ID2 was never checkpointed */

	j = journal_open(fx->sp, &rec, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(rec.replayed, 1);
	assert_null(read_queued(fx, ID1));
	assert_non_null(got = read_queued(fx, ID2));
	assert_string_equal(got, "{\"n\":2}");
	free(got);
	journal_free(j);
}

static void
a_record_too_large_is_refused_and_leaves_the_file_as_it_was(void **state)
{
	struct fixture *fx = *state;
	struct journal_recovery rec;
	struct journal *j;
	char err[256], *big;

	j = journal_open(fx->sp, &rec, err, sizeof(err));
	assert_non_null(j);
	big = calloc(1, JOURNAL_RECORD_MAX + 1);
	assert_non_null(big);
	assert_int_equal(journal_append(j, ID1, big, JOURNAL_RECORD_MAX + 1), -1);
	assert_int_equal(errno, EFBIG);
	assert_int_equal(journal_size(j), 0);
	free(big);
	journal_free(j);
}

static void
a_second_opener_is_refused_while_the_first_holds_it(void **state)
{
	struct fixture *fx = *state;
	struct journal_recovery rec;
	struct journal *j, *k;
	struct spool *sp2;
	char err[256];

	j = journal_open(fx->sp, &rec, err, sizeof(err));
	assert_non_null(j);
	sp2 = spool_open(fx->dir, err, sizeof(err));
	assert_non_null(sp2);
	k = journal_open(sp2, &rec, err, sizeof(err));
	assert_null(k);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_non_null(strstr(err, "held by another process"));
	journal_free(j);
	k = journal_open(sp2, &rec, err, sizeof(err));
	assert_non_null(k);
	journal_free(k);
	spool_free(sp2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32c_matches_the_standard_check_value),
		cmocka_unit_test(crc32c_instruction_and_table_agree),
		cmocka_unit_test(scan_walks_whole_records_and_stops_at_a_torn_one),
		cmocka_unit_test(scan_stops_at_a_corrupted_octet),
		cmocka_unit_test_setup_teardown(
		    open_recovers_records_and_staged_files, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    appended_records_survive_a_reopen_and_a_cleared_file_does_not,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_record_too_large_is_refused_and_leaves_the_file_as_it_was,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    a_second_opener_is_refused_while_the_first_holds_it,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
