/*
 * maildir.c - the Maildir delivery backend (see maildir.h).
 *
 * The write follows the Maildir spec step by step: a name no other
 * delivery can have, the file created in tmp/ with O_EXCL (two writers
 * never share a file, even on a name clash), fsync, then link(2) into
 * new/, where readers look, so a reader sees a message whole or not at
 * all.  fsync of new/ makes the link itself durable before the message is
 * acknowledged and PostMaster forgets it.
 */
#include "postman/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

struct maildir {
	struct backend base;
	char *dir;
	char host[MAILDIR_NAME_MAX / 2];	/* encoded */
	pid_t pid;
	unsigned long seq;			/* deliveries so far */
};

void
maildir_host_encode(char *out, size_t outlen, const char *host)
{
	const char *esc;
	size_t o = 0, need;

	if (outlen == 0)
		return;
	if (host == NULL || *host == '\0')
		host = "localhost";
	for (; *host != '\0'; host++) {
		/* The spec's own escapes: octal, as a C string would write
		 * them. */
		esc = *host == '/' ? "\\057" : *host == ':' ? "\\072" : NULL;
		need = esc != NULL ? 4 : 1;
		if (o + need >= outlen)
			break;
		if (esc != NULL)
			memcpy(out + o, esc, 4);
		else
			out[o] = *host;
		o += need;
	}
	out[o] = '\0';
}

int
maildir_unique_name(char *out, size_t outlen, time_t sec, long usec,
    pid_t pid, unsigned long seq, const char *host)
{
	int n;

	n = snprintf(out, outlen, "%lld.M%06ldP%ldQ%lu.%s", (long long)sec,
	    usec, (long)pid, seq, host);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

size_t
maildir_lf(unsigned char *out, const unsigned char *in, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;	/* the LF that follows is kept */
		out[o++] = in[i];
	}
	return o;
}

char *
maildir_prefix(const char *from, char *const *rcpts, size_t n, size_t *len)
{
	char *buf = NULL;
	size_t cap = 0, i;
	FILE *f;

	if ((f = open_memstream(&buf, &cap)) == NULL)
		return NULL;
	/* RFC 5321 4.4: the final delivery records the reverse-path; the
	 * null sender is written "<>" (RFC 5322 3.6.7). */
	fprintf(f, "Return-Path: <%s>\n", from);
	for (i = 0; i < n; i++)
		fprintf(f, "Delivered-To: %s\n", rcpts[i]);
	if (ferror(f) || fclose(f) == EOF) {
		free(buf);
		return NULL;
	}
	*len = cap;
	return buf;
}

/* mkdir path unless it is already a directory. */
static int
make_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	return 0;
}

