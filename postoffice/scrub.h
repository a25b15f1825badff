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
 * Everything else, and the body, passes through byte for byte.  The
 * scrubber is pure: it holds at most one field name of state, never
 * allocates, and writes only through the caller's sink.
 */
#ifndef POSTOFFICE_SCRUB_H
#define POSTOFFICE_SCRUB_H

#include <stdbool.h>
#include <stddef.h>

/* Longest field name looked at; a longer name cannot be one we remove. */
#define SCRUB_NAME_MAX 64

enum scrub_state {
	SCRUB_LINE_START,	/* at the start of a header line */
	SCRUB_NAME,		/* reading a field name up to its colon */
	SCRUB_KEEP,		/* inside a kept field's line */
	SCRUB_DROP,		/* inside a removed field's line */
	SCRUB_BODY,		/* past the header section */
};

struct scrub {
	enum scrub_state state;
	bool dropping;		/* the current field is being removed */
	bool passthrough;	/* remove nothing */
	size_t namelen;
	char name[SCRUB_NAME_MAX];
};

/* Receives output bytes; returns 0 or -1 (then scrub_feed fails). */
typedef int (*scrub_sink)(void *arg, const void *buf, size_t len);

/* Starts a message.  With passthrough nothing is removed. */
void scrub_init(struct scrub *sc, bool passthrough);
/* Feeds the next len bytes of the message, in any split.  Returns 0, or
 * -1 when the sink failed. */
int scrub_feed(struct scrub *sc, const void *buf, size_t len,
    scrub_sink sink, void *arg);
/* Ends the message, writing out a field name still held back.  0 or -1. */
int scrub_finish(struct scrub *sc, scrub_sink sink, void *arg);
/* True when name (len octets, no colon) names a field that is removed. */
bool scrub_field_removed(const char *name, size_t len);

#endif
