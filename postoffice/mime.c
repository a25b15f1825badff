/*
 * mime.c - subject and body text of a message, through GMime: its
 * parser, or for a message of one text/plain part a scan of the header
 * block and GMime's decoders (the fast path, further down).
 */
#include "postoffice/mime.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/utf8.h"

static bool mime_ready;

void
mime_init(void)
{
	if (mime_ready)
		return;
	g_mime_init();
	mime_ready = true;
}

void
mime_shutdown(void)
{
	if (!mime_ready)
		return;
	g_mime_shutdown();
	mime_ready = false;
}

/* Length of the UTF-8 sequence a lead byte announces (1 for a byte that
 * cannot lead one: it will be replaced). */
static size_t
seq_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 1;
}

char *
mime_utf8_clean(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;
	size_t i = 0, k;

	/* Each invalid byte may grow into the 3 octets of U+FFFD. */
	if ((out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	o = out;
	while (i < len) {
		k = utf8_ascii_span(p + i, len - i);
		if (k > 0) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
			if (i == len)
				break;
		}
		if (p[i] == '\0') {
			i++;
			continue;
		}
		k = seq_len(p[i]);
		if (k > 1 && i + k <= len && utf8_valid(p + i, k)) {
			memcpy(o, p + i, k);
			o += k;
			i += k;
			continue;
		}
		memcpy(o, "\xef\xbf\xbd", 3);
		o += 3;
		i++;
	}
	*o = '\0';
	return out;
}

/* ISO-8859-1 to UTF-8: every octet is the code point of the same value. */
static char *
latin1_to_utf8(const unsigned char *p, size_t len)
{
	char *out, *o;
	size_t i;

	if ((out = malloc(len * 2 + 1)) == NULL)
		return NULL;
	for (o = out, i = 0; i < len; i++) {
		if (p[i] == '\0')
			continue;
		if (p[i] < 0x80) {
			*o++ = p[i];
		} else {
			*o++ = 0xc0 | (p[i] >> 6);
			*o++ = 0x80 | (p[i] & 0x3f);
		}
	}
	*o = '\0';
	return out;
}

/* Cuts a valid UTF-8 string to at most max octets, on a boundary. */
static void
utf8_cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

/*
 * The body text from the first max + 4 octets of a part's decoded (and,
 * when converted, charset-converted) content: UTF-8 made valid, or 8-bit
 * text of no or an unknown charset read as ISO-8859-1, then cut at max.
 * Both paths end here, so they cannot differ in this step.
 */
static char *
text_finish(const unsigned char *buf, size_t len, const char *cs,
    bool converted, size_t max)
{
	char *text;

	if (!converted && !utf8_valid(buf, len) &&
	    (cs == NULL || strncasecmp(cs, "utf", 3) != 0))
		text = latin1_to_utf8(buf, len);
	else
		text = mime_utf8_clean((const char *)buf, len);
	if (text != NULL)
		utf8_cut(text, max);
	return text;
}

struct pick {
	GMimeObject *plain, *html;
};

static void
pick_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct pick *pk = data;
	GMimeContentDisposition *disp;
	GMimeContentType *ct;

	(void)parent;
	if (pk->plain != NULL || !GMIME_IS_TEXT_PART(part))
		return;
	disp = g_mime_object_get_content_disposition(part);
	if (disp != NULL && g_mime_content_disposition_is_attachment(disp))
		return;
	ct = g_mime_object_get_content_type(part);
	if (g_mime_content_type_is_type(ct, "text", "plain"))
		pk->plain = part;
	else if (pk->html == NULL && g_mime_content_type_is_type(ct, "text", "html"))
		pk->html = part;
}

static bool
charset_is_utf8_or_ascii(const char *cs)
{
	return cs == NULL || strcasecmp(cs, "utf-8") == 0 ||
	    strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "us-ascii") == 0 ||
	    strcasecmp(cs, "ascii") == 0;
}

/* Reads the decoded text of part, at most max octets of it. */
static char *
part_text(GMimeObject *part, size_t max)
{
	GMimeDataWrapper *content;
	GMimeContentEncoding enc;
	GMimeStream *src, *fs = NULL;
	GMimeFilter *f;
	const char *cs;
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	bool converted = false;
	char *text = NULL;

	content = g_mime_part_get_content(GMIME_PART(part));
	if (content == NULL || (src = g_mime_data_wrapper_get_stream(content)) == NULL)
		return strdup("");
	enc = g_mime_data_wrapper_get_encoding(content);
	g_mime_stream_reset(src);
	fs = g_mime_stream_filter_new(src);
	if (enc == GMIME_CONTENT_ENCODING_BASE64 ||
	    enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE) {
		f = g_mime_filter_basic_new(enc, FALSE);
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
		g_object_unref(f);
	}
	cs = g_mime_object_get_content_type_parameter(part, "charset");
	if (!charset_is_utf8_or_ascii(cs) &&
	    (f = g_mime_filter_charset_new(cs, "UTF-8")) != NULL) {
		g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
		g_object_unref(f);
		converted = true;
	}
	/* A few octets more than max, so a sequence cut at the cap can be
	 * recognised and dropped whole. */
	while (len < max + 4) {
		if (cap - len < 4096) {
			unsigned char *nb;

			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap)) == NULL)
				goto out;
			buf = nb;
		}
		n = g_mime_stream_read(fs, (char *)buf + len,
		    MIN(cap - len, max + 4 - len));
		if (n <= 0)
			break;
		len += n;
	}
	text = text_finish(buf ? buf : (unsigned char *)"", len, cs, converted,
	    max);
