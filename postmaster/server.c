/*
 * server.c - request handling: routing, authentication, the drain, the
 * lease / ack / fail cycle, long polls, health and metrics.
 *
 * Each request gets a context on the first handler call (libmicrohttpd
 * calls the handler once with the headers, once per body chunk, and once
 * more when the body is complete) that lives until the completion
 * callback; the completion callback settles whatever the request handed
 * out.
 */
#include "postmaster/server.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "postmaster/authpool.h"
#include "postmaster/route.h"
#include "postmaster/settle.h"

#define JSON_TYPE "application/json"
#define REALM "postmaster"

struct request;

struct server {
	struct server_config cfg;
	struct queue *q;
	struct htpasswd *auth;
	unsigned auth_gen;		/* bumped when auth is replaced */
	struct authpool *pool;		/* crypt(3) off the event loop */
	int wake;			/* eventfd: a check is over */
	int ep;				/* epoll of libmicrohttpd's and wake */
	struct MHD_Daemon *mhd;
	struct settle *settle;		/* what becomes of handed-out mail */
	struct request *waiting;	/* suspended long polls */
	bool quiescing;
	bool spool_down;		/* the last check of the spool failed */
};

/* Where a request's credentials stand. */
enum auth_state {
	AUTH_PASSED,		/* or not needed */
	AUTH_PENDING,		/* suspended while a worker runs crypt(3) */
	AUTH_REFUSED,
	AUTH_BUSY		/* too many checks waiting: 503 */
};

