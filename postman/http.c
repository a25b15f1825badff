/*
 * http.c - PostMaster's client side over libcurl (see http.h).  Every
 * CURLcode is checked; every failure carries CURLOPT_ERRORBUFFER's text.
 */
#include "postman/http.h"

#include <curl/curl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "postman/url.h"

struct http_client {
	CURL *curl;
	struct curl_slist *headers;
	char *base;
	size_t max_response;
	long timeout_ms;	/* per request; a long poll adds its wait */
	volatile sig_atomic_t *stop;
	char errbuf[CURL_ERROR_SIZE];
	/* per request */
	struct http_response *resp;
	size_t cap;
	bool too_big;
	bool oom;
	bool abortable;
	bool aborted;
};

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_client *c = arg;
	struct http_response *r = c->resp;
	size_t n = size * nmemb, want;
	char *p;

	if (r->len + n > c->max_response) {
		c->too_big = true;
		return 0;	/* libcurl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (r->len + n + 1 > c->cap) {
		want = c->cap ? c->cap * 2 : 16384;
		while (want < r->len + n + 1)
			want *= 2;
		if ((p = realloc(r->body, want)) == NULL) {
			c->oom = true;
			return 0;
		}
		r->body = p;
		c->cap = want;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_client *c = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	if (c->abortable && c->stop != NULL && *c->stop) {
		c->aborted = true;
		return 1;
	}
	return 0;
}

#define SETOPT(opt, val) do {						\
	if ((cc = curl_easy_setopt(c->curl, (opt), (val))) != CURLE_OK) {	\
		snprintf(err, errlen, "libcurl option " #opt ": %s",	\
		    curl_easy_strerror(cc));				\
		goto fail;						\
	}								\
} while (0)

/*
 * The base URL, with the user named in it when the password is left to
 * .netrc: libcurl looks a netrc password up for the URL's user, but sends
 * an empty one for a user given with CURLOPT_USERNAME alone.
 */
static char *
base_with_user(CURL *curl, const struct http_opts *o)
{
	const char *sep;
	char *user, *s;
	size_t a, b;

	if (o->user == NULL || o->password != NULL)
		return strdup(o->base);
	if ((sep = strstr(o->base, "://")) == NULL)
		return NULL;
	if ((user = curl_easy_escape(curl, o->user, 0)) == NULL)
		return NULL;
	a = (size_t)(sep + 3 - o->base);
	b = strlen(user);
	if ((s = malloc(strlen(o->base) + b + 2)) != NULL) {
		memcpy(s, o->base, a);
		memcpy(s + a, user, b);
		s[a + b] = '@';
		strcpy(s + a + b + 1, o->base + a);
	}
	curl_free(user);
	return s;
}

struct http_client *
http_client_new(const struct http_opts *o, char *err, size_t errlen)
{
	struct http_client *c;
	struct curl_slist *h;
	CURLcode cc;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->curl = curl_easy_init()) == NULL ||
	    (c->base = base_with_user(c->curl, o)) == NULL) {
		snprintf(err, errlen, "cannot set up libcurl");
		goto fail;
	}
	c->max_response = o->max_response;
	c->stop = o->stop;
	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h == NULL || (c->headers = curl_slist_append(h, "Expect:")) == NULL) {
		curl_slist_free_all(h);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_USERAGENT, "postman/" VERSION);
	SETOPT(CURLOPT_HTTPHEADER, c->headers);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, c);
	SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(CURLOPT_XFERINFODATA, c);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_response);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
	if (o->cacert != NULL)
		SETOPT(CURLOPT_CAINFO, o->cacert);
	/* A client certificate, for a server in front of PostMaster that
	 * asks for one (nginx's ssl_verify_client, doc/deployment.md). */
	if (o->cert != NULL) {
		SETOPT(CURLOPT_SSLCERT, o->cert);
		SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (o->key != NULL) {
		SETOPT(CURLOPT_SSLKEY, o->key);
		SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
	}
	/* .netrc supplies what the command line does not (libcurl reads it,
	 * RFC-less but universal). */
	SETOPT(CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	if (o->netrc_file != NULL)
		SETOPT(CURLOPT_NETRC_FILE, o->netrc_file);
	SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	if (o->user != NULL && o->password != NULL) {
		SETOPT(CURLOPT_USERNAME, o->user);
		SETOPT(CURLOPT_PASSWORD, o->password);
	}
	SETOPT(CURLOPT_POST, 1L);
	/* Kept per request: the total timeout, the URL and the body. */
	c->timeout_ms = o->timeout_ms;
	return c;
fail:
	http_client_free(c);
	return NULL;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c->base);
	free(c);
}

