/*
 * settle.h - what becomes of a message once PostMaster has handed it
 * out, in one place: each transition's spool change and the log line
 * that reports it.
 *
 *   GET / response     went out whole: served (deleted, see reaper.h)
 *                      cut short:      released (still queued)
 *   POST /lease        went out whole: leased (in .leased/ until expiry)
 *                      cut short:      released (back in the queue)
 *   leased             ack:  sent (deleted; the folder is synced)
 *                      fail: deferred (.deferred/) or bounced (.dead/)
 *                      expiry: requeued
 *   deferred           expiry: requeued
 *   queued             too large for the client's max_bytes: bounced
 *                      not a message: quarantined
 *
 * Every line is "ID: status=S" followed by the event's key=value pairs in
 * one fixed order (lease, expires, attempts, retry, permanent, client,
 * reason), so that a mail administrator can grep any of them.
 */
#ifndef POSTMASTER_SETTLE_H
#define POSTMASTER_SETTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "postmaster/queue.h"

/* Longest failure reason written to a log line (the spool keeps it whole
 * in last_error). */
#define SETTLE_REASON_MAX 300

enum settle_status {
	SETTLE_SERVED,		/* GET /: the response went out whole */
	SETTLE_LEASED,		/* POST /lease: the response went out whole */
	SETTLE_RELEASED,	/* handed out, response cut short */
	SETTLE_SENT,		/* acknowledged */
	SETTLE_DEFERRED,	/* temporary failure, tried again later */
	SETTLE_BOUNCED,		/* permanent failure: a dead letter */
	SETTLE_REQUEUED,	/* lease or back-off expired */
	SETTLE_QUARANTINED	/* not a message */
};

/* One transition.  Fields a status does not report are ignored; NULL
 * strings and an empty lease are left out of the line. */
struct settle_event {
	enum settle_status status;
	const char *lease;
	time_t expires;		/* LEASED */
	long attempts;		/* DEFERRED, BOUNCED */
	long retry;		/* DEFERRED: seconds until the next try */
	bool permanent;		/* BOUNCED */
	const char *client;
	const char *reason;	/* control characters become spaces */
};

/* Writes the event's "status=..., key=value, ..." (without the id) into
 * buf, cut to fit.  Returns buf. */
char *settle_describe(char *buf, size_t len, const struct settle_event *ev);

/* Whether a failure after which the message has been tried attempts
 * times bounces (dead letter) rather than defers. */
enum fail_outcome settle_outcome(bool permanent, long attempts,
    unsigned long max_attempts);

/* The queue's note callback (see queue_open()): logs "ID: what". */
void settle_note(void *arg, const char *id, const char *what);

struct settle;

struct settle_counts {
	uint64_t served, acked, failed;
};

/* Settles messages of q; deletions after GET / go to the reaper's
 * workers.  NULL with err filled on failure.  Free with settle_free(),
 * which finishes the pending deletions. */
struct settle *settle_new(struct queue *q, char *err, size_t errlen);
void settle_free(struct settle *st);

/* How many descriptors of held messages (GET / responses in flight and
 * deletions pending) may be open at once; see reaper_new(). */
size_t settle_held_max(const struct settle *st);
/* Descriptors held by responses in flight and pending deletions. */
size_t settle_held(const struct settle *st);
/* A GET / batch of b->n held messages is about to go out. */
void settle_hold(struct settle *st, const struct batch *b);

/* Settles what a response handed out, now that it is known whether it
 * went out whole (complete). */
void settle_batch(struct settle *st, struct batch *b, bool complete,
    const char *client);

/* Acknowledges leased id: deleted, and the deletion synced before this
 * returns.  0; -1 with errno ENOENT when not leased under lease; -1 with
 * another errno on a spool error (logged). */
int settle_ack(struct settle *st, const char *lease, const char *id,
    const char *client);

/* Records a failed delivery (see queue_fail()) and logs its outcome.
 * 0; -1 with err[0] == '\0' when not leased under lease; -1 with err
 * filled on a spool error (logged). */
int settle_fail(struct settle *st, const char *lease, const char *id,
    bool permanent, const char *reason, const char *client,
    struct fail_result *res, char *err, size_t errlen);

struct settle_counts settle_counts(const struct settle *st);

#endif
