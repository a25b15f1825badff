/*
 * url.c - normalisation of PostMaster's base URL (see url.h).  libcurl's
 * URL parser does the parsing; this file only decides which URLs we take.
 */
#include "postman/url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
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

bool
url_host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);
	const uint8_t *b;

	if (strcasecmp(host, "localhost") == 0 ||
	    (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n < 2 || host[0] != '[' || host[n - 1] != ']' || n - 2 >= sizeof(buf))
		return false;
	memcpy(buf, host + 1, n - 2);
	buf[n - 2] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return false;
	b = a6.s6_addr;
	return IN6_IS_ADDR_LOOPBACK(&a6) ||
	    (IN6_IS_ADDR_V4MAPPED(&a6) && b[12] == 127);
}

/* The part of url asked for, in a string for curl_free(), or NULL. */
static char *
url_part(const char *url, CURLUPart what)
{
	CURLU *u = curl_url();
	char *part = NULL;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, what, &part, 0) != CURLUE_OK)
		part = NULL;
	curl_url_cleanup(u);
	return part;
}

bool
url_in_clear(const char *url, char *host, size_t hostlen)
{
	char *scheme = url_part(url, CURLUPART_SCHEME);
	char *h = url_part(url, CURLUPART_HOST);
	bool clear = false;
	size_t n;

	/* A URL that cannot be read is taken as in clear: the warning it
	 * may bring costs less than a password sent unwarned. */
	if (scheme == NULL || strcasecmp(scheme, "https") != 0)
		clear = h == NULL || !url_host_is_loopback(h);
	if (clear && host != NULL && hostlen > 0) {
		const char *p = h != NULL ? h : "?";

		n = strlen(p);
		if (n >= 2 && p[0] == '[' && p[n - 1] == ']')
			p++, n -= 2;
		snprintf(host, hostlen, "%.*s", (int)n, p);
	}
	curl_free(scheme);
	curl_free(h);
	return clear;
}

bool
url_has_password(const char *url)
{
	char *pw = url_part(url, CURLUPART_PASSWORD);
	bool has = pw != NULL && pw[0] != '\0';

	curl_free(pw);
	return has;
}
