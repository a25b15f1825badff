/*
 * faultshim.c - fault injection for the robustness tests, preloaded into
 * a daemon (LD_PRELOAD).  It makes chosen system calls fail on chosen
 * files, as a failing disk would, while the test runs:
 *
 *   FAULT_CTL=FILE   lines "OP ERRNO COUNT MATCH", read at every call:
 *     OP     write (also pwritev), fdatasync, fsync, rename, open
 *     ERRNO  EIO, ENOSPC, EACCES, EDQUOT, EROFS or a number
 *     COUNT  how many calls fail; '*' for every one
 *     MATCH  a substring of the file's path (for rename, of the source
 *            path); only those calls fail
 *            ERRNO STALL makes the call wait instead, until FILE holds
 *            no STALL line any more, and then makes it
 *   Each injected fault is appended as one line to FILE.log.
 *
 *   FAULT_NOSYNC=1   fsync, fdatasync, syncfs, sync_file_range and sync
 *     succeed without doing anything: the data stays in the page cache,
 *     so only a power loss (the VM test, tests/vm/) can tell.
 *
 * With no FAULT_CTL, or no line for an operation, the real call is made.
 * Built by the tests with: cc -shared -fPIC -o faultshim.so faultshim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int fault_busy;

/* Raw file access, so that reading the control file is never itself
 * intercepted. */
static ssize_t
raw_read_file(const char *path, char *buf, size_t len)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = syscall(SYS_read, fd, buf, len - 1);
	syscall(SYS_close, fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

static void
raw_write_file(const char *path, const char *buf, size_t len, int append)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT |
	    O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);

	if (fd < 0)
		return;
	syscall(SYS_write, fd, buf, len);
	syscall(SYS_close, fd);
}

static int
errno_named(const char *s)
{
	static const struct { const char *name; int value; } names[] = {
		{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EACCES", EACCES },
		{ "EDQUOT", EDQUOT }, { "EROFS", EROFS }, { "ENOENT", ENOENT },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].value;
	return atoi(s) > 0 ? atoi(s) : EIO;
}

static int
nosync(void)
{
	const char *v = getenv("FAULT_NOSYNC");

	return v != NULL && strcmp(v, "1") == 0;
}

#define FAULT_STALL (-1)

/* Waits until the control file holds no STALL line. */
static void
stall(const char *ctl)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	char buf[4096];

	while (raw_read_file(ctl, buf, sizeof(buf)) >= 0 &&
	    strstr(buf, " STALL ") != NULL)
		nanosleep(&ts, NULL);
}

static int fault_for_locked(const char *op, const char *path);

/* Returns the errno to fail op on path with, or 0 to make the call (at
 * once, or after a stall). */
static int
fault_for(const char *op, const char *path)
{
	int err = fault_for_locked(op, path);

	if (err == FAULT_STALL) {
		stall(getenv("FAULT_CTL"));
		err = 0;
	}
	return err;
}

static int
fault_for_locked(const char *op, const char *path)
{
	const char *ctl = getenv("FAULT_CTL");
	char buf[4096], out[4096], logline[1200], cop[32], cerr[32], ccount[32];
	char cmatch[1024];
	char *line, *save = NULL;
	size_t olen = 0;
	int err = 0, n;

	if (ctl == NULL || fault_busy || path == NULL)
		return 0;
	fault_busy = 1;
	pthread_mutex_lock(&fault_lock);
	if (raw_read_file(ctl, buf, sizeof(buf)) < 0)
		goto out;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		n = sscanf(line, "%31s %31s %31s %1023s", cop, cerr, ccount, cmatch);
		if (n < 3)
			continue;
		if (n == 3)
			strcpy(cmatch, "/");
		if (err == 0 && strcmp(cop, op) == 0 && strstr(path, cmatch) &&
		    strcmp(ccount, "0") != 0) {
			err = strcmp(cerr, "STALL") == 0 ? FAULT_STALL :
			    errno_named(cerr);
			if (strcmp(ccount, "*") != 0)
				snprintf(ccount, sizeof(ccount), "%d", atoi(ccount) - 1);
			n = snprintf(logline, sizeof(logline), "%s %s %s\n", op,
			    cerr, path);
			if (n > 0) {
				char lp[1100];

				snprintf(lp, sizeof(lp), "%s.log", ctl);
				raw_write_file(lp, logline, (size_t)n, 1);
			}
		}
		n = snprintf(out + olen, sizeof(out) - olen, "%s %s %s %s\n",
		    cop, cerr, ccount, cmatch);
		if (n > 0 && (size_t)n < sizeof(out) - olen)
			olen += (size_t)n;
	}
	if (err != 0)
		raw_write_file(ctl, out, olen, 0);