out:
	free(buf);
	g_object_unref(fs);
	return text;
}

static int
extract(GMimeStream *stream, size_t body_max, char **subject, char **body)
{
	GMimeParser *parser;
	GMimeMessage *msg;
	struct pick pk = { NULL, NULL };
	const char *subj;
	int rc = -1;

	*subject = *body = NULL;
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (msg == NULL) {
		/* Nothing GMime can read as a message: no subject, no body;
		 * the raw data is still kept. */
		*subject = strdup("");
		*body = strdup("");
		goto out;
	}
	subj = g_mime_message_get_subject(msg);
	*subject = mime_utf8_clean(subj ? subj : "", subj ? strlen(subj) : 0);
	g_mime_message_foreach(msg, pick_part, &pk);
	if (pk.plain != NULL || pk.html != NULL)
		*body = part_text(pk.plain ? pk.plain : pk.html, body_max);
	else
		*body = strdup("");
	g_object_unref(msg);
out:
	if (*subject != NULL && *body != NULL)
		return 0;
	free(*subject);
	free(*body);
	*subject = *body = NULL;
	return rc;
}

int
mime_extract_parsed(const void *buf, size_t len, size_t body_max,
    char **subject, char **body)
{
	GMimeStream *stream;
	int rc;

	mime_init();
	stream = g_mime_stream_mem_new_with_buffer(buf, len);
	rc = extract(stream, body_max, subject, body);
	g_object_unref(stream);
	return rc;
}

/* ------------------------------------------------------------------ */
/*
 * The fast path.  For a message of one text/plain part, GMime's parser
 * builds a message, a part, header lists, a data wrapper, streams and
 * filters, all GObjects, for us to read two strings from them: most of
 * PostOffice's cost per small message.  The fast path reads the same
 * two strings from a scan of the header block, and still leaves the
 * MIME rules to GMime: the Subject goes through the very functions the
 * parser's header list calls (g_mime_utils_header_unfold(), then
 * g_mime_utils_header_decode_text() for RFC 2047), the transfer
 * decoding through GMime's decoder (g_mime_encoding_step(), what its
 * basic filter runs), and the text through text_finish() as above.  It
 * takes only messages it can tell GMime reads the same way (see
 * scan_headers() and plain_charset()); tests/unit/test_postoffice_
 * mime_fast.c holds the two paths to byte-identical results.
 */

/* The fields the fast path reads: each raw value as GMime's parser
 * keeps it (from after the colon up to and including the CRLF that ends
 * the field's last line), NULL when absent; and the content, everything
 * after the empty line. */
struct fields {
	const char *subject, *ctype, *cte;
	size_t subject_len, ctype_len, cte_len;
	const unsigned char *content;
	size_t content_len;
};

/* The CR of the CRLF ending the line at p, or NULL when the line runs
 * to the end or holds a NUL, or a CR or LF that is not a CRLF. */
static const unsigned char *
line_end(const unsigned char *p, const unsigned char *end)
{
	for (; p < end; p++) {
		if (*p > '\r')
			continue;
		if (*p == '\r')
			return p + 1 < end && p[1] == '\n' ? p : NULL;
		if (*p == '\n' || *p == '\0')
			return NULL;
	}
	return NULL;
}

static bool
name_is(const unsigned char *name, size_t len, const char *want)
{
	return strlen(want) == len &&
	    strncasecmp((const char *)name, want, len) == 0;
}

/*
 * Scans the header block of the len octets at p into f.  True when it
 * is of the form the fast path takes: lines ending in CRLF, each a
 * field name of printable ASCII directly followed by ':' (RFC 5322
 * section 2.2), or a continuation starting with SP or HTAB (folding,
 * section 2.2.3) of the field before; no NUL, and no CR or LF outside
 * those CRLFs; an empty line closing the block; Subject, Content-Type
 * and Content-Transfer-Encoding each at most once (which one GMime
 * takes is not our business to guess); and no Content-Disposition (it
 * can make the one part an attachment, then there is no body).
 */