void
http_response_clear(struct http_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* What OpenSSL says when the other end answers a ClientHello with bytes
 * that are no TLS record: most often a plain HTTP server ("HTTP/1.1 400"
 * read as a record header). */
static bool
not_tls(CURLcode cc, const char *errbuf)
{
	return cc == CURLE_SSL_CONNECT_ERROR &&
	    (strstr(errbuf, "wrong version number") != NULL ||
	    strstr(errbuf, "packet length too long") != NULL ||
	    strstr(errbuf, "record layer failure") != NULL);
}

static enum http_fail
classify(CURLcode cc, const struct http_client *c)
{
	if (c->aborted)
		return HTTP_FAIL_ABORTED;
	if (c->oom)
		return HTTP_FAIL_LOCAL;
	if (c->too_big || cc == CURLE_FILESIZE_EXCEEDED)
		return HTTP_FAIL_TOO_BIG;
	if (not_tls(cc, c->errbuf))
		return HTTP_FAIL_TLS;
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return HTTP_FAIL_TLS;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
		return HTTP_FAIL_LOCAL;
	default:
		return HTTP_FAIL_TRANSPORT;
	}
}

/*
 * "URL: what libcurl says".  Its error buffer usually says more than
 * curl_easy_strerror() and often ends with the same words ("Failed to
 * connect to h port 1 after 0 ms: Couldn't connect to server"): then the
 * buffer alone, else both.  A TLS handshake met with plain text gets the
 * likely reason: a bare host is https://.
 */
static void
describe(CURLcode cc, const char *errbuf, const char *url, char *err,
    size_t errlen)
{
	const char *what = curl_easy_strerror(cc);

	if (errbuf[0] == '\0')
		snprintf(err, errlen, "%s: %s", url, what);
	else if (strstr(errbuf, what) != NULL)
		snprintf(err, errlen, "%s: %s", url, errbuf);
	else
		snprintf(err, errlen, "%s: %s: %s", url, what, errbuf);
	if (not_tls(cc, errbuf) && strlen(err) + 1 < errlen)
		snprintf(err + strlen(err), errlen - strlen(err), " (the server "
		    "does not speak TLS; use http:// if it is a plain HTTP "
		    "PostMaster: a URL without a scheme means https://)");
}

