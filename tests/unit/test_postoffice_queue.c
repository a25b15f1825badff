/*
 * test_postoffice_queue.c - from received data to a spool file and back:
 * the JSON round trip is exact for UTF-8, 8-bit and NUL data, small
 * (in memory) and large (spilled to a file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/limits.h"
#include "common/message.h"
#include "common/spool.h"
#include "postoffice/mime.h"
#include "postoffice/queue.h"
#include "postoffice/rawbuf.h"

struct fixture {
	char dir[64];
	struct spool *sp;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256];

	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_queue.XXXXXX");
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

/* Queues data (in chunks of step octets) and decodes the spool file. */
static void
round_trip(struct fixture *fx, const void *data, size_t len, size_t step,
    bool scrub, struct message *m, char **json)
{
	char *rcpt[] = { "c@d.example", "e@f.example" };
	struct smtp_envelope env = { "a@b.example", rcpt, 2, false, false };
	struct queue_msg *qm;
	struct spool_file *f;
	char id[SPOOL_ID_LEN + 1], err[256];
	size_t off, n, size, jlen;

	qm = queue_msg_new(fx->sp, scrub, err, sizeof(err));
	assert_non_null(qm);
	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		assert_int_equal(queue_msg_write(qm, (const char *)data + off, n), 0);
	}
	f = queue_msg_finish(qm, &env, "127.0.0.1", 1000, LIMIT_SPOOL_FILE, id,
	    &size, err, sizeof(err));
	assert_non_null(f);
	queue_msg_free(qm);
	assert_int_equal(spool_file_sync(f), 0);
	assert_int_equal(spool_file_commit(f, SPOOL_QUEUE, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_QUEUE, id, 1 << 30, json, &jlen), 0);
	memset(m, 0, sizeof(*m));
	assert_int_equal(message_decode(*json, jlen, m, err, sizeof(err)), 0);
	assert_string_equal(m->id, id);
	assert_string_equal(m->mail_from, "a@b.example");
	assert_int_equal(m->nrcpt, 2);
	assert_string_equal(m->rcpt_tos[1], "e@f.example");
	assert_string_equal(m->client, "127.0.0.1");
	assert_int_equal(m->attempts, 0);
	assert_int_equal(size, m->data_len);
}

static void
utf8_message_is_stored_as_data(void **state)
{
	struct fixture *fx = *state;
	const char *msg = "Subject: =?UTF-8?Q?=C3=A9t=C3=A9?=\r\n\r\nJ\xc3\xa9r\xc3\xb4me\r\n";
	struct message m;
	char *json;

	round_trip(fx, msg, strlen(msg), 7, true, &m, &json);
	assert_non_null(strstr(json, "\"data\":"));
	assert_null(strstr(json, "\"data_base64\":"));
	assert_int_equal(m.data_len, strlen(msg));
	assert_memory_equal(m.data, msg, m.data_len);
	assert_string_equal(m.subject, "\xc3\xa9t\xc3\xa9");
	assert_string_equal(m.body, "J\xc3\xa9r\xc3\xb4me\r\n");
	message_clear(&m);
	free(json);
}

static void
latin1_and_nul_are_stored_as_data_base64(void **state)
{
	struct fixture *fx = *state;
	const char msg[] = "Subject: x\r\n\r\ncaf\xe9\0zero\r\n";
	struct message m;
	char *json;

	round_trip(fx, msg, sizeof(msg) - 1, 3, true, &m, &json);
	assert_non_null(strstr(json, "\"data_base64\":"));
	assert_int_equal(m.data_len, sizeof(msg) - 1);
	assert_memory_equal(m.data, msg, m.data_len);
	assert_string_equal(m.body, "caf\xc3\xa9zero\r\n");
	message_clear(&m);
	free(json);
}

static void
trace_headers_are_scrubbed_unless_kept(void **state)
{
	struct fixture *fx = *state;
	const char *msg = "Received: from backend (10.0.0.1)\r\n\tby x\r\n"
	    "X-Originating-IP: 10.0.0.2\r\nSubject: s\r\n\r\nb\r\n";
	struct message m;
	char *json;

	round_trip(fx, msg, strlen(msg), 5, true, &m, &json);
	assert_int_equal(m.data_len, strlen("Subject: s\r\n\r\nb\r\n"));
	assert_memory_equal(m.data, "Subject: s\r\n\r\nb\r\n", m.data_len);
	message_clear(&m);
	free(json);
	round_trip(fx, msg, strlen(msg), 5, false, &m, &json);
	assert_int_equal(m.data_len, strlen(msg));
	message_clear(&m);
	free(json);
}

