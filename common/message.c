/*
 * message.c - encoding and decoding of spool files (see message.h).
 * cJSON builds and parses the small fields; the raw message, which may be
 * tens of megabytes, is escaped or base64-encoded in chunks so that it
 * never has to be in memory twice.
 */
#include "common/message.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* --- decoding --- */

static int
opt_string(const cJSON *obj, const char *key, char **out, char *err,
    size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "\"%s\" is not a string", key);
		return -1;
	}
	if ((*out = strdup(v->valuestring)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
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

static int
decode_data(const cJSON *obj, struct message *m, char *err, size_t errlen)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(obj, "data");
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, "data_base64");
	gsize n;

	if ((d == NULL) == (b == NULL)) {
		snprintf(err, errlen, "exactly one of \"data\" and \"data_base64\" is required");
		return -1;
	}
	if (d != NULL) {
		if (!cJSON_IsString(d)) {
			snprintf(err, errlen, "\"data\" is not a string");
			return -1;
		}
		m->data_len = strlen(d->valuestring);
		if ((m->data = malloc(m->data_len + 1)) == NULL)
			goto oom;
		memcpy(m->data, d->valuestring, m->data_len + 1);
		return 0;
	}
	if (!cJSON_IsString(b) ||
	    !base64_strict(b->valuestring, strlen(b->valuestring))) {
		snprintf(err, errlen, "\"data_base64\" is not base64");
		return -1;
	}
	if (b->valuestring[0] == '\0') {
		m->data = calloc(1, 1);
		m->data_len = 0;
		return m->data ? 0 : -1;
	}
	m->data = g_base64_decode(b->valuestring, &n);
	m->data_len = n;
	/* g_malloc'd memory is malloc'd memory since GLib 2.46. */
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int
message_decode(const char *json, size_t len, struct message *m, char *err,
    size_t errlen)
{
	cJSON *root, *v, *r;
	size_t i;
	int n;

	memset(m, 0, sizeof(*m));
	if ((root = cJSON_ParseWithLength(json, len)) == NULL) {
		snprintf(err, errlen, "not valid JSON");
		return -1;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto fail;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (v != NULL) {
		if (!cJSON_IsString(v) || !spool_id_valid(v->valuestring)) {
			snprintf(err, errlen, "\"id\" is not a spool id");
			goto fail;
		}
		memcpy(m->id, v->valuestring, SPOOL_ID_LEN + 1);
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "mail_from");
	if (!cJSON_IsString(v)) {
		snprintf(err, errlen, "\"mail_from\" is missing or not a string");
		goto fail;
	}
	if ((m->mail_from = strdup(v->valuestring)) == NULL)
		goto oom;
	v = cJSON_GetObjectItemCaseSensitive(root, "rcpt_tos");
	if (!cJSON_IsArray(v) || (n = cJSON_GetArraySize(v)) == 0) {
		snprintf(err, errlen, "\"rcpt_tos\" is missing or not a non-empty array");
		goto fail;
	}
	if ((m->rcpt_tos = calloc(n, sizeof(char *))) == NULL)
		goto oom;
	i = 0;
	cJSON_ArrayForEach(r, v) {
		if (!cJSON_IsString(r)) {
			snprintf(err, errlen, "\"rcpt_tos\" holds a non-string");
			goto fail;
		}
		if ((m->rcpt_tos[i] = strdup(r->valuestring)) == NULL)
			goto oom;
		m->nrcpt = ++i;
	}
	if (opt_string(root, "subject", &m->subject, err, errlen) == -1 ||
	    opt_string(root, "body", &m->body, err, errlen) == -1 ||
	    opt_string(root, "timestamp", &m->timestamp, err, errlen) == -1 ||
	    opt_string(root, "client", &m->client, err, errlen) == -1 ||
	    opt_string(root, "last_error", &m->last_error, err, errlen) == -1)
		goto fail;
	v = cJSON_GetObjectItemCaseSensitive(root, "attempts");
	if (v != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
		    v->valuedouble > 1e9 || v->valuedouble != (long)v->valuedouble) {
			snprintf(err, errlen, "\"attempts\" is not a count");
			goto fail;
		}
		m->attempts = (long)v->valuedouble;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "size");
	if (v != NULL && !cJSON_IsNumber(v)) {
		snprintf(err, errlen, "\"size\" is not a number");
		goto fail;
	}
	if (decode_data(root, m, err, errlen) == -1)
		goto fail;
	cJSON_Delete(root);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	cJSON_Delete(root);
	message_clear(m);
	return -1;
}

/* --- encoding --- */

static cJSON *
head_object(const struct message *m)
{
	cJSON *o, *a;
	size_t i;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	if (m->id[0] != '\0' && cJSON_AddStringToObject(o, "id", m->id) == NULL)
		goto fail;
	if (cJSON_AddStringToObject(o, "mail_from",
	    m->mail_from ? m->mail_from : "") == NULL)
		goto fail;
	if ((a = cJSON_AddArrayToObject(o, "rcpt_tos")) == NULL)
		goto fail;
	for (i = 0; i < m->nrcpt; i++) {
		cJSON *s = cJSON_CreateString(m->rcpt_tos[i]);

		if (s == NULL || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			goto fail;
		}
	}
	if (cJSON_AddStringToObject(o, "subject", m->subject ? m->subject : "") == NULL ||
	    cJSON_AddStringToObject(o, "body", m->body ? m->body : "") == NULL)
		goto fail;
	if (m->timestamp && cJSON_AddStringToObject(o, "timestamp", m->timestamp) == NULL)
		goto fail;
	if (m->client && cJSON_AddStringToObject(o, "client", m->client) == NULL)
		goto fail;
	if (cJSON_AddNumberToObject(o, "size", (double)m->data_len) == NULL ||
	    cJSON_AddNumberToObject(o, "attempts", (double)m->attempts) == NULL)
		goto fail;
	if (m->last_error &&
	    cJSON_AddStringToObject(o, "last_error", m->last_error) == NULL)
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

#if defined(__SSE2__)
/* How many octets at the start of in need no escape in a JSON string:
 * anything but quote, backslash and the C0 controls.  Thirty-two, then
 * sixteen at a time: a control is an octet whose unsigned minimum with
 * 0x1f is itself. */
static inline unsigned
json_special16(const unsigned char *p)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	const __m128i m = _mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
	    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));

	return (unsigned)_mm_movemask_epi8(m);
}

