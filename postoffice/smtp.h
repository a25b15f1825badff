/*
 * smtp.h - one SMTP server session (RFC 5321 with SIZE, 8BITMIME,
 * SMTPUTF8, PIPELINING and ENHANCEDSTATUSCODES) as pure logic: bytes go in
 * through smtp_session_feed(), replies and message data come out through
 * callbacks.  Nothing here touches a socket, a file, a clock or a log, so
 * the whole protocol can be driven by unit tests and fuzzers.
 *
 * The end of DATA is the one asynchronous step: when the final dot
 * arrives the session asks its owner to commit the message (data_end) and
 * stops consuming input until the owner reports the outcome with
 * smtp_session_committed().  Pipelined commands that followed the dot
 * stay with the caller, unconsumed, and are fed again afterwards, so
 * they are answered in order and never lost.
 */
#ifndef POSTOFFICE_SMTP_H
#define POSTOFFICE_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/limits.h"

/* What to do with a bare <LF> or bare <CR> (SMTP smuggling,
 * CVE-2023-51764).  Either way only <CRLF>.<CRLF> ends the data. */
enum smtp_bare_newline {
	SMTP_BARE_REJECT,	/* DATA: read to the end, then 550 5.5.2; a
				 * command line ending in a bare <LF>: 550
				 * 5.5.2, not run */
	SMTP_BARE_NORMALIZE,	/* store each bare <LF> or <CR> as <CRLF>;
				 * a command line may end in a bare <LF> */
};

/* The longest host name in replies: a DNS name is at most 253 octets
 * written out (RFC 1035 3.1 counts 255 on the wire). */
#define SMTP_HOSTNAME_MAX 253

struct smtp_config {
	const char *hostname;	/* in the greeting, EHLO and 421 replies;
				 * must pass smtp_hostname_ok() */
	size_t max_size;	/* message octets after dot-unstuffing */
	size_t max_rcpt;	/* recipients per transaction */
	size_t max_line;	/* command line octets, CRLF included */
	enum smtp_bare_newline bare_newline;
};

/* Defaults: Postfix's smtpd_recipient_limit and the command line length
 * of RFC 5321 4.5.3.1.4 (the size limit is LIMIT_MESSAGE_SIZE). */
#define SMTP_DEFAULT_MAX_RCPT 1000
#define SMTP_DEFAULT_MAX_LINE 512
#define SMTP_MIN_LINE 64

/* How the session opens (RFC 5321 3.1). */
enum smtp_greeting {
	SMTP_GREET_OK,		/* 220: serve the client */
	SMTP_GREET_DENIED,	/* 554: client not allowed, then close */
	SMTP_GREET_BUSY,	/* 421: too many connections, then close */
};

/* True when name can be the server's name in replies: 1 to
 * SMTP_HOSTNAME_MAX octets, dot-separated labels of letters, digits and
 * hyphens (RFC 1123 2.1), 63 octets at most, neither starting nor ending
 * with a hyphen. */
bool smtp_hostname_ok(const char *name);

/* The one reply line (CRLF included) of a greeting that refuses the
 * client: how is SMTP_GREET_DENIED or SMTP_GREET_BUSY.  Lets a server
 * answer and close without making a session.  Returns its length, or
 * 0 for SMTP_GREET_OK. */
size_t smtp_refusal(const struct smtp_config *cfg, enum smtp_greeting how,
    const char *client, char *buf, size_t len);
/* The largest buffer smtp_refusal() needs. */
#define SMTP_REFUSAL_MAX 512

/* The transaction as the client gave it. */
struct smtp_envelope {
	char *mail_from;	/* NULL before MAIL; "" for the null sender */
	char **rcpt;
	size_t nrcpt;
	bool smtputf8;		/* MAIL ... SMTPUTF8 (RFC 6531) */
	bool body_8bit;		/* MAIL ... BODY=8BITMIME (RFC 6152) */
};

struct smtp_callbacks {
	/* One or more complete reply lines, each ending in CRLF. */
	void (*reply)(void *arg, const char *buf, size_t len);
	/* DATA was accepted: prepare to receive.  Returns 0, or -1 to make
	 * the session answer 451 4.3.0 instead of 354. */
	int (*data_begin)(void *arg, const struct smtp_envelope *env);
	/* Message bytes, dot-unstuffed, in order.  Returns 0, or -1: the
	 * rest is read and dropped and the client gets 451 4.3.0. */
	int (*data_write)(void *arg, const void *buf, size_t len);
	/* The final dot arrived and the message is acceptable: commit it
	 * and then call smtp_session_committed() (possibly from inside this
	 * callback).  size is the number of octets written. */
	void (*data_end)(void *arg, const struct smtp_envelope *env,
	    size_t size);
	/* Forget what data_write delivered (too big, bare newline, RSET,
	 * session freed mid-DATA). */
	void (*data_abort)(void *arg);
	/* The session is over (after 221, 421): close the connection once
	 * the replies are sent. */
	void (*close)(void *arg);
};