struct request {
	struct server *s;
	struct MHD_Connection *conn;
	struct route_match rm;
	int route_status;		/* route_match()'s verdict */
	bool head_done;			/* check_head() has run */
	enum auth_state auth;
	char *user, *pass;		/* while a check is pending */
	struct htpasswd_job *job;
	unsigned auth_gen;		/* the credentials job was made from */
	char client[INET6_ADDRSTRLEN];
	char *body;
	size_t body_len;
	bool too_large;
	bool answered;
	unsigned long max;		/* /lease: batch size asked for */
	unsigned long max_bytes;	/* /lease: largest body, 0: none */
	uint64_t deadline;		/* /lease: end of the long poll, ms */
	bool suspended;
	struct request *prev, *next;	/* in s->waiting while suspended */
	struct batch *batch;		/* what this response hands out */
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- responses --- */

static enum MHD_Result
reply(struct request *r, unsigned status, const char *type, void *body,
    size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	r->answered = true;
	resp = MHD_create_response_from_buffer(len, body, mode);
	if (resp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED && r->rm.allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->rm.allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
		ret = MHD_queue_basic_auth_fail_response(r->conn, REALM, resp);
	else
		ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
reply_json(struct request *r, unsigned status, cJSON *obj)
{
	char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (text == NULL)
		return MHD_NO;
	return reply(r, status, JSON_TYPE, text, strlen(text),
	    MHD_RESPMEM_MUST_FREE);
}

/* {"error": why} */
static enum MHD_Result
reply_error(struct request *r, unsigned status, const char *why)
{
	cJSON *o = cJSON_CreateObject();

	if (o != NULL && cJSON_AddStringToObject(o, "error", why) == NULL) {
		cJSON_Delete(o);
		o = NULL;
	}
	return reply_json(r, status, o);
}

/* --- the request context --- */

static void
client_name(struct request *r)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL ||
	    (ci->client_addr->sa_family != AF_INET &&
	    ci->client_addr->sa_family != AF_INET6))
		snprintf(r->client, sizeof(r->client), "unix");
	else
		addr_ntop(ci->client_addr, r->client, sizeof(r->client));
}

static void
waiting_remove(struct request *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (r->s->waiting == r)
		r->s->waiting = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* Forgets the credentials a request brought. */
static void
credentials_clear(struct request *r)
{
	if (r->pass != NULL)
		explicit_bzero(r->pass, strlen(r->pass));
	free(r->pass);
	free(r->user);
	r->user = r->pass = NULL;
	htpasswd_job_free(r->job);
	r->job = NULL;
}

static void
request_free(struct request *r)
{
	if (r == NULL)
		return;
	credentials_clear(r);
	waiting_remove(r);
	batch_free(r->batch);
	free(r->body);
	free(r);
}

static bool
needs_auth(const struct request *r)
{
	/* Credentials first on known paths: a client without them learns
	 * nothing about which ids are well-formed. */
	return r->s->auth != NULL && r->rm.route != ROUTE_HEALTHZ &&
	    (r->route_status == 0 || r->route_status == 400);
}

/* On a worker thread: the check is over, the request goes on.  The
 * resumption does not wake an event loop waiting on libmicrohttpd's
 * epoll descriptor by itself: the eventfd does. */
static void
auth_done(void *arg)
{
	struct request *r = arg;
	uint64_t one = 1;

	MHD_resume_connection(r->conn);
	if (write(r->s->wake, &one, sizeof(one)) == -1) {
		/* EAGAIN: the counter is full, so a wake-up is pending. */
	}
}

/* Takes the request's credentials.  Remembered ones pass at once; others
 * go to a worker while the connection is suspended (the event loop
 * answers other requests meanwhile).  Missing parts are checked as empty
 * strings: every refusal costs the same crypt(3) run. */
static int
auth_begin(struct request *r)
{
	struct server *s = r->s;
	char *user, *pass = NULL;

	r->auth = AUTH_PASSED;
	if (!needs_auth(r))
		return 0;
	if (r->user == NULL) {
		user = MHD_basic_auth_get_username_password(r->conn, &pass);
		r->user = strdup(user != NULL ? user : "");
		r->pass = strdup(pass != NULL ? pass : "");
		if (pass != NULL)
			explicit_bzero(pass, strlen(pass));
		MHD_free(user);
		MHD_free(pass);
		if (r->user == NULL || r->pass == NULL)
			return -1;
	}
	if (htpasswd_cached(s->auth, r->user, r->pass)) {
		credentials_clear(r);
		return 0;
	}
	htpasswd_job_free(r->job);
	if ((r->job = htpasswd_job_new(s->auth, r->user, r->pass)) == NULL)
		return -1;
	r->auth_gen = s->auth_gen;
	r->auth = AUTH_PENDING;
	/* Suspended before the worker can resume it. */
	MHD_suspend_connection(r->conn);
	if (s->pool == NULL ||
	    authpool_submit(s->pool, r->job, auth_done, r) == -1) {
		r->auth = AUTH_BUSY;
		MHD_resume_connection(r->conn);
	}
	return 0;
}

/* After a worker's check: its answer, or a new check when the
 * credentials were reloaded meanwhile. */
static int
auth_end(struct request *r)
{
	struct server *s = r->s;

	if (r->auth != AUTH_PENDING)
		return 0;
	if (r->auth_gen != s->auth_gen || s->auth == NULL)
		return auth_begin(r);
	if (htpasswd_job_passed(r->job)) {
		htpasswd_remember(s->auth, r->user, r->pass);
		r->auth = AUTH_PASSED;
	} else
		r->auth = AUTH_REFUSED;
	credentials_clear(r);
	return 0;
}

/* The checks that need no body, once the credentials are checked:
 * route, method, ids, query, announced body size.  Returns MHD_YES with
 * nothing queued to go on. */
static enum MHD_Result
check_head(struct request *r)
{
	const char *v, *len;
	unsigned long wait = 0;
	int status = r->route_status;

	r->head_done = true;
	if (r->auth == AUTH_REFUSED)
		return reply_error(r, MHD_HTTP_UNAUTHORIZED,
		    "authentication required");
	if (r->auth == AUTH_BUSY)
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "too many credentials being checked; try again");
	if (status != 0)
		return reply_error(r, status, r->rm.error);
	len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (len != NULL && strtoull(len, NULL, 10) > SERVER_BODY_MAX)
		return reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE,
		    "request body larger than 65536 bytes");
	if (r->rm.route != ROUTE_LEASE)
		return MHD_YES;
	r->max = r->s->cfg.batch;
	v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "max");
	if (v != NULL && route_number(v, 1, r->s->cfg.batch, &r->max) == -1)
		return reply_error(r, MHD_HTTP_BAD_REQUEST,
		    "max must be a number from 1");
	v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "wait");
	if (v != NULL && route_number(v, 0, r->s->cfg.max_wait, &wait) == -1)
		return reply_error(r, MHD_HTTP_BAD_REQUEST,
		    "wait must be a number of seconds from 0");
	v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    "max_bytes");
	if (v != NULL && route_number(v, QUEUE_MAX_BYTES_MIN, ULONG_MAX,
	    &r->max_bytes) == -1)
		return reply_error(r, MHD_HTTP_BAD_REQUEST,
		    "max_bytes must be a number of bytes from 1024");
	r->deadline = now_ms() + (uint64_t)wait * 1000;
	return MHD_YES;
}

