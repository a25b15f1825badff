/*
 * idindex.h - the ordered set of queued message ids PostMaster serves from.
 *
 * Built by one scan of the queue at startup and then kept current from
 * inotify events and PostMaster's own moves, so that taking the oldest N
 * messages costs O(N log Q) instead of a directory scan and sort of all Q
 * queued files.  Ids are the spool's time-ordered 32-hex names: their byte
 * order is arrival order.  Nothing here touches the disk.
 */
#ifndef POSTMASTER_IDINDEX_H
#define POSTMASTER_IDINDEX_H

#include <stdbool.h>
#include <stddef.h>

struct idindex;

/* An empty index, or NULL when out of memory.  Free with idindex_free(). */
struct idindex *idindex_new(void);
void idindex_free(struct idindex *ix);

/* Adds id.  Returns true when it was added, false when it was already
 * there or is not a spool id (see spool_id_valid()). */
bool idindex_add(struct idindex *ix, const char *id);
/* Removes id; true when it was there. */
bool idindex_remove(struct idindex *ix, const char *id);
bool idindex_contains(const struct idindex *ix, const char *id);
size_t idindex_count(const struct idindex *ix);
/* The smallest (oldest) id, or NULL when empty.  The pointer stays valid
 * until the next change to the index. */
const char *idindex_first(const struct idindex *ix);
/* Removes every id. */
void idindex_clear(struct idindex *ix);

#endif
