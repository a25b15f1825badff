/*
 * test_postoffice_mime_fast.c - the fast path for messages of one
 * text/plain part gives byte for byte the subject and body GMime's
 * parser gives, over a corpus built from many subjects, Content-Types,
 * transfer encodings, bodies, line ends and body caps, over the MIME fuzz
 * seeds, and over mutations of them; and it leaves to the parser every
 * message it cannot read exactly so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postoffice/mime.h"

/* How often the fast path took a message, of all compared. */
static unsigned long taken, compared;

/* Runs both paths over the len octets at msg with body cap max.  When
 * the fast path takes the message, the two must agree exactly.  Returns
 * whether it took it. */
static bool
same(const void *msg, size_t len, size_t max)
{
	char *fs, *fb, *ps, *pb;
	int rc;

	rc = mime_extract_simple(msg, len, max, &fs, &fb);
	assert_int_not_equal(rc, -1);
	compared++;
	if (rc == 0)
		return false;
	taken++;
	assert_int_equal(mime_extract_parsed(msg, len, max, &ps, &pb), 0);
	if (strcmp(fs, ps) != 0 || strcmp(fb, pb) != 0) {
		print_error("fast path and GMime differ (cap %zu) on:\n%.*s\n"
		    "subject fast <%s>\n      GMime <%s>\nbody fast <%s>\n"
		    "     GMime <%s>\n", max, (int)(len > 600 ? 600 : len),
		    (const char *)msg, fs, ps, fb, pb);
		fail();
	}
	free(fs);
	free(fb);
	free(ps);
	free(pb);
	return true;
}

static bool
same_str(const char *msg)
{
	return same(msg, strlen(msg), MIME_DEFAULT_BODY_MAX);
}

/* A message from header lines (each without its line end), joined by
 * eol, then an empty line, then body. */
static char *
build(const char *const *headers, size_t nh, const char *eol,
    const void *body, size_t blen, size_t *len)
{
	GString *s = g_string_new(NULL);
	size_t i;

	for (i = 0; i < nh; i++) {
		if (headers[i] == NULL)
			continue;
		g_string_append(s, headers[i]);
		g_string_append(s, eol);
	}
	g_string_append(s, eol);
	g_string_append_len(s, body, (gssize)blen);
	*len = s->len;
	return g_string_free(s, FALSE);
}

/* Replaces every "\n" of a header not preceded by "\r" with eol (so a
 * folded header follows the message's line ends). */
static char *
with_eol(const char *h, const char *eol)
{
	GString *s = g_string_new(NULL);

	for (; *h != '\0'; h++) {
		if (*h == '\n')
			g_string_append(s, eol);
		else
			g_string_append_c(s, *h);
	}
	return g_string_free(s, FALSE);
}

static const char *const subjects[] = {
	NULL,
	"Subject: hello",
	"Subject:hello",
	"Subject:",
	"Subject:    ",
	"Subject:  padded  \t",
	"subject: lower case name",
	"SUBJECT: upper case name",
	"Subject: one\n two",
	"Subject: one\n\ttab-folded\n   and again",
	"Subject:\n starts folded",
	"Subject: =?UTF-8?Q?caf=C3=A9?=",
	"Subject: =?utf-8?B?w6lsw6hwaGFudA==?=",
	"Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus Wien",
	"Subject: =?UTF-8?Q?a?= =?UTF-8?Q?b?=",
	"Subject: =?UTF-8?Q?a?=\n =?UTF-8?Q?b?= c",
	"Subject: =?koi8-r?B?8NLJ18XU?=",
	"Subject: =?windows-1252?Q?=80_5?=",
	"Subject: =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=",
	"Subject: =?gb2312?B?xOO6ww==?=",
	"Subject: =?shift_jis?B?g2WDWINn?=",
	"Subject: =?UTF-8?Q?broken",
	"Subject: =?UTF-8?X?unknown_encoding?=",
	"Subject: =?no-such-charset?Q?x=41y?=",
	"Subject: =?UTF-8?B?not base64!?=",
	"Subject: =?UTF-8*en?Q?with_language?=",
	"Subject: word=?UTF-8?Q?glued?=word",
	"Subject: caf\xc3\xa9 raw UTF-8",
	"Subject: caf\xe9 raw Latin-1",
	"Subject: \xff\xfe odd octets \x80",
	"Subject: tab\there",
	"Subject: Re: [list] \"quoted\" (comment) <angle>",
};

#define NSUBJECTS (sizeof(subjects) / sizeof(subjects[0]))

