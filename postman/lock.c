/*
 * lock.c - the run lock (see lock.h).
 */
#include "postman/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int
lock_take(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: not a regular file of ours", path);
		close(fd);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return LOCK_BUSY;
		snprintf(err, errlen, "%s: flock: %s", path, strerror(e));
		return -1;
	}
	return fd;
}

char *
lock_default_path(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char *p = NULL;

	/* Not /run/lock: it is world-writable on Debian, where anyone could
	 * create (and hold) root's lock file first. */
	if (geteuid() == 0)
		return strdup("/run/postman.lock");
	if (xdg != NULL && xdg[0] == '/') {
		if (asprintf(&p, "%s/postman.lock", xdg) == -1)
			return NULL;
		return p;
	}
	if (asprintf(&p, "/tmp/postman-%lu.lock", (unsigned long)geteuid()) == -1)
		return NULL;
	return p;
}
