/*
 * cli.h - for the programs' main() only: the one form of their error
 * lines ("PROG: what went wrong" on stderr, a usage error followed by
 * where help is) and the sysexits status of a start-up failure.
 *
 * Unlike the rest of common/, cli_usage, cli_error and cli_die print
 * (and cli_die exits): STYLE.md rule 3 keeps library code silent, and
 * this file is no library: it is the part of main() that PostOffice,
 * PostMaster, "postmaster queue" and PostMan share, so that they say
 * things one way.  Call it from main() and option parsing only.
 */
#ifndef POSTOFFICE_CLI_H
#define POSTOFFICE_CLI_H

/* Names the program for the lines below ("postoffice") and the hint a
 * usage error ends with (" (try --help)"; NULL: none).  Both strings
 * must outlive the program's use of cli_*; they are not copied. */
void cli_init(const char *prog, const char *hint);

/* "PROG: TEXT HINT\n" on stderr; returns EX_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "PROG: TEXT\n" on stderr; returns status. */
int cli_error(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_error, then exit(status). */
void cli_die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/*
 * The exit status for a file or directory named on the command line (the
 * spool, a password file) that cannot be opened, from its errno: one rule
 * for every program.
 *   ENOENT, ENOTDIR        EX_NOINPUT (66): it is not there.  None of the
 *                          programs creates what it is given: the name is
 *                          wrong, or the setup step that makes it was
 *                          skipped.  (EX_CANTCREAT is for an output file
 *                          the program itself would create.)
 *   EACCES, EPERM, EROFS   EX_NOPERM (77): it is there, but not ours.
 *   anything else          EX_OSERR (71).
 */
int cli_open_status(int errnum);

#endif
