/*
 * url.h - PostMaster's base URL as written on the command line.
 */
#ifndef POSTMAN_URL_H
#define POSTMAN_URL_H

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

#endif
