"""PostMan against the real PostMaster, on a spool filled by the real
PostOffice: sendmail mode with every sendmail outcome, --smtp with a second
PostOffice as the destination MX (its spool holds what arrived), the lock,
and a PostMan killed with SIGKILL in the middle of a batch."""

import json
import os
import signal
import smtplib
import time

import pytest

from conftest import (binary, free_port, spool_messages,
                      wait_for_port, wait_until)
import postman_fakes
from postman_fakes import (assert_no_sanitizer_report, log_lines, read_log,
                           run_postman, sendmail_records)

pytestmark = pytest.mark.skipif(
    not (os.path.exists(binary("postmaster")) and os.path.exists(binary("postoffice"))),
    reason="postmaster and postoffice are not built")


def mail(i, mail_from="ann@example.org", to="bob@example.net", extra=""):
    """A complete message (Date, From, Message-ID: nothing for an SMTP
    client library to add), with 8-bit text and a dot-line."""
    return ("From: Ann <%s>\r\nTo: <%s>\r\nDate: Tue, 25 Nov 2026 15:00:00 +0000\r\n"
            "Message-ID: <m%d@example.org>\r\nSubject: message %d\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "number %d \u00e9t\u00e9\r\n.\r\n..two dots\r\n%s" %
            (mail_from or "mailer-daemon@example.org", to, i, i, i, extra)).encode()


class Relay:
    """A PostOffice and a PostMaster sharing one spool."""

    def __init__(self, daemons, tree, name="relay", postmaster_args=()):
        self.spool = os.path.join(tree, name)
        os.mkdir(self.spool)
        self.smtp_port = free_port()
        self.po = daemons([binary("postoffice"), "-s", self.spool, "-l",
                           "127.0.0.1:%d" % self.smtp_port], name=name + "-postoffice")
        wait_for_port(self.smtp_port, self.po.proc)
        self.http_port = free_port()
        self.pm = daemons([binary("postmaster"), "-s", self.spool, "-l",
                           "127.0.0.1:%d" % self.http_port] + list(postmaster_args),
                          name=name + "-postmaster")
        wait_for_port(self.http_port, self.pm.proc)
        self.url = "http://127.0.0.1:%d" % self.http_port

    def send(self, messages, check=True):
        """Hands (from, [rcpt], bytes) to PostOffice; returns {id: spool
        object} of what it spooled."""
        before = set(spool_messages(self.spool))
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as s:
            for f, rcpts, data in messages:
                s.sendmail(f, rcpts, data)
        if not check:
            return None
        new = sorted(set(spool_messages(self.spool)) - before)
        assert len(new) == len(messages)
        return {i: self.read(i) for i in new}

    def read(self, name, area=""):
        with open(os.path.join(self.spool, area, name)) as f:
            return json.load(f)

    def area(self, area):
        d = os.path.join(self.spool, area)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


def raw(obj):
    if "data" in obj:
        return obj["data"].encode()
    import base64
    return base64.b64decode(obj["data_base64"])


def fake_sendmail():
    return binary("helpers/fake_sendmail")


def test_sendmail_mode_delivers_the_spool_byte_for_byte(daemons, tree, sm):
    relay = Relay(daemons, tree)
    spooled = relay.send([("ann@example.org", ["bob@example.net", "carl@example.net"],
                           mail(1)),
                          ("", ["bob@example.net"], mail(2, mail_from="")),
                          ("ann@example.org", ["dave@example.net"], mail(3))])
    rc, log = run_postman(["--sendmail", fake_sendmail(), relay.url], tree,
                          sendmail_dir=sm)
    assert rc == 0, log
    recs = sendmail_records(sm)
    want = []
    for mid in sorted(spooled):
        o = spooled[mid]
        want.append(([fake_sendmail(), "-i", "-f", o["mail_from"] or "<>", "--"]
                     + o["rcpt_tos"], raw(o)))
    # Two sendmails may run at once (--sendmail-parallel), so the order
    # in which they start is not fixed; what each one got is.
    assert sorted(recs) == sorted(want)
    assert spool_messages(relay.spool) == []
    assert relay.area(".leased") == [] and relay.area(".dead") == []
    lines = log_lines(log)
    assert lines[-1] == "delivered=3 deferred=0 bounced=0"
    assert len(lines) == 5      # one per recipient, and the summary


