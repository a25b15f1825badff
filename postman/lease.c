/*
 * lease.c - validation of PostMaster's lease response (see lease.h).
 */
#include "postman/lease.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/json.h"
#include "postman/delivery.h"

char *
addr_printable(char *out, size_t outlen, const char *addr, size_t max)
{
	size_t i, o = 0;
	unsigned char c;

	if (outlen == 0)
		return out;
	for (i = 0; addr[i] != '\0' && o + 1 < outlen; i++) {
		if (i == max) {
			if (o + 4 < outlen) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		c = (unsigned char)addr[i];
		out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[o] = '\0';
	return out;
}

/* Checks the envelope of a well-formed message; fills l->refusal. */
static void
check_envelope(struct leased *l, const struct lease_limits *lim)
{
	char shown[300];
	const char *problem;
	size_t i;

	if ((problem = addr_mail_problem(l->m.mail_from, true)) != NULL) {
		snprintf(l->refusal, sizeof(l->refusal), "invalid sender <%s>: %s",
		    addr_printable(shown, sizeof(shown), l->m.mail_from, 256),
		    problem);
		return;
	}
	if (lim->max_recipients > 0 && l->m.nrcpt > lim->max_recipients) {
		snprintf(l->refusal, sizeof(l->refusal),
		    "too many recipients (%zu, at most %zu)", l->m.nrcpt,
		    lim->max_recipients);
		return;
	}
	for (i = 0; i < l->m.nrcpt; i++)
		if ((problem = addr_mail_problem(l->m.rcpt_tos[i], false)) != NULL) {
			snprintf(l->refusal, sizeof(l->refusal),
			    "invalid recipient <%s>: %s",
			    addr_printable(shown, sizeof(shown), l->m.rcpt_tos[i], 256),
			    problem);
			return;
		}
}

/* Where each message of the response starts and ends. */
struct span {
	const char *p;
	size_t len;
};

/* The "id" member of an object that the spool rule refused, so that the
 * refusal can be reported: a spool id, or "" when there is none. */
static void
find_id(const struct span *sp, char id[SPOOL_ID_LEN + 1])
{
	struct json_scan s;
	struct json_str name, v;
	char t;

	id[0] = '\0';
	json_scan_init(&s, sp->p, sp->len);
	if (!json_scan_char(&s, '{'))
		return;
	s.depth = 1;
	for (;;) {
		json_scan_ws(&s);
		if (!json_scan_string(&s, &name))
			return;
		json_scan_ws(&s);
		if (!json_scan_char(&s, ':'))
			return;
		json_scan_ws(&s);
		if (json_str_is(&name, "id", 2)) {
			if (!json_scan_string(&s, &v) || v.escaped ||
			    v.stop - v.start != SPOOL_ID_LEN)
				return;
			memcpy(id, v.start, SPOOL_ID_LEN);
			id[SPOOL_ID_LEN] = '\0';
			if (!spool_id_valid(id))
				id[0] = '\0';
			return;
		}
		if (!json_scan_value(&s, &t))
			return;
		json_scan_ws(&s);
		if (!json_scan_char(&s, ','))
			return;
	}
}

/*
 * One message of the response, by the spool rule PostMaster applied
 * before serving it (message_decode()).  A message that breaks the rule
 * but carries its id fails alone, as a permanent failure with the rule's
 * reason; one without an id cannot be reported, and makes the response
 * malformed.
 */
static int
parse_message(const struct span *sp, size_t index, struct leased *out,
    char *err, size_t errlen)
{
	char why[256];

	if (message_decode(sp->p, sp->len, &out->m, why, sizeof(why)) == 0) {
		if (out->m.id[0] != '\0')
			return 0;
		snprintf(err, errlen, "messages[%zu] has no \"id\"", index);
		message_clear(&out->m);
		return -1;
	}
	find_id(sp, out->m.id);
	if (out->m.id[0] == '\0') {
		snprintf(err, errlen, "messages[%zu]: %s", index, why);
		return -1;
	}
	if ((out->m.mail_from = strdup("")) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(out->refusal, sizeof(out->refusal),
	    "not a spool message: %s", why);
	return 0;
}

/* The head of the response: what is known of it once walked. */
struct head {
	struct json_str lease;
	bool lease_null;
	double expires;
	bool expires_null, expires_number;
	struct span *msgs;
	size_t n, cap;
	unsigned seen;
};

enum { H_LEASE = 1, H_EXPIRES = 2, H_MESSAGES = 4 };

static int
walk_messages(struct json_scan *s, struct head *h, char *err, size_t errlen)
{
	const unsigned char *from;
	struct span *grown;
	char t;

	if (!json_scan_char(s, '[')) {
		snprintf(err, errlen, "\"messages\" is missing or not an array");
		return -1;
	}
	json_scan_ws(s);
	if (json_scan_char(s, ']'))
		return 0;
	for (;;) {
		from = s->p;
		if (!json_scan_value(s, &t))
			goto bad;
		if (t != '{') {
			snprintf(err, errlen, "messages[%zu] is not an object", h->n);
			return -1;
		}
		if (h->n == h->cap) {
			h->cap = h->cap ? 2 * h->cap : 16;
			if ((grown = realloc(h->msgs, h->cap * sizeof(*grown))) == NULL) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			h->msgs = grown;
		}
		h->msgs[h->n].p = (const char *)from;
		h->msgs[h->n++].len = (size_t)(s->p - from);
		json_scan_ws(s);
		if (json_scan_char(s, ']'))
			return 0;
		if (!json_scan_char(s, ','))
			goto bad;
		json_scan_ws(s);
	}
bad:
	snprintf(err, errlen, "response is not valid JSON");
	return -1;
}

/* Walks the whole response: an object of lease, expires and messages
 * (other members are skipped), nothing after it. */
static int
walk_response(const char *body, size_t len, struct head *h, char *err,
    size_t errlen)
{
	struct json_scan s;
	struct json_str name;
	unsigned bit;
	char t;

	json_scan_init(&s, body, len);
	json_scan_ws(&s);
	if (s.p < s.end && *s.p != '{' && json_scan_value(&s, &t)) {
		snprintf(err, errlen, "response is not a JSON object");
		return -1;
	}
	if (!json_scan_char(&s, '{'))
		goto bad;
	s.depth = 1;
	json_scan_ws(&s);
	if (!json_scan_char(&s, '}')) {
		for (;;) {
			if (!json_scan_string(&s, &name))
				goto bad;
			bit = json_str_is(&name, "lease", 5) ? H_LEASE :
			    json_str_is(&name, "expires", 7) ? H_EXPIRES :
			    json_str_is(&name, "messages", 8) ? H_MESSAGES : 0;
			if (h->seen & bit) {
				snprintf(err, errlen, "\"%.*s\" appears twice",
				    (int)(name.stop - name.start), name.start);
				return -1;
			}
			h->seen |= bit;
			json_scan_ws(&s);
			if (!json_scan_char(&s, ':'))
				goto bad;
			json_scan_ws(&s);
			if (bit == H_MESSAGES) {
				if (walk_messages(&s, h, err, errlen) == -1)
					return -1;
			} else if (bit == H_LEASE && s.p < s.end && *s.p == '"') {
				if (!json_scan_string(&s, &h->lease))
					goto bad;
			} else if (bit == H_EXPIRES && s.p < s.end &&
			    *s.p != 'n' && *s.p != '"' && *s.p != '{' &&
			    *s.p != '[' && *s.p != 't' && *s.p != 'f') {
				if (!json_scan_number(&s, &h->expires))
					goto bad;
				h->expires_number = true;
			} else {
				if (!json_scan_value(&s, &t))
					goto bad;
				if (bit == H_LEASE)
					h->lease_null = t == 'n';
				if (bit == H_EXPIRES)
					h->expires_null = t == 'n';
			}
			json_scan_ws(&s);
			if (json_scan_char(&s, '}'))
				break;
			if (!json_scan_char(&s, ','))
				goto bad;
			json_scan_ws(&s);
		}
	}
	json_scan_ws(&s);
	if (s.p == s.end)
		return 0;
bad:
	snprintf(err, errlen, "response is not valid JSON");
	return -1;
}

static int
check_head(const struct head *h, struct lease *l, char *err, size_t errlen)
{
	char token[SPOOL_LEASE_LEN + 1];
	size_t n = (size_t)(h->lease.stop - h->lease.start);

	if (!(h->seen & H_MESSAGES)) {
		snprintf(err, errlen, "\"messages\" is missing or not an array");
		return -1;
	}
	if (h->n == 0) {
		/* Nothing leased: lease and expires are null (or absent). */
		if (((h->seen & H_LEASE) && !h->lease_null && h->lease.start == NULL) ||
		    ((h->seen & H_EXPIRES) && !h->expires_null && !h->expires_number)) {
			snprintf(err, errlen, "\"lease\" or \"expires\" has the wrong type");
			return -1;
		}
		return 0;
	}
	if (h->lease.start == NULL || h->lease.escaped || n != SPOOL_LEASE_LEN) {
		snprintf(err, errlen, "\"lease\" is not a lease token");
		return -1;
	}
	memcpy(token, h->lease.start, n);
	token[n] = '\0';
	if (!spool_lease_valid(token)) {
		snprintf(err, errlen, "\"lease\" is not a lease token");
		return -1;
	}
	if (!h->expires_number || !isfinite(h->expires) || h->expires < 1 ||
	    h->expires > 1e11) {
		snprintf(err, errlen, "\"expires\" is not a time");
		return -1;
	}
	memcpy(l->id, token, sizeof(token));
	l->expires = (time_t)h->expires;
	return 0;
}

int
lease_parse(const char *body, size_t len, const struct lease_limits *lim,
    struct lease *l, char *err, size_t errlen)
{
	struct head h;
	size_t i, j;

	memset(l, 0, sizeof(*l));
	memset(&h, 0, sizeof(h));
	if (walk_response(body, len, &h, err, errlen) == -1 ||
	    check_head(&h, l, err, errlen) == -1)
		goto fail;
	if (lim->max_messages > 0 && h.n > lim->max_messages) {
		snprintf(err, errlen, "%zu messages where at most %zu were asked for",
		    h.n, lim->max_messages);
		goto fail;
	}
	if (h.n > 0 && (l->msgs = calloc(h.n, sizeof(*l->msgs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < h.n; i++) {
		if (parse_message(&h.msgs[i], i, &l->msgs[i], err, errlen) == -1) {
			message_clear(&l->msgs[i].m);
			goto fail;
		}
		l->n = i + 1;
		for (j = 0; j < i; j++)
			if (strcmp(l->msgs[j].m.id, l->msgs[i].m.id) == 0) {
				snprintf(err, errlen, "message %s appears twice",
				    l->msgs[j].m.id);
				goto fail;
			}
	}
	for (i = 0; i < l->n; i++)
		if (l->msgs[i].refusal[0] == '\0')
			check_envelope(&l->msgs[i], lim);
	free(h.msgs);
	return 0;
fail:
	free(h.msgs);
	lease_clear(l);
	return -1;
}

void
lease_clear(struct lease *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		message_clear(&l->msgs[i].m);
	free(l->msgs);
	memset(l, 0, sizeof(*l));
}

void
lease_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	const cJSON *e;
	cJSON *root;

	if (outlen == 0)
		return;
	root = len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsString(e))
		reason_clean(out, outlen, e->valuestring, strlen(e->valuestring));
	else
		reason_clean(out, outlen < 204 ? outlen : 204, body, len);
	if (out[0] == '\0')
		snprintf(out, outlen, "no details");
	cJSON_Delete(root);
}
