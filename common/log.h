/*
 * log.h - one event per line: "PROG[PID]: text", to stderr (journald reads
 * it) or to a file given with log_open(), and to syslog(3) when asked.
 * Mail events follow Postfix: "ID: key=value, key=value".
 */
#ifndef POSTOFFICE_LOG_H
#define POSTOFFICE_LOG_H

#include <stdbool.h>

/* path NULL means stderr.  Returns 0, or -1 when the file can't be opened
 * (errno set; logging then goes to stderr). */
int log_open(const char *prog, const char *path, bool use_syslog);
/* Reopens the log file (after rotation); a no-op for stderr.  Safe while
 * other threads log: each line goes whole to the old file or the new. */
int log_reopen(void);
void log_close(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
