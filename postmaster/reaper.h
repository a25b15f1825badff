/*
 * reaper.h - deletes served messages on worker threads of its own.
 *
 * Once the drain's response has gone out, its messages are deleted; on a
 * filesystem that discards freed blocks synchronously an unlink(2) can
 * take a millisecond, and fifty of them would hold up the next request.
 * The reaper takes that work off the event loop, onto workers that each
 * take a sweep of the waiting deletions.  A message whose
 * deletion is still pending is held (its lock is released only after the
 * unlink), or in .leased/ under a lease that has not expired, so nobody
 * else can be served it meanwhile.
 *
 * The backlog is bounded: at most max_held deletions wait (each holds a
 * descriptor); past that reaper_add() deletes on the caller's thread, so
 * a sustained drain slows down rather than running out of descriptors or
 * memory.  Each sweep removes its names, then fsync(2)s the folders it
 * deleted from once, then closes its files: a served message does not
 * come back after a power loss once its sweep is over.
 */
#ifndef POSTMASTER_REAPER_H
#define POSTMASTER_REAPER_H

#include "common/spool.h"

struct reaper;

/* Called on the reaper's thread when a deletion failed (errno in err);
 * with id "" when syncing the folder after deletions failed. */
typedef void (*reaper_fail_fn)(void *arg, const char *id, const char *lease,
    int err);

/* Starts the workers.  NULL with err filled on failure. */
struct reaper *reaper_new(struct spool *sp, size_t max_held,
    reaper_fail_fn fail, void *fail_arg, char *err, size_t errlen);
/* Deletes each of the n ids soon, with one wake-up of the thread for all
 * of them (at once, on this thread, for an id whose work cannot be
 * queued because the backlog is full or memory is short): with fds, the held queued file (see spool_remove_held(); the
 * reaper takes the descriptors over and sets them to -1), else
 * .leased/ID.LEASE. */
void reaper_add(struct reaper *r, const char (*ids)[SPOOL_ID_LEN + 1],
    size_t n, const char *lease, int *fds);
/* Deletions waiting (safe from any thread). */
size_t reaper_pending(struct reaper *r);
/* Finishes every queued deletion, stops the workers.  Accepts NULL. */
void reaper_free(struct reaper *r);

#endif
