/*
 * scrub.c - streaming removal of trace header fields (see scrub.h).
 */
#include "postoffice/scrub.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const removed[] = {
	"Received",
	"X-Originating-IP",
	"X-PHP-Originating-Script",
	"X-PHP-Script",
};

/* RFC 5322 3.6.4 (Message-ID) and 3.6.6 (Resent-Message-ID). */
static const char *const msgid_fields[] = {
	"Message-ID",
	"Resent-Message-ID",
};

static bool
name_in(const char *name, size_t len, const char *const *list, size_t n)
{
	size_t i;

	/* RFC 5322 4.5 (obsolete syntax) allows blanks before the colon. */
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && strncasecmp(name, list[i], len) == 0)
			return true;
	return false;
}

bool
scrub_field_removed(const char *name, size_t len)
{
	return name_in(name, len, removed, sizeof(removed) / sizeof(removed[0]));
}

bool
scrub_field_is_msgid(const char *name, size_t len)
{
	return name_in(name, len, msgid_fields,
	    sizeof(msgid_fields) / sizeof(msgid_fields[0]));
}

void
scrub_init(struct scrub *sc, bool passthrough)
{
	memset(sc, 0, sizeof(*sc));
	sc->passthrough = passthrough;
	sc->state = passthrough ? SCRUB_BODY : SCRUB_LINE_START;
}

/* A word that can stand in an msg-id (RFC 5322 3.6.4) and in a HELO
 * argument: no controls, blanks, angle brackets or "@".  8-bit octets
 * are allowed for internationalized domains (RFC 6532 3.2). */
static bool
id_word_ok(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max)
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = *s;
		if (c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == '@')
			return false;
	}
	return true;
}

bool
scrub_domain_ok(const char *s)
{
	return *s != '\0' && id_word_ok(s, SCRUB_DOMAIN_MAX);
}

int
scrub_set_msgid(struct scrub *sc, const char *helo, const char *domain,
    const char *idleft)
{
	if (helo == NULL || *helo == '\0') {
		sc->helo[0] = '\0';
		return 0;
	}
	if (domain == NULL)
		domain = "";
	if (idleft == NULL || *idleft == '\0' ||
	    !id_word_ok(helo, SCRUB_DOMAIN_MAX) ||
	    !id_word_ok(domain, SCRUB_DOMAIN_MAX) ||
	    !id_word_ok(idleft, SCRUB_IDLEFT_MAX))
		return -1;
	snprintf(sc->helo, sizeof(sc->helo), "%s", helo);
	/* An id naming the client again would leak just the same. */
	if (strcasecmp(domain, helo) == 0)
		domain = "";
	snprintf(sc->domain, sizeof(sc->domain), "%s", domain);
	snprintf(sc->idleft, sizeof(sc->idleft), "%s", idleft);
	return 0;
}

/* Writes out the held-back field name and continues in the kept line. */
static int
release_name(struct scrub *sc, scrub_sink sink, void *arg)
{
	int rc = 0;

	if (sc->namelen > 0)
		rc = sink(arg, sc->name, sc->namelen);
	sc->namelen = 0;
	return rc;
}

/* True when the held field's identifier has the client's HELO name as
 * its id-right: the text between the last "@" and the ">" after it. */
static bool
held_names_client(const struct scrub *sc)
{
	const char *h = sc->hold, *gt = NULL, *at = NULL;
	size_t i, len;

	for (i = sc->holdlen; i > 0; i--)
		if (h[i - 1] == '>') {
			gt = h + i - 1;
			break;
		}
	if (gt == NULL)
		return false;
	for (i = gt - h; i > 0 && h[i - 1] != '<'; i--)
		if (h[i - 1] == '@') {
			at = h + i - 1;
			break;
		}
	if (at == NULL)
		return false;
	len = gt - at - 1;
	return len == strlen(sc->helo) && strncasecmp(at + 1, sc->helo, len) == 0;
}

/* Ends the held identifier field: writes it unchanged, rewritten as
 * "NAME: <IDLEFT@DOMAIN>" with the field's own name and line end, or
 * not at all. */
static int
release_held(struct scrub *sc, scrub_sink sink, void *arg)
{
	char line[SCRUB_NAME_MAX + SCRUB_IDLEFT_MAX + SCRUB_DOMAIN_MAX + 16];
	const char *colon, *eol;
	size_t namelen;
	int n;

	sc->holding = false;
	if (!held_names_client(sc))
		return sink(arg, sc->hold, sc->holdlen);
	if (sc->domain[0] == '\0')
		return 0;
	colon = memchr(sc->hold, ':', sc->holdlen);
	namelen = colon - sc->hold;	/* a held field has its colon */
	if (sc->holdlen >= 2 && memcmp(sc->hold + sc->holdlen - 2, "\r\n", 2) == 0)
		eol = "\r\n";
	else if (sc->hold[sc->holdlen - 1] == '\n')
		eol = "\n";
	else
		eol = "";
	n = snprintf(line, sizeof(line), "%.*s: <%s@%s>%s", (int)namelen,
	    sc->hold, sc->idleft, sc->domain, eol);
	return sink(arg, line, (size_t)n);
}

