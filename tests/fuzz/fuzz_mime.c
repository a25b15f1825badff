/*
 * fuzz_mime.c - subject and body extraction (GMime) on arbitrary
 * messages.
 *
 * Input: byte 0 chooses the body cap, the rest is the message.
 * Properties checked:
 *   - extraction succeeds (a message GMime cannot read has an empty
 *     subject and body, it is not an error);
 *   - subject and body are valid UTF-8 without NUL, so the spool's JSON
 *     is valid, and the body is at most the cap;
 *   - reading the message from a file gives exactly what reading it from
 *     memory gives (the daemon uses the file for large messages);
 *   - mime_utf8_clean makes valid UTF-8 of any bytes, and leaves valid
 *     UTF-8 without NUL unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/utf8.h"
#include "postoffice/mime.h"
#include "tests/fuzz/fuzz.h"

static int
fz_mime_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-mime", 0);
	size_t off = 0;
	ssize_t n;

	FUZZ_CHECK(fd != -1);
	while (off < size) {
		n = write(fd, data + off, size - off);
		FUZZ_CHECK(n > 0);
		off += n;
	}
	return fd;
}

int fuzz_mime(const uint8_t *data, size_t size);

int
fuzz_mime(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 1, 5, 64, 4096, MIME_DEFAULT_BODY_MAX };
	char *subject, *body, *fsubject, *fbody, *clean;
	size_t cap;
	int fd;

	if (size < 1)
		return 0;
	cap = caps[data[0] % 5];
	data++;
	size--;

	FUZZ_CHECK(mime_extract_mem(data, size, cap, &subject, &body) == 0);
	FUZZ_CHECK(utf8_valid(subject, strlen(subject)));
	FUZZ_CHECK(utf8_valid(body, strlen(body)));
	FUZZ_CHECK(strlen(body) <= cap);

	fd = fz_mime_memfd(data, size);
	FUZZ_CHECK(mime_extract_fd(fd, cap, &fsubject, &fbody) == 0);
	close(fd);
	FUZZ_CHECK(strcmp(subject, fsubject) == 0);
	FUZZ_CHECK(strcmp(body, fbody) == 0);

	clean = mime_utf8_clean((const char *)data, size);
	FUZZ_CHECK(clean != NULL);
	FUZZ_CHECK(utf8_valid(clean, strlen(clean)));
	FUZZ_CHECK(strlen(clean) <= size * 3);
	if (utf8_valid(data, size))
		FUZZ_CHECK(strlen(clean) == size && memcmp(clean, data, size) == 0);

	free(clean);
	free(subject);
	free(body);
	free(fsubject);
	free(fbody);
	return 0;
}

FUZZ_TARGET(fuzz_mime)
