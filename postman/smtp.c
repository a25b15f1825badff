/*
 * smtp.c - the SMTP delivery backend (see smtp.h).
 *
 * Each session delivers a contiguous share of the batch in one
 * connection; with several shares, each session runs in its own thread
 * (libESMTP keeps its error state per thread).  Results are read back
 * from libESMTP's per-message and per-recipient status after the session.
 *
 * libESMTP passes headers through unchanged, with these exceptions of its
 * own: it adds Date:, From: and Message-Id: when the message lacks them
 * (RFC 5322 3.6), drops Return-Path: (RFC 5321 4.4: only the final
 * delivery adds it) and drops repeats of the headers RFC 5322 allows once.
 */
#include "postman/smtp.h"

/* Before libesmtp.h, which declares smtp_starttls_set_ctx() only then. */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <auth-client.h>
#include <errno.h>
#include <libesmtp.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct smtp {
	struct backend base;
	char *server;
	int connections;
	bool starttls;
	SSL_CTX *tls;		/* with --starttls: whom to trust */
	char *user;
	char *password;
	long timeout_ms;
};

/* One message as libESMTP reads it. */
struct source {
	char *data;		/* CRLF-normalised copy */
	size_t len;
	size_t off;
	smtp_message_t msg;
	smtp_recipient_t *rcpt;
};

/* One session's share of the batch. */
struct share {
	struct smtp *sm;
	struct delivery *d;
	size_t n;
	char err[DELIVERY_REASON_MAX];	/* set when the session failed */
	char refusal[256];		/* the server's last 4xx/5xx reply */
	bool in_auth;			/* AUTH sent, its outcome not read */
	char auth_refusal[256];		/* ... and it was this 4xx or 5xx */
	int local_error;		/* set when we could not even try */
};

enum outcome
smtp_code_outcome(int code)
{
	if (code >= 200 && code <= 299)
		return OUTCOME_SENT;
	if (code >= 500 && code <= 599)
		return OUTCOME_BOUNCED;
	return OUTCOME_DEFERRED;
}

