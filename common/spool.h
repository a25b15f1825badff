/*
 * spool.h - the one module that knows the spool's file names and folders.
 *
 * Layout under the spool directory DIR (default ./messages):
 *
 *   DIR/ID                      a queued message, ready to be served
 *   DIR/.tmp/ID.RANDOM          a file being written; never a message
 *   DIR/.leased/ID.LEASE        served under LEASE until LEASE's expiry
 *   DIR/.deferred/ID.LEASE      temporary failure; queued again at expiry
 *   DIR/.dead/ID                permanent failure (dead letter)
 *   DIR/.quarantine/ID          a file that is not a valid message
 *   DIR/.staged/ID              durable, not yet queued (PostOffice's
 *                               checkpoint, postoffice/journal.h)
 *   DIR/.journal/               PostOffice's write-ahead journal
 *
 * ID is 32 lowercase hex digits, time-ordered: sorting ids sorts by arrival.
 * LEASE is 24 lowercase hex digits: 8 of expiry (unix seconds) then 16
 * random.  Every state change is a rename(2) inside one filesystem, so a
 * message is always in exactly one place and two processes racing for the
 * same message cannot both win: the loser's rename fails with ENOENT.
 *
 * Errors: functions return 0 (or a count) on success and -1 on failure with
 * errno set; the ones taking (err, errlen) also describe the failure there.
 * Nothing here logs, prints or exits.
 */
#ifndef POSTOFFICE_SPOOL_H
#define POSTOFFICE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SPOOL_ID_LEN 32
#define SPOOL_LEASE_LEN 24

enum spool_area {
	SPOOL_QUEUE,
	SPOOL_TMP,
	SPOOL_LEASED,
	SPOOL_DEFERRED,
	SPOOL_DEAD,
	SPOOL_QUARANTINE,
	SPOOL_STAGED,
	SPOOL_JOURNAL,
	SPOOL_NAREAS
};

struct spool;
struct spool_file;

/* Opens DIR, creating the hidden sub-folders if they are missing (DIR
 * itself must exist).  Checks that DIR is a writable directory.  Returns
 * NULL with err filled on failure.  Free with spool_free(). */
struct spool *spool_open(const char *dir, char *err, size_t errlen);
void spool_free(struct spool *sp);

const char *spool_path(const struct spool *sp);
/* Checks that DIR still names the directory spool_open() opened (not
 * removed, moved away or replaced), and that every area can be listed
 * and changed.  0, or -1 with errno and err filled ("spool DIR: why"). */
int spool_check(struct spool *sp, char *err, size_t errlen);
/* The directory fd of an area, owned by the spool (do not close). */
int spool_dirfd(const struct spool *sp, enum spool_area area);
/* The folder name of an area relative to DIR ("" for the queue). */
const char *spool_area_name(enum spool_area area);

/* A new time-ordered id, NUL-terminated in id[33].  Ids made by one
 * process are strictly increasing. */
void spool_id_new(char id[SPOOL_ID_LEN + 1]);
/* True when s is exactly 32 lowercase hex digits. */
bool spool_id_valid(const char *s);
/* True when s is exactly 24 lowercase hex digits. */
bool spool_lease_valid(const char *s);
/* A new lease token expiring at `expiry`. */
void spool_lease_new(char lease[SPOOL_LEASE_LEN + 1], time_t expiry);
/* The expiry encoded in a valid lease token. */
time_t spool_lease_expiry(const char *lease);

/* How old a file in .tmp/ must be to count as left by a crash: a file
 * being written is touched by each write, and the longest wait between
 * its last write and its rename (the fdatasync of a file of
 * LIMIT_SPOOL_FILE on a slow disk) is well under this. */
#define SPOOL_TMP_STALE 600

/* Removes the files in .tmp/ last modified more than min_age seconds
 * before now: those a crash left.  Younger ones may be another
 * process's write in flight (a second PostOffice on the spool,
 * PostMaster's spool_put()) and stay.  Returns the number of files
 * removed, or -1. */
int spool_clean_tmp(struct spool *sp, time_t now, time_t min_age);

/* --- writing: temporary file, write, sync, rename, sync the folder --- */

/* Creates .tmp/ID.RANDOM for writing.  NULL with err filled on failure. */
struct spool_file *spool_file_create(struct spool *sp, const char *id,
    char *err, size_t errlen);
/* Buffered write of all len bytes.  0 or -1 (errno). */
int spool_file_write(struct spool_file *f, const void *buf, size_t len);
/* Flushes the buffer and starts writing the file's data back without
 * waiting (sync_file_range(2) SYNC_FILE_RANGE_WRITE).  Calling it on every
 * file of a group before their spool_file_sync() lets the disk take the
 * group's data at once and lets ext4 commit the group's metadata in one
 * journal transaction.  A hint only: durability still comes from
 * spool_file_sync().  0 or -1 (errno). */
