/*
 * sendmail.c - the sendmail delivery backend (see sendmail.h).
 *
 * One child per message, started with posix_spawn(3) (a vfork underneath:
 * the run is bound by process creation, so the cheapest start matters).
 * The parent feeds the message through a pipe while it collects the
 * child's output, with poll(2) and one deadline, so that a sendmail that
 * stops reading, exits early or hangs can neither block nor kill us.
 */
#include "postman/sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/addr.h"

#define OUTPUT_MAX 4096		/* what we keep of sendmail's output */
#define PIPE_DEFAULT 65536	/* a pipe's capacity on Linux */
#define PIPE_WANT_MAX (1 << 20)	/* /proc/sys/fs/pipe-max-size's default */

extern char **environ;

struct sendmail {
	struct backend base;
	char *path;
	double timeout;
	size_t parallel;	/* children at once */
};

char **
sendmail_argv(const char *path, const char *from, char *const *rcpts,
    size_t n, char *err, size_t errlen)
{
	const char *problem;
	char **argv;
	size_t i, k = 0;

	if (n == 0) {
		snprintf(err, errlen, "no recipients");
		return NULL;
	}
	if ((problem = addr_mail_problem(from, true)) != NULL) {
		snprintf(err, errlen, "sender: %s", problem);
		return NULL;
	}
	for (i = 0; i < n; i++)
		if ((problem = addr_mail_problem(rcpts[i], false)) != NULL) {
			snprintf(err, errlen, "recipient %zu: %s", i + 1, problem);
			return NULL;
		}
	if ((argv = calloc(n + 6, sizeof(char *))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	argv[k++] = (char *)path;
	argv[k++] = "-i";	/* a lone "." line is not the end */
	argv[k++] = "-f";
	argv[k++] = from[0] == '\0' ? "<>" : (char *)from;
	argv[k++] = "--";	/* whatever follows is a recipient */
	for (i = 0; i < n; i++)
		argv[k++] = rcpts[i];
	argv[k] = NULL;
	return argv;
}

/* Exit statuses Postfix's pipe(8) treats as temporary (sys_exits.c):
 * the trouble is sendmail's or the host's, not the message's. */
static bool
soft_exit(int status)
{
	switch (status) {
	case EX_TEMPFAIL:
	case EX_OSERR:
	case EX_IOERR:
	case EX_CANTCREAT:
	case EX_OSFILE:
	case EX_SOFTWARE:
	case EX_PROTOCOL:
	case EX_CONFIG:
		return true;
	}
	return false;
}

enum outcome
sendmail_outcome(const struct sendmail_exit *e, char *reason,
    size_t reasonlen)
{
	char out[DELIVERY_REASON_MAX];
	int status;

	reason_clean(out, sizeof(out), e->output ? e->output : "",
	    e->output ? e->output_len : 0);
	if (e->timed_out) {
		snprintf(reason, reasonlen, "sendmail timed out after %gs", e->timeout);
		return OUTCOME_DEFERRED;
	}
	if (WIFSIGNALED(e->wstatus)) {
		snprintf(reason, reasonlen, "sendmail killed by signal %d (%s)",
		    WTERMSIG(e->wstatus), strsignal(WTERMSIG(e->wstatus)));
		return OUTCOME_DEFERRED;
	}
	if (!WIFEXITED(e->wstatus)) {
		snprintf(reason, reasonlen, "sendmail ended with wait status %#x",
		    (unsigned)e->wstatus);
		return OUTCOME_DEFERRED;
	}
	status = WEXITSTATUS(e->wstatus);
	if (status == 0 && !e->input_cut) {
		snprintf(reason, reasonlen, "delivered via sendmail");
		return OUTCOME_SENT;
	}
	if (status == 0) {
		snprintf(reason, reasonlen,
		    "sendmail exited 0 before reading the whole message");
		return OUTCOME_DEFERRED;
	}
	snprintf(reason, reasonlen, "sendmail exit %d%s%s", status,
	    out[0] ? ": " : "", out);
	return soft_exit(status) ? OUTCOME_DEFERRED : OUTCOME_BOUNCED;
}

/* A pidfd becomes readable when the child exits; without one (old
 * kernels) the loop below polls waitpid() every few milliseconds. */
static int
child_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd != -1)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
#else
	(void)pid;
	return -1;
#endif
}

