"""POST /lease?max_bytes=B: the response body never exceeds B bytes; a
message that alone would is dead-lettered, one that would only take a
batch past B waits for the next lease."""

import json
import os

from conftest import spool_messages
from postmaster_helpers import (area, curl, start_postmaster, write_message,
                                write_messages)

MIB = 1048576


def lease_raw(url, query):
    return curl(url + "/lease" + query, "POST")


def test_message_larger_than_max_bytes_is_dead_lettered_and_the_rest_served(daemons, spool):
    big = write_message(spool, size=3 * MIB)
    size = os.path.getsize(os.path.join(spool, big))
    small = write_messages(spool, 3)
    pm = start_postmaster(daemons, spool)
    status, _, body = lease_raw(pm.url, "?max=10&max_bytes=%d" % MIB)
    assert status == 200
    assert len(body) <= MIB
    r = json.loads(body)
    assert [m["id"] for m in r["messages"]] == small
    assert area(spool, ".dead") == [big]
    assert spool_messages(spool) == []
    reason = ("message of %d bytes is larger than the %d the client takes "
              "in one response (max_bytes)" % (size, MIB))
    pm.wait_log("%s: status=bounced, attempts=1, permanent=yes, reason=%s"
                % (big, reason))
    with open(os.path.join(spool, ".dead", big)) as f:
        dead = json.load(f)
    assert dead["last_error"] == reason and dead["attempts"] == 1
    assert dead["id"] == big and len(dead["data"]) > 3 * MIB


def test_batch_stops_before_max_bytes_and_the_next_lease_serves_the_rest(daemons, spool):
    ids = write_messages(spool, 3, size=200 * 1024)   # 400 KiB files
    pm = start_postmaster(daemons, spool)
    status, _, body = lease_raw(pm.url, "?max=10&max_bytes=%d" % MIB)
    assert status == 200 and len(body) <= MIB
    assert [m["id"] for m in json.loads(body)["messages"]] == ids[:2]
    assert spool_messages(spool) == ids[2:]
    status, _, body = lease_raw(pm.url, "?max=10&max_bytes=%d" % MIB)
    assert status == 200 and len(body) <= MIB
    assert [m["id"] for m in json.loads(body)["messages"]] == ids[2:]
    assert area(spool, ".dead") == [] and spool_messages(spool) == []
    assert "status=bounced" not in pm.log()


def test_malformed_max_bytes_gets_400(daemons, spool):
    ids = write_messages(spool, 2, size=150)    # one fits in 1024 bytes
    pm = start_postmaster(daemons, spool)
    for q in ("?max_bytes=abc", "?max_bytes=1023", "?max_bytes=0",
              "?max_bytes=-1", "?max_bytes=", "?max_bytes=1k",
              "?max_bytes=1e6"):
        status, hdrs, body = lease_raw(pm.url, q)
        assert (status, body) == (
            400, b'{"error":"max_bytes must be a number of bytes from 1024"}'), q
    assert spool_messages(spool) == ids and area(spool, ".leased") == []
    status, _, body = lease_raw(pm.url, "?max_bytes=1024")
    assert status == 200 and len(body) <= 1024
    assert [m["id"] for m in json.loads(body)["messages"]] == ids[:1]
