/*
 * options.c - PostMan's command line (see options.h and doc/postman.md).
 */
#include "postman/options.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "common/optval.h"
#include "postman/sendmail.h"
#include "postman/url.h"

const char opts_usage[] =
"usage: postman [options] URL\n"
"Fetches mail from PostMaster at URL (a bare host[/path] means https://)\n"
"and hands each message to sendmail, to an SMTP server or to a Maildir.\n"
"\n"
"PostMaster:\n"
"  --user NAME             HTTP basic auth user\n"
"  --password-file FILE    password in FILE's first line\n"
"                          (else $POSTMAN_PASSWORD, else ~/.netrc)\n"
"  --password PW           password on the command line (visible in ps)\n"
"  --netrc-file FILE       netrc file instead of ~/.netrc\n"
"  --cacert FILE           CA certificates to verify PostMaster with\n"
"  --insecure              do not verify PostMaster's certificate\n"
"  --cert FILE             TLS client certificate (PEM) shown to the server\n"
"  --key FILE              its private key (PEM; default: in --cert's file)\n"
"  --connect-timeout S     connect timeout (10)\n"
"  --timeout S             timeout of one HTTP request (60)\n"
"  --max-response BYTES    largest lease response taken, at least 68K\n"
"                          (256M+4K: the largest spool file fits)\n"
"  --batch N               messages per lease (PostMaster's default)\n"
"  --max-time S            stop leasing after S seconds, 0: never (110)\n"
"  --watch                 run as a service, long-polling for mail\n"
"  --wait S                long-poll wait per lease (25 with --watch, else 0)\n"
"Delivery:\n"
"  --sendmail PATH         sendmail program (/usr/sbin/sendmail)\n"
"  --sendmail-timeout S    time for sendmail per message (60)\n"
"  --sendmail-parallel N   sendmails running at once (2)\n"
"  --smtp HOST[:PORT]      deliver over SMTP instead (port 25)\n"
"  --smtp-connections N    parallel SMTP sessions per batch (4)\n"
"  --starttls              require STARTTLS, with a verified certificate\n"
"  --smtp-cacert FILE      CA certificates to verify the SMTP server with\n"
"  --smtp-user NAME        SMTP AUTH user\n"
"  --smtp-password-file F  SMTP AUTH password in F's first line\n"
"  --smtp-timeout S        timeout of one SMTP step (60)\n"
"  --maildir DIR           store every message in the Maildir DIR instead\n"
"  --max-recipients N      more recipients bounce the message (1000)\n"
"This process:\n"
"  --lock FILE             lock file (/run/postman.lock for root,\n"
"                          else $XDG_RUNTIME_DIR/postman.lock or\n"
"                          /tmp/postman-UID.lock)\n"
"  --log FILE              log to FILE instead of stderr\n"
"  --syslog                log to syslog (mail facility) as well\n"
"  --help, --version\n";

enum {
	O_USER = 256, O_PASSWORD_FILE, O_PASSWORD, O_NETRC_FILE, O_CACERT,
	O_INSECURE, O_CONNECT_TIMEOUT, O_TIMEOUT, O_MAX_RESPONSE, O_BATCH,
	O_MAX_TIME, O_WATCH, O_WAIT, O_SENDMAIL, O_SENDMAIL_TIMEOUT, O_SMTP,
	O_SMTP_CONNECTIONS, O_STARTTLS, O_SMTP_CACERT, O_SMTP_USER,
	O_SMTP_PASSWORD_FILE, O_SMTP_TIMEOUT, O_MAX_RECIPIENTS, O_LOCK, O_LOG,
	O_SYSLOG, O_HELP, O_VERSION, O_MAILDIR, O_SENDMAIL_PARALLEL, O_CERT,
	O_KEY
};

