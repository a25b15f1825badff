/*
 * http.h - the few HTTP requests PostMan makes to PostMaster, through
 * libcurl: TLS verified unless told otherwise, basic auth, timeouts, a
 * cap on the response size, and one connection kept alive across
 * requests.
 */
#ifndef POSTMAN_HTTP_H
#define POSTMAN_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct http_opts {
	const char *base;		/* normalised base URL (url.h) */
	const char *cacert;		/* CA bundle file, NULL: system's */
	bool insecure;			/* skip TLS verification */
	const char *cert;		/* client certificate (PEM), NULL: none */
	const char *key;		/* its key (PEM), NULL: in cert */
	long connect_timeout_ms;
	long timeout_ms;		/* whole request, besides any wait */
	const char *user;		/* basic auth user, NULL: none */
	const char *password;		/* NULL: from .netrc if there */
	const char *netrc_file;		/* NULL: ~/.netrc */
	size_t max_response;		/* bytes of body at most */
	volatile sig_atomic_t *stop;	/* ends an abortable request */
};

/* Why a request brought no HTTP response. */
enum http_fail {
	HTTP_FAIL_NONE,
	HTTP_FAIL_TRANSPORT,	/* resolve, connect, send, receive, timeout */
	HTTP_FAIL_TLS,		/* certificate not verified, bad CA file or
				 * client certificate, no TLS on the port */
	HTTP_FAIL_TOO_BIG,	/* the body passed max_response */
	HTTP_FAIL_ABORTED,	/* the stop flag was raised */
	HTTP_FAIL_LOCAL		/* out of memory, bad option */
};

struct http_response {
	long status;		/* HTTP status, 0 when none */
	char *body;		/* NUL-terminated, malloc'd */
	size_t len;
};

struct http_client;

/* NULL with err filled when libcurl cannot be set up with these options.
 * Strings in o are copied. */
struct http_client *http_client_new(const struct http_opts *o, char *err,
    size_t errlen);
void http_client_free(struct http_client *c);

/* POSTs body (JSON, may be empty) to base + path.  extra_ms is added to
 * the total timeout (a long poll's wait).  When abortable, a raised stop
 * flag ends the request within about a second.  Returns 0 when a
 * response arrived (whatever its status; r filled, free it with
 * http_response_clear), or -1 with *fail and err set (libcurl's own error
 * text included). */
int http_post(struct http_client *c, const char *path, const char *body,
    long extra_ms, bool abortable, struct http_response *r,
    enum http_fail *fail, char *err, size_t errlen);

void http_response_clear(struct http_response *r);

/* When r is the page nginx answers with (400) for a client certificate
 * it did not get or could not verify (ssl_verify_client on), fills why
 * with that page's title ("No required SSL certificate was sent", "The
 * SSL certificate error") and returns true. */
bool http_cert_refused(const struct http_response *r, char *why,
    size_t whylen);

/* Whether the requests o describes would carry a password in clear: the
 * base URL is plain http:// to a host that is not loopback (url.h's
 * url_in_clear) and a password goes with them: o->password, one written
 * in the URL, or one that libcurl's .netrc (o->netrc_file, else
 * $HOME/.netrc) holds for the host or as its default.  When true, from
 * names the password's source ("" for o->password, "the URL" or the
 * netrc file's path) and host the host.  A netrc entry counts whatever
 * its login: a warning too many costs less than one missing. */
bool http_password_in_clear(const struct http_opts *o, char *from,
    size_t fromlen, char *host, size_t hostlen);

/* The exit status (sysexits.h) for a request that brought no response:
 * transport trouble EX_TEMPFAIL, TLS EX_UNAVAILABLE, oversized
 * EX_PROTOCOL, local trouble EX_OSERR, aborted 0. */
int http_fail_exit(enum http_fail f);

/* The exit status for an unexpected HTTP status: 401/403 EX_NOPERM, 404
 * EX_UNAVAILABLE (wrong URL), 408/429/5xx EX_TEMPFAIL, any other
 * EX_PROTOCOL. */
int http_status_exit(long status);

#endif
