"""PostMan with several sendmails at once (--sendmail-parallel): each
message reported exactly once and only after its own sendmail exited,
failures reported as with one, a SIGTERM that lets every sendmail in
flight finish and be reported, and a SIGKILL in the middle of a batch that
loses nothing."""

import os
import signal
import time

from postman_fakes import (lease, log_lines, message, message_id, read_log,
                           run_postman, sendmail_records,
                           assert_no_sanitizer_report)
from test_postman_real import (Relay, fake_sendmail, mail, raw,
                               start_postman, wait_until)
from conftest import spool_messages



def word(i):
    return "fail" if i % 7 == 2 else "tempfail" if i % 7 == 5 else "ok"


def test_parallel_sendmails_ack_each_message_exactly_once(pm, tree, sm):
    n = 40
    pm.queue(lease([message(i, rcpts=["%s%d@example.net" % (word(i), i)])
                    for i in range(n)]))
    rc, log = run_postman(["--sendmail", fake_sendmail(), "--sendmail-parallel",
                           "4", pm.url], tree, sendmail_dir=sm)
    assert rc == 0, log
    recs = sendmail_records(sm)
    assert sorted(r[0][-1] for r in recs) == sorted(
        "%s%d@example.net" % (word(i), i) for i in range(n))
    assert sorted(pm.acks) == sorted(message_id(i) for i in range(n)
                                     if word(i) == "ok")
    fails = sorted((mid, d["permanent"], d["reason"]) for mid, _, d in pm.fails)
    assert fails == sorted(
        (message_id(i), word(i) == "fail",
         "sendmail exit 1: fake sendmail: 550 mailbox unavailable"
         if word(i) == "fail" else
         "sendmail exit 75: fake sendmail: mail system busy, try again later")
        for i in range(n) if word(i) != "ok")
    lines = log_lines(log)
    per_msg = [l for l in lines if l.startswith(tuple(message_id(i) for i in range(n)))]
    assert sorted(l.split(":")[0] for l in per_msg) == sorted(message_id(i) for i in range(n))
    oks = sum(word(i) == "ok" for i in range(n))
    fails_n = sum(word(i) == "fail" for i in range(n))
    assert lines[-1] == "delivered=%d deferred=%d bounced=%d" % (
        oks, n - oks - fails_n, fails_n)


def test_sigterm_reports_every_sendmail_in_flight_and_starts_no_more(pm, tree, sm):
    n = 30
    pm.queue(lease([message(i, rcpts=["slow400-%d@example.net" % i]) for i in range(n)]))
    p, logf = start_postman(["--sendmail-parallel", "3", pm.url], tree, sm)
    try:
        assert wait_until(lambda: len(sendmail_records(sm)) >= 3)
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        if p.poll() is None:
            p.kill()
        logf.close()
    text = read_log(tree)
    assert_no_sanitizer_report(text, p)
    started = sorted(int(r[0][-1].split("-")[1].split("@")[0])
                     for r in sendmail_records(sm))
    assert 3 <= len(started) < n
    assert started == list(range(len(started)))         # in batch order
    # Every sendmail that ran was reported once, after it exited.
    assert sorted(pm.acks) == sorted(message_id(i) for i in started)
    assert pm.fails == []
    lines = log_lines(text)
    assert lines[-1] == "delivered=%d deferred=0 bounced=0" % len(started)
    not_attempted = [l.split(":")[0] for l in lines if "not attempted" in l]
    assert sorted(not_attempted) == sorted(message_id(i)
                                           for i in range(len(started), n))


def test_sigkill_with_parallel_sendmails_loses_nothing(daemons, tree, sm):
    relay = Relay(daemons, tree, postmaster_args=["--lease-time", "2",
                                                  "--retry-min", "1"])
    n = 24
    spooled = relay.send([("ann@example.org", ["r%d@example.net" % i], mail(i))
                          for i in range(n)])
    with open(os.path.join(sm, "mode"), "w") as f:
        f.write("slow100\n")
    p, logf = start_postman(["--sendmail-parallel", "3", relay.url], tree, sm)
    try:
        assert wait_until(lambda: len(sendmail_records(sm)) >= 6)
        p.send_signal(signal.SIGKILL)
        p.wait()
    finally:
        logf.close()
    assert 6 <= len(sendmail_records(sm)) < n
    os.unlink(os.path.join(sm, "mode"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rc, log = run_postman(["--sendmail", fake_sendmail(), "--sendmail-parallel",
                               "3", relay.url], tree, sendmail_dir=sm)
        assert rc == 0, log
        left = (spool_messages(relay.spool) + relay.area(".leased")
                + relay.area(".deferred"))
        if not left:
            break
        time.sleep(0.5)
    assert spool_messages(relay.spool) == [] and relay.area(".leased") == []
    assert relay.area(".dead") == []
    got = {data for _, data in sendmail_records(sm)}
    for mid, o in spooled.items():
        assert raw(o) in got, "message %s was lost" % mid
