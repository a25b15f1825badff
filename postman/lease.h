/*
 * lease.h - the answer to POST /lease, validated whole before anything in
 * it is used (see doc/http-interface.md):
 *
 *   {"lease": "<24 hex>", "expires": <unix seconds>, "messages": [...]}
 *   {"lease": null, "expires": null, "messages": []}
 *
 * Two kinds of trouble are told apart.  A response that is not of this
 * form - bad JSON, a wrong type outside the messages, a message that is
 * not an object or has no spool id, a repeated id - is refused whole:
 * nothing in it may be acknowledged.  A message that carries its id but
 * breaks the spool rule (message_decode(), the rule PostMaster applied
 * before serving it), or whose envelope could not be handed on safely - an
 * address starting with '-', holding whitespace, control characters, CR
 * or LF, over RFC 5321's lengths, or too many recipients - is kept with
 * its refusal reason: it is a permanent failure of that message alone,
 * reported as such, and it never reaches a delivery backend.  A message
 * refused by the rule has only its id (mail_from "", no recipients).
 */
#ifndef POSTMAN_LEASE_H
#define POSTMAN_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/message.h"
#include "common/spool.h"

#define LEASE_REFUSAL_MAX 400

struct leased {
	struct message m;
	/* Why the envelope is refused ("" when it is deliverable). */
	char refusal[LEASE_REFUSAL_MAX];
};

struct lease {
	char id[SPOOL_LEASE_LEN + 1];	/* "" when nothing was leased */
	time_t expires;			/* 0 when nothing was leased */
	struct leased *msgs;
	size_t n;
};

struct lease_limits {
	size_t max_messages;	/* more than this is malformed; 0: no limit */
	size_t max_recipients;	/* more than this refuses the message */
};

/* Parses and validates body (len bytes, need not be NUL-terminated).
 * Fills l (free with lease_clear) and returns 0, or returns -1 with a
 * one-line reason in err and l empty. */
int lease_parse(const char *body, size_t len, const struct lease_limits *lim,
    struct lease *l, char *err, size_t errlen);

/* Frees what lease_parse filled; accepts a zeroed lease. */
void lease_clear(struct lease *l);

/* The reason PostMaster gave with an error status: the "error" string of
 * a JSON body, else the start of the body (200 characters, then "..."),
 * cleaned as reason_clean does; "no details" when nothing is left.  body
 * (len octets, may be NULL when len is 0) need not be NUL-terminated. */
void lease_error_text(const char *body, size_t len, char *out, size_t outlen);

/* Writes addr into out for a log line or a reason: control characters
 * and non-ASCII bytes become '?', and more than max bytes are cut with
 * "...".  Returns out. */
char *addr_printable(char *out, size_t outlen, const char *addr, size_t max);

#endif
