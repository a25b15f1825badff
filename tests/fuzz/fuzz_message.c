/*
 * fuzz_message.c - the spool file format: message_decode on arbitrary
 * bytes, and message_encode / message_decode round trips.
 *
 * Input: byte 0 chooses the mode.
 *   even: the rest is a spool file.  When message_decode accepts it, the
 *         message is encoded again and decoded again, and the second
 *         decoding must equal the first (every field, the raw data byte
 *         for byte, subject and body with their NULs).  message_check
 *         and message_decode are one walk: they must agree on every
 *         input, and refuse for the same reason.
 *   odd:  the rest is cut at 0xff bytes into a sender, recipients, a
 *         subject and the raw data (any bytes: NUL, invalid UTF-8, CR);
 *         the message built from them is encoded, and decoding the
 *         encoding must give back exactly the raw data and the fields.
 *         The encoding is always UTF-8 (RFC 8259 8.1): an octet of a
 *         field that is not UTF-8 is written as U+FFFD, and the fields
 *         come back exactly when they were valid UTF-8.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/message.h"
#include "common/utf8.h"
#include "tests/fuzz/fuzz.h"

static bool
fz_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Two text fields with their lengths (0: strlen); NULL is "". */
static bool
fz_texteq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (a == NULL)
		a = "";
	if (b == NULL)
		b = "";
	alen = alen ? alen : strlen(a);
	blen = blen ? blen : strlen(b);
	return alen == blen && memcmp(a, b, alen) == 0;
}

static void
fz_message_same(const struct message *a, const struct message *b)
{
	size_t i;

	FUZZ_CHECK(strcmp(a->id, b->id) == 0);
	FUZZ_CHECK(fz_streq(a->mail_from, b->mail_from));
	FUZZ_CHECK(a->nrcpt == b->nrcpt);
	for (i = 0; i < a->nrcpt; i++)
		FUZZ_CHECK(fz_streq(a->rcpt_tos[i], b->rcpt_tos[i]));
	/* An absent subject or body is written as "". */
	FUZZ_CHECK(fz_texteq(a->subject, a->subject_len, b->subject,
	    b->subject_len));
	FUZZ_CHECK(fz_texteq(a->body, a->body_len, b->body, b->body_len));
	FUZZ_CHECK(fz_streq(a->timestamp, b->timestamp));
	FUZZ_CHECK(fz_streq(a->client, b->client));
	FUZZ_CHECK(fz_streq(a->last_error, b->last_error));
	FUZZ_CHECK(a->attempts == b->attempts);
	FUZZ_CHECK(a->data_len == b->data_len);
	FUZZ_CHECK(a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0);
}

/* Encodes m, decodes the encoding into out (cleared by the caller). */
static void
fz_message_reencode(const struct message *m, struct message *out)
{
	char err[256], *json;
	size_t len;

	json = message_encode(m, &len);
	FUZZ_CHECK(json != NULL);
	FUZZ_CHECK(strlen(json) == len);
	FUZZ_CHECK(utf8_valid(json, len));
	FUZZ_CHECK(message_decode(json, len, out, err, sizeof(err)) == 0);
	free(json);
}

/* The next field: bytes up to a 0xff or the end (as a C string, so it
 * stops at a NUL too). */
static char *
fz_field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *s = *p, *q = s;
	char *out;

	while (q < end && *q != 0xff)
		q++;
	out = strndup((const char *)s, q - s);
	FUZZ_CHECK(out != NULL);
	*p = q < end ? q + 1 : q;
	return out;
}

static void
fz_message_built(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct message m, back;
	bool all_utf8;
	size_t i;

	memset(&m, 0, sizeof(m));
	memset(&back, 0, sizeof(back));
	m.mail_from = fz_field(&p, end);
	m.nrcpt = 1 + (size % 3);
	m.rcpt_tos = calloc(m.nrcpt, sizeof(char *));
	FUZZ_CHECK(m.rcpt_tos != NULL);
	for (i = 0; i < m.nrcpt; i++)
		m.rcpt_tos[i] = fz_field(&p, end);
	m.subject = fz_field(&p, end);
	m.attempts = (long)(size % 11);
	/* The rest is the raw message, every byte allowed. */
	m.data_len = end - p;
	m.data = malloc(m.data_len + 1);
	FUZZ_CHECK(m.data != NULL);
	memcpy(m.data, p, m.data_len);

	all_utf8 = utf8_valid(m.mail_from, strlen(m.mail_from)) &&
	    utf8_valid(m.subject, strlen(m.subject));
	for (i = 0; i < m.nrcpt; i++)
		all_utf8 = all_utf8 &&
		    utf8_valid(m.rcpt_tos[i], strlen(m.rcpt_tos[i]));

	fz_message_reencode(&m, &back);
	if (all_utf8)
		fz_message_same(&m, &back);
	FUZZ_CHECK(back.data_len == m.data_len &&
	    memcmp(back.data, m.data, m.data_len) == 0);
	message_clear(&back);
	message_clear(&m);
}

static void
fz_message_decoded(const uint8_t *data, size_t size)
{
	struct message m, back;
	char err[256], why[256], id[33];
	int checked;

	memset(&back, 0, sizeof(back));
	checked = message_check((const char *)data, size, id, why, sizeof(why));
	if (message_decode((const char *)data, size, &m, err, sizeof(err)) == -1) {
		/* A refusal says why and leaves nothing allocated; the check
		 * refuses it too, for the same reason. */
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(m.mail_from == NULL && m.rcpt_tos == NULL &&
		    m.data == NULL);
		FUZZ_CHECK(checked == -1 && strcmp(why, err) == 0);
		return;
	}
	/* What the check passes is served as it is: the same message. */
	FUZZ_CHECK(checked == 0 && strcmp(id, m.id) == 0);
	FUZZ_CHECK(m.mail_from != NULL && m.nrcpt > 0 && m.data != NULL);
	fz_message_reencode(&m, &back);
	fz_message_same(&m, &back);
	message_clear(&back);
	message_clear(&m);
}

int fuzz_message(const uint8_t *data, size_t size);

int
fuzz_message(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fz_message_built(data + 1, size - 1);
	else
		fz_message_decoded(data + 1, size - 1);
	return 0;
}

FUZZ_TARGET(fuzz_message)
