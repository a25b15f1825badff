/*
 * server.h - the network side of PostOffice: libevent listeners and one
 * connection per client, each driving an SMTP session (smtp.h), with the
 * access list, the connection limit, timeouts and the graceful stop.
 */
#ifndef POSTOFFICE_SERVER_H
#define POSTOFFICE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/addr.h"
#include "common/spool.h"
#include "postoffice/commit.h"
#include "postoffice/smtp.h"

struct event_base;

struct server_config {
	struct smtp_config smtp;
	const struct cidr *allow;	/* clients served; none: loopback */
	size_t nallow;
	unsigned timeout;		/* idle seconds before 421 4.4.2 */
	unsigned min_data_rate;		/* octets/s during DATA; 0: none */
	size_t max_connections;		/* beyond: 421 4.7.0 at greeting,
					 * then closed */
	bool keep_trace_headers;	/* do not scrub (scrub.h) */
	const char *msgid_domain;	/* for rewritten Message-IDs; NULL:
					 * the envelope sender's domain */
	size_t body_max;		/* cap on the "body" field */
	size_t max_file;		/* largest spool file; over it the
					 * message gets 552 5.3.4 */
	unsigned stop_grace;		/* seconds for transactions at stop */
};

#define SERVER_DEFAULT_TIMEOUT 300
#define SERVER_DEFAULT_MIN_DATA_RATE 500	/* Postfix smtpd_min_data_rate */
#define SERVER_DEFAULT_MAX_CONNECTIONS 100
#define SERVER_DEFAULT_STOP_GRACE 10

struct server;

/* A server on base using spool sp and committer cm (all must outlive
 * it).  cfg is copied, but the allow array, hostname and msgid_domain are
 * referenced.
 * NULL with err filled on failure. */
struct server *server_new(struct event_base *base,
    const struct server_config *cfg, struct spool *sp, struct commit *cm,
    char *err, size_t errlen);
/* Closes every connection and listener and frees.  Accepts NULL. */
void server_free(struct server *srv);

/* Listens on sa.  0, or -1 with err filled (errno set: EADDRINUSE for
 * a port in use). */
int server_listen(struct server *srv, const struct sockaddr *sa,
    socklen_t salen, char *err, size_t errlen);
/* The address the last successful server_listen() bound, as
 * "127.0.0.1:2525" or "[::1]:2525", with the port the kernel chose for
 * port 0; owned by srv.  NULL before the first. */
const char *server_listen_name(const struct server *srv);

/* Starts the graceful stop: no new connections; idle sessions get 421
 * 4.3.2 now, sessions in a transaction when it ends or when the grace
 * period runs out.  The event loop is told to exit once every
 * connection is gone. */
void server_stop(struct server *srv);

/* Connections open now. */
size_t server_connections(const struct server *srv);

/* What the server has done since it started. */
struct server_stats {
	unsigned long served;		/* connections greeted with 220 */
	unsigned long denied;		/* refused with 554 (not allowed) */
	unsigned long busy;		/* refused with 421 (over the limit) */
};
void server_stats(const struct server *srv, struct server_stats *st);

#endif
