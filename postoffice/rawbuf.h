/*
 * rawbuf.h - the raw bytes of one message while it is received: kept in
 * memory while small, moved to an unnamed file in the spool's .tmp folder
 * once larger, so a big message costs disk, not memory.  The file has no
 * name (O_TMPFILE, or unlinked at once where that is unsupported), so a
 * crash cannot leave it behind.
 */
#ifndef POSTOFFICE_RAWBUF_H
#define POSTOFFICE_RAWBUF_H

#include <stddef.h>
#include <sys/types.h>

/* Bytes kept in memory before spilling to a file. */
#define RAWBUF_MEM_MAX (256 * 1024)

struct rawbuf;

/* A new empty buffer that spills into folder dirfd beyond mem_max bytes.
 * NULL when out of memory. */
struct rawbuf *rawbuf_new(int dirfd, size_t mem_max);
/* Closes the file, if any, and frees.  Accepts NULL. */
void rawbuf_free(struct rawbuf *rb);

/* Appends len bytes.  0, or -1 with errno set (file creation or write
 * failed, out of memory). */
int rawbuf_write(struct rawbuf *rb, const void *buf, size_t len);
/* Bytes written so far. */
size_t rawbuf_size(const struct rawbuf *rb);
/* The bytes when they are in memory (size in rawbuf_size), else NULL. */
const unsigned char *rawbuf_mem(const struct rawbuf *rb);
/* The file descriptor when spilled, else -1.  Owned by rb. */
int rawbuf_fd(const struct rawbuf *rb);

/* Starts reading from the beginning.  0 or -1. */
int rawbuf_rewind(struct rawbuf *rb);
/* Reads up to len bytes at the read position: a message_source.  Returns
 * the count, 0 at the end, -1 on error. */
ssize_t rawbuf_read(void *rb, void *buf, size_t len);

#endif