static const char *const ctypes[] = {
	NULL,
	"Content-Type: text/plain",
	"Content-Type: TEXT/PLAIN; CHARSET=UTF-8",
	"Content-Type: text/plain; charset=\"us-ascii\"",
	"Content-Type: text/plain;charset=utf-8;format=flowed",
	"Content-Type: text/plain; format=flowed; delsp=yes; charset=iso-8859-1",
	"Content-Type: text/plain; charset=latin1",
	"Content-Type: text/plain; charset=utf8",
	"Content-Type: text/plain; charset=ascii",
	"Content-Type: text/plain;\n charset=utf-8",
	"Content-Type: text/plain  ;  charset=utf-8  ",
	"Content-Type: text/plain; charset=koi8-r",
	"Content-Type: text/plain; charset=windows-1252",
	"Content-Type: text/plain; charset=utf-8; charset=iso-8859-1",
	"Content-Type: text/plain; charset*=utf-8''x",
	"Content-Type: text/plain; charset=\"utf-8\" (comment)",
	"Content-Type: text/plain;",
	"Content-Type: text/html; charset=utf-8",
	"Content-Type: text/enriched",
	"Content-Type: application/octet-stream",
	"Content-Type: message/rfc822",
	"Content-Type: multipart/mixed; boundary=b",
	"Content-Type: garbage",
	"Content-Type:",
	"Content-Type: text/plain; name=\"=?UTF-8?Q?x?=\"",
};

static const char *const ctes[] = {
	NULL,
	"Content-Transfer-Encoding: 7bit",
	"Content-Transfer-Encoding: 8BIT",
	"Content-Transfer-Encoding: binary",
	"Content-Transfer-Encoding: quoted-printable",
	"Content-Transfer-Encoding: Quoted-Printable",
	"Content-Transfer-Encoding: base64",
	"Content-Transfer-Encoding:  BASE64 ",
	"Content-Transfer-Encoding: x-unknown",
	"Content-Transfer-Encoding: x-uuencode",
	"Content-Transfer-Encoding:",
	"Content-Transfer-Encoding: base64 (comment)",
};

/* Bodies, each given as it is sent (encoded or not: every body is sent
 * with every encoding, so decoders also meet what they cannot decode). */
struct body {
	const char *text;
	size_t len;		/* 0: strlen */
};

static struct body bodies[] = {
	{ "", 0 },
	{ "plain text\r\n", 0 },
	{ "no final line end", 0 },
	{ "caf\xc3\xa9 d\xc3\xa9j\xc3\xa0 vu\r\n", 0 },
	{ "na\xefve caf\xe9\r\n", 0 },
	{ "a\0b\0c\r\n", 8 },
	{ "caf=C3=A9 long =\r\nline=3D=\r\n=ZZ =4\r\n", 0 },
	{ "=E9t=E9 =80 5\r\n", 0 },
	{ "aMOpbGxvIHfDtnJsZA==\r\n", 0 },
	{ "aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", 0 },
	{ "6WzodGU=\r\n", 0 },
	{ "!!not*base64##\r\nYQ\r\n", 0 },
	{ "a\xff" "b\xc3\r\n", 0 },
	{ "\xed\xa0\x80 surrogate \xf4\x90\x80\x80 too high\r\n", 0 },
	{ "line\r\n.\r\n..dots\r\n", 0 },
	{ "Subject: in the body\r\n\r\nstill body\r\n", 0 },
	{ NULL, 0 },	/* every octet value, filled in by setup */
	{ NULL, 0 },	/* long quoted-printable, filled in by setup */
	{ NULL, 0 },	/* long base64, filled in by setup */
	{ NULL, 0 },	/* long UTF-8 text, filled in by setup */
};
#define NBODIES (sizeof(bodies) / sizeof(bodies[0]))

static const size_t caps[] = { MIME_DEFAULT_BODY_MAX, 0, 1, 2, 5, 64, 4097 };

static char *all_octets, *long_qp, *long_b64, *long_utf8;

