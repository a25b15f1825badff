/*
 * mime.c - subject and body text of a message, through GMime.
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
	if (!converted && !utf8_valid(buf ? buf : (unsigned char *)"", len) &&
	    (cs == NULL || strncasecmp(cs, "utf", 3) != 0))
		text = latin1_to_utf8(buf ? buf : (unsigned char *)"", len);
	else
		text = mime_utf8_clean(buf ? (char *)buf : "", len);
	if (text != NULL)
		utf8_cut(text, max);
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
mime_extract_mem(const void *buf, size_t len, size_t body_max,
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
