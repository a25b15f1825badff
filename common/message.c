/*
 * message.c - the spool object: the rule that says what a message is, the
 * decoder that walks it (see the block above message_check()), and the
 * encoder.  JSON itself is json.c's; the raw message, which may be tens
 * of megabytes, is escaped or base64-encoded in chunks so that it never
 * has to be in memory twice.
 */
#include "common/message.h"

#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/json.h"
#include "common/spool.h"
#include "common/utf8.h"
#include "common/util.h"

#define CHUNK 49152	/* a multiple of 3, so base64 chunks need no carry */

void
message_clear(struct message *m)
{
	size_t i;

	free(m->mail_from);
	for (i = 0; i < m->nrcpt; i++)
		free(m->rcpt_tos[i]);
	free(m->rcpt_tos);
	free(m->subject);
	free(m->body);
	free(m->timestamp);
	free(m->client);
	free(m->data);
	free(m->last_error);
	memset(m, 0, sizeof(*m));
}

void
message_timestamp(char buf[32])
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);

	snprintf(buf + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000) % 1000);
}

/* --- encoding --- */

/* The length of an optional text field: len, or strlen when len is 0. */
static size_t
text_len(const char *s, size_t len)
{
	return s == NULL ? 0 : len != 0 ? len : strlen(s);
}

/* The length of the UTF-8 sequence that lead octet c starts, or 0. */
static size_t
seq_len(unsigned char c)
{
	return c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 :
	    c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
}

/*
 * Escapes a text field into out (room for 6 * len octets).  A field is
 * meant to be UTF-8; an octet that is not part of a valid sequence is
 * written as U+FFFD, so that the file stays a JSON text (RFC 8259
 * section 8.1) whatever a caller hands in.  NUL is kept (as \u0000).
 */
static size_t
escape_text(char *out, const char *v, size_t len)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t i = 0, o = 0, k, n;

	while (i < len) {
		/* The longest run that is valid UTF-8 (NUL allowed). */
		for (k = i; k < len; k += n) {
			if (p[k] == 0) {
				n = 1;
				continue;
			}
			n = utf8_ascii_span(p + k, len - k);
			if (n > 0)
				continue;
			n = seq_len(p[k]);
			if (n < 2 || k + n > len || !utf8_valid(p + k, n))
				break;
		}
		o += json_escape(out + o, p + i, k - i);
		if (k == len)
			break;
		memcpy(out + o, "\\ufffd", 6);
		o += 6;
		i = k + 1;
	}
	return o;
}

/* Appends "KEY":"VALUE" (with a comma first unless it is the first). */
static int
put_string(struct strbuf *b, const char *key, const char *v, size_t len)
{
	size_t klen = strlen(key);

	if (strbuf_reserve(b, klen + 6 * len + 6) == -1)
		return -1;
	if (b->len > 1)
		b->p[b->len++] = ',';
	b->p[b->len++] = '"';
	memcpy(b->p + b->len, key, klen);
	b->len += klen;
	memcpy(b->p + b->len, "\":\"", 3);
	b->len += 3;
	b->len += escape_text(b->p + b->len, v, len);
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
	return 0;
}

/* Everything but the data member: "{" and the members, comma-separated,
 * in the order the original wrote them (id first, so that a reader can
 * tell a file's id from its start). */