static int
setup(void **state)
{
	GString *s;
	unsigned char raw[6000];
	char *b64;
	size_t i, j;
	int k;

	(void)state;
	mime_init();
	all_octets = malloc(512);
	for (k = 0; k < 512; k++)
		all_octets[k] = (char)(k % 256);
	bodies[NBODIES - 4] = (struct body){ all_octets, 512 };

	/* Over GMime's 4 KiB reads, so its decoders meet chunk edges. */
	s = g_string_new(NULL);
	for (i = 0; i < 400; i++)
		g_string_append_printf(s, "line %zu caf=C3=A9 =E2=82=AC=\r\n"
		    "end%s\r\n", i, i % 7 == 0 ? "=20" : "");
	long_qp = g_string_free(s, FALSE);
	bodies[NBODIES - 3] = (struct body){ long_qp, 0 };

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)("h\xc3\xa9llo w\xc3\xb6rld "[i % 15]);
	b64 = g_base64_encode(raw, sizeof(raw));
	s = g_string_new(NULL);
	for (i = 0, j = strlen(b64); i < j; i += 76) {
		g_string_append_len(s, b64 + i, (gssize)(j - i < 76 ? j - i : 76));
		g_string_append(s, "\r\n");
	}
	g_free(b64);
	long_b64 = g_string_free(s, FALSE);
	bodies[NBODIES - 2] = (struct body){ long_b64, 0 };

	s = g_string_new(NULL);
	for (i = 0; i < 1500; i++)
		g_string_append(s, "\xe2\x82\xac\xf0\x9f\x93\xa8 ");
	long_utf8 = g_string_free(s, FALSE);
	bodies[NBODIES - 1] = (struct body){ long_utf8, 0 };
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(all_octets);
	g_free(long_qp);
	g_free(long_b64);
	g_free(long_utf8);
	mime_shutdown();
	return 0;
}

static size_t
body_len(const struct body *b)
{
	return b->len ? b->len : strlen(b->text);
}

/* One message of the corpus: the fields in the given order, each
 * header's folds following the line end. */
static bool
one(const char *subject, const char *ctype, const char *cte,
    const struct body *b, const char *eol, size_t cap, bool reversed)
{
	const char *h[6];
	char *s = subject ? with_eol(subject, eol) : NULL;
	char *c = ctype ? with_eol(ctype, eol) : NULL;
	char *msg;
	size_t len;
	bool took;

	h[0] = "From: a@example.com";
	h[1] = reversed ? cte : s;
	h[2] = c;
	h[3] = "MIME-Version: 1.0";
	h[4] = reversed ? s : cte;
	h[5] = "Message-ID: <x@example.com>";
	msg = build(h, 6, eol, b->text, body_len(b), &len);
	took = same(msg, len, cap);
	g_free(msg);
	g_free(s);
	g_free(c);
	return took;
}

static void
every_subject_with_every_content_type_and_encoding(void **state)
{
	size_t i, j, k, n = 0;

	(void)state;
	taken = compared = 0;
	for (i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
		for (j = 0; j < sizeof(ctypes) / sizeof(ctypes[0]); j++)
			for (k = 0; k < sizeof(ctes) / sizeof(ctes[0]); k++, n++)
				one(subjects[i], ctypes[j], ctes[k],
				    &bodies[n % NBODIES], "\r\n",
				    caps[n % (sizeof(caps) / sizeof(caps[0]))],
				    n % 2);
	print_message("fast path took %lu of %lu\n", taken, compared);
	assert_true(taken > compared / 4);
}

static void
every_body_with_every_encoding_charset_and_cap(void **state)
{
	size_t i, j, k, c;

	(void)state;
	taken = compared = 0;
	for (i = 0; i < NBODIES; i++)
		for (j = 0; j < sizeof(ctypes) / sizeof(ctypes[0]); j++)
			for (k = 0; k < sizeof(ctes) / sizeof(ctes[0]); k++)
				for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
					one(subjects[(i + j + k) % NSUBJECTS], ctypes[j],
					    ctes[k], &bodies[i], "\r\n", caps[c],
					    false);
	print_message("fast path took %lu of %lu\n", taken, compared);
	assert_true(taken > compared / 4);
}

static void
lf_line_ends_are_left_to_gmime(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NBODIES; i++)
		assert_false(one("Subject: s\n folded", ctypes[2], ctes[4],
		    &bodies[i], "\n", MIME_DEFAULT_BODY_MAX, false));
	assert_false(same_str("Subject: s\r\nFrom: a\n\r\nbody\r\n"));
	assert_false(same_str("Subject: s\nFrom: a\r\n\r\nbody\r\n"));
	assert_false(same_str("Subject: a\rb\r\n\r\nbody\r\n"));
}

static void
common_simple_messages_take_the_fast_path(void **state)
{
	(void)state;
	assert_true(same_str("Subject: hi\r\n\r\nbody\r\n"));
	assert_true(same_str("\r\nno header at all\r\n"));
	assert_true(same_str("From: a@b\r\nTo: c@d\r\n\r\n"));
	assert_true(same_str("Subject: =?UTF-8?B?w6k=?=\r\nContent-Type: "
	    "text/plain; charset=UTF-8; format=flowed\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"));
	assert_true(same_str("Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n6WzodmU=\r\n"));
	/* Raw 8-bit in a field the fast path does not read. */
	assert_true(same_str("From: Ren\xc3\xa9 <r@b>\r\nSubject: s\r\n\r\nx"));
}