static size_t
json_safe_span(const unsigned char *in, size_t len)
{
	unsigned lo, hi;
	size_t i = 0;

	while (len - i >= 32) {
		lo = json_special16(in + i);
		hi = json_special16(in + i + 16);
		if ((lo | hi) != 0)
			return i + (size_t)__builtin_ctz(lo | hi << 16);
		i += 32;
	}
	if (len - i >= 16) {
		if ((lo = json_special16(in + i)) != 0)
			return i + (size_t)__builtin_ctz(lo);
		i += 16;
	}
	while (i < len && in[i] >= 0x20 && in[i] != '"' && in[i] != '\\')
		i++;
	return i;
}
#else
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* How many octets at the start of in need no escape in a JSON string:
 * anything but quote, backslash and the C0 controls.  Eight at a time
 * while possible: (x - n * ONES) & ~x & HIGHS is non-zero exactly when
 * some octet of x is below n (n <= 0x80), and x ^ (c * ONES) has a zero
 * octet where x has c. */
static size_t
json_safe_span(const unsigned char *in, size_t len)
{
	uint64_t v, q, b;
	size_t i = 0;

	while (len - i >= 8) {
		memcpy(&v, in + i, 8);
		q = v ^ ('"' * ONES);
		b = v ^ ('\\' * ONES);
		if ((((v - 0x20 * ONES) & ~v) | ((q - ONES) & ~q) |
		    ((b - ONES) & ~b)) & HIGHS)
			break;
		i += 8;
	}
	while (i < len && in[i] >= 0x20 && in[i] != '"' && in[i] != '\\')
		i++;
	return i;
}
#endif

/* Escapes valid UTF-8 for a JSON string (RFC 8259 section 7): quote,
 * backslash and the C0 controls; everything else passes through. */
static size_t
json_escape(char *out, const unsigned char *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i = 0, o = 0, k;

	while (i < len) {
		unsigned char c;

		k = json_safe_span(in + i, len - i);
		memcpy(out + o, in + i, k);
		o += k;
		i += k;
		if (i == len)
			break;
		c = in[i++];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c < 0x20) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = digits[c >> 4];
			out[o + 5] = digits[c & 15];
			o += 6;
		} else {
			out[o++] = c;
		}
	}
	return o;
}

