/*
 * util.c - see util.h.
 */
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
strbuf_reserve(struct strbuf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1)
		cap *= 2;
	if ((np = realloc(b->p, cap)) == NULL)
		return -1;
	b->p = np;
	b->cap = cap;
	return 0;
}

int
strbuf_append(struct strbuf *b, const void *buf, size_t len)
{
	if (strbuf_reserve(b, len) == -1)
		return -1;
	memcpy(b->p + b->len, buf, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}