static void
what_gmime_could_read_otherwise_is_left_to_it(void **state)
{
	(void)state;
	/* No empty line: where the headers end is GMime's call. */
	assert_false(same_str("Subject: no body"));
	assert_false(same_str("Subject: no body\r\n"));
	assert_false(same_str("Subject: s\r\nnot a header line\r\n\r\nx"));
	assert_false(same_str(" Subject: folded first line\r\n\r\nx"));
	assert_false(same_str("Subject : blank before colon\r\n\r\nx"));
	assert_false(same_str("From mbox-line\r\nSubject: s\r\n\r\nx"));
	assert_false(same_str("Subject: one\r\nSubject: two\r\n\r\nx"));
	assert_false(same_str("Content-Type: text/plain\r\n"
	    "content-type: text/plain\r\n\r\nx"));
	assert_false(same_str("Content-Transfer-Encoding: 7bit\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nx"));
	assert_false(same_str("Content-Disposition: attachment\r\n\r\nx"));
	assert_false(same("Subject: a\0b\r\n\r\nx", 16, 100));
	assert_false(same_str("Content-Type: text/plain; charset=koi8-r\r\n"
	    "\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n"));
	assert_false(same_str("Content-Type: multipart/alternative; "
	    "boundary=XX\r\n\r\n--XX\r\n\r\nx\r\n--XX--\r\n"));
	assert_false(same_str("Content-Transfer-Encoding: uuencode\r\n\r\n"
	    "begin 644 a\r\n#86)C\r\n`\r\nend\r\n"));
}

static void
header_over_998_octets_is_read_the_same(void **state)
{
	GString *s = g_string_new("Subject: ");
	int i;

	(void)state;
	for (i = 0; i < 300; i++)
		g_string_append(s, "=?UTF-8?Q?caf=C3=A9?= ");
	g_string_append(s, "\r\nX-Long: ");
	for (i = 0; i < 3000; i++)
		g_string_append_c(s, 'a' + i % 26);
	g_string_append(s, "\r\n\r\nbody\r\n");
	assert_true(s->len > 4096);
	assert_true(same(s->str, s->len, MIME_DEFAULT_BODY_MAX));
	g_string_free(s, TRUE);
}

/* The fuzz seeds (tests/fuzz/corpus/mime), as they are and after every
 * one-octet change from a small set, then random changes. */
static void
fuzz_seeds_and_their_mutations(void **state)
{
	static const char *const dir = "tests/fuzz/corpus/mime";
	static const char repl[] = { '\r', '\n', ' ', ':', ';', '=', '?', '"',
	    '\0', '\x80', 'B', 'Q' };
	struct dirent *e;
	char path[512];
	unsigned char *buf;
	size_t len, i, r;
	DIR *d;
	FILE *fp;
	long n;
	unsigned seed = 1;

	(void)state;
	taken = compared = 0;
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_non_null(fp = fopen(path, "rb"));
		assert_int_equal(fseek(fp, 0, SEEK_END), 0);
		n = ftell(fp);
		rewind(fp);
		buf = malloc((size_t)n + 1);
		len = fread(buf, 1, (size_t)n, fp);
		fclose(fp);
		if (len < 2) {
			free(buf);
			continue;
		}
		/* Byte 0 of a seed is the fuzz target's cap choice. */
		same(buf + 1, len - 1, MIME_DEFAULT_BODY_MAX);
		for (i = 1; i < len && i < 400; i++) {
			unsigned char was = buf[i];

			for (r = 0; r < sizeof(repl); r++) {
				buf[i] = (unsigned char)repl[r];
				same(buf + 1, len - 1, caps[(i + r) % 7]);
			}
			buf[i] = was;
		}
		for (i = 0; i < 2000; i++) {
			unsigned char *m = malloc(len);
			int k;

			memcpy(m, buf, len);
			for (k = 0; k < 4; k++) {
				seed = seed * 1103515245 + 12345;
				m[1 + (seed >> 8) % (len - 1)] = (unsigned char)
				    (seed >> 20);
			}
			same(m + 1, len - 1, caps[i % 7]);
			free(m);
		}
		free(buf);
	}
	closedir(d);
	print_message("fast path took %lu of %lu\n", taken, compared);
	assert_true(taken > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(common_simple_messages_take_the_fast_path),
		cmocka_unit_test(what_gmime_could_read_otherwise_is_left_to_it),
		cmocka_unit_test(lf_line_ends_are_left_to_gmime),
		cmocka_unit_test(header_over_998_octets_is_read_the_same),
		cmocka_unit_test(every_subject_with_every_content_type_and_encoding),
		cmocka_unit_test(every_body_with_every_encoding_charset_and_cap),
		cmocka_unit_test(fuzz_seeds_and_their_mutations),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
