/*
 * log.c - the daemons' log: one line per event, "PROG[PID]: text".
 * Writes go out with a single write(2) so that lines from several
 * processes sharing a file never interleave.  When standard error is
 * systemd's journal (JOURNAL_STREAM names it), which records the program
 * and pid itself, a line is "<PRIORITY>text" instead (sd-daemon(3)).
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

static const char *log_prog = "postoffice";
static char *log_path;
/* Read by every thread that logs.  Once a file is open its number never
 * changes: a reopen puts the new file under the same number (dup3), so
 * a line is written whole to the old file or to the new one, never to a
 * closed or reused descriptor. */
static _Atomic int log_fd = 2;
static bool log_syslog;
static bool log_journal;	/* standard error is the journal */
/* The pid in each line, asked once per process: fork resets it. */
static pid_t log_pid;
static pthread_once_t log_pid_once = PTHREAD_ONCE_INIT;

static void
log_pid_forget(void)
{
	log_pid = 0;
}

static void
log_pid_watch_forks(void)
{
	pthread_atfork(NULL, NULL, log_pid_forget);
}

/* Whether standard error is the stream systemd set up for the journal:
 * JOURNAL_STREAM holds its "device:inode" (systemd.exec(5)). */
static bool
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    v[n] != '\0' || fstat(2, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

int
log_open(const char *prog, const char *path, bool use_syslog)
{
	log_prog = prog;
	log_journal = stderr_is_journal();
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
	free(log_path);
	log_path = NULL;
	if (path == NULL)
		return 0;
	if ((log_path = strdup(path)) == NULL)
		return -1;
	return log_reopen();
}

int
log_reopen(void)
{
	int fd, cur, saved;

	if (log_path == NULL)
		return 0;
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	cur = atomic_load(&log_fd);
	if (cur <= 2) {
		atomic_store(&log_fd, fd);
		return 0;
	}
	/* dup3 closes the old file and puts the new one in its place in
	 * one step (dup2 would drop close-on-exec). */
	if (dup3(fd, cur, O_CLOEXEC) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/* Call it once no other thread logs. */
void
log_close(void)
{
	int fd = atomic_exchange(&log_fd, 2);

	if (fd > 2)
		close(fd);
	free(log_path);
	log_path = NULL;
	if (log_syslog)
		closelog();
}

static void
log_emit(int prio, const char *fmt, va_list ap)
{
	char line[4096];
	int n, m, fd, saved = errno;
	va_list ap2;

	va_copy(ap2, ap);
	pthread_once(&log_pid_once, log_pid_watch_forks);
	if (log_pid == 0)
		log_pid = getpid();
	fd = atomic_load(&log_fd);
	if (log_journal && fd == 2)
		n = snprintf(line, sizeof(line), "<%d>", prio);
	else
		n = snprintf(line, sizeof(line), "%s[%ld]: ", log_prog,
		    (long)log_pid);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof(line) - 2)
		m = sizeof(line) - 2 - n;	/* truncated: keep one line */
	line[n + m] = '\n';
	if (write(fd, line, n + m + 1) < 0) {
		/* Nowhere left to report it. */
	}
	if (log_syslog)
		vsyslog(prio, fmt, ap2);
	va_end(ap2);
	errno = saved;
}

#define LOG_FN(name, prio)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	log_emit(prio, fmt, ap);			\
	va_end(ap);					\
}
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARNING)
LOG_FN(log_err, LOG_ERR)
