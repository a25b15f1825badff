/*
 * queue.c - claiming, settling and indexing spooled messages.
 */
#include "postmaster/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/message.h"
#include "postmaster/idindex.h"
#include "postmaster/settle.h"

struct queue {
	struct spool *sp;
	struct queue_config cfg;
	struct idindex *ix;
	int ifd;		/* inotify */
	queue_note_fn note;
	void *note_arg;
	long added;		/* ids indexed since the caller last asked */
};

/* Renames and deletions by anyone (PostOffice, other PostMasters, an
 * operator) keep the index current.  IN_CREATE is left out on purpose: a
 * file created in place is not complete before IN_CLOSE_WRITE. */
#define QUEUE_WATCH (IN_MOVED_TO | IN_CLOSE_WRITE | IN_MOVED_FROM | \
	IN_DELETE | IN_ONLYDIR)

static void
note(struct queue *q, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(struct queue *q, const char *id, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (q->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	q->note(q->note_arg, id, buf);
}

static void
index_add(struct queue *q, const char *id)
{
	if (idindex_add(q->ix, id))
		q->added++;
}

/* Notes a transition in the words of settle_describe(). */
static void
note_event(struct queue *q, const char *id, const struct settle_event *ev)
{
	char what[512];

	note(q, id, "%s", settle_describe(what, sizeof(what), ev));
}

static void
expired(const char *id, void *arg)
{
	struct queue *q = arg;
	struct settle_event ev = { .status = SETTLE_REQUEUED };

	index_add(q, id);
	note_event(q, id, &ev);
}

struct queue *
queue_open(const char *dir, const struct queue_config *cfg,
    queue_note_fn note_fn, void *note_arg, char *err, size_t errlen)
{
	struct queue *q;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->ifd = -1;
	q->cfg = *cfg;
	q->note = note_fn;
	q->note_arg = note_arg;
	if ((q->sp = spool_open(dir, err, errlen)) == NULL)
		goto fail;
	if ((q->ix = idindex_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Watch before the first listing so nothing slips in between. */
	q->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (q->ifd == -1 || inotify_add_watch(q->ifd, dir, QUEUE_WATCH) == -1) {
		snprintf(err, errlen, "inotify on %s: %s", dir, strerror(errno));
		goto fail;
	}
	/* Leases left by an earlier run that are due go back first. */
	if (queue_expire(q, time(NULL)) == -1) {
		snprintf(err, errlen, "spool %s: returning expired leases: %s",
		    dir, strerror(errno));
		goto fail;
	}
	if (queue_rescan(q, err, errlen) == -1)
		goto fail;
	return q;
fail:
	queue_free(q);
	return NULL;
}

void
queue_free(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->ifd != -1)
		close(q->ifd);
	idindex_free(q->ix);
	spool_free(q->sp);
	free(q);
}

struct spool *
queue_spool(struct queue *q)
{
	return q->sp;
}

int
queue_fd(const struct queue *q)
{
	return q->ifd;
}

size_t
queue_length(const struct queue *q)
{
	return idindex_count(q->ix);
}

long
queue_rescan(struct queue *q, char *err, size_t errlen)
{
	char **names;
	long n, i;

	if ((n = spool_list(q->sp, SPOOL_QUEUE, &names)) < 0) {
		snprintf(err, errlen, "listing %s: %s", spool_path(q->sp),
		    strerror(errno));
		return -1;
	}
	idindex_clear(q->ix);
	for (i = 0; i < n; i++)
		index_add(q, names[i]);
	spool_list_free(names, n);
	return n;
}

long
queue_events(struct queue *q, char *err, size_t errlen)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	bool overflow = false;
	ssize_t n;
	char *p;

	q->added = 0;
	for (;;) {
		n = read(q->ifd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			snprintf(err, errlen, "inotify: %s",
			    n == 0 ? "end of file" : strerror(errno));
			return -1;
		}
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				overflow = true;
			if (ev->len == 0 || !spool_id_valid(ev->name))
				continue;
			if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE))
				index_add(q, ev->name);
			else if (ev->mask & (IN_MOVED_FROM | IN_DELETE))
				idindex_remove(q->ix, ev->name);
		}
	}
	/* Events were lost: only a fresh listing tells what is queued. */
	if (overflow && queue_rescan(q, err, errlen) == -1)
		return -1;
	return q->added;
}

