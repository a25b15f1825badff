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

static int
parse_message(const cJSON *item, size_t index, struct leased *out,
    char *err, size_t errlen)
{
	char why[256];
	char *text;
	int rc;

	if (!cJSON_IsObject(item)) {
		snprintf(err, errlen, "messages[%zu] is not an object", index);
		return -1;
	}
	/* message_decode() is the one place that knows the spool object;
	 * it takes text, so the object is printed back for it. */
	if ((text = cJSON_PrintUnformatted(item)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = message_decode(text, strlen(text), &out->m, why, sizeof(why));
	free(text);
	if (rc == -1) {
		snprintf(err, errlen, "messages[%zu]: %s", index, why);
		return -1;
	}
	if (out->m.id[0] == '\0') {
		snprintf(err, errlen, "messages[%zu] has no \"id\"", index);
		message_clear(&out->m);
		return -1;
	}
	return 0;
}

static int
parse_head(const cJSON *root, struct lease *l, size_t *count,
    char *err, size_t errlen)
{
	const cJSON *lease, *expires, *msgs;

	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "response is not a JSON object");
		return -1;
	}
	lease = cJSON_GetObjectItemCaseSensitive(root, "lease");
	expires = cJSON_GetObjectItemCaseSensitive(root, "expires");
	msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
	if (!cJSON_IsArray(msgs)) {
		snprintf(err, errlen, "\"messages\" is missing or not an array");
		return -1;
	}
	*count = (size_t)cJSON_GetArraySize(msgs);
	if (*count == 0) {
		/* Nothing leased: lease and expires are null (or absent). */
		if ((lease != NULL && !cJSON_IsNull(lease) && !cJSON_IsString(lease)) ||
		    (expires != NULL && !cJSON_IsNull(expires) && !cJSON_IsNumber(expires))) {
			snprintf(err, errlen, "\"lease\" or \"expires\" has the wrong type");
			return -1;
		}
		return 0;
	}
	if (!cJSON_IsString(lease) || !spool_lease_valid(lease->valuestring)) {
		snprintf(err, errlen, "\"lease\" is not a lease token");
		return -1;
	}
	if (!cJSON_IsNumber(expires) || !isfinite(expires->valuedouble) ||
	    expires->valuedouble < 1 || expires->valuedouble > 1e11) {
		snprintf(err, errlen, "\"expires\" is not a time");
		return -1;
	}
	memcpy(l->id, lease->valuestring, SPOOL_LEASE_LEN + 1);
	l->expires = (time_t)expires->valuedouble;
	return 0;
}

/* True when the JSON text escapes a NUL (\u0000) in some string: C
 * strings would silently end there, so an address or a message would be
 * cut short.  An escape is a backslash preceded by an even run of them. */
static bool
has_nul_escape(const char *s, size_t len)
{
	size_t i = 0, run;

	while (i < len) {
		if (s[i] != '\\') {
			i++;
			continue;
		}
		for (run = 0; i < len && s[i] == '\\'; i++)
			run++;
		if (run % 2 == 1 && len - i >= 5 && memcmp(s + i, "u0000", 5) == 0)
			return true;
	}
	return false;
}

/* Parses the whole text: libcJSON stops after the first value. */
static cJSON *
parse_all(const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	if ((root = cJSON_ParseWithLengthOpts(body, len, &end, false)) == NULL)
		return NULL;
	while (end < body + len && (*end == ' ' || *end == '\t' ||
	    *end == '\r' || *end == '\n'))
		end++;
	if (end != body + len) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int
lease_parse(const char *body, size_t len, const struct lease_limits *lim,
    struct lease *l, char *err, size_t errlen)
{
	const cJSON *item;
	cJSON *root;
	size_t count, i, j;

	memset(l, 0, sizeof(*l));
	if ((root = parse_all(body, len)) == NULL) {
		snprintf(err, errlen, "response is not valid JSON");
		return -1;
	}
	if (has_nul_escape(body, len)) {
		snprintf(err, errlen, "response holds a NUL character (\\u0000)");
		goto fail;
	}
	if (parse_head(root, l, &count, err, errlen) == -1)
		goto fail;
	if (lim->max_messages > 0 && count > lim->max_messages) {
		snprintf(err, errlen, "%zu messages where at most %zu were asked for",
		    count, lim->max_messages);
		goto fail;
	}
	if (count > 0 && (l->msgs = calloc(count, sizeof(*l->msgs))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	i = 0;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "messages")) {
		if (parse_message(item, i, &l->msgs[i], err, errlen) == -1)
			goto fail;
		l->n = ++i;
		for (j = 0; j + 1 < i; j++)
			if (strcmp(l->msgs[j].m.id, l->msgs[i - 1].m.id) == 0) {
				snprintf(err, errlen, "message %s appears twice",
				    l->msgs[j].m.id);
				goto fail;
			}
	}
	for (i = 0; i < l->n; i++)
		check_envelope(&l->msgs[i], lim);
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
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
