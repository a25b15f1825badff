/*
 * scrub.c - streaming removal of trace header fields (see scrub.h).
 */
#include "postoffice/scrub.h"

#include <string.h>
#include <strings.h>

static const char *const removed[] = {
	"Received",
	"X-Originating-IP",
	"X-PHP-Originating-Script",
	"X-PHP-Script",
};

bool
scrub_field_removed(const char *name, size_t len)
{
	size_t i;

	/* RFC 5322 4.5 (obsolete syntax) allows blanks before the colon. */
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	for (i = 0; i < sizeof(removed) / sizeof(removed[0]); i++)
		if (strlen(removed[i]) == len &&
		    strncasecmp(name, removed[i], len) == 0)
			return true;
	return false;
}

void
scrub_init(struct scrub *sc, bool passthrough)
{
	memset(sc, 0, sizeof(*sc));
	sc->passthrough = passthrough;
	sc->state = passthrough ? SCRUB_BODY : SCRUB_LINE_START;
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
				sc->state = sc->dropping ? SCRUB_DROP : SCRUB_KEEP;
			} else if (*p == '\r' || *p == '\n') {
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
				if (scrub_field_removed(sc->name, sc->namelen)) {
					sc->namelen = 0;
					sc->dropping = true;
					sc->state = SCRUB_DROP;
				} else {
					if (release_name(sc, sink, arg) == -1)
						return -1;
					sc->state = SCRUB_KEEP;
				}
				break;	/* the colon is handled there */
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
			lf = memchr(p, '\n', end - p);
			n = lf ? (size_t)(lf - p) + 1 : (size_t)(end - p);
			if (sc->state == SCRUB_KEEP && sink(arg, p, n) == -1)
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
	sc->state = SCRUB_BODY;
	return rc;
}
