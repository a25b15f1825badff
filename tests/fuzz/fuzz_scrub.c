/*
 * fuzz_scrub.c - the trace-header scrubber on arbitrary messages.
 *
 * Input: byte 0 chooses passthrough, identifier rewriting (scrub_set_msgid)
 * and the split, the rest is the message.  Properties checked:
 *   - with passthrough the output is the input; without identifier
 *     rewriting it is never longer than the input;
 *   - the output does not depend on how the input is split (whole, and
 *     in chunks of 1..16 octets);
 *   - without identifier rewriting, the output is the input with whole
 *     lines removed (lines end at LF), in order;
 *   - in the header section of the output (up to the first line that
 *     starts with CR or LF) no field is named Received, X-Originating-IP,
 *     X-PHP-Originating-Script or X-PHP-Script, with any case and blanks
 *     before the colon; this is checked independently of the scrubber's
 *     own name matching.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "postoffice/scrub.h"
#include "tests/fuzz/fuzz.h"

struct fz_buf {
	unsigned char *p;
	size_t len, cap;
};

static int
fz_scrub_sink(void *arg, const void *buf, size_t len)
{
	struct fz_buf *b = arg;

	FUZZ_CHECK(b->len + len <= b->cap);
	memcpy(b->p + b->len, buf, len);
	b->len += len;
	return 0;
}

static void
fz_scrub_run(const uint8_t *data, size_t size, bool passthrough, int msgid,
    size_t chunk, struct fz_buf *out)
{
	struct scrub sc;
	size_t off = 0, n;
	unsigned char *copy;

	scrub_init(&sc, passthrough);
	/* Identifier rewriting: replaced (1) or removed (2). */
	if (msgid)
		FUZZ_CHECK(scrub_set_msgid(&sc, "backend.internal",
		    msgid == 1 ? "relay.example" : NULL, "fuzz0123") == 0);
	while (off < size) {
		n = chunk == 0 || chunk > size - off ? size - off : chunk;
		copy = malloc(n);
		FUZZ_CHECK(copy != NULL);
		memcpy(copy, data + off, n);
		FUZZ_CHECK(scrub_feed(&sc, copy, n, fz_scrub_sink, out) == 0);
		free(copy);
		off += n;
	}
	FUZZ_CHECK(scrub_finish(&sc, fz_scrub_sink, out) == 0);
}

/* True when the line p[0..len) names a trace field: NAME *WSP ":". */
static bool
fz_scrub_is_trace(const unsigned char *p, size_t len)
{
	static const char *const names[] = { "Received", "X-Originating-IP",
	    "X-PHP-Originating-Script", "X-PHP-Script" };
	size_t i, k;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		k = strlen(names[i]);
		if (len < k || strncasecmp((const char *)p, names[i], k) != 0)
			continue;
		while (k < len && (p[k] == ' ' || p[k] == '\t'))
			k++;
		if (k < len && p[k] == ':')
			return true;
	}
	return false;
}

static size_t
fz_line_len(const unsigned char *p, size_t len)
{
	const unsigned char *lf = memchr(p, '\n', len);

	return lf ? (size_t)(lf - p) + 1 : len;
}

int fuzz_scrub(const uint8_t *data, size_t size);

int
fuzz_scrub(const uint8_t *data, size_t size)
{
	struct fz_buf whole, split;
	bool passthrough;
	int msgid;
	size_t chunk, i, o, li, lo;

	if (size < 1)
		return 0;
	passthrough = (data[0] & 0x80) != 0;
	msgid = (data[0] >> 5) & 3;
	if (msgid == 3)
		msgid = 0;
	chunk = (data[0] & 0x0f) + 1;
	data++;
	size--;

	/* A rewritten identifier or cid: URL may be longer than the one it
	 * replaces: "<a@b>" (5 octets) becomes 48. */
	whole.cap = split.cap = msgid ? size * 10 + 4096 : size;
	whole.len = split.len = 0;
	whole.p = malloc(whole.cap + 1);
	split.p = malloc(split.cap + 1);
	FUZZ_CHECK(whole.p != NULL && split.p != NULL);
	fz_scrub_run(data, size, passthrough, msgid, 0, &whole);
	fz_scrub_run(data, size, passthrough, msgid, chunk, &split);

	FUZZ_CHECK(whole.len == split.len &&
	    memcmp(whole.p, split.p, whole.len) == 0);
	if (passthrough)
		FUZZ_CHECK(whole.len == size && memcmp(whole.p, data, size) == 0);
	if (!msgid)
		FUZZ_CHECK(whole.len <= size);

	/* Whole lines removed, in order: match output lines greedily
	 * (identifier rewriting changes lines, so not with it). */
	for (i = 0, o = 0; !msgid && o < whole.len; ) {
		lo = fz_line_len(whole.p + o, whole.len - o);
		for (;;) {
			FUZZ_CHECK(i < size);
			li = fz_line_len(data + i, size - i);
			i += li;
			if (li == lo && memcmp(data + i - li, whole.p + o, lo) == 0)
				break;
		}
		o += lo;
	}

	/* The header section of the output carries no trace field. */
	if (!passthrough) {
		for (o = 0; o < whole.len; o += lo) {
			lo = fz_line_len(whole.p + o, whole.len - o);
			if (whole.p[o] == '\r' || whole.p[o] == '\n')
				break;
			FUZZ_CHECK(!fz_scrub_is_trace(whole.p + o, lo));
		}
	}
	free(whole.p);
	free(split.p);
	return 0;
}

FUZZ_TARGET(fuzz_scrub)
