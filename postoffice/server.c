/*
 * server.c - listeners and connections on libevent (see server.h).
 *
 * Each connection owns a read event, an input buffer, a bufferevent that
 * writes, and an SMTP session.  Input stays in the buffer until the
 * session consumes it, so while a message is being committed the
 * pipelined commands after its final dot wait there, reading is switched
 * off, and they are fed again once the 250 or 451 has been queued:
 * replies keep the order of the commands.
 */
#include "postoffice/server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <systemd/sd-id128.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "postoffice/queue.h"

/* Replies waiting for a client that does not read; beyond this the
 * connection stops reading commands until they drain. */
#define OUTPUT_HIGH (256 * 1024)

/* Octets asked of the socket per read (see conn_readable()).  While a
 * message is being committed, reading goes on until this much input
 * waits, then stops until the session takes it. */
#define READ_CHUNK 16384

struct listener {
	struct evconnlistener *lev;
	struct event *resume;		/* re-enables accepting after EMFILE */
	char name[80];
	struct listener *next;
};

/* How long accepting pauses when accept() fails for want of descriptors
 * or memory: retrying at once would spin (nginx waits 500 ms too). */
#define ACCEPT_PAUSE_MS 500

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct server *srv;
	struct bufferevent *bev;	/* NULL once the client is gone */
	struct event *rev;		/* reading: see conn_readable() */
	struct evbuffer *in;		/* input not yet fed to the session */
	bool eof;			/* the client sent all it will send */
	struct smtp_session *sess;
	struct queue_msg *msg;		/* during DATA */
	char client[64];
	bool closing;			/* free once the output is sent */
	bool committing;		/* a commit job refers to us */
	bool write_failed_logged;
	/* Replies made while one piece of input is fed are held here and
	 * sent together, as RFC 2920 section 3.2 asks of a pipelining
	 * server. */
	struct evbuffer *held;
	bool holding;
	/* Outside DATA: a command line must be complete by this time, so a
	 * client dribbling one byte at a time cannot hold its slot. */
	struct timespec deadline;
	/* the minimum data rate (Postfix smtpd_min_data_rate) */
	double budget;			/* seconds left for the next read */
	struct timespec last;
	size_t seen;			/* input octets already accounted */
};

TAILQ_HEAD(conn_list, conn);

struct server {
	struct server_config cfg;
	struct event_base *base;
	struct spool *sp;
	struct commit *cm;
	struct listener *listeners;
	struct conn_list conns;
	size_t nall;			/* connections open */
	struct server_stats stats;
	bool stopping;
	struct event *grace;
	char host[256];			/* this host's name (host_name()) */
	time_t host_read;		/* the second it was read, 0: never */
};

static void conn_pump(struct conn *c);
static void conn_free(struct conn *c);

/* ------------------------------------------------------------------ */
/* connection lifetime */

