/*
 * reaper.h - deletes served messages on a thread of its own.
 *
 * Once the drain's response has gone out, its messages are deleted; on a
 * filesystem that discards freed blocks synchronously an unlink(2) can
 * take a millisecond, and fifty of them would hold up the next request.
 * The reaper takes that work off the event loop.  A message whose
 * deletion is still pending is held (its lock is released only after the
 * unlink), or in .leased/ under a lease that has not expired, so nobody
 * else can be served it meanwhile.
 */
#ifndef POSTMASTER_REAPER_H
#define POSTMASTER_REAPER_H

#include "common/spool.h"

struct reaper;

/* Called on the reaper's thread when a deletion failed (errno in err). */
typedef void (*reaper_fail_fn)(void *arg, const char *id, const char *lease,
    int err);

/* Starts the thread.  NULL with err filled on failure. */
struct reaper *reaper_new(struct spool *sp, reaper_fail_fn fail,
    void *fail_arg, char *err, size_t errlen);
/* Deletes each of the n ids soon, with one wake-up of the thread for all
 * of them (at once, on this thread, for an id whose work cannot be
 * queued): with fds, the held queued file (see spool_remove_held(); the
 * reaper takes the descriptors over and sets them to -1), else
 * .leased/ID.LEASE. */
void reaper_add(struct reaper *r, const char (*ids)[SPOOL_ID_LEN + 1],
    size_t n, const char *lease, int *fds);
/* Finishes every queued deletion, stops the thread.  Accepts NULL. */
void reaper_free(struct reaper *r);

#endif