long
queue_expire(struct queue *q, time_t now)
{
	return spool_expire(q->sp, now, expired, q);
}

/* --- batches --- */

static int
batch_append(struct batch *b, const void *p, size_t len)
{
	return strbuf_append(&b->json, p, len);
}

static int
batch_puts(struct batch *b, const char *s)
{
	return batch_append(b, s, strlen(s));
}

void
batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; b->fds != NULL && i < b->n; i++)
		if (b->fds[i] != -1)
			close(b->fds[i]);
	free(b->fds);
	free(b->ids);
	free(b->json.p);
	free(b);
}

char *
batch_take_json(struct batch *b, size_t *len)
{
	char *p = b->json.p;

	*len = b->json.len;
	memset(&b->json, 0, sizeof(b->json));
	return p;
}

/* A file whose "id" is not its name is not served, nor written back. */
static const char ID_NOT_NAME[] = "\"id\" differs from the file name";

static void
lease_file(char *name, const char *id, const char *lease)
{
	snprintf(name, SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2, "%s.%s", id, lease);
}

/* Moves a message that cannot be served to .quarantine/: from the queue
 * (lease NULL: it is held, or cannot be opened) or from .leased/ID.LEASE. */
static void
quarantine(struct queue *q, const char *id, const char *lease,
    const char *reason)
{
	char name[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];
	struct settle_event ev = { .status = SETTLE_QUARANTINED,
	    .reason = reason };
	int rc;

	if (lease == NULL)
		rc = spool_move(q->sp, SPOOL_QUEUE, id, SPOOL_QUARANTINE, id);
	else {
		lease_file(name, id, lease);
		rc = spool_move(q->sp, SPOOL_LEASED, name, SPOOL_QUARANTINE, id);
	}
	if (rc == -1)
		note(q, id, "status=error, reason=quarantine failed: %s "
		    "(it stays in %s)", strerror(errno), lease == NULL ?
		    "the queue" : spool_area_name(SPOOL_LEASED));
	else
		note_event(q, id, &ev);
}

/*
 * Appends the JSON object of the message open as fd (held in place, or
 * just leased as id), after checking it is a valid message.  Returns 1
 * when appended, 0 when the file was quarantined, -1 on a spool error
 * (err filled; the caller lets go of the message).
 */
