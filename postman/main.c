/*
 * main.c - PostMan: leases mail from PostMaster over HTTP(S), hands each
 * message to sendmail, to an SMTP server or to a Maildir, and tells
 * PostMaster what became of it (acknowledged, or failed temporarily or permanently).
 *
 * This file decides and logs; the modules it drives report.  See
 * doc/postman.md for the options, the log lines and the exit statuses.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/log.h"
#include "postman/delivery.h"
#include "postman/http.h"
#include "postman/lease.h"
#include "postman/lock.h"
#include "postman/maildir.h"
#include "postman/options.h"
#include "postman/sendmail.h"
#include "postman/smtp.h"

#define BACKOFF_MAX 60.0	/* seconds between retries in --watch */

static volatile sig_atomic_t stopping;

struct run {
	const struct postman_opts *o;
	struct http_client *http;
	struct backend *be;
	struct lease_limits lim;
	unsigned long delivered, deferred, bounced;
	int status;		/* exit status so far */
};

/* One batch being delivered. */
struct batch {
	struct run *run;
	struct lease *lease;
	time_t leased_at;
};

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

/* --- reading secrets --- */

/* The first line of path, without its line end, in a malloc'd string. */
static char *
read_first_line(const char *path, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	n = getline(&line, &cap, f);
	fclose(f);
	if (n < 0) {
		free(line);
		if ((line = strdup("")) == NULL)
			snprintf(err, errlen, "out of memory");
		return line;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

/* --- logging --- */

/* Seconds from the message's arrival (its timestamp) to now, as Postfix's
 * delay=; from the lease when the timestamp is missing or odd. */
static double
message_delay(const struct message *m, time_t leased_at)
{
	struct timespec now;
	struct tm tm;
	int ms = 0;
	double t;

	clock_gettime(CLOCK_REALTIME, &now);
	memset(&tm, 0, sizeof(tm));
	if (m->timestamp != NULL &&
	    sscanf(m->timestamp, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) >= 6) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		t = (double)timegm(&tm) + ms / 1000.0;
	} else {
		t = (double)leased_at;
	}
	t = now.tv_sec + now.tv_nsec / 1e9 - t;
	return t < 0 ? 0 : t;
}

/* One line per recipient, as Postfix's delivery agents write them. */
static void
log_delivery(const struct message *m, const char *relay, double delay,
    enum outcome o, const char *reason, const struct rcpt_result *rcpt)
{
	char to[300];
	size_t i;

	if (m->nrcpt == 0)	/* not a spool message: no envelope to name */
		log_info("%s: relay=%s, delay=%.2f, status=%s (%s)", m->id, relay,
		    delay, outcome_name(o), reason);
	for (i = 0; i < m->nrcpt; i++) {
		const struct rcpt_result *r = rcpt != NULL ? &rcpt[i] : NULL;

		log_info("%s: to=<%s>, relay=%s, delay=%.2f, status=%s (%s)",
		    m->id, addr_printable(to, sizeof(to), m->rcpt_tos[i], 256),
		    relay, delay, outcome_name(r ? r->outcome : o),
		    r ? r->reason : reason);
	}
}

/* --- talking to PostMaster --- */

/* Tells PostMaster what became of one message.  Returns 0, or an exit
 * status when PostMaster could not be told (the run must end). */
static int
report(struct run *run, const struct lease *l, const struct message *m,
    enum outcome o, const char *reason)
{
	struct http_response r;
	enum http_fail fail;
	char path[128], err[1024], text[256];
	char *body = NULL;
	cJSON *j;
	int rc = 0;

	snprintf(path, sizeof(path), "/leases/%s/%s/%s", l->id, m->id,
	    o == OUTCOME_SENT ? "ack" : "fail");
	if (o != OUTCOME_SENT) {
		if ((j = cJSON_CreateObject()) == NULL ||
		    cJSON_AddBoolToObject(j, "permanent", o == OUTCOME_BOUNCED) == NULL ||
		    cJSON_AddStringToObject(j, "reason", reason) == NULL ||
		    (body = cJSON_PrintUnformatted(j)) == NULL) {
			cJSON_Delete(j);
			log_err("%s: out of memory", m->id);
			return EX_OSERR;
		}
		cJSON_Delete(j);
	}
	if (http_post(run->http, path, body ? body : "", 0, false, &r, &fail,
	    err, sizeof(err)) == -1) {
		log_err("%s: cannot report status=%s: %s", m->id, outcome_name(o), err);
		rc = http_fail_exit(fail);
		goto done;
	}
	if (r.status == 404) {
		/* The lease ran out and the message went back to the queue:
		 * it will come again (at least once). */
		log_warn("%s: lease %s expired before the report; the message "
		    "will be delivered again", m->id, l->id);
	} else if (r.status < 200 || r.status > 299) {
		lease_error_text(r.body, r.len, text, sizeof(text));
		log_err("%s: cannot report status=%s: HTTP %ld (%s)", m->id,
		    outcome_name(o), r.status, text);
		rc = http_status_exit(r.status);
	}
	http_response_clear(&r);
done:
	free(body);
	return rc;
}

static void
count(struct run *run, enum outcome o)
{
	if (o == OUTCOME_SENT)
		run->delivered++;
	else if (o == OUTCOME_DEFERRED)
		run->deferred++;
	else
		run->bounced++;
}

/* Called by the backend as each message is done: log, then report. */
static void
on_done(struct delivery *d, struct delivery_ctl *ctl)
{
	struct batch *b = ctl->arg;
	struct run *run = b->run;
	int rc;

	log_delivery(d->msg, run->be->relay, message_delay(d->msg, b->leased_at),
	    d->outcome, d->reason, d->rcpt);
	count(run, d->outcome);
	if ((rc = report(run, b->lease, d->msg, d->outcome, d->reason)) != 0) {
		run->status = rc;
		ctl->halt = true;
	}
}

/* Leases a batch.  Returns 0 with l filled (maybe empty), or an exit
 * status; -1 when the stop flag ended the wait. */
static int
lease_batch(struct run *run, struct lease *l)
{
	const struct postman_opts *o = run->o;
	struct http_response r;
	enum http_fail fail;
	char path[96], err[1024], text[256];
	int rc;

	/* max_bytes: PostMaster fills the batch up to it and never answers
	 * more, so that a response is never cut at --max-response. */
	if (o->batch > 0)
		snprintf(path, sizeof(path), "/lease?max=%ld&wait=%ld&max_bytes=%zu",
		    o->batch, o->wait, o->max_response);
	else
		snprintf(path, sizeof(path), "/lease?wait=%ld&max_bytes=%zu",
		    o->wait, o->max_response);
	if (http_post(run->http, path, "", o->wait * 1000, true, &r, &fail,
	    err, sizeof(err)) == -1) {
		if (fail == HTTP_FAIL_ABORTED)
			return -1;
		log_err("lease: %s", err);
		return http_fail_exit(fail);
	}
	if (r.status != 200 && http_cert_refused(&r, text, sizeof(text))) {
		/* nginx in front of PostMaster: credentials refused, as 401. */
		log_err("lease: HTTP 400 from the server in front of PostMaster "
		    "(%s): %s", text, o->cert == NULL ? "it asks for a client "
		    "certificate (--cert, --key)" : "it does not accept the "
		    "client certificate --cert");
		http_response_clear(&r);
		return EX_NOPERM;
	}
	if (r.status != 200) {
		lease_error_text(r.body, r.len, text, sizeof(text));
		log_err("lease: HTTP %ld from PostMaster (%s)", r.status, text);
		rc = http_status_exit(r.status);
		http_response_clear(&r);
		return rc;
	}
	rc = lease_parse(r.body, r.len, &run->lim, l, err, sizeof(err));
	http_response_clear(&r);
	if (rc == -1) {
		log_err("lease: malformed response, nothing acknowledged: %s", err);
		return EX_PROTOCOL;
	}
	return 0;
}

/* Delivers one leased batch.  Returns 0 or an exit status. */
static int
deliver_batch(struct run *run, struct lease *l, double deadline)
{
	struct batch b = { run, l, time(NULL) };
	struct delivery_ctl ctl = { &stopping, deadline, false, on_done, &b };
	struct delivery *d;
	char err[512];
	size_t i, n = 0;
	int rc;

	if ((d = calloc(l->n, sizeof(*d))) == NULL) {
		log_err("out of memory");
		return EX_OSERR;
	}
	/* Refused envelopes never reach a backend: permanent failures. */
	for (i = 0; i < l->n && run->status == 0; i++) {
		if (l->msgs[i].refusal[0] == '\0') {
			d[n++].msg = &l->msgs[i].m;
			continue;
		}
		log_delivery(&l->msgs[i].m, "none", message_delay(&l->msgs[i].m,
		    b.leased_at), OUTCOME_BOUNCED, l->msgs[i].refusal, NULL);
		count(run, OUTCOME_BOUNCED);
		run->status = report(run, l, &l->msgs[i].m, OUTCOME_BOUNCED,
		    l->msgs[i].refusal);
	}
	if (run->status == 0 && n > 0 &&
	    run->be->deliver(run->be, d, n, &ctl, err, sizeof(err)) == -1) {
		log_err("delivery: %s", err);
		run->status = EX_UNAVAILABLE;
	}
	for (i = 0; i < n; i++) {
		if (!d[i].attempted)
			log_info("%s: not attempted; back in the queue when lease "
			    "%s expires", d[i].msg->id, l->id);
		free(d[i].rcpt);
	}
	free(d);
	rc = run->status;
	return rc;
}

/* Sleeps up to s seconds, waking early when stopping. */
static void
nap(double s)
{
	double end = monotonic_now() + s;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	while (!stopping && monotonic_now() < end)
		nanosleep(&ts, NULL);
}

/* Cron mode: batch after batch until the queue is empty, the time is up,
 * a signal comes or something fails. */
static void
run_once(struct run *run)
{
	double deadline = run->o->max_time > 0 ?
	    monotonic_now() + run->o->max_time : 0;
	struct lease l;
	int rc;

	while (!stopping && run->status == 0) {
		if (deadline > 0 && monotonic_now() >= deadline) {
			log_info("max-time of %gs reached; the rest waits for "
			    "the next run", run->o->max_time);
			break;
		}
		rc = lease_batch(run, &l);
		if (rc != 0) {
			run->status = rc == -1 ? 0 : rc;
			break;
		}
		if (l.n == 0)
			break;
		deliver_batch(run, &l, deadline);
		lease_clear(&l);
	}
}

/* Service mode: long-poll and deliver until SIGTERM; trouble with
 * PostMaster is logged and retried with a growing pause. */
static void
run_watch(struct run *run)
{
	double backoff = 1;
	struct lease l;
	int rc;

	log_info("watching %s, relay=%s", run->o->url, run->be->relay);
	sd_notify(0, "READY=1\nSTATUS=watching");
	while (!stopping) {
		rc = lease_batch(run, &l);
		if (rc == -1)
			break;
		if (rc == 0 && l.n > 0) {
			rc = deliver_batch(run, &l, 0);
			lease_clear(&l);
		}
		if (rc != 0) {
			run->status = 0;
			log_info("retrying in %gs", backoff);
			sd_notifyf(0, "STATUS=trouble with PostMaster or the "
			    "relay; retrying in %gs", backoff);
			nap(backoff);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
			continue;
		}
		if (backoff > 1)
			sd_notify(0, "STATUS=watching");
		backoff = 1;
	}
	sd_notify(0, "STOPPING=1");
}

/* --- setting up --- */

static int
setup_backend(struct run *run, char **smtp_password)
{
	const struct postman_opts *o = run->o;
	char err[512];

	*smtp_password = NULL;
	if (o->maildir != NULL) {
		if ((run->be = maildir_backend_new(o->maildir, err,
		    sizeof(err))) == NULL) {
			log_err("maildir: %s", err);
			return EX_CONFIG;
		}
		return 0;
	}
	if (o->smtp == NULL) {
		struct sendmail_opts so = { o->sendmail, o->sendmail_timeout,
		    o->sendmail_parallel };

		if ((run->be = sendmail_backend_new(&so, err, sizeof(err))) == NULL) {
			log_err("sendmail: %s", err);
			return EX_CONFIG;
		}
		return 0;
	}
	if (o->smtp_password_file != NULL &&
	    (*smtp_password = read_first_line(o->smtp_password_file, err,
	    sizeof(err))) == NULL) {
		log_err("--smtp-password-file: %s", err);
		return EX_NOINPUT;
	}
	struct smtp_opts so = { o->smtp, (int)o->smtp_connections, o->starttls,
	    o->smtp_cacert, o->smtp_user, *smtp_password, o->smtp_timeout };
	if ((run->be = smtp_backend_new(&so, err, sizeof(err))) == NULL) {
		log_err("smtp: %s", err);
		return EX_CONFIG;
	}
	return 0;
}

static int
setup_http(struct run *run, char **password)
{
	const struct postman_opts *o = run->o;
	struct http_opts ho;
	const char *pw = NULL, *pw_from = NULL;
	char err[512], from[4096], host[256];

	*password = NULL;
	if (o->password_file != NULL) {
		if ((*password = read_first_line(o->password_file, err,
		    sizeof(err))) == NULL) {
			log_err("--password-file: %s", err);
			return EX_NOINPUT;
		}
		pw = *password;
		pw_from = "--password-file";
	} else if (o->password != NULL) {
		log_warn("--password is visible to every user in ps; use "
		    "--password-file, POSTMAN_PASSWORD or ~/.netrc");
		pw = o->password;
		pw_from = "--password";
	} else if (o->user != NULL && getenv("POSTMAN_PASSWORD") != NULL) {
		pw = getenv("POSTMAN_PASSWORD");
		pw_from = "POSTMAN_PASSWORD";
	}
	memset(&ho, 0, sizeof(ho));
	ho.base = o->url;
	ho.cacert = o->cacert;
	ho.insecure = o->insecure;
	ho.cert = o->cert;
	ho.key = o->key;
	ho.connect_timeout_ms = (long)(o->connect_timeout * 1000);
	ho.timeout_ms = (long)(o->timeout * 1000);
	ho.user = o->user;
	ho.password = pw;
	ho.netrc_file = o->netrc_file;
	ho.max_response = o->max_response;
	ho.stop = &stopping;
	if (http_password_in_clear(&ho, from, sizeof(from), host, sizeof(host)))
		log_warn("the password from %s goes to %s in clear (plain "
		    "http://, not loopback); use https://",
		    pw != NULL ? pw_from : from, host);
	if ((run->http = http_client_new(&ho, err, sizeof(err))) == NULL) {
		log_err("%s", err);
		return EX_CONFIG;
	}
	return 0;
}

static void
setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a signal wakes poll() and the wait at once. */
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A sendmail that exits early makes write() fail with EPIPE. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Overwrites --password's value in argv so that ps shows it no longer
 * than it must (it stays visible until here: hence the warning). */
static void
hide_password(int argc, char **argv, const char *pw, char **copy)
{
	int i;

	*copy = NULL;
	if (pw == NULL)
		return;
	for (i = 1; i < argc; i++)
		if (argv[i] == pw || (argv[i] + 11 == pw &&
		    strncmp(argv[i], "--password=", 11) == 0)) {
			*copy = strdup(pw);
			memset(argv[i] + (argv[i] == pw ? 0 : 11), 'x',
			    strlen(pw));
		}
}

int
main(int argc, char **argv)
{
	struct postman_opts o;
	struct run run;
	char err[512], *lock_path = NULL, *password = NULL, *smtp_password = NULL;
	char *pw_copy = NULL;
	int lock_fd = -1, rc;

	cli_init("postman", " (see --help)");
	if (opts_parse(argc, argv, &o, err, sizeof(err)) == -1)
		return cli_usage("%s", err);
	if (o.help) {
		fputs(opts_usage, stdout);
		return 0;
	}
	if (o.version) {
		printf("postman %s\n", VERSION);
		return 0;
	}
	hide_password(argc, argv, o.password, &pw_copy);
	if (pw_copy != NULL)
		o.password = pw_copy;
	memset(&run, 0, sizeof(run));
	run.o = &o;
	run.lim.max_messages = o.batch > 0 ? (size_t)o.batch : 1000;
	run.lim.max_recipients = (size_t)o.max_recipients;
	if (log_open("postman", o.log, o.syslog) == -1)
		fprintf(stderr, "postman: %s: %s\n", o.log, strerror(errno));
	setup_signals();

	if ((lock_path = o.lock ? strdup(o.lock) : lock_default_path()) == NULL) {
		rc = EX_OSERR;
		goto done;
	}
	if ((lock_fd = lock_take(lock_path, err, sizeof(err))) == LOCK_BUSY) {
		log_info("another postman holds %s; exiting", lock_path);
		rc = 0;
		goto done;
	}
	if (lock_fd == -1) {
		log_err("lock: %s", err);
		rc = EX_CANTCREAT;
		goto done;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("cannot initialise libcurl");
		rc = EX_OSERR;
		goto done;
	}
	if ((rc = setup_backend(&run, &smtp_password)) != 0 ||
	    (rc = setup_http(&run, &password)) != 0)
		goto cleanup;
	if (o.watch)
		run_watch(&run);
	else
		run_once(&run);
	log_info("delivered=%lu deferred=%lu bounced=%lu", run.delivered,
	    run.deferred, run.bounced);
	rc = run.status;
cleanup:
	http_client_free(run.http);
	backend_free(run.be);
	curl_global_cleanup();
done:
	if (password != NULL)
		explicit_bzero(password, strlen(password));
	if (smtp_password != NULL)
		explicit_bzero(smtp_password, strlen(smtp_password));
	if (pw_copy != NULL)
		explicit_bzero(pw_copy, strlen(pw_copy));
	free(password);
	free(smtp_password);
	free(pw_copy);
	if (lock_fd >= 0)
		close(lock_fd);
	free(lock_path);
	opts_free(&o);
	log_close();
	return rc;
}