static void
large_binary_message_spills_and_round_trips(void **state)
{
	struct fixture *fx = *state;
	size_t len = RAWBUF_MEM_MAX * 3 + 12345, i;
	unsigned char *msg = malloc(len);
	struct message m;
	char *json;

	memcpy(msg, "Subject: big\r\n\r\n", 16);
	for (i = 16; i < len; i++)
		msg[i] = (unsigned char)(i * 131 + 7);
	round_trip(fx, msg, len, 8192, true, &m, &json);
	assert_int_equal(m.data_len, len);
	assert_memory_equal(m.data, msg, len);
	assert_string_equal(m.subject, "big");
	assert_true(strlen(m.body) <= 1000);
	message_clear(&m);
	free(json);
	free(msg);
}

static void
large_text_message_round_trips_as_data(void **state)
{
	struct fixture *fx = *state;
	size_t len = RAWBUF_MEM_MAX + 100, i;
	char *msg = malloc(len);
	struct message m;
	char *json;

	memcpy(msg, "Subject: t\r\n\r\n", 14);
	for (i = 14; i < len; i++)
		msg[i] = (i % 78 == 77) ? '\n' : (i % 78 == 76) ? '\r' : 'a' + i % 26;
	round_trip(fx, msg, len, 65536, true, &m, &json);
	assert_non_null(strstr(json, "\"data\":"));
	assert_int_equal(m.data_len, len);
	assert_memory_equal(m.data, msg, len);
	message_clear(&m);
	free(json);
	free(msg);
}

static void
nothing_is_left_in_tmp_after_a_discarded_message(void **state)
{
	struct fixture *fx = *state;
	struct queue_msg *qm;
	char err[256], **names;
	unsigned char buf[4096] = { 0 };
	int i;
	long n;

	qm = queue_msg_new(fx->sp, true, err, sizeof(err));
	for (i = 0; i < 200; i++)
		assert_int_equal(queue_msg_write(qm, buf, sizeof(buf)), 0);
	queue_msg_free(qm);
	n = spool_list(fx->sp, SPOOL_TMP, &names);
	assert_int_equal(n, 0);
	spool_list_free(names, n);
}

/* Control characters are escaped six octets each in the JSON: a file
 * over max_file is refused with EMSGSIZE and leaves nothing behind. */
static void
spool_file_over_max_file_is_refused_and_removed(void **state)
{
	struct fixture *fx = *state;
	char *rcpt[] = { "c@d.example" };
	struct smtp_envelope env = { "a@b.example", rcpt, 1, false, false };
	struct queue_msg *qm;
	char id[SPOOL_ID_LEN + 1], err[256], **names;
	unsigned char ctl[1000];
	size_t size;
	long n;

	memset(ctl, 0x01, sizeof(ctl));
	qm = queue_msg_new(fx->sp, false, err, sizeof(err));
	assert_non_null(qm);
	assert_int_equal(queue_msg_write(qm, "Subject: c\r\n\r\n", 15), 0);
	assert_int_equal(queue_msg_write(qm, ctl, sizeof(ctl)), 0);
	errno = 0;
	assert_null(queue_msg_finish(qm, &env, "127.0.0.1", 1000, 4000, id,
	    &size, err, sizeof(err)));
	assert_int_equal(errno, EMSGSIZE);
	assert_string_equal(err, "spool file over 4000 bytes, size=1015");
	queue_msg_free(qm);
	n = spool_list(fx->sp, SPOOL_TMP, &names);
	assert_int_equal(n, 0);
	spool_list_free(names, n);
	n = spool_list(fx->sp, SPOOL_QUEUE, &names);
	assert_int_equal(n, 0);
	spool_list_free(names, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(utf8_message_is_stored_as_data, setup, teardown),
		cmocka_unit_test_setup_teardown(latin1_and_nul_are_stored_as_data_base64, setup, teardown),
		cmocka_unit_test_setup_teardown(trace_headers_are_scrubbed_unless_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(large_binary_message_spills_and_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(large_text_message_round_trips_as_data, setup, teardown),
		cmocka_unit_test_setup_teardown(nothing_is_left_in_tmp_after_a_discarded_message, setup, teardown),
		cmocka_unit_test_setup_teardown(spool_file_over_max_file_is_refused_and_removed, setup, teardown),
	};
	int rc;

	mime_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	mime_shutdown();
	return rc;
}