static int
take_one(struct queue *q, struct batch *b, const char *id, int fd,
    char *err, size_t errlen)
{
	char oid[SPOOL_ID_LEN + 1], head[SPOOL_ID_LEN + 16], why[200];
	size_t mark = b->json.len, at, len, skip, hl;
	char *obj, *brace;

	if (b->n > 0 && batch_puts(b, ",") == -1)
		goto oom;
	at = b->json.len;
	if (spool_read_fd_append(fd, LIMIT_SPOOL_FILE, &b->json) == -1) {
		b->json.len = mark;
		if (errno == EFBIG || errno == EINVAL) {
			quarantine(q, id, b->fds ? NULL : b->lease, errno == EFBIG ?
			    "file too large" : "not a regular file");
			return 0;
		}
		snprintf(err, errlen, "reading %s: %s", id, strerror(errno));
		return -1;
	}
	obj = b->json.p + at;
	len = b->json.len - at;
	/* Served as stored: the check proves the bytes are a message and a
	 * JSON value of their own, without decoding them. */
	if (message_check(obj, len, oid, why, sizeof(why)) == -1) {
		b->json.len = mark;
		quarantine(q, id, b->fds ? NULL : b->lease, why);
		return 0;
	}
	if (oid[0] != '\0' && strcmp(oid, id) != 0) {
		b->json.len = mark;
		quarantine(q, id, b->fds ? NULL : b->lease, ID_NOT_NAME);
		return 0;
	}
	/* A file without an id (written by the original PostOffice) is
	 * served with its file name as id, so that it can be acknowledged:
	 * everything up to the opening brace gives way to {"id":"ID", (the
	 * object has at least mail_from, so a comma follows). */
	if (oid[0] == '\0') {
		brace = memchr(obj, '{', len);
		skip = brace + 1 - obj;
		hl = (size_t)snprintf(head, sizeof(head), "{\"id\":\"%s\",", id);
		if (hl > skip && strbuf_reserve(&b->json, hl - skip) == -1)
			goto oom;
		obj = b->json.p + at;
		memmove(obj + hl, obj + skip, len - skip + 1);
		memcpy(obj, head, hl);
		b->json.len = at + hl + len - skip;
	}
	return 1;
oom:
	b->json.len = mark;
	if (b->json.p != NULL)
		b->json.p[mark] = '\0';
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Lets go of the i-th message of a batch without serving it. */
static void
let_go(struct queue *q, struct batch *b, size_t i)
{
	const char *id = b->ids[i];

	if (b->fds != NULL) {
		close(b->fds[i]);
		b->fds[i] = -1;
		index_add(q, id);
	} else if (queue_release(q, b->lease, id) == -1)
		note(q, id, "status=error, reason=release failed: %s",
		    strerror(errno));
}

/* Takes the oldest indexed id that can be had, held in place.  Returns
 * its descriptor, -2 when the index is empty or descriptors ran out with
 * messages in the batch already (the id is indexed again), -1 on a spool
 * error (err filled, id indexed again).  Ids that another process holds
 * are set aside in busy. */
static int
take_next(struct queue *q, struct batch *b, char id[SPOOL_ID_LEN + 1],
    struct strbuf *busy, char *err, size_t errlen)
{
	const char *first;
	int fd, saved;

	while ((first = idindex_first(q->ix)) != NULL) {
		memcpy(id, first, SPOOL_ID_LEN + 1);
		idindex_remove(q->ix, id);
		if ((fd = spool_hold(q->sp, id)) == -1) {
			if (errno == ENOENT)
				continue;	/* delivered or leased by another */
			if (errno == EBUSY) {
				if (strbuf_append(busy, id, SPOOL_ID_LEN) == -1)
					index_add(q, id);	/* tried again later */
				continue;
			}
			if (errno == ELOOP || errno == EINVAL) {
				quarantine(q, id, NULL, errno == ELOOP ?
				    "a symbolic link" : "not a regular file");
				continue;
			}
			/* A file this process may not read fails alone: it
			 * would otherwise head every batch for ever.  (A spool
			 * whose files all have the wrong owner is quarantined
			 * whole, loudly, and nothing is lost: `postmaster queue
			 * requeue` puts the files back once it is mended.) */
			if (errno == EACCES || errno == EPERM) {
				quarantine(q, id, NULL, errno == EACCES ?
				    "cannot be read: Permission denied" :
				    "cannot be read: Operation not permitted");
				continue;
			}
			saved = errno;
			index_add(q, id);
			/* Out of descriptors: a batch that has messages is
			 * served as it is, and the rest waits. */
			if ((saved == EMFILE || saved == ENFILE) && b->n > 0)
				return -2;
			snprintf(err, errlen, "opening %s: %s", id,
			    strerror(saved));
			return -1;
		}
		return fd;
	}
	return -2;
}

/* Renames held id into .leased/ under the batch's lease.  0; -1 when
 * someone else took it (ENOENT: forget it) or on a spool error (err
 * filled, id indexed again).  fd is closed on failure. */
static int
lease_held(struct queue *q, struct batch *b, const char *id, int fd,
    char *err, size_t errlen)
{
	if (spool_lease(q->sp, id, b->lease) == 0)
		return 0;
	close(fd);
	if (errno != ENOENT) {
		snprintf(err, errlen, "leasing %s: %s", id, strerror(errno));
		index_add(q, id);
	}
	return -1;
}

/* Bytes the batch's JSON would have with a message of size bytes added,
 * before any "id" head is given to it, the closing "]" and suffix
 * counted. */
static size_t
size_with(const struct batch *b, size_t size, size_t tail)
{
	return b->json.len + (b->n > 0) + size + tail;
}

/*
 * Dead-letters leased id (its file of size bytes), that alone would take
 * a response past the client's max_bytes: it would never be served, and
 * must not stay first in line.  A file that is not even a message is
 * quarantined instead.
 */
static void
too_large(struct queue *q, struct batch *b, const char *id, size_t size,
    size_t max_bytes)
{
	struct settle_event ev = { .status = SETTLE_BOUNCED,
	    .permanent = true };
	struct fail_result res;
	char reason[512], err[256];

	snprintf(reason, sizeof(reason), "message of %zu bytes is larger "
	    "than the %zu the client takes in one response (max_bytes)",
	    size, max_bytes);
	if (queue_fail(q, b->lease, id, true, reason, time(NULL), &res, err,
	    sizeof(err)) == 0) {
		if (res.outcome == FAIL_QUARANTINED)
			return;		/* not a message: noted as such */
		ev.attempts = res.attempts;
		ev.reason = reason;
		note_event(q, id, &ev);
		return;
	}
	if (err[0] == '\0')
		return;		/* taken from under us */
	/* Not a message, or the spool failed: either way it must not stay
	 * first in line. */
	snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
	    "; dead-lettering failed: %s", err);
	quarantine(q, id, b->lease, reason);
}

