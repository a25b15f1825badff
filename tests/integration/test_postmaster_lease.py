"""PostMaster's two-phase interface: lease, ack, fail, expiry, dead
letters, long poll, restarts."""

import http.client
import json
import os
import threading
import time

from conftest import SLOWDOWN, spool_messages
from postmaster_helpers import (accept_via_postoffice, area, curl, get_json,
                                metrics, stalled_response, start_postmaster,
                                wait_until, write_message, write_messages)


def lease(url, query="", **kw):
    return get_json(url + "/lease" + query, "POST", **kw)


def settle(url, lease_, mid, verb, body=None, **kw):
    return curl("%s/leases/%s/%s/%s" % (url, lease_, mid, verb), "POST",
                data=body, **kw)


def read_spool_json(spool, rel):
    with open(os.path.join(spool, rel)) as f:
        return json.load(f)


def test_lease_ack_and_fail_cycle(daemons, spool):
    ids = accept_via_postoffice(daemons, spool, 3)
    pm = start_postmaster(daemons, spool)
    t0 = int(time.time())
    status, r = lease(pm.url, "?max=2")
    assert status == 200
    L = r["lease"]
    assert len(L) == 24 and t0 + 299 <= r["expires"] <= int(time.time()) + 301
    assert [m["id"] for m in r["messages"]] == ids[:2]
    assert spool_messages(spool) == ids[2:]
    assert area(spool, ".leased") == ["%s.%s" % (i, L) for i in ids[:2]]
    pm.wait_log("%s: status=leased, lease=%s" % (ids[0], L))

    status, _, body = settle(pm.url, L, ids[0], "ack")
    assert status == 200
    assert json.loads(body) == {"id": ids[0], "status": "sent"}
    assert area(spool, ".leased") == ["%s.%s" % (ids[1], L)]
    assert "%s: status=sent, lease=%s, client=127.0.0.1" % (ids[0], L) in pm.log()
    # acknowledged already, or under another lease: 404
    status, _, body = settle(pm.url, L, ids[0], "ack")
    assert status == 404 and "error" in json.loads(body)
    other = "f" * 8 + L[8:]
    assert settle(pm.url, other, ids[1], "ack")[0] == 404
    assert area(spool, ".leased") == ["%s.%s" % (ids[1], L)]

    status, _, body = settle(pm.url, L, ids[1], "fail",
                             b'{"permanent": false, "reason": "451 4.7.1 greylisted"}')
    assert status == 200
    assert json.loads(body) == {"id": ids[1], "status": "deferred", "attempts": 1}
    assert area(spool, ".leased") == []
    [deferred] = area(spool, ".deferred")
    assert deferred.startswith(ids[1] + ".")
    # the back-off (60 s by default) is in the name's lease expiry
    assert int(deferred[33:41], 16) >= t0 + 60
    m = read_spool_json(spool, ".deferred/" + deferred)
    assert m["attempts"] == 1 and m["last_error"] == "451 4.7.1 greylisted"
    assert "%s: status=deferred, attempts=1" % ids[1] in pm.log()
    got = metrics(pm.url)
    assert 0 < got.pop("postoffice_oldest_age_seconds") < 60
    assert got == {
        "postoffice_queued": 1, "postoffice_leased": 0, "postoffice_deferred": 1,
        "postoffice_dead": 0, "postoffice_quarantined": 0,
        "postoffice_served_total": 2, "postoffice_acked_total": 1,
        "postoffice_failed_total": 1}
    assert lease(pm.url)[1]["messages"][0]["id"] == ids[2]
    assert lease(pm.url)[1] == {"lease": None, "expires": None, "messages": []}


def test_unacknowledged_lease_expires_and_messages_return(daemons, spool):
    ids = write_messages(spool, 2)
    # long enough that a slow run (valgrind) still sees the lease held
    pm = start_postmaster(daemons, spool, "--lease-time", "4")
    L = lease(pm.url)[1]["lease"]
    assert spool_messages(spool) == []
    wait_until(lambda: spool_messages(spool) == ids, timeout=10, what="expiry")
    pm.wait_log("%s: status=requeued" % ids[0])
    assert settle(pm.url, L, ids[0], "ack")[0] == 404
    r = lease(pm.url)[1]
    assert [m["id"] for m in r["messages"]] == ids and r["lease"] != L


def test_temporary_failure_comes_back_after_backoff_with_attempts(daemons, spool):
    mid = write_message(spool)
    # a back-off long enough that a slow run (valgrind) still sees the
    # message deferred before it comes back
    pm = start_postmaster(daemons, spool, "--retry-min", "4", "--retry-max", "4")
    L = lease(pm.url)[1]["lease"]
    assert settle(pm.url, L, mid, "fail",
                  b'{"permanent": false, "reason": "timeout"}')[0] == 200
    assert spool_messages(spool) == []
    assert [d[:32] for d in area(spool, ".deferred")] == [mid]
    wait_until(lambda: spool_messages(spool) == [mid], timeout=10, what="retry")
    [m] = lease(pm.url)[1]["messages"]
    assert (m["id"], m["attempts"], m["last_error"]) == (mid, 1, "timeout")


def test_max_attempts_th_failure_moves_the_message_to_dead_letters(daemons, spool):
    mid = write_message(spool)
    pm = start_postmaster(daemons, spool, "--retry-min", "1", "--max-attempts", "2")
    L = lease(pm.url)[1]["lease"]
    assert json.loads(settle(pm.url, L, mid, "fail",
                             b'{"permanent": false, "reason": "one"}')[2])["status"] == "deferred"
    wait_until(lambda: spool_messages(spool) == [mid], timeout=5, what="retry")
    L = lease(pm.url)[1]["lease"]
    status, _, body = settle(pm.url, L, mid, "fail",
                             b'{"permanent": false, "reason": "two"}')
    assert status == 200
    assert json.loads(body) == {"id": mid, "status": "bounced", "attempts": 2}
    assert area(spool, ".dead") == [mid]
    m = read_spool_json(spool, ".dead/" + mid)
    assert (m["attempts"], m["last_error"]) == (2, "two")
    assert spool_messages(spool) == [] and area(spool, ".leased") == []
    assert "%s: status=bounced, attempts=2" % mid in pm.log()
    assert metrics(pm.url)["postoffice_dead"] == 1


