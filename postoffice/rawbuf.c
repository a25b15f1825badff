/*
 * rawbuf.c - a message's raw bytes in memory, then in an unnamed file.
 */
#include "postoffice/rawbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

struct rawbuf {
	int dirfd;
	int fd;			/* -1 while in memory */
	size_t mem_max;
	unsigned char *mem;
	size_t size, cap;
	size_t rpos;		/* read position in memory */
};

struct rawbuf *
rawbuf_new(int dirfd, size_t mem_max)
{
	struct rawbuf *rb;

	if ((rb = calloc(1, sizeof(*rb))) == NULL)
		return NULL;
	rb->dirfd = dirfd;
	rb->fd = -1;
	rb->mem_max = mem_max;
	return rb;
}

void
rawbuf_free(struct rawbuf *rb)
{
	if (rb == NULL)
		return;
	if (rb->fd != -1)
		close(rb->fd);
	free(rb->mem);
	free(rb);
}

/* An unnamed file in the folder.  Where O_TMPFILE is unsupported, a
 * named file is created and unlinked at once. */
static int
open_unnamed(int dirfd)
{
	char name[64];
	int fd, i;

	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "raw.%ld.%d.%d", (long)getpid(),
		    rand(), i);
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (fd != -1) {
			unlinkat(dirfd, name, 0);
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static int
spill(struct rawbuf *rb)
{
	if ((rb->fd = open_unnamed(rb->dirfd)) == -1)
		return -1;
	if (util_write_all(rb->fd, rb->mem, rb->size) == -1)
		return -1;
	free(rb->mem);
	rb->mem = NULL;
	rb->cap = 0;
	return 0;
}

int
rawbuf_write(struct rawbuf *rb, const void *buf, size_t len)
{
	unsigned char *nm;
	size_t cap;

	if (rb->fd == -1 && rb->size + len > rb->mem_max && spill(rb) == -1)
		return -1;
	if (rb->fd != -1) {
		if (util_write_all(rb->fd, buf, len) == -1)
			return -1;
		rb->size += len;
		return 0;
	}
	if (rb->size + len > rb->cap) {
		cap = rb->cap ? rb->cap : 4096;
		while (cap < rb->size + len)
			cap *= 2;
		if ((nm = realloc(rb->mem, cap)) == NULL)
			return -1;
		rb->mem = nm;
		rb->cap = cap;
	}
	memcpy(rb->mem + rb->size, buf, len);
	rb->size += len;
	return 0;
}

size_t
rawbuf_size(const struct rawbuf *rb)
{
	return rb->size;
}

const unsigned char *
rawbuf_mem(const struct rawbuf *rb)
{
	if (rb->fd != -1)
		return NULL;
	return rb->mem != NULL ? rb->mem : (const unsigned char *)"";
}

int
rawbuf_fd(const struct rawbuf *rb)
{
	return rb->fd;
}

int
rawbuf_rewind(struct rawbuf *rb)
{
	rb->rpos = 0;
	if (rb->fd != -1 && lseek(rb->fd, 0, SEEK_SET) == -1)
		return -1;
	return 0;
}

ssize_t
rawbuf_read(void *arg, void *buf, size_t len)
{
	struct rawbuf *rb = arg;
	ssize_t n;
	size_t left;

	if (rb->fd == -1) {
		left = rb->size - rb->rpos;
		if (len > left)
			len = left;
		if (len > 0)
			memcpy(buf, rb->mem + rb->rpos, len);
		rb->rpos += len;
		return (ssize_t)len;
	}
	do {
		n = read(rb->fd, buf, len);
	} while (n == -1 && errno == EINTR);
	return n;
}
