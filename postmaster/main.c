/*
 * main.c - PostMaster: serves the spool's messages over HTTP.
 *
 * Options, startup checks, signals and the event loop; everything else
 * lives in the modules (queue, settle, server, listen, htpasswd, route,
 * idindex).
 */
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/optval.h"
#include "postmaster/htpasswd.h"
#include "postmaster/listen.h"
#include "postmaster/queue.h"
#include "postmaster/queuectl.h"
#include "postmaster/server.h"
#include "postmaster/settle.h"

#define PROG "postmaster"

struct options {
	const char *listen;
	mode_t socket_mode;
	const char *spool;
	const char *htpasswd;
	const char *log_file;
	bool use_syslog;
	bool insecure_no_auth;
	struct server_config srv;
	struct queue_config q;
};

enum {
	OPT_BATCH = 256, OPT_LEASE_TIME, OPT_MAX_WAIT, OPT_MAX_ATTEMPTS,
	OPT_RETRY_MIN, OPT_RETRY_MAX, OPT_MAX_BATCH_BYTES, OPT_HTPASSWD,
	OPT_INSECURE, OPT_SOCKET_MODE, OPT_MAX_CONN, OPT_IDLE, OPT_LOG_FILE,
	OPT_SYSLOG, OPT_VERSION
};

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "spool", required_argument, NULL, 's' },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "lease-time", required_argument, NULL, OPT_LEASE_TIME },
	{ "max-wait", required_argument, NULL, OPT_MAX_WAIT },
	{ "max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS },
	{ "retry-min", required_argument, NULL, OPT_RETRY_MIN },
	{ "retry-max", required_argument, NULL, OPT_RETRY_MAX },
	{ "max-batch-bytes", required_argument, NULL, OPT_MAX_BATCH_BYTES },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "htpasswd", required_argument, NULL, OPT_HTPASSWD },
	{ "insecure-no-auth", no_argument, NULL, OPT_INSECURE },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [options]\n"
"       " PROG " queue [-s DIR] COMMAND   (see " PROG " queue --help)\n"
"Serves the messages in the spool over HTTP (see doc/postmaster.md).\n"
"\n"
"  -l, --listen ADDR        127.0.0.1:8000, [::1]:8000 or unix:/path\n"
"                           (default 127.0.0.1:8000; a socket passed by\n"
"                           systemd is used instead when there is one)\n"
"      --socket-mode MODE   mode of a unix socket (default 0660)\n"
"  -s, --spool DIR          the spool directory (default ./messages)\n"
"      --batch N            messages per response at most (default 50)\n"
"      --max-batch-bytes N  a response stops growing past N bytes\n"
"                           (default 67108864)\n"
"      --lease-time SECS    how long a lease lasts (default 300)\n"
"      --max-wait SECS      longest long poll of /lease (default 60)\n"
"      --max-attempts N     the Nth temporary failure bounces (default 10)\n"
"      --retry-min SECS     first back-off after a failure (default 60)\n"
"      --retry-max SECS     longest back-off (default 3600)\n"
"      --max-connections N  simultaneous connections (default 256)\n"
"      --idle-timeout SECS  close silent connections after (default 60)\n"
"      --htpasswd FILE      require HTTP basic auth (bcrypt or SHA-crypt)\n"
"      --insecure-no-auth   allow a non-loopback address without --htpasswd\n"
"      --log-file FILE      log there instead of stderr\n"
"      --syslog             log to syslog (facility mail) as well\n"
"  -h, --help               this text\n"
"      --version            the version\n");
}