static int
head_json(const struct message *m, struct strbuf *b)
{
	char num[64];
	size_t i;
	int n;

	if (strbuf_append(b, "{", 1) == -1)
		return -1;
	if (m->id[0] != '\0' && put_string(b, "id", m->id, strlen(m->id)) == -1)
		return -1;
	if (put_string(b, "mail_from", m->mail_from ? m->mail_from : "",
	    m->mail_from ? strlen(m->mail_from) : 0) == -1 ||
	    strbuf_append(b, ",\"rcpt_tos\":[", 13) == -1)
		return -1;
	for (i = 0; i < m->nrcpt; i++) {
		size_t len = strlen(m->rcpt_tos[i]);

		/* put_string's comma rule does not apply inside the array. */
		if (strbuf_reserve(b, 6 * len + 3) == -1)
			return -1;
		if (i > 0)
			b->p[b->len++] = ',';
		b->p[b->len++] = '"';
		b->len += escape_text(b->p + b->len, m->rcpt_tos[i], len);
		b->p[b->len++] = '"';
		b->p[b->len] = '\0';
	}
	if (strbuf_append(b, "]", 1) == -1 ||
	    put_string(b, "subject", m->subject ? m->subject : "",
	    text_len(m->subject, m->subject_len)) == -1 ||
	    put_string(b, "body", m->body ? m->body : "",
	    text_len(m->body, m->body_len)) == -1)
		return -1;
	if (m->timestamp && put_string(b, "timestamp", m->timestamp,
	    strlen(m->timestamp)) == -1)
		return -1;
	if (m->client && put_string(b, "client", m->client,
	    strlen(m->client)) == -1)
		return -1;
	n = snprintf(num, sizeof(num), ",\"size\":%zu,\"attempts\":%ld",
	    m->data_len, m->attempts);
	if (strbuf_append(b, num, (size_t)n) == -1)
		return -1;
	if (m->last_error && put_string(b, "last_error", m->last_error,
	    strlen(m->last_error)) == -1)
		return -1;
	return 0;
}

int
message_write_json(const struct message *m, bool data_utf8,
    message_source source, void *source_arg, message_sink sink,
    void *sink_arg)
{
	struct strbuf head = { NULL, 0, 0 };
	unsigned char *in = NULL;
	char *out = NULL;
	const unsigned char *p;
	size_t off = 0, n, o, chunk;
	ssize_t got;
	gint state = 0, save = 0;
	int rc = -1;

	if (head_json(m, &head) == -1)
		goto out;
	/* Buffers for the chunks there are: a small message in memory
	 * needs no 48 KiB input buffer and no 288 KiB output one. */
	chunk = m->data != NULL && m->data_len < CHUNK ? m->data_len : CHUNK;
	if ((m->data == NULL && (in = malloc(CHUNK)) == NULL) ||
	    (out = malloc(chunk * 6 + 8)) == NULL)
		goto out;
	if (sink(sink_arg, head.p, head.len) == -1)
		goto out;
	if (data_utf8 ? sink(sink_arg, ",\"data\":\"", 9) :
	    sink(sink_arg, ",\"data_base64\":\"", 16))
		goto out;
	for (;;) {
		if (m->data != NULL) {
			n = m->data_len - off < CHUNK ? m->data_len - off : CHUNK;
			p = m->data + off;
			off += n;
		} else {
			got = source(source_arg, in, CHUNK);
			if (got < 0)
				goto out;
			n = (size_t)got;
			p = in;
		}
		if (n == 0)
			break;
		if (data_utf8)
			o = json_escape(out, p, n);
		else
			o = g_base64_encode_step(p, n, FALSE, out, &state, &save);
		if (sink(sink_arg, out, o) == -1)
			goto out;
	}
	o = data_utf8 ? 0 : g_base64_encode_close(FALSE, out, &state, &save);
	memcpy(out + o, "\"}", 2);
	if (sink(sink_arg, out, o + 2) == -1)
		goto out;
	rc = 0;
out:
	free(head.p);
	free(in);
	free(out);
	return rc;
}

static int
strbuf_sink(void *arg, const void *buf, size_t len)
{
	return strbuf_append(arg, buf, len);
}