int
message_write_json(const struct message *m, bool data_utf8,
    message_source source, void *source_arg, message_sink sink,
    void *sink_arg)
{
	unsigned char *in = NULL;
	char *out = NULL, *head = NULL;
	const unsigned char *p;
	size_t hlen, off = 0, n, o;
	ssize_t got;
	gint state = 0, save = 0;
	cJSON *o_head;
	int rc = -1;

	if ((o_head = head_object(m)) == NULL)
		return -1;
	head = cJSON_PrintUnformatted(o_head);
	cJSON_Delete(o_head);
	if (head == NULL)
		return -1;
	/* Reopen the object to append the data member last. */
	hlen = strlen(head) - 1;
	if ((in = malloc(CHUNK)) == NULL || (out = malloc(CHUNK * 6 + 8)) == NULL)
		goto out;
	if (sink(sink_arg, head, hlen) == -1)
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
	free(head);
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

/* --- checking without decoding --- */

/*
 * message_check() walks the text once, without building a tree or copying
 * a string, and accepts only what message_decode() accepts and what is at
 * the same time a JSON text by itself (RFC 8259): no bytes after the
 * object, no control characters in strings, no lone UTF-16 surrogates, no
 * duplicate member among the ones the spool format defines (a client could
 * read the other one).  What the walk cannot settle alone (an escaped
 * data_base64) is left to message_decode().
 */

/* Deeper nesting than any spool object has; cJSON allows up to 1000. */
#define CHECK_DEPTH 64
/* cJSON reads a number through a 64-byte buffer: longer ones fail. */
#define CHECK_NUMBER_MAX 63

struct scan {
	const unsigned char *p, *end;
	int depth;
};

/* The members message_decode() reads, as bits of a seen mask. */
enum {
	K_ID, K_MAIL_FROM, K_RCPT_TOS, K_SUBJECT, K_BODY, K_TIMESTAMP,
	K_CLIENT, K_LAST_ERROR, K_ATTEMPTS, K_SIZE, K_DATA, K_DATA_BASE64,
	K_OTHER
};

static const char *const check_keys[K_OTHER] = {
	"id", "mail_from", "rcpt_tos", "subject", "body", "timestamp",
	"client", "last_error", "attempts", "size", "data", "data_base64"
};

static void
scan_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hex4(const unsigned char *p)
{
	int i, v = 0;

	for (i = 0; i < 4; i++) {
		int c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* The length of the escape at p (a backslash): 2, 6, or 12 for a UTF-16
 * surrogate pair; 0 when cJSON would refuse it. */
static size_t
escape_len(const unsigned char *p, const unsigned char *end)
{
	int u, lo;

	if (end - p < 2)
		return 0;
	switch (p[1]) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n':
	case 'r': case 't':
		return 2;
	case 'u':
		break;
	default:
		return 0;
	}
	if (end - p < 6 || (u = hex4(p + 2)) == -1)
		return 0;
	/* cJSON refuses what is not a valid UTF-16 sequence. */
	if (u >= 0xdc00 && u <= 0xdfff)
		return 0;
	if (u < 0xd800 || u > 0xdbff)
		return 6;
	if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
	    (lo = hex4(p + 8)) == -1 || lo < 0xdc00 || lo > 0xdfff)
		return 0;
	return 12;
}

#if defined(__SSE2__)
/* For the 64 octets at p: the bits of the backslashes in *bs, and as the
 * result those of what ends a string or makes it invalid (a quote, a C0
 * control). */
static inline uint64_t
string_masks64(const unsigned char *p, uint64_t *bs)
{
	const __m128i quote = _mm_set1_epi8('"'), bsl = _mm_set1_epi8('\\');
	const __m128i ctl = _mm_set1_epi8(0x1f);
	uint64_t stop = 0, b = 0;
	int k;

	for (k = 0; k < 4; k++) {
		const __m128i v = _mm_loadu_si128(
		    (const __m128i *)(const void *)(p + 16 * k));

		stop |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, quote),
		    _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v))) << (16 * k);
		b |= (uint64_t)(unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(v, bsl)) << (16 * k);
	}
	*bs = b;
	return stop;
}
#endif