struct smtp_session;

/* A new session for the client whose numeric address is client (copied).
 * cfg is copied too; cfg->hostname must outlive the session.  cb and arg
 * are kept.  Returns NULL when out of memory, or with errno EINVAL when
 * cfg->hostname fails smtp_hostname_ok() (every reply must have room
 * for it).  Nothing is sent before smtp_session_start(). */
struct smtp_session *smtp_session_new(const struct smtp_config *cfg,
    const struct smtp_callbacks *cb, void *arg, const char *client);
/* Aborts any data in progress (data_abort) and frees s.  Accepts NULL. */
void smtp_session_free(struct smtp_session *s);

/* Sends the greeting; with SMTP_GREET_DENIED or SMTP_GREET_BUSY also
 * closes. */
void smtp_session_start(struct smtp_session *s, enum smtp_greeting how);

/* Processes input.  Returns how many of the len bytes were consumed; the
 * caller keeps the rest and feeds it again later.  Fewer than len are
 * consumed only while the session waits for a commit (see
 * smtp_session_waiting) or after it closed. */
size_t smtp_session_feed(struct smtp_session *s, const void *buf,
    size_t len);

/* The outcome of data_end: id is the queue id (250 2.0.0 Ok: queued as
 * ID), NULL for a failure (451 4.3.0).  The session then accepts input
 * again; feed it what it left unconsumed. */
void smtp_session_committed(struct smtp_session *s, const char *id);
/* The other outcome of data_end: the spool file made for the message
 * would be over the spool's limit (552 5.3.4, as Postfix's "message file
 * too big"); nothing was queued.  The session then accepts input again. */
void smtp_session_too_big(struct smtp_session *s);

/* The client was idle (or too slow during DATA) for too long: 421 4.4.2
 * and close. */
void smtp_session_timeout(struct smtp_session *s);
/* The server is stopping: 421 4.3.2 and close.  Data in progress is
 * dropped. */
void smtp_session_shutdown(struct smtp_session *s);

/* True while the session waits for smtp_session_committed(). */
bool smtp_session_waiting(const struct smtp_session *s);
/* True while receiving message data. */
bool smtp_session_in_data(const struct smtp_session *s);
/* True from MAIL until the transaction ends (reply to the final dot,
 * RSET, or a refused DATA). */
bool smtp_session_in_transaction(const struct smtp_session *s);
/* The name the client gave in its last HELO or EHLO (the argument's
 * first word); "" before one, or when it was longer than 255 octets. */
const char *smtp_session_helo(const struct smtp_session *s);
/* True once the session has closed (close callback called). */
bool smtp_session_closed(const struct smtp_session *s);

/* --- the parts below are exported for unit tests and fuzzers --- */

/* Command verbs known to the session. */
enum smtp_verb {
	SMTP_UNKNOWN = 0,
	SMTP_HELO, SMTP_EHLO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_RSET,
	SMTP_NOOP, SMTP_QUIT, SMTP_VRFY, SMTP_HELP,
};

/* Splits a command line (without CRLF, NUL-terminated) into its verb and
 * the argument text after the verb and its blanks (never NULL).  The verb
 * is case-insensitive (RFC 5321 2.4). */
enum smtp_verb smtp_parse_verb(const char *line, const char **args);

/* MAIL / RCPT argument parsing (RFC 5321 4.1.2): args is what follows
 * the verb, e.g. "FROM:<a@b> SIZE=10".  prefix is "FROM:" or "TO:".
 * On success copies the address (source route dropped, brackets removed)
 * into addr (at least MESSAGE_ADDR_MAX + 1 bytes) and points *params at
 * the parameter text (never NULL).  Returns 0, or -1 on a syntax error
 * (-2 when the brackets are right but the address is too long). */
int smtp_parse_path(const char *args, const char *prefix, char *addr,
    size_t addrlen, const char **params);

/* The MAIL parameters of RFC 1870, 6152 and 6531. */
struct smtp_mail_params {
	unsigned long long size;	/* 0 when not given */
	bool body_8bit, smtputf8;
};
enum smtp_param_error {
	SMTP_PARAM_OK,
	SMTP_PARAM_BAD_SIZE,		/* SIZE= not a decimal number */
	SMTP_PARAM_BAD_BODY,		/* BODY= neither 7BIT nor 8BITMIME */
	SMTP_PARAM_UNKNOWN,		/* anything else */
};
/* Parses space-separated "KEY[=VALUE]" parameters.  On an error *bad
 * points at the offending parameter. */
enum smtp_param_error smtp_parse_mail_params(const char *params,
    struct smtp_mail_params *mp, const char **bad);

#endif