def test_sendmail_failures_go_back_to_the_queue_or_to_the_dead_letters(daemons, tree, sm):
    relay = Relay(daemons, tree)
    spooled = relay.send([("ann@example.org", [r], mail(i, to=r)) for i, r in
                          enumerate(["tempfail@example.net", "fail@example.net",
                                     "hang@example.net", "ok@example.net"])])
    by_rcpt = {o["rcpt_tos"][0]: mid for mid, o in spooled.items()}
    rc, log = run_postman(["--sendmail", fake_sendmail(), "--sendmail-timeout", "1",
                           relay.url], tree, sendmail_dir=sm)
    assert rc == 0, log
    assert len(sendmail_records(sm)) == 4
    assert spool_messages(relay.spool) == []
    deferred = [n.split(".")[0] for n in relay.area(".deferred")]
    assert sorted(deferred) == sorted([by_rcpt["tempfail@example.net"],
                                       by_rcpt["hang@example.net"]])
    assert relay.area(".dead") == [by_rcpt["fail@example.net"]]
    dead = relay.read(by_rcpt["fail@example.net"], ".dead")
    assert dead.get("last_error") == "sendmail exit 1: fake sendmail: 550 mailbox unavailable"
    assert log_lines(log)[-1] == "delivered=1 deferred=2 bounced=1"


def test_smtp_mode_hands_every_message_to_the_destination_mx(daemons, tree):
    relay = Relay(daemons, tree)
    mx = Relay(daemons, tree, name="mx")
    messages = [("ann@example.org", ["bob@example.net", "carl@example.net"], mail(1)),
                ("", ["bob@example.net"], mail(2, mail_from=""))]
    messages += [("ann@example.org", ["r%d@example.net" % i], mail(i))
                 for i in range(3, 13)]
    spooled = relay.send(messages)
    rc, log = run_postman(["--smtp", "127.0.0.1:%d" % mx.smtp_port,
                           "--smtp-connections", "3", relay.url], tree)
    assert rc == 0, log
    assert spool_messages(relay.spool) == []
    assert relay.area(".leased") == []
    arrived = [mx.read(i) for i in spool_messages(mx.spool)]
    key = lambda o: (o["mail_from"], o["rcpt_tos"], raw(o))
    assert sorted(map(key, arrived)) == sorted(map(key, spooled.values()))
    lines = log_lines(log)
    assert lines[-1] == "delivered=12 deferred=0 bounced=0"
    assert all(", relay=127.0.0.1:%d, " % mx.smtp_port in l and
               "status=sent (250 " in l for l in lines[:-1])


def test_smtp_refusals_are_deferred_or_bounced_per_reply_class(daemons, tree):
    relay = Relay(daemons, tree)
    mx_dir = os.path.join(tree, "mx")
    os.mkdir(mx_dir)
    port = free_port()
    # The destination takes one recipient per message (452 for more) and
    # messages of at most 2 KiB (552 beyond).
    mx = daemons([binary("postoffice"), "-s", mx_dir, "-l", "127.0.0.1:%d" % port,
                  "--max-rcpt", "1", "--max-size", "2048"], name="mx")
    wait_for_port(port, mx.proc)
    spooled = relay.send([
        ("ann@example.org", ["a@example.net", "b@example.net"], mail(1)),
        ("ann@example.org", ["c@example.net"], mail(2, extra="x" * 4000 + "\r\n")),
        ("ann@example.org", ["d@example.net"], mail(3))])
    ids = {o["rcpt_tos"][0]: mid for mid, o in spooled.items()}
    rc, log = run_postman(["--smtp", "127.0.0.1:%d" % port, relay.url], tree)
    assert rc == 0, log
    # two recipients, the second refused with 452: the whole message is
    # tried again later (a@ then gets it twice: at least once)
    assert [n.split(".")[0] for n in relay.area(".deferred")] == [ids["a@example.net"]]
    assert relay.area(".dead") == [ids["c@example.net"]]
    assert relay.read(ids["c@example.net"], ".dead")["last_error"].startswith(
        "<c@example.net>: 552 ")
    arrived = [(o["rcpt_tos"], raw(o)) for o in
               (json.load(open(os.path.join(mx_dir, n))) for n in spool_messages(mx_dir))]
    assert sorted(arrived) == sorted([(["a@example.net"], mail(1)),
                                      (["d@example.net"], mail(3))])
    lines = log_lines(log)
    assert any(l.startswith("%s: to=<b@example.net>, relay=127.0.0.1:%d, delay=D, "
                            "status=deferred (452 " % (ids["a@example.net"], port))
               for l in lines), lines
    assert lines[-1] == "delivered=1 deferred=1 bounced=1"


