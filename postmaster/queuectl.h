/*
 * queuectl.h - operating the spool by hand: "postmaster queue COMMAND"
 * lists, counts and shows messages, requeues dead letters and deferred
 * messages, and deletes messages, like Postfix's mailq and postsuper.
 *
 * It is safe to run while PostOffice and PostMaster run: every change is
 * one rename(2) or unlink(2) through common/spool.h, so a message is never
 * in two places, and an operation that loses a race with a daemon (the
 * file moved away first) fails with ENOENT, reported as such.
 *
 * The qctl_* functions below do the work and report into err buffers;
 * only queuectl_main() prints and chooses exit statuses.
 */
#ifndef POSTMASTER_QUEUECTL_H
#define POSTMASTER_QUEUECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/spool.h"

/* How long a requeue holds a dead letter under its own lease while it
 * rewrites it.  Should the command die meanwhile, PostMaster returns the
 * message to the queue once this has passed. */
#define QCTL_CLAIM_SECS 60

/* The largest spool file read (PostMaster quarantines larger ones). */
#define QCTL_FILE_MAX (256UL * 1024 * 1024)

/* Outcome of an operation on one message. */
enum qctl_result {
	QCTL_OK,
	QCTL_NOT_FOUND,		/* no message with that id anywhere */
	QCTL_RACE,		/* it moved away while we acted (ENOENT) */
	QCTL_REFUSED,		/* not in a state the operation applies to */
	QCTL_INVALID,		/* the file is not a valid message */
	QCTL_NOPERM,		/* the file belongs to someone else */
	QCTL_ERROR		/* a system error; err says which */
};

/* What was found for an id: its area and its file name there. */
struct qctl_where {
	enum spool_area area;
	char name[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];
};

/*
 * Finds the message ID in the queue, .leased, .deferred, .dead or
 * .quarantine (in that order).  Returns 0 and fills w, or -1 with errno
 * ENOENT when it is in none of them (or EINVAL for a malformed id, or the
 * error of listing a folder).
 */
int qctl_find(struct spool *sp, const char *id, struct qctl_where *w);

/* The state word of an area: "queued", "leased", "deferred", "dead",
 * "quarantined" ("tmp" for .tmp). */
const char *qctl_state_name(enum spool_area area);

/* Parses a state word (as above, also "quarantine") into an area.
 * -1 when it is none of them. */
int qctl_state_parse(const char *s, enum spool_area *area);

/*
 * Seconds since the id was made, read from its time-ordered first 14 hex
 * digits (microseconds since the epoch).  -1 when that part does not look
 * like a time between 2000 and `now` (ids written by other programs).
 */
long qctl_id_age(const char *id, time_t now);

/* "45s", "12m", "3h", "2d": secs rounded down to its largest unit. */
void qctl_format_age(long secs, char *buf, size_t len);

/*
 * Moves a dead letter back to the queue with "attempts" reset to 0, so it
 * gets the full number of tries again; "last_error" is kept until the next
 * failure replaces it.  The letter is first claimed by a rename to
 * .leased/ID.LEASE (QCTL_CLAIM_SECS), rewritten there durably with the
 * original owner and mode, then released to the queue.  A deferred message
 * is queued at once (attempts kept); a quarantined one only when it is a
 * valid message now.  *from receives the area it was found in,
 * *attempts_was the count before a reset (or -1).  Requeueing a queued
 * message is QCTL_OK with err saying so; a leased one is QCTL_REFUSED.
 */
enum qctl_result qctl_requeue(struct spool *sp, const char *id,
    enum spool_area *from, long *attempts_was, char *err, size_t errlen);

/*
 * Deletes ID from whatever area holds it.  *was receives the area it was
 * deleted from (SPOOL_LEASED means a PostMan may be delivering it now).
 * A message that moves between the lookup and the unlink is looked up
 * again, a few times, before QCTL_RACE.
 */
enum qctl_result qctl_delete(struct spool *sp, const char *id,
    enum spool_area *was, char *err, size_t errlen);

/*
 * Queues every deferred message now, without waiting for its retry time
 * (attempts kept).  moved, when not NULL, is called with each id queued.
 * Returns the number moved (ones that moved away meanwhile, because their
 * time came, are skipped), or -1 with err filled.
 */
long qctl_flush(struct spool *sp, void (*moved)(const char *id, void *arg),
    void *arg, char *err, size_t errlen);

/*
 * The command: argv[0] is "queue".  Prints results on stdout, problems on
 * stderr, logs changes ("ID: status=...") through common/log.h, and returns
 * an exit status from sysexits.h.
 */
int queuectl_main(int argc, char **argv);

#endif