def test_permanent_failure_bounces_at_once(daemons, spool):
    mid = write_message(spool)
    pm = start_postmaster(daemons, spool)
    L = lease(pm.url)[1]["lease"]
    status, _, body = settle(pm.url, L, mid, "fail",
                             b'{"permanent": true, "reason": "550 5.1.1 no such user"}')
    assert json.loads(body) == {"id": mid, "status": "bounced", "attempts": 1}
    assert area(spool, ".dead") == [mid]
    assert read_spool_json(spool, ".dead/" + mid)["last_error"] == "550 5.1.1 no such user"


def test_restart_with_leases_outstanding_keeps_them_until_expiry(daemons, spool):
    ids = write_messages(spool, 3)
    pm = start_postmaster(daemons, spool, "--lease-time", "4")
    r = lease(pm.url)[1]
    assert pm.d.stop() == 0
    assert area(spool, ".leased") == ["%s.%s" % (i, r["lease"]) for i in ids]
    pm2 = start_postmaster(daemons, spool, "--lease-time", "4")
    # the lease survived: its holder may still acknowledge
    assert settle(pm2.url, r["lease"], ids[0], "ack")[0] == 200
    if time.time() < r["expires"] - 0.5:
        assert lease(pm2.url)[1]["messages"] == []
    wait_until(lambda: spool_messages(spool) == ids[1:], timeout=8,
               what="leases returned after the restart")
    assert [m["id"] for m in lease(pm2.url)[1]["messages"]] == ids[1:]


def test_lease_expired_during_downtime_returns_at_startup(daemons, spool):
    ids = write_messages(spool, 2)
    pm = start_postmaster(daemons, spool, "--lease-time", "1")
    r = lease(pm.url)[1]
    pm.d.stop()
    wait_until(lambda: time.time() > r["expires"] + 1, timeout=5, what="expiry")
    pm2 = start_postmaster(daemons, spool)
    assert spool_messages(spool) == ids
    assert [m["id"] for m in lease(pm2.url)[1]["messages"]] == ids


def test_long_poll_wakes_within_a_second_of_new_mail(daemons, spool):
    pm = start_postmaster(daemons, spool)
    result = {}

    def poll():
        result["r"] = lease(pm.url, "?wait=20")
        result["t"] = time.monotonic()
    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)
    assert t.is_alive()
    written = time.monotonic()
    mid = write_message(spool)
    t.join(20)
    status, r = result["r"]
    assert status == 200 and [m["id"] for m in r["messages"]] == [mid]
    # a second; valgrind's slowdown is not PostMaster's
    assert result["t"] - written < 1.0 * SLOWDOWN


def test_long_poll_without_mail_ends_empty_after_the_wait(daemons, spool):
    pm = start_postmaster(daemons, spool, "--max-wait", "1")
    t = time.monotonic()
    status, r = lease(pm.url, "?wait=30")       # clamped to --max-wait
    took = time.monotonic() - t
    assert (status, r) == (200, {"lease": None, "expires": None, "messages": []})
    assert 0.9 <= took < 5


def test_lease_response_not_completed_returns_messages_at_once(daemons, spool):
    ids = write_messages(spool, 30, size=300 * 1024)
    pm = start_postmaster(daemons, spool)
    s = stalled_response(pm.port, b"POST /lease HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: 0\r\n\r\n")
    s.close()
    pm.wait_log("reason=response not completed", 30)
    assert spool_messages(spool) == ids and area(spool, ".leased") == []
    assert "status=leased" not in pm.log()


def test_lease_query_parameters_are_checked(daemons, spool):
    write_messages(spool, 3)
    pm = start_postmaster(daemons, spool, "--batch", "2")
    for q in ("?max=0", "?max=abc", "?max=-1", "?wait=-1", "?wait=1s", "?max="):
        status, r = lease(pm.url, q)
        assert status == 400 and "error" in r, q
    assert len(spool_messages(spool)) == 3
    status, r = lease(pm.url, "?max=1000")      # more than --batch: --batch
    assert status == 200 and len(r["messages"]) == 2


def test_concurrent_leasers_never_share_a_message(daemons, spool):
    ids = write_messages(spool, 300)
    pm = start_postmaster(daemons, spool, "--batch", "4")
    got, lock = [], threading.Lock()

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", pm.port, timeout=30)
        while True:
            c.request("POST", "/lease", body=b"")
            r = json.loads(c.getresponse().read())
            if not r["messages"]:
                return
            for m in r["messages"]:
                c.request("POST", "/leases/%s/%s/ack" % (r["lease"], m["id"]), body=b"")
                assert c.getresponse().read() and True
                with lock:
                    got.append(m["id"])
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == len(set(got)) and sorted(got) == ids
    assert spool_messages(spool) == [] and area(spool, ".leased") == []


def test_sigterm_answers_a_waiting_long_poll_with_an_empty_lease(daemons, spool):
    pm = start_postmaster(daemons, spool)
    result = {}

    def poll():
        result["r"] = lease(pm.url, "?wait=30")
    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert pm.d.stop() == 0
    t.join(10)
    assert time.monotonic() - started < 5
    assert result["r"] == (200, {"lease": None, "expires": None, "messages": []})
