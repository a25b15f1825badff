/*
 * scrub.h - removes upstream trace header fields from a message as it
 * streams past, and rewrites the identifiers that name the backend host,
 * so that the mail leaving through PostMan does not reveal the host it
 * came from.
 *
 * Removed, in the message's header section only (RFC 5322 2.2, up to the
 * first empty line), whole fields including their folded continuation
 * lines, names compared case-insensitively:
 *
 *   Received                  every hop's host names and addresses
 *   X-Originating-IP          the web client's or backend's address
 *   X-PHP-Originating-Script  PHP's mail.add_x_header: uid and script
 *   X-PHP-Script              older PHP patches: host, script and client
 *
 * Identifiers.  A backend's mailer names its host in the identifiers it
 * makes up: nullmailer writes "<TIME.PID.nullmailer@ME>", Ruby's mail gem
 * "<RANDOM@HOSTNAME.mail>", Python's make_msgid() "<...@FQDN>", Postfix,
 * Exim and dma "<...@myhostname>".  Once scrub_set_ids() has been called,
 * an identifier (RFC 5322 3.6.4 msg-id, RFC 2045 7 Content-ID) "names
 * the backend" when its id-right (after its last "@") is, compared
 * without regard to case,
 *
 *   - not the envelope sender's domain nor the public DOMAIN, and
 *   - the client's HELO name, or a name of one label (no dot: "vm",
 *     "localhost"), or an address literal ("[10.1.2.3]"), or a name whose
 *     first label is the first label of this host's name ("web1",
 *     "web1.example.org", "web1.mail" on host web1).
 *
 * Such an identifier becomes "<DIGEST@DOMAIN>", DIGEST being the first 32
 * hex digits of HMAC-SHA256(key, id-left "@" id-right).  The digest
 * depends only on the identifier, so every mention of it is rewritten
 * alike: in Message-ID, Resent-Message-ID, In-Reply-To, References and
 * Content-ID fields of the message header, in Content-ID fields of MIME
 * part headers, and in "cid:" URLs (RFC 2392) in text parts whose
 * Content-Transfer-Encoding is 7bit, 8bit, binary or quoted-printable --
 * in this message and in later ones (a thread stays a thread).
 * Identifiers that do not name the backend (the sender's own, a
 * correspondent's in References) pass byte for byte, as does every byte
 * of a field around the identifiers it holds.
 *
 * What cannot be rewritten, and so is not:
 *   - a "cid:" URL inside a base64 text part, or one spelled with a
 *     quoted-printable escape ("=40" for "@"): the scrubber sees encoded
 *     octets.  From a text/html part in an encoding other than the four
 *     above onwards, Content-IDs and "cid:" URLs are left as they are, so
 *     that the images such a part names still match (a multipart/related
 *     root comes first, RFC 2387 3.2);
 *   - parts of a multipart whose Content-Type field is longer than
 *     SCRUB_HOLD_MAX or nested deeper than SCRUB_DEPTH_MAX;
 *   - an identifier field longer than SCRUB_HOLD_MAX;
 *   - the header of a message/rfc822 part (another message, forwarded).
 *
 * Without a DOMAIN (the null sender and no configured domain) there is
 * nothing to rewrite into: Message-ID, Resent-Message-ID, In-Reply-To and
 * References fields holding an identifier that names the backend are
 * removed (none is required, RFC 5322 3.6.4); Content-IDs and "cid:"
 * URLs are kept, as removing them would break the message.
 *
 * Everything else, and every body that is not a multipart's, passes
 * through byte for byte.  The scrubber holds at most one field, one line
 * start and one URL of state, and writes only through the caller's sink;
 * it allocates only while digesting an identifier it rewrites.
 */
#ifndef POSTOFFICE_SCRUB_H
#define POSTOFFICE_SCRUB_H

#include <stdbool.h>
#include <stddef.h>

/* Longest field name looked at; a longer name cannot be one we remove. */
#define SCRUB_NAME_MAX 64
/* Longest field held back to be looked at, folded lines included: RFC
 * 5322 2.1.1's line limit.  A longer one passes as it is. */
#define SCRUB_HOLD_MAX 1000
/* Longest HELO name or domain (RFC 1035 2.3.4), and digest key. */
#define SCRUB_DOMAIN_MAX 255
#define SCRUB_KEY_MAX 64
/* Hex digits of the digest that makes a new id-left. */
#define SCRUB_DIGEST_LEN 32
/* Nested multiparts followed; RFC 2046 5.1.1's boundary length. */
#define SCRUB_DEPTH_MAX 8
#define SCRUB_BOUNDARY_MAX 70
/* Longest "cid:" URL looked at (without "cid:"); a longer one passes. */
#define SCRUB_URL_MAX 512

enum scrub_state {
	SCRUB_LINE_START,	/* at the start of a header line */
	SCRUB_NAME,		/* reading a field name up to its colon */
	SCRUB_KEEP,		/* inside a kept field's line */
	SCRUB_DROP,		/* inside a removed field's line */
	SCRUB_HOLD,		/* inside a field held back to be looked at */
	SCRUB_BODY,		/* past the last part we follow: pass all */
	SCRUB_MIME_START,	/* at the start of a multipart body line */
	SCRUB_MIME_DASH,	/* reading a body line that may be a boundary */
	SCRUB_MIME_LINE,	/* inside a multipart body line */
};

