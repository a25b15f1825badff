"""PostMaster's GET /: the original's drain, improved so that a message
leaves the spool only once its response went out completely."""

import fcntl
import http.client
import json
import os
import signal
import threading

from conftest import spool_messages
from postmaster_helpers import (accept_via_postoffice, area, curl, get_json,
                                stalled_response, start_postmaster, wait_until,
                                write_message, write_messages)


def test_drain_serves_50_50_20_then_empty_array_oldest_first(daemons, spool):
    ids = accept_via_postoffice(daemons, spool, 120)
    pm = start_postmaster(daemons, spool)
    got = []
    for expected in (50, 50, 20, 0):
        status, batch = get_json(pm.url + "/")
        assert status == 200
        assert len(batch) == expected
        got += [m["id"] for m in batch]
        for m in batch:
            assert m["rcpt_tos"] == ["rcpt@example.net"]
            assert m["mail_from"] == "sender@example.org"
    assert got == ids
    status, hdrs, body = curl(pm.url + "/")
    assert (status, body) == (200, b"[]")
    assert hdrs["content-type"] == "application/json"
    # Served files are deleted on the reaper's thread, still locked until
    # then; nothing ever goes through .leased/.
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")
    assert area(spool, ".leased") == []
    pm.wait_log("status=served, client=127.0.0.1", 120)
    for mid in ids:
        assert "%s: status=served, client=127.0.0.1" % mid in pm.log()


def test_drain_batch_size_is_an_option(daemons, spool):
    write_messages(spool, 7)
    pm = start_postmaster(daemons, spool, "--batch", "3")
    assert [len(get_json(pm.url + "/")[1]) for _ in range(4)] == [3, 3, 1, 0]