static const struct option longopts[] = {
	{ "user", required_argument, NULL, O_USER },
	{ "password-file", required_argument, NULL, O_PASSWORD_FILE },
	{ "password", required_argument, NULL, O_PASSWORD },
	{ "netrc-file", required_argument, NULL, O_NETRC_FILE },
	{ "cacert", required_argument, NULL, O_CACERT },
	{ "insecure", no_argument, NULL, O_INSECURE },
	{ "cert", required_argument, NULL, O_CERT },
	{ "key", required_argument, NULL, O_KEY },
	{ "connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "max-response", required_argument, NULL, O_MAX_RESPONSE },
	{ "batch", required_argument, NULL, O_BATCH },
	{ "max-time", required_argument, NULL, O_MAX_TIME },
	{ "watch", no_argument, NULL, O_WATCH },
	{ "wait", required_argument, NULL, O_WAIT },
	{ "sendmail", required_argument, NULL, O_SENDMAIL },
	{ "sendmail-timeout", required_argument, NULL, O_SENDMAIL_TIMEOUT },
	{ "sendmail-parallel", required_argument, NULL, O_SENDMAIL_PARALLEL },
	{ "smtp", required_argument, NULL, O_SMTP },
	{ "smtp-connections", required_argument, NULL, O_SMTP_CONNECTIONS },
	{ "starttls", no_argument, NULL, O_STARTTLS },
	{ "smtp-cacert", required_argument, NULL, O_SMTP_CACERT },
	{ "smtp-user", required_argument, NULL, O_SMTP_USER },
	{ "smtp-password-file", required_argument, NULL, O_SMTP_PASSWORD_FILE },
	{ "smtp-timeout", required_argument, NULL, O_SMTP_TIMEOUT },
	{ "maildir", required_argument, NULL, O_MAILDIR },
	{ "max-recipients", required_argument, NULL, O_MAX_RECIPIENTS },
	{ "lock", required_argument, NULL, O_LOCK },
	{ "log", required_argument, NULL, O_LOG },
	{ "syslog", no_argument, NULL, O_SYSLOG },
	{ "help", no_argument, NULL, O_HELP },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 }
};

/* The parsers are common/optval.h's; these keep PostMan's types. */
static int
parse_seconds(const char *s, double min, double max, double *out)
{
	return optval_seconds(s, min, max, out);
}

static int
parse_count(const char *s, long min, long max, long *out)
{
	unsigned long long v;

	if (optval_count(s, (unsigned long long)min, (unsigned long long)max,
	    &v) == -1)
		return -1;
	*out = (long)v;
	return 0;
}

static int
parse_size(const char *s, size_t *out)
{
	unsigned long long v;

	if (optval_size(s, 1, SIZE_MAX, &v) == -1)
		return -1;
	*out = (size_t)v;
	return 0;
}

static void
defaults(struct postman_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout = 10;
	o->timeout = 60;
	o->max_response = LIMIT_RESPONSE;
	o->max_time = 110;
	o->wait = -1;
	o->sendmail = "/usr/sbin/sendmail";
	o->sendmail_timeout = 60;
	o->sendmail_parallel = 2;
	o->smtp_connections = 4;
	o->smtp_timeout = 60;
	o->max_recipients = 1000;
}

/*
 * Settings each valid alone that cannot work together.  Counts are
 * compared only when both were given: a default that a smaller --batch
 * leaves unused is no mistake of the user's.
 */