/* What a held field is. */
enum scrub_held {
	SCRUB_HELD_NONE,
	SCRUB_HELD_MSGID,	/* Message-ID, Resent-Message-ID */
	SCRUB_HELD_REFS,	/* In-Reply-To, References */
	SCRUB_HELD_CID,		/* Content-ID */
	SCRUB_HELD_TYPE,	/* Content-Type */
	SCRUB_HELD_CTE,		/* Content-Transfer-Encoding */
};

/* What is learned from a header section about the body after it. */
struct scrub_part {
	bool multipart;		/* Content-Type multipart/... */
	bool text;		/* text/... (or none: RFC 2045 5.2) */
	bool html;		/* text/html */
	bool encoded;		/* a CTE other than 7bit, 8bit, binary, QP */
	bool qp;		/* quoted-printable */
	char boundary[SCRUB_BOUNDARY_MAX + 1];
};

struct scrub {
	enum scrub_state state;
	bool dropping;		/* the current field is being removed */
	enum scrub_held held;	/* the current field is held back */
	bool passthrough;	/* remove nothing */
	bool in_part;		/* reading a MIME part's header section */
	bool ids;		/* identifiers are rewritten (scrub_set_ids) */
	bool opaque;		/* an unreadable text/html part went past */
	size_t namelen;
	char name[SCRUB_NAME_MAX];
	char helo[SCRUB_DOMAIN_MAX + 1];
	char host[SCRUB_DOMAIN_MAX + 1];	/* first label only */
	char sender[SCRUB_DOMAIN_MAX + 1];
	char domain[SCRUB_DOMAIN_MAX + 1];
	char key[SCRUB_KEY_MAX + 1];
	size_t holdlen;
	char hold[SCRUB_HOLD_MAX];
	/* MIME structure: the open multiparts' boundaries, innermost last */
	struct scrub_part part;	/* of the header section being read */
	size_t depth;
	char boundaries[SCRUB_DEPTH_MAX][SCRUB_BOUNDARY_MAX + 1];
	bool scan;		/* the current part's body is searched for cid: */
	bool scan_qp;		/* ... and it is quoted-printable */
	size_t linelen;		/* a body line that starts with "-" */
	char line[SCRUB_BOUNDARY_MAX + 8];
	/* a "cid:" URL being read: raw octets as received, the URL without
	 * quoted-printable soft line breaks, and where the match stands */
	size_t match;		/* octets of "cid:" matched, 0 to 4 */
	int soft;		/* 1 after "=", 2 after "=\r" (a soft break) */
	size_t rawlen, urllen;
	char prefix[4];
	char raw[2 * SCRUB_URL_MAX + 8];
	char url[SCRUB_URL_MAX + 1];
};

/* Receives output bytes; returns 0 or -1 (then scrub_feed fails). */
typedef int (*scrub_sink)(void *arg, const void *buf, size_t len);

/* Names for identifier rewriting.  Each may be NULL. */
struct scrub_names {
	const char *helo;	/* the client's HELO name; NULL or "": no
				 * rewriting at all */
	const char *host;	/* this host's name (gethostname) */
	const char *sender;	/* the envelope sender's domain */
	const char *domain;	/* id-right of rewritten identifiers; NULL
				 * or "": sender */
	const char *key;	/* digest key: a secret kept from the world,
				 * the same every time for a thread to stay
				 * one; NULL or "" is refused */
};

/* Starts a message.  With passthrough nothing is removed. */
void scrub_init(struct scrub *sc, bool passthrough);
/* Turns on identifier rewriting for this message (call it before the
 * first scrub_feed), see above.  The strings are copied.  A DOMAIN that
 * itself names the backend counts as none.  Returns 0, or -1 (nothing
 * changed) when one is too long or holds a character that cannot be in
 * an identifier. */
int scrub_set_ids(struct scrub *sc, const struct scrub_names *names);
/* The same with only helo, domain and key (no host, sender = domain). */
int scrub_set_msgid(struct scrub *sc, const char *helo, const char *domain,
    const char *key);
/* Feeds the next len bytes of the message, in any split.  Returns 0, or
 * -1 when the sink failed. */
int scrub_feed(struct scrub *sc, const void *buf, size_t len,
    scrub_sink sink, void *arg);
/* Ends the message, writing out whatever is still held back.  0 or -1. */
int scrub_finish(struct scrub *sc, scrub_sink sink, void *arg);
/* True when name (len octets, no colon) names a field that is removed. */
bool scrub_field_removed(const char *name, size_t len);
/* True when s can be the DOMAIN of a new identifier: 1 to 255 octets, no
 * controls, blanks, "<", ">" or "@". */
bool scrub_domain_ok(const char *s);
/* True when name (len octets, no colon) is Message-ID or
 * Resent-Message-ID. */
bool scrub_field_is_msgid(const char *name, size_t len);
/* True when id-right d (len octets) names the backend under the names
 * set by scrub_set_ids() (see above). */
bool scrub_names_backend(const struct scrub *sc, const char *d, size_t len);

#endif