static void
body_feed(struct request *r, const char *data, size_t len)
{
	char *nb;

	if (r->too_large || r->body_len + len > SERVER_BODY_MAX) {
		r->too_large = true;	/* read on, answer 413 at the end */
		return;
	}
	if ((nb = realloc(r->body, r->body_len + len + 1)) == NULL) {
		r->too_large = true;
		return;
	}
	memcpy(nb + r->body_len, data, len);
	r->body = nb;
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

/* --- handing out messages --- */

static enum MHD_Result
reply_batch(struct request *r, struct batch *b)
{
	char *json;
	size_t len;

	r->batch = b;
	json = batch_take_json(b, &len);
	return reply(r, MHD_HTTP_OK, JSON_TYPE, json, len,
	    MHD_RESPMEM_MUST_FREE);
}

/* Whether the spool can be served from (see spool_check()); when not,
 * why says "spool DIR: reason".  Going down and coming back are logged
 * once each, however many requests find out. */
static bool
spool_usable(struct server *s, char *why, size_t len)
{
	if (spool_check(queue_spool(s->q), why, len) == -1) {
		if (!s->spool_down)
			log_err("%s", why);
		s->spool_down = true;
		return false;
	}
	if (s->spool_down)
		log_info("spool %s: usable again", spool_path(queue_spool(s->q)));
	s->spool_down = false;
	return true;
}

/* Claims a batch.  NULL with why filled when nothing can be handed out
 * because of the spool: a batch that a spool error cut short is still
 * served when it has messages. */
static struct batch *
claim(struct request *r, size_t max, const char *prefix, const char *lease,
    const char *suffix, char *why, size_t whylen)
{
	struct batch *b;
	char err[256];

	if (!spool_usable(r->s, why, whylen))
		return NULL;
	b = queue_claim(r->s->q, max, r->max_bytes, lease, prefix, suffix, err,
	    sizeof(err));
	if (b == NULL || err[0] != '\0')
		log_warn("spool: %s", err);
	if (b != NULL && (b->n > 0 || err[0] == '\0'))
		return b;
	batch_free(b);
	snprintf(why, whylen, "spool %s: %s", spool_path(queue_spool(r->s->q)),
	    err);
	return NULL;
}

/* GET /: the original's contract, messages deleted only when the whole
 * response went out.  Each message is held open until then and until its
 * deletion: when descriptors held that way reach the budget (see
 * settle_held_max()), a response serves fewer. */
static enum MHD_Result
do_drain(struct request *r)
{
	struct settle *st = r->s->settle;
	size_t max = r->s->cfg.batch, held = settle_held(st);
	struct batch *b;
	char why[512];

	if (held + max > settle_held_max(st))
		max = held + 1 < settle_held_max(st) ?
		    settle_held_max(st) - held : 1;
	if ((b = claim(r, max, "", NULL, "", why, sizeof(why))) == NULL)
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, why);
	settle_hold(st, b);
	return reply_batch(r, b);
}