/*
 * A string at s->p; on success *start and *stop bound its raw contents
 * and *escaped says whether they hold a backslash.  Long strings (the
 * raw message) go 64 octets at a time: the escapes in a block are
 * stepped over bit by bit, without looking at the octets again.
 */
static bool
scan_string(struct scan *s, const unsigned char **start,
    const unsigned char **stop, bool *escaped)
{
	const unsigned char *p, *end = s->end;
	size_t n;

	if (s->p >= end || *s->p != '"')
		return false;
	*start = p = s->p + 1;
	*escaped = false;
#if defined(__SSE2__)
	while (end - p >= 64) {
		uint64_t bs, ends = string_masks64(p, &bs);
		size_t k, past = 64;

		/* Step over each escape that comes before the first end. */
		while (bs != 0 && (ends == 0 ||
		    __builtin_ctzll(bs) < __builtin_ctzll(ends))) {
			k = (size_t)__builtin_ctzll(bs);
			*escaped = true;
			if ((n = escape_len(p + k, end)) == 0)
				return false;
			if (k + n >= 64) {
				past = k + n;	/* it reaches into the next block */
				ends = 0;
				break;
			}
			bs &= ~0ULL << (k + n);
			ends &= ~0ULL << (k + n);
		}
		if (ends != 0) {
			p += __builtin_ctzll(ends);
			if (*p != '"')
				return false;
			goto done;
		}
		p += past;
	}
#endif
	for (;;) {
		p += json_safe_span(p, end - p);
		if (p >= end || *p < 0x20)
			return false;
		if (*p == '"')
			break;
		*escaped = true;
		if ((n = escape_len(p, end)) == 0)
			return false;
		p += n;
	}
#if defined(__SSE2__)
done:
#endif
	*stop = p;
	s->p = p + 1;
	return true;
}

static bool
digits(struct scan *s)
{
	const unsigned char *from = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > from;
}

/* A number (RFC 8259 section 6); its value in *value when not NULL. */
static bool
scan_number(struct scan *s, double *value)
{
	const unsigned char *from = s->p;
	char text[CHECK_NUMBER_MAX + 1];

	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else if (!digits(s))
		return false;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!digits(s))
			return false;
	}
	if (s->p - from > CHECK_NUMBER_MAX)
		return false;
	if (value != NULL) {
		memcpy(text, from, s->p - from);
		text[s->p - from] = '\0';
		*value = strtod(text, NULL);
	}
	return true;
}

static bool
scan_word(struct scan *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* Any value; the type it had in *type ('"', '{', '[', '0', 'n', 'b'). */
static bool
scan_value(struct scan *s, char *type)
{
	const unsigned char *a, *b;
	char t;
	bool esc, more;

	if (s->p >= s->end)
		return false;
	switch (*s->p) {
	case '"':
		*type = '"';
		return scan_string(s, &a, &b, &esc);
	case 'n':
		*type = 'n';
		return scan_word(s, "null");
	case 't':
		*type = 'b';
		return scan_word(s, "true");
	case 'f':
		*type = 'b';
		return scan_word(s, "false");
	case '{':
	case '[':
		*type = (char)*s->p;
		break;
	default:
		*type = '0';
		return scan_number(s, NULL);
	}
	if (++s->depth > CHECK_DEPTH)
		return false;
	s->p++;
	scan_ws(s);
	more = s->p < s->end && *s->p != (*type == '{' ? '}' : ']');
	while (more) {
		if (*type == '{') {
			if (!scan_string(s, &a, &b, &esc))
				return false;
			scan_ws(s);
			if (s->p >= s->end || *s->p++ != ':')
				return false;
			scan_ws(s);
		}
		if (!scan_value(s, &t))
			return false;
		scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			scan_ws(s);
		} else
			more = false;
	}
	if (s->p >= s->end || *s->p++ != (*type == '{' ? '}' : ']'))
		return false;
	s->depth--;
	return true;
}

