/*
 * options.h - PostMan's command line.
 */
#ifndef POSTMAN_OPTIONS_H
#define POSTMAN_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/limits.h"

struct postman_opts {
	char *url;			/* normalised base URL (malloc'd) */
	/* PostMaster */
	const char *user;
	const char *password_file;
	const char *password;		/* --password: visible in ps */
	const char *netrc_file;
	const char *cacert;
	bool insecure;
	const char *cert;		/* client certificate, NULL: none */
	const char *key;		/* its key, NULL: in cert's file */
	double connect_timeout;		/* 10 */
	double timeout;			/* 60 */
	size_t max_response;		/* LIMIT_RESPONSE */
	long batch;			/* 0: PostMaster's --batch */
	double max_time;		/* 110; 0: no limit */
	bool watch;
	long wait;			/* 25 with --watch, else 0 */
	/* delivery */
	const char *sendmail;		/* /usr/sbin/sendmail */
	double sendmail_timeout;	/* 60 */
	long sendmail_parallel;		/* 2 */
	const char *smtp;		/* NULL: sendmail */
	const char *maildir;		/* NULL: sendmail or SMTP */
	long smtp_connections;		/* 4 */
	bool starttls;
	const char *smtp_cacert;	/* NULL: the system's CAs */
	const char *smtp_user;
	const char *smtp_password_file;
	double smtp_timeout;		/* 60 */
	long max_recipients;		/* 1000 */
	/* this process */
	const char *lock;		/* NULL: lock_default_path() */
	const char *log;		/* NULL: stderr */
	bool syslog;
	bool help;
	bool version;
};

/* The least --max-response: a lease's head and tail with one message of
 * 64 KiB, the size RFC 5321 4.5.3.1.7 says every SMTP server must take.
 * Below it, not even a small message would ever come through. */
#define OPTS_MAX_RESPONSE_MIN (LIMIT_LEASE_OVERHEAD + 64UL * 1024)

/* Fills o from argv (getopt_long; may be called again: it resets optind).
 * Returns 0, or -1 with a one-line reason in err (a usage error): a bad
 * value, or settings that cannot work together (doc/postman.md lists them).  With
 * --help or --version, o->help / o->version is set and nothing else is
 * required.  Free with opts_free(). */
int opts_parse(int argc, char **argv, struct postman_opts *o, char *err,
    size_t errlen);
void opts_free(struct postman_opts *o);

/* The --help text. */
extern const char opts_usage[];

#endif
