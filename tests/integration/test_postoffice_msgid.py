"""postoffice rewrites a Message-ID that names the client's HELO host
(doc/postoffice.md, "Identifiers that name the backend"), over real
SMTP."""

import subprocess

import pytest

from conftest import binary
from postoffice_util import (Client, HOST, new_id, only_message, queued_id,
                             raw_data, start)

NULLMAILER_ID = b"<1795622925.984531.18830.nullmailer@backend.internal>"


def transaction(port, helo, sender, headers):
    """HELO helo, MAIL FROM:<sender>, one recipient, and a message with
    the given header lines; returns the queue id."""
    with Client(port) as c:
        assert c.reply().startswith("220 %s ESMTP" % HOST)
        assert c.cmd("HELO " + helo) == "250 " + HOST
        assert c.cmd("MAIL FROM:<%s>" % sender) == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<bob@example.net>") == "250 2.1.5 Ok"
        assert c.cmd("DATA").startswith("354 ")
        c.send(b"".join(h + b"\r\n" for h in headers) + b"\r\nbody\r\n.\r\n")
        qid = queued_id(c.reply())
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
        return qid


def test_message_id_naming_the_helo_host_gets_a_digest_and_sender_domain(daemons, spool):
    _, port = start(daemons, spool)
    qid = transaction(port, "backend.internal", "alice@example.org",
                      [b"From: alice@example.org",
                       b"Message-Id: " + NULLMAILER_ID])
    name, obj = only_message(spool)
    assert name == qid
    assert raw_data(obj) == (b"From: alice@example.org\r\n"
                             b"Message-Id: <%s>\r\n\r\nbody\r\n"
                             % new_id(NULLMAILER_ID[1:-1], "example.org"))


def test_message_id_domain_option_is_used_instead_of_the_sender(daemons, spool):
    _, port = start(daemons, spool, "--message-id-domain", "relay.example.com")
    transaction(port, "BACKEND.internal", "alice@example.org",
                [b"Message-ID: " + NULLMAILER_ID])
    _, obj = only_message(spool)
    assert raw_data(obj) == (b"Message-ID: <%s>\r\n\r\nbody\r\n"
                             % new_id(NULLMAILER_ID[1:-1], "relay.example.com"))


def test_message_id_of_null_sender_naming_the_helo_host_is_removed(daemons, spool):
    _, port = start(daemons, spool)
    transaction(port, "backend.internal", "",
                [b"Message-ID: " + NULLMAILER_ID, b"Subject: bounce"])
    _, obj = only_message(spool)
    assert raw_data(obj) == b"Subject: bounce\r\n\r\nbody\r\n"


def test_application_message_id_is_kept_and_a_reference_to_ours_rewritten(daemons, spool):
    _, port = start(daemons, spool)
    headers = [b"Message-ID: <CAF=x.1@mail.example.org>",
               b"In-Reply-To: " + NULLMAILER_ID]
    transaction(port, "backend.internal", "alice@example.org", headers)
    _, obj = only_message(spool)
    assert raw_data(obj) == (b"Message-ID: <CAF=x.1@mail.example.org>\r\n"
                             b"In-Reply-To: <%s>\r\n\r\nbody\r\n"
                             % new_id(NULLMAILER_ID[1:-1], "example.org"))


def test_message_id_naming_another_host_than_helo_is_kept(daemons, spool):
    _, port = start(daemons, spool)
    transaction(port, "web1.internal", "alice@example.org",
                [b"Message-ID: " + NULLMAILER_ID])
    _, obj = only_message(spool)
    assert raw_data(obj) == b"Message-ID: " + NULLMAILER_ID + b"\r\n\r\nbody\r\n"


def test_keep_trace_headers_keeps_the_message_id(daemons, spool):
    _, port = start(daemons, spool, "--keep-trace-headers")
    transaction(port, "backend.internal", "alice@example.org",
                [b"Message-ID: " + NULLMAILER_ID])
    _, obj = only_message(spool)
    assert raw_data(obj) == b"Message-ID: " + NULLMAILER_ID + b"\r\n\r\nbody\r\n"


@pytest.mark.parametrize("bad", ["", "a b", "x@example.org", "<example.org>"])
def test_bad_message_id_domain_is_a_usage_error(bad, spool):
    r = subprocess.run([binary("postoffice"), "-s", spool,
                        "--message-id-domain", bad],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 64
    assert r.stderr == ("postoffice: --message-id-domain %s: not a domain "
                        "(try --help)\n" % bad)