/*
 * Whether the message held as fd may join the batch under max_bytes:
 * 1 yes (perhaps, when the exact size is known only once read), 0 it
 * stays queued for the next claim, -1 it was dead-lettered (fd closed).
 */
static int
room_for(struct queue *q, struct batch *b, const char *id, int fd,
    size_t max_bytes, size_t tail, size_t *size, char *err, size_t errlen)
{
	struct stat st;

	*size = 0;
	if (max_bytes == 0 || b->fds != NULL || fstat(fd, &st) == -1 ||
	    !S_ISREG(st.st_mode))
		return 1;	/* a failed fstat is found out by the read */
	*size = (size_t)st.st_size;
	if (size_with(b, *size, tail) <= max_bytes)
		return 1;
	if (b->n > 0)
		return 0;
	if (lease_held(q, b, id, fd, err, errlen) == 0) {
		close(fd);
		too_large(q, b, id, *size, max_bytes);
	}
	return -1;
}

struct batch *
queue_claim(struct queue *q, size_t max, size_t max_bytes, const char *lease,
    const char *prefix, const char *suffix, char *err, size_t errlen)
{
	char id[SPOOL_ID_LEN + 1];
	struct strbuf busy = { NULL, 0, 0 };
	struct batch *b;
	size_t i, size, tail = 1 + strlen(suffix), mark;
	int fd, rc;

	err[0] = '\0';
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (b->ids = calloc(max ? max : 1, sizeof(*b->ids))) == NULL)
		goto oom;
	if (lease == NULL) {
		if ((b->fds = malloc((max ? max : 1) * sizeof(*b->fds))) == NULL)
			goto oom;
	} else {
		memcpy(b->lease, lease, sizeof(b->lease));
		b->expires = spool_lease_expiry(lease);
	}
	if (batch_puts(b, prefix) == -1 || batch_puts(b, "[") == -1)
		goto oom;
	while (b->n < max && b->json.len < q->cfg.max_batch_bytes &&
	    (fd = take_next(q, b, id, &busy, err, errlen)) >= 0) {
		rc = room_for(q, b, id, fd, max_bytes, tail, &size, err,
		    errlen);
		if (rc == 0) {
			close(fd);
			index_add(q, id);	/* first in line next time */
			break;
		}
		if (rc == -1) {
			if (err[0] != '\0')
				break;
			continue;
		}
		if (b->fds == NULL &&
		    lease_held(q, b, id, fd, err, errlen) == -1) {
			if (err[0] != '\0')
				break;
			continue;
		}
		memcpy(b->ids[b->n], id, sizeof(id));
		if (b->fds != NULL)
			b->fds[b->n] = fd;
		mark = b->json.len;
		rc = take_one(q, b, id, fd, err, errlen);
		if (b->fds == NULL || rc != 1)
			close(fd);
		if (rc == 1 && b->fds == NULL && max_bytes > 0 &&
		    b->json.len + tail > max_bytes) {
			/* Only the "id" head given to a file without one
			 * took it past: the same choice as above. */
			b->json.len = mark;
			b->json.p[mark] = '\0';
			if (b->n > 0) {
				let_go(q, b, b->n);
				break;
			}
			too_large(q, b, id, size, max_bytes);
			continue;
		}
		if (rc == 1) {
			b->n++;
			continue;
		}
		if (rc == -1) {
			if (b->fds != NULL)
				index_add(q, id);	/* closed above */
			else
				let_go(q, b, b->n);
			break;
		}
	}
	for (i = 0; i + SPOOL_ID_LEN <= busy.len; i += SPOOL_ID_LEN) {
		memcpy(id, busy.p + i, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		index_add(q, id);
	}
	free(busy.p);
	if (batch_puts(b, "]") == -1 || batch_puts(b, suffix) == -1)
		goto oom;
	return b;
oom:
	snprintf(err, errlen, "out of memory");
	if (b != NULL)
		while (b->n > 0)
			let_go(q, b, --b->n);
	batch_free(b);
	return NULL;
}

