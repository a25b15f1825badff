/*
 * htpasswd.h - HTTP basic auth credentials from an htpasswd file, the
 * format of nginx's auth_basic_user_file and Apache's htpasswd(1):
 * one "user:hash" per line, '#' comments and blank lines ignored.
 *
 * Hashes are checked with crypt(3) (libxcrypt).  Accepted schemes are the
 * ones that are still considered sound: bcrypt ($2y$, $2b$, $2a$) and
 * SHA-crypt ($6$ SHA-512, $5$ SHA-256).  Anything else (Apache's $apr1$
 * MD5, {SHA}, DES crypt, plain text) is refused when the file is loaded.
 */
#ifndef POSTMASTER_HTPASSWD_H
#define POSTMASTER_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>

/* Longest user name and hash accepted on a line. */
#define HTPASSWD_USER_MAX 255
#define HTPASSWD_HASH_MAX 255
/* Credentials that passed are remembered (a keyed SHA-256 of user and
 * password, never the password) this many at most, for this long: a
 * client making one request per message pays one crypt(3) run, not one
 * per request.  A reload makes a new struct htpasswd: an empty cache. */
#define HTPASSWD_CACHE 16
#define HTPASSWD_CACHE_SECONDS 300

struct htpasswd;

/* Parses the text of an htpasswd file.  NULL with err filled ("line N:
 * ...") when a line is malformed or uses a refused scheme.  Free with
 * htpasswd_free(). */
struct htpasswd *htpasswd_parse(const char *text, size_t len, char *err,
    size_t errlen);
/* Reads and parses FILE.  NULL with err filled ("FILE: ...") and errno
 * set: the open's or read's, or EINVAL when the content is refused. */
struct htpasswd *htpasswd_load(const char *path, char *err, size_t errlen);
void htpasswd_free(struct htpasswd *h);

size_t htpasswd_count(const struct htpasswd *h);

/* True when user is listed and password matches its hash: a remembered
 * pass (see htpasswd_cached()), else a crypt(3) run, remembered when it
 * passes.  The work done does not depend on whether the user exists (an
 * unknown user is checked against a hash of the same scheme and cost)
 * and the hash comparison is constant-time, so the answer's timing does
 * not tell which part was wrong.  Not thread-safe (one crypt buffer per
 * file): a server checks with the three calls below instead. */
bool htpasswd_check(struct htpasswd *h, const char *user,
    const char *password);

/* True when user and password passed a check of h within the last
 * HTPASSWD_CACHE_SECONDS: no crypt(3) run is needed. */
bool htpasswd_cached(struct htpasswd *h, const char *user,
    const char *password);
/* Remembers that user and password passed (see htpasswd_cached()). */
void htpasswd_remember(struct htpasswd *h, const char *user,
    const char *password);

/* One crypt(3) check, made to run on any thread: everything it needs is
 * copied out of the file by htpasswd_job_new(), so the file may be
 * reloaded (and freed) meanwhile. */
struct htpasswd_job;
/* NULL when out of memory.  Free with htpasswd_job_free() (which wipes
 * the password). */
struct htpasswd_job *htpasswd_job_new(const struct htpasswd *h,
    const char *user, const char *password);
/* Runs crypt(3); *data and *size are the calling thread's crypt buffer
 * (crypt_ra(3): start with NULL and 0, free *data when done).  Returns
 * what htpasswd_job_passed() will. */
bool htpasswd_job_run(struct htpasswd_job *j, void **data, int *size);
/* Whether the job's user is listed and its password matched. */
bool htpasswd_job_passed(const struct htpasswd_job *j);
void htpasswd_job_free(struct htpasswd_job *j);

#endif
