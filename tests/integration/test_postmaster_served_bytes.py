"""PostMaster serves each spool file's bytes as they are stored, checked
but never decoded and printed again: a file that is a message goes out
unchanged (an id-less one with its file name as id), a file that is not
one, or that would not be a JSON value of its own inside the response,
is quarantined and never served."""

import json
import os

from conftest import spool_messages
from postmaster_helpers import (area, curl, message_object, new_id,
                                start_postmaster, wait_until, write_message)


def stored(spool, sep=(",", ":")):
    """Writes a message with the given JSON separators; returns its id."""
    mid = new_id()
    return write_message(spool, mid=mid, raw=json.dumps(
        message_object(mid), separators=sep).encode())


def spoiled(spool, spoil):
    """Writes a message whose JSON text spoil() changes; returns its id."""
    mid = new_id()
    return write_message(spool, mid=mid, raw=spoil(
        mid, json.dumps(message_object(mid)).encode()))


def test_drain_serves_the_stored_bytes_unchanged(daemons, spool):
    first = stored(spool, sep=(" ,  ", " : "))
    second = new_id()
    obj = message_object(second, subject="gr\u00fc\u00dfe \"q\" \\ \t")
    write_message(spool, mid=second, raw=json.dumps(obj).encode())
    files = {m: open(os.path.join(spool, m), "rb").read() for m in (first, second)}
    pm = start_postmaster(daemons, spool)
    status, hdrs, body = curl(pm.url + "/")
    assert status == 200
    assert body == b"[" + files[first] + b"," + files[second] + b"]"
    assert json.loads(body)[1]["subject"] == "gr\u00fc\u00dfe \"q\" \\ \t"


def test_lease_serves_the_stored_bytes_unchanged(daemons, spool):
    mid = stored(spool, sep=(", ", ": "))
    raw = open(os.path.join(spool, mid), "rb").read()
    pm = start_postmaster(daemons, spool)
    status, hdrs, body = curl(pm.url + "/lease", method="POST")
    assert status == 200
    assert body.endswith(b",\"messages\":[" + raw + b"]}")
    assert json.loads(body)["messages"][0]["id"] == mid


def test_file_without_id_is_served_with_its_name_as_id(daemons, spool):
    obj = message_object("0" * 32)
    del obj["id"]
    mid = write_message(spool, raw=b"  \n" + json.dumps(obj).encode() + b"\n")
    pm = start_postmaster(daemons, spool)
    status, hdrs, body = curl(pm.url + "/")
    assert status == 200
    batch = json.loads(body)
    assert batch == [dict(obj, id=mid)]
    assert body.startswith(b"[{\"id\":\"%s\",\"mail_from\"" % mid.encode())


def test_unservable_files_are_quarantined_and_the_rest_served(daemons, spool):
    good = stored(spool)
    # cJSON alone would read each as a message (the first object, the
    # first "id", raw control characters); the spool rule does not.
    tail = spoiled(spool, lambda mid, raw: raw + b" trailing bytes")
    dup = spoiled(spool, lambda mid, raw: raw[:-1] + b", \"id\": \"%s\"}"
                  % good.encode())
    ctl = spoiled(spool, lambda mid, raw: raw.replace(b"\\r\\n", b"\r\n"))
    last = stored(spool)
    pm = start_postmaster(daemons, spool)
    status, hdrs, body = curl(pm.url + "/")
    assert status == 200
    assert [m["id"] for m in json.loads(body)] == [good, last]
    assert area(spool, ".quarantine") == sorted([tail, dup, ctl])
    for mid, why in ((tail, "bytes follow the object"),
                     (dup, "\"id\" appears twice"), (ctl, "not valid JSON")):
        assert "%s: status=quarantined, reason=%s" % (mid, why) in pm.log()
    wait_until(lambda: spool_messages(spool) == [], what="served files deleted")
    assert curl(pm.url + "/")[2] == b"[]"
