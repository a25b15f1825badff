/*
 * server.h - PostMaster's HTTP endpoints on libmicrohttpd, driven from the
 * caller's event loop (libmicrohttpd's epoll mode without its own thread:
 * every handler runs on the caller's thread, so the queue needs no lock).
 *
 * A response that hands out messages settles them in libmicrohttpd's
 * completion callback, which tells whether the response was sent
 * completely: only then does the drain delete them, or a lease keep them;
 * otherwise they go back to the queue at once.
 */
#ifndef POSTMASTER_SERVER_H
#define POSTMASTER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "postmaster/htpasswd.h"
#include "postmaster/queue.h"

/* Largest request body accepted (a /fail report); larger gets 413. */
#define SERVER_BODY_MAX (64 * 1024)

struct server_config {
	unsigned long batch;		/* messages per response at most */
	unsigned long lease_time;	/* seconds */
	unsigned long max_wait;		/* longest long poll, seconds */
	unsigned long max_connections;
	unsigned long idle_timeout;	/* seconds a silent connection lives */
};

struct server;

/* Starts serving on the listening socket fd (libmicrohttpd takes it over
 * until server_quiesce()).  auth may be NULL (no authentication); the
 * server owns it from here on.  NULL with err filled on failure. */
struct server *server_new(const struct server_config *cfg, struct queue *q,
    int fd, struct htpasswd *auth, char *err, size_t errlen);
/* Stops libmicrohttpd; requests still in flight are ended, and the
 * messages they were handing out go back to the queue.  Accepts NULL. */
void server_free(struct server *s);

/* Replaces the credentials (the server owns h; the old ones are freed). */
void server_set_auth(struct server *s, struct htpasswd *h);

/* The descriptor to wait on (readable when there is work). */
int server_fd(const struct server *s);
/* Milliseconds until server_run() must be called even if nothing is
 * readable, or -1 for no limit. */
int server_timeout(const struct server *s);
/* Does all pending work: answers long polls that may now be answered
 * (mail arrived, or their wait is over), then runs libmicrohttpd. */
void server_run(struct server *s);

/* Stops accepting connections and answers every waiting long poll with
 * an empty lease.  Call server_run() once more, then server_free(). */
void server_quiesce(struct server *s);

#endif
