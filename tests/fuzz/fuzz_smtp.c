/*
 * fuzz_smtp.c - one SMTP session fed arbitrary bytes: commands and
 * message data in one stream, in chunks of a size the input chooses, so
 * that pipelined commands, a final dot followed by more commands and
 * lines split anywhere all occur.  The commit callback alternates success
 * and failure, and alternates committing inside data_end and after feed
 * returned, so both paths of the asynchronous end of DATA run.
 *
 * Input: byte 0 chooses the configuration, byte 1 the chunk size, the
 * rest is what the client sends.
 *
 * Properties checked:
 *   - every reply is one or more lines "DDD SP text CRLF" / "DDD-text
 *     CRLF" with a 2xx-5xx code and no other CR or LF;
 *   - smtp_session_feed consumes everything unless the session waits for
 *     a commit or has closed, and nothing while it waits;
 *   - data_end reports the number of octets data_write delivered, never
 *     more than max_size, for an envelope with a sender and a recipient;
 *   - committed data holds no bare CR or LF (either policy), and no more
 *     messages end than the input holds "\n.\r\n" sequences: nothing can
 *     be smuggled;
 *   - no callback is called after close.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "postoffice/smtp.h"
#include "tests/fuzz/fuzz.h"

struct fz_smtp {
	struct smtp_session *s;
	size_t max_size;
	size_t written;		/* octets delivered since data_begin */
	bool in_data, closed, pending;
	bool fail_begin, fail_write;
	unsigned begins, ends, commits;
	unsigned char last;	/* last data octet written, for bare checks */
	bool have_last;
};