static bool
scan_headers(const unsigned char *p, size_t len, struct fields *f)
{
	const unsigned char *end = p + len, *line, *eol, *colon;
	const unsigned char *value = NULL;	/* the open field's */
	const char **slot = NULL;
	size_t *slot_len = NULL;

	memset(f, 0, sizeof(*f));
	for (line = p;; line = eol + 2) {
		if ((eol = line_end(line, end)) == NULL)
			return false;
		if (line != p && *line != ' ' && *line != '\t' &&
		    slot != NULL) {
			/* The open field ends where this line starts. */
			*slot = (const char *)value;
			*slot_len = (size_t)(line - value);
			slot = NULL;
		}
		if (eol == line)
			break;
		if (*line == ' ' || *line == '\t') {
			if (line == p)
				return false;
			continue;
		}
		for (colon = line; colon < eol && *colon > ' ' &&
		    *colon < 0x7f && *colon != ':'; colon++)
			;
		if (colon == line || colon == eol || *colon != ':')
			return false;
		value = colon + 1;
		if (name_is(line, colon - line, "Subject")) {
			slot = &f->subject;
			slot_len = &f->subject_len;
		} else if (name_is(line, colon - line, "Content-Type")) {
			slot = &f->ctype;
			slot_len = &f->ctype_len;
		} else if (name_is(line, colon - line,
		    "Content-Transfer-Encoding")) {
			slot = &f->cte;
			slot_len = &f->cte_len;
		} else if (name_is(line, colon - line, "Content-Disposition")) {
			return false;
		} else {
			continue;
		}
		if (*slot != NULL)
			return false;
	}
	f->content = eol + 2;
	f->content_len = (size_t)(end - f->content);
	return true;
}

/* The field's raw value unfolded as GMime does it (RFC 5322 section
 * 2.2.3), in a g_malloc'd string; NULL for an absent field. */
static char *
unfolded(const char *raw, size_t len)
{
	char *copy, *v;

	if (raw == NULL)
		return NULL;
	copy = g_strndup(raw, len);
	v = g_mime_utils_header_unfold(copy);
	g_free(copy);
	return v;
}

/* RFC 2045 section 5.1 token octets, less those that start something
 * else: '*' (RFC 2231 continuations), '%' and '\'' (its encodings). */
static bool
is_token(unsigned char c)
{
	return c > ' ' && c < 0x7f && strchr("()<>@,;:\\\"/[]?=*%'", c) == NULL;
}

/*
 * Whether the unfolded Content-Type value v is of the one form the fast
 * path takes: "text/plain" (any case), then parameters "; name=value",
 * each value a token or a quoted string of token octets, with blanks
 * around the ';' and '=' only where shown as allowed below:
 *
 *     text/plain [blanks] *( ";" [blanks] name "=" value [blanks] )
 *
 * Nothing else: no comment, no RFC 2231 parameter, no encoded-word, no
 * 8-bit octet, no empty parameter.  On true *cs is the charset
 * parameter's value (within v, length *cslen) or NULL when it has none;
 * a charset given twice is false.
 */
static bool
plain_charset(const char *v, const char **cs, size_t *cslen)
{
	const unsigned char *p = (const unsigned char *)v, *name, *val;
	size_t nlen, vlen;
	bool quoted;

	*cs = NULL;
	*cslen = 0;
	if (strncasecmp(v, "text/plain", 10) != 0)
		return false;
	p += 10;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return true;
		if (*p++ != ';')
			return false;
		while (*p == ' ' || *p == '\t')
			p++;
		for (name = p; is_token(*p); p++)
			;
		if ((nlen = (size_t)(p - name)) == 0 || *p++ != '=')
			return false;
		if ((quoted = *p == '"'))
			p++;
		for (val = p; is_token(*p); p++)
			;
		if ((vlen = (size_t)(p - val)) == 0 || (quoted && *p++ != '"'))
			return false;
		if (name_is(name, nlen, "charset")) {
			if (*cs != NULL)
				return false;
			*cs = (const char *)val;
			*cslen = vlen;
		}
	}
}

/* True for the names GMime converts from ISO-8859-1 (one octet, one
 * code point of the same value: latin1_exact() does it). */
static bool
charset_is_latin1(const char *cs)
{
	return strcasecmp(cs, "iso-8859-1") == 0 ||
	    strcasecmp(cs, "latin1") == 0;
}

/* ISO-8859-1 to UTF-8 as iconv converts it: NUL stays (text_finish()
 * drops it, as it drops the NUL iconv gives). */