static void
maybe_exit(struct server *srv)
{
	if (srv->stopping && srv->nall == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nall--;
	log_info("disconnect from %s", c->client);
	smtp_session_free(c->sess);	/* may call data_abort: c still valid */
	queue_msg_free(c->msg);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	if (c->held != NULL)
		evbuffer_free(c->held);
	free(c);
	maybe_exit(srv);
}

/* The client is gone (or must be dropped).  A commit job still refers to
 * c: then only the socket goes now and c follows when the job reports. */
static void
conn_drop(struct conn *c)
{
	if (!c->committing) {
		conn_free(c);
		return;
	}
	if (c->bev != NULL) {
		event_free(c->rev);
		c->rev = NULL;
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
}

/* The session closed (221, 421): free c once its replies are sent. */
static void
conn_finish(struct conn *c)
{
	c->closing = true;
	if (c->bev == NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_drop(c);
		return;
	}
	event_del(c->rev);
}

static void
session_stop(struct conn *c)
{
	smtp_session_shutdown(c->sess);
	conn_finish(c);
}

/* ------------------------------------------------------------------ */
/* timeouts */

static double
elapsed(struct timespec *since)
{
	struct timespec now;
	double d;

	clock_gettime(CLOCK_MONOTONIC, &now);
	d = (now.tv_sec - since->tv_sec) + (now.tv_nsec - since->tv_nsec) / 1e9;
	*since = now;
	return d;
}

/* A new command may take the whole idle timeout. */
static void
command_clock_start(struct conn *c)
{
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += c->srv->cfg.timeout;
}

/* Seconds left to finish the current command line. */
static double
command_time_left(const struct conn *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (c->deadline.tv_sec - now.tv_sec) +
	    (c->deadline.tv_nsec - now.tv_nsec) / 1e9;
}

/* Outside DATA the read timeout is what is left of the time for the
 * current command line: the clock restarts with each command, not with
 * each read (Postfix counts smtpd_timeout per read; a line of 512 octets
 * a second apart would then hold a connection for eight minutes).
 * During DATA with a minimum rate, each read spends the time it waited
 * and earns octets/rate seconds, never more than the idle timeout;
 * without a rate, the idle timeout applies to each read.  (The write
 * timeout is the idle timeout, set once on the bufferevent.) */
static void
conn_read_start(struct conn *c)
{
	struct timeval rtv;
	double t = c->srv->cfg.timeout;

	if (!smtp_session_in_data(c->sess))
		t = command_time_left(c);
	else if (c->srv->cfg.min_data_rate > 0)
		t = c->budget;
	if (t < 0.001)
		t = 0.001;
	rtv.tv_sec = (time_t)t;
	rtv.tv_usec = (suseconds_t)((t - (double)rtv.tv_sec) * 1e6);
	/* On a pending event only the timer moves: no epoll_ctl. */
	if (event_add(c->rev, &rtv) == -1)
		log_err("reading from %s: event_add failed", c->client);
}

/* ------------------------------------------------------------------ */
/* session callbacks */

/* Sends reply octets.  When nothing is queued before them they go
 * straight to the socket: one send(2), where the bufferevent would arm
 * a write event, wait for it and disarm it again.  What the socket does
 * not take (a full send buffer, an error) goes through the bufferevent,
 * which also reports the error. */
static void
conn_send(struct conn *c, const void *buf, size_t len)
{
	ssize_t n = 0;

	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		do {
			n = send(bufferevent_getfd(c->bev), buf, len,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		} while (n == -1 && errno == EINTR);
		if (n < 0)
			n = 0;
	}
	if ((size_t)n < len &&
	    bufferevent_write(c->bev, (const char *)buf + n, len - n) == -1)
		log_err("reply to %s lost: out of memory", c->client);
}

/* Sends the replies held while input was fed. */
static void
conn_send_held(struct conn *c)
{
	size_t len;

	if (c->held == NULL || (len = evbuffer_get_length(c->held)) == 0)
		return;
	if (c->bev != NULL)
		conn_send(c, evbuffer_pullup(c->held, -1), len);
	evbuffer_drain(c->held, len);
}

static void
cb_reply(void *arg, const char *buf, size_t len)
{
	struct conn *c = arg;

	if (c->bev == NULL)
		return;
	command_clock_start(c);		/* a reply ends a command */
	if (c->holding && (c->held != NULL ||
	    (c->held = evbuffer_new()) != NULL)) {
		if (evbuffer_add(c->held, buf, len) == -1)
			log_err("reply to %s lost: out of memory", c->client);
	} else {
		conn_send(c, buf, len);
	}
	/* Refusals are logged, one line each, like Postfix's "reject:". */
	if (len > 2 && (buf[0] == '4' || buf[0] == '5'))
		log_info("NOQUEUE: reject: %.*s, client=%s", (int)(len - 2), buf,
		    c->client);
}

/* The digest key of rewritten identifiers (scrub.h): this machine's id
 * hashed for PostOffice (sd_id128_get_machine_app_specific(3)), so that
 * it is the same at every start and says nothing of the machine id.
 * Without a machine id (a bare container), a random key for this run. */
#define MSGID_APP_ID SD_ID128_MAKE(ea,c4,0d,da,8b,39,49,61,85,90,1c,d3,65,65,08,38)

static const char *
msgid_key(void)
{
	static char key[SD_ID128_STRING_MAX];
	sd_id128_t id;

	if (key[0] != '\0')
		return key;
	if (sd_id128_get_machine_app_specific(MSGID_APP_ID, &id) < 0) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			return NULL;
		log_warn("no machine id: rewritten identifiers are digested "
		    "with a key that changes at every start");
	}
	sd_id128_to_string(id, key);
	return key;
}

/* This host's name, read again at most once a second: gethostname()
 * is a system call (uname), and a renamed host is seen soon enough. */
static const char *
host_name(struct server *srv)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (srv->host_read == 0 || now.tv_sec != srv->host_read) {
		if (gethostname(srv->host, sizeof(srv->host)) == -1)
			srv->host[0] = '\0';
		srv->host[sizeof(srv->host) - 1] = '\0';
		srv->host_read = now.tv_sec != 0 ? now.tv_sec : 1;
	}
	return srv->host;
}

