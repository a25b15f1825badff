/*
 * commit.h - turns received messages into durable spool files, off the
 * event loop.
 *
 * The loop hands over a message at its final dot and goes back to
 * speaking SMTP.  An encoder thread (one of ENCODERS) extracts its
 * subject and body and writes its JSON into a temporary spool file;
 * the commit thread takes every file written meanwhile and appends each
 * one's record to the journal (journal.h) with ONE fdatasync for the
 * group.  Only after that are the submitters told, back on the event
 * loop thread, that their messages are safe.  The checkpoint thread
 * then makes the files durable in their hundreds (one syncfs), empties
 * the journal file that held their records and moves them into the
 * queue.  Sessions that end their DATA while a group is being synced
 * form the next group, so the sync is shared by every concurrent
 * client, and a 10 MB message being encoded delays no other session's
 * reply.
 *
 * Without a journal (or for a file too large for one) the commit thread
 * fdatasync()s the group's files side by side, renames each into the
 * queue and fsync()s the queue folder once, before the 250.
 */
#ifndef POSTOFFICE_COMMIT_H
#define POSTOFFICE_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/spool.h"
#include "postoffice/queue.h"
#include "postoffice/smtp.h"

struct event_base;
struct commit;
struct journal;

enum commit_status {
	COMMIT_OK,		/* durably in the queue */
	COMMIT_TOO_BIG,		/* its spool file would be over max_file */
	COMMIT_FAILED		/* not queued: a write, sync or memory error */
};

/* Called on the event loop thread with the outcome.  With COMMIT_OK the
 * message is durably in the queue as id and text is its log line
 * ("from=<...>, to=<...>, nrcpt=N, size=N, client=A"); otherwise
 * nothing of it is in the queue and text says why. */
typedef void (*commit_done)(void *arg, const char *id,
    enum commit_status status, const char *text);

/* Encoder threads: MIME extraction, JSON encoding and the spool file's
 * write.  More than the machine's cores, so that a few very large
 * messages cannot hold every one of them. */
#define COMMIT_ENCODERS 4

/* Starts the threads.  base must have been created after
 * evthread_use_pthreads().  With journal jr (journal.h; kept, not
 * freed), a message of up to JOURNAL_RECORD_MAX octets of JSON is
 * acknowledged once its record is durable, and its file reaches the
 * queue at the next checkpoint, moments later; without, or for a larger
 * one, once its file is durably in the queue.  NULL with err filled on
 * failure. */
struct commit *commit_new(struct event_base *base, struct spool *sp,
    struct journal *jr, char *err, size_t errlen);
/* Finishes every submitted commit (calling no callbacks any more), stops
 * the worker and frees.  Accepts NULL. */
void commit_free(struct commit *c);

/* Hands over message qm, whose data is complete, with its envelope env
 * and client (both copied): the worker owns qm from now on.  body_max
 * and max_file are those of queue_msg_finish().  done(arg, ...) is
 * called exactly once, later, from the event loop.  Returns 0, or -1
 * when out of memory (qm is then freed and done is not called). */
int commit_submit(struct commit *c, struct queue_msg *qm,
    const struct smtp_envelope *env, const char *client, size_t body_max,
    size_t max_file, commit_done done, void *arg);

/* Number of commits submitted and not yet reported. */
size_t commit_pending(const struct commit *c);

#endif