/* Adds n octets of an identifier field to the held text; when it would
 * grow beyond SCRUB_HOLD_MAX the field is not one we made, and it is
 * written out and kept as it is. */
static int
hold(struct scrub *sc, const char *p, size_t n, scrub_sink sink, void *arg)
{
	if (sc->holdlen + n <= sizeof(sc->hold)) {
		memcpy(sc->hold + sc->holdlen, p, n);
		sc->holdlen += n;
		return 0;
	}
	sc->holding = false;
	if (sink(arg, sc->hold, sc->holdlen) == -1)
		return -1;
	sc->state = SCRUB_KEEP;
	return sink(arg, p, n);
}

/* A field name has just ended at its colon: decide the field's fate. */
static int
name_done(struct scrub *sc, scrub_sink sink, void *arg)
{
	if (scrub_field_removed(sc->name, sc->namelen)) {
		sc->namelen = 0;
		sc->dropping = true;
		sc->state = SCRUB_DROP;
		return 0;
	}
	if (sc->helo[0] != '\0' && scrub_field_is_msgid(sc->name, sc->namelen)) {
		memcpy(sc->hold, sc->name, sc->namelen);
		sc->holdlen = sc->namelen;
		sc->namelen = 0;
		sc->holding = true;
		sc->state = SCRUB_HOLD;
		return 0;
	}
	sc->state = SCRUB_KEEP;
	return release_name(sc, sink, arg);
}

int
scrub_feed(struct scrub *sc, const void *buf, size_t len, scrub_sink sink,
    void *arg)
{
	const char *p = buf, *end = p + len, *lf;
	size_t n;

	while (p < end) {
		switch (sc->state) {
		case SCRUB_BODY:
			return sink(arg, p, end - p);
		case SCRUB_LINE_START:
			if (*p == ' ' || *p == '\t') {
				/* A folded continuation line (RFC 5322
				 * 2.2.3) belongs to the field above. */
				sc->state = sc->dropping ? SCRUB_DROP :
				    sc->holding ? SCRUB_HOLD : SCRUB_KEEP;
				break;
			}
			if (sc->holding && release_held(sc, sink, arg) == -1)
				return -1;
			if (*p == '\r' || *p == '\n') {
				/* The empty line: the body follows. */
				sc->state = SCRUB_BODY;
			} else {
				sc->dropping = false;
				sc->namelen = 0;
				sc->state = SCRUB_NAME;
			}
			break;
		case SCRUB_NAME:
			if (*p == ':') {
				if (name_done(sc, sink, arg) == -1)
					return -1;
				break;	/* the colon is handled there */
			}
			if (sc->namelen == sizeof(sc->name) &&
			    (*p == ' ' || *p == '\t') &&
			    scrub_field_removed(sc->name, sc->namelen)) {
				/* A trace field's name padded with more blanks
				 * than the buffer holds: whatever follows, the
				 * line goes, or the padding would smuggle the
				 * field past us. */
				sc->namelen = 0;
				sc->dropping = true;
				sc->state = SCRUB_DROP;
				break;
			}
			if (*p == '\n' || sc->namelen == sizeof(sc->name)) {
				/* Not a field we remove (no colon, or a
				 * name longer than any of ours). */
				if (release_name(sc, sink, arg) == -1)
					return -1;
				sc->state = SCRUB_KEEP;
				break;
			}
			sc->name[sc->namelen++] = *p++;
			break;
		case SCRUB_KEEP:
		case SCRUB_DROP:
		case SCRUB_HOLD:
			lf = memchr(p, '\n', end - p);
			n = lf ? (size_t)(lf - p) + 1 : (size_t)(end - p);
			if (sc->state == SCRUB_KEEP && sink(arg, p, n) == -1)
				return -1;
			if (sc->state == SCRUB_HOLD &&
			    hold(sc, p, n, sink, arg) == -1)
				return -1;
			p += n;
			if (lf)
				sc->state = SCRUB_LINE_START;
			break;
		}
	}
	return 0;
}

int
scrub_finish(struct scrub *sc, scrub_sink sink, void *arg)
{
	int rc = 0;

	if (sc->state == SCRUB_NAME)
		rc = release_name(sc, sink, arg);
	else if (sc->holding)
		rc = release_held(sc, sink, arg);
	sc->state = SCRUB_BODY;
	return rc;
}