int spool_file_start_sync(struct spool_file *f);
/* Flushes the buffer and fdatasync()s the file. */
int spool_file_sync(struct spool_file *f);
/* Renames the (synced) file to AREA/NAME and frees f whatever happens;
 * on failure the temporary file is removed.  The folder is not synced:
 * call spool_sync() before telling anyone the file is safe. */
int spool_file_commit(struct spool_file *f, enum spool_area area,
    const char *name);
/* Removes the temporary file and frees f.  Accepts NULL. */
void spool_file_abort(struct spool_file *f);
/* Bytes written so far. */
size_t spool_file_size(const struct spool_file *f);
/* fsync()s an area's folder, making renames into it durable. */
int spool_sync(struct spool *sp, enum spool_area area);

/* Writes len bytes durably as AREA/NAME: create, write, sync, commit and
 * sync the folder.  Nothing is left behind on failure. */
int spool_put(struct spool *sp, enum spool_area area, const char *name,
    const void *buf, size_t len, char *err, size_t errlen);

/* --- reading and listing --- */

/* Reads AREA/NAME whole into a malloc'd, NUL-terminated buffer (the NUL
 * is not counted in *len).  Refuses files larger than max bytes (EFBIG). */
int spool_read(struct spool *sp, enum spool_area area, const char *name,
    size_t max, char **buf, size_t *len);

struct strbuf;
/* Reads what is left of the open file fd onto the end of b (see util.h),
 * NUL-terminated: the same checks and errors as spool_read() (EINVAL for
 * what is not a regular file, EFBIG past max).  On failure b is as it
 * was (though perhaps with more room). */
int spool_read_fd_append(int fd, size_t max, struct strbuf *b);

/* Lists the names in an area, sorted ascending (oldest first), skipping
 * names that are not of the area's form.  *names is a malloc'd array of
 * malloc'd strings; free it with spool_list_free().  Returns the count or
 * -1. */
long spool_list(struct spool *sp, enum spool_area area, char ***names);
void spool_list_free(char **names, long n);

/* Splits an area file name "ID.LEASE" into its parts.  False if the name
 * is not of that form. */
bool spool_split_name(const char *name, char id[SPOOL_ID_LEN + 1],
    char lease[SPOOL_LEASE_LEN + 1]);

/* --- holding a queued message in place --- */

/*
 * Opens queued ID and takes an exclusive flock(2) on it: while the
 * descriptor is open no other holder (in this process or another) gets
 * it, and spool_lease() callers hold before they rename.  A crash drops
 * the lock with the process, and the message is simply still queued.
 * Returns the descriptor, or -1 with errno: ENOENT (gone, or moved away
 * between the open and the lock), EBUSY (someone holds it), ELOOP (a
 * symbolic link), EINVAL (not a regular file or not an id).
 */
int spool_hold(struct spool *sp, const char *id);
/* Removes held ID from the queue, then closes fd (the lock goes last). */
int spool_remove_held(struct spool *sp, const char *id, int fd);
/* Removes held ID from the queue and leaves its descriptor open, the
 * lock still taken: the caller closes it afterwards (the last close of a
 * removed file is where the filesystem frees it, which can be slow).
 * 0, or -1 with errno. */
int spool_unlink_held(struct spool *sp, const char *id);

/* --- moving messages between areas (each one rename) --- */

/* Moves queued ID to .leased/ID.LEASE.  -1 with ENOENT when someone else
 * has it (or it never existed).  Call it holding ID (spool_hold()), so
 * as not to take a message from under a holder. */
int spool_lease(struct spool *sp, const char *id, const char *lease);
/* Moves .leased/ID.LEASE back to the queue as ID. */
int spool_release(struct spool *sp, const char *id, const char *lease);
/* Removes .leased/ID.LEASE (the message was delivered). */
int spool_ack(struct spool *sp, const char *id, const char *lease);
/* Renames FROM-AREA/FROM-NAME to TO-AREA/TO-NAME. */
int spool_move(struct spool *sp, enum spool_area from, const char *from_name,
    enum spool_area to, const char *to_name);

/* Returns to the queue every lease in .leased/ and .deferred/ whose expiry
 * is at or before `now`.  When moved is not NULL it is called with each
 * returned id.  Returns the number returned, or -1. */
long spool_expire(struct spool *sp, time_t now,
    void (*moved)(const char *id, void *arg), void *arg);

#endif
