/*
 * listen.h - the socket PostMaster serves on: TCP, a unix socket it
 * creates with a given mode, or one handed over by systemd.
 */
#ifndef POSTMASTER_LISTEN_H
#define POSTMASTER_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum listen_error {
	LISTEN_OK,
	LISTEN_USAGE,		/* the address itself is wrong */
	LISTEN_IN_USE,		/* someone already listens there */
	LISTEN_OS		/* any other system failure */
};

struct listener {
	int fd;
	bool loopback;		/* unix socket or loopback TCP address */
	bool activated;		/* handed over by systemd */
	char *unix_path;	/* the socket file we made, removed at close */
	char name[128];		/* for the log */
};

/*
 * Opens the listening socket: the one systemd passed (LISTEN_FDS, exactly
 * one stream socket) when there is one, else spec ("HOST:PORT",
 * "[V6]:PORT" or "unix:/path").  A unix socket is created with mode (a
 * stale socket file nobody answers on is replaced; anything else at the
 * path is an error).  The socket is non-blocking.  Returns LISTEN_OK or
 * the kind of failure with err filled.
 */
enum listen_error listen_open(struct listener *l, const char *spec,
    mode_t mode, char *err, size_t errlen);
/* Checks spec's form without opening anything: 0, or -1 with err filled.
 * A socket handed over by systemd makes spec unused, and always right. */
int listen_check(const char *spec, char *err, size_t errlen);
/* Closes the socket and removes the socket file we created. */
void listen_close(struct listener *l);

#endif
