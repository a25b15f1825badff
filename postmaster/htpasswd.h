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

/* True when user is listed and password matches its hash.  The work done
 * does not depend on whether the user exists (an unknown user is checked
 * against a hash of the same scheme and cost) and the hash comparison is
 * constant-time, so the answer's timing does not tell which part was
 * wrong.  Not thread-safe (one crypt buffer per file). */
bool htpasswd_check(struct htpasswd *h, const char *user,
    const char *password);

#endif