int
maildir_create(const char *dir, char *err, size_t errlen)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char path[PATH_MAX];
	size_t i;

	if (*dir == '\0') {
		snprintf(err, errlen, "empty Maildir path");
		return -1;
	}
	if (make_dir(dir, err, errlen) == -1)
		return -1;
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, sub[i]) >=
		    sizeof(path)) {
			snprintf(err, errlen, "Maildir path too long");
			return -1;
		}
		if (make_dir(path, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Opens DIR/sub as a directory, for the *at() calls and fsync. */
static int
open_sub(const char *dir, const char *sub, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		snprintf(err, errlen, "cannot open %s/%s: %s", dir, sub,
		    strerror(errno));
	return fd;
}

/* Moves tmp/name to new/name.  link(2) as the spec says (it never
 * replaces a file); rename(2) only where the file system has no hard
 * links.  Should the unlink of the tmp/ name fail, the message is still
 * delivered once: readers remove tmp/ files older than 36 hours. */
static int
publish(int tmpfd, int newfd, const char *name)
{
	if (linkat(tmpfd, name, newfd, name, 0) == 0) {
		unlinkat(tmpfd, name, 0);
		return 0;
	}
	if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	return renameat(tmpfd, name, newfd, name);
}

/* Stores one message; the outcome, with the reason filled. */
static enum outcome
store(struct maildir *md, int tmpfd, int newfd, const struct message *m,
    char *reason, size_t reasonlen)
{
	enum outcome o = OUTCOME_DEFERRED;
	char name[MAILDIR_NAME_MAX], *prefix = NULL;
	unsigned char *body = NULL;
	size_t plen = 0, blen;
	struct timespec now;
	bool in_tmp = false;
	int fd = -1;

	clock_gettime(CLOCK_REALTIME, &now);
	if (maildir_unique_name(name, sizeof(name), now.tv_sec,
	    now.tv_nsec / 1000, md->pid, ++md->seq, md->host) == -1) {
		snprintf(reason, reasonlen, "maildir: unique name too long");
		goto fail;
	}
	if ((prefix = maildir_prefix(m->mail_from, m->rcpt_tos, m->nrcpt,
	    &plen)) == NULL ||
	    (body = malloc(m->data_len > 0 ? m->data_len : 1)) == NULL) {
		snprintf(reason, reasonlen, "maildir: out of memory");
		goto fail;
	}
	blen = maildir_lf(body, m->data, m->data_len);
	if ((fd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		snprintf(reason, reasonlen, "maildir: cannot create tmp/%s: %s",
		    name, strerror(errno));
		goto fail;
	}
	in_tmp = true;
	if (util_write_all(fd, prefix, plen) == -1 || util_write_all(fd, body, blen) == -1) {
		snprintf(reason, reasonlen, "maildir: cannot write tmp/%s: %s",
		    name, strerror(errno));
		goto fail;
	}
	if (fsync(fd) == -1) {
		snprintf(reason, reasonlen, "maildir: cannot sync tmp/%s: %s",
		    name, strerror(errno));
		goto fail;
	}
	/* close(2) reports late write errors on NFS. */
	if (close(fd) == -1) {
		fd = -1;
		snprintf(reason, reasonlen, "maildir: cannot close tmp/%s: %s",
		    name, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (publish(tmpfd, newfd, name) == -1) {
		snprintf(reason, reasonlen, "maildir: cannot link tmp/%s into "
		    "new/: %s", name, strerror(errno));
		goto fail;
	}
	in_tmp = false;
	if (fsync(newfd) == -1) {
		/* Not durable: take it back rather than report it sent and
		 * maybe lose it; it is delivered again later. */
		snprintf(reason, reasonlen, "maildir: cannot sync new/: %s",
		    strerror(errno));
		unlinkat(newfd, name, 0);
		goto fail;
	}
	snprintf(reason, reasonlen, "delivered to maildir as new/%s", name);
	o = OUTCOME_SENT;
fail:
	if (fd != -1)
		close(fd);
	if (in_tmp)
		unlinkat(tmpfd, name, 0);
	free(prefix);
	free(body);
	return o;
}

static int
maildir_deliver(struct backend *b, struct delivery *d, size_t n,
    struct delivery_ctl *ctl, char *err, size_t errlen)
{
	struct maildir *md = b->impl;
	char why[DELIVERY_REASON_MAX - 16];
	int tmpfd = -1, newfd = -1;
	size_t i;

	/* Nothing here stops a batch: each failure is a message's deferral. */
	(void)err;
	(void)errlen;
	/* Made again for every batch: a Maildir removed or remounted while
	 * we run is found as it is now. */
	if (maildir_create(md->dir, why, sizeof(why)) == 0 &&
	    (tmpfd = open_sub(md->dir, "tmp", why, sizeof(why))) != -1)
		newfd = open_sub(md->dir, "new", why, sizeof(why));
	for (i = 0; i < n; i++) {
		if (delivery_should_stop(ctl))
			break;
		d[i].attempted = true;
		if (tmpfd == -1 || newfd == -1) {
			d[i].outcome = OUTCOME_DEFERRED;
			snprintf(d[i].reason, sizeof(d[i].reason), "maildir: %s", why);
		} else {
			d[i].outcome = store(md, tmpfd, newfd, d[i].msg,
			    d[i].reason, sizeof(d[i].reason));
		}
		delivery_done(&d[i], ctl);
	}
	if (tmpfd != -1)
		close(tmpfd);
	if (newfd != -1)
		close(newfd);
	return 0;
}

static void
maildir_free(struct backend *b)
{
	struct maildir *md = b->impl;

	free(md->dir);
	free(md);
}

struct backend *
maildir_backend_new(const char *dir, char *err, size_t errlen)
{
	struct maildir *md;
	char host[HOST_NAME_MAX + 1];

	if (maildir_create(dir, err, errlen) == -1)
		return NULL;
	if ((md = calloc(1, sizeof(*md))) == NULL ||
	    (md->dir = strdup(dir)) == NULL) {
		free(md);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (gethostname(host, sizeof(host)) == -1)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	maildir_host_encode(md->host, sizeof(md->host), host);
	md->pid = getpid();
	md->base.relay = "maildir";
	md->base.deliver = maildir_deliver;
	md->base.free = maildir_free;
	md->base.impl = md;
	return &md->base;
}