static enum MHD_Result
do_lease(struct request *r)
{
	char lease[SPOOL_LEASE_LEN + 1], prefix[128], why[512];
	struct batch *b;
	time_t expires = time(NULL) + (time_t)r->s->cfg.lease_time;

	spool_lease_new(lease, expires);
	snprintf(prefix, sizeof(prefix),
	    "{\"lease\":\"%s\",\"expires\":%lld,\"messages\":", lease,
	    (long long)expires);
	if ((b = claim(r, r->max, prefix, lease, "}", why,
	    sizeof(why))) == NULL)
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, why);
	if (b->n > 0)
		return reply_batch(r, b);
	batch_free(b);
	if (!r->s->quiescing && now_ms() < r->deadline) {
		/* Wait for mail: server_run() resumes us, and libmicrohttpd
		 * calls the handler again. */
		r->suspended = true;
		r->next = r->s->waiting;
		if (r->next != NULL)
			r->next->prev = r;
		r->s->waiting = r;
		MHD_suspend_connection(r->conn);
		return MHD_YES;
	}
	static const char none[] =
	    "{\"lease\":null,\"expires\":null,\"messages\":[]}";
	return reply(r, MHD_HTTP_OK, JSON_TYPE, (void *)none,
	    sizeof(none) - 1, MHD_RESPMEM_PERSISTENT);
}

/* POST /leases/LEASE/ID/ack */
static enum MHD_Result
do_ack(struct request *r)
{
	cJSON *o;

	if (settle_ack(r->s->settle, r->rm.lease, r->rm.id, r->client) == -1) {
		if (errno == ENOENT)
			return reply_error(r, MHD_HTTP_NOT_FOUND,
			    "message is not leased under this lease");
		return reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "spool error");
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", r->rm.id);
	cJSON_AddStringToObject(o, "status", "sent");
	return reply_json(r, MHD_HTTP_OK, o);
}

/* The body of a /fail report: {"permanent": bool, "reason": "text"}. */
static const char *
parse_failure(const struct request *r, bool *permanent, char **reason)
{
	const cJSON *p, *why;
	cJSON *o;
	const char *bad = NULL;

	if (r->body == NULL || (o = cJSON_ParseWithLength(r->body,
	    r->body_len)) == NULL)
		return "body is not JSON";
	p = cJSON_GetObjectItemCaseSensitive(o, "permanent");
	why = cJSON_GetObjectItemCaseSensitive(o, "reason");
	if (!cJSON_IsObject(o))
		bad = "body is not a JSON object";
	else if (!cJSON_IsBool(p))
		bad = "\"permanent\" must be true or false";
	else if (!cJSON_IsString(why))
		bad = "\"reason\" must be a string";
	else if ((*reason = strdup(why->valuestring)) == NULL)
		bad = "out of memory";
	else
		*permanent = cJSON_IsTrue(p);
	cJSON_Delete(o);
	return bad;
}

/* POST /leases/LEASE/ID/fail */
static enum MHD_Result
do_fail(struct request *r)
{
	struct fail_result res;
	char *reason = NULL, err[256];
	const char *bad;
	bool permanent = false;
	enum MHD_Result ret;
	cJSON *o;

	if ((bad = parse_failure(r, &permanent, &reason)) != NULL)
		return reply_error(r, MHD_HTTP_BAD_REQUEST, bad);
	if (settle_fail(r->s->settle, r->rm.lease, r->rm.id, permanent,
	    reason, r->client, &res, err, sizeof(err)) == -1) {
		free(reason);
		if (err[0] == '\0')
			return reply_error(r, MHD_HTTP_NOT_FOUND,
			    "message is not leased under this lease");
		return reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "spool error");
	}
	free(reason);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", r->rm.id);
	cJSON_AddStringToObject(o, "status",
	    res.outcome == FAIL_DEFERRED ? "deferred" :
	    res.outcome == FAIL_BOUNCED ? "bounced" : "quarantined");
	cJSON_AddNumberToObject(o, "attempts", (double)res.attempts);
	ret = reply_json(r, MHD_HTTP_OK, o);
	return ret;
}

/* --- operations --- */

