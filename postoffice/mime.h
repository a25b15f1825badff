/*
 * mime.h - the spool's "subject" and "body" fields, read from a message
 * with GMime: the Subject with RFC 2047 encoded-words decoded, and the
 * text of the first text/plain part that is not an attachment (else the
 * first text/html one), transfer-decoded (base64, quoted-printable) and
 * converted from its charset to UTF-8.  Both results are valid UTF-8
 * without NUL: what cannot be decoded becomes U+FFFD, and 8-bit text with
 * no or an unknown charset is read as ISO-8859-1 unless it is already
 * UTF-8.  For the common message of one text/plain part the same
 * strings come from a scan of its header block and GMime's decoders,
 * without the cost of GMime's object tree.
 */
#ifndef POSTOFFICE_MIME_H
#define POSTOFFICE_MIME_H

#include <stddef.h>

/* Default cap on the extracted body text: the whole message is in the
 * "data" field anyway, and the cap keeps a huge text part from being
 * held in memory. */
#define MIME_DEFAULT_BODY_MAX (1024 * 1024)

/* Initializes GMime once per process; later calls do nothing. */
void mime_init(void);
/* Releases GMime's global state (at exit). */
void mime_shutdown(void);

/* Extracts from the message in memory.  *subject and *body are malloc'd
 * ("" when absent); the body is cut at body_max octets on a character
 * boundary.  Returns 0, or -1 when out of memory.  A message of one
 * text/plain part takes mime_extract_simple(), any other GMime's
 * parser (mime_extract_parsed()); both give the same strings. */
int mime_extract_mem(const void *buf, size_t len, size_t body_max,
    char **subject, char **body);
/* The fast path alone: 1 with *subject and *body filled as above when
 * the message is of the simple form it takes (one text/plain part in
 * us-ascii, UTF-8 or ISO-8859-1, 7bit, 8bit, binary, quoted-printable or
 * base64; a plain CRLF header block), 0 when it is not (nothing is
 * allocated), -1 when out of memory. */
int mime_extract_simple(const void *buf, size_t len, size_t body_max,
    char **subject, char **body);
/* GMime's parser alone, for any message: as mime_extract_mem(). */
int mime_extract_parsed(const void *buf, size_t len, size_t body_max,
    char **subject, char **body);
/* The same from the file open as fd (read from its start; fd is not
 * closed and its offset is undefined afterwards).  The message is parsed
 * from the file, not loaded whole. */
int mime_extract_fd(int fd, size_t body_max, char **subject, char **body);

/* Copies len bytes of s into a malloc'd NUL-terminated string that is
 * valid UTF-8: invalid sequences become U+FFFD, NUL bytes are dropped.
 * NULL when out of memory. */
char *mime_utf8_clean(const char *s, size_t len);

#endif