static int
spawn(const char *path, char **argv, pid_t *pid, int *in_fd, int *in_rd,
    int *out_fd, char *err, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, rc = -1, e;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail_pipes;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	/* stdin from our pipe; stdout and stderr both to the other one, so
	 * that whatever sendmail says about a failure becomes the reason. */
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* We ignore SIGPIPE and block nothing; the child must start clean.
	 * Its own process group keeps a terminal's ^C away from it (we
	 * finish the current message on SIGINT) and lets a timeout kill
	 * whatever it started. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	e = posix_spawn(pid, path, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		snprintf(err, errlen, "cannot execute %s: %s", path, strerror(e));
		goto fail_pipes;
	}
	*in_fd = in[1];
	*in_rd = in[0];
	*out_fd = out[0];
	in[0] = in[1] = out[0] = -1;
	rc = 0;
fail_pipes:
	if (in[0] != -1)
		close(in[0]);
	if (in[1] != -1)
		close(in[1]);
	if (out[0] != -1)
		close(out[0]);
	if (out[1] != -1)
		close(out[1]);
	return rc;
}

/* Reads what is available into buf (up to OUTPUT_MAX kept, the rest
 * drained).  Returns 1 at EOF, 0 otherwise. */
static int
collect(int fd, char *buf, size_t *len)
{
	char junk[4096];
	ssize_t r;

	for (;;) {
		if (*len < OUTPUT_MAX)
			r = read(fd, buf + *len, OUTPUT_MAX - *len);
		else
			r = read(fd, junk, sizeof(junk));
		if (r > 0) {
			if (*len < OUTPUT_MAX)
				*len += r;
			continue;
		}
		if (r == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : 1;
	}
}

/* One sendmail in flight. */
struct child {
	struct delivery *d;
	pid_t pid;		/* 0: the slot is free */
	int in_fd, out_fd, pidfd;
	int in_rd;		/* our copy of its stdin's read end */
	const unsigned char *data;
	size_t len, off;	/* the message, and how much of it went */
	double deadline;	/* monotonic seconds */
	bool fed;		/* the message was handed over */
	bool reaped;
	struct sendmail_exit ex;
	size_t outlen;
	char output[OUTPUT_MAX];
};

/* Writes what the pipe takes of the rest of the message; closes our end
 * once all of it went (the child then reads to its end of file).  We hold
 * the read end too, so a child that stops reading never makes write(2)
 * fail: the message stays unfinished until the child is reaped. */
static void
child_feed(struct child *c)
{
	ssize_t w;

	while (c->in_fd != -1) {
		w = write(c->in_fd, c->data + c->off, c->len - c->off);
		if (w > 0)
			c->off += w;
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return;
		if (w == -1 || c->off == c->len) {
			c->ex.input_cut = c->off < c->len;
			close(c->in_fd);
			c->in_fd = -1;
		}
	}
}

/* Starts sendmail for d, without its message yet (child_go).  Returns 0,
 * 1 when d was settled without a child (a broken invariant: bounced), or
 * -1 with err filled. */
static int
child_start(const struct sendmail *sm, struct child *c, struct delivery *d,
    char *err, size_t errlen)
{
	char **argv;
	int rc;

	memset(c, 0, offsetof(struct child, output));
	c->in_fd = c->in_rd = c->out_fd = c->pidfd = -1;
	argv = sendmail_argv(sm->path, d->msg->mail_from, d->msg->rcpt_tos,
	    d->msg->nrcpt, d->reason, sizeof(d->reason));
	if (argv == NULL) {
		/* Checked before: only a broken invariant gets here. */
		d->attempted = true;
		d->outcome = OUTCOME_BOUNCED;
		return 1;
	}
	rc = spawn(sm->path, argv, &c->pid, &c->in_fd, &c->in_rd, &c->out_fd,
	    err, errlen);
	free(argv);
	if (rc == -1) {
		c->pid = 0;
		return -1;
	}
	c->d = d;
	c->data = d->msg->data;
	c->len = d->msg->data_len;
	c->ex.timeout = sm->timeout;
	c->deadline = monotonic_now() + sm->timeout;	/* again at child_go */
	c->pidfd = child_pidfd(c->pid);
	fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
	/* A pipe as large as the message (up to the system's limit, 1 MiB
	 * by default) takes it in one write too. */
	if (c->len > PIPE_DEFAULT)
		fcntl(c->in_fd, F_SETPIPE_SZ, (int)(c->len < PIPE_WANT_MAX ?
		    c->len : PIPE_WANT_MAX));
	return 0;
}

/* Hands a started child its message (see sendmail_deliver). */
static void
child_go(struct child *c, double timeout)
{
	c->fed = true;
	c->deadline = monotonic_now() + timeout;
	if (c->len == 0) {
		close(c->in_fd);
		c->in_fd = -1;
	} else {
		child_feed(c);
	}
}

/* Ends a child that was started but never given its message: without
 * the end of its input, sendmail has queued nothing. */
static void
child_abort(struct child *c)
{
	int st;

	kill(-c->pid, SIGKILL);
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &st, 0) == -1 && errno == EINTR)
		;
	close(c->in_fd);
	close(c->in_rd);
	if (c->out_fd != -1)
		close(c->out_fd);
	if (c->pidfd != -1)
		close(c->pidfd);
	c->pid = 0;
}

