/*
 * main.c - postoffice: the SMTP listener that spools one JSON file per
 * accepted message.  Parses the command line, opens the spool, starts
 * the commit thread and the listeners, and runs the event loop until
 * SIGTERM or SIGINT.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/cli.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/optval.h"
#include "common/spool.h"
#include "postoffice/commit.h"
#include "postoffice/journal.h"
#include "postoffice/mime.h"
#include "postoffice/scrub.h"
#include "postoffice/server.h"
#include "postoffice/smtp.h"

#define PROG "postoffice"
#define DEFAULT_LISTEN "127.0.0.1:2525"
#define DEFAULT_SPOOL "./messages"
#define MAX_LISTEN 16
#define MAX_ALLOW 64

struct options {
	struct server_config srv;
	const char *listen[MAX_LISTEN + 1];
	size_t nlisten;
	struct cidr allow[MAX_ALLOW];
	size_t nallow;
	const char *spool;
	const char *hostname;
	const char *log_file;
	bool use_syslog;
	bool no_journal;
	char positional[300];
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [options] [HOST PORT]\n"
"\n"
"Accepts mail over SMTP and spools each message as one JSON file.\n"
"\n"
"  -l, --listen ADDR:PORT     listen there (repeatable; [::1]:2525 for IPv6);\n"
"                             default " DEFAULT_LISTEN ", or HOST PORT\n"
"  -s, --spool DIR            spool directory (default " DEFAULT_SPOOL ")\n"
"      --allow CIDR           clients served (repeatable); default: loopback\n"
"                             only; others get 554 at the greeting\n"
"      --hostname NAME        name in the greeting (default: this host's)\n"
"      --keep-trace-headers   keep Received:, X-Originating-IP: ...\n"
"      --message-id-domain DOMAIN\n"
"                             domain of a Message-ID rewritten because it\n"
"                             names the client (default: the sender's)\n"
"      --bare-newline POLICY  reject (default) or normalize a bare LF/CR\n"
"      --max-size BYTES       message size limit (default 10240000)\n"
"      --max-file BYTES       largest spool file (default and most 256M);\n"
"                             a message whose file is larger gets 552\n"
"      --max-rcpt N           recipients per message (default 1000)\n"
"      --max-line BYTES       command line length (default 512)\n"
"      --max-connections N    concurrent clients (default 100)\n"
"      --timeout SECONDS      idle timeout (default 300)\n"
"      --min-data-rate BYTES  minimum octets/s during DATA (default 500;\n"
"                             0: none)\n"
"      --body-limit BYTES     cap on the spooled \"body\" text (default 1M)\n"
"      --no-journal           sync each spool file before its 250 instead\n"
"                             of journaling it (slower)\n"
"      --stop-timeout SECONDS time given to transactions at SIGTERM\n"
"                             (default 10)\n"
"      --log-file FILE        log there instead of stderr\n"
"      --syslog               also log to syslog (facility mail)\n"
"  -h, --help                 this text\n"
"  -V, --version              the version\n"
"\n"
"BYTES may end in k, M or G (powers of 1024).\n");
}

enum {
	OPT_ALLOW = 256, OPT_HOSTNAME, OPT_KEEP_TRACE, OPT_BARE, OPT_MAX_SIZE,
	OPT_MAX_RCPT, OPT_MAX_LINE, OPT_MAX_CONN, OPT_TIMEOUT, OPT_MIN_RATE,
	OPT_BODY_LIMIT, OPT_STOP_TIMEOUT, OPT_LOG_FILE, OPT_SYSLOG,
	OPT_MSGID_DOMAIN, OPT_MAX_FILE, OPT_NO_JOURNAL,
};

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "spool", required_argument, NULL, 's' },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "keep-trace-headers", no_argument, NULL, OPT_KEEP_TRACE },
	{ "message-id-domain", required_argument, NULL, OPT_MSGID_DOMAIN },
	{ "bare-newline", required_argument, NULL, OPT_BARE },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "max-file", required_argument, NULL, OPT_MAX_FILE },
	{ "max-rcpt", required_argument, NULL, OPT_MAX_RCPT },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "min-data-rate", required_argument, NULL, OPT_MIN_RATE },
	{ "body-limit", required_argument, NULL, OPT_BODY_LIMIT },
	{ "no-journal", no_argument, NULL, OPT_NO_JOURNAL },
	{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Returns -1 to go on, else the exit status. */
