/*
 * optval.h - the values of command-line options: counts, sizes, seconds
 * and file modes, parsed one way for every program.  Nothing here prints
 * or exits: each parser returns 0, or -1 with errno set, and the program
 * words the error (cli.h prints it).
 *
 * The grammar is strict: ASCII digits only, no sign, no leading space,
 * nothing after the number but a size's one suffix letter.  "", "-1",
 * " 5", "5 ", "0x10" and "5kB" are all refused.
 */
#ifndef POSTOFFICE_OPTVAL_H
#define POSTOFFICE_OPTVAL_H

/* A decimal count in [min, max].  -1 with errno EINVAL (not a number:
 * empty, a sign, junk) or ERANGE (outside [min, max], or too large for
 * 64 bits); *out is then unchanged. */
int optval_count(const char *s, unsigned long long min,
    unsigned long long max, unsigned long long *out);

/* A size in bytes: a decimal count with an optional k, M or G suffix in
 * either case (powers of 1024: "64k" is 65536), in [min, max] after
 * scaling.  Errors as optval_count's; a value that overflows 64 bits
 * once scaled is ERANGE. */
int optval_size(const char *s, unsigned long long min,
    unsigned long long max, unsigned long long *out);

/* Seconds, a decimal fraction allowed ("0.5"), finite, in [min, max].
 * No sign, exponent, hex or inf/nan.  Errors as optval_count's. */
int optval_seconds(const char *s, double min, double max, double *out);

/* An octal file mode such as 0660 or 660, at most max (07777 at most).
 * Errors as optval_count's. */
int optval_mode(const char *s, unsigned long max, unsigned long *out);

#endif
