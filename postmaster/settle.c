/*
 * settle.c - the transitions of a handed-out message and their log lines.
 */
#include "postmaster/settle.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/log.h"
#include "postmaster/reaper.h"

/* Held descriptors take at most this share of RLIMIT_NOFILE (1/N); the
 * rest is for connections and the spool's own. */
#define HELD_SHARE 4
#define HELD_MIN 8
#define HELD_MAX 8192

struct settle {
	struct queue *q;
	struct reaper *reaper;
	size_t held_max;
	size_t held;		/* by GET / responses in flight */
	struct settle_counts n;
};

static const char *const status_names[] = {
	[SETTLE_SERVED] = "served",
	[SETTLE_LEASED] = "leased",
	[SETTLE_RELEASED] = "released",
	[SETTLE_SENT] = "sent",
	[SETTLE_DEFERRED] = "deferred",
	[SETTLE_BOUNCED] = "bounced",
	[SETTLE_REQUEUED] = "requeued",
	[SETTLE_QUARANTINED] = "quarantined",
};

/* Appends to buf at *at, cut to fit. */
static void
put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n > 0)
		*at = *at + (size_t)n < len ? *at + (size_t)n : len - 1;
}

char *
settle_describe(char *buf, size_t len, const struct settle_event *ev)
{
	enum settle_status s = ev->status;
	size_t at = 0, i;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	put(buf, len, &at, "status=%s", status_names[s]);
	if ((s == SETTLE_LEASED || s == SETTLE_SENT || s == SETTLE_RELEASED) &&
	    ev->lease != NULL && ev->lease[0] != '\0')
		put(buf, len, &at, ", lease=%s", ev->lease);
	if (s == SETTLE_LEASED)
		put(buf, len, &at, ", expires=%lld", (long long)ev->expires);
	if (s == SETTLE_DEFERRED || s == SETTLE_BOUNCED)
		put(buf, len, &at, ", attempts=%ld", ev->attempts);
	if (s == SETTLE_DEFERRED)
		put(buf, len, &at, ", retry=%ld", ev->retry);
	if (s == SETTLE_BOUNCED)
		put(buf, len, &at, ", permanent=%s", ev->permanent ? "yes" : "no");
	if (ev->client != NULL)
		put(buf, len, &at, ", client=%s", ev->client);
	if (ev->reason != NULL) {
		put(buf, len, &at, ", reason=");
		/* One event per line: what a client reports cannot start
		 * another. */
		for (i = 0; ev->reason[i] != '\0' && at + 1 < len &&
		    i < SETTLE_REASON_MAX; i++) {
			unsigned char c = (unsigned char)ev->reason[i];

			buf[at++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
		buf[at] = '\0';
	}
	return buf;
}

enum fail_outcome
settle_outcome(bool permanent, long attempts, unsigned long max_attempts)
{
	if (permanent || attempts >= (long)max_attempts)
		return FAIL_BOUNCED;
	return FAIL_DEFERRED;
}

void
settle_note(void *arg, const char *id, const char *what)
{
	(void)arg;
	log_info("%s: %s", id, what);
}

static void
log_event(const char *id, const struct settle_event *ev)
{
	char what[512];

	log_info("%s: %s", id, settle_describe(what, sizeof(what), ev));
}

static void
reap_failed(void *arg, const char *id, const char *lease, int err)
{
	(void)arg;
	if (id[0] == '\0')
		log_warn("syncing the spool after deleting served messages "
		    "failed: %s (a power loss may bring them back)",
		    strerror(err));
	else if (lease[0] == '\0')
		log_warn("%s: deleting the served message failed: %s", id,
		    strerror(err));
	else
		log_warn("%s: deleting the served message failed: %s (lease "
		    "%s; if it expired the message went back to the queue)",
		    id, strerror(err), lease);
}

/* A share of the descriptors this process may open. */
static size_t
held_budget(void)
{
	struct rlimit rl;
	size_t n = HELD_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / HELD_SHARE < HELD_MAX)
		n = (size_t)rl.rlim_cur / HELD_SHARE;
	return n < HELD_MIN ? HELD_MIN : n;
}

struct settle *
settle_new(struct queue *q, char *err, size_t errlen)
{
	struct settle *st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->q = q;
	st->held_max = held_budget();
	/* Half the budget may wait for deletion, the rest goes out. */
	if ((st->reaper = reaper_new(queue_spool(q), st->held_max / 2,
	    reap_failed, st, err, errlen)) == NULL) {
		free(st);
		return NULL;
	}
	return st;
}

void
settle_free(struct settle *st)
{
	if (st == NULL)
		return;
	reaper_free(st->reaper);
	free(st);
}

size_t
settle_held_max(const struct settle *st)
{
	return st->held_max;
}

size_t
settle_held(const struct settle *st)
{
	return st->held + reaper_pending(st->reaper);
}

void
settle_hold(struct settle *st, const struct batch *b)
{
	if (b->fds != NULL)
		st->held += b->n;
}

void
settle_batch(struct settle *st, struct batch *b, bool complete,
    const char *client)
{
	struct settle_event ev = { .lease = b->lease, .expires = b->expires,
	    .client = client };
	bool held = b->fds != NULL;
	size_t i;

	if (complete)
		ev.status = held ? SETTLE_SERVED : SETTLE_LEASED;
	else {
		ev.status = SETTLE_RELEASED;
		ev.reason = "response not completed";
	}
	for (i = 0; i < b->n; i++) {
		const char *id = b->ids[i];

		if (complete)
			st->n.served++;
		if (!complete && !held &&
		    queue_release(st->q, b->lease, id) == -1) {
			log_err("%s: release failed: %s (it returns when "
			    "lease %s expires)", id, strerror(errno), b->lease);
			continue;
		}
		log_event(id, &ev);
	}
	if (!held)
		return;
	st->held -= b->n < st->held ? b->n : st->held;
	if (complete)
		reaper_add(st->reaper, (const char (*)[SPOOL_ID_LEN + 1])b->ids,
		    b->n, b->lease, b->fds);
	else
		queue_unhold(st->q, b);
}

int
settle_ack(struct settle *st, const char *lease, const char *id,
    const char *client)
{
	struct settle_event ev = { .status = SETTLE_SENT, .lease = lease,
	    .client = client };

	if (queue_ack(st->q, lease, id) == -1) {
		if (errno != ENOENT)
			log_err("%s: ack failed: %s", id, strerror(errno));
		return -1;
	}
	st->n.acked++;
	log_event(id, &ev);
	return 0;
}

int
settle_fail(struct settle *st, const char *lease, const char *id,
    bool permanent, const char *reason, const char *client,
    struct fail_result *res, char *err, size_t errlen)
{
	struct settle_event ev = { .client = client, .reason = reason,
	    .permanent = permanent };
	time_t now = time(NULL);

	if (queue_fail(st->q, lease, id, permanent, reason, now, res, err,
	    errlen) == -1) {
		if (err[0] != '\0')
			log_err("%s: recording the failure failed: %s", id, err);
		return -1;
	}
	st->n.failed++;
	if (res->outcome == FAIL_QUARANTINED)
		return 0;	/* the quarantine was noted as it happened */
	ev.attempts = res->attempts;
	if (res->outcome == FAIL_DEFERRED) {
		ev.status = SETTLE_DEFERRED;
		ev.retry = (long)(res->retry_at - now);
	} else
		ev.status = SETTLE_BOUNCED;
	log_event(id, &ev);
	return 0;
}

struct settle_counts
settle_counts(const struct settle *st)
{
	return st->n;
}
