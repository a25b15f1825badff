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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/addr.h"

#define OUTPUT_MAX 4096		/* what we keep of sendmail's output */

extern char **environ;

struct sendmail {
	struct backend base;
	char *path;
	double timeout;
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
spawn(const char *path, char **argv, pid_t *pid, int *in_fd, int *out_fd,
    char *err, size_t errlen)
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
	*out_fd = out[0];
	in[1] = out[0] = -1;
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

/* Feeds data to the child and waits for it, within the timeout. */
static void
run_child(pid_t pid, int in_fd, int out_fd, const unsigned char *data,
    size_t len, double timeout, struct sendmail_exit *e, char *output)
{
	struct pollfd pfd[3];
	double deadline = monotonic_now() + timeout, left;
	size_t off = 0, outlen = 0;
	int pidfd, n, ms, i_in = -1, i_out = -1, i_pid = -1;
	bool reaped = false;
	ssize_t w;

	fcntl(in_fd, F_SETFL, O_NONBLOCK);
	fcntl(out_fd, F_SETFL, O_NONBLOCK);
	pidfd = child_pidfd(pid);
	if (len == 0) {
		close(in_fd);
		in_fd = -1;
	}
	while (!reaped) {
		n = 0;
		if (in_fd != -1) {
			pfd[n] = (struct pollfd){ .fd = in_fd, .events = POLLOUT };
			i_in = n++;
		}
		if (out_fd != -1) {
			pfd[n] = (struct pollfd){ .fd = out_fd, .events = POLLIN };
			i_out = n++;
		}
		if (pidfd != -1) {
			pfd[n] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
			i_pid = n++;
		}
		left = deadline - monotonic_now();
		if (left <= 0) {
			e->timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &e->wstatus, 0) == -1 && errno == EINTR)
				;
			break;
		}
		ms = (int)(left * 1000) + 1;
		if (pidfd == -1 && ms > 10)
			ms = 10;
		if (poll(pfd, n, ms) == -1 && errno != EINTR)
			ms = 0;	/* keep going: the deadline still holds */
		if (in_fd != -1 && (pfd[i_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
			w = write(in_fd, data + off, len - off);
			if (w > 0)
				off += w;
			if ((w == -1 && errno != EAGAIN && errno != EINTR) ||
			    off == len) {
				/* EPIPE: it exited or closed its input. */
				e->input_cut = off < len;
				close(in_fd);
				in_fd = -1;
			}
		}
		if (out_fd != -1 && (pfd[i_out].revents & (POLLIN | POLLERR | POLLHUP)) &&
		    collect(out_fd, output, &outlen)) {
			close(out_fd);
			out_fd = -1;
		}
		if (pidfd == -1 || (pfd[i_pid].revents & POLLIN)) {
			if (waitpid(pid, &e->wstatus, WNOHANG) == pid)
				reaped = true;
		}
	}
	if (out_fd != -1) {
		collect(out_fd, output, &outlen);	/* what is left */
		close(out_fd);
	}
	if (in_fd != -1) {
		e->input_cut = off < len;
		close(in_fd);
	}
	if (pidfd != -1)
		close(pidfd);
	e->output = output;
	e->output_len = outlen;
}

static int
sendmail_deliver(struct backend *b, struct delivery *d, size_t n,
    struct delivery_ctl *ctl, char *err, size_t errlen)
{
	struct sendmail *sm = b->impl;
	struct sendmail_exit ex;
	char output[OUTPUT_MAX];
	char **argv;
	int in_fd, out_fd;
	pid_t pid;
	size_t i;

	for (i = 0; i < n; i++) {
		if (delivery_should_stop(ctl))
			break;
		argv = sendmail_argv(sm->path, d[i].msg->mail_from,
		    d[i].msg->rcpt_tos, d[i].msg->nrcpt, d[i].reason,
		    sizeof(d[i].reason));
		if (argv == NULL) {
			/* Checked before: only a broken invariant gets here. */
			d[i].attempted = true;
			d[i].outcome = OUTCOME_BOUNCED;
			delivery_done(&d[i], ctl);
			continue;
		}
		if (spawn(sm->path, argv, &pid, &in_fd, &out_fd, err, errlen) == -1) {
			free(argv);
			return -1;
		}
		free(argv);
		memset(&ex, 0, sizeof(ex));
		ex.timeout = sm->timeout;
		run_child(pid, in_fd, out_fd, d[i].msg->data, d[i].msg->data_len,
		    sm->timeout, &ex, output);
		d[i].attempted = true;
		d[i].outcome = sendmail_outcome(&ex, d[i].reason, sizeof(d[i].reason));
		delivery_done(&d[i], ctl);
	}
	return 0;
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
	sm->base.relay = "sendmail";
	sm->base.deliver = sendmail_deliver;
	sm->base.free = sendmail_free;
	sm->base.impl = sm;
	return &sm->base;
}