def test_drain_client_disconnecting_mid_response_loses_nothing(daemons, spool):
    ids = write_messages(spool, 50, size=200 * 1024)
    before = {i: open(os.path.join(spool, i), "rb").read() for i in ids}
    pm = start_postmaster(daemons, spool)
    s = stalled_response(pm.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    s.close()
    pm.wait_log("reason=response not completed", 50)
    assert "status=served" not in pm.log()
    assert spool_messages(spool) == ids
    assert area(spool, ".leased") == []
    for i in ids:   # back untouched
        assert open(os.path.join(spool, i), "rb").read() == before[i]
    # and a client that stays gets them all
    c = http.client.HTTPConnection("127.0.0.1", pm.port, timeout=30)
    c.request("GET", "/")
    assert [m["id"] for m in json.loads(c.getresponse().read())] == ids


def drain_all(port, out, lock):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        c.request("GET", "/")
        r = c.getresponse()
        assert r.status == 200
        batch = json.loads(r.read())
        if not batch:
            return
        with lock:
            out.extend(m["id"] for m in batch)


def run_drainers(ports, n):
    got, lock, threads = [], threading.Lock(), []
    for i in range(n):
        t = threading.Thread(target=drain_all, args=(ports[i % len(ports)], got, lock))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(60)
    return got


def test_concurrent_drainers_never_get_the_same_message(daemons, spool):
    ids = write_messages(spool, 600)
    pm = start_postmaster(daemons, spool, "--batch", "7")
    got = run_drainers([pm.port], 8)
    assert len(got) == len(set(got)), "a message was served twice"
    assert sorted(got) == ids, "a message was lost"
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")


def test_two_postmasters_on_one_spool_share_it_without_duplicates(daemons, spool):
    ids = write_messages(spool, 400)
    a = start_postmaster(daemons, spool, "--batch", "5", name="pm-a")
    b = start_postmaster(daemons, spool, "--batch", "5", name="pm-b")
    ids += write_messages(spool, 100)   # seen by both through inotify
    got = run_drainers([a.port, b.port], 6)
    assert len(got) == len(set(got)), "a message was served twice"
    assert sorted(got) == sorted(ids), "a message was lost"
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")
    assert "status=served" in a.log() and "status=served" in b.log()


def lease_all(port, out, lock):
    """Leases batches of 5 and acknowledges each message until the
    queue is empty."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        c.request("POST", "/lease?max=5", body=b"")
        r = c.getresponse()
        assert r.status == 200
        got = json.loads(r.read())
        if not got["messages"]:
            return
        for m in got["messages"]:
            c.request("POST", "/leases/%s/%s/ack" % (got["lease"], m["id"]),
                      body=b"")
            a = c.getresponse()
            a.read()
            assert a.status == 200
            with lock:
                out.append(m["id"])


def test_drainers_and_leasers_of_two_postmasters_never_share_a_message(daemons, spool):
    ids = write_messages(spool, 500)
    a = start_postmaster(daemons, spool, "--batch", "5", name="pm-a")
    b = start_postmaster(daemons, spool, "--batch", "5", name="pm-b")
    got, lock, threads = [], threading.Lock(), []
    for i, (fn, port) in enumerate([(drain_all, a.port), (lease_all, a.port),
                                    (drain_all, b.port), (lease_all, b.port)] * 2):
        t = threading.Thread(target=fn, args=(port, got, lock))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(60)
    # A process that found the rest held by the other may have stopped
    # early: whatever is left is served by one more pass.
    drain_all(a.port, got, lock)
    assert len(got) == len(set(got)), "a message was served twice"
    assert sorted(got) == ids, "a message was lost"
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")
    assert area(spool, ".leased") == []


def test_a_message_held_by_another_process_is_skipped_until_let_go(daemons, spool):
    ids = write_messages(spool, 3)
    pm = start_postmaster(daemons, spool)
    # Another PostMaster serving ids[0] holds its lock.
    fd = os.open(os.path.join(spool, ids[0]), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert [m["id"] for m in get_json(pm.url + "/")[1]] == ids[1:]
        status, r = get_json(pm.url + "/lease", method="POST")
        assert (status, r["messages"]) == (200, [])
        assert get_json(pm.url + "/")[1] == []
        assert spool_messages(spool) == [ids[0]]
    finally:
        os.close(fd)
    assert [m["id"] for m in get_json(pm.url + "/")[1]] == [ids[0]]
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")


def test_postmaster_killed_mid_response_leaves_every_message_queued(daemons, spool):
    ids = write_messages(spool, 50, size=200 * 1024)
    pm = start_postmaster(daemons, spool)
    s = stalled_response(pm.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    pm.d.stop(signal.SIGKILL)
    s.close()
    # No lease to wait for: the messages never left the queue, and the
    # next PostMaster serves them all at once.
    assert spool_messages(spool) == ids and area(spool, ".leased") == []
    again = start_postmaster(daemons, spool, name="postmaster-2")
    assert [m["id"] for m in get_json(again.url + "/")[1]] == ids


def test_mail_arriving_while_running_is_served(daemons, spool):
    pm = start_postmaster(daemons, spool)
    assert get_json(pm.url + "/")[1] == []
    mid = write_message(spool)
    got = []

    def served():
        got.extend(m["id"] for m in get_json(pm.url + "/")[1])
        return got == [mid]
    wait_until(served, what="the new message served")
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")


def test_invalid_spool_file_is_quarantined_logged_and_never_served(daemons, spool):
    bad = write_message(spool, raw=b"{this is not json")
    wrong = write_message(spool, raw=json.dumps({"mail_from": "a@b"}).encode())
    good = write_message(spool)
    pm = start_postmaster(daemons, spool)
    status, batch = get_json(pm.url + "/")
    assert [m["id"] for m in batch] == [good]
    assert area(spool, ".quarantine") == sorted([bad, wrong])
    assert open(os.path.join(spool, ".quarantine", bad), "rb").read() == b"{this is not json"
    assert "%s: status=quarantined, reason=not valid JSON" % bad in pm.log()
    assert "%s: status=quarantined, reason=\"rcpt_tos\"" % wrong in pm.log()
    assert get_json(pm.url + "/")[1] == []
    assert area(spool, ".quarantine") == sorted([bad, wrong])


def test_sustained_drain_with_few_descriptors_serves_each_message_once(daemons, spool):
    """With 64 descriptors, held messages (responses in flight and
    deletions pending) are bounded: GET / serves fewer at a time rather
    than running out of descriptors."""
    ids = write_messages(spool, 3000, size=50)
    pm = start_postmaster(daemons, spool, wrap=["prlimit", "--nofile=64:64", "--"])
    c = http.client.HTTPConnection("127.0.0.1", pm.port, timeout=60)
    got = []
    while True:
        c.request("GET", "/")
        r = c.getresponse()
        assert r.status == 200
        batch = json.loads(r.read())
        if not batch:
            break
        got += [m["id"] for m in batch]
    c.close()
    assert len(got) == len(set(got)) == len(ids)
    assert sorted(got) == ids
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")
    assert area(spool, ".leased") == [] and area(spool, ".quarantine") == []
    log = pm.log()
    assert "Too many open files" not in log and "spool:" not in log
    assert log.count("status=served") == len(ids)