int
http_post(struct http_client *c, const char *path, const char *body,
    long extra_ms, bool abortable, struct http_response *r,
    enum http_fail *fail, char *err, size_t errlen)
{
	CURLcode cc;
	char *url = NULL;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	*fail = HTTP_FAIL_LOCAL;
	c->resp = r;
	c->cap = 0;
	c->too_big = c->aborted = c->oom = false;
	c->abortable = abortable;
	c->errbuf[0] = '\0';
	if ((url = url_join(c->base, path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_POSTFIELDS, body);
	SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	SETOPT(CURLOPT_TIMEOUT_MS, c->timeout_ms + extra_ms);
	cc = curl_easy_perform(c->curl);
	if (cc != CURLE_OK) {
		*fail = classify(cc, c);
		if (*fail == HTTP_FAIL_TOO_BIG)
			snprintf(err, errlen, "%s: response larger than %zu bytes",
			    url, c->max_response);
		else
			describe(cc, c->errbuf, url, err, errlen);
		http_response_clear(r);
		goto fail;
	}
	if ((cc = curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
	    &r->status)) != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, curl_easy_strerror(cc));
		http_response_clear(r);
		goto fail;
	}
	if (r->body == NULL && (r->body = calloc(1, 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	*fail = HTTP_FAIL_NONE;
	rc = 0;
fail:
	c->resp = NULL;
	free(url);
	return rc;
}

int
http_fail_exit(enum http_fail f)
{
	switch (f) {
	case HTTP_FAIL_NONE:
	case HTTP_FAIL_ABORTED:
		return 0;
	case HTTP_FAIL_TRANSPORT:
		return EX_TEMPFAIL;
	case HTTP_FAIL_TLS:
		return EX_UNAVAILABLE;
	case HTTP_FAIL_TOO_BIG:
		return EX_PROTOCOL;
	case HTTP_FAIL_LOCAL:
		return EX_OSERR;
	}
	return EX_SOFTWARE;
}

int
http_status_exit(long status)
{
	if (status == 401 || status == 403)
		return EX_NOPERM;
	if (status == 404)
		return EX_UNAVAILABLE;
	if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		return EX_TEMPFAIL;
	return EX_PROTOCOL;
}

bool
http_cert_refused(const struct http_response *r, char *why, size_t whylen)
{
	static const char *const titles[] = {
		"No required SSL certificate was sent",
		"The SSL certificate error",
	};
	size_t i;

	if (r->status != 400 || r->body == NULL)
		return false;
	for (i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
		if (memmem(r->body, r->len, titles[i], strlen(titles[i])) != NULL) {
			snprintf(why, whylen, "%s", titles[i]);
			return true;
		}
	return false;
}

/* The next token of a netrc file from *p into tok, a quoted one without
 * its quotes and escapes; false at the end.  A token too long for tok is
 * cut (it then matches nothing). */
static bool
netrc_token(const char **p, char *tok, size_t toklen)
{
	const char *s = *p;
	size_t n = 0;
	bool quoted;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s == '\0')
		return false;
	if ((quoted = *s == '"'))
		s++;
	for (; *s != '\0'; s++) {
		if (quoted ? *s == '"' : (*s == ' ' || *s == '\t' ||
		    *s == '\n' || *s == '\r'))
			break;
		if (quoted && *s == '\\' && s[1] != '\0')
			s++;
		if (n + 1 < toklen)
			tok[n++] = *s;
	}
	if (quoted && *s == '"')
		s++;
	tok[n] = '\0';
	*p = s;
	return true;
}

/* Whether the netrc text holds a password for host or a default one. */
static bool
netrc_has_password(const char *text, const char *host)
{
	char tok[1024];
	bool ours = false;

	while (netrc_token(&text, tok, sizeof(tok))) {
		if (strcmp(tok, "machine") == 0) {
			ours = netrc_token(&text, tok, sizeof(tok)) &&
			    strcasecmp(tok, host) == 0;
		} else if (strcmp(tok, "default") == 0) {
			ours = true;
		} else if (strcmp(tok, "password") == 0) {
			if (netrc_token(&text, tok, sizeof(tok)) && ours)
				return true;
		}
	}
	return false;
}

/* The netrc file's text (at most 1 MiB, as a netrc never is), malloc'd,
 * or NULL when it cannot be read. */
static char *
netrc_read(const char *path)
{
	enum { NETRC_MAX = 1024 * 1024 };
	char *text;
	size_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return NULL;
	if ((text = malloc(NETRC_MAX + 1)) != NULL) {
		n = fread(text, 1, NETRC_MAX, f);
		text[n] = '\0';
	}
	fclose(f);
	return text;
}

bool
http_password_in_clear(const struct http_opts *o, char *from, size_t fromlen,
    char *host, size_t hostlen)
{
	const struct passwd *pw;
	const char *home;
	char path[4096], *text;
	bool has;

	if (!url_in_clear(o->base, host, hostlen))
		return false;
	if (o->password != NULL) {
		snprintf(from, fromlen, "%s", "");
		return true;
	}
	if (url_has_password(o->base)) {
		snprintf(from, fromlen, "%s", "the URL");
		return true;
	}
	/* libcurl's own choice of file: the option, else .netrc in $HOME
	 * or, without one, in the user's home directory. */
	if ((home = getenv("HOME")) == NULL || *home == '\0')
		home = (pw = getpwuid(geteuid())) != NULL ? pw->pw_dir : NULL;
	if (o->netrc_file != NULL)
		snprintf(path, sizeof(path), "%s", o->netrc_file);
	else if (home != NULL)
		snprintf(path, sizeof(path), "%s/.netrc", home);
	else
		return false;
	if ((text = netrc_read(path)) == NULL)
		return false;
	has = netrc_has_password(text, host);
	free(text);
	if (has)
		snprintf(from, fromlen, "%s", path);
	return has;
}
