/*
 * queue.h - PostMaster's side of the spool: which messages are queued
 * (an in-memory index kept current with inotify), claiming a batch, and
 * what becomes of a leased message afterwards (acknowledged,
 * deferred with back-off, dead-lettered, returned).
 *
 * Several PostMaster processes may share one spool: every claim takes
 * the message's lock first (flock(2), see spool_hold()), and a lease is a
 * rename(2) as well, that only one of them can win; a loser forgets the
 * id (or, when it is only held, tries it again next time) and takes the
 * next one.
 *
 * Nothing here logs.  Events that happen to a message outside a request
 * (quarantine, return to the queue) are reported through the note
 * callback given to queue_open(); errors through err buffers.
 */
#ifndef POSTMASTER_QUEUE_H
#define POSTMASTER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/limits.h"
#include "common/spool.h"
#include "common/util.h"

/* Spool files over LIMIT_SPOOL_FILE are not served: quarantined. */

/* The smallest max_bytes a lease may ask for: room for the response's
 * head and a small message. */
#define QUEUE_MAX_BYTES_MIN 1024

struct queue_config {
	unsigned long lease_time;	/* seconds a lease lasts */
	unsigned long max_attempts;	/* the Nth temporary failure bounces */
	unsigned long retry_min;	/* first back-off, seconds */
	unsigned long retry_max;	/* back-off cap, seconds */
	size_t max_batch_bytes;		/* a batch stops growing past this */
};

/* id, and "key=value, ..." describing what happened to it. */
typedef void (*queue_note_fn)(void *arg, const char *id, const char *what);

struct queue;

/* A claimed batch: the ids, oldest first, and their JSON objects joined
 * into json as prefix "[" obj "," obj ... "]" suffix. */
struct batch {
	char lease[SPOOL_LEASE_LEN + 1];	/* "" when held in place */
	time_t expires;
	size_t n;
	char (*ids)[SPOOL_ID_LEN + 1];
	int *fds;		/* held in place: each id's locked descriptor */
	struct strbuf json;	/* the response body; may be taken */
};

/* FAIL_QUARANTINED: the leased file turned out not to be a message (it
 * changed after it was served, or the client applies a rule this
 * PostMaster does not): moved to .quarantine/ and noted there. */
enum fail_outcome { FAIL_DEFERRED, FAIL_BOUNCED, FAIL_QUARANTINED };

struct fail_result {
	enum fail_outcome outcome;
	long attempts;		/* after this failure */
	time_t retry_at;	/* FAIL_DEFERRED: when it is queued again */
};

struct queue_stats {
	size_t queued, leased, deferred, dead, quarantined;
	double oldest_age;	/* seconds since the oldest queued id was made */
};

/*
 * Opens the spool at dir (see spool_open()), returns every expired lease
 * to the queue, starts watching the queue folder and indexes what is
 * queued.  NULL with err filled on failure.  Free with queue_free().
 */
struct queue *queue_open(const char *dir, const struct queue_config *cfg,
    queue_note_fn note, void *note_arg, char *err, size_t errlen);
void queue_free(struct queue *q);

struct spool *queue_spool(struct queue *q);
/* The inotify descriptor: readable when queue_events() has work. */
int queue_fd(const struct queue *q);
/* Applies pending inotify events to the index (a lost event queue
 * triggers a rescan).  Returns how many ids became queued, or -1. */
long queue_events(struct queue *q, char *err, size_t errlen);
/* Forgets the index and lists the queue folder again.  Count or -1. */
long queue_rescan(struct queue *q, char *err, size_t errlen);
/* Returns due leases and deferred messages to the queue.  Count or -1. */
long queue_expire(struct queue *q, time_t now);

/* Messages in the index (queued as far as this process knows). */
size_t queue_length(const struct queue *q);

/*
 * Claims up to max of the oldest queued messages.  Each is held (see
 * spool_hold()), read and checked (an invalid one is moved to
 * .quarantine/ and noted, never served).  Under a lease (a token from
 * spool_lease_new()) each is also renamed into .leased/ and let go;
 * with lease NULL each stays in the queue, held, its descriptor in
 * b->fds, until the caller removes it (spool_remove_held()) or lets go of
 * it (queue_unhold()).  The batch stops early once its JSON passes
 * max_batch_bytes (a soft bound: the message that passes it is in).
 *
 * Under a lease, max_bytes (0: none) is a hard bound on the whole JSON,
 * prefix and suffix included: a message that would take the batch past it
 * stays first in the queue for the next claim, and one that alone would
 * take an empty batch past it is dead-lettered (a permanent failure, see
 * queue_fail(), noted with its reason), and the claim goes on.  Held
 * claims (lease NULL) ignore max_bytes.
 *
 * Returns the batch (possibly empty) or NULL when out of memory; a spool
 * error that cut the batch short is described in err (err[0] is '\0'
 * otherwise).  Running out of descriptors while holding only cuts a batch
 * short that has messages already.  Free with batch_free() after settling
 * each leased id with queue_ack() or queue_release().
 */
struct batch *queue_claim(struct queue *q, size_t max, size_t max_bytes,
    const char *lease, const char *prefix, const char *suffix, char *err,
    size_t errlen);
/* Lets go of every message b still holds: it is queued again, as if it
 * had never been claimed. */
void queue_unhold(struct queue *q, struct batch *b);
/* Frees b, closing the descriptors it still holds. */
void batch_free(struct batch *b);
/* Takes the JSON out of b (the caller frees it). */
char *batch_take_json(struct batch *b, size_t *len);

/* Deletes .leased/ID.LEASE: delivered; the deletion is synced (an
 * acknowledged message does not come back after a power loss).  -1 with
 * ENOENT when id is not leased under lease (never was, settled, or
 * expired and requeued). */
int queue_ack(struct queue *q, const char *lease, const char *id);
/* Puts .leased/ID.LEASE back in the queue untouched.  -1 / ENOENT. */
int queue_release(struct queue *q, const char *lease, const char *id);

/*
 * Records a failed delivery of a leased message: attempts + 1 and
 * last_error = reason are written durably either into .deferred/ under a
 * lease expiring after the back-off (temporary failure), or into .dead/
 * (permanent, or the max_attempts-th failure); then the leased file goes,
 * and that deletion is synced too (the message cannot come back).
 * -1 with errno ENOENT when id is not leased under lease; -1 with err
 * filled on any other failure (the message stays leased).
 */
int queue_fail(struct queue *q, const char *lease, const char *id,
    bool permanent, const char *reason, time_t now, struct fail_result *res,
    char *err, size_t errlen);

/* Seconds to wait before the next try after the attempts-th failure:
 * retry_min doubled for each failure after the first, at most retry_max. */
unsigned long queue_backoff(long attempts, unsigned long retry_min,
    unsigned long retry_max);

/* Counts the spool's areas.  0 or -1 (errno). */
/* now: the current time in seconds (with fractions). */
int queue_stats(struct queue *q, double now, struct queue_stats *st);

#endif
