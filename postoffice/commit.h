/*
 * commit.h - makes spool files durable in groups, off the event loop.
 *
 * A worker thread takes every file waiting to be committed, fdatasync()s
 * each, renames each into the queue, and then fsync()s the queue folder
 * ONCE for the whole group.  Only after that are the submitters told,
 * back on the event loop thread, that their messages are safe.  Sessions
 * that end their DATA while a group is being synced form the next group,
 * so the cost of the folder sync is shared by every concurrent client.
 */
#ifndef POSTOFFICE_COMMIT_H
#define POSTOFFICE_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/spool.h"

struct event_base;
struct commit;

/* Called on the event loop thread with the outcome: ok means the file is
 * durably in the queue as id; otherwise nothing of it is in the queue
 * and err says why. */
typedef void (*commit_done)(void *arg, const char *id, bool ok,
    const char *err);

/* Starts the worker.  base must have been created after
 * evthread_use_pthreads().  NULL with err filled on failure. */
struct commit *commit_new(struct event_base *base, struct spool *sp,
    char *err, size_t errlen);
/* Finishes every submitted commit (calling no callbacks any more), stops
 * the worker and frees.  Accepts NULL. */
void commit_free(struct commit *c);

/* Hands f (a written, unsynced spool file of message id) to the worker,
 * which owns it from now on.  done(arg, ...) is called exactly once,
 * later, from the event loop.  Returns 0, or -1 when out of memory (f
 * is then aborted and done is not called). */
int commit_submit(struct commit *c, struct spool_file *f, const char *id,
    commit_done done, void *arg);

/* Number of commits submitted and not yet reported. */
size_t commit_pending(const struct commit *c);

#endif