static int
cb_data_begin(void *arg, const struct smtp_envelope *env)
{
	struct conn *c = arg;
	struct scrub_names names;
	const char *at;
	char err[256];

	c->msg = queue_msg_new(c->srv->sp, !c->srv->cfg.keep_trace_headers,
	    err, sizeof(err));
	if (c->msg == NULL) {
		log_err("queue file for %s: %s", c->client, err);
		return -1;
	}
	/* Identifiers made up by the client's mailer name the backend in
	 * their id-right; they get one in a public domain (scrub.h). */
	at = strrchr(env->mail_from, '@');
	names = (struct scrub_names){
		.helo = smtp_session_helo(c->sess),
		.host = host_name(c->srv),
		.sender = at ? at + 1 : NULL,
		.domain = c->srv->cfg.msgid_domain,
		.key = msgid_key(),
	};
	if (queue_msg_rewrite_ids(c->msg, &names) == -1)
		log_warn("%s: identifiers left as they are: HELO name, host "
		    "name or domain unusable, client=%s", queue_msg_id(c->msg),
		    c->client);
	c->write_failed_logged = false;
	c->budget = c->srv->cfg.timeout;
	clock_gettime(CLOCK_MONOTONIC, &c->last);
	return 0;
}

static int
cb_data_write(void *arg, const void *buf, size_t len)
{
	struct conn *c = arg;

	if (queue_msg_write(c->msg, buf, len) == -1) {
		if (!c->write_failed_logged)
			log_err("queue file write for %s: %s", c->client,
			    strerror(errno));
		c->write_failed_logged = true;
		return -1;
	}
	return 0;
}

static void
cb_data_abort(void *arg)
{
	struct conn *c = arg;

	queue_msg_free(c->msg);
	c->msg = NULL;
}

static void
committed(void *arg, const char *id, enum commit_status status,
    const char *text)
{
	struct conn *c = arg;

	c->committing = false;
	switch (status) {
	case COMMIT_OK:
		log_info("%s: %s", id, text);
		break;
	case COMMIT_TOO_BIG:
		log_warn("%s: refused: %s, client=%s", id, text, c->client);
		break;
	default:
		log_err("%s: queue file write error: %s, client=%s", id, text,
		    c->client);
		break;
	}
	if (c->bev == NULL) {
		/* The client left while we were committing. */
		conn_free(c);
		return;
	}
	if (status == COMMIT_TOO_BIG)
		smtp_session_too_big(c->sess);
	else
		smtp_session_committed(c->sess, status == COMMIT_OK ? id : NULL);
	conn_pump(c);
}

/* The final dot: the message goes to the encoders and the commit thread
 * (commit.h), and the loop carries on with the other sessions. */
static void
cb_data_end(void *arg, const struct smtp_envelope *env, size_t size)
{
	struct conn *c = arg;
	struct queue_msg *qm = c->msg;
	char id[SPOOL_ID_LEN + 1];

	(void)size;
	c->msg = NULL;
	memcpy(id, queue_msg_id(qm), sizeof(id));
	if (commit_submit(c->srv->cm, qm, env, c->client,
	    c->srv->cfg.body_max, c->srv->cfg.max_file, committed, c) == -1) {
		log_err("%s: out of memory, client=%s", id, c->client);
		smtp_session_committed(c->sess, NULL);
		return;
	}
	c->committing = true;
}

