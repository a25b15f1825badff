/*
 * cli.c - see cli.h.  For main() only: this is the one file of common/
 * that prints.
 */
#include "common/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

static const char *cli_prog = "?";
static const char *cli_hint;

void
cli_init(const char *prog, const char *hint)
{
	cli_prog = prog;
	cli_hint = hint;
}

/* One line, written at once so that lines of two programs sharing a
 * terminal do not interleave. */
static void
say(const char *hint, const char *fmt, va_list ap)
{
	char text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	fprintf(stderr, "%s: %s%s\n", cli_prog, text, hint != NULL ? hint : "");
}

int
cli_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(cli_hint, fmt, ap);
	va_end(ap);
	return EX_USAGE;
}

int
cli_error(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(NULL, fmt, ap);
	va_end(ap);
	return status;
}

void
cli_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(NULL, fmt, ap);
	va_end(ap);
	exit(status);
}

int
cli_open_status(int errnum)
{
	switch (errnum) {
	case ENOENT:
	case ENOTDIR:
		return EX_NOINPUT;
	case EACCES:
	case EPERM:
	case EROFS:
		return EX_NOPERM;
	default:
		return EX_OSERR;
	}
}