char *
message_encode(const struct message *m, size_t *len)
{
	struct strbuf b = { NULL, 0, 0 };
	static unsigned char empty[1];
	struct message copy = *m;

	if (copy.data == NULL) {
		copy.data = empty;
		copy.data_len = 0;
	}
	if (message_write_json(&copy, utf8_valid(copy.data,
	    copy.data_len), NULL, NULL, strbuf_sink, &b) == -1) {
		free(b.p);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.p;
}


/* --- the rule: checking, and decoding by the same walk --- */

/*
 * One walk over the text decides whether it is a spool object and, when
 * asked, fills a struct message from it: message_check() and
 * message_decode() cannot disagree, and PostMaster (before it serves a
 * file) and PostMan (on each message it receives) apply the same rule.
 *
 * The rule, beyond RFC 8259 (json.h's scanner): the text is UTF-8 and
 * nothing follows the object; no member of the spool format appears
 * twice, nor is its name escaped (a reader could take either copy); the
 * members have their types; the fields that are C strings to the
 * programs (id, mail_from, rcpt_tos, timestamp, client, last_error) hold
 * no NUL.  A NUL in data, subject or body is kept: their lengths travel
 * with them.
 */

/* The members the walk reads, as bits of a seen mask. */
enum {
	K_ID, K_MAIL_FROM, K_RCPT_TOS, K_SUBJECT, K_BODY, K_TIMESTAMP,
	K_CLIENT, K_LAST_ERROR, K_ATTEMPTS, K_SIZE, K_DATA, K_DATA_BASE64,
	K_OTHER
};

static const char *const keys[K_OTHER] = {
	"id", "mail_from", "rcpt_tos", "subject", "body", "timestamp",
	"client", "last_error", "attempts", "size", "data", "data_base64"
};

struct walk {
	struct json_scan s;
	struct message *m;	/* NULL: check only */
	char *id;		/* the id seen, "" until then */
	unsigned seen;		/* the members seen so far, as 1 << K_... */
	char *err;
	size_t errlen;
};

static int
refuse(struct walk *w, const char *why)
{
	snprintf(w->err, w->errlen, "%s", why);
	return -1;
}

/* fmt has one %s, for the member's name. */
static int
refuse_key(struct walk *w, const char *fmt, const char *key)
{
	snprintf(w->err, w->errlen, fmt, key);
	return -1;
}

/* Strict RFC 4648 section 4 base64: the alphabet, '=' only as final
 * padding, a length that is a multiple of 4. */
static bool
base64_strict(const char *s, size_t len)
{
	size_t i, pad = 0;

	if (len % 4 != 0)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

/* A malloc'd copy of a scanned string's contents; its length in *len. */
static char *
str_copy(const struct json_str *j, size_t *len)
{
	char *out = malloc((size_t)(j->stop - j->start) + 1);
	size_t n;

	if (out == NULL)
		return NULL;
	n = json_str_unescape(j, out);
	if (len != NULL)
		*len = n;
	return out;
}

/* A string member that must hold no NUL; copied to *out when decoding. */
static int
c_string(struct walk *w, const char *key, char **out)
{
	struct json_str j;

	if (!json_scan_string(&w->s, &j))
		return refuse_key(w, "\"%s\" is missing or not a string", key);
	if (json_str_has_nul(&j))
		return refuse_key(w, "\"%s\" holds a NUL character", key);
	if (out != NULL && (*out = str_copy(&j, NULL)) == NULL)
		return refuse(w, "out of memory");
	return 0;
}

/* subject, body (any text, NUL included) or a NUL-free optional field;
 * each may be null. */
static int
opt_text(struct walk *w, int key, char **out, size_t *len)
{
	struct json_scan at = w->s;
	struct json_str j;
	char t;

	if (json_scan_value(&w->s, &t) && t == 'n')
		return 0;
	w->s = at;
	if (!json_scan_string(&w->s, &j))
		return refuse_key(w, "\"%s\" is not a string", keys[key]);
	if (len == NULL && json_str_has_nul(&j))
		return refuse_key(w, "\"%s\" holds a NUL character", keys[key]);
	if (out != NULL && (*out = str_copy(&j, len)) == NULL)
		return refuse(w, "out of memory");
	return 0;
}

static int
rcpts(struct walk *w)
{
	struct message *m = w->m;
	struct json_scan at;
	struct json_str j;
	size_t n = 0, i;
	char **v;
	char t;

	if (!json_scan_char(&w->s, '['))
		goto not_array;
	json_scan_ws(&w->s);
	at = w->s;
	/* Count first, so that decoding allocates once. */
	for (;;) {
		if (w->s.p < w->s.end && *w->s.p == ']' && n == 0)
			goto not_array;
		if (w->s.p < w->s.end && *w->s.p != '"')
			return refuse(w, json_scan_value(&w->s, &t) ?
			    "\"rcpt_tos\" holds a non-string" : "not valid JSON");
		if (!json_scan_string(&w->s, &j))
			return refuse(w, "not valid JSON");
		if (json_str_has_nul(&j))
			return refuse(w, "\"rcpt_tos\" holds a NUL character");
		n++;
		json_scan_ws(&w->s);
		if (!json_scan_char(&w->s, ','))
			break;
		json_scan_ws(&w->s);
	}
	if (!json_scan_char(&w->s, ']'))
		return refuse(w, "not valid JSON");
	if (m == NULL)
		return 0;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return refuse(w, "out of memory");
	m->rcpt_tos = v;
	w->s = at;
	for (i = 0; i < n; i++) {
		json_scan_string(&w->s, &j);
		if ((v[i] = str_copy(&j, NULL)) == NULL)
			return refuse(w, "out of memory");
		m->nrcpt = i + 1;
		json_scan_ws(&w->s);
		json_scan_char(&w->s, ',');
		json_scan_ws(&w->s);
	}
	json_scan_char(&w->s, ']');
	return 0;
not_array:
	return refuse(w, "\"rcpt_tos\" is missing or not a non-empty array");
}

static int
data_member(struct walk *w, int key)
{
	struct message *m = w->m;
	struct json_str j;
	char *raw = NULL;
	const char *b64;
	size_t len;
	gsize n;

	if (!json_scan_string(&w->s, &j))
		return refuse_key(w, "\"%s\" is not a string", keys[key]);
	if (w->seen & 1U << (key == K_DATA ? K_DATA_BASE64 : K_DATA))
		return refuse(w, "exactly one of \"data\" and \"data_base64\" "
		    "is required");
	if (key == K_DATA) {
		if (m != NULL) {
			if ((m->data = (unsigned char *)str_copy(&j, &len)) == NULL)
				return refuse(w, "out of memory");
			m->data_len = len;
		}
		return 0;
	}
	/* base64 is ASCII; an escaped one is unescaped first. */
	b64 = (const char *)j.start;
	len = (size_t)(j.stop - j.start);
	if (j.escaped) {
		if ((raw = str_copy(&j, &len)) == NULL)
			return refuse(w, "out of memory");
		b64 = raw;
	}
	if (!base64_strict(b64, len)) {
		free(raw);
		return refuse(w, "\"data_base64\" is not base64");
	}
	if (m != NULL) {
		if (len == 0) {
			m->data = calloc(1, 1);
		} else {
			char *copy = raw;

			/* g_base64_decode_inplace needs a writable copy. */
			if (copy == NULL && (copy = malloc(len + 1)) != NULL) {
				memcpy(copy, b64, len);
				copy[len] = '\0';
			}
			if (copy != NULL) {
				n = len;
				g_base64_decode_inplace(copy, &n);
				m->data = (unsigned char *)copy;
				m->data_len = n;
				raw = NULL;
			}
		}
		if (m->data == NULL) {
			free(raw);
			return refuse(w, "out of memory");
		}
	}
	free(raw);
	return 0;
}

static int member_value(struct walk *w, int key);

/* A member's value; a value that is not JSON at all is told apart from
 * one of the wrong type. */
static int
member(struct walk *w, int key)
{
	struct json_scan at = w->s;
	char t;

	if (member_value(w, key) == 0)
		return 0;
	if (!json_scan_value(&at, &t))
		return refuse(w, "not valid JSON");
	return -1;
}

static int
member_value(struct walk *w, int key)
{
	struct message *m = w->m;
	struct json_str j;
	double v;
	char t;

	switch (key) {
	case K_ID:
		if (!json_scan_string(&w->s, &j) || j.escaped ||
		    j.stop - j.start != SPOOL_ID_LEN)
			return refuse(w, "\"id\" is not a spool id");
		memcpy(w->id, j.start, SPOOL_ID_LEN);
		w->id[SPOOL_ID_LEN] = '\0';
		if (!spool_id_valid(w->id)) {
			w->id[0] = '\0';
			return refuse(w, "\"id\" is not a spool id");
		}
		return 0;
	case K_MAIL_FROM:
		return c_string(w, "mail_from", m ? &m->mail_from : NULL);
	case K_RCPT_TOS:
		return rcpts(w);
	case K_SUBJECT:
		return opt_text(w, key, m ? &m->subject : NULL,
		    m ? &m->subject_len : (size_t[]){ 0 });
	case K_BODY:
		return opt_text(w, key, m ? &m->body : NULL,
		    m ? &m->body_len : (size_t[]){ 0 });
	case K_TIMESTAMP:
		return opt_text(w, key, m ? &m->timestamp : NULL, NULL);
	case K_CLIENT:
		return opt_text(w, key, m ? &m->client : NULL, NULL);
	case K_LAST_ERROR:
		return opt_text(w, key, m ? &m->last_error : NULL, NULL);
	case K_ATTEMPTS:
		if (!json_scan_number(&w->s, &v) || v < 0 || v > 1e9 ||
		    v != (long)v)
			return refuse(w, "\"attempts\" is not a count");
		if (m != NULL)
			m->attempts = (long)v;
		return 0;
	case K_SIZE:
		if (!json_scan_number(&w->s, NULL))
			return refuse(w, "\"size\" is not a number");
		return 0;
	case K_DATA:
	case K_DATA_BASE64:
		return data_member(w, key);
	}
	if (!json_scan_value(&w->s, &t))
		return refuse(w, "not valid JSON");
	return 0;
}

static int
key_of(const struct json_str *j)
{
	int k;

	for (k = 0; k < K_OTHER; k++)
		if (json_str_is(j, keys[k], strlen(keys[k])))
			return k;
	return K_OTHER;
}

static int
walk_object(struct walk *w)
{
	struct json_scan *s = &w->s;
	struct json_str name;
	unsigned *seen = &w->seen;
	int key;

	json_scan_ws(s);
	if (s->p >= s->end)
		return refuse(w, "not valid JSON");
	if (!json_scan_char(s, '{'))
		return refuse(w, "not a JSON object");
	s->depth = 1;
	json_scan_ws(s);
	if (!json_scan_char(s, '}')) {
		for (;;) {
			if (!json_scan_string(s, &name))
				return refuse(w, "not valid JSON");
			key = key_of(&name);
			if (key == K_OTHER && name.escaped) {
				char *k = malloc((size_t)(name.stop - name.start) + 1);

				if (k == NULL)
					return refuse(w, "out of memory");
				json_str_unescape(&name, k);
				for (key = 0; key < K_OTHER; key++)
					if (strcmp(k, keys[key]) == 0)
						break;
				free(k);
				if (key < K_OTHER)
					return refuse_key(w, "the name of \"%s\" is escaped",
					    keys[key]);
			}
			if (key != K_OTHER && (*seen & 1U << key))
				return refuse_key(w, "\"%s\" appears twice", keys[key]);
			json_scan_ws(s);
			if (!json_scan_char(s, ':'))
				return refuse(w, "not valid JSON");
			json_scan_ws(s);
			if (member(w, key) == -1)
				return -1;
			*seen |= 1U << key;
			json_scan_ws(s);
			if (json_scan_char(s, '}'))
				break;
			if (!json_scan_char(s, ','))
				return refuse(w, "not valid JSON");
			json_scan_ws(s);
		}
	}
	json_scan_ws(s);
	if (s->p != s->end)
		return refuse(w, "bytes follow the object");
	if (!(*seen & 1U << K_MAIL_FROM))
		return refuse(w, "\"mail_from\" is missing or not a string");
	if (!(*seen & 1U << K_RCPT_TOS))
		return refuse(w, "\"rcpt_tos\" is missing or not a non-empty array");
	if (!(*seen & 1U << K_DATA) == !(*seen & 1U << K_DATA_BASE64))
		return refuse(w, "exactly one of \"data\" and \"data_base64\" "
		    "is required");
	return 0;
}

static int
walk(const char *json, size_t len, struct message *m, char id[33],
    char *err, size_t errlen)
{
	struct walk w;

	id[0] = '\0';
	if (m != NULL)
		memset(m, 0, sizeof(*m));
	json_scan_init(&w.s, json, len);
	w.m = m;
	w.id = id;
	w.seen = 0;
	w.err = err;
	w.errlen = errlen;
	/* RFC 8259 section 8.1: a JSON text is UTF-8. */
	if (!utf8_valid(json, len))
		return refuse(&w, "not UTF-8 (RFC 8259 section 8.1)");
	if (walk_object(&w) == 0)
		return 0;
	if (m != NULL)
		message_clear(m);
	return -1;
}

int
message_check(const char *json, size_t len, char id[SPOOL_ID_LEN + 1],
    char *err, size_t errlen)
{
	return walk(json, len, NULL, id, err, errlen);
}

int
message_decode(const char *json, size_t len, struct message *m, char *err,
    size_t errlen)
{
	char id[SPOOL_ID_LEN + 1];

	if (walk(json, len, m, id, err, errlen) == -1)
		return -1;
	memcpy(m->id, id, sizeof(id));
	return 0;
}
