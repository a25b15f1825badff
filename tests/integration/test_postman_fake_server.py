"""PostMan against a fake PostMaster (tests/integration/postman_fakes.py)
and the recording sendmail: what reaches sendmail, byte for byte and
argument for argument; what is acknowledged or failed, with which reason;
exit statuses and log lines - for good batches and hostile ones."""

import base64
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import SLOWDOWN, binary, wait_until
from postman_fakes import (EMPTY_LEASE, FakePostMaster, Reply, lease,
                           lease_token, log_lines, message, message_id,
                           read_log, run_postman, sendmail_records,
                           start_postman, assert_no_sanitizer_report,
                           offline_wrapper)

EX_USAGE, EX_NOINPUT, EX_UNAVAILABLE, EX_TEMPFAIL, EX_PROTOCOL, EX_NOPERM = \
    64, 66, 69, 75, 76, 77

# libcurl names the TLS library in its error texts ("OpenSSL/3.0.19").
OPENSSL_VERSION = re.search(
    r"OpenSSL/(\S+)", subprocess.run(["curl", "--version"], capture_output=True,
                                     text=True).stdout).group(1)


def fake_sendmail():
    return binary("helpers/fake_sendmail")


def postman(pm, tree, sm, *extra, **kw):
    return run_postman(["--sendmail", fake_sendmail()] + list(extra) + [pm.url],
                       tree, sendmail_dir=sm, **kw)


# --- good batches -------------------------------------------------------

