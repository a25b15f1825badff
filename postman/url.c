/*
 * url.c - normalisation of PostMaster's base URL (see url.h).  libcurl's
 * URL parser does the parsing; this file only decides which URLs we take.
 */
#include "postman/url.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The scheme part of in when it is written out ("xyz://"), else NULL. */
static const char *
written_scheme_end(const char *in)
{
	const char *p = strstr(in, "://");
	const char *q;

	if (p == NULL || p == in)
		return NULL;
	for (q = in; q < p; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		    (*q >= '0' && *q <= '9') || *q == '+' || *q == '-' ||
		    *q == '.'))
			return NULL;
	return p;
}

static bool
has_bad_bytes(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return true;
	return false;
}

char *
url_normalize(const char *in, char *err, size_t errlen)
{
	CURLU *u = NULL;
	CURLUcode uc;
	char *with_scheme = NULL, *part = NULL, *out = NULL;
	const char *end;
	size_t n;

	if (in == NULL || *in == '\0') {
		snprintf(err, errlen, "empty URL");
		goto fail;
	}
	if (has_bad_bytes(in)) {
		snprintf(err, errlen, "URL holds whitespace or control characters");
		goto fail;
	}
	if (strpbrk(in, "?#") != NULL) {
		snprintf(err, errlen, "URL must not hold a query or a fragment");
		goto fail;
	}
	end = written_scheme_end(in);
	if (end != NULL) {
		n = end - in;
		if (!((n == 4 && strncasecmp(in, "http", 4) == 0) ||
		    (n == 5 && strncasecmp(in, "https", 5) == 0))) {
			snprintf(err, errlen, "URL scheme must be http:// or https://");
			goto fail;
		}
		with_scheme = strdup(in);
	} else {
		if (strncmp(in, "//", 2) == 0 || in[0] == '/') {
			snprintf(err, errlen, "URL has no host");
			goto fail;
		}
		if ((with_scheme = malloc(strlen(in) + 9)) != NULL)
			sprintf(with_scheme, "https://%s", in);
	}
	if (with_scheme == NULL || (u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((uc = curl_url_set(u, CURLUPART_URL, with_scheme, 0)) != CURLUE_OK) {
		snprintf(err, errlen, "bad URL: %s", curl_url_strerror(uc));
		goto fail;
	}
	if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK ||
	    part[0] == '\0') {
		snprintf(err, errlen, "URL has no host");
		goto fail;
	}
	curl_free(part);
	part = NULL;
	if ((uc = curl_url_get(u, CURLUPART_URL, &part, 0)) != CURLUE_OK) {
		snprintf(err, errlen, "bad URL: %s", curl_url_strerror(uc));
		goto fail;
	}
	/* Endpoint paths are appended: "/lease" after ".../postoffice". */
	n = strlen(part);
	while (n > 0 && part[n - 1] == '/')
		n--;
	if ((out = strndup(part, n)) == NULL)
		snprintf(err, errlen, "out of memory");
fail:
	curl_free(part);
	curl_url_cleanup(u);
	free(with_scheme);
	return out;
}

char *
url_join(const char *base, const char *path)
{
	size_t a = strlen(base), b = strlen(path);
	char *s = malloc(a + b + 1);

	if (s == NULL)
		return NULL;
	memcpy(s, base, a);
	memcpy(s + a, path, b + 1);
	return s;
}
