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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

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

/* Escapes valid UTF-8 for a JSON string (RFC 8259 section 7): quote,
 * backslash and the C0 controls; everything else passes through. */
static size_t
json_escape(char *out, const unsigned char *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = in[i];

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