char *
smtp_crlf(const unsigned char *data, size_t len, size_t *out_len)
{
	size_t i, extra = 0, o = 0;
	char *out;

	for (i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			extra++;
		else if (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n'))
			extra++;
	}
	if ((out = malloc(len + extra + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')) {
			out[o++] = '\r';
			out[o++] = '\n';
		} else if (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n')) {
			out[o++] = '\r';
			out[o++] = '\n';
		} else {
			out[o++] = (char)data[i];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* libESMTP's message callback: len NULL means rewind; otherwise hand out
 * the rest of the message (in pieces of at most INT_MAX), then nothing.
 * ctx stays NULL: our state lives in the source. */
static const char *
read_source(void **ctx, int *len, void *arg)
{
	struct source *s = arg;
	size_t left;

	(void)ctx;
	if (len == NULL) {
		s->off = 0;
		return NULL;
	}
	left = s->len - s->off;
	if (left > INT_MAX)
		left = INT_MAX;
	*len = (int)left;
	s->off += left;
	return s->data + s->off - left;
}

static int
auth_interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	struct smtp *sm = arg;
	int i;

	for (i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = sm->user;
		else if (req[i].flags & AUTH_PASS)
			result[i] = sm->password;
		else
			return 0;
	}
	return 1;
}

static void
status_text(char *out, size_t outlen, const smtp_status_t *st)
{
	char text[DELIVERY_REASON_MAX - 16];
	const char *t = st->text != NULL ? st->text : "";

	reason_clean(text, sizeof(text), t, strlen(t));
	if (st->enh_class != 0)
		snprintf(out, outlen, "%d %d.%d.%d %s", st->code, st->enh_class,
		    st->enh_subject, st->enh_detail, text);
	else
		snprintf(out, outlen, "%d %s", st->code, text);
}

/* Reads one message's fate back from libESMTP.  A recipient's reply
 * counts unless MAIL FROM or DATA failed after it was accepted. */
static void
collect_message(struct delivery *d, struct source *src, const char *session_err,
    bool defer_all)
{
	const smtp_status_t *mail, *data, *rs, *st;
	size_t i;
	bool any_deferred = false, all_sent = true;
	const char *first_bad = NULL;
	size_t first_bad_i = 0;

	mail = smtp_reverse_path_status(src->msg);
	data = smtp_message_transfer_status(src->msg);
	d->attempted = true;
	for (i = 0; i < d->msg->nrcpt; i++) {
		struct rcpt_result *r = &d->rcpt[i];

		rs = smtp_recipient_status(src->rcpt[i]);
		st = NULL;
		if (mail != NULL && mail->code >= 400)
			st = mail;
		else if (rs != NULL && rs->code != 0 &&
		    smtp_code_outcome(rs->code) != OUTCOME_SENT)
			st = rs;
		else if (rs != NULL && rs->code != 0 && data != NULL && data->code != 0)
			st = data;
		/* After a refused AUTH, a refusal is no verdict on the
		 * message: it waits for the right password. */
		if (defer_all && st != NULL &&
		    smtp_code_outcome(st->code) != OUTCOME_SENT)
			st = NULL;
		if (st == NULL) {
			r->outcome = OUTCOME_DEFERRED;
			snprintf(r->reason, sizeof(r->reason), "%s",
			    session_err[0] ? session_err : "no reply from the server");
		} else {
			r->outcome = smtp_code_outcome(st->code);
			status_text(r->reason, sizeof(r->reason), st);
		}
		if (r->outcome != OUTCOME_SENT) {
			all_sent = false;
			if (r->outcome == OUTCOME_DEFERRED && !any_deferred) {
				any_deferred = true;
				first_bad = r->reason;
				first_bad_i = i;
			} else if (first_bad == NULL) {
				first_bad = r->reason;
				first_bad_i = i;
			}
		}
	}
	/* A message is acknowledged only when every recipient has it; when
	 * any recipient may still get it later, the whole message is tried
	 * again (those who have it get it twice: at least once). */
	if (all_sent) {
		d->outcome = OUTCOME_SENT;
		snprintf(d->reason, sizeof(d->reason), "%s", d->rcpt[0].reason);
	} else {
		d->outcome = any_deferred ? OUTCOME_DEFERRED : OUTCOME_BOUNCED;
		snprintf(d->reason, sizeof(d->reason), "<%.200s>: %.300s",
		    d->msg->rcpt_tos[first_bad_i], first_bad);
	}
}

/*
 * libESMTP's events that end a session before any reply could be read:
 * what they say becomes the reason every message of the session is
 * deferred with, instead of a bare "no reply from the server".
 */
static void
on_event(smtp_session_t s, int event, void *arg, ...)
{
	struct share *sh = arg;
	va_list ap;
	long vfy;
	int *ok;

	(void)s;
	va_start(ap, arg);
	switch (event) {
	case SMTP_EV_EXTNA_STARTTLS:
		snprintf(sh->err, sizeof(sh->err), "%s does not offer STARTTLS, "
		    "which --starttls requires", sh->sm->server);
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		vfy = va_arg(ap, long);
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(sh->err, sizeof(sh->err), "STARTTLS: %s's certificate "
		    "cannot be verified: %s", sh->sm->server,
		    X509_verify_cert_error_string(vfy));
		break;
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(sh->err, sizeof(sh->err), "STARTTLS: %s shows no "
		    "certificate", sh->sm->server);
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(sh->err, sizeof(sh->err), "STARTTLS: %s's certificate "
		    "is for another name", sh->sm->server);
		break;
	case SMTP_EV_WEAK_CIPHER:
		(void)va_arg(ap, int);
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(sh->err, sizeof(sh->err), "STARTTLS: %s chose a weak "
		    "cipher", sh->sm->server);
		break;
	default:
		break;
	}
	va_end(ap);
}

/*
 * Watches the dialogue for two things libESMTP does not report: the
 * server's last refusal (the reason for messages the session ended
 * before), and a refused AUTH, after which libESMTP goes on without
 * authenticating, so that the server's "530 authentication required" to
 * MAIL would bounce messages that only wait for a right password.
 */
static void
on_protocol(const char *buf, int len, int writing, void *arg)
{
	struct share *sh = arg;

	if (writing) {
		if (len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0)
			sh->in_auth = true;
		return;
	}
	if (len < 4)
		return;
	if (buf[0] != '4' && buf[0] != '5') {
		if (buf[0] != '3')
			sh->in_auth = false;
		return;
	}
	reason_clean(sh->refusal, sizeof(sh->refusal), buf, (size_t)len);
	if (sh->in_auth) {
		sh->in_auth = false;
		snprintf(sh->auth_refusal, sizeof(sh->auth_refusal), "%s",
		    sh->refusal);
	}
}

static int
setup_session(struct share *sh, smtp_session_t *sp, auth_context_t *ap,
    char *err, size_t errlen)
{
	struct smtp *sm = sh->sm;
	static const int steps[] = { Timeout_GREETING, Timeout_ENVELOPE,
	    Timeout_DATA, Timeout_TRANSFER, Timeout_DATA2 };
	smtp_session_t s;
	size_t i;

	*ap = NULL;
	if ((*sp = s = smtp_create_session()) == NULL ||
	    !smtp_set_server(s, sm->server)) {
		snprintf(err, errlen, "cannot set up an SMTP session");
		return -1;
	}
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		smtp_set_timeout(s, steps[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
		    sm->timeout_ms);
	if (!smtp_set_eventcb(s, on_event, sh) ||
	    !smtp_set_monitorcb(s, on_protocol, sh, 0)) {
		snprintf(err, errlen, "cannot set up an SMTP session");
		return -1;
	}
	if (sm->starttls && (!smtp_starttls_set_ctx(s, sm->tls) ||
	    !smtp_starttls_enable(s, Starttls_REQUIRED))) {
		snprintf(err, errlen, "STARTTLS is not available");
		return -1;
	}
	if (sm->user != NULL) {
		if ((*ap = auth_create_context()) == NULL) {
			snprintf(err, errlen, "cannot set up SMTP AUTH");
			return -1;
		}
		auth_set_mechanism_flags(*ap, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(*ap, auth_interact, sm);
		smtp_auth_set_context(s, *ap);
	}
	return 0;
}

static int
add_message(smtp_session_t s, struct delivery *d, struct source *src)
{
	size_t i;

	if ((src->data = smtp_crlf(d->msg->data, d->msg->data_len, &src->len)) == NULL ||
	    (src->rcpt = calloc(d->msg->nrcpt, sizeof(*src->rcpt))) == NULL ||
	    (d->rcpt = calloc(d->msg->nrcpt, sizeof(*d->rcpt))) == NULL ||
	    (src->msg = smtp_add_message(s)) == NULL)
		return -1;
	/* "" is the null reverse-path: MAIL FROM:<> (RFC 5321 4.5.5). */
	if (!smtp_set_reverse_path(src->msg, d->msg->mail_from) ||
	    !smtp_set_messagecb(src->msg, read_source, src))
		return -1;
	for (i = 0; i < d->msg->nrcpt; i++)
		if ((src->rcpt[i] = smtp_add_recipient(src->msg,
		    d->msg->rcpt_tos[i])) == NULL)
			return -1;
	return 0;
}

static void *
run_share(void *arg)
{
	struct share *sh = arg;
	struct source *src = NULL;
	smtp_session_t s = NULL;
	auth_context_t auth = NULL;
	char buf[256];
	size_t i;

	if ((src = calloc(sh->n, sizeof(*src))) == NULL ||
	    setup_session(sh, &s, &auth, sh->err, sizeof(sh->err)) == -1) {
		if (sh->err[0] == '\0')
			snprintf(sh->err, sizeof(sh->err), "out of memory");
		sh->local_error = 1;
		goto fail;
	}
	for (i = 0; i < sh->n; i++)
		if (add_message(s, &sh->d[i], &src[i]) == -1) {
			snprintf(sh->err, sizeof(sh->err), "cannot queue message: %s",
			    smtp_strerror(smtp_errno(), buf, sizeof(buf)));
			sh->local_error = 1;
			goto fail;
		}
	if (!smtp_start_session(s) && sh->err[0] == '\0')
		snprintf(sh->err, sizeof(sh->err), "%s: %s", sh->sm->server,
		    smtp_strerror(smtp_errno(), buf, sizeof(buf)));
	if (sh->auth_refusal[0] != '\0')
		snprintf(sh->err, sizeof(sh->err), "%s refused AUTH: %s",
		    sh->sm->server, sh->auth_refusal);
	else if (sh->err[0] == '\0' && sh->refusal[0] != '\0')
		snprintf(sh->err, sizeof(sh->err), "%s said: %s",
		    sh->sm->server, sh->refusal);
	for (i = 0; i < sh->n; i++)
		collect_message(&sh->d[i], &src[i], sh->err,
		    sh->auth_refusal[0] != '\0');
fail:
	if (s != NULL)
		smtp_destroy_session(s);
	if (auth != NULL)
		auth_destroy_context(auth);
	for (i = 0; src != NULL && i < sh->n; i++) {
		free(src[i].data);
		free(src[i].rcpt);
	}
	free(src);
	return NULL;
}

static int
smtp_deliver(struct backend *b, struct delivery *d, size_t n,
    struct delivery_ctl *ctl, char *err, size_t errlen)
{
	struct smtp *sm = b->impl;
	struct share *sh = NULL;
	pthread_t *tid = NULL;
	size_t k, nsh, i, off = 0;
	int rc = -1;
	bool *started = NULL;

	/* A session, once started, is finished: ctl's stop conditions only
	 * matter before it.  Shares whose session could not even be set up
	 * stay unattempted. */
	if (delivery_should_stop(ctl))
		return 0;
	if (n == 0)
		return 0;
	nsh = (size_t)sm->connections < n ? (size_t)sm->connections : n;
	if ((sh = calloc(nsh, sizeof(*sh))) == NULL ||
	    (tid = calloc(nsh, sizeof(*tid))) == NULL ||
	    (started = calloc(nsh, sizeof(*started))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (k = 0; k < nsh; k++) {
		sh[k].sm = sm;
		sh[k].d = d + off;
		sh[k].n = n / nsh + (k < n % nsh);
		off += sh[k].n;
	}
	if (nsh == 1) {
		run_share(&sh[0]);
	} else {
		for (k = 0; k < nsh; k++)
			started[k] = pthread_create(&tid[k], NULL, run_share, &sh[k]) == 0;
		for (k = 0; k < nsh; k++)
			if (started[k])
				pthread_join(tid[k], NULL);
			else
				run_share(&sh[k]);
	}
	rc = 0;
	for (k = 0; k < nsh; k++)
		if (sh[k].local_error) {
			/* Nothing of this share went out: leave it unattempted. */
			for (i = 0; i < sh[k].n; i++) {
				sh[k].d[i].attempted = false;
				free(sh[k].d[i].rcpt);
				sh[k].d[i].rcpt = NULL;
			}
			snprintf(err, errlen, "%s", sh[k].err);
			rc = -1;
		}
	for (i = 0; i < n; i++)
		if (d[i].attempted)
			delivery_done(&d[i], ctl);
fail:
	free(started);
	free(tid);
	free(sh);
	return rc;
}

static void
smtp_free(struct backend *b)
{
	struct smtp *sm = b->impl;

	if (sm->user != NULL)
		auth_client_exit();
	SSL_CTX_free(sm->tls);
	free(sm->server);
	free(sm->user);
	if (sm->password != NULL)
		explicit_bzero(sm->password, strlen(sm->password));
	free(sm->password);
	free(sm);
}

/*
 * The TLS context of every session: the server's certificate must lead to
 * CA (a PEM file) or, without one, to the system's trusted CAs.  libESMTP
 * checks the chain's verdict and the server's name against the
 * certificate itself and reports both through on_event().  TLS 1.2 only:
 * over TLS 1.3, libESMTP 1.1 now and then gives up after the EHLO that
 * follows STARTTLS and quits without a word (1 session in 5 to 10 against
 * aiosmtpd; none in 30 with TLS 1.2).
 */
static SSL_CTX *
tls_context(const char *cacert, char *err, size_t errlen)
{
	SSL_CTX *ctx = NULL;
	unsigned long e;
	const char *why;
	FILE *f;

	if (cacert != NULL) {
		if ((f = fopen(cacert, "r")) == NULL) {
			snprintf(err, errlen, "%s: %s", cacert, strerror(errno));
			return NULL;
		}
		fclose(f);
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	if (cacert != NULL ? !SSL_CTX_load_verify_locations(ctx, cacert, NULL) :
	    !SSL_CTX_set_default_verify_paths(ctx))
		goto fail;
	return ctx;
fail:
	e = ERR_get_error();
	if (e == 0 || (why = ERR_reason_error_string(e)) == NULL)
		why = "cannot set up";
	snprintf(err, errlen, "%s%s%s", cacert ? cacert : "TLS",
	    cacert ? ": no CA certificate could be read: " : ": ", why);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

struct backend *
smtp_backend_new(const struct smtp_opts *o, char *err, size_t errlen)
{
	struct smtp *sm;
	const char *colon;
	size_t n;

	if (o->server == NULL || o->server[0] == '\0' || o->connections < 1) {
		snprintf(err, errlen, "bad SMTP server or connection count");
		return NULL;
	}
	if ((sm = calloc(1, sizeof(*sm))) == NULL)
		goto oom;
	sm->base.impl = sm;
	sm->base.deliver = smtp_deliver;
	sm->base.free = smtp_free;
	/* libESMTP's default port is 587 (submission); a relay talks to 25
	 * unless told otherwise.  "[v6]" without a port gets ":25" too. */
	colon = strrchr(o->server, ':');
	n = strlen(o->server);
	if (colon == NULL || (o->server[0] == '[' && o->server[n - 1] == ']')) {
		if ((sm->server = malloc(n + 4)) == NULL)
			goto oom;
		snprintf(sm->server, n + 4, "%s:25", o->server);
	} else if ((sm->server = strdup(o->server)) == NULL) {
		goto oom;
	}
	sm->base.relay = sm->server;
	sm->connections = o->connections;
	sm->starttls = o->starttls;
	if (o->starttls && (sm->tls = tls_context(o->cacert, err, errlen)) == NULL) {
		smtp_free(&sm->base);
		return NULL;
	}
	sm->timeout_ms = (long)(o->timeout * 1000);
	if (sm->timeout_ms < 1000)
		sm->timeout_ms = 1000;
	if (o->user != NULL) {
		if ((sm->user = strdup(o->user)) == NULL ||
		    (sm->password = strdup(o->password ? o->password : "")) == NULL)
			goto oom;
		auth_client_init();
	}
	return &sm->base;
oom:
	snprintf(err, errlen, "out of memory");
	if (sm != NULL) {
		free(sm->server);
		free(sm->user);
		free(sm);
	}
	return NULL;
}
