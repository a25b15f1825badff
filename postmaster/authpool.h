/*
 * authpool.h - crypt(3) runs off the event loop.
 *
 * A bcrypt check takes tens of milliseconds on purpose.  Run on the
 * thread that answers every request, a few clients sending wrong
 * passwords would hold up everyone else's requests by that much each.
 * Credentials that are not remembered (see htpasswd_cached()) are
 * checked here instead, on a few threads of their own, while the
 * request waits suspended; the event loop goes on answering the others.
 * At most AUTHPOOL_QUEUED checks wait at once, so a flood of wrong
 * passwords costs bounded memory and at most AUTHPOOL_THREADS cores.
 */
#ifndef POSTMASTER_AUTHPOOL_H
#define POSTMASTER_AUTHPOOL_H

#include <stddef.h>

#include "postmaster/htpasswd.h"

#define AUTHPOOL_THREADS 2
#define AUTHPOOL_QUEUED 64

struct authpool;

/* Called on a worker thread once the job has run (htpasswd_job_passed()
 * tells the answer); it must not block. */
typedef void (*authpool_done_fn)(void *arg);

/* Starts the threads.  NULL with err filled on failure. */
struct authpool *authpool_new(char *err, size_t errlen);
/* Queues j (the caller keeps it; it must live until done runs).  0, or
 * -1 when AUTHPOOL_QUEUED checks are waiting already. */
int authpool_submit(struct authpool *p, struct htpasswd_job *j,
    authpool_done_fn done, void *arg);
/* Runs every queued job (each done is called), stops the threads.
 * Accepts NULL. */
void authpool_free(struct authpool *p);

#endif
