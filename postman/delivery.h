/*
 * delivery.h - what every delivery backend (sendmail, SMTP, and later
 * maildir) offers PostMan's main loop, and the three outcomes of a
 * delivery attempt.
 *
 * A backend is given a batch of messages whose envelopes have already
 * been checked (see lease.h) and fills in, for each message it attempts,
 * an outcome and a reason, and for each recipient its own outcome when
 * the backend can tell recipients apart (SMTP can, sendmail cannot).
 * Backends never log; main reports and logs what they found.
 */
#ifndef POSTMAN_DELIVERY_H
#define POSTMAN_DELIVERY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/message.h"

/* The three outcomes of a mail delivery (nullmailer, Postfix). */
enum outcome {
	OUTCOME_SENT,		/* delivered: acknowledge */
	OUTCOME_DEFERRED,	/* temporary failure: try again later */
	OUTCOME_BOUNCED		/* permanent failure: never retry */
};

#define DELIVERY_REASON_MAX 512

struct rcpt_result {
	enum outcome outcome;
	char reason[DELIVERY_REASON_MAX];
};

struct delivery {
	const struct message *msg;
	bool attempted;		/* set by the backend */
	enum outcome outcome;
	char reason[DELIVERY_REASON_MAX];
	/* One per recipient when the backend knows each one's fate; NULL
	 * when the message outcome applies to every recipient. */
	struct rcpt_result *rcpt;
};

/* How a batch is driven.  Backends check should_stop between messages,
 * never in the middle of one, and call done (when not NULL) once for each
 * message they attempted, from the calling thread, as soon as its outcome
 * is known, so that it can be acknowledged at once. */
struct delivery_ctl {
	volatile sig_atomic_t *flag;	/* raised by a signal handler */
	double deadline;		/* monotonic seconds, 0: none */
	bool halt;			/* raised by done: stop the batch */
	void (*done)(struct delivery *d, struct delivery_ctl *ctl);
	void *arg;			/* for done */
};

struct backend {
	const char *relay;	/* for the log: "sendmail" or "HOST:PORT" */
	/* Attempts d[0..n-1] in order, setting attempted/outcome/reason.
	 * Returns 0, or -1 with err filled when something local failed that
	 * no message is to blame for (then the remaining messages are left
	 * unattempted). */
	int (*deliver)(struct backend *b, struct delivery *d, size_t n,
	    struct delivery_ctl *ctl, char *err, size_t errlen);
	void (*free)(struct backend *b);
	void *impl;
};

/* The log word of an outcome: "sent", "deferred", "bounced". */
const char *outcome_name(enum outcome o);

/* Copies text into a reason buffer: control characters become spaces,
 * runs of whitespace collapse into one, leading and trailing whitespace
 * goes, and the result is cut (with "...") to fit outlen. */
void reason_clean(char *out, size_t outlen, const char *text, size_t len);

/* Seconds on the monotonic clock. */
double monotonic_now(void);

/* True when the flag or halt is raised or the deadline has passed. */
bool delivery_should_stop(const struct delivery_ctl *ctl);

/* Calls ctl->done for d when there is one. */
void delivery_done(struct delivery *d, struct delivery_ctl *ctl);

/* Frees a backend; accepts NULL. */
void backend_free(struct backend *b);

#endif
