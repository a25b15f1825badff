/*
 * listen.c - creating (or receiving from systemd) the listening socket.
 */
#include "postmaster/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/addr.h"

#define LISTEN_BACKLOG 128

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static enum listen_error
from_systemd(struct listener *l, int n, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = SD_LISTEN_FDS_START;

	if (n != 1) {
		snprintf(err, errlen, "systemd passed %d sockets; expected one", n);
		return LISTEN_USAGE;
	}
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
		snprintf(err, errlen, "systemd's socket is not a listening "
		    "stream socket");
		return LISTEN_USAGE;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    set_nonblock(fd) == -1) {
		snprintf(err, errlen, "systemd's socket: %s", strerror(errno));
		return LISTEN_OS;
	}
	l->fd = fd;
	l->activated = true;
	l->loopback = ss.ss_family == AF_UNIX ||
	    addr_is_loopback((struct sockaddr *)&ss);
	snprintf(l->name, sizeof(l->name), "systemd socket");
	return LISTEN_OK;
}

/* A socket file at path that nobody accepts on is left over from a run
 * that did not clean up: it may go.  Anything else stays. */
static enum listen_error
clear_stale(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? LISTEN_OK : LISTEN_OS;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return LISTEN_USAGE;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return LISTEN_OS;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s: address already in use", path);
		return LISTEN_IN_USE;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return LISTEN_OS;
	}
	return LISTEN_OK;
}

static enum listen_error
open_unix(struct listener *l, const char *path, mode_t mode, char *err,
    size_t errlen)
{
	struct sockaddr_un sun;
	enum listen_error e;
	mode_t old;
	int rc;

	if ((e = clear_stale(path, err, errlen)) != LISTEN_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return e;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		goto fail;
	/* The umask makes the file born with the mode: no window in which
	 * it is more open than asked. */
	old = umask(~mode & 0777);
	rc = bind(l->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1)
		goto fail;
	if ((l->unix_path = strdup(path)) == NULL)
		goto fail;
	if (chmod(path, mode) == -1 || listen(l->fd, LISTEN_BACKLOG) == -1)
		goto fail;
	l->loopback = true;
	snprintf(l->name, sizeof(l->name), "unix:%s", path);
	return LISTEN_OK;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	e = errno == EADDRINUSE ? LISTEN_IN_USE : LISTEN_OS;
	listen_close(l);
	return e;
}

static enum listen_error
open_tcp(struct listener *l, const char *spec, struct sockaddr_storage *ss,
    socklen_t sslen, char *err, size_t errlen)
{
	enum listen_error e;
	int one = 1;

	if ((l->fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		goto fail;
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(l->fd, (struct sockaddr *)ss, sslen) == -1 ||
	    listen(l->fd, LISTEN_BACKLOG) == -1)
		goto fail;
	l->loopback = addr_is_loopback((struct sockaddr *)ss);
	snprintf(l->name, sizeof(l->name), "%s", spec);
	return LISTEN_OK;
fail:
	snprintf(err, errlen, "%s: %s", spec, strerror(errno));
	e = errno == EADDRINUSE ? LISTEN_IN_USE :
	    errno == EADDRNOTAVAIL ? LISTEN_USAGE : LISTEN_OS;
	listen_close(l);
	return e;
}

enum listen_error
listen_open(struct listener *l, const char *spec, mode_t mode, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	char *path = NULL;
	enum listen_error e;
	int n;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	err[0] = '\0';
	if ((n = sd_listen_fds(1)) > 0)
		return from_systemd(l, n, err, errlen);
	if (addr_parse_listen(spec, &ss, &sslen, &path, err, errlen) == -1)
		return LISTEN_USAGE;
	if (path != NULL)
		e = open_unix(l, path, mode, err, errlen);
	else
		e = open_tcp(l, spec, &ss, sslen, err, errlen);
	free(path);
	return e;
}

int
listen_check(const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	char *path = NULL;

	err[0] = '\0';
	if (sd_listen_fds(0) > 0)
		return 0;
	if (addr_parse_listen(spec, &ss, &sslen, &path, err, errlen) == -1)
		return -1;
	free(path);
	return 0;
}

void
listen_close(struct listener *l)
{
	if (l->fd != -1 && !l->activated)
		close(l->fd);
	l->fd = -1;
	if (l->unix_path != NULL) {
		unlink(l->unix_path);
		free(l->unix_path);
		l->unix_path = NULL;
	}
}