static void
fz_smtp_reply(void *arg, const char *buf, size_t len)
{
	struct fz_smtp *f = arg;
	size_t i = 0, start;

	FUZZ_CHECK(!f->closed);
	FUZZ_CHECK(len >= 6);
	while (i < len) {
		start = i;
		FUZZ_CHECK(len - start >= 6);
		FUZZ_CHECK(buf[i] >= '2' && buf[i] <= '5');
		FUZZ_CHECK(buf[i + 1] >= '0' && buf[i + 1] <= '9');
		FUZZ_CHECK(buf[i + 2] >= '0' && buf[i + 2] <= '9');
		FUZZ_CHECK(buf[i + 3] == ' ' || buf[i + 3] == '-');
		for (i += 4; i < len && buf[i] != '\n' && buf[i] != '\r'; i++)
			;
		/* The line ends in CRLF, and nothing else in it is a CR or
		 * LF: a client reads exactly the replies we meant. */
		FUZZ_CHECK(i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n');
		i += 2;
		/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets. */
		FUZZ_CHECK(i - start <= 512);
	}
}

static int
fz_smtp_begin(void *arg, const struct smtp_envelope *env)
{
	struct fz_smtp *f = arg;

	FUZZ_CHECK(!f->closed && !f->in_data && !f->pending);
	FUZZ_CHECK(env->mail_from != NULL && env->nrcpt > 0);
	f->begins++;
	if (f->fail_begin && f->begins % 3 == 0)
		return -1;
	f->in_data = true;
	f->written = 0;
	f->have_last = false;
	return 0;
}

static int
fz_smtp_write(void *arg, const void *buf, size_t len)
{
	struct fz_smtp *f = arg;
	const unsigned char *p = buf;
	size_t i;

	FUZZ_CHECK(f->in_data && !f->closed);
	FUZZ_CHECK(len > 0);
	for (i = 0; i < len; i++) {
		unsigned char prev = i > 0 ? p[i - 1] : f->last;
		bool have_prev = i > 0 || f->have_last;

		/* Only CRLF pairs reach the message. */
		if (p[i] == '\n')
			FUZZ_CHECK(have_prev && prev == '\r');
		if (have_prev && prev == '\r')
			FUZZ_CHECK(p[i] == '\n');
	}
	f->last = p[len - 1];
	f->have_last = true;
	f->written += len;
	FUZZ_CHECK(f->written <= f->max_size);
	if (f->fail_write && f->begins % 2 == 0)
		return -1;
	return 0;
}

static void
fz_smtp_commit(struct fz_smtp *f)
{
	f->pending = false;
	f->commits++;
	/* Success and failure alternate. */
	smtp_session_committed(f->s, f->commits % 2 ?
	    "0123456789abcdef0123456789abcdef" : NULL);
}

static void
fz_smtp_end(void *arg, const struct smtp_envelope *env, size_t size)
{
	struct fz_smtp *f = arg;

	FUZZ_CHECK(f->in_data && !f->closed && !f->pending);
	FUZZ_CHECK(env->mail_from != NULL && env->nrcpt > 0);
	FUZZ_CHECK(size == f->written);
	/* A message ends at a line end: its last octet is the LF of a
	 * CRLF, or it is empty. */
	FUZZ_CHECK(size == 0 || f->last == '\n');
	f->in_data = false;
	f->ends++;
	f->pending = true;
	/* Every other message is committed from inside the callback. */
	if (f->ends % 2 == 0)
		fz_smtp_commit(f);
}

static void
fz_smtp_abort(void *arg)
{
	struct fz_smtp *f = arg;

	FUZZ_CHECK(f->in_data);
	f->in_data = false;
}

static void
fz_smtp_close(void *arg)
{
	struct fz_smtp *f = arg;

	FUZZ_CHECK(!f->closed);
	f->closed = true;
}

static const struct smtp_callbacks fz_smtp_cb = {
	fz_smtp_reply, fz_smtp_begin, fz_smtp_write, fz_smtp_end,
	fz_smtp_abort, fz_smtp_close,
};

/* Occurrences of "\n.\r\n": each message that ends needs its own. */
static size_t
fz_smtp_dot_lines(const uint8_t *p, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i + 3 < len; i++)
		if (p[i] == '\n' && p[i + 1] == '.' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			n++;
	return n;
}

int fuzz_smtp(const uint8_t *data, size_t size);

int
fuzz_smtp(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 64, 512, 4096, 0 };
	struct smtp_config cfg;
	struct fz_smtp f;
	uint8_t mode, csel;
	size_t off, chunk, n, used;
	unsigned char *copy;

	if (size < 2)
		return 0;
	mode = data[0];
	csel = data[1];
	data += 2;
	size -= 2;

	memset(&f, 0, sizeof(f));
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.fuzz.example";
	cfg.bare_newline = mode & 1 ? SMTP_BARE_NORMALIZE : SMTP_BARE_REJECT;
	cfg.max_size = mode & 2 ? 100 : LIMIT_MESSAGE_SIZE;
	cfg.max_rcpt = mode & 4 ? 2 : SMTP_DEFAULT_MAX_RCPT;
	cfg.max_line = mode & 8 ? SMTP_MIN_LINE : SMTP_DEFAULT_MAX_LINE;
	f.fail_begin = mode & 16;
	f.fail_write = mode & 32;
	f.max_size = cfg.max_size;
	chunk = chunks[csel % 8];

	f.s = smtp_session_new(&cfg, &fz_smtp_cb, &f, "192.0.2.1");
	if (f.s == NULL)
		return 0;
	smtp_session_start(f.s, mode & 64 && mode & 128 ? SMTP_GREET_DENIED :
	    SMTP_GREET_OK);

	off = 0;
	while (off < size && !f.closed) {
		n = chunk == 0 || chunk > size - off ? size - off : chunk;
		/* An exact-size copy, so reading past the chunk is caught. */
		if ((copy = malloc(n)) == NULL)
			break;
		memcpy(copy, data + off, n);
		used = smtp_session_feed(f.s, copy, n);
		free(copy);
		FUZZ_CHECK(used <= n);
		off += used;
		if (used == n)
			continue;
		FUZZ_CHECK(smtp_session_waiting(f.s) || smtp_session_closed(f.s));
		FUZZ_CHECK(f.pending || f.closed);
		if (f.pending) {
			/* Nothing is consumed while a commit is under way. */
			FUZZ_CHECK(smtp_session_feed(f.s, data + off, 1) == 0);
			fz_smtp_commit(&f);
		}
	}
	if (f.pending)
		fz_smtp_commit(&f);
	FUZZ_CHECK(f.ends <= fz_smtp_dot_lines(data, size));
	FUZZ_CHECK(f.closed == smtp_session_closed(f.s));
	/* The session may also end by a timeout or a shutdown. */
	if (!f.closed && (mode & 192) == 64)
		smtp_session_timeout(f.s);
	else if (!f.closed && (mode & 192) == 128)
		smtp_session_shutdown(f.s);
	smtp_session_free(f.s);
	return 0;
}

FUZZ_TARGET(fuzz_smtp)
