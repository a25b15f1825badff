/*
 * smtp.h - delivery over SMTP through libESMTP: one session carries a
 * whole share of a batch (libESMTP pipelines MAIL/RCPT/DATA when the
 * server offers PIPELINING, RFC 2920), and a few sessions run in parallel.
 */
#ifndef POSTMAN_SMTP_H
#define POSTMAN_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "postman/delivery.h"

struct smtp_opts {
	const char *server;	/* HOST[:PORT], port 25 when absent */
	int connections;	/* parallel sessions per batch, >= 1 */
	bool starttls;		/* require STARTTLS (RFC 3207) */
	const char *cacert;	/* CAs for the server's certificate; NULL:
				 * the system's */
	const char *user;	/* AUTH (RFC 4954) when not NULL */
	const char *password;
	double timeout;		/* seconds per protocol step */
};

/* The outcome of an SMTP reply code: 2xx sent, 4xx deferred, 5xx
 * bounced (RFC 5321 4.2.1); anything else, including 0 for "no reply"
 * (connection lost, timeout), deferred. */
enum outcome smtp_code_outcome(int code);

/* Copies data into a malloc'd buffer whose lines all end in CRLF (a bare
 * CR or LF becomes CRLF, RFC 5321 2.3.8), so that the server and we agree
 * on where lines, and the data, end.  *out_len gets the new length.
 * NULL when out of memory. */
char *smtp_crlf(const unsigned char *data, size_t len, size_t *out_len);

/* The backend.  NULL with err filled on bad options. */
struct backend *smtp_backend_new(const struct smtp_opts *o, char *err,
    size_t errlen);

#endif