/* Past its deadline: the whole process group goes (sendmail may have
 * started helpers), and the wait cannot last. */
static void
child_kill(struct child *c)
{
	c->ex.timed_out = true;
	kill(-c->pid, SIGKILL);
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &c->ex.wstatus, 0) == -1 && errno == EINTR)
		;
	c->reaped = true;
}

/* Closes what is left of a reaped child and settles its delivery. */
static void
child_finish(struct child *c)
{
	int unread = 0;

	if (c->out_fd != -1) {
		collect(c->out_fd, c->output, &c->outlen);	/* what is left */
		close(c->out_fd);
	}
	if (c->in_fd != -1) {
		c->ex.input_cut = c->off < c->len;
		close(c->in_fd);
	}
	/* What it left unread in the pipe counts as cut too: the whole
	 * message fits in the pipe at once, so a sendmail that exits without
	 * reading is seen only here. */
	if (ioctl(c->in_rd, FIONREAD, &unread) == 0 && unread > 0)
		c->ex.input_cut = true;
	close(c->in_rd);
	if (c->pidfd != -1)
		close(c->pidfd);
	c->ex.output = c->output;
	c->ex.output_len = c->outlen;
	c->d->attempted = true;
	c->d->outcome = sendmail_outcome(&c->ex, c->d->reason,
	    sizeof(c->d->reason));
	c->pid = 0;
}

/* One poll(2) over every child in flight: feeds their input, collects
 * their output, reaps those that exited and kills those past their
 * deadline.  Never waits past the earliest deadline. */
static void
children_step(struct child *kids, size_t nkids)
{
	struct pollfd pfd[3 * SENDMAIL_PARALLEL_MAX];
	int idx[3 * SENDMAIL_PARALLEL_MAX];	/* pfd -> child */
	bool exited[SENDMAIL_PARALLEL_MAX] = { false };
	double now = monotonic_now(), first = 0;
	bool nopidfd = false, killed = false;
	size_t i;
	int n = 0, k, ms;

	for (i = 0; i < nkids; i++) {
		struct child *c = &kids[i];

		if (c->pid == 0 || c->reaped)
			continue;
		if (!c->fed) {
			/* Waiting for its message: only its exit matters. */
			if (c->pidfd != -1) {
				pfd[n] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
				idx[n++] = (int)i;
			} else {
				nopidfd = true;
			}
			continue;
		}
		if (c->deadline <= now) {
			child_kill(c);
			killed = true;
			continue;
		}
		if (first == 0 || c->deadline < first)
			first = c->deadline;
		if (c->in_fd != -1 && c->fed) {
			pfd[n] = (struct pollfd){ .fd = c->in_fd, .events = POLLOUT };
			idx[n++] = (int)i;
		}
		if (c->out_fd != -1) {
			pfd[n] = (struct pollfd){ .fd = c->out_fd, .events = POLLIN };
			idx[n++] = (int)i;
		}
		if (c->pidfd != -1) {
			pfd[n] = (struct pollfd){ .fd = c->pidfd, .events = POLLIN };
			idx[n++] = (int)i;
		} else {
			nopidfd = true;
		}
	}
	if (first == 0)
		return;		/* every child is reaped */
	ms = (int)((first - now) * 1000) + 1;
	if (nopidfd && ms > 10)
		ms = 10;	/* no pidfd: look at waitpid() now and then */
	if (killed)
		ms = 0;		/* settle the killed one without waiting */
	if (poll(pfd, n, ms) == -1)
		return;		/* EINTR: a signal; the caller looks again */
	for (k = 0; k < n; k++) {
		struct child *c = &kids[idx[k]];

		if (pfd[k].revents == 0)
			continue;
		if (pfd[k].fd == c->pidfd)
			exited[idx[k]] = true;
		else if (pfd[k].fd == c->in_fd)
			child_feed(c);
		else if (pfd[k].fd == c->out_fd &&
		    collect(c->out_fd, c->output, &c->outlen)) {
			close(c->out_fd);
			c->out_fd = -1;
		}
	}
	for (i = 0; i < nkids; i++) {
		struct child *c = &kids[i];

		if (c->pid != 0 && !c->reaped && (c->pidfd == -1 || exited[i]) &&
		    waitpid(c->pid, &c->ex.wstatus, WNOHANG) == c->pid)
			c->reaped = true;
	}
}

/* Starts children for d[*next...] in the free slots while fewer than
 * limit run.  Returns 0, or -1 with err filled when one cannot start. */
