/*
 * maildir.h - final delivery into one Maildir (the format of
 * cr.yp.to/proto/maildir.html that Dovecot, Courier, mutt and most mail
 * readers share): the Maildir is one mailbox, so each message is stored
 * once whatever its recipients.
 *
 * A message is written to DIR/tmp/NAME, fsync'ed, linked to DIR/new/NAME,
 * its tmp name removed and DIR/new fsync'ed; only then is it reported
 * sent.  Whatever fails on the way removes the tmp file and defers the
 * message: every failure here is the host's (permissions, a full disk, a
 * missing mount), none is the message's, so nothing ever bounces.
 *
 * What is stored is the message as received, with two changes a reader
 * expects of a local mailbox:
 *   - "Return-Path: <SENDER>" and one "Delivered-To: RCPT" per envelope
 *     recipient are put in front, as a final delivery does (RFC 5321 4.4);
 *   - every CRLF becomes LF (a lone CR or LF is left alone).
 */
#ifndef POSTMAN_MAILDIR_H
#define POSTMAN_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "postman/delivery.h"

/* Room for a unique name: time, usec, pid, counter and an encoded host. */
#define MAILDIR_NAME_MAX 256

/* Writes host into out as the Maildir spec asks for the last part of a
 * unique name: '/' becomes "\057" and ':' becomes "\072", so that the
 * name is one path component and ':' still starts the info part only.
 * Other characters are kept.  An empty or NULL host is "localhost".
 * The result is cut to fit outlen (never in the middle of an escape). */
void maildir_host_encode(char *out, size_t outlen, const char *host);

/* Writes the unique name "SEC.M<USEC>P<PID>Q<SEQ>.HOST" into out (host
 * already encoded by maildir_host_encode).  SEQ counts the deliveries of
 * this process, so two messages in the same microsecond differ.  Returns
 * 0, or -1 when it does not fit in outlen. */
int maildir_unique_name(char *out, size_t outlen, time_t sec, long usec,
    pid_t pid, unsigned long seq, const char *host);

/* Copies len bytes from in to out turning each CRLF into LF; returns the
 * bytes written (at most len).  out may be in itself. */
size_t maildir_lf(unsigned char *out, const unsigned char *in, size_t len);

/* The header lines put in front of a message, in a malloc'd string (its
 * length in *len): "Return-Path: <FROM>\n" ("<>" for the null sender)
 * then "Delivered-To: RCPT\n" for each recipient.  The addresses must
 * have been checked (no CR, LF or angle brackets: see lease.h).  NULL
 * when out of memory. */
char *maildir_prefix(const char *from, char *const *rcpts, size_t n,
    size_t *len);

/* Creates dir, dir/tmp, dir/new and dir/cur (mode 0700) where they are
 * missing; the parent of dir must exist.  Returns 0, or -1 with err
 * filled (also when one of them exists but is not a directory). */
int maildir_create(const char *dir, char *err, size_t errlen);

/* The backend (relay "maildir").  Creates the Maildir when it is missing
 * (maildir_create); NULL with err filled when that fails. */
struct backend *maildir_backend_new(const char *dir, char *err,
    size_t errlen);

#endif
