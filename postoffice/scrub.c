/*
 * scrub.c - streaming removal of trace header fields and rewriting of
 * identifiers that name the backend (see scrub.h).
 */
#include "postoffice/scrub.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

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

/* RFC 5322 3.6.4: fields that name other messages' identifiers. */
static const char *const refs_fields[] = {
	"In-Reply-To",
	"References",
};

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

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

static bool
name_is(const char *name, size_t len, const char *one)
{
	return name_in(name, len, &one, 1);
}

bool
scrub_field_removed(const char *name, size_t len)
{
	return name_in(name, len, removed, NITEMS(removed));
}

bool
scrub_field_is_msgid(const char *name, size_t len)
{
	return name_in(name, len, msgid_fields, NITEMS(msgid_fields));
}

/* The part a header section describes before any field says otherwise:
 * text/plain in 7bit (RFC 2045 5.2, 6.1). */
static void
part_reset(struct scrub_part *p)
{
	memset(p, 0, sizeof(*p));
	p->text = true;
}

void
scrub_init(struct scrub *sc, bool passthrough)
{
	memset(sc, 0, sizeof(*sc));
	sc->passthrough = passthrough;
	sc->state = passthrough ? SCRUB_BODY : SCRUB_LINE_START;
	part_reset(&sc->part);
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

static bool
same(const char *d, size_t len, const char *s)
{
	return *s != '\0' && strlen(s) == len && strncasecmp(d, s, len) == 0;
}

/* True when d names this host or the client whatever the public names
 * are: the HELO name, one label, an address literal, or a name under
 * this host's first label. */
static bool
names_host(const struct scrub *sc, const char *d, size_t len)
{
	const char *dot;
	size_t hl;

	if (len == 0)
		return false;
	if (same(d, len, sc->helo) || d[0] == '[')
		return true;
	dot = memchr(d, '.', len);
	if (dot == NULL)
		return true;
	hl = strlen(sc->host);
	return hl > 0 && (size_t)(dot - d) == hl && strncasecmp(d, sc->host, hl) == 0;
}

bool
scrub_names_backend(const struct scrub *sc, const char *d, size_t len)
{
	if (same(d, len, sc->domain) || same(d, len, sc->sender))
		return false;
	return names_host(sc, d, len);
}

/* Copies s into a name buffer, or "" when it names the host itself (it
 * could not then hide the host). */
static void
set_public(struct scrub *sc, char *dst, size_t size, const char *s)
{
	snprintf(dst, size, "%s", s);
	if (names_host(sc, dst, strlen(dst)))
		dst[0] = '\0';
}

int
scrub_set_ids(struct scrub *sc, const struct scrub_names *n)
{
	const char *host = n->host ? n->host : "", *dot;
	const char *sender = n->sender ? n->sender : "";
	const char *domain = n->domain ? n->domain : "";

	if (n->helo == NULL || *n->helo == '\0') {
		sc->ids = false;
		return 0;
	}
	if (n->key == NULL || *n->key == '\0' ||
	    !id_word_ok(n->helo, SCRUB_DOMAIN_MAX) ||
	    !id_word_ok(host, SCRUB_DOMAIN_MAX) ||
	    !id_word_ok(sender, SCRUB_DOMAIN_MAX) ||
	    !id_word_ok(domain, SCRUB_DOMAIN_MAX) ||
	    strlen(n->key) > SCRUB_KEY_MAX)
		return -1;
	snprintf(sc->helo, sizeof(sc->helo), "%s", n->helo);
	/* Only the first label counts: "web1" for web1.example.org. */
	dot = strchr(host, '.');
	snprintf(sc->host, sizeof(sc->host), "%.*s",
	    (int)(dot ? (size_t)(dot - host) : strlen(host)), host);
	if (*domain == '\0')
		domain = sender;
	set_public(sc, sc->sender, sizeof(sc->sender), sender);
	set_public(sc, sc->domain, sizeof(sc->domain), domain);
	snprintf(sc->key, sizeof(sc->key), "%s", n->key);
	sc->ids = true;
	return 0;
}

int
scrub_set_msgid(struct scrub *sc, const char *helo, const char *domain,
    const char *key)
{
	struct scrub_names n = {
		.helo = helo, .sender = domain, .domain = domain, .key = key,
	};

	return scrub_set_ids(sc, &n);
}

/*
 * The HMAC-SHA256 (RFC 2104) of id under key, in hex.  Keying an HMAC
 * hashes the key's two padded blocks, half the cost of a short digest;
 * as the key is the same for every message of a process, the keyed
 * state is kept (one per thread, for the last key used) and copied for
 * each identifier.  g_free() the result.
 */
static gchar *
hmac_hex(const char *key, const char *id, size_t len)
{
	static _Thread_local GHmac *keyed;
	static _Thread_local char keyed_for[SCRUB_KEY_MAX + 1];
	GHmac *h;
	gchar *hex;

	if (keyed == NULL || strcmp(keyed_for, key) != 0) {
		if (keyed != NULL)
			g_hmac_unref(keyed);
		keyed = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)key,
		    strlen(key));
		snprintf(keyed_for, sizeof(keyed_for), "%s", key);
	}
	h = g_hmac_copy(keyed);
	g_hmac_update(h, (const guchar *)id, (gssize)len);
	hex = g_strdup(g_hmac_get_string(h));
	g_hmac_unref(h);
	return hex;
}