static int
parse_options(int argc, char **argv, struct options *o)
{
	unsigned long long v;
	char err[256];
	int ch;

	memset(o, 0, sizeof(*o));
	o->spool = DEFAULT_SPOOL;
	o->srv.smtp.max_size = LIMIT_MESSAGE_SIZE;
	o->srv.max_file = LIMIT_SPOOL_FILE;
	o->srv.smtp.max_rcpt = SMTP_DEFAULT_MAX_RCPT;
	o->srv.smtp.max_line = SMTP_DEFAULT_MAX_LINE;
	o->srv.smtp.bare_newline = SMTP_BARE_REJECT;
	o->srv.timeout = SERVER_DEFAULT_TIMEOUT;
	o->srv.min_data_rate = SERVER_DEFAULT_MIN_DATA_RATE;
	o->srv.max_connections = SERVER_DEFAULT_MAX_CONNECTIONS;
	o->srv.body_max = MIME_DEFAULT_BODY_MAX;
	o->srv.stop_grace = SERVER_DEFAULT_STOP_GRACE;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":l:s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (o->nlisten == MAX_LISTEN)
				return cli_usage("at most %s listen addresses", "16");
			o->listen[o->nlisten++] = optarg;
			break;
		case 's':
			o->spool = optarg;
			break;
		case OPT_ALLOW:
			if (o->nallow == MAX_ALLOW)
				return cli_usage("at most %s --allow networks", "64");
			if (cidr_parse(optarg, &o->allow[o->nallow], err,
			    sizeof(err)) == -1)
				return cli_usage("--allow %s: not a network", optarg);
			o->nallow++;
			break;
		case OPT_HOSTNAME:
			if (!smtp_hostname_ok(optarg))
				return cli_usage("--hostname %s: not a host name "
				    "(letters, digits, '-' and '.', at most 253)",
				    optarg);
			o->hostname = optarg;
			break;
		case OPT_NO_JOURNAL:
			o->no_journal = true;
			break;
		case OPT_KEEP_TRACE:
			o->srv.keep_trace_headers = true;
			break;
		case OPT_MSGID_DOMAIN:
			if (!scrub_domain_ok(optarg))
				return cli_usage("--message-id-domain %s: not a domain", optarg);
			o->srv.msgid_domain = optarg;
			break;
		case OPT_BARE:
			if (strcmp(optarg, "reject") == 0)
				o->srv.smtp.bare_newline = SMTP_BARE_REJECT;
			else if (strcmp(optarg, "normalize") == 0)
				o->srv.smtp.bare_newline = SMTP_BARE_NORMALIZE;
			else
				return cli_usage("--bare-newline %s: expected reject or normalize", optarg);
			break;
		/* PostMaster serves no spool file over LIMIT_SPOOL_FILE: a
		 * larger limit would accept mail that is never delivered. */
		case OPT_MAX_SIZE:
			if (optval_size(optarg, 1, SIZE_MAX / 2, &v) == -1)
				return cli_usage("--max-size %s: not a size", optarg);
			if (v > LIMIT_SPOOL_FILE)
				return cli_usage("--max-size %s: over the largest "
				    "spool file, 256M", optarg);
			o->srv.smtp.max_size = v;
			break;
		case OPT_MAX_FILE:
			if (optval_size(optarg, 1, SIZE_MAX / 2, &v) == -1)
				return cli_usage("--max-file %s: not a size", optarg);
			if (v > LIMIT_SPOOL_FILE)
				return cli_usage("--max-file %s: over the largest "
				    "spool file, 256M", optarg);
			o->srv.max_file = v;
			break;
		case OPT_MAX_RCPT:
			if (optval_count(optarg, 1, 1000000, &v) == -1)
				return cli_usage("--max-rcpt %s: expected 1 to 1000000", optarg);
			o->srv.smtp.max_rcpt = v;
			break;
		case OPT_MAX_LINE:
			if (optval_count(optarg, SMTP_MIN_LINE, 65536, &v) == -1)
				return cli_usage("--max-line %s: expected 64 to 65536", optarg);
			o->srv.smtp.max_line = v;
			break;
		case OPT_MAX_CONN:
			if (optval_count(optarg, 1, 1000000, &v) == -1)
				return cli_usage("--max-connections %s: expected 1 to 1000000", optarg);
			o->srv.max_connections = v;
			break;
		case OPT_TIMEOUT:
			if (optval_count(optarg, 1, 86400, &v) == -1)
				return cli_usage("--timeout %s: expected 1 to 86400 seconds", optarg);
			o->srv.timeout = v;
			break;
		case OPT_MIN_RATE:
			if (optval_size(optarg, 0, UINT_MAX, &v) == -1)
				return cli_usage("--min-data-rate %s: not a rate", optarg);
			o->srv.min_data_rate = v;
			break;
		case OPT_BODY_LIMIT:
			if (optval_size(optarg, 0, SIZE_MAX / 4, &v) == -1)
				return cli_usage("--body-limit %s: not a size", optarg);
			o->srv.body_max = v;
			break;
		case OPT_STOP_TIMEOUT:
			if (optval_count(optarg, 0, 3600, &v) == -1)
				return cli_usage("--stop-timeout %s: expected 0 to 3600 seconds", optarg);
			o->srv.stop_grace = v;
			break;
		case OPT_LOG_FILE:
			o->log_file = optarg;
			break;
		case OPT_SYSLOG:
			o->use_syslog = true;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf(PROG " " VERSION "\n");
			return EX_OK;
		case ':':
			return cli_usage("option %s needs a value", argv[optind - 1]);
		default:
			return cli_usage("unknown option %s", argv[optind - 1]);
		}
	}
	/* The original's "smtpd.py HOST PORT". */
	if (argc - optind == 2) {
		snprintf(o->positional, sizeof(o->positional),
		    strchr(argv[optind], ':') ? "[%s]:%s" : "%s:%s",
		    argv[optind], argv[optind + 1]);
		if (o->nlisten == MAX_LISTEN)
			return cli_usage("at most %s listen addresses", "16");
		o->listen[o->nlisten++] = o->positional;
	} else if (argc - optind != 0) {
		return cli_usage("expected HOST and PORT, got '%s'", argv[optind]);
	}
	if (o->nlisten == 0)
		o->listen[o->nlisten++] = DEFAULT_LISTEN;
	o->srv.allow = o->allow;
	o->srv.nallow = o->nallow;
	return -1;
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("signal %d: stopping", (int)sig);
	server_stop(arg);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	if (log_reopen() == -1)
		log_err("cannot reopen the log file: %s", strerror(errno));
}