static unsigned char *
latin1_exact(const unsigned char *p, size_t len, size_t *outlen)
{
	unsigned char *out, *o;
	size_t i;

	if ((out = malloc(len * 2 + 1)) == NULL)
		return NULL;
	for (o = out, i = 0; i < len; i++) {
		if (p[i] < 0x80) {
			*o++ = p[i];
		} else {
			*o++ = 0xc0 | (p[i] >> 6);
			*o++ = 0x80 | (p[i] & 0x3f);
		}
	}
	*outlen = (size_t)(o - out);
	return out;
}

/* The transfer encoding named by an unfolded Content-Transfer-Encoding
 * value that is one token; -1 for what the fast path leaves to GMime
 * (an empty or odd value, uuencode). */
static int
plain_encoding(const char *v)
{
	const unsigned char *p;
	GMimeContentEncoding enc;

	if (v == NULL)
		return GMIME_CONTENT_ENCODING_DEFAULT;
	for (p = (const unsigned char *)v; is_token(*p); p++)
		;
	if (p == (const unsigned char *)v || *p != '\0')
		return -1;
	enc = g_mime_content_encoding_from_string(v);
	return enc == GMIME_CONTENT_ENCODING_UUENCODE ? -1 : (int)enc;
}

/* The body of the one text/plain part: what part_text() makes of it. */
static char *
simple_body(const struct fields *f, GMimeContentEncoding enc,
    const char *cs, size_t max)
{
	GMimeEncoding st;
	const unsigned char *data = f->content;
	unsigned char *decoded = NULL, *latin = NULL;
	size_t n = f->content_len;
	bool converted = false;
	char *text = NULL;

	if (enc == GMIME_CONTENT_ENCODING_BASE64 ||
	    enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
		g_mime_encoding_init_decode(&st, enc);
		if ((decoded = malloc(g_mime_encoding_outlen(&st, n) + 1)) == NULL)
			return NULL;
		n = g_mime_encoding_step(&st, (const char *)data, n,
		    (char *)decoded);
		data = decoded;
	}
	if (cs != NULL && charset_is_latin1(cs)) {
		if ((latin = latin1_exact(data, n, &n)) == NULL)
			goto out;
		data = latin;
		converted = true;
	}
	/* part_text() reads max + 4 octets of this. */
	if (n > max + 4)
		n = max + 4;
	text = text_finish(data, n, cs, converted, max);
out:
	free(decoded);
	free(latin);
	return text;
}

int
mime_extract_simple(const void *buf, size_t len, size_t body_max,
    char **subject, char **body)
{
	struct fields f;
	char *ctype = NULL, *cte = NULL, *subj = NULL, *dec = NULL;
	char cs[64];
	const char *csp;
	size_t cslen;
	int enc, rc = 0;

	*subject = *body = NULL;
	if (!scan_headers(buf, len, &f))
		return 0;
	mime_init();
	ctype = unfolded(f.ctype, f.ctype_len);
	cte = unfolded(f.cte, f.cte_len);
	if (ctype != NULL && !plain_charset(ctype, &csp, &cslen))
		goto out;
	if (ctype == NULL || csp == NULL) {
		cs[0] = '\0';
	} else {
		if (cslen >= sizeof(cs))
			goto out;
		memcpy(cs, csp, cslen);
		cs[cslen] = '\0';
	}
	if (cs[0] != '\0' && !charset_is_utf8_or_ascii(cs) &&
	    !charset_is_latin1(cs))
		goto out;
	if ((enc = plain_encoding(cte)) == -1)
		goto out;
	rc = -1;
	if (f.subject != NULL) {
		subj = unfolded(f.subject, f.subject_len);
		dec = g_mime_utils_header_decode_text(NULL, subj);
		*subject = mime_utf8_clean(dec, strlen(dec));
	} else {
		*subject = strdup("");
	}
	*body = simple_body(&f, (GMimeContentEncoding)enc,
	    cs[0] != '\0' ? cs : NULL, body_max);
	if (*subject != NULL && *body != NULL) {
		rc = 1;
	} else {
		free(*subject);
		free(*body);
		*subject = *body = NULL;
	}
out:
	g_free(ctype);
	g_free(cte);
	g_free(subj);
	g_free(dec);
	return rc;
}

int
mime_extract_mem(const void *buf, size_t len, size_t body_max,
    char **subject, char **body)
{
	int rc = mime_extract_simple(buf, len, body_max, subject, body);

	if (rc != 0)
		return rc == 1 ? 0 : -1;
	return mime_extract_parsed(buf, len, body_max, subject, body);
}

int
mime_extract_fd(int fd, size_t body_max, char **subject, char **body)
{
	GMimeStream *stream;
	int dfd, rc;

	mime_init();
	if (lseek(fd, 0, SEEK_SET) == -1 || (dfd = dup(fd)) == -1)
		return -1;
	/* The stream owns and closes the duplicate. */
	stream = g_mime_stream_fs_new(dfd);
	rc = extract(stream, body_max, subject, body);
	g_object_unref(stream);
	return rc;
}
