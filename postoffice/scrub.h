/*
 * scrub.h - removes upstream trace header fields from a message as it
 * streams past, so that the mail leaving through PostMan does not reveal
 * the host it came from.
 *
 * Removed, in the header section only (RFC 5322 2.2, up to the first
 * empty line), whole fields including their folded continuation lines,
 * names compared case-insensitively:
 *
 *   Received                  every hop's host names and addresses
 *   X-Originating-IP          the web client's or backend's address
 *   X-PHP-Originating-Script  PHP's mail.add_x_header: uid and script
 *   X-PHP-Script              older PHP patches: host, script and client
 *
 * A backend's mailer also names its host in the message identifiers it
 * makes up: nullmailer writes "Message-Id: <TIME.PID.nullmailer@ME>" with
 * ME the name it gives in HELO.  Once scrub_set_msgid() has been told the
 * client's HELO name, a Message-ID or Resent-Message-ID field (RFC 5322
 * 3.6.4, 3.6.6) whose id-right equals that name is replaced by
 * "<ID@DOMAIN>", or removed when there is no DOMAIN.  Other identifiers
 * are the sender's own and pass untouched.
 *
 * Everything else, and the body, passes through byte for byte.  The
 * scrubber is pure: it holds at most one field name, or one identifier
 * field, of state, never allocates, and writes only through the caller's
 * sink.
 */
#ifndef POSTOFFICE_SCRUB_H
#define POSTOFFICE_SCRUB_H

#include <stdbool.h>
#include <stddef.h>

/* Longest field name looked at; a longer name cannot be one we remove. */
#define SCRUB_NAME_MAX 64
/* Longest identifier field held back to be looked at, folded lines
 * included: RFC 5322 2.1.1's line limit.  A longer one passes as it is. */
#define SCRUB_HOLD_MAX 1000
/* Longest HELO name or domain (RFC 1035 2.3.4), and new id-left. */
#define SCRUB_DOMAIN_MAX 255
#define SCRUB_IDLEFT_MAX 64

enum scrub_state {
	SCRUB_LINE_START,	/* at the start of a header line */
	SCRUB_NAME,		/* reading a field name up to its colon */
	SCRUB_KEEP,		/* inside a kept field's line */
	SCRUB_DROP,		/* inside a removed field's line */
	SCRUB_HOLD,		/* inside an identifier field, held back */
	SCRUB_BODY,		/* past the header section */
};

struct scrub {
	enum scrub_state state;
	bool dropping;		/* the current field is being removed */
	bool holding;		/* the current field is held back */
	bool passthrough;	/* remove nothing */
	size_t namelen;
	char name[SCRUB_NAME_MAX];
	/* identifier rewriting (scrub_set_msgid); helo "" turns it off */
	char helo[SCRUB_DOMAIN_MAX + 1];
	char domain[SCRUB_DOMAIN_MAX + 1];
	char idleft[SCRUB_IDLEFT_MAX + 1];
	size_t holdlen;
	char hold[SCRUB_HOLD_MAX];
};

/* Receives output bytes; returns 0 or -1 (then scrub_feed fails). */
typedef int (*scrub_sink)(void *arg, const void *buf, size_t len);

/* Starts a message.  With passthrough nothing is removed. */
void scrub_init(struct scrub *sc, bool passthrough);
/* Turns on identifier rewriting for this message (call it before the
 * first scrub_feed): an identifier whose id-right is helo (the client's
 * HELO name, compared without regard to case) becomes <idleft@domain>.
 * With domain NULL or "", or domain equal to helo, such a field is
 * removed instead.  helo NULL or "" leaves identifiers alone.  The strings
 * are copied.  Returns 0, or -1 (nothing changed) when one is too long or
 * holds a character that cannot be in an identifier. */
int scrub_set_msgid(struct scrub *sc, const char *helo, const char *domain,
    const char *idleft);
/* Feeds the next len bytes of the message, in any split.  Returns 0, or
 * -1 when the sink failed. */
int scrub_feed(struct scrub *sc, const void *buf, size_t len,
    scrub_sink sink, void *arg);
/* Ends the message, writing out a field name still held back.  0 or -1. */
int scrub_finish(struct scrub *sc, scrub_sink sink, void *arg);
/* True when name (len octets, no colon) names a field that is removed. */
bool scrub_field_removed(const char *name, size_t len);
/* True when s can be the DOMAIN of a new identifier: 1 to 255 octets, no
 * controls, blanks, "<", ">" or "@". */
bool scrub_domain_ok(const char *s);
/* True when name (len octets, no colon) is Message-ID or
 * Resent-Message-ID. */
bool scrub_field_is_msgid(const char *name, size_t len);

#endif