int
main(int argc, char **argv)
{
	struct options o;
	struct spool *sp = NULL;
	struct event_base *base = NULL;
	struct commit *cm = NULL;
	struct journal *jr = NULL;
	struct journal_recovery rec;
	struct server *srv = NULL;
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct server_stats st;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[256], err[512], *unix_path, bound[MAX_LISTEN + 1][80];
	int rc, removed;
	size_t i;

	cli_init(PROG, " (try --help)");
	if ((rc = parse_options(argc, argv, &o)) != -1)
		return rc;
	if (o.hostname == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		if (!smtp_hostname_ok(host))
			return cli_usage("this host's name %s is not one SMTP "
			    "replies can carry: give --hostname", host);
		o.hostname = host;
	}
	o.srv.smtp.hostname = o.hostname;
	if (log_open(PROG, o.log_file, o.use_syslog) == -1)
		return cli_error(EX_CANTCREAT, "cannot open log file %s: %s",
		    o.log_file, strerror(errno));
	rc = EX_OSERR;
	/* err reads "spool DIR: why"; the status is every program's. */
	if ((sp = spool_open(o.spool, err, sizeof(err))) == NULL) {
		rc = cli_error(cli_open_status(errno), "%s", err);
		goto out;
	}
	/* Only files older than SPOOL_TMP_STALE: a younger one may be
	 * another process's write in flight. */
	if ((removed = spool_clean_tmp(sp, time(NULL), SPOOL_TMP_STALE)) > 0)
		log_info("removed %d unfinished file(s) from the spool", removed);
	signal(SIGPIPE, SIG_IGN);
	/* A message's buffers (its raw data, up to RAWBUF_MEM_MAX; its
	 * spool file's) come and go with every message: glibc's default
	 * gives the heap's top back past 128 KiB, a brk call to shrink and
	 * one to grow again, with their page faults, for each message.  The
	 * heap keeps up to 1 MiB, and blocks under 512 KiB come from it. */
	mallopt(M_MMAP_THRESHOLD, 512 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	mime_init();
	if (evthread_use_pthreads() == -1 || (base = event_base_new()) == NULL) {
		cli_error(rc, "cannot set up the event loop");
		goto out;
	}
	if (!o.no_journal && (jr = journal_open(sp, &rec, err,
	    sizeof(err))) == NULL) {
		if (errno != EWOULDBLOCK) {
			cli_error(EX_IOERR, "%s", err);
			rc = EX_IOERR;
			goto out;
		}
		/* A second PostOffice on the spool: right, only slower. */
		log_warn("%s: each spool file is synced before its 250", err);
	}
	if (jr != NULL && (rec.staged > 0 || rec.replayed > 0 || rec.torn > 0))
		log_info("journal recovered: %ld message(s) queued again from "
		    "their records, %ld from .staged, %ld already queued, %zu "
		    "octet(s) of an unfinished record dropped, in %.3f s",
		    rec.replayed, rec.staged, rec.present, rec.torn, rec.seconds);
	if ((cm = commit_new(base, sp, jr, err, sizeof(err))) == NULL ||
	    (srv = server_new(base, &o.srv, sp, cm, err, sizeof(err))) == NULL) {
		cli_error(rc, "%s", err);
		goto out;
	}
	for (i = 0; i < o.nlisten; i++) {
		if (addr_parse_listen(o.listen[i], &ss, &sslen, &unix_path, err,
		    sizeof(err)) == -1 || unix_path != NULL) {
			if (unix_path != NULL)
				snprintf(err, sizeof(err), "%s: unix sockets are not "
				    "supported for SMTP", o.listen[i]);
			free(unix_path);
			rc = cli_usage("%s", err);
			goto out;
		}
		/* EX_UNAVAILABLE means the port is taken, as PostMaster's
		 * does (make run tells the user so). */
		if (server_listen(srv, (struct sockaddr *)&ss, sslen, err,
		    sizeof(err)) == -1) {
			rc = cli_error(errno == EADDRINUSE ? EX_UNAVAILABLE :
			    errno == EACCES ? EX_NOPERM : EX_OSERR, "%s", err);
			goto out;
		}
		snprintf(bound[i], sizeof(bound[i]), "%s",
		    server_listen_name(srv));
	}
	ev_term = evsignal_new(base, SIGTERM, on_stop, srv);
	ev_int = evsignal_new(base, SIGINT, on_stop, srv);
	ev_hup = evsignal_new(base, SIGHUP, on_hup, NULL);
	if (ev_term == NULL || ev_int == NULL || ev_hup == NULL ||
	    evsignal_add(ev_term, NULL) == -1 || evsignal_add(ev_int, NULL) == -1 ||
	    evsignal_add(ev_hup, NULL) == -1) {
		cli_error(rc, "cannot handle signals");
		goto out;
	}
	/* The addresses bound, with the port the kernel chose for port 0. */
	for (i = 0; i < o.nlisten; i++)
		log_info("listening on %s, spool=%s", bound[i], o.spool);
	sd_notify(0, "READY=1");
	event_base_dispatch(base);
	sd_notify(0, "STOPPING=1");
	server_stats(srv, &st);
	log_info("stopped: connections=%lu, denied=%lu, busy=%lu", st.served,
	    st.denied, st.busy);
	rc = EX_OK;
out:
	server_free(srv);
	commit_free(cm);
	journal_free(jr);
	if (ev_term != NULL)
		event_free(ev_term);
	if (ev_int != NULL)
		event_free(ev_int);
	if (ev_hup != NULL)
		event_free(ev_hup);
	if (base != NULL)
		event_base_free(base);
	libevent_global_shutdown();
	spool_free(sp);
	mime_shutdown();
	log_close();
	return rc;
}
