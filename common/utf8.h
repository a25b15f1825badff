/*
 * utf8.h - incremental UTF-8 validation (RFC 3629): rejects overlong forms,
 * surrogates, code points above U+10FFFF and, for our purpose, NUL (a JSON
 * string handled through C strings cannot carry it).
 */
#ifndef POSTOFFICE_UTF8_H
#define POSTOFFICE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

struct utf8_check {
	unsigned need;		/* continuation bytes still expected */
	unsigned char lo, hi;	/* allowed range of the next byte */
	bool bad;
};

void utf8_check_init(struct utf8_check *c);
/* Feeds len bytes; may be called with any split of the input. */
void utf8_check_feed(struct utf8_check *c, const void *buf, size_t len);
/* True when everything fed was valid and no sequence is left open. */
bool utf8_check_done(const struct utf8_check *c);
/* One-shot form of the above. */
bool utf8_valid(const void *buf, size_t len);
/* How many octets at the start of buf are ASCII other than NUL (0x01 to
 * 0x7f): valid UTF-8 whatever precedes or follows them. */
size_t utf8_ascii_span(const void *buf, size_t len);

#endif