static void
cb_close(void *arg)
{
	(void)arg;	/* conn_pump() and the timeout path act on it */
}

static const struct smtp_callbacks callbacks = {
	.reply = cb_reply,
	.data_begin = cb_data_begin,
	.data_write = cb_data_write,
	.data_end = cb_data_end,
	.data_abort = cb_data_abort,
	.close = cb_close,
};

/* ------------------------------------------------------------------ */
/* I/O */

/* Feeds the session what is buffered, as far as it will take it. */
static void
conn_pump(struct conn *c)
{
	struct evbuffer *in = c->in;
	struct evbuffer_iovec v;
	size_t n;

	for (;;) {
		if (smtp_session_closed(c->sess) || smtp_session_waiting(c->sess))
			break;
		if (c->srv->stopping && !smtp_session_in_transaction(c->sess)) {
			session_stop(c);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		c->holding = true;
		n = smtp_session_feed(c->sess, v.iov_base, v.iov_len);
		c->holding = false;
		conn_send_held(c);
		evbuffer_drain(in, n);
		if (n < v.iov_len)
			break;
	}
	c->seen = evbuffer_get_length(in);
	if (smtp_session_closed(c->sess) ||
	    (c->eof && !smtp_session_waiting(c->sess))) {
		conn_finish(c);
		return;
	}
	/* While a commit is under way the read event stays armed (disarming
	 * and arming it again around every message is two epoll_ctl calls
	 * each time): what the client pipelines meanwhile waits in c->in,
	 * up to READ_CHUNK, and the read timeout does not count. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_HIGH ||
	    (smtp_session_waiting(c->sess) && c->seen >= READ_CHUNK))
		event_del(c->rev);
	else if (!smtp_session_waiting(c->sess))
		conn_read_start(c);
}

/* New input is in the buffer. */
static void
conn_read(struct conn *c)
{
	size_t len = evbuffer_get_length(c->in);
	double rate = c->srv->cfg.min_data_rate;

	if (smtp_session_waiting(c->sess)) {
		/* Pipelined after a final dot: kept for after the commit,
		 * whose wait no timeout counts. */
		conn_pump(c);
		return;
	}

	if (smtp_session_in_data(c->sess) && rate > 0) {
		c->budget -= elapsed(&c->last);
		c->budget += (len - c->seen) / rate;
		if (c->budget > c->srv->cfg.timeout)
			c->budget = c->srv->cfg.timeout;
		if (c->budget <= 0) {
			smtp_session_timeout(c->sess);
			conn_finish(c);
			return;
		}
	} else if (!smtp_session_in_data(c->sess) && command_time_left(c) <= 0) {
		smtp_session_timeout(c->sess);
		conn_finish(c);
		return;
	}
	conn_pump(c);
}

/*
 * The socket is readable (or the read timeout ran out).  Reading is
 * ours, not the bufferevent's: libevent's evbuffer_read() asks the
 * kernel how much is waiting (ioctl FIONREAD) before every read, one
 * system call per command for nothing; this reads up to READ_CHUNK
 * octets into the connection's input buffer itself.  The bufferevent
 * still writes, with its timeout and its error reports.
 */
static void
conn_readable(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = c->in;
	struct evbuffer_iovec v;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		if (c->closing) {
			conn_drop(c);
			return;
		}
		if (smtp_session_waiting(c->sess))
			return;		/* the commit is ours to wait for */
		smtp_session_timeout(c->sess);
		conn_finish(c);
		return;
	}
	if (evbuffer_reserve_space(in, READ_CHUNK, &v, 1) < 1) {
		log_err("reading from %s: out of memory", c->client);
		conn_drop(c);
		return;
	}
	do {
		n = recv(fd, v.iov_base, v.iov_len, 0);
	} while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n == 0 && smtp_session_waiting(c->sess)) {
		/* A client may end its side after the final dot (and a
		 * pipelined QUIT) and still wait for the replies: they are
		 * sent, then the connection is closed (conn_pump()). */
		c->eof = true;
		event_del(c->rev);
		return;
	}
	if (n <= 0) {
		/* EOF or an error, as the bufferevent reported them. */
		conn_drop(c);
		return;
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(in, &v, 1);
	conn_read(c);
}

static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->closing) {
		conn_drop(c);
		return;
	}
	/* The output drained: reading may resume. */
	conn_pump(c);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	(void)what;
	/* A write error, or a client that does not read its replies (the
	 * bufferevent only writes: conn_readable() reads). */
	conn_drop(c);
}