void
queue_unhold(struct queue *q, struct batch *b)
{
	size_t i;

	for (i = 0; b->fds != NULL && i < b->n; i++)
		if (b->fds[i] != -1)
			let_go(q, b, i);
}

int
queue_ack(struct queue *q, const char *lease, const char *id)
{
	if (spool_ack(q->sp, id, lease) == -1)
		return -1;
	return spool_sync(q->sp, SPOOL_LEASED);
}

int
queue_release(struct queue *q, const char *lease, const char *id)
{
	if (spool_release(q->sp, id, lease) == -1)
		return -1;
	index_add(q, id);
	return 0;
}

/* --- failures --- */

unsigned long
queue_backoff(long attempts, unsigned long retry_min, unsigned long retry_max)
{
	unsigned long d = retry_min;
	long i;

	for (i = 1; i < attempts && d < retry_max; i++)
		d = d > ULONG_MAX / 2 ? ULONG_MAX : d * 2;
	return d < retry_max ? d : retry_max;
}

int
queue_fail(struct queue *q, const char *lease, const char *id,
    bool permanent, const char *reason, time_t now, struct fail_result *res,
    char *err, size_t errlen)
{
	char held[SPOOL_LEASE_LEN + 1], later[SPOOL_LEASE_LEN + 1], why[200];
	char from[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];
	char name[SPOOL_ID_LEN + SPOOL_LEASE_LEN + 2];
	struct message m;
	char *data = NULL, *json = NULL, *old;
	size_t len;
	int rc = -1, saved;

	memset(&m, 0, sizeof(m));
	err[0] = '\0';
	/* Take the file out of the caller's lease first: a second report
	 * for the same message (here or in another PostMaster) now gets
	 * ENOENT, and a crash from here on returns it at the new expiry. */
	spool_lease_new(held, now + (time_t)q->cfg.lease_time);
	lease_file(from, id, lease);
	lease_file(name, id, held);
	if (spool_move(q->sp, SPOOL_LEASED, from, SPOOL_LEASED, name) == -1) {
		if (errno != ENOENT)
			snprintf(err, errlen, "renaming %s: %s", from,
			    strerror(errno));
		return -1;
	}
	if (spool_read(q->sp, SPOOL_LEASED, name, LIMIT_SPOOL_FILE, &data,
	    &len) == -1) {
		snprintf(err, errlen, "reading %s: %s", name, strerror(errno));
		goto fail;
	}
	why[0] = '\0';
	if (message_decode(data, len, &m, why, sizeof(why)) == 0 &&
	    m.id[0] != '\0' && strcmp(m.id, id) != 0) {
		/* Another message's id: never served, as take_one() says. */
		snprintf(why, sizeof(why), "%s", ID_NOT_NAME);
		message_clear(&m);
		memset(&m, 0, sizeof(m));
	}
	if (why[0] != '\0') {
		/* It cannot be written back with the failure recorded, nor
		 * served again: it fails alone, into quarantine. */
		char both[1024];

		snprintf(both, sizeof(both), "%s (reported: %s)", why, reason);
		quarantine(q, id, held, both);
		res->outcome = FAIL_QUARANTINED;
		res->attempts = m.attempts;
		res->retry_at = 0;
		rc = 0;
		goto out;
	}
	if (m.id[0] == '\0')
		memcpy(m.id, id, sizeof(m.id));
	m.attempts++;
	old = m.last_error;
	if ((m.last_error = strdup(reason)) == NULL) {
		m.last_error = old;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	free(old);
	if ((json = message_encode(&m, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	res->attempts = m.attempts;
	if (settle_outcome(permanent, m.attempts, q->cfg.max_attempts) ==
	    FAIL_BOUNCED) {
		res->outcome = FAIL_BOUNCED;
		res->retry_at = 0;
		if (spool_put(q->sp, SPOOL_DEAD, id, json, len, err, errlen) == -1)
			goto fail;
	} else {
		res->outcome = FAIL_DEFERRED;
		res->retry_at = now + (time_t)queue_backoff(m.attempts,
		    q->cfg.retry_min, q->cfg.retry_max);
		spool_lease_new(later, res->retry_at);
		lease_file(from, id, later);
		if (spool_put(q->sp, SPOOL_DEFERRED, from, json, len, err,
		    errlen) == -1)
			goto fail;
	}
	/* The new copy is durable; a crash before this unlink only means
	 * the old copy returns at its expiry as a duplicate of the same id.
	 * Synced, so that a dead letter is not tried again after a power
	 * loss; a failed sync only risks that duplicate. */
	if (spool_ack(q->sp, id, held) == 0)
		(void)spool_sync(q->sp, SPOOL_LEASED);
	rc = 0;
	goto out;
fail:
	saved = errno;
	lease_file(from, id, lease);
	spool_move(q->sp, SPOOL_LEASED, name, SPOOL_LEASED, from);
	errno = saved == ENOENT ? EIO : saved;
out:
	message_clear(&m);
	free(data);
	free(json);
	return rc;
}

/* --- statistics --- */

static long
area_count(struct queue *q, enum spool_area area)
{
	char **names;
	long n;

	if ((n = spool_list(q->sp, area, &names)) < 0)
		return -1;
	spool_list_free(names, n);
	return n;
}

/* The time an id was made: its first 14 hex digits are microseconds since
 * the epoch (see spool_id_new()). */
static double
id_time(const char *id)
{
	char part[15];

	memcpy(part, id, 14);
	part[14] = '\0';
	return (double)strtoull(part, NULL, 16) / 1e6;
}

int
queue_stats(struct queue *q, double now, struct queue_stats *st)
{
	long v[SPOOL_NAREAS];
	const char *first;
	int a;

	memset(st, 0, sizeof(*st));
	for (a = SPOOL_LEASED; a <= SPOOL_QUARANTINE; a++)
		if ((v[a] = area_count(q, a)) < 0)
			return -1;
	st->queued = idindex_count(q->ix);
	st->leased = v[SPOOL_LEASED];
	st->deferred = v[SPOOL_DEFERRED];
	st->dead = v[SPOOL_DEAD];
	st->quarantined = v[SPOOL_QUARANTINE];
	if ((first = idindex_first(q->ix)) != NULL) {
		st->oldest_age = now - id_time(first);
		if (st->oldest_age < 0)
			st->oldest_age = 0;
	}
	return 0;
}