/* rcpt_tos: a non-empty array of strings. */
static bool
scan_rcpts(struct scan *s)
{
	const unsigned char *a, *b;
	bool esc;

	if (s->p >= s->end || *s->p++ != '[')
		return false;
	scan_ws(s);
	for (;;) {
		if (!scan_string(s, &a, &b, &esc))
			return false;
		scan_ws(s);
		if (s->p >= s->end || *s->p != ',')
			break;
		s->p++;
		scan_ws(s);
	}
	return s->p < s->end && *s->p++ == ']';
}

static int
key_of(const unsigned char *a, const unsigned char *b)
{
	int k;

	for (k = 0; k < K_OTHER; k++)
		if (strlen(check_keys[k]) == (size_t)(b - a) &&
		    memcmp(check_keys[k], a, b - a) == 0)
			return k;
	return K_OTHER;
}

/*
 * One member's value, checked as message_decode() checks it.  Returns 1
 * when fine, 0 when the object is not a message, -1 when only
 * message_decode() can tell.
 */
static int
check_member(struct scan *s, int key, char id[SPOOL_ID_LEN + 1])
{
	const unsigned char *a, *b;
	double v;
	bool esc;
	char t;

	switch (key) {
	case K_ID:
		if (!scan_string(s, &a, &b, &esc) || b - a != SPOOL_ID_LEN)
			return 0;
		memcpy(id, a, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		return spool_id_valid(id) ? 1 : 0;
	case K_MAIL_FROM:
	case K_DATA:
		return scan_string(s, &a, &b, &esc);
	case K_DATA_BASE64:
		if (!scan_string(s, &a, &b, &esc))
			return 0;
		if (esc)
			return -1;
		return base64_strict((const char *)a, b - a);
	case K_RCPT_TOS:
		return scan_rcpts(s);
	case K_SUBJECT:
	case K_BODY:
	case K_TIMESTAMP:
	case K_CLIENT:
	case K_LAST_ERROR:
		return scan_value(s, &t) && (t == '"' || t == 'n');
	case K_ATTEMPTS:
		if (!scan_number(s, &v))
			return 0;
		return v >= 0 && v <= 1e9 && v == (long)v;
	case K_SIZE:
		return scan_value(s, &t) && t == '0';
	}
	return scan_value(s, &t);
}

/* 1 a message, 0 not one, -1 only message_decode() can tell. */
static int
check_object(struct scan *s, char id[SPOOL_ID_LEN + 1])
{
	const unsigned char *a, *b;
	unsigned seen = 0;
	int key, rc, verdict = 1;
	bool esc;

	scan_ws(s);
	if (s->p >= s->end || *s->p++ != '{')
		return 0;
	s->depth = 1;
	scan_ws(s);
	while (s->p < s->end && *s->p != '}') {
		if (!scan_string(s, &a, &b, &esc) || esc)
			return 0;
		key = key_of(a, b);
		if (key != K_OTHER && (seen & 1U << key))
			return 0;
		seen |= 1U << key;
		scan_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return 0;
		scan_ws(s);
		if ((rc = check_member(s, key, id)) == 0)
			return 0;
		if (rc == -1)
			verdict = -1;
		scan_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			scan_ws(s);
			if (s->p < s->end && *s->p == '}')
				return 0;	/* a trailing comma */
		} else
			break;
	}
	if (s->p >= s->end || *s->p++ != '}')
		return 0;
	scan_ws(s);
	if (s->p != s->end)
		return 0;	/* bytes after the object */
	if (!(seen & 1U << K_MAIL_FROM) || !(seen & 1U << K_RCPT_TOS) ||
	    !(seen & 1U << K_DATA) == !(seen & 1U << K_DATA_BASE64))
		return 0;
	return verdict;
}

int
message_check(const char *json, size_t len, char id[SPOOL_ID_LEN + 1],
    char *err, size_t errlen)
{
	struct scan s = { (const unsigned char *)json,
	    (const unsigned char *)json + len, 0 };
	struct message m;
	int rc;

	id[0] = '\0';
	if ((rc = check_object(&s, id)) == 1)
		return 0;
	/* message_decode() has the last word on what the walk could not
	 * settle, and the reasons for what it refuses. */
	if (message_decode(json, len, &m, err, errlen) == -1)
		return -1;
	if (rc == -1) {
		memcpy(id, m.id, sizeof(m.id));
		message_clear(&m);
		return 0;
	}
	message_clear(&m);
	snprintf(err, errlen, "not a JSON text that can be served as it is");
	return -1;
}
