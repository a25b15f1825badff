/*
 * test_postoffice_scrub.c - removal of upstream trace header fields and
 * rewriting of identifiers that name the backend.  A new id-left is the
 * first 32 hex digits of HMAC-SHA256(KEY, old id); the digests below were
 * computed apart, with Python's hmac module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postoffice/scrub.h"

struct out {
	char buf[8192];
	size_t len;
};

static int
sink(void *arg, const void *buf, size_t len)
{
	struct out *o = arg;

	assert_true(o->len + len < sizeof(o->buf));
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	o->buf[o->len] = '\0';
	return 0;
}

static int
failing_sink(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return -1;
}

/* Scrubs in one piece, then again split at every octet boundary, and
 * checks both give want. */
static void
check(const char *in, const char *want)
{
	struct scrub sc;
	struct out o;
	size_t i, len = strlen(in);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	assert_int_equal(scrub_feed(&sc, in, len, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	for (i = 0; i < len; i++)
		assert_int_equal(scrub_feed(&sc, in + i, 1, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);
}

static void
received_and_x_originating_ip_are_removed(void **state)
{
	(void)state;
	check("Received: from web1 (10.0.0.5)\r\n"
	    "From: a@b\r\n"
	    "X-Originating-IP: [10.0.0.9]\r\n"
	    "Subject: hi\r\n\r\nbody\r\n",
	    "From: a@b\r\nSubject: hi\r\n\r\nbody\r\n");
}

static void
folded_continuation_lines_go_with_their_field(void **state)
{
	(void)state;
	check("Received: from web1\r\n\tby relay (10.0.0.5);\r\n  Tue, 1 Jan 2030\r\n"
	    "Subject: a\r\n folded subject\r\n\r\nbody\r\n",
	    "Subject: a\r\n folded subject\r\n\r\nbody\r\n");
}

static void
names_compare_case_insensitively(void **state)
{
	(void)state;
	check("RECEIVED: x\r\nreceived: y\r\nx-originating-ip: 1\r\n"
	    "X-PHP-Originating-Script: 33:mail.php\r\nx-php-script: h/a.php for 1.2.3.4\r\n"
	    "To: c@d\r\n\r\n",
	    "To: c@d\r\n\r\n");
}

static void
blank_before_colon_is_still_the_field(void **state)
{
	(void)state;
	check("Received : x\r\nTo: c@d\r\n\r\n", "To: c@d\r\n\r\n");
}

static void
similar_names_are_kept(void **state)
{
	(void)state;
	check("Received-SPF: pass\r\nX-Received: y\r\nX-Originating-IPs: z\r\n"
	    "X-Mailer: PHP\r\n\r\n",
	    "Received-SPF: pass\r\nX-Received: y\r\nX-Originating-IPs: z\r\n"
	    "X-Mailer: PHP\r\n\r\n");
}

static void
body_is_never_touched(void **state)
{
	(void)state;
	check("To: c@d\r\n\r\nReceived: in the body\r\nX-Originating-IP: 1\r\n",
	    "To: c@d\r\n\r\nReceived: in the body\r\nX-Originating-IP: 1\r\n");
	/* A continuation-looking line after the empty line is body too. */
	check("Received: a\r\n\r\n b\r\n", "\r\n b\r\n");
}

static void
long_names_and_lines_without_colon_pass(void **state)
{
	char in[300], want[300];

	(void)state;
	memset(in, 'N', 100);
	memcpy(in + 100, ": v\r\n\r\n", 8);
	memcpy(want, in, sizeof(in));
	check(in, want);
	check("not a header line\r\nReceived: x\r\n\r\n", "not a header line\r\n\r\n");
	/* A message that ends inside a field name keeps it. */
	check("To: c@d\r\nX-Trunc", "To: c@d\r\nX-Trunc");
}

static void
passthrough_keeps_everything(void **state)
{
	struct scrub sc;
	struct out o;
	const char *in = "Received: x\r\n\r\nb";

	(void)state;
	memset(&o, 0, sizeof(o));
	scrub_init(&sc, true);
	assert_int_equal(scrub_feed(&sc, in, strlen(in), sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, in);
}

static void
sink_failure_is_reported(void **state)
{
	struct scrub sc;

	(void)state;
	scrub_init(&sc, false);
	assert_int_equal(scrub_feed(&sc, "To: x\r\n", 7, failing_sink, NULL), -1);
}

#define KEY "06611c0aa834a7ac"

/* Like check(), with identifier rewriting for a client that said
 * "HELO helo", the sender's domain and public domain both domain. */
static void
check_ids(const char *helo, const char *domain, const char *in,
    const char *want)
{
	struct scrub sc;
	struct out o;
	size_t i, len = strlen(in);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	assert_int_equal(scrub_set_msgid(&sc, helo, domain, KEY), 0);
	assert_int_equal(scrub_feed(&sc, in, len, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	assert_int_equal(scrub_set_msgid(&sc, helo, domain, KEY), 0);
	for (i = 0; i < len; i++)
		assert_int_equal(scrub_feed(&sc, in + i, 1, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);
}

static void
message_id_naming_the_helo_host_is_rewritten(void **state)
{
	(void)state;
	/* What nullmailer-inject adds, with "me" = backend.internal. */
	check_ids("backend.internal", "example.org",
	    "From: a@example.org\r\n"
	    "Message-Id: <1795622925.984531.18830.nullmailer@backend.internal>\r\n"
	    "Subject: hi\r\n\r\nbody\r\n",
	    "From: a@example.org\r\n"
	    "Message-Id: <8e51f9bf4debb0ff18cffc2c419c4b0b@example.org>\r\n"
	    "Subject: hi\r\n\r\nbody\r\n");
}

static void
message_id_host_compares_case_insensitively(void **state)
{
	(void)state;
	check_ids("Backend.Internal", "example.org",
	    "MESSAGE-ID: <x@BACKEND.internal>\r\n\r\n",
	    "MESSAGE-ID: <c3a6906861146d1f01ef2833e44e73cf@example.org>\r\n\r\n");
}

static void
resent_message_id_is_rewritten_too(void **state)
{
	(void)state;
	check_ids("backend.internal", "example.org",
	    "Resent-Message-ID: <r.1@backend.internal>\r\n\r\n",
	    "Resent-Message-ID: <d00c83499c2513bc30ba76cce924279d@example.org>\r\n\r\n");
}

static void
folded_message_id_is_rewritten_whole(void **state)
{
	(void)state;
	check_ids("backend.internal", "example.org",
	    "Message-ID:\r\n <1.2@backend.internal>\r\nTo: c@d\r\n\r\nb",
	    "Message-ID:\r\n <6d1b45b31e5afbf9b3e85f223fd3f6cf@example.org>\r\nTo: c@d\r\n\r\nb");
	/* A bare LF line end (normalized later or refused) stays one. */
	check_ids("backend.internal", "example.org",
	    "Message-ID: <1@backend.internal>\n\nb",
	    "Message-ID: <44a3f9443a69bec6d8f5193d7158f143@example.org>\n\nb");
	/* A message that ends in the field still gets it rewritten. */
	check_ids("backend.internal", "example.org",
	    "To: c@d\r\nMessage-ID: <1@backend.internal>",
	    "To: c@d\r\nMessage-ID: <44a3f9443a69bec6d8f5193d7158f143@example.org>");
}

static void
other_message_ids_are_kept_byte_for_byte(void **state)
{
	(void)state;
	/* The application's own identifier, one in a subdomain of the HELO
	 * name, one merely containing it, and a malformed one. */
	check_ids("backend.internal", "example.org",
	    "Message-ID: <CAF=abc@mail.example.org>\r\n"
	    "Message-ID: <1@x.backend.internal>\r\n"
	    "Message-ID: <backend.internal@example.org>\r\n"
	    "Message-ID: no brackets @backend.internal\r\n\r\n",
	    "Message-ID: <CAF=abc@mail.example.org>\r\n"
	    "Message-ID: <1@x.backend.internal>\r\n"
	    "Message-ID: <backend.internal@example.org>\r\n"
	    "Message-ID: no brackets @backend.internal\r\n\r\n");
}

static void
message_id_without_domain_is_removed(void **state)
{
	(void)state;
	/* The null sender and no --message-id-domain. */
	check_ids("backend.internal", NULL,
	    "Message-ID: <1@backend.internal>\r\nTo: c@d\r\n\r\nb",
	    "To: c@d\r\n\r\nb");
	/* A sender in the HELO host's own domain would leak it again. */
	check_ids("backend.internal", "BACKEND.internal",
	    "Message-ID: <1@backend.internal>\r\nTo: c@d\r\n\r\nb",
	    "To: c@d\r\n\r\nb");
}

static void
overlong_message_id_passes_untouched(void **state)
{
	char in[SCRUB_HOLD_MAX + 200], want[SCRUB_HOLD_MAX + 200];
	size_t n;

	(void)state;
	n = (size_t)snprintf(in, sizeof(in), "Message-ID: <");
	memset(in + n, 'a', SCRUB_HOLD_MAX);
	n += SCRUB_HOLD_MAX;
	snprintf(in + n, sizeof(in) - n, "@backend.internal>\r\n\r\nb");
	memcpy(want, in, sizeof(in));
	check_ids("backend.internal", "example.org", in, want);
}

static void
trace_fields_still_go_while_ids_are_rewritten(void **state)
{
	(void)state;
	check_ids("backend.internal", "example.org",
	    "Received: (nullmailer pid 7 invoked by uid 0);\r\n\tWed, 25 Nov 2026\r\n"
	    "Message-Id: <1@backend.internal>\r\n\r\nMessage-Id: <1@backend.internal>\r\n",
	    "Message-Id: <44a3f9443a69bec6d8f5193d7158f143@example.org>\r\n\r\n"
	    "Message-Id: <1@backend.internal>\r\n");
}

static void
without_helo_or_with_passthrough_ids_are_kept(void **state)
{
	struct scrub sc;
	struct out o;
	const char *in = "Message-ID: <1@backend.internal>\r\n\r\nb";

	(void)state;
	check_ids("", "example.org", in, in);
	memset(&o, 0, sizeof(o));
	scrub_init(&sc, true);
	assert_int_equal(scrub_set_msgid(&sc, "backend.internal", "example.org",
	    "1"), 0);
	assert_int_equal(scrub_feed(&sc, in, strlen(in), sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, in);
}

static void
unusable_helo_or_domain_is_refused(void **state)
{
	struct scrub sc;
	char longname[300];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	scrub_init(&sc, false);
	assert_int_equal(scrub_set_msgid(&sc, "a b", "example.org", "1"), -1);
	assert_int_equal(scrub_set_msgid(&sc, "h", "ex<ample.org", "1"), -1);
	assert_int_equal(scrub_set_msgid(&sc, "h", "a@b", "1"), -1);
	assert_int_equal(scrub_set_msgid(&sc, "h", "example.org\r\n", "1"), -1);
	assert_int_equal(scrub_set_msgid(&sc, longname, "example.org", "1"), -1);
	assert_int_equal(scrub_set_msgid(&sc, "h", "example.org", ""), -1);
	assert_string_equal(sc.helo, "");	/* still off */
	assert_true(scrub_domain_ok("example.org"));
	assert_true(scrub_domain_ok("[192.0.2.1]"));
	assert_false(scrub_domain_ok(""));
	assert_false(scrub_domain_ok("a b"));
	assert_false(scrub_domain_ok(longname));
}

static void
sink_failure_while_releasing_an_id_is_reported(void **state)
{
	struct scrub sc;
	const char *in = "Message-ID: <1@h>\r\nTo: x\r\n";

	(void)state;
	scrub_init(&sc, false);
	assert_int_equal(scrub_set_msgid(&sc, "h", "example.org", "1"), 0);
	assert_int_equal(scrub_feed(&sc, in, strlen(in), failing_sink, NULL), -1);
}

/* Like check(), with the names a real session gives. */
static void
check_names(const struct scrub_names *names, const char *in, const char *want)
{
	struct scrub sc;
	struct out o;
	size_t i, len = strlen(in);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	assert_int_equal(scrub_set_ids(&sc, names), 0);
	assert_int_equal(scrub_feed(&sc, in, len, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);

	memset(&o, 0, sizeof(o));
	scrub_init(&sc, false);
	assert_int_equal(scrub_set_ids(&sc, names), 0);
	for (i = 0; i < len; i++)
		assert_int_equal(scrub_feed(&sc, in + i, 1, sink, &o), 0);
	assert_int_equal(scrub_finish(&sc, sink, &o), 0);
	assert_string_equal(o.buf, want);
}

/* The digest follows the key of each message, however keys alternate
 * (a daemon keeps one; a key made ready once must not outlive it). */
static void
each_message_is_digested_with_its_own_key(void **state)
{
	struct scrub_names n = {
		.helo = "localhost", .host = "web1.example.org",
		.sender = "example.org", .key = KEY,
	};
	const char *in = "Message-ID: <1.2@web1.example.org>\r\n\r\nx\r\n";
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		n.key = KEY;
		check_names(&n, in, "Message-ID: "
		    "<13b4b2b22df008b3cd68fa0655c82140@example.org>\r\n\r\nx\r\n");
		n.key = "a second key";
		check_names(&n, in, "Message-ID: "
		    "<22a80d259efc1e3a3eaeb24891687526@example.org>\r\n\r\nx\r\n");
	}
}

/* Ruby's mail gem on host "vm": EHLO localhost.localdomain, ids under
 * HOSTNAME.mail, an inline image named by its Content-ID in the HTML. */
static const struct scrub_names ruby = {
	.helo = "localhost.localdomain", .host = "vm",
	.sender = "example.org", .key = KEY,
};

#define RUBY_IN(mid, cid) \
	"Date: Wed, 25 Nov 2026 16:08:45 +0000\r\n" \
	"From: a@example.org\r\n" \
	"Message-ID: <" mid ">\r\n" \
	"Mime-Version: 1.0\r\n" \
	"Content-Type: multipart/related;\r\n" \
	" boundary=\"--==_mimepart_1\";\r\n" \
	" charset=UTF-8\r\n" \
	"\r\n" \
	"preamble cid:x@vm.mail stays\r\n" \
	"----==_mimepart_1\r\n" \
	"Content-Type: text/html; charset=UTF-8\r\n" \
	"Content-Transfer-Encoding: 7bit\r\n" \
	"\r\n" \
	"<img src=\"cid:" cid "\"><img src='CID:" cid "'>\r\n" \
	"--not-a-boundary cid:" cid "\r\n" \
	"----==_mimepart_1\r\n" \
	"Content-Type: image/png\r\n" \
	"Content-Transfer-Encoding: base64\r\n" \
	"Content-ID: <" cid ">\r\n" \
	"Received: in a part header, not a trace\r\n" \
	"\r\n" \
	"aVZCT1J3MEtHZ29BQUFBTlNVaEVVZ0FBQUFF\r\n" \
	"----==_mimepart_1--\r\n" \
	"epilogue cid:5f3a1c2b9d8e7_9f8e7d6c@vm.mail is not a part's\r\n"

static void
ruby_mail_ids_and_cid_urls_are_rewritten_alike(void **state)
{
	(void)state;
	check_names(&ruby, RUBY_IN("5f3a1c2b9d8e7_1a2b3c4d@vm.mail", "5f3a1c2b9d8e7_9f8e7d6c@vm.mail"),
	    RUBY_IN("8da9950f4bce50445d8463311a89e865@example.org", "be7269bc1255162fb24afcb6bd71cce7@example.org"));
}

/* Python's make_msgid() on web1.example.org, whatever the EHLO name;
 * the sender's own identifiers and a correspondent's stay. */
static void
fqdn_ids_and_their_references_are_rewritten_others_kept(void **state)
{
	struct scrub_names py = {
		.helo = "localhost", .host = "web1.example.org",
		.sender = "example.org", .key = KEY,
	};

	(void)state;
	check_names(&py,
	    "Message-ID: <170101010101.12345.9876543210987654321@web1.example.org>\r\n"
	    "In-Reply-To: <170101010101.12345.9876543210987654321@web1.example.org>\r\n"
	    "References: <CAF=x@mail.gmail.com>\r\n <170101010101.12345.9876543210987654321@web1.example.org> <7@example.org>\r\n"
	    "Resent-Message-ID: <2@mail.example.org>\r\n"
	    "\r\n"
	    "Message-ID: <170101010101.12345.9876543210987654321@web1.example.org>\r\n",
	    "Message-ID: <715d5908f74e4222aaba76765a2f854b@example.org>\r\n"
	    "In-Reply-To: <715d5908f74e4222aaba76765a2f854b@example.org>\r\n"
	    "References: <CAF=x@mail.gmail.com>\r\n <715d5908f74e4222aaba76765a2f854b@example.org> <7@example.org>\r\n"
	    "Resent-Message-ID: <2@mail.example.org>\r\n"
	    "\r\n"
	    "Message-ID: <170101010101.12345.9876543210987654321@web1.example.org>\r\n");
}

static void
one_label_and_address_literal_name_the_backend(void **state)
{
	struct scrub sc;

	(void)state;
	scrub_init(&sc, false);
	assert_int_equal(scrub_set_ids(&sc, &ruby), 0);
	assert_true(scrub_names_backend(&sc, "vm", 2));
	assert_true(scrub_names_backend(&sc, "localhost", 9));
	assert_true(scrub_names_backend(&sc, "[10.1.2.3]", 10));
	assert_true(scrub_names_backend(&sc, "LOCALHOST.localdomain", 21));
	assert_true(scrub_names_backend(&sc, "VM.example.net", 14));
	assert_false(scrub_names_backend(&sc, "example.org", 11));
	assert_false(scrub_names_backend(&sc, "vm2.example.org", 15));
	assert_false(scrub_names_backend(&sc, "mail.vm.example", 15));
	assert_false(scrub_names_backend(&sc, "", 0));
}

/* A sender at the host itself (root@vm) gives no public domain: the
 * Message-ID and the references go, Content-IDs stay. */
static void
sender_at_the_host_gives_no_domain(void **state)
{
	struct scrub_names n = {
		.helo = "vm", .host = "vm", .sender = "vm", .key = KEY,
	};

	(void)state;
	check_names(&n,
	    "Message-ID: <1@vm>\r\nReferences: <0@vm>\r\nContent-ID: <c@vm>\r\n"
	    "Subject: x\r\n\r\nb\r\n",
	    "Content-ID: <c@vm>\r\nSubject: x\r\n\r\nb\r\n");
}

/* In quoted-printable HTML a cid: URL may be broken by a soft line break:
 * it is written whole, with a soft break after it. */
static void
quoted_printable_cid_url_across_a_soft_break(void **state)
{
	(void)state;
	check_names(&ruby,
	    "Content-Type: multipart/related; boundary=b\r\n\r\n"
	    "--b\r\n"
	    "Content-Type: text/html\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "<img src=3D\"cid:5f3a_77@vm.=\r\nmail\"> =\r\n"
	    "<img src=3D\"cid:x=40vm.mail\">\r\n"
	    "--b\r\n"
	    "Content-ID: <5f3a_77@vm.mail>\r\n\r\n"
	    "x\r\n"
	    "--b--\r\n",
	    "Content-Type: multipart/related; boundary=b\r\n\r\n"
	    "--b\r\n"
	    "Content-Type: text/html\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "<img src=3D\"cid:2854124bb46cb4b6ad7dcad79e2772e2@example.org=\r\n\"> =\r\n"
	    "<img src=3D\"cid:x=40vm.mail\">\r\n"
	    "--b\r\n"
	    "Content-ID: <2854124bb46cb4b6ad7dcad79e2772e2@example.org>\r\n\r\n"
	    "x\r\n"
	    "--b--\r\n");
}

/* After a base64 text/html part (whose cid: URLs cannot be read) no
 * Content-ID changes, so the images it names still match. */
static void
after_an_unreadable_html_part_content_ids_stay(void **state)
{
	const char *in =
	    "Message-ID: <m@vm.mail>\r\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/related; boundary=inner\r\n\r\n"
	    "--inner\r\n"
	    "Content-ID: <first@vm.mail>\r\n"
	    "Content-Type: text/html\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "PGltZyBzcmM9ImNpZDppQHZtLm1haWwiPg==\r\n"
	    "--inner\r\n"
	    "Content-ID: <i@vm.mail>\r\n\r\n"
	    "x\r\n"
	    "--inner--\r\n"
	    "--outer--\r\n";
	char want[2048];

	(void)state;
	snprintf(want, sizeof(want), "Message-ID: <%s@example.org>%s",
	    "9324fcdc24e0f805fb0fa8386bafbe41", strstr(in, "\r\n"));
	snprintf(strstr(want, "first@vm.mail"), 64, "1ddf29e59779bb2f936ea9201d16152c@example.org%s",
	    "");
	snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s",
	    strstr(in, ">\r\nContent-Type: text/html"));
	check_names(&ruby, in, want);
}

/* The header of a forwarded message (message/rfc822) is that message's:
 * it is not read. */
static void
forwarded_message_header_is_not_read(void **state)
{
	const char *in =
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n"
	    "Content-Type: message/rfc822\r\n\r\n"
	    "Message-ID: <f@vm.mail>\r\n"
	    "Content-ID: <g@vm.mail>\r\n\r\n"
	    "<img src=\"cid:g@vm.mail\">\r\n"
	    "--b--\r\n";

	(void)state;
	check_names(&ruby, in, in);
}

static void
field_removed_list(void **state)
{
	(void)state;
	assert_true(scrub_field_removed("Received", 8));
	assert_true(scrub_field_removed("x-originating-ip\t", 17));
	assert_false(scrub_field_removed("Receive", 7));
	assert_false(scrub_field_removed("Subject", 7));
	assert_false(scrub_field_removed("", 0));
	assert_false(scrub_field_removed("Message-ID", 10));
	assert_true(scrub_field_is_msgid("message-id ", 11));
	assert_true(scrub_field_is_msgid("Resent-Message-Id", 17));
	assert_false(scrub_field_is_msgid("Message-IDs", 11));
}

/* Blanks before the colon are obsolete syntax (RFC 5322 4.5.3); padding a
 * trace field's name past the scrubber's name buffer must not let it
 * through. */
static void
trace_field_padded_past_the_name_buffer_is_removed(void **state)
{
	char in[512], want[64];

	(void)state;
	snprintf(in, sizeof(in), "Received%s: from backend.internal\r\n"
	    "\tby relay\r\nSubject: x\r\n\r\nbody\r\n",
	    "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t"
	    "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t"
	    "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t");
	snprintf(want, sizeof(want), "Subject: x\r\n\r\nbody\r\n");
	check(in, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(received_and_x_originating_ip_are_removed),
		cmocka_unit_test(folded_continuation_lines_go_with_their_field),
		cmocka_unit_test(names_compare_case_insensitively),
		cmocka_unit_test(blank_before_colon_is_still_the_field),
		cmocka_unit_test(similar_names_are_kept),
		cmocka_unit_test(body_is_never_touched),
		cmocka_unit_test(long_names_and_lines_without_colon_pass),
		cmocka_unit_test(passthrough_keeps_everything),
		cmocka_unit_test(sink_failure_is_reported),
		cmocka_unit_test(field_removed_list),
		cmocka_unit_test(message_id_naming_the_helo_host_is_rewritten),
		cmocka_unit_test(message_id_host_compares_case_insensitively),
		cmocka_unit_test(resent_message_id_is_rewritten_too),
		cmocka_unit_test(folded_message_id_is_rewritten_whole),
		cmocka_unit_test(other_message_ids_are_kept_byte_for_byte),
		cmocka_unit_test(message_id_without_domain_is_removed),
		cmocka_unit_test(overlong_message_id_passes_untouched),
		cmocka_unit_test(trace_fields_still_go_while_ids_are_rewritten),
		cmocka_unit_test(without_helo_or_with_passthrough_ids_are_kept),
		cmocka_unit_test(unusable_helo_or_domain_is_refused),
		cmocka_unit_test(sink_failure_while_releasing_an_id_is_reported),
		cmocka_unit_test(trace_field_padded_past_the_name_buffer_is_removed),
		cmocka_unit_test(ruby_mail_ids_and_cid_urls_are_rewritten_alike),
		cmocka_unit_test(fqdn_ids_and_their_references_are_rewritten_others_kept),
		cmocka_unit_test(one_label_and_address_literal_name_the_backend),
		cmocka_unit_test(sender_at_the_host_gives_no_domain),
		cmocka_unit_test(quoted_printable_cid_url_across_a_soft_break),
		cmocka_unit_test(after_an_unreadable_html_part_content_ids_stay),
		cmocka_unit_test(forwarded_message_header_is_not_read),
		cmocka_unit_test(each_message_is_digested_with_its_own_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
