/*
 * queue.h - turns one received message into a spool file: the data
 * streams through the trace-header scrubber into a raw buffer (see
 * rawbuf.h) while its UTF-8 validity is tracked; at the final dot the
 * JSON object is written into a temporary spool file, which the commit
 * thread then makes durable (commit.h).
 */
#ifndef POSTOFFICE_QUEUE_H
#define POSTOFFICE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/spool.h"
#include "postoffice/scrub.h"
#include "postoffice/smtp.h"

struct queue_msg;

/* Starts a message for spool sp.  With scrub the trace headers listed in
 * scrub.h are removed.  NULL with err filled on failure. */
struct queue_msg *queue_msg_new(struct spool *sp, bool scrub, char *err,
    size_t errlen);
/* Discards the message.  Accepts NULL. */
void queue_msg_free(struct queue_msg *qm);

/* The message's spool id, made when the message was started (so ids are
 * ordered by the start of DATA). */
const char *queue_msg_id(const struct queue_msg *qm);
/* Rewrites the identifiers that name the backend (see scrub_set_ids()).
 * Call before the first write; does nothing when the message is not
 * scrubbed.  0, or -1 when a name cannot be used (then identifiers are
 * left alone). */
int queue_msg_rewrite_ids(struct queue_msg *qm,
    const struct scrub_names *names);

/* Appends message data (already dot-unstuffed).  0, or -1 with errno. */
int queue_msg_write(struct queue_msg *qm, const void *buf, size_t len);

/* Writes the spool object for the message with envelope env from client
 * into a new temporary spool file, not yet synced, and returns it; the
 * message id (queue_msg_id()) is put in id and the stored data size in
 * *size.  body_max caps the "body" field (mime.h).  The file may not
 * grow over max_file octets (its JSON can be some twelve times the
 * message).  NULL with err filled on failure, errno EMSGSIZE when the
 * file would have been over max_file; nothing is left behind. */
struct spool_file *queue_msg_finish(struct queue_msg *qm,
    const struct smtp_envelope *env, const char *client, size_t body_max,
    size_t max_file, char id[SPOOL_ID_LEN + 1], size_t *size, char *err,
    size_t errlen);
/* The same, keeping a copy of the file's contents in *copy (which
 * starts empty) while they fit in copy_max octets; past that, or when
 * memory runs out, *copy is freed and left empty ({ NULL, 0, 0 }).  The
 * file is written the same either way. */
struct strbuf;
struct spool_file *queue_msg_finish_copy(struct queue_msg *qm,
    const struct smtp_envelope *env, const char *client, size_t body_max,
    size_t max_file, char id[SPOOL_ID_LEN + 1], size_t *size,
    struct strbuf *copy, size_t copy_max, char *err, size_t errlen);

#endif