static int
check_pairs(const struct postman_opts *o, bool parallel_set,
    bool connections_set, bool connect_timeout_set, bool max_time_set,
    char *err, size_t errlen)
{
	bool plain = strncmp(o->url, "http://", 7) == 0;

	if (o->watch && o->wait == 0)
		snprintf(err, errlen, "--watch needs a --wait of 1 or more: with 0 "
		    "PostMan would ask PostMaster again and again without pause");
	else if (o->watch && max_time_set)
		snprintf(err, errlen, "--max-time has no effect with --watch, "
		    "which runs until stopped");
	else if (connect_timeout_set && o->connect_timeout > o->timeout)
		snprintf(err, errlen, "--connect-timeout %g is longer than "
		    "--timeout %g, which counts the connect too",
		    o->connect_timeout, o->timeout);
	else if (o->batch > 0 && parallel_set && o->sendmail_parallel > o->batch)
		snprintf(err, errlen, "--sendmail-parallel %ld is more than "
		    "--batch %ld: a batch never has more messages to hand over "
		    "at once", o->sendmail_parallel, o->batch);
	else if (o->batch > 0 && connections_set && o->smtp_connections > o->batch)
		snprintf(err, errlen, "--smtp-connections %ld is more than "
		    "--batch %ld: a batch never has more messages to send at "
		    "once", o->smtp_connections, o->batch);
	else if (o->cacert != NULL && o->insecure)
		snprintf(err, errlen, "--cacert and --insecure exclude each other");
	else if (plain && (o->cacert != NULL || o->insecure))
		snprintf(err, errlen, "%s needs an https:// URL: plain http:// "
		    "has no certificate", o->cacert != NULL ? "--cacert" :
		    "--insecure");
	else if (o->key != NULL && o->cert == NULL)
		snprintf(err, errlen, "--key needs --cert, the certificate it "
		    "belongs to");
	else if (plain && o->cert != NULL)
		snprintf(err, errlen, "--cert needs an https:// URL: plain "
		    "http:// shows no certificate");
	else
		return 0;
	return -1;
}

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