/* --NAME's value: a count from min to max, else a usage error. */
static unsigned long
number(const char *opt, const char *s, unsigned long min, unsigned long max)
{
	unsigned long long v;

	if (optval_count(s, min, max, &v) == -1)
		exit(cli_usage("--%s: expected a number from %lu to %lu, got '%s'",
		    opt, min, max, s));
	return (unsigned long)v;
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	unsigned long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:8000";
	o->socket_mode = 0660;
	o->spool = "./messages";
	o->srv.batch = 50;
	o->srv.lease_time = 300;
	o->srv.max_wait = 60;
	o->srv.max_connections = 256;
	o->srv.idle_timeout = 60;
	o->q.max_attempts = 10;
	o->q.retry_min = 60;
	o->q.retry_max = 3600;
	o->q.max_batch_bytes = 64UL * 1024 * 1024;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o->listen = optarg; break;
		case 's': o->spool = optarg; break;
		case OPT_SOCKET_MODE:
			if (optval_mode(optarg, 0777, &v) == -1)
				exit(cli_usage("--socket-mode: expected an octal "
				    "mode like 0660, got '%s'", optarg));
			o->socket_mode = (mode_t)v;
			break;
		case OPT_BATCH:
			o->srv.batch = number("batch", optarg, 1, 10000);
			break;
		case OPT_LEASE_TIME:
			o->srv.lease_time = number("lease-time", optarg, 1, 604800);
			break;
		case OPT_MAX_WAIT:
			o->srv.max_wait = number("max-wait", optarg, 0, 3600);
			break;
		case OPT_MAX_ATTEMPTS:
			o->q.max_attempts = number("max-attempts", optarg, 1, 1000);
			break;
		case OPT_RETRY_MIN:
			o->q.retry_min = number("retry-min", optarg, 1, 604800);
			break;
		case OPT_RETRY_MAX:
			o->q.retry_max = number("retry-max", optarg, 1, 604800);
			break;
		case OPT_MAX_BATCH_BYTES:
			o->q.max_batch_bytes = number("max-batch-bytes", optarg,
			    1024, 1UL << 30);
			break;
		case OPT_MAX_CONN:
			o->srv.max_connections = number("max-connections",
			    optarg, 1, 100000);
			break;
		case OPT_IDLE:
			o->srv.idle_timeout = number("idle-timeout", optarg, 1,
			    86400);
			break;
		case OPT_HTPASSWD: o->htpasswd = optarg; break;
		case OPT_INSECURE: o->insecure_no_auth = true; break;
		case OPT_LOG_FILE: o->log_file = optarg; break;
		case OPT_SYSLOG: o->use_syslog = true; break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: printf(PROG " " VERSION "\n"); exit(0);
		case ':':
			exit(cli_usage("%s needs a value", argv[optind - 1]));
		default:
			exit(cli_usage("unknown option '%s'", argv[optind - 1]));
		}
	}
	if (optind < argc)
		exit(cli_usage("unexpected argument '%s'", argv[optind]));
	if (o->q.retry_max < o->q.retry_min)
		exit(cli_usage("--retry-max must be at least --retry-min"));
	o->q.lease_time = o->srv.lease_time;
}

/* A password file without a user is valid, and refuses every request
 * with 401: almost always a file not filled in yet. */
static void
warn_if_empty(const char *path, const struct htpasswd *h)
{
	if (htpasswd_count(h) == 0)
		log_warn("%s has no users: every request will get 401 (add one "
		    "with: htpasswd -B %s NAME)", path, path);
}

/* The TCP address the socket got, with the port the kernel chose for
 * port 0, in l->name ("127.0.0.1:41234", "[::1]:41234").  A unix or
 * systemd's socket keeps its name. */
static void
bound_name(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int port;

	if (l->activated || l->unix_path != NULL ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET)
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		return;
	addr_ntop((struct sockaddr *)&ss, host, sizeof(host));
	snprintf(l->name, sizeof(l->name), ss.ss_family == AF_INET6 ?
	    "[%s]:%d" : "%s:%d", host, port);
}

/* SIGHUP: the log file was rotated, the htpasswd file may have changed. */
static void
reload(const struct options *o, struct server *s)
{
	struct htpasswd *h;
	char err[512];

	if (log_reopen() == -1)
		log_err("reopening %s: %s", o->log_file, strerror(errno));
	if (o->htpasswd == NULL)
		return;
	if ((h = htpasswd_load(o->htpasswd, err, sizeof(err))) == NULL) {
		log_err("keeping the old credentials: %s", err);
		return;
	}
	log_info("reloaded %s: %zu users", o->htpasswd, htpasswd_count(h));
	warn_if_empty(o->htpasswd, h);
	server_set_auth(s, h);
}

