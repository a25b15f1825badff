/*
 * fuzz_lease.c - PostMan's validation of PostMaster's answer to POST
 * /lease, on arbitrary bytes.
 *
 * Input: byte 0 chooses the limits, the rest is the response body.
 * Properties checked:
 *   - a refused response leaves the lease empty and says why;
 *   - an accepted one has at most max_messages messages; with any, a
 *     valid lease token and an expiry; every message has a valid,
 *     distinct id; one that breaks the spool rule is a refusal of its
 *     own ("not a spool message: ..."); every other has a sender, at
 *     least one recipient and its data;
 *   - a message without a refusal has only addresses a delivery backend
 *     may be given (checked here independently of common/addr.c): no
 *     leading '-', no blank, control character or angle bracket, at most
 *     254 octets, recipients not empty, not over max_recipients;
 *   - a refusal reason is printable ASCII: it goes into log lines and
 *     into the fail request;
 *   - the same bytes taken as an error response (lease_error_text) give
 *     a reason that is not empty, fits its buffer and has no control
 *     character, whatever the buffer's size.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "postman/lease.h"
#include "tests/fuzz/fuzz.h"

static bool
fz_lease_addr_safe(const char *a, bool sender)
{
	size_t i, len = strlen(a);

	if (len == 0)
		return sender;
	if (len > MESSAGE_ADDR_MAX || a[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

static void
fz_lease_error_text(const uint8_t *data, size_t size, size_t outlen)
{
	char out[256];
	size_t i, n;

	memset(out, 'X', sizeof(out));
	lease_error_text((const char *)data, size, out, outlen);
	n = strnlen(out, outlen);
	FUZZ_CHECK(n < outlen);
	FUZZ_CHECK(outlen == 1 || n > 0);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
	for (i = outlen; i < sizeof(out); i++)
		FUZZ_CHECK(out[i] == 'X');
}

int fuzz_lease(const uint8_t *data, size_t size);

int
fuzz_lease(const uint8_t *data, size_t size)
{
	struct lease_limits lim;
	struct lease l;
	char err[512];
	size_t i, j;
	const char *r;

	if (size < 1)
		return 0;
	lim.max_messages = data[0] & 1 ? 2 : 0;
	lim.max_recipients = data[0] & 2 ? 1 : 100;
	fz_lease_error_text(data + 1, size - 1, 1 + (data[0] >> 2));
	data++;
	size--;

	err[0] = '\0';
	if (lease_parse((const char *)data, size, &lim, &l, err,
	    sizeof(err)) == -1) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(l.n == 0 && l.msgs == NULL && l.id[0] == '\0' &&
		    l.expires == 0);
		lease_clear(&l);
		return 0;
	}
	if (lim.max_messages > 0)
		FUZZ_CHECK(l.n <= lim.max_messages);
	if (l.n > 0) {
		FUZZ_CHECK(spool_lease_valid(l.id));
		FUZZ_CHECK(l.expires > 0);
	}
	for (i = 0; i < l.n; i++) {
		const struct message *m = &l.msgs[i].m;

		FUZZ_CHECK(spool_id_valid(m->id));
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(m->id, l.msgs[j].m.id) != 0);
		for (r = l.msgs[i].refusal; *r != '\0'; r++)
			FUZZ_CHECK(*r >= 0x20 && *r < 0x7f);
		FUZZ_CHECK(m->mail_from != NULL);
		if (strncmp(l.msgs[i].refusal, "not a spool message: ", 21) == 0)
			continue;
		FUZZ_CHECK(m->nrcpt > 0 && m->data != NULL);
		if (l.msgs[i].refusal[0] != '\0')
			continue;
		FUZZ_CHECK(m->nrcpt <= lim.max_recipients);
		FUZZ_CHECK(fz_lease_addr_safe(m->mail_from, true));
		for (j = 0; j < m->nrcpt; j++)
			FUZZ_CHECK(fz_lease_addr_safe(m->rcpt_tos[j], false));
	}
	lease_clear(&l);
	return 0;
}

FUZZ_TARGET(fuzz_lease)
