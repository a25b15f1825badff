/*
 * sendmail.h - delivery through the local sendmail program, executed
 * directly (never through a shell) as
 *
 *     sendmail -i -f SENDER -- RCPT...
 *
 * with the raw message on its standard input, byte for byte.  The null
 * sender is passed as "-f <>", which Postfix, Sendmail and Exim all read
 * as the empty reverse-path.
 */
#ifndef POSTMAN_SENDMAIL_H
#define POSTMAN_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "postman/delivery.h"

#define SENDMAIL_PARALLEL_MAX 64

struct sendmail_opts {
	const char *path;	/* default /usr/sbin/sendmail */
	double timeout;		/* seconds for one message, then SIGKILL */
	long parallel;		/* sendmails at once, 1..SENDMAIL_PARALLEL_MAX */
};

/* The argv for one message, NULL-terminated, in a malloc'd array whose
 * strings point into path, from and rcpts (free the array alone).  Every
 * address is checked again with addr_mail_problem() so that nothing that
 * could be read as an option ever reaches the command line; NULL with the
 * reason in err when one fails, or when n is 0. */
char **sendmail_argv(const char *path, const char *from, char *const *rcpts,
    size_t n, char *err, size_t errlen);

/* What happened to sendmail, as found by the delivery: */
struct sendmail_exit {
	int wstatus;		/* from waitpid() when !timed_out */
	bool timed_out;		/* killed by us after the timeout */
	bool input_cut;		/* it stopped reading before the end */
	double timeout;		/* the timeout, for the reason text */
	const char *output;	/* what it wrote on stdout/stderr */
	size_t output_len;
};

/* Maps an exit onto an outcome and writes the reason:
 *   exit 0 having read everything          -> sent
 *   EX_TEMPFAIL and the other "soft" sysexits (EX_OSERR, EX_IOERR,
 *   EX_CANTCREAT, EX_OSFILE, EX_SOFTWARE, EX_PROTOCOL, EX_CONFIG, as in
 *   Postfix's pipe(8)), death by a signal, the timeout, or exit 0 without
 *   having read the whole message          -> deferred
 *   any other status                       -> bounced, with the output. */
enum outcome sendmail_outcome(const struct sendmail_exit *e, char *reason,
    size_t reasonlen);

/* The backend; NULL with err filled when path is not executable.  It
 * runs up to o->parallel sendmails at once, in batch order, and reports
 * each message (ctl->done) only once its own sendmail has exited; the
 * next one is started first, so that the report overlaps it. */
struct backend *sendmail_backend_new(const struct sendmail_opts *o,
    char *err, size_t errlen);

#endif