static enum MHD_Result
do_healthz(struct request *r)
{
	char why[512], *msg;
	int n;

	if (spool_usable(r->s, why, sizeof(why)))
		return reply(r, MHD_HTTP_OK, "text/plain", (void *)"ok", 2,
		    MHD_RESPMEM_PERSISTENT);
	if ((n = asprintf(&msg, "%s\n", why)) < 0)
		return MHD_NO;
	return reply(r, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", msg, n,
	    MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result
do_metrics(struct request *r)
{
	struct queue_stats st;
	struct server *s = r->s;
	struct settle_counts c = settle_counts(s->settle);
	struct timespec ts;
	char *text, why[512];
	int n;

	/* Gauges counted from a spool that is not there would say "empty". */
	if (!spool_usable(s, why, sizeof(why)))
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, why);
	clock_gettime(CLOCK_REALTIME, &ts);
	if (queue_stats(s->q, ts.tv_sec + ts.tv_nsec / 1e9, &st) == -1) {
		snprintf(why, sizeof(why), "spool %s: %s",
		    spool_path(queue_spool(s->q)), strerror(errno));
		log_err("metrics: %s", why);
		return reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, why);
	}
	n = asprintf(&text,
	    "# HELP postoffice_queued Messages waiting to be served.\n"
	    "# TYPE postoffice_queued gauge\npostoffice_queued %zu\n"
	    "# HELP postoffice_leased Messages served and not yet settled.\n"
	    "# TYPE postoffice_leased gauge\npostoffice_leased %zu\n"
	    "# HELP postoffice_deferred Messages waiting for their next try.\n"
	    "# TYPE postoffice_deferred gauge\npostoffice_deferred %zu\n"
	    "# HELP postoffice_dead Dead letters.\n"
	    "# TYPE postoffice_dead gauge\npostoffice_dead %zu\n"
	    "# HELP postoffice_quarantined Spool files that are not messages.\n"
	    "# TYPE postoffice_quarantined gauge\npostoffice_quarantined %zu\n"
	    "# HELP postoffice_oldest_age_seconds Age of the oldest queued message.\n"
	    "# TYPE postoffice_oldest_age_seconds gauge\n"
	    "postoffice_oldest_age_seconds %.3f\n"
	    "# HELP postoffice_served_total Messages handed out completely.\n"
	    "# TYPE postoffice_served_total counter\n"
	    "postoffice_served_total %" PRIu64 "\n"
	    "# HELP postoffice_acked_total Messages acknowledged as delivered.\n"
	    "# TYPE postoffice_acked_total counter\n"
	    "postoffice_acked_total %" PRIu64 "\n"
	    "# HELP postoffice_failed_total Delivery failures reported.\n"
	    "# TYPE postoffice_failed_total counter\n"
	    "postoffice_failed_total %" PRIu64 "\n",
	    st.queued, st.leased, st.deferred, st.dead, st.quarantined,
	    st.oldest_age, c.served, c.acked, c.failed);
	if (n < 0)
		return MHD_NO;
	return reply(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
	    text, n, MHD_RESPMEM_MUST_FREE);
}

/* --- libmicrohttpd callbacks --- */

static enum MHD_Result
dispatch(struct request *r)
{
	if (r->too_large)
		return reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE,
		    "request body larger than 65536 bytes");
	switch (r->rm.route) {
	case ROUTE_DRAIN:
		return do_drain(r);
	case ROUTE_LEASE:
		return do_lease(r);
	case ROUTE_ACK:
		return do_ack(r);
	case ROUTE_FAIL:
		return do_fail(r);
	case ROUTE_HEALTHZ:
		return do_healthz(r);
	case ROUTE_METRICS:
		return do_metrics(r);
	case ROUTE_NONE:
		break;
	}
	return reply_error(r, MHD_HTTP_NOT_FOUND, "no such resource");
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **ctx)
{
	struct server *s = cls;
	struct request *r = *ctx;
	enum MHD_Result ret;

	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->s = s;
		r->conn = conn;
		client_name(r);
		*ctx = r;
		r->route_status = route_match(method, url, &r->rm);
		if (auth_begin(r) == -1)
			return MHD_NO;
		return r->auth == AUTH_PENDING ? MHD_YES : check_head(r);
	}
	if (!r->head_done) {
		/* Resumed after a worker checked the credentials. */
		if (auth_end(r) == -1)
			return MHD_NO;
		if (r->auth == AUTH_PENDING)
			return MHD_YES;
		ret = check_head(r);
		if (ret != MHD_YES || r->answered)
			return ret;
	}
	if (r->answered)
		return MHD_YES;
	if (*upload_len > 0) {
		body_feed(r, upload, *upload_len);
		*upload_len = 0;
		return MHD_YES;
	}
	r->suspended = false;
	return dispatch(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
    enum MHD_RequestTerminationCode how)
{
	struct request *r = *ctx;