def test_unreachable_smtp_server_defers_and_keeps_everything(daemons, tree):
    relay = Relay(daemons, tree)
    spooled = relay.send([("ann@example.org", ["bob@example.net"], mail(1))])
    rc, log = run_postman(["--smtp", "127.0.0.1:%d" % free_port(), relay.url], tree)
    assert rc == 0, log
    [mid] = spooled
    assert [n.split(".")[0] for n in relay.area(".deferred")] == [mid]
    assert log_lines(log)[-1] == "delivered=0 deferred=1 bounced=0"


def start_postman(args, tree, sm, name="postman"):
    return postman_fakes.start_postman(["--sendmail", fake_sendmail()] + args,
                                       tree, sm, name)


def test_overlapping_run_exits_at_once_with_one_line(daemons, tree, sm):
    relay = Relay(daemons, tree)
    relay.send([("ann@example.org", ["hang@example.net"], mail(1))])
    first, logf = start_postman(["--sendmail-timeout", "30", relay.url], tree, sm)
    try:
        assert wait_until(lambda: len(sendmail_records(sm)) == 1, timeout=20)
        t0 = time.monotonic()
        rc, log = run_postman(["--sendmail", fake_sendmail(), relay.url], tree,
                              sendmail_dir=sm)
        assert time.monotonic() - t0 < 5
        assert rc == 0
        assert log_lines(log) == ["another postman holds %s; exiting"
                                  % os.path.join(tree, "postman.lock")]
        assert len(sendmail_records(sm)) == 1
    finally:
        first.kill()
        first.wait()
        logf.close()


def test_sigkill_in_the_middle_of_a_batch_loses_nothing(daemons, tree, sm):
    relay = Relay(daemons, tree, postmaster_args=["--lease-time", "2",
                                                  "--retry-min", "1"])
    n = 20
    spooled = relay.send([("ann@example.org", ["r%d@example.net" % i], mail(i))
                          for i in range(n)])
    with open(os.path.join(sm, "mode"), "w") as f:
        f.write("slow100\n")
    p, logf = start_postman([relay.url], tree, sm)
    try:
        assert wait_until(lambda: len(sendmail_records(sm)) >= 5, timeout=20)
        p.send_signal(signal.SIGKILL)
        p.wait()
    finally:
        logf.close()
    assert 5 <= len(sendmail_records(sm)) < n
    os.unlink(os.path.join(sm, "mode"))
    # Runs again (as cron would) until PostMaster has nothing left: the
    # killed run's lease must expire first.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rc, log = run_postman(["--sendmail", fake_sendmail(), relay.url], tree,
                              sendmail_dir=sm)
        assert rc == 0, log
        left = (spool_messages(relay.spool) + relay.area(".leased")
                + relay.area(".deferred"))
        if not left:
            break
        time.sleep(0.5)
    assert spool_messages(relay.spool) == [] and relay.area(".leased") == []
    assert relay.area(".dead") == []
    got = {}
    for argv, data in sendmail_records(sm):
        got.setdefault(data, []).append(argv[-1])
    for mid, o in spooled.items():
        assert raw(o) in got, "message %s was lost" % mid
    assert len(got) == n


def test_watch_delivers_mail_that_arrives_during_the_long_poll(daemons, tree, sm):
    relay = Relay(daemons, tree)
    p, logf = start_postman(["--watch", "--wait", "10", relay.url], tree, sm)
    try:
        time.sleep(0.5)     # the long poll is waiting now (not an assertion)
        relay.send([("ann@example.org", ["bob@example.net"], mail(1))], check=False)
        assert wait_until(lambda: len(sendmail_records(sm)) == 1, timeout=10)
        assert sendmail_records(sm)[0][1] == mail(1)
        assert wait_until(lambda: spool_messages(relay.spool) == [] and
                          relay.area(".leased") == [], timeout=20)
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        if p.poll() is None:
            p.kill()
        logf.close()
    text = read_log(tree)
    assert_no_sanitizer_report(text, p)
    assert log_lines(text)[-1] == "delivered=1 deferred=0 bounced=0"
