/*
 * url.h - PostMaster's base URL as written on the command line.
 */
#ifndef POSTMAN_URL_H
#define POSTMAN_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Turns the URL argument into an absolute base URL without a trailing
 * slash.  A bare "host[:port][/path]" means https:// (the original's cron
 * line reads "postman example.com/postoffice"); plain http:// is used only
 * when written out; any other scheme, a query, a fragment, whitespace or
 * control characters are refused.  Returns a malloc'd string, or NULL with
 * the reason in err. */
char *url_normalize(const char *in, char *err, size_t errlen);

/* base + path (path starts with '/') in a malloc'd string, or NULL. */
char *url_join(const char *base, const char *path);

/* Whether host (as a URL holds it, an IPv6 address in brackets or not)
 * is this machine's loopback: an address in 127.0.0.0/8, ::1 or
 * ::ffff:127.0.0.0/104, or the name "localhost" or one ending in
 * ".localhost" (RFC 6761 6.3; libcurl answers these itself, never asking
 * DNS).  Any other name is not loopback: it is not resolved here, and
 * what it resolves to at connect time is not known to stay loopback. */
bool url_host_is_loopback(const char *host);

/* Whether requests to url (url_normalize's form) cross a network in
 * clear: plain http:// to a host that is not loopback.  When true and
 * host is not NULL, the host (IPv6 brackets removed) is copied into it. */
bool url_in_clear(const char *url, char *host, size_t hostlen);

/* Whether url names a password itself (http://user:password@host). */
bool url_has_password(const char *url);

#endif