/* Writes "DIGEST@DOMAIN" for identifier id (len octets, no brackets). */
static int
write_new_id(const struct scrub *sc, const char *id, size_t len,
    scrub_sink sink, void *arg)
{
	char buf[SCRUB_DIGEST_LEN + 1 + SCRUB_DOMAIN_MAX + 1];
	gchar *hex;
	size_t dlen = strlen(sc->domain);

	hex = hmac_hex(sc->key, id, len);
	memcpy(buf, hex, SCRUB_DIGEST_LEN);
	buf[SCRUB_DIGEST_LEN] = '@';
	memcpy(buf + SCRUB_DIGEST_LEN + 1, sc->domain, dlen);
	g_free(hex);
	return sink(arg, buf, SCRUB_DIGEST_LEN + 1 + dlen);
}

/* True when identifier id (len octets, no brackets) is to be rewritten
 * in a field or URL of this kind. */
static bool
id_rewritten(const struct scrub *sc, const char *id, size_t len, bool cid)
{
	const char *at = NULL;
	size_t i;

	for (i = len; i > 0; i--)
		if (id[i - 1] == '@') {
			at = id + i - 1;
			break;
		}
	if (at == NULL || at == id)
		return false;
	if (cid && (sc->opaque || sc->domain[0] == '\0'))
		return false;
	return scrub_names_backend(sc, at + 1, len - (size_t)(at + 1 - id));
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

/* Writes the held identifier field with every "<ID>" that names the
 * backend rewritten, or, without a DOMAIN, not at all when one does
 * (Content-IDs then stay as they are). */
static int
release_ids(struct scrub *sc, bool cid, scrub_sink sink, void *arg)
{
	const char *h = sc->hold, *end = h + sc->holdlen, *p = h, *s, *lt, *gt;
	bool any = false;

	for (s = h; (lt = memchr(s, '<', (size_t)(end - s))) != NULL; s = gt + 1) {
		if ((gt = memchr(lt, '>', (size_t)(end - lt))) == NULL)
			break;
		if (id_rewritten(sc, lt + 1, (size_t)(gt - lt - 1), false))
			any = true;
	}
	if (!any)
		return sink(arg, h, sc->holdlen);
	if (sc->domain[0] == '\0')
		return cid ? sink(arg, h, sc->holdlen) : 0;
	for (s = h; (lt = memchr(s, '<', (size_t)(end - s))) != NULL; s = gt + 1) {
		if ((gt = memchr(lt, '>', (size_t)(end - lt))) == NULL)
			break;
		if (!id_rewritten(sc, lt + 1, (size_t)(gt - lt - 1), cid))
			continue;
		if (sink(arg, p, (size_t)(lt + 1 - p)) == -1 ||
		    write_new_id(sc, lt + 1, (size_t)(gt - lt - 1), sink, arg) == -1)
			return -1;
		p = gt;
	}
	return sink(arg, p, (size_t)(end - p));
}

static const char *
skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* Learns the type and boundary from a held Content-Type field (RFC 2045
 * 5.1, RFC 2046 5.1.1). */
static void
parse_type(struct scrub *sc)
{
	const char *p = memchr(sc->hold, ':', sc->holdlen) + 1;
	const char *end = sc->hold + sc->holdlen, *t, *v;
	struct scrub_part *pt = &sc->part;
	size_t n;

	p = skip_blanks(p, end);
	for (t = p; p < end && *p != ';' && *p != ' ' && *p != '\t' &&
	    *p != '\r' && *p != '\n' && *p != '('; p++)
		;
	n = (size_t)(p - t);
	pt->multipart = n > 10 && strncasecmp(t, "multipart/", 10) == 0;
	pt->text = n > 5 && strncasecmp(t, "text/", 5) == 0;
	pt->html = n == 9 && strncasecmp(t, "text/html", 9) == 0;
	pt->boundary[0] = '\0';
	while ((p = memchr(p, ';', (size_t)(end - p))) != NULL) {
		p = skip_blanks(p + 1, end);
		if ((size_t)(end - p) < 9 || strncasecmp(p, "boundary", 8) != 0)
			continue;
		p = skip_blanks(p + 8, end);
		if (p == end || *p != '=')
			continue;
		p = skip_blanks(p + 1, end);
		if (p < end && *p == '"') {
			v = ++p;
			while (p < end && *p != '"')
				p++;
		} else {
			for (v = p; p < end && *p != ';' && *p != ' ' &&
			    *p != '\t' && *p != '\r' && *p != '\n'; p++)
				;
		}
		n = (size_t)(p - v);
		if (n > 0 && n <= SCRUB_BOUNDARY_MAX) {
			memcpy(pt->boundary, v, n);
			pt->boundary[n] = '\0';
		}
		return;
	}
}

/* Learns the encoding from a held Content-Transfer-Encoding field. */
static void
parse_cte(struct scrub *sc)
{
	const char *p = memchr(sc->hold, ':', sc->holdlen) + 1;
	const char *end = sc->hold + sc->holdlen, *t;
	size_t n;

	p = skip_blanks(p, end);
	for (t = p; p < end && *p > ' ' && *p != '('; p++)
		;
	n = (size_t)(p - t);
	sc->part.qp = n == 16 && strncasecmp(t, "quoted-printable", 16) == 0;
	sc->part.encoded = !sc->part.qp &&
	    !(n == 4 && (strncasecmp(t, "7bit", 4) == 0 ||
	    strncasecmp(t, "8bit", 4) == 0)) &&
	    !(n == 6 && strncasecmp(t, "binary", 6) == 0);
}

/* Ends the held field: writes it, rewritten or not at all. */
static int
release_held(struct scrub *sc, scrub_sink sink, void *arg)
{
	enum scrub_held held = sc->held;

	sc->held = SCRUB_HELD_NONE;
	switch (held) {
	case SCRUB_HELD_MSGID:
	case SCRUB_HELD_REFS:
		return release_ids(sc, false, sink, arg);
	case SCRUB_HELD_CID:
		return release_ids(sc, true, sink, arg);
	case SCRUB_HELD_TYPE:
		parse_type(sc);
		break;
	case SCRUB_HELD_CTE:
		parse_cte(sc);
		break;
	case SCRUB_HELD_NONE:
		return 0;
	}
	return sink(arg, sc->hold, sc->holdlen);
}

/* Adds n octets of a held field; when it would grow beyond
 * SCRUB_HOLD_MAX the field is not one a mailer made up (or one we can
 * read), and it is written out and kept as it is. */
static int
hold(struct scrub *sc, const char *p, size_t n, scrub_sink sink, void *arg)
{
	if (sc->holdlen + n <= sizeof(sc->hold)) {
		memcpy(sc->hold + sc->holdlen, p, n);
		sc->holdlen += n;
		return 0;
	}
	sc->held = SCRUB_HELD_NONE;
	if (sink(arg, sc->hold, sc->holdlen) == -1)
		return -1;
	sc->state = SCRUB_KEEP;
	return sink(arg, p, n);
}

/* What a field of this name is held back as, or SCRUB_HELD_NONE. */
static enum scrub_held
held_kind(const struct scrub *sc)
{
	const char *n = sc->name;
	size_t len = sc->namelen;

	if (!sc->ids)
		return SCRUB_HELD_NONE;
	if (name_is(n, len, "Content-ID"))
		return SCRUB_HELD_CID;
	if (name_is(n, len, "Content-Type"))
		return SCRUB_HELD_TYPE;
	if (name_is(n, len, "Content-Transfer-Encoding"))
		return SCRUB_HELD_CTE;
	if (sc->in_part)
		return SCRUB_HELD_NONE;
	if (scrub_field_is_msgid(n, len))
		return SCRUB_HELD_MSGID;
	if (name_in(n, len, refs_fields, NITEMS(refs_fields)))
		return SCRUB_HELD_REFS;
	return SCRUB_HELD_NONE;
}

/* A field name has just ended at its colon: decide the field's fate. */
static int
name_done(struct scrub *sc, scrub_sink sink, void *arg)
{
	if (!sc->in_part && scrub_field_removed(sc->name, sc->namelen)) {
		sc->namelen = 0;
		sc->dropping = true;
		sc->state = SCRUB_DROP;
		return 0;
	}
	sc->held = held_kind(sc);
	if (sc->held != SCRUB_HELD_NONE) {
		memcpy(sc->hold, sc->name, sc->namelen);
		sc->holdlen = sc->namelen;
		sc->namelen = 0;
		sc->state = SCRUB_HOLD;
		return 0;
	}
	sc->state = SCRUB_KEEP;
	return release_name(sc, sink, arg);
}

/* The empty line that ends a header section has begun: decide how the
 * body after it is read.  The rest of the empty line passes as it is. */
static void
header_end(struct scrub *sc)
{
	const struct scrub_part *p = &sc->part;
	bool top = !sc->in_part;

	sc->in_part = false;
	sc->scan = false;
	if (!sc->ids || (top && !(p->multipart && p->boundary[0] != '\0'))) {
		sc->state = SCRUB_BODY;
		return;
	}
	sc->state = SCRUB_MIME_LINE;
	if (p->multipart && p->boundary[0] != '\0' &&
	    sc->depth < SCRUB_DEPTH_MAX) {
		memcpy(sc->boundaries[sc->depth++], p->boundary,
		    sizeof(p->boundary));
		return;
	}
	/* A text/html part we cannot read may name images by cid: URLs we
	 * cannot rewrite: from here on no Content-ID changes. */
	if (p->html && p->encoded)
		sc->opaque = true;
	sc->scan = p->text && !p->encoded && !p->multipart && !sc->opaque &&
	    sc->domain[0] != '\0';
	sc->scan_qp = p->qp;
}

/* The "cid:" URL scanner of text part bodies. */

static void
url_reset(struct scrub *sc)
{
	sc->match = 0;
	sc->soft = 0;
	sc->rawlen = 0;
	sc->urllen = 0;
}

/* Gives up on the URL being read: its octets pass as they came. */
static int
url_flush(struct scrub *sc, scrub_sink sink, void *arg)
{
	size_t n = sc->rawlen;

	url_reset(sc);
	return n > 0 ? sink(arg, sc->raw, n) : 0;
}

/* The URL has ended (the next octet is not part of it). */
static int
url_done(struct scrub *sc, scrub_sink sink, void *arg)
{
	bool softbreak = memchr(sc->raw, '=', sc->rawlen) != NULL;

	if (!id_rewritten(sc, sc->url, sc->urllen, true))
		return url_flush(sc, sink, arg);
	/* The prefix as spelled ("CID:" too), the URL whole: one broken by
	 * a soft line break gets a soft break after it, so the rest of the
	 * text stays on the line it was on. */
	if (sink(arg, sc->prefix, 4) == -1 ||
	    write_new_id(sc, sc->url, sc->urllen, sink, arg) == -1)
		return -1;
	url_reset(sc);
	return softbreak ? sink(arg, "=\r\n", 3) : 0;
}

/* The octets an unencoded cid: URL (RFC 2392, RFC 3986) can hold. */
static bool
url_char(unsigned char c)
{
	return c > ' ' && c != 0x7f && c != '"' && c != '\'' && c != '<' &&
	    c != '>' && c != '(' && c != ')' && c != '\\' && c != ',' &&
	    c != ';' && c != '=';
}

/* Reads one octet of a scanned body line.  1 when c was taken (held or
 * written), 0 when the caller is to write it, -1 when the sink failed. */
static int
url_octet(struct scrub *sc, unsigned char c, scrub_sink sink, void *arg)
{
	static const char cid[] = "cid:";

	if (sc->match == 0) {
		if (tolower(c) != 'c')
			return 0;
		sc->raw[sc->rawlen++] = (char)c;
		sc->prefix[sc->match++] = (char)c;
		return 1;
	}
	if (sc->scan_qp && (sc->soft > 0 || c == '=')) {
		/* "=" CRLF is a soft line break (RFC 2045 6.7 rule 5), any
		 * other "=" an escaped octet we do not read. */
		if (sc->soft == 0 ||
		    (sc->soft == 1 && (c == '\r' || c == '\n')) ||
		    (sc->soft == 2 && c == '\n')) {
			sc->raw[sc->rawlen++] = (char)c;
			sc->soft = c == '=' ? 1 : c == '\r' ? 2 : 0;
			return 1;
		}
		if (url_flush(sc, sink, arg) == -1)
			return -1;
		return url_octet(sc, c, sink, arg);
	}
	if (sc->match < 4) {
		if ((char)tolower(c) == cid[sc->match]) {
			sc->raw[sc->rawlen++] = (char)c;
			sc->prefix[sc->match++] = (char)c;
			return 1;
		}
		if (url_flush(sc, sink, arg) == -1)
			return -1;
		return url_octet(sc, c, sink, arg);
	}
	if (!url_char(c))
		return url_done(sc, sink, arg) == -1 ? -1 : 0;
	if (sc->urllen == SCRUB_URL_MAX || sc->rawlen + 1 >= sizeof(sc->raw))
		return url_flush(sc, sink, arg) == -1 ? -1 : 0;
	sc->url[sc->urllen++] = (char)c;
	sc->raw[sc->rawlen++] = (char)c;
	return 1;
}

/* Passes n octets of a body line that is searched for cid: URLs. */
static int
scan_span(struct scrub *sc, const char *p, size_t n, scrub_sink sink,
    void *arg)
{
	const char *end = p + n, *q;
	int rc;

	while (p < end) {
		if (sc->match == 0) {
			/* Most octets cannot begin a URL: pass them in runs. */
			for (q = p; q < end && *q != 'c' && *q != 'C'; q++)
				;
			if (q > p && sink(arg, p, (size_t)(q - p)) == -1)
				return -1;
			if ((p = q) == end)
				break;
		}
		rc = url_octet(sc, (unsigned char)*p, sink, arg);
		if (rc == -1)
			return -1;
		if (rc == 0 && sink(arg, p, 1) == -1)
			return -1;
		p++;
	}
	return 0;
}

/* Writes body octets of the current part: searched or as they are. */
static int
body_out(struct scrub *sc, const char *p, size_t n, scrub_sink sink,
    void *arg)
{
	if (sc->scan)
		return scan_span(sc, p, n, sink, arg);
	return n > 0 ? sink(arg, p, n) : 0;
}

/* The index of the open multipart whose delimiter line (RFC 2046 5.1.1:
 * "--" boundary ["--"] blanks CRLF) the held line is, or -1; *close is
 * set for a close delimiter. */
static int
delimiter(const struct scrub *sc, bool *close)
{
	const char *l = sc->line, *end = l + sc->linelen, *p;
	size_t i, bl;

	while (end > l && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	while (end > l && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end - l < 2 || l[0] != '-' || l[1] != '-')
		return -1;
	for (i = sc->depth; i > 0; i--) {
		bl = strlen(sc->boundaries[i - 1]);
		p = l + 2;
		if ((size_t)(end - p) < bl || memcmp(p, sc->boundaries[i - 1], bl) != 0)
			continue;
		p += bl;
		if (p == end) {
			*close = false;
			return (int)(i - 1);
		}
		if (end - p == 2 && p[0] == '-' && p[1] == '-') {
			*close = true;
			return (int)(i - 1);
		}
	}
	return -1;
}

/* A body line that starts with "-" has been held to its end (or as far
 * as a delimiter can reach): a delimiter opens or closes a part, any
 * other line is body. */
static int
line_done(struct scrub *sc, scrub_sink sink, void *arg)
{
	bool close = false, eol = sc->line[sc->linelen - 1] == '\n';
	int i = eol ? delimiter(sc, &close) : -1;
	size_t n = sc->linelen;

	sc->linelen = 0;
	if (i < 0) {
		sc->state = eol ? SCRUB_MIME_START : SCRUB_MIME_LINE;
		return body_out(sc, sc->line, n, sink, arg);
	}
	if (url_flush(sc, sink, arg) == -1 || sink(arg, sc->line, n) == -1)
		return -1;
	sc->scan = false;
	if (close) {
		/* The epilogue of that multipart: body of the one around. */
		sc->depth = (size_t)i;
		sc->state = sc->depth == 0 ? SCRUB_BODY : SCRUB_MIME_START;
		return 0;
	}
	sc->depth = (size_t)i + 1;
	sc->in_part = true;
	part_reset(&sc->part);
	sc->dropping = false;
	sc->state = SCRUB_LINE_START;
	return 0;
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
				    sc->held != SCRUB_HELD_NONE ? SCRUB_HOLD :
				    SCRUB_KEEP;
				break;
			}
			if (sc->held != SCRUB_HELD_NONE &&
			    release_held(sc, sink, arg) == -1)
				return -1;
			if (*p == '\r' || *p == '\n') {
				/* The empty line: the body follows. */
				header_end(sc);
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
			if (!sc->in_part && sc->namelen == sizeof(sc->name) &&
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
		case SCRUB_MIME_START:
			sc->state = *p == '-' ? SCRUB_MIME_DASH : SCRUB_MIME_LINE;
			break;
		case SCRUB_MIME_DASH:
			while (p < end && sc->linelen < sizeof(sc->line) &&
			    (sc->linelen == 0 || sc->line[sc->linelen - 1] != '\n'))
				sc->line[sc->linelen++] = *p++;
			if (sc->line[sc->linelen - 1] == '\n' ||
			    sc->linelen == sizeof(sc->line))
				if (line_done(sc, sink, arg) == -1)
					return -1;
			break;
		case SCRUB_MIME_LINE:
			lf = memchr(p, '\n', end - p);
			n = lf ? (size_t)(lf - p) + 1 : (size_t)(end - p);
			if (body_out(sc, p, n, sink, arg) == -1)
				return -1;
			p += n;
			if (lf)
				sc->state = SCRUB_MIME_START;
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
	else if (sc->held != SCRUB_HELD_NONE)
		rc = release_held(sc, sink, arg);
	else if (sc->state == SCRUB_MIME_DASH && sc->linelen > 0)
		rc = sink(arg, sc->line, sc->linelen);
	sc->linelen = 0;
	if (rc == 0)
		rc = url_flush(sc, sink, arg);
	sc->state = SCRUB_BODY;
	return rc;
}