def test_messages_reach_sendmail_byte_for_byte_and_are_acknowledged(pm, tree, sm):
    text = ("From: Ann <ann@example.org>\r\nTo: bob@example.net\r\n"
            "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "gr\u00fc\u00dfe\r\n.\r\n..leading dots stay\r\nno final newline")
    raw = b"Subject: binary\r\n\r\n\x00\xff\xfe latin1 caf\xe9\r\n"
    pm.queue(lease([message(1, "ann@example.org", ["bob@example.net"], data=text),
                    message(2, "ann@example.org", ["c@d.example", "e@f.example"],
                            raw=raw)]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    recs = sendmail_records(sm)
    assert recs == [
        ([fake_sendmail(), "-i", "-f", "ann@example.org", "--", "bob@example.net"],
         text.encode()),
        ([fake_sendmail(), "-i", "-f", "ann@example.org", "--", "c@d.example",
          "e@f.example"], raw),
    ]
    assert pm.acks == [message_id(1), message_id(2)]
    assert pm.fails == []
    assert log_lines(log) == [
        "%s: to=<bob@example.net>, relay=sendmail, delay=D, status=sent "
        "(delivered via sendmail)" % message_id(1),
        "%s: to=<c@d.example>, relay=sendmail, delay=D, status=sent "
        "(delivered via sendmail)" % message_id(2),
        "%s: to=<e@f.example>, relay=sendmail, delay=D, status=sent "
        "(delivered via sendmail)" % message_id(2),
        "delivered=2 deferred=0 bounced=0",
    ]


def test_null_sender_is_passed_as_angle_brackets(pm, tree, sm):
    pm.queue(lease([message(1, "", ["postmaster@example.net"])]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    [(argv, _)] = sendmail_records(sm)
    assert argv[1:] == ["-i", "-f", "<>", "--", "postmaster@example.net"]
    assert pm.acks == [message_id(1)]


def test_batches_are_leased_until_the_queue_is_empty(pm, tree, sm):
    pm.queue(lease([message(1), message(2)]), lease([message(3)]),
             lease([message(4)]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    assert pm.acks == [message_id(i) for i in (1, 2, 3, 4)]
    assert len(sendmail_records(sm)) == 4
    # three batches, then the empty lease that ends the run; no long poll
    leases = pm.lease_requests()
    assert [p for p, _, _ in leases] == [
        "/po/lease?wait=0&max_bytes=268439552"] * 4
    assert log_lines(log)[-1] == "delivered=4 deferred=0 bounced=0"


def test_batch_option_asks_for_at_most_n(pm, tree, sm):
    pm.queue(lease([message(1), message(2)]))
    rc, log = postman(pm, tree, sm, "--batch", "2")
    assert rc == 0, log
    assert pm.lease_requests()[0][0] == \
        "/po/lease?max=2&wait=0&max_bytes=268439552"


def test_more_messages_than_asked_for_is_malformed(pm, tree, sm):
    pm.queue(lease([message(1), message(2), message(3)]))
    rc, log = postman(pm, tree, sm, "--batch", "2")
    assert rc == EX_PROTOCOL
    assert sendmail_records(sm) == [] and pm.acks == [] and pm.fails == []
    assert log_lines(log) == [
        "lease: malformed response, nothing acknowledged: 3 messages where "
        "at most 2 were asked for",
        "delivered=0 deferred=0 bounced=0"]


def test_empty_queue_ends_the_run_quietly(pm, tree, sm):
    rc, log = postman(pm, tree, sm)
    assert rc == 0
    assert log_lines(log) == ["delivered=0 deferred=0 bounced=0"]


def test_max_time_stops_leasing(pm, tree, sm):
    for i in range(200):
        pm.queue(lease([message(i)]))
    t0 = time.monotonic()
    rc, log = postman(pm, tree, sm, "--max-time", "0.5")
    assert rc == 0, log
    assert time.monotonic() - t0 < 10
    lines = log_lines(log)
    assert "max-time of 0.5s reached; the rest waits for the next run" in lines
    n = len(pm.acks)
    assert 0 < n < 200
    assert lines[-1] == "delivered=%d deferred=0 bounced=0" % n


# --- hostile envelopes ---------------------------------------------------

HOSTILE_RCPTS = [
    ("-oQ/tmp/x", "-oQ/tmp/x", "address starts with '-'"),
    ("-X/tmp/log@example.net", "-X/tmp/log@example.net", "address starts with '-'"),
    ("a@b\r\nRCPT TO:<x@y>", "a@b??RCPT TO:<x@y>", "control character in address"),
    ("a@b\nx", "a@b?x", "control character in address"),
    ("bob smith@example.net", "bob smith@example.net", "whitespace in address"),
    ("\tbob@example.net", "?bob@example.net", "control character in address"),
    ("x" * 65 + "@example.net", "x" * 65 + "@example.net",
     "local part longer than 64 octets (RFC 5321 4.5.3.1.1)"),
    ("a@" + "b" * 253, "a@" + "b" * 253,
     "address longer than 254 octets (RFC 5321 4.5.3.1.3)"),
    ("<a@b>", "<a@b>", "angle bracket in address"),
    ("", "", "empty address"),
]


@pytest.mark.parametrize("rcpt,shown,problem", HOSTILE_RCPTS,
                         ids=["dash_option", "dash_option_at", "crlf_smuggling",
                              "lf", "space", "tab", "local_part_65",
                              "address_255", "angle_brackets", "empty"])
def test_hostile_recipient_bounces_and_never_reaches_sendmail(pm, tree, sm,
                                                              rcpt, shown, problem):
    pm.queue(lease([message(1, "a@example.org", ["ok@example.net", rcpt]),
                    message(2, "a@example.org", ["ok@example.net"])]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    recs = sendmail_records(sm)
    assert [a[4:] for a, _ in recs] == [["--", "ok@example.net"]]
    reason = "invalid recipient <%s>: %s" % (shown, problem)
    assert pm.fails == [(message_id(1), pm.fails[0][1],
                         {"permanent": True, "reason": reason})]
    assert pm.acks == [message_id(2)]
    lines = log_lines(log)
    assert lines[:2] == [
        "%s: to=<ok@example.net>, relay=none, delay=D, status=bounced (%s)"
        % (message_id(1), reason),
        "%s: to=<%s>, relay=none, delay=D, status=bounced (%s)"
        % (message_id(1), shown, reason)]
    assert lines[-1] == "delivered=1 deferred=0 bounced=1"


def test_hostile_sender_bounces_and_never_reaches_sendmail(pm, tree, sm):
    pm.queue(lease([message(1, "-oQ/tmp/x", ["ok@example.net"]),
                    message(2, "a@b\r\n-X/tmp/log", ["ok@example.net"])]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    assert sendmail_records(sm) == []
    assert [(i, d) for i, _, d in pm.fails] == [
        (message_id(1), {"permanent": True,
                         "reason": "invalid sender <-oQ/tmp/x>: address starts with '-'"}),
        (message_id(2), {"permanent": True,
                         "reason": "invalid sender <a@b??-X/tmp/log>: control "
                                   "character in address"})]
    assert log_lines(log)[-1] == "delivered=0 deferred=0 bounced=2"


def test_too_many_recipients_bounce(pm, tree, sm):
    rcpts = ["r%d@example.net" % i for i in range(4)]
    pm.queue(lease([message(1, "a@example.org", rcpts)]))
    rc, log = postman(pm, tree, sm, "--max-recipients", "3")
    assert rc == 0, log
    assert sendmail_records(sm) == []
    assert pm.fails[0][2] == {"permanent": True,
                              "reason": "too many recipients (4, at most 3)"}


# --- hostile responses ----------------------------------------------------

def _msg_with(**kw):
    m = message(1)
    for k, v in kw.items():
        if v is KeyError:
            del m[k]
        else:
            m[k] = v
    return m


MALFORMED = [
    ("not_json", b"this is not JSON", "response is not valid JSON"),
    ("truncated", json.dumps(lease([message(1)])).encode()[:-10],
     "response is not valid JSON"),
    ("array", b"[]", "response is not a JSON object"),
    ("messages_object", {"lease": lease_token(), "expires": 1, "messages": {}},
     "\"messages\" is missing or not an array"),
    ("messages_missing", {"lease": None}, "\"messages\" is missing or not an array"),
    ("bad_lease_token", lease([message(1)], token="../../etc/passwd"),
     "\"lease\" is not a lease token"),
    ("null_lease_with_messages", {"lease": None, "expires": None,
                                  "messages": [message(1)]},
     "\"lease\" is not a lease token"),
    ("expires_string", dict(lease([message(1)]), expires="soon"),
     "\"expires\" is not a time"),
    ("message_not_object", lease([message(2), "x"]),
     "messages[1] is not an object"),
    ("id_path", lease([_msg_with(id="../../../../etc/passwd")]),
     "messages[0]: \"id\" is not a spool id"),
    ("id_missing", lease([_msg_with(id=KeyError)]),
     "messages[0] has no \"id\""),
    ("id_twice", lease([message(1), message(1)]),
     "message %s appears twice" % message_id(1)),
    ("trailing_garbage", json.dumps(lease([message(1)])).encode() + b" {}",
     "response is not valid JSON"),
    ("bad_without_id", lease([message(2), _msg_with(id=KeyError,
                                                    attempts="many")]),
     "messages[1]: \"attempts\" is not a count"),
]

# A message that carries its id but breaks the spool rule fails alone: it
# is reported as a permanent failure with the rule's reason, and the good
# message after it is delivered.
ALONE = [
    ("rcpt_tos_string", _msg_with(rcpt_tos="a@b"),
     "\"rcpt_tos\" is missing or not a non-empty array"),
    ("rcpt_tos_empty", _msg_with(rcpt_tos=[]),
     "\"rcpt_tos\" is missing or not a non-empty array"),
    ("rcpt_number", _msg_with(rcpt_tos=["a@b", 7]),
     "\"rcpt_tos\" holds a non-string"),
    ("mail_from_null", _msg_with(mail_from=None),
     "\"mail_from\" is missing or not a string"),
    ("data_number", _msg_with(data=12), "\"data\" is not a string"),
    ("data_and_base64", _msg_with(data_base64="QQ=="),
     "exactly one of \"data\" and \"data_base64\" is required"),
    ("no_data", _msg_with(data=KeyError),
     "exactly one of \"data\" and \"data_base64\" is required"),
    ("bad_base64", _msg_with(data=KeyError, data_base64="!!not base64"),
     "\"data_base64\" is not base64"),
    ("nul_in_sender", _msg_with(mail_from="a@b\u0000-oQ/tmp/x"),
     "\"mail_from\" holds a NUL character"),
    ("nul_in_recipient", _msg_with(rcpt_tos=["c@d\u0000"]),
     "\"rcpt_tos\" holds a NUL character"),
    ("attempts_string", _msg_with(attempts="many"),
     "\"attempts\" is not a count"),
]


@pytest.mark.parametrize("bad,why", [(b, w) for _, b, w in ALONE],
                         ids=[n for n, _, _ in ALONE])
def test_a_message_that_breaks_the_rule_fails_alone(pm, tree, sm, bad, why):
    pm.queue(lease([bad, message(2)]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    assert len(sendmail_records(sm)) == 1
    assert pm.acks == [message_id(2)]
    reason = "not a spool message: " + why
    assert [(i, d) for i, _, d in pm.fails] == [
        (message_id(1), {"permanent": True, "reason": reason})]
    assert log_lines(log)[0] == ("%s: relay=none, delay=D, status=bounced (%s)"
                                 % (message_id(1), reason))
    assert log_lines(log)[-1] == "delivered=1 deferred=0 bounced=1"


@pytest.mark.parametrize("body,error", [(b, e) for _, b, e in MALFORMED],
                         ids=[n for n, _, _ in MALFORMED])
def test_malformed_response_ends_the_run_with_nothing_acknowledged(pm, tree, sm,
                                                                   body, error):
    pm.queue(Reply(200, body))
    rc, log = postman(pm, tree, sm)
    assert rc == EX_PROTOCOL, log
    assert sendmail_records(sm) == []
    assert pm.acks == [] and pm.fails == []
    assert log_lines(log) == [
        "lease: malformed response, nothing acknowledged: " + error,
        "delivered=0 deferred=0 bounced=0"]


@pytest.mark.parametrize("close_delimited", [False, True],
                         ids=["content_length", "close_delimited"])
def test_oversized_response_ends_the_run(pm, tree, sm, close_delimited):
    big = lease([message(1, data="x" * 70000)])
    pm.queue(Reply(200, big, close_delimited=close_delimited))
    rc, log = postman(pm, tree, sm, "--max-response", "68K")
    assert rc == EX_PROTOCOL, log
    assert sendmail_records(sm) == [] and pm.acks == [] and pm.fails == []
    assert log_lines(log) == [
        "lease: %s/lease?wait=0&max_bytes=69632: response larger than 69632 "
        "bytes" % pm.url,
        "delivered=0 deferred=0 bounced=0"]


@pytest.mark.parametrize("status,rc", [(500, EX_TEMPFAIL), (503, EX_TEMPFAIL),
                                       (429, EX_TEMPFAIL), (401, EX_NOPERM),
                                       (403, EX_NOPERM), (404, EX_UNAVAILABLE),
                                       (400, EX_PROTOCOL), (302, EX_PROTOCOL),
                                       (204, EX_PROTOCOL)])
def test_non_200_lease_ends_the_run_with_its_exit_status(pm, tree, sm, status, rc):
    pm.queue(Reply(status, {"error": "spool\nunavailable"}))
    got, log = postman(pm, tree, sm)
    assert got == rc, log
    assert sendmail_records(sm) == [] and pm.acks == [] and pm.fails == []
    # a 204 carries no body, hence no error text
    text = "no details" if status == 204 else "spool unavailable"
    assert log_lines(log) == [
        "lease: HTTP %d from PostMaster (%s)" % (status, text),
        "delivered=0 deferred=0 bounced=0"]


def test_unreachable_postmaster_is_a_temporary_failure(tree, sm):
    from conftest import free_port
    port = free_port()
    rc, log = run_postman(["--sendmail", fake_sendmail(),
                           "http://127.0.0.1:%d/po" % port], tree, sendmail_dir=sm)
    assert rc == EX_TEMPFAIL
    lines = log_lines(log)
    # libcurl's error buffer ends with curl_easy_strerror's words: said once
    assert re.fullmatch(r"lease: http://127\.0\.0\.1:%d/po/lease\?wait=0&"
                        r"max_bytes=268439552: Failed to connect to 127\.0\.0\.1 "
                        r"port %d after \d+ ms: Couldn't connect to server"
                        % (port, port), lines[0]), lines
    assert lines[1:] == ["delivered=0 deferred=0 bounced=0"]


# PostMaster (or a proxy in front of it) that dies in the middle of the
# lease response: what arrived is never parsed, let alone delivered.
def cut_short(mid_body):
    """The ways a response can end early, cut mid_body octets into its
    body, with the reason libcurl gives for each."""
    partial = ("Transferred a partial file: transfer closed with %d bytes "
               "remaining to read")
    return [("mid_body", dict(truncate=mid_body), partial),
            ("after_headers", dict(truncate=0), partial),
            ("no_reply", dict(hangup=True),
             "Server returned nothing (no headers, no data): Empty reply "
             "from server")]


CUT_SHORT = cut_short(150)


@pytest.mark.parametrize("cut,error", [(c, e) for _, c, e in CUT_SHORT],
                         ids=[n for n, _, _ in CUT_SHORT])
def test_lease_response_cut_short_is_a_temporary_failure(pm, tree, sm, cut, error):
    r = Reply(200, lease([message(1), message(2)]), **cut)
    pm.queue(r)
    rc, log = postman(pm, tree, sm)
    assert rc == EX_TEMPFAIL, log
    assert sendmail_records(sm) == [] and pm.acks == [] and pm.fails == []
    assert len(pm.lease_requests()) == 1
    if "%d" in error:
        error %= len(r.body) - cut["truncate"]
    assert log_lines(log) == [
        "lease: %s/lease?wait=0&max_bytes=268439552: %s" % (pm.url, error),
        "delivered=0 deferred=0 bounced=0"]


def test_postmaster_that_never_answers_times_out(pm, tree, sm):
    # The connection is accepted and the request read; the answer would
    # come long after --timeout.
    pm.queue(Reply(200, lease([message(1)]), delay=30))
    t0 = time.monotonic()
    rc, log = postman(pm, tree, sm, "--timeout", "1.5")
    took = time.monotonic() - t0
    assert rc == EX_TEMPFAIL, log
    assert 1.4 <= took < 5 * SLOWDOWN       # libcurl's clock may say 1499
    assert [p for p, _, _ in pm.lease_requests()] == [
        "/po/lease?wait=0&max_bytes=268439552"]
    assert sendmail_records(sm) == [] and pm.acks == [] and pm.fails == []
    lines = log_lines(log)
    m = re.fullmatch(r"lease: %s/lease\?wait=0&max_bytes=268439552: Timeout "
                     r"was reached: Operation "
                     r"timed out after (\d+) milliseconds with 0 bytes received"
                     % re.escape(pm.url), lines[0])
    assert m, lines
    assert lines[1:] == ["delivered=0 deferred=0 bounced=0"]


def test_connect_timeout_when_the_handshake_is_never_answered(tree, sm):
    # A listening socket whose accept queue is full (backlog 0, one
    # connection waiting, never accepted): Linux drops further SYNs, so
    # the connection can neither succeed nor be refused.
    with socket.socket() as listener, socket.socket() as first:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        first.connect(("127.0.0.1", port))
        t0 = time.monotonic()
        rc, log = run_postman(["--sendmail", fake_sendmail(), "--connect-timeout",
                               "1", "http://127.0.0.1:%d/po" % port], tree,
                              sendmail_dir=sm)
        took = time.monotonic() - t0
    assert rc == EX_TEMPFAIL, log
    assert 0.9 <= took < 5 * SLOWDOWN
    assert sendmail_records(sm) == []
    lines = log_lines(log)
    m = re.fullmatch(r"lease: http://127\.0\.0\.1:%d/po/lease\?wait=0&"
                     r"max_bytes=268439552: Failed to connect to 127\.0\.0\.1 port %d "
                     r"after (\d+) ms: Timeout was reached" % (port, port), lines[0])
    assert m, lines
    assert lines[1:] == ["delivered=0 deferred=0 bounced=0"]


def test_bare_host_means_https_and_a_plain_http_server_gets_a_hint(pm, tree, sm):
    # A plain-HTTP server spoken to over TLS: the handshake fails, which
    # shows the bare URL was taken as https://; the log says what to do.
    # A setup error, not a passing fault: EX_UNAVAILABLE, as for TLS.
    rc, log = run_postman(["--sendmail", fake_sendmail(),
                           "127.0.0.1:%d/po" % pm.port], tree, sendmail_dir=sm)
    assert rc == EX_UNAVAILABLE
    assert log_lines(log) == [
        "lease: https://127.0.0.1:%d/po/lease?wait=0&max_bytes=268439552: "
        "SSL connect error: OpenSSL/%s: error:0A00010B:SSL routines::wrong "
        "version number (the server does not speak TLS; use http:// if it "
        "is a plain HTTP PostMaster: a URL without a scheme means https://)"
        % (pm.port, OPENSSL_VERSION),
        "delivered=0 deferred=0 bounced=0"]
    assert pm.requests == []


@pytest.fixture
def tls_cert(tree):
    """A self-signed certificate for 127.0.0.1 made with openssl(1)."""
    cert, key = os.path.join(tree, "cert.pem"), os.path.join(tree, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_https_postmaster_is_verified_with_cacert(tree, sm, tls_cert):
    pm = FakePostMaster(tls=tls_cert)
    try:
        pm.queue(lease([message(1)]))
        # not trusted by the system's CAs: refused, nothing delivered
        rc, log = postman(pm, tree, sm)
        assert rc == EX_UNAVAILABLE
        assert log_lines(log)[0].startswith(
            "lease: %s/lease?wait=0&max_bytes=268439552: " % pm.url)
        assert sendmail_records(sm) == []
        # trusted through --cacert: delivered
        rc, log = postman(pm, tree, sm, "--cacert", tls_cert[0])
        assert rc == 0, log
        assert pm.acks == [message_id(1)]
        # --insecure skips verification, only when asked
        pm.queue(lease([message(2)]))
        rc, log = postman(pm, tree, sm, "--insecure")
        assert rc == 0, log
        assert pm.acks == [message_id(1), message_id(2)]
    finally:
        pm.close()


# --- sendmail's answers -----------------------------------------------------

@pytest.mark.parametrize("rcpt,permanent,reason", [
    ("tempfail@example.net", False,
     "sendmail exit 75: fake sendmail: mail system busy, try again later"),
    ("fail@example.net", True, "sendmail exit 1: fake sendmail: 550 mailbox unavailable"),
    ("exit67@example.net", True, "sendmail exit 67"),
    ("exit71@example.net", False, "sendmail exit 71"),
    ("exit74@example.net", False, "sendmail exit 74"),
    ("crash@example.net", False, "sendmail killed by signal 9 (Killed)"),
], ids=["ex_tempfail", "exit_1", "ex_nouser", "ex_oserr", "ex_ioerr", "signal"])
def test_sendmail_failure_is_reported_with_its_reason(pm, tree, sm, rcpt,
                                                      permanent, reason):
    pm.queue(lease([message(1, "a@example.org", [rcpt]), message(2)]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    assert len(sendmail_records(sm)) == 2
    assert [(i, d) for i, _, d in pm.fails] == [
        (message_id(1), {"permanent": permanent, "reason": reason})]
    assert pm.acks == [message_id(2)]
    status = "bounced" if permanent else "deferred"
    assert log_lines(log) == [
        "%s: to=<%s>, relay=sendmail, delay=D, status=%s (%s)"
        % (message_id(1), rcpt, status, reason),
        "%s: to=<rcpt@example.net>, relay=sendmail, delay=D, status=sent "
        "(delivered via sendmail)" % message_id(2),
        "delivered=1 deferred=%d bounced=%d" % (0 if permanent else 1,
                                                 1 if permanent else 0)]


def test_hanging_sendmail_is_killed_and_deferred(pm, tree, sm):
    pm.queue(lease([message(1, "a@example.org", ["hang@example.net"]), message(2)]))
    t0 = time.monotonic()
    rc, log = postman(pm, tree, sm, "--sendmail-timeout", "1")
    assert rc == 0, log
    assert 1 <= time.monotonic() - t0 < 10
    assert [(i, d) for i, _, d in pm.fails] == [
        (message_id(1), {"permanent": False, "reason": "sendmail timed out after 1s"})]
    assert pm.acks == [message_id(2)]


def test_sendmail_exiting_before_reading_everything_is_deferred(pm, tree, sm):
    big = "Subject: big\r\n\r\n" + ("y" * 999 + "\r\n") * 2000    # 2 MB: > a pipe
    pm.queue(lease([message(1, "a@example.org", ["early@example.net"], data=big),
                    message(2)]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    assert [(i, d) for i, _, d in pm.fails] == [
        (message_id(1), {"permanent": False,
                         "reason": "sendmail exited 0 before reading the whole message"})]
    assert pm.acks == [message_id(2)]


def test_large_message_reaches_sendmail_whole(pm, tree, sm):
    big = "Subject: big\r\n\r\n" + ("z" * 998 + "\r\n") * 5000   # 5 MB
    pm.queue(lease([message(1, data=big)]))
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    [(_, data)] = sendmail_records(sm)
    assert data == big.encode()


def test_missing_sendmail_is_a_configuration_error(pm, tree, sm):
    pm.queue(lease([message(1)]))
    rc, log = run_postman(["--sendmail", os.path.join(tree, "nope"), pm.url], tree)
    assert rc == 78     # EX_CONFIG
    assert pm.requests == []
    assert log_lines(log) == ["sendmail: %s: No such file or directory"
                              % os.path.join(tree, "nope")]


# --- reporting ----------------------------------------------------------------

def test_expired_lease_on_ack_is_a_warning(pm, tree, sm):
    pm.queue(lease([message(1)]))
    pm.ack_status = 404
    rc, log = postman(pm, tree, sm)
    assert rc == 0, log
    lines = log_lines(log)
    assert lines[1].startswith("%s: lease " % message_id(1))
    assert lines[1].endswith(" expired before the report; the message will be "
                             "delivered again")


def test_ack_refused_ends_the_run(pm, tree, sm):
    pm.queue(lease([message(1), message(2)]))
    pm.ack_status = 500
    rc, log = postman(pm, tree, sm)
    assert rc == EX_TEMPFAIL
    # the first message went out; its ack failed; the second is left
    # leased for PostMaster to hand out again
    assert len(sendmail_records(sm)) == 1
    lines = log_lines(log)
    assert lines[1] == ("%s: cannot report status=sent: HTTP 500 (not leased)"
                        % message_id(1))
    assert lines[2].startswith("%s: not attempted; back in the queue when lease"
                               % message_id(2))


ACK_CUT_SHORT = cut_short(5)


@pytest.mark.parametrize("cut,error", [(c, e) for _, c, e in ACK_CUT_SHORT],
                         ids=[n for n, _, _ in ACK_CUT_SHORT])
def test_ack_cut_short_ends_the_run(pm, tree, sm, cut, error):
    l = lease([message(1), message(2), message(3)])
    pm.queue(l)
    pm.ack_reply = Reply(200, {"id": message_id(1), "status": "sent"}, **cut)
    rc, log = postman(pm, tree, sm)
    assert rc == EX_TEMPFAIL, log
    # The first message went out once; whether PostMaster took note is
    # unknown, so the run ends and the rest stays leased.
    [(argv, _)] = sendmail_records(sm)
    assert argv[-1] == "rcpt@example.net"
    assert pm.fails == []
    if cut.get("hangup"):
        # libcurl sends a request again, once, on a fresh connection when
        # a reused one closes before any byte of an answer.
        assert pm.acks == [message_id(1)] * 2
    else:
        assert pm.acks == [message_id(1)]
        error %= len(pm.ack_reply.body) - cut["truncate"]
    assert log_lines(log) == [
        "%s: to=<rcpt@example.net>, relay=sendmail, delay=D, status=sent "
        "(delivered via sendmail)" % message_id(1),
        "%s: cannot report status=sent: %s/leases/%s/%s/ack: %s"
        % (message_id(1), pm.url, l["lease"], message_id(1), error),
        "%s: not attempted; back in the queue when lease %s expires"
        % (message_id(2), l["lease"]),
        "%s: not attempted; back in the queue when lease %s expires"
        % (message_id(3), l["lease"]),
        "delivered=1 deferred=0 bounced=0"]


# --- authentication -----------------------------------------------------------

AUTH = "Basic " + base64.b64encode(b"postman:s3cret pw").decode()


@pytest.mark.parametrize("how", ["file", "env", "netrc", "netrc-user", "argv"])
def test_basic_auth_password_sources(tree, sm, how):
    pm = FakePostMaster(auth=AUTH)
    try:
        pm.queue(lease([message(1)]))
        args, env = ["--user", "postman"], {}
        if how == "file":
            p = os.path.join(tree, "pw")
            with open(p, "w") as f:
                f.write("s3cret pw\n")
            args += ["--password-file", p]
        elif how == "env":
            env["POSTMAN_PASSWORD"] = "s3cret pw"
        elif how == "netrc":
            p = os.path.join(tree, "netrc")
            with open(p, "w") as f:
                f.write('machine 127.0.0.1 login postman password "s3cret pw"\n')
            os.chmod(p, 0o600)
            args = ["--netrc-file", p]
        elif how == "netrc-user":
            # --user picks its own line of several for the host
            p = os.path.join(tree, "netrc")
            with open(p, "w") as f:
                f.write('machine 127.0.0.1 login other password nope\n'
                        'machine 127.0.0.1 login postman password "s3cret pw"\n')
            os.chmod(p, 0o600)
            args += ["--netrc-file", p]
        else:
            args += ["--password", "s3cret pw"]
        rc, log = postman(pm, tree, sm, *args, env=env)
        assert rc == 0, log
        assert pm.acks == [message_id(1)]
        assert all(h.get("Authorization") == AUTH for _, h, _ in pm.requests)
        warning = ("--password is visible to every user in ps; use "
                   "--password-file, POSTMAN_PASSWORD or ~/.netrc")
        assert (warning in log_lines(log)) == (how == "argv")
    finally:
        pm.close()


def test_wrong_password_exits_noperm(tree, sm):
    pm = FakePostMaster(auth=AUTH)
    try:
        pm.queue(lease([message(1)]))
        rc, log = postman(pm, tree, sm, "--user", "postman", env={
            "POSTMAN_PASSWORD": "wrong"})
        assert rc == EX_NOPERM
        assert log_lines(log)[0] == ("lease: HTTP 401 from PostMaster "
                                     "(authentication required)")
        assert sendmail_records(sm) == []
    finally:
        pm.close()


def test_unreadable_password_file_exits_noinput(pm, tree, sm):
    rc, log = postman(pm, tree, sm, "--user", "u", "--password-file",
                      os.path.join(tree, "missing"))
    assert rc == EX_NOINPUT
    assert pm.requests == []
    assert log_lines(log) == ["--password-file: %s: No such file or directory"
                              % os.path.join(tree, "missing")]


# --- the lock -----------------------------------------------------------------

def test_second_run_exits_at_once_while_the_lock_is_held(pm, tree, sm):
    path = os.path.join(tree, "postman.lock")
    pm.queue(lease([message(1)]))
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        t0 = time.monotonic()
        rc, log = postman(pm, tree, sm, "--lock", path)
        assert time.monotonic() - t0 < 5
    assert rc == 0
    assert log_lines(log) == ["another postman holds %s; exiting" % path]
    assert pm.requests == [] and sendmail_records(sm) == []


def test_lock_file_of_another_kind_is_refused(pm, tree, sm):
    path = os.path.join(tree, "lockdir")
    os.mkdir(path)
    rc, log = postman(pm, tree, sm, "--lock", path)
    assert rc == 73     # EX_CANTCREAT
    assert pm.requests == []


# --- signals and --watch ----------------------------------------------------------

def test_sigterm_finishes_the_current_message_then_exits_0(pm, tree, sm):
    pm.queue(lease([message(1, "a@example.org", ["hang@example.net"]),
                    message(2), message(3)]))
    p, log = start_postman(["--sendmail", fake_sendmail(), "--sendmail-timeout",
                            "2", pm.url], tree, sm)
    try:
        assert wait_until(lambda: len(sendmail_records(sm)) == 1)
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    text = read_log(tree)
    assert_no_sanitizer_report(text, p)
    assert len(sendmail_records(sm)) == 1
    assert [(i, d) for i, _, d in pm.fails] == [
        (message_id(1), {"permanent": False, "reason": "sendmail timed out after 2s"})]
    assert pm.acks == []
    lines = log_lines(text)
    assert lines[1].startswith("%s: not attempted" % message_id(2))
    assert lines[2].startswith("%s: not attempted" % message_id(3))
    assert lines[-1] == "delivered=0 deferred=1 bounced=0"


def test_watch_long_polls_and_delivers_until_sigterm(pm, tree, sm):
    # The first lease is held by the server for a while, as a long poll
    # with nothing queued would be; then a message arrives.
    pm.queue(Reply(200, lease([message(1)]), delay=0.5), Reply(200, EMPTY_LEASE, delay=30))
    p, log = start_postman(["--sendmail", fake_sendmail(), "--watch", "--wait", "20",
                            pm.url], tree, sm)
    try:
        assert wait_until(lambda: pm.acks == [message_id(1)])
        assert wait_until(lambda: len(pm.lease_requests()) == 2)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
        assert time.monotonic() - t0 < 3 * SLOWDOWN     # the long poll is cut short
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    text = read_log(tree)
    assert_no_sanitizer_report(text, p)
    assert [path for path, _, _ in pm.lease_requests()] == [
        "/po/lease?wait=20&max_bytes=268439552"] * 2
    lines = log_lines(text)
    assert lines[0] == "watching %s, relay=sendmail" % pm.url
    assert lines[-1] == "delivered=1 deferred=0 bounced=0"


def test_watch_retries_after_server_trouble(pm, tree, sm):
    pm.queue(Reply(503, {"error": "busy"}), lease([message(1)]))
    p, log = start_postman(["--sendmail", fake_sendmail(), "--watch", "--wait", "1",
                            pm.url], tree, sm)
    try:
        assert wait_until(lambda: pm.acks == [message_id(1)])
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    text = read_log(tree)
    assert_no_sanitizer_report(text, p)
    lines = log_lines(text)
    assert lines[1:3] == ["lease: HTTP 503 from PostMaster (busy)", "retrying in 1s"]


# --- the command line ------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--bogus", "x"], "unknown option --bogus"),
    ([], "missing URL"),
    (["a", "b"], "expected one URL, got 2 arguments"),
    (["ftp://example.com/x"], "ftp://example.com/x: URL scheme must be http:// or https://"),
    (["example.com/p?x=1"], "example.com/p?x=1: URL must not hold a query or a fragment"),
    (["--batch", "0", "x"], "--batch: expected a count in 1..100000, not '0'"),
    (["--max-response", "12Q", "x"],
     "--max-response: expected a size like 1048576, 64M or 1G, not '12Q'"),
    (["--sendmail-timeout", "-1", "x"],
     "--sendmail-timeout: expected seconds in (0, 86400], not '-1'"),
    (["--smtp", "h", "--sendmail", "/bin/true", "x"],
     "--smtp and --sendmail exclude each other"),
    (["--sendmail-parallel", "0", "x"],
     "--sendmail-parallel: expected a count in 1..64, not '0'"),
    (["--sendmail-parallel", "65", "x"],
     "--sendmail-parallel: expected a count in 1..64, not '65'"),
    (["--smtp", "h", "--sendmail-parallel", "2", "x"],
     "--sendmail-parallel needs delivery through sendmail"),
    (["--password", "p", "x"], "a password needs --user"),
    (["--starttls", "x"], "SMTP options need --smtp"),
    (["--wait", "5", "x"], "--wait needs --watch"),
    (["--batch"], "option --batch needs a value"),
])
def test_bad_command_line_is_one_line_and_ex_usage(tree, args, message):
    rc, log = run_postman(args, tree)
    assert rc == EX_USAGE
    assert log == "postman: %s (see --help)\n" % message


def test_help_and_version(tree):
    p = subprocess.run([binary("postman"), "--help"], capture_output=True)
    assert p.returncode == 0 and p.stdout.startswith(b"usage: postman [options] URL\n")
    p = subprocess.run([binary("postman"), "--version"], capture_output=True)
    assert p.returncode == 0 and p.stdout == b"postman 0.1.0\n"


# --- the size of a lease --------------------------------------------------------

LIMIT_RESPONSE = 256 * 1024 * 1024 + 4096     # common/limits.h


@pytest.mark.parametrize("args,max_bytes", [
    ([], LIMIT_RESPONSE), (["--max-response", "68K"], 69632),
    (["--max-response", "1G"], 1 << 30), (["--batch", "3"], LIMIT_RESPONSE),
], ids=["default", "floor", "1G", "with_batch"])
def test_every_lease_asks_for_at_most_max_response_bytes(pm, tree, sm, args,
                                                         max_bytes):
    # PostMaster fills a batch up to max_bytes and never answers more, so
    # no response of its is cut off at --max-response.
    pm.queue(lease([message(1)]), lease([message(2)]))
    rc, log = postman(pm, tree, sm, *args)
    assert rc == 0, log
    assert pm.acks == [message_id(1), message_id(2)]
    batch = "max=3&" if "--batch" in args else ""
    assert [p for p, _, _ in pm.lease_requests()] == [
        "/po/lease?%swait=0&max_bytes=%d" % (batch, max_bytes)] * 3


def test_watch_lease_asks_for_max_bytes_too(pm, tree, sm):
    pm.queue(lease([message(1)]))
    p, log = start_postman(["--sendmail", fake_sendmail(), "--watch", "--wait", "1",
                            "--max-response", "1M", pm.url], tree, sm)
    try:
        assert wait_until(lambda: pm.acks == [message_id(1)])
        assert wait_until(lambda: len(pm.lease_requests()) >= 2)
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    assert_no_sanitizer_report(read_log(tree), p)
    assert {path for path, _, _ in pm.lease_requests()} == {
        "/po/lease?wait=1&max_bytes=1048576"}


# --- settings that cannot work together -------------------------------------------

MAX_RESPONSE_FLOOR = ("is less than 68K (69632), a lease's 4096 bytes around "
                      "one 64 KiB message, the least SMTP servers must take "
                      "(RFC 5321 4.5.3.1.7)")


@pytest.mark.parametrize("args,message", [
    (["--max-response", "69631", "x"], "--max-response: 69631 " + MAX_RESPONSE_FLOOR),
    (["--max-response", "4K", "x"], "--max-response: 4K " + MAX_RESPONSE_FLOOR),
    (["--watch", "--wait", "0", "x"],
     "--watch needs a --wait of 1 or more: with 0 PostMan would ask "
     "PostMaster again and again without pause"),
    (["--watch", "--max-time", "30", "x"],
     "--max-time has no effect with --watch, which runs until stopped"),
    (["--connect-timeout", "30", "--timeout", "20", "x"],
     "--connect-timeout 30 is longer than --timeout 20, which counts the "
     "connect too"),
    (["--connect-timeout", "61", "x"],
     "--connect-timeout 61 is longer than --timeout 60, which counts the "
     "connect too"),
    (["--batch", "2", "--sendmail-parallel", "3", "x"],
     "--sendmail-parallel 3 is more than --batch 2: a batch never has more "
     "messages to hand over at once"),
    (["--batch", "2", "--smtp", "h", "--smtp-connections", "3", "x"],
     "--smtp-connections 3 is more than --batch 2: a batch never has more "
     "messages to send at once"),
    (["--cacert", "ca.pem", "--insecure", "x"],
     "--cacert and --insecure exclude each other"),
    (["--cacert", "ca.pem", "http://192.0.2.1/po"],
     "--cacert needs an https:// URL: plain http:// has no certificate"),
    (["--insecure", "http://192.0.2.1/po"],
     "--insecure needs an https:// URL: plain http:// has no certificate"),
], ids=["max_response_69631", "max_response_4K", "watch_wait_0",
        "watch_max_time", "connect_over_timeout", "connect_over_default_timeout",
        "parallel_over_batch", "connections_over_batch", "cacert_insecure",
        "cacert_http", "insecure_http"])
def test_settings_that_cannot_work_together_are_refused_at_start(tree, args,
                                                                 message):
    rc, log = run_postman(args, tree)
    assert rc == EX_USAGE
    assert log == "postman: %s (see --help)\n" % message


@pytest.mark.parametrize("args", [
    ["--max-response", "68K"], ["--batch", "1"], ["--batch", "1", "--smtp", "h"],
    ["--timeout", "1.5"], ["--connect-timeout", "5", "--timeout", "5"],
    ["--batch", "2", "--sendmail-parallel", "2"],
], ids=["max_response_floor", "batch_below_default_parallel",
        "batch_below_default_connections", "timeout_below_default_connect",
        "connect_equals_timeout", "parallel_equals_batch"])
def test_settings_at_the_edge_are_taken(pm, tree, sm, args):
    if "--smtp" in args:
        # nothing to deliver: the SMTP server is never asked for
        rc, log = run_postman(args + [pm.url], tree)
    else:
        rc, log = postman(pm, tree, sm, *args)
    assert rc == 0, log
    assert log_lines(log) == ["delivered=0 deferred=0 bounced=0"]


# --- a password in clear ------------------------------------------------------------

CLEAR_WARNING = ("the password from %s goes to %s in clear (plain http://, "
                 "not loopback); use https://")


@pytest.fixture
def offline():
    """unshare's argv: PostMan in a network namespace of its own, where a
    connect to 192.0.2.1 (TEST-NET-1) fails at once without a packet sent."""
    w = offline_wrapper()
    if w is None:
        pytest.skip("unshare --net is not permitted here: no network "
                    "namespace to send nothing from")
    return w


def _password_source(tree, how, host):
    """(args, env, name in the warning) for one way of giving a password."""
    if how == "file":
        p = os.path.join(tree, "pw")
        with open(p, "w") as f:
            f.write("s3cret pw\n")
        return ["--user", "postman", "--password-file", p], {}, "--password-file"
    if how == "argv":
        return ["--user", "postman", "--password", "s3cret pw"], {}, "--password"
    if how == "env":
        return ["--user", "postman"], {"POSTMAN_PASSWORD": "s3cret pw"}, \
            "POSTMAN_PASSWORD"
    if how == "url":
        return [], {}, "the URL"
    # --netrc-file, or libcurl's default file: $HOME/.netrc
    p = os.path.join(tree, "netrc" if how == "netrc" else ".netrc")
    with open(p, "w") as f:
        f.write('machine %s login postman password "s3cret pw"\n' % host)
    os.chmod(p, 0o600)
    if how == "netrc":
        return ["--netrc-file", p], {}, p
    return [], {"HOME": tree}, p


PASSWORD_SOURCES = ["file", "argv", "env", "netrc", "home_netrc", "url"]


def _url(scheme, host, how):
    return "%s://%s%s/po" % (scheme, "postman:s3cret@" if how == "url" else "",
                             host)


@pytest.mark.parametrize("how", PASSWORD_SOURCES)
def test_password_over_plain_http_to_a_remote_host_is_warned_of(tree, sm,
                                                                offline, how):
    args, env, source = _password_source(tree, how, "192.0.2.1")
    rc, log = run_postman(["--sendmail", fake_sendmail()] + args +
                          [_url("http", "192.0.2.1", how)], tree,
                          sendmail_dir=sm, env=env, wrapper=offline)
    assert rc == EX_TEMPFAIL, log
    lines = [l for l in log_lines(log) if not l.startswith("--password is")]
    assert lines[0] == CLEAR_WARNING % (source, "192.0.2.1")
    assert re.fullmatch(
        r"lease: %s/lease\?wait=0&max_bytes=268439552: Failed to connect to "
        r"192\.0\.2\.1 port 80 after \d+ ms: Couldn't connect to server"
        % re.escape(_url("http", "192.0.2.1", how)), lines[1]), lines
    assert lines[2:] == ["delivered=0 deferred=0 bounced=0"]


@pytest.mark.parametrize("how", PASSWORD_SOURCES)
def test_password_over_https_is_not_warned_of(tree, sm, offline, how):
    args, env, _ = _password_source(tree, how, "192.0.2.1")
    rc, log = run_postman(["--sendmail", fake_sendmail()] + args +
                          [_url("https", "192.0.2.1", how)], tree,
                          sendmail_dir=sm, env=env, wrapper=offline)
    assert rc == EX_TEMPFAIL, log
    assert not [l for l in log_lines(log) if "in clear" in l], log
    assert log_lines(log)[-1] == "delivered=0 deferred=0 bounced=0"


def test_no_password_no_warning_over_plain_http(tree, sm, offline):
    # A netrc entry for another host gives this one no password.
    p = os.path.join(tree, "netrc")
    with open(p, "w") as f:
        f.write("machine 192.0.2.2 login postman password other\n")
    os.chmod(p, 0o600)
    rc, log = run_postman(["--sendmail", fake_sendmail(), "--netrc-file", p,
                           "http://192.0.2.1/po"], tree, sendmail_dir=sm,
                          wrapper=offline)
    assert rc == EX_TEMPFAIL, log
    lines = log_lines(log)
    assert len(lines) == 2 and lines[0].startswith("lease: "), lines


@pytest.mark.parametrize("how", PASSWORD_SOURCES)
def test_password_over_plain_http_to_loopback_is_not_warned_of(tree, sm, how):
    pm = FakePostMaster(auth=AUTH if how != "url" else
                        "Basic " + base64.b64encode(b"postman:s3cret").decode())
    try:
        pm.queue(lease([message(1)]))
        args, env, _ = _password_source(tree, how, "127.0.0.1")
        rc, log = run_postman(["--sendmail", fake_sendmail()] + args +
                              [_url("http", "127.0.0.1:%d" % pm.port, how)],
                              tree, sendmail_dir=sm, env=env)
        assert rc == 0, log
        assert pm.acks == [message_id(1)]
        assert not [l for l in log_lines(log) if "in clear" in l], log
    finally:
        pm.close()


@pytest.mark.parametrize("host", ["localhost", "[::1]"])
def test_loopback_names_bring_no_warning(tree, sm, offline, host):
    # Offline, the loopback is down: the connect fails, but the password
    # would never have left the machine.
    rc, log = run_postman(["--sendmail", fake_sendmail(), "--user", "postman",
                           "--password", "pw", "http://%s:9/po" % host], tree,
                          sendmail_dir=sm, wrapper=offline)
    assert rc == EX_TEMPFAIL, log
    assert not [l for l in log_lines(log) if "in clear" in l], log


# --- client certificates --------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--key", "key.pem", "x"], "--key needs --cert, the certificate it belongs to"),
    (["--cert", "cert.pem", "http://192.0.2.1/po"],
     "--cert needs an https:// URL: plain http:// shows no certificate"),
], ids=["key_alone", "cert_http"])
def test_client_certificate_settings_that_cannot_work_are_refused(tree, args,
                                                                  message):
    rc, log = run_postman(args, tree)
    assert rc == EX_USAGE
    assert log == "postman: %s (see --help)\n" % message


def test_a_client_certificate_file_that_cannot_be_read_is_a_tls_failure(
        tree, sm, tls_cert):
    pm = FakePostMaster(tls=tls_cert)
    try:
        pm.queue(lease([message(1)]))
        missing = os.path.join(tree, "missing.pem")
        rc, log = postman(pm, tree, sm, "--cacert", tls_cert[0], "--cert", missing)
        assert rc == EX_UNAVAILABLE, log
        # libcurl's words, once: the error and the file it could not load
        assert log_lines(log)[0].startswith(
            "lease: %s/lease?wait=0&max_bytes=268439552: Problem with the local "
            "SSL certificate: could not load PEM client certificate from %s, "
            % (pm.url, missing)), log
        assert pm.requests == [] and sendmail_records(sm) == []
    finally:
        pm.close()


# What nginx answers, with ssl_verify_client on, to a client without a
# certificate or with one it cannot verify (tests/integration/
# test_e2e_relay.py has the real nginx).
NGINX_400 = ("<html>\r\n<head><title>400 %s</title></head>\r\n<body>\r\n"
             "<center><h1>400 Bad Request</h1></center>\r\n<center>%s</center>"
             "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@pytest.mark.parametrize("title,with_cert,says", [
    ("No required SSL certificate was sent", False,
     "it asks for a client certificate (--cert, --key)"),
    ("The SSL certificate error", True,
     "it does not accept the client certificate --cert"),
], ids=["none_sent", "not_accepted"])
def test_nginx_refusing_the_client_certificate_is_a_permission_failure(
        tree, sm, tls_cert, title, with_cert, says):
    pm = FakePostMaster(tls=tls_cert)
    try:
        pm.queue(Reply(400, (NGINX_400 % (title, title)).encode(),
                       headers={"Content-Type": "text/html"}))
        extra = ["--cert", tls_cert[0], "--key", tls_cert[1]] if with_cert else []
        rc, log = postman(pm, tree, sm, "--cacert", tls_cert[0], *extra)
        assert rc == EX_NOPERM, log
        assert log_lines(log) == [
            "lease: HTTP 400 from the server in front of PostMaster (%s): %s"
            % (title, says),
            "delivered=0 deferred=0 bounced=0"]
        assert sendmail_records(sm) == [] and pm.acks == [] and pm.fails == []
    finally:
        pm.close()
