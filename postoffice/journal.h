/*
 * journal.h - PostOffice's write-ahead journal.
 *
 * A message's durable step is one record appended to the journal, made
 * durable with every other record of its group by one fdatasync; its
 * 250 goes out then.  Its spool file, written meanwhile, is made durable
 * later by a checkpoint, together with every file of the records before
 * it (commit.h).
 *
 * Files: DIR/.journal/lock (an flock(2): one PostOffice per journal),
 * DIR/.journal/a and DIR/.journal/b.  Records are appended to the
 * current file.  A checkpoint makes the other file current, makes the
 * spool files of every record in the old one durable in .staged/,
 * empties the old file durably, and only then moves the files into the
 * queue.  So a record still in a journal names a message no reader has
 * ever seen, and replaying it after a crash can bring back no message
 * that was delivered and acknowledged.
 *
 * A record: a 16-octet header (the magic "POJ1", the payload's length,
 * the CRC-32C of the payload, the CRC-32C of the header's first 12
 * octets; little-endian), then the payload: the message's 32-digit id
 * and its spool file's JSON.  An append cut by a crash fails its CRC:
 * that record and anything after it are dropped (they were never
 * acknowledged).
 *
 * The functions other than journal_open() and journal_free() are called
 * from one thread at a time (the commit thread; journal_clear() from the
 * checkpoint thread, on the file that is not current).
 */
#ifndef POSTOFFICE_JOURNAL_H
#define POSTOFFICE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/spool.h"

#define JOURNAL_HEADER 16
#define JOURNAL_MAGIC 0x314a4f50U	/* "POJ1" read little-endian */

/* A spool file's JSON larger than this is not journaled: its file is
 * synced before its 250, as with --no-journal.  A record writes the
 * text a second time, which costs more than the syncs it saves once
 * the file is large: measured, 100 KiB messages (JSON about 200 KiB)
 * went at half the rate journaled. */
#define JOURNAL_RECORD_MAX (64UL * 1024)

/* The current file stops taking records past this many octets, until
 * a checkpoint empties the other one; this also bounds recovery. */
#define JOURNAL_FILE_MAX (64UL * 1024 * 1024)

struct journal;

/* What journal_open() found and did. */
struct journal_recovery {
	long staged;		/* files moved from .staged/ into the queue */
	long replayed;		/* messages written again from their record */
	long present;		/* records whose file was already queued */
	size_t torn;		/* octets after the last whole record, dropped */
	double seconds;		/* how long it took */
};

/* The CRC-32C (Castagnoli) of len octets, continuing from crc (0 to
 * start). */
uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len);
/* The same from a table, an octet at a time: what journal_crc32c() uses
 * where the CPU has no CRC-32C instruction (and what tests compare it
 * with). */
uint32_t journal_crc32c_table(uint32_t crc, const void *buf, size_t len);

/* Fills hdr (JOURNAL_HEADER octets) for a record of id and len octets
 * of json. */
void journal_header(unsigned char hdr[JOURNAL_HEADER], const char *id,
    const void *json, size_t len);

/* Walks the whole records at the start of buf (len octets), calling
 * each(arg, id, json, jsonlen) for each, id NUL-terminated.  Stops at
 * the first octet that does not start a whole, valid record, or when
 * each returns -1.  Returns the octets of whole records walked. */
size_t journal_scan(const void *buf, size_t len,
    int (*each)(void *arg, const char *id, const char *json, size_t jsonlen),
    void *arg);

/* Opens spool sp's journal and recovers what a crash left: every file
 * in .staged/ goes into the queue, and every record in either file
 * whose message is not queued is written into the queue again (durably,
 * with spool_put()); then both files are emptied.  rec says what was
 * done.  NULL with err filled on failure; errno EWOULDBLOCK when another
 * process holds the journal. */
struct journal *journal_open(struct spool *sp, struct journal_recovery *rec,
    char *err, size_t errlen);
/* Closes.  Accepts NULL.  Records not cleared stay for the next
 * journal_open(). */
void journal_free(struct journal *j);

/* Appends one record to the current file, not synced.  0, or -1 with
 * errno (EFBIG past JOURNAL_FILE_MAX); a failed append leaves the file
 * as it was. */
int journal_append(struct journal *j, const char *id, const void *json,
    size_t len);
/* fdatasync()s the current file: every record appended before is
 * durable.  On failure the records appended since the last sync are cut
 * off again (their messages must be refused), and -1 with errno. */
int journal_sync(struct journal *j);
/* Octets in the current file: the offset of the next record. */
size_t journal_size(const struct journal *j);
/* Reads back the len octets of JSON of the record at offset off of file
 * which (0 or 1; not the current one, which may be growing), as
 * appended there.  0, or -1 with errno (EIO for a short read). */
int journal_read(struct journal *j, int which, size_t off, void *buf,
    size_t len);
/* Makes the other file current (it must have been cleared) and returns
 * the index (0 or 1) of the old one, for journal_clear(). */
int journal_switch(struct journal *j);
/* Empties file which (0 or 1) durably.  0, or -1 with errno. */
int journal_clear(struct journal *j, int which);

#endif