/* ------------------------------------------------------------------ */
/* accepting */

static bool
client_allowed(const struct server *srv, const struct sockaddr *sa)
{
	size_t i;

	if (srv->cfg.nallow == 0)
		return addr_is_loopback(sa);
	for (i = 0; i < srv->cfg.nallow; i++)
		if (cidr_match(&srv->cfg.allow[i], sa))
			return true;
	return false;
}

/*
 * A client not allowed (554) or over the limit (421) gets its one reply
 * and the socket is closed there and then: no session, no buffers, no
 * timer, so a stream of them costs no descriptor and no memory beyond
 * this call.  The send buffer of a new socket takes the short reply
 * whole.  What the client may already have sent is read away first:
 * closing a socket with unread input would reset the connection, and a
 * reset may destroy the reply before the client reads it.
 */
static void
refuse(struct server *srv, evutil_socket_t fd, enum smtp_greeting how,
    const char *client)
{
	char buf[SMTP_REFUSAL_MAX], junk[512];
	size_t len;
	ssize_t n;

	len = smtp_refusal(&srv->cfg.smtp, how, client, buf, sizeof(buf));
	do {
		n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	evutil_closesocket(fd);
	if (how == SMTP_GREET_DENIED)
		srv->stats.denied++;
	else
		srv->stats.busy++;
	log_info("NOQUEUE: reject: CONNECT from %s: %.*s; denied=%lu, busy=%lu",
	    client, (int)(len > 2 ? len - 2 : 0), buf, srv->stats.denied,
	    srv->stats.busy);
}

static void
accepted(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct server *srv = arg;
	struct conn *c;
	struct timeval wtv;
	char client[64];
	int one = 1;

	(void)lev;
	(void)salen;
	addr_ntop(sa, client, sizeof(client));
	if (!client_allowed(srv, sa)) {
		refuse(srv, fd, SMTP_GREET_DENIED, client);
		return;
	}
	if (srv->nall >= srv->cfg.max_connections) {
		refuse(srv, fd, SMTP_GREET_BUSY, client);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->srv = srv;
	memcpy(c->client, client, sizeof(c->client));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, conn_readable,
	    c);
	c->in = evbuffer_new();
	c->sess = smtp_session_new(&srv->cfg.smtp, &callbacks, c, c->client);
	if (c->bev == NULL || c->rev == NULL || c->in == NULL ||
	    c->sess == NULL) {
		if (c->in != NULL)
			evbuffer_free(c->in);
		if (c->rev != NULL)
			event_free(c->rev);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		log_err("connect from %s: out of memory", c->client);
		smtp_session_free(c->sess);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nall++;
	srv->stats.served++;
	log_info("connect from %s", c->client);
	bufferevent_setcb(c->bev, NULL, conn_write, conn_event, c);
	wtv.tv_sec = srv->cfg.timeout;
	wtv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, NULL, &wtv);
	command_clock_start(c);
	smtp_session_start(c->sess, SMTP_GREET_OK);
	bufferevent_enable(c->bev, EV_WRITE);
	conn_read_start(c);
}

/* ------------------------------------------------------------------ */
/* the server */

struct server *
server_new(struct event_base *base, const struct server_config *cfg,
    struct spool *sp, struct commit *cm, char *err, size_t errlen)
{
	struct server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->cfg = *cfg;
	srv->base = base;
	srv->sp = sp;
	srv->cm = cm;
	TAILQ_INIT(&srv->conns);
	return srv;
}

static void
close_listeners(struct server *srv)
{
	struct listener *l;

	while ((l = srv->listeners) != NULL) {
		srv->listeners = l->next;
		evconnlistener_free(l->lev);
		event_free(l->resume);
		free(l);
	}
}

void
server_free(struct server *srv)
{
	struct conn *c;

	if (srv == NULL)
		return;
	close_listeners(srv);
	srv->stopping = false;	/* no loop exit requests from here on */
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		conn_free(c);
	if (srv->grace != NULL)
		event_free(srv->grace);
	free(srv);
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(l->lev);
}

/* accept() failed.  Out of descriptors or memory: say so once and pause
 * this listener, so that clients wait in the backlog instead of the
 * daemon spinning; the connections already open carry on. */
static void
accept_failed(struct evconnlistener *lev, void *arg)
{
	struct server *srv = arg;
	struct listener *l;
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int e = EVUTIL_SOCKET_ERROR();

	if (e == EINTR || e == EAGAIN || e == ECONNABORTED)
		return;
	for (l = srv->listeners; l != NULL && l->lev != lev; l = l->next)
		;
	if (l == NULL)
		return;
	log_warn("accept on %s: %s; pausing %d ms", l->name, strerror(e),
	    ACCEPT_PAUSE_MS);
	evconnlistener_disable(lev);
	evtimer_add(l->resume, &tv);
}

int
server_listen(struct server *srv, const struct sockaddr *sa, socklen_t salen,
    char *err, size_t errlen)
{
	struct listener *l;
	struct sockaddr_storage bound;
	socklen_t bound_len;
	char host[64];
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	    LEV_OPT_CLOSE_ON_EXEC;
	int port, saved;

	if (sa->sa_family == AF_INET6) {
		flags |= LEV_OPT_BIND_IPV6ONLY;
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	} else {
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	}
	addr_ntop(sa, host, sizeof(host));
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->lev = evconnlistener_new_bind(srv->base, accepted, srv, flags, 511,
	    sa, salen);
	if (l->lev == NULL) {
		saved = errno;
		snprintf(err, errlen, "cannot listen on %s%s%s:%d: %s",
		    sa->sa_family == AF_INET6 ? "[" : "", host,
		    sa->sa_family == AF_INET6 ? "]" : "", port, strerror(saved));
		free(l);
		errno = saved;
		return -1;
	}
	/* The address the socket got: port 0 asks the kernel for a port. */
	bound_len = sizeof(bound);
	if (getsockname(evconnlistener_get_fd(l->lev),
	    (struct sockaddr *)&bound, &bound_len) == 0) {
		addr_ntop((struct sockaddr *)&bound, host, sizeof(host));
		port = ntohs(bound.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&bound)->sin6_port :
		    ((struct sockaddr_in *)&bound)->sin_port);
	}
	snprintf(l->name, sizeof(l->name), "%s%s%s:%d",
	    sa->sa_family == AF_INET6 ? "[" : "", host,
	    sa->sa_family == AF_INET6 ? "]" : "", port);
	if ((l->resume = evtimer_new(srv->base, accept_resume, l)) == NULL) {
		evconnlistener_free(l->lev);
		free(l);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, accept_failed);
	l->next = srv->listeners;
	srv->listeners = l;
	return 0;
}

const char *
server_listen_name(const struct server *srv)
{
	return srv->listeners != NULL ? srv->listeners->name : NULL;
}

/* The grace period is over: 421 to everyone not waiting for a commit
 * (those get theirs right after their 250 or 451). */
static void
grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c, *next;

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->closing || c->bev == NULL || smtp_session_waiting(c->sess))
			continue;
		session_stop(c);
	}
	maybe_exit(srv);
}

void
server_stop(struct server *srv)
{
	struct conn *c, *next;
	struct timeval tv = { srv->cfg.stop_grace, 0 };

	if (srv->stopping)
		return;
	srv->stopping = true;
	close_listeners(srv);
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->closing || c->bev == NULL ||
		    smtp_session_in_transaction(c->sess))
			continue;
		session_stop(c);
	}
	srv->grace = evtimer_new(srv->base, grace_over, srv);
	if (srv->grace != NULL)
		evtimer_add(srv->grace, &tv);
	maybe_exit(srv);
}

size_t
server_connections(const struct server *srv)
{
	return srv->nall;
}

void
server_stats(const struct server *srv, struct server_stats *st)
{
	*st = srv->stats;
}