out:
	pthread_mutex_unlock(&fault_lock);
	fault_busy = 0;
	return err;
}

/* The path an open descriptor names ("" when unknown). */
static const char *
fd_path(int fd, char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = syscall(SYS_readlinkat, AT_FDCWD, link, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static const char *
at_path(int dirfd, const char *name, char *buf, size_t len)
{
	char dir[1024];

	if (name[0] == '/' || dirfd == AT_FDCWD) {
		snprintf(buf, len, "%s", name);
		return buf;
	}
	snprintf(buf, len, "%s/%s", fd_path(dirfd, dir, sizeof(dir)), name);
	return buf;
}

#define REAL(ret, name, ...)						\
	static ret (*real_##name)(__VA_ARGS__);				\
	if (real_##name == NULL)					\
		real_##name = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

ssize_t
write(int fd, const void *buf, size_t len)
{
	char path[1024];
	int e;

	REAL(ssize_t, write, int, const void *, size_t);
	if (getenv("FAULT_CTL") != NULL && !fault_busy &&
	    (e = fault_for("write", fd_path(fd, path, sizeof(path)))) != 0) {
		errno = e;
		return -1;
	}
	return real_write(fd, buf, len);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset)
{
	char path[1024];
	int e;

	REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t);
	if (getenv("FAULT_CTL") != NULL && !fault_busy &&
	    (e = fault_for("write", fd_path(fd, path, sizeof(path)))) != 0) {
		errno = e;
		return -1;
	}
	return real_pwritev(fd, iov, iovcnt, offset);
}

int
fdatasync(int fd)
{
	char path[1024];
	int e;

	REAL(int, fdatasync, int);
	if (nosync())
		return 0;
	if ((e = fault_for("fdatasync", fd_path(fd, path, sizeof(path)))) != 0) {
		errno = e;
		return -1;
	}
	return real_fdatasync(fd);
}

int
fsync(int fd)
{
	char path[1024];
	int e;

	REAL(int, fsync, int);
	if (nosync())
		return 0;
	if ((e = fault_for("fsync", fd_path(fd, path, sizeof(path)))) != 0) {
		errno = e;
		return -1;
	}
	return real_fsync(fd);
}

int
syncfs(int fd)
{
	REAL(int, syncfs, int);
	if (nosync())
		return 0;
	return real_syncfs(fd);
}

int
sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags)
{
	REAL(int, sync_file_range, int, off_t, off_t, unsigned int);
	if (nosync())
		return 0;
	return real_sync_file_range(fd, offset, nbytes, flags);
}

void
sync(void)
{
	REAL(void, sync, void);
	if (nosync())
		return;
	real_sync();
}

int
renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	char path[2048];
	int e;

	REAL(int, renameat, int, const char *, int, const char *);
	if ((e = fault_for("rename", at_path(olddirfd, oldpath, path,
	    sizeof(path)))) != 0) {
		errno = e;
		return -1;
	}
	return real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

int
rename(const char *oldpath, const char *newpath)
{
	int e;

	REAL(int, rename, const char *, const char *);
	if ((e = fault_for("rename", oldpath)) != 0) {
		errno = e;
		return -1;
	}
	return real_rename(oldpath, newpath);
}

static int
open_common(const char *name, int dirfd, const char *path, int flags,
    mode_t mode)
{
	char full[2048];
	int e;

	if ((e = fault_for("open", at_path(dirfd, path, full, sizeof(full)))) != 0) {
		errno = e;
		return -1;
	}
	if (strcmp(name, "openat") == 0) {
		REAL(int, openat, int, const char *, int, ...);
		return real_openat(dirfd, path, flags, mode);
	}
	{
		REAL(int, openat64, int, const char *, int, ...);
		return real_openat64(dirfd, path, flags, mode);
	}
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common("openat", dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common("openat64", dirfd, path, flags, mode);
}
