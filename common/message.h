/*
 * message.h - the spool file format: one JSON object per message.
 *
 *   {"id": "<32 hex>", "mail_from": "a@b" (or "" for <>),
 *    "rcpt_tos": ["c@d", ...], "subject": "...", "body": "...",
 *    "timestamp": "2026-11-25T15:27:30.123Z", "client": "127.0.0.1",
 *    "size": N, "attempts": N, "last_error": "..." or absent,
 *    "data": "<raw message>"  or  "data_base64": "<raw message, base64>"}
 *
 * "data" holds the raw message when its bytes are valid UTF-8 without NUL;
 * otherwise "data_base64" holds it (RFC 4648 base64).  Either way the raw
 * bytes round-trip exactly.  Text fields are written as UTF-8: an octet of
 * a field that is not is written as U+FFFD.  "data"/"data_base64" is written last so that
 * a large message can be streamed.
 *
 * Nothing here logs, prints or exits.
 */
#ifndef POSTOFFICE_MESSAGE_H
#define POSTOFFICE_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest path and address RFC 5321 4.5.3.1 allows (reverse/forward-path
 * 256 octets including the angle brackets, so 254 without). */
#define MESSAGE_ADDR_MAX 254

struct message {
	char id[33];		/* "" when unknown */
	char *mail_from;	/* never NULL once decoded; "" for <> */
	char **rcpt_tos;
	size_t nrcpt;
	char *subject;		/* NULL when absent */
	size_t subject_len;	/* its length; 0: strlen(subject) */
	char *body;		/* NULL when absent */
	size_t body_len;	/* its length; 0: strlen(body) */
	char *timestamp;	/* NULL when absent */
	char *client;		/* NULL when absent */
	unsigned char *data;	/* raw message bytes, data_len of them */
	size_t data_len;
	long attempts;
	char *last_error;	/* NULL when absent */
};

/* Frees every field and zeroes m.  Accepts a zeroed message. */
void message_clear(struct message *m);

/*
 * The rule (one walk, so the two functions cannot disagree): json is a
 * spool object when it is one JSON object (RFC 8259) in UTF-8 with
 * nothing after it; mail_from (string), rcpt_tos (non-empty array of
 * strings) and exactly one of data / data_base64 (string; base64 must be
 * strict RFC 4648) are present; optional fields have their types; no
 * member of the format appears twice or under an escaped name; nesting
 * is at most JSON_DEPTH_MAX deep; id, when present, is a spool id; and
 * id, mail_from, rcpt_tos, timestamp, client and last_error hold no NUL.
 * Such a text can be served byte for byte as a JSON value of its own.
 *
 * message_check() applies the rule without copying anything and fills id
 * ("" when the object has none); message_decode() applies it and fills m
 * (caller clears it), data, subject and body with their lengths (a NUL
 * in them is kept).  Both return 0, or -1 with the reason in err.
 */
int message_check(const char *json, size_t len, char id[33], char *err,
    size_t errlen);
int message_decode(const char *json, size_t len, struct message *m,
    char *err, size_t errlen);

/* Called by message_write_json to emit bytes; returns 0 or -1. */
typedef int (*message_sink)(void *arg, const void *buf, size_t len);
/* Called to fetch raw data: returns bytes read, 0 at end, -1 on error. */
typedef ssize_t (*message_source)(void *arg, void *buf, size_t len);

/* Writes m as one JSON object through sink.  The raw data comes from
 * m->data when it is not NULL, else from source (streamed in chunks);
 * data_utf8 says whether it is valid UTF-8 without NUL (see utf8.h) and so
 * which of data / data_base64 is written.  Returns 0, or -1 when the sink
 * or the source failed. */
int message_write_json(const struct message *m, bool data_utf8,
    message_source source, void *source_arg, message_sink sink,
    void *sink_arg);

/* The whole object in a malloc'd NUL-terminated string (length in *len
 * when len is not NULL), with data taken from m->data. */
char *message_encode(const struct message *m, size_t *len);

/* Now as an ISO 8601 UTC timestamp with milliseconds, "...Z". */
void message_timestamp(char buf[32]);

#endif
