/*
 * lock.h - one PostMan run at a time, with flock(2) on a lock file.  The
 * kernel drops the lock when the process ends, however it ends.
 */
#ifndef POSTMAN_LOCK_H
#define POSTMAN_LOCK_H

#include <stddef.h>

#define LOCK_BUSY (-2)

/* Opens path (created with mode 0600 when missing, symlinks refused) and
 * takes an exclusive flock without waiting.  Returns the open descriptor
 * (close-on-exec: sendmail children never inherit it) when we hold the
 * lock, LOCK_BUSY when another process does, or -1 with err filled.  A
 * file owned by another user is refused: in a shared directory it would
 * let that user keep us from ever running. */
int lock_take(const char *path, char *err, size_t errlen);

/* The default lock file, malloc'd: /run/postman.lock for root,
 * $XDG_RUNTIME_DIR/postman.lock for other users when set, else
 * /tmp/postman-UID.lock.  NULL when out of memory. */
char *lock_default_path(void);

#endif