static int
start_children(const struct sendmail *sm, struct child *kids, size_t limit,
    struct delivery *d, size_t n, size_t *next, size_t *active,
    struct delivery_ctl *ctl, char *err, size_t errlen)
{
	size_t i;
	int rc;

	for (i = 0; i < sm->parallel && *active < limit; i++) {
		if (kids[i].pid != 0)
			continue;
		while (*next < n && !delivery_should_stop(ctl)) {
			rc = child_start(sm, &kids[i], &d[*next], err, errlen);
			if (rc == 1) {
				delivery_done(&d[(*next)++], ctl);
				continue;
			}
			if (rc == -1)
				return -1;
			(*next)++;
			(*active)++;
			break;
		}
	}
	return 0;
}

/*
 * Up to sm->parallel sendmails at once, started in batch order.  When a
 * child has exited, the next one is started before the finished one is
 * reported (ctl->done, which talks to PostMaster): its exec and start-up
 * overlap the report's round trip.  It is handed its message only after
 * the report, and only when nothing asks to stop: a report that failed
 * (halt), a signal or the deadline kill it before it has read anything,
 * and its message is left unattempted.  So with one sendmail at a time a
 * message is never delivered after a failed report, and a message is
 * reported only after its own sendmail exited.  Children already given
 * their message always finish and are reported.  A child started but not
 * yet given its message waits (its timeout starts when it gets it).
 *
 * The message goes in one write(2) when the pipe holds it (64 KiB, and
 * up to 1 MiB where the pipe can grow): the child then runs to its end
 * while we report the previous one.
 */
static int
sendmail_deliver(struct backend *b, struct delivery *d, size_t n,
    struct delivery_ctl *ctl, char *err, size_t errlen)
{
	struct sendmail *sm = b->impl;
	struct delivery *settled[SENDMAIL_PARALLEL_MAX];
	struct child *kids;
	size_t next = 0, i, nsettled, active = 0, fed;
	bool broken = false, stop, opened = false;

	if ((kids = calloc(sm->parallel, sizeof(*kids))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		/* Settle the children that exited. */
		nsettled = 0;
		for (i = 0; i < sm->parallel; i++)
			if (kids[i].pid != 0 && kids[i].reaped) {
				settled[nsettled++] = kids[i].d;
				child_finish(&kids[i]);
				active--;
			}
		/* Start the next one(s), then report the settled. */
		if (!broken)
			broken = start_children(sm, kids, opened ?
			    sm->parallel : 1, d, n, &next, &active, ctl, err,
			    errlen) == -1;
		for (i = 0; i < nsettled; i++)
			delivery_done(settled[i], ctl);
		stop = delivery_should_stop(ctl);
		if (nsettled > 0 && !ctl->halt && !opened) {
			opened = true;
			if (!broken)
				broken = start_children(sm, kids, sm->parallel,
				    d, n, &next, &active, ctl, err, errlen) == -1;
		}
		/* Hand the new ones their message, or take them back.  Until
		 * PostMaster has taken a report in this batch, one message at
		 * a time: a PostMaster that refuses reports gets at most one
		 * message delivered that it will hand out again. */
		fed = 0;
		for (i = 0; i < sm->parallel; i++)
			fed += kids[i].pid != 0 && kids[i].fed;
		for (i = 0; i < sm->parallel; i++) {
			if (kids[i].pid == 0 || kids[i].fed)
				continue;
			if (!stop) {
				if (opened || fed == 0) {
					child_go(&kids[i], sm->timeout);
					fed++;
				}
				continue;
			}
			child_abort(&kids[i]);
			active--;
		}
		if (active == 0)
			break;
		children_step(kids, sm->parallel);
	}
	free(kids);
	return broken ? -1 : 0;
}

static void
sendmail_free(struct backend *b)
{
	struct sendmail *sm = b->impl;

	free(sm->path);
	free(sm);
}

struct backend *
sendmail_backend_new(const struct sendmail_opts *o, char *err, size_t errlen)
{
	struct sendmail *sm;

	if (access(o->path, X_OK) == -1) {
		snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
		return NULL;
	}
	if ((sm = calloc(1, sizeof(*sm))) == NULL ||
	    (sm->path = strdup(o->path)) == NULL) {
		free(sm);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sm->timeout = o->timeout;
	sm->parallel = o->parallel < 1 ? 1 :
	    o->parallel > SENDMAIL_PARALLEL_MAX ? SENDMAIL_PARALLEL_MAX :
	    (size_t)o->parallel;
	sm->base.relay = "sendmail";
	sm->base.deliver = sendmail_deliver;
	sm->base.free = sendmail_free;
	sm->base.impl = sm;
	return &sm->base;
}
