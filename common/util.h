/*
 * util.h - small helpers the daemons share.  Nothing here logs or exits.
 */
#ifndef POSTOFFICE_UTIL_H
#define POSTOFFICE_UTIL_H

#include <stddef.h>

/* Writes all len bytes to fd, retrying after EINTR and short writes.
 * 0, or -1 with errno set (what was written before stays written). */
int util_write_all(int fd, const void *buf, size_t len);

/* A growable byte buffer, always NUL-terminated once non-empty.  Start
 * from { NULL, 0, 0 }; the caller owns p and frees it. */
struct strbuf {
	char *p;
	size_t len, cap;
};

/* Makes room for n more bytes (and the NUL) without changing the
 * contents.  0, or -1 (ENOMEM) leaving the buffer unchanged. */
int strbuf_reserve(struct strbuf *b, size_t n);
/* Appends len bytes.  0, or -1 (ENOMEM) leaving the buffer unchanged. */
int strbuf_append(struct strbuf *b, const void *buf, size_t len);

#endif