static int
watch(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Runs until SIGTERM or SIGINT. */
static int
serve(const struct options *o, struct queue *q, struct server *s, int sigfd)
{
	struct epoll_event evs[8];
	struct signalfd_siginfo si;
	time_t last = 0, now;
	char err[256];
	int ep, n, i, timeout;
	bool stop = false;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    watch(ep, server_fd(s)) == -1 || watch(ep, queue_fd(q)) == -1 ||
	    watch(ep, sigfd) == -1) {
		log_err("epoll: %s", strerror(errno));
		return EX_OSERR;
	}
	while (!stop) {
		/* Expired leases are looked for once a second. */
		timeout = server_timeout(s);
		if (timeout < 0 || timeout > 1000)
			timeout = 1000;
		n = epoll_wait(ep, evs, 8, timeout);
		if (n == -1 && errno != EINTR) {
			log_err("epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == sigfd &&
			    read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					reload(o, s);
				else
					stop = true;
			} else if (evs[i].data.fd == queue_fd(q) &&
			    queue_events(q, err, sizeof(err)) == -1)
				log_err("watching the spool: %s", err);
		}
		now = time(NULL);
		if (now != last) {
			last = now;
			if (queue_expire(q, now) == -1)
				log_err("returning expired leases: %s",
				    strerror(errno));
		}
		server_run(s);
	}
	close(ep);
	return 0;
}

/* A GET / response holds each of its messages open until it has gone out
 * (up to --batch descriptors per connection): take every descriptor the
 * hard limit allows.  Without them a batch is only cut short. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	struct options o;
	struct listener l;
	struct htpasswd *auth = NULL;
	struct queue *q = NULL;
	struct server *s = NULL;
	enum listen_error le;
	sigset_t sigs;
	char err[512];
	int sigfd, rc;

	/* "postmaster queue ..." operates the spool instead (queuectl.h). */
	if (argc > 1 && strcmp(argv[1], "queue") == 0)
		return queuectl_main(argc - 1, argv + 1);
	cli_init(PROG, " (see --help)");
	parse_options(argc, argv, &o);
	raise_nofile();
	if (log_open(PROG, o.log_file, o.use_syslog) == -1)
		cli_die(EX_CANTCREAT, "%s: %s", o.log_file, strerror(errno));
	if (o.htpasswd != NULL &&
	    (auth = htpasswd_load(o.htpasswd, err, sizeof(err))) == NULL)
		cli_die(errno == ENOENT || errno == ENOTDIR || errno == EACCES ||
		    errno == EPERM ? cli_open_status(errno) : EX_DATAERR, "%s",
		    err);
	if (auth != NULL)
		warn_if_empty(o.htpasswd, auth);
	/* A wrong address is a usage error whatever the spool's state. */
	if (listen_check(o.listen, err, sizeof(err)) == -1)
		cli_die(EX_USAGE, "%s", err);
	/* The spool first: expired leases are back in the queue before the
	 * first client can connect (a listening port means ready). */
	if ((q = queue_open(o.spool, &o.q, settle_note, NULL, err,
	    sizeof(err))) == NULL) {
		cli_die(cli_open_status(errno), "%s", err);
	}
	le = listen_open(&l, o.listen, o.socket_mode, err, sizeof(err));
	if (le != LISTEN_OK)
		cli_die(le == LISTEN_USAGE ? EX_USAGE : le == LISTEN_IN_USE ?
		    EX_UNAVAILABLE : EX_OSERR, "%s", err);
	if (!l.loopback && auth == NULL && !o.insecure_no_auth) {
		listen_close(&l);
		queue_free(q);
		cli_die(EX_USAGE, "refusing to serve %s without --htpasswd "
		    "(--insecure-no-auth allows it)", l.name);
	}
	/* Signals are read from a descriptor in the event loop. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) == -1 ||
	    (sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		cli_die(EX_OSERR, "signalfd: %s", strerror(errno));
	if ((s = server_new(&o.srv, q, l.fd, auth, err, sizeof(err))) == NULL) {
		queue_free(q);
		listen_close(&l);
		cli_die(EX_OSERR, "%s", err);
	}
	bound_name(&l);
	log_info("listening on %s, spool=%s, queued=%zu, auth=%s", l.name,
	    o.spool, queue_length(q), o.htpasswd != NULL ? o.htpasswd : "none");
	sd_notify(0, "READY=1");
	rc = serve(&o, q, s, sigfd);
	sd_notify(0, "STOPPING=1");
	server_quiesce(s);
	server_free(s);
	queue_free(q);
	listen_close(&l);
	close(sigfd);
	log_info("stopped");
	log_close();
	return rc;
}