	(void)cls;
	(void)conn;
	if (r == NULL)
		return;
	/* Held messages (GET /) are deleted once the response went out
	 * whole; leased ones stay leased; otherwise they go back. */
	if (r->batch != NULL)
		settle_batch(r->s->settle, r->batch,
		    how == MHD_REQUEST_TERMINATED_COMPLETED_OK, r->client);
	request_free(r);
	*ctx = NULL;
}

/* The path is matched byte for byte as sent: a percent-encoded "/" or
 * NUL must not turn into one (the id checks refuse the '%'). */
static size_t
no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_warn("http: %s", buf);
}

/* One descriptor for the caller to wait on: readable when libmicrohttpd
 * has work or a credential check is over. */
static int
watch_both(struct server *s)
{
	const union MHD_DaemonInfo *di;
	struct epoll_event ev = { .events = EPOLLIN };

	di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (di == NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (s->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	ev.data.fd = di->epoll_fd;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, di->epoll_fd, &ev) == -1)
		return -1;
	ev.data.fd = s->wake;
	return epoll_ctl(s->ep, EPOLL_CTL_ADD, s->wake, &ev);
}

struct server *
server_new(const struct server_config *cfg, struct queue *q, int fd,
    struct htpasswd *auth, char *err, size_t errlen)
{
	struct server *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		htpasswd_free(auth);
		return NULL;
	}
	s->cfg = *cfg;
	s->q = q;
	s->auth = auth;
	s->wake = s->ep = -1;
	if ((auth != NULL && (s->pool = authpool_new(err, errlen)) == NULL) ||
	    (s->settle = settle_new(q, err, errlen)) == NULL) {
		server_free(s);
		return NULL;
	}
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, s,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
	    MHD_OPTION_END);
	if (s->mhd == NULL) {
		snprintf(err, errlen, "cannot start the HTTP server");
		server_free(s);
		return NULL;
	}
	if (watch_both(s) == -1) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		server_free(s);
		return NULL;
	}
	return s;
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	if (s->mhd != NULL) {
		/* Suspended connections must be resumed before the stop; the
		 * listening socket stays the caller's. */
		if (!s->quiescing)
			server_quiesce(s);
		/* Every pending check ends (resuming its request) first. */
		authpool_free(s->pool);
		s->pool = NULL;
		server_run(s);
		MHD_stop_daemon(s->mhd);
	}
	authpool_free(s->pool);
	if (s->ep != -1)
		close(s->ep);
	if (s->wake != -1)
		close(s->wake);
	settle_free(s->settle);
	htpasswd_free(s->auth);
	free(s);
}

void
server_set_auth(struct server *s, struct htpasswd *h)
{
	htpasswd_free(s->auth);
	s->auth = h;
	/* Checks under way were made from the old file: made again. */
	s->auth_gen++;
}

int
server_fd(const struct server *s)
{
	return s->ep;
}

int
server_timeout(const struct server *s)
{
	MHD_UNSIGNED_LONG_LONG t;
	uint64_t now = now_ms(), best = UINT64_MAX;
	const struct request *r;

	if (MHD_get_timeout(s->mhd, &t) == MHD_YES)
		best = t;
	for (r = s->waiting; r != NULL; r = r->next)
		if (r->deadline <= now)
			best = 0;
		else if (r->deadline - now < best)
			best = r->deadline - now;
	if (best == UINT64_MAX)
		return -1;
	return best > 60000 ? 60000 : (int)best;
}

void
server_run(struct server *s)
{
	struct request *r, *next;
	bool mail = queue_length(s->q) > 0;
	uint64_t now = now_ms(), n;

	if (s->wake != -1 && read(s->wake, &n, sizeof(n)) == -1) {
		/* EAGAIN: no check ended since the last run */
	}
	for (r = s->waiting; r != NULL; r = next) {
		next = r->next;
		if (!mail && !s->quiescing && r->deadline > now)
			continue;
		waiting_remove(r);
		MHD_resume_connection(r->conn);
	}
	MHD_run(s->mhd);
}

void
server_quiesce(struct server *s)
{
	s->quiescing = true;
	MHD_quiesce_daemon(s->mhd);
}