int
opts_parse(int argc, char **argv, struct postman_opts *o, char *err,
    size_t errlen)
{
	char why[256];
	bool sendmail_set = false, smtp_only = false, parallel_set = false;
	bool connect_timeout_set = false, connections_set = false;
	bool max_time_set = false;
	int c;

	defaults(o);
	optind = 0;	/* GNU: start over, so tests may parse again */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		const char *a = optarg;

		if (c >= O_SMTP_CONNECTIONS && c <= O_SMTP_TIMEOUT)
			smtp_only = true;

		switch (c) {
		case O_USER: o->user = a; break;
		case O_PASSWORD_FILE: o->password_file = a; break;
		case O_PASSWORD: o->password = a; break;
		case O_NETRC_FILE: o->netrc_file = a; break;
		case O_CACERT: o->cacert = a; break;
		case O_INSECURE: o->insecure = true; break;
		case O_CERT: o->cert = a; break;
		case O_KEY: o->key = a; break;
		case O_CONNECT_TIMEOUT:
			if (parse_seconds(a, 0.001, 3600, &o->connect_timeout) == -1)
				BAD("--connect-timeout: expected seconds in (0, 3600], not '%s'", a);
			connect_timeout_set = true;
			break;
		case O_TIMEOUT:
			if (parse_seconds(a, 0.001, 86400, &o->timeout) == -1)
				BAD("--timeout: expected seconds in (0, 86400], not '%s'", a);
			break;
		case O_MAX_RESPONSE:
			if (parse_size(a, &o->max_response) == -1)
				BAD("--max-response: expected a size like 1048576, 64M or 1G, not '%s'", a);
			if (o->max_response < OPTS_MAX_RESPONSE_MIN)
				BAD("--max-response: %s is less than %luK (%lu), a "
				    "lease's %lu bytes around one 64 KiB message, the "
				    "least SMTP servers must take (RFC 5321 4.5.3.1.7)",
				    a, OPTS_MAX_RESPONSE_MIN / 1024,
				    OPTS_MAX_RESPONSE_MIN, LIMIT_LEASE_OVERHEAD);
			break;
		case O_BATCH:
			if (parse_count(a, 1, 100000, &o->batch) == -1)
				BAD("--batch: expected a count in 1..100000, not '%s'", a);
			break;
		case O_MAX_TIME:
			if (parse_seconds(a, 0, 1e9, &o->max_time) == -1)
				BAD("--max-time: expected seconds, 0 for no limit, not '%s'", a);
			max_time_set = true;
			break;
		case O_WATCH: o->watch = true; break;
		case O_WAIT:
			if (parse_count(a, 0, 3600, &o->wait) == -1)
				BAD("--wait: expected seconds in 0..3600, not '%s'", a);
			break;
		case O_SENDMAIL: o->sendmail = a; sendmail_set = true; break;
		case O_SENDMAIL_TIMEOUT:
			if (parse_seconds(a, 0.001, 86400, &o->sendmail_timeout) == -1)
				BAD("--sendmail-timeout: expected seconds in (0, 86400], not '%s'", a);
			break;
		case O_SENDMAIL_PARALLEL:
			if (parse_count(a, 1, SENDMAIL_PARALLEL_MAX,
			    &o->sendmail_parallel) == -1)
				BAD("--sendmail-parallel: expected a count in 1..%d, not '%s'",
				    SENDMAIL_PARALLEL_MAX, a);
			parallel_set = true;
			break;
		case O_SMTP: o->smtp = a; break;
		case O_MAILDIR:
			if (*a == '\0')
				BAD("--maildir: expected a directory, not ''");
			o->maildir = a;
			break;
		case O_SMTP_CONNECTIONS:
			if (parse_count(a, 1, 64, &o->smtp_connections) == -1)
				BAD("--smtp-connections: expected a count in 1..64, not '%s'", a);
			connections_set = true;
			break;
		case O_STARTTLS: o->starttls = true; break;
		case O_SMTP_CACERT: o->smtp_cacert = a; break;
		case O_SMTP_USER: o->smtp_user = a; break;
		case O_SMTP_PASSWORD_FILE: o->smtp_password_file = a; break;
		case O_SMTP_TIMEOUT:
			if (parse_seconds(a, 1, 86400, &o->smtp_timeout) == -1)
				BAD("--smtp-timeout: expected seconds in [1, 86400], not '%s'", a);
			break;
		case O_MAX_RECIPIENTS:
			if (parse_count(a, 1, 100000, &o->max_recipients) == -1)
				BAD("--max-recipients: expected a count in 1..100000, not '%s'", a);
			break;
		case O_LOCK: o->lock = a; break;
		case O_LOG: o->log = a; break;
		case O_SYSLOG: o->syslog = true; break;
		case O_HELP: o->help = true; return 0;
		case O_VERSION: o->version = true; return 0;
		case ':':
			BAD("option %s needs a value", argv[optind - 1]);
		default:
			if (optopt != 0 && optopt < 256)
				BAD("unknown option -%c", optopt);
			BAD("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		BAD(optind >= argc ? "missing URL" : "expected one URL, got %d arguments",
		    argc - optind);
	if ((o->url = url_normalize(argv[optind], why, sizeof(why))) == NULL)
		BAD("%s: %s", argv[optind], why);
	if (o->smtp != NULL && sendmail_set)
		BAD("--smtp and --sendmail exclude each other");
	if (o->maildir != NULL && sendmail_set)
		BAD("--maildir and --sendmail exclude each other");
	if (o->maildir != NULL && o->smtp != NULL)
		BAD("--maildir and --smtp exclude each other");
	if (parallel_set && (o->smtp != NULL || o->maildir != NULL))
		BAD("--sendmail-parallel needs delivery through sendmail");
	if ((o->password_file != NULL || o->password != NULL) && o->user == NULL)
		BAD("a password needs --user");
	if (o->password_file != NULL && o->password != NULL)
		BAD("--password-file and --password exclude each other");
	if (smtp_only && o->smtp == NULL)
		BAD("SMTP options need --smtp");
	if (o->smtp_cacert != NULL && !o->starttls)
		BAD("--smtp-cacert needs --starttls");
	if (o->smtp_user != NULL && !o->starttls)
		BAD("--smtp-user needs --starttls: the password must not cross "
		    "the network in clear");
	if (o->smtp_password_file != NULL && o->smtp_user == NULL)
		BAD("--smtp-password-file needs --smtp-user");
	if (o->wait > 0 && !o->watch)
		BAD("--wait needs --watch");
	if (o->wait == -1)
		o->wait = o->watch ? 25 : 0;
	if (check_pairs(o, parallel_set, connections_set, connect_timeout_set,
	    max_time_set, err, errlen) == -1)
		goto fail;
	return 0;
fail:
	opts_free(o);
	return -1;
}

void
opts_free(struct postman_opts *o)
{
	free(o->url);
	o->url = NULL;
}
