"""`postmaster queue`: operating a spool filled by the real PostOffice,
also while the real PostMaster serves it."""

import fcntl
import json
import os
import re
import smtplib
import subprocess
import time

import pytest

from conftest import (Program, binary, free_port, run_program,
                      spool_messages, wait_for_port)
from postmaster_helpers import get_json, start_postmaster

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_TEMPFAIL = 64, 65, 66, 75
BINARY_ATTACHMENT = bytes(range(256)) * 4


def queue(spool, *args):
    """Runs `postmaster queue -s SPOOL ARGS` (under valgrind with
    VALGRIND=1); returns (status, stdout bytes, stderr text)."""
    p = run_program([binary("postmaster"), "queue", "-s", spool] + list(args),
                    timeout=30)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def submit(daemons, spool, messages):
    """Hands (sender, rcpts, raw bytes) messages to a real PostOffice and
    returns the ids it spooled, in order."""
    port = free_port()
    po = daemons([binary("postoffice"), "-s", spool, "-l", "127.0.0.1:%d" % port],
                 name="postoffice")
    wait_for_port(port, po.proc)
    ids = []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        for sender, rcpts, raw in messages:
            before = set(spool_messages(spool))
            s.sendmail(sender, rcpts, raw)
            new = set(spool_messages(spool)) - before
            assert len(new) == 1
            ids.append(new.pop())
    po.stop()
    return ids


def text_message(subject, body="hello\r\n"):
    return ("Subject: %s\r\n\r\n%s" % (subject, body)).encode()


def binary_message():
    return (b"Subject: binary\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n" +
            BINARY_ATTACHMENT.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"") +
            b"\r\n")


def lease(srv, n):
    status, body = get_json(srv.url + "/lease?max=%d" % n, "POST")
    assert status == 200, body
    return body["lease"], [m["id"] for m in body["messages"]]


def fail(srv, lease_token, mid, permanent, reason):
    status, body = get_json("%s/leases/%s/%s/fail" % (srv.url, lease_token, mid),
                            "POST", data=json.dumps({"permanent": permanent,
                                                     "reason": reason}).encode())
    assert status == 200, body
    return body


def lines(out):
    return out.decode().splitlines()


@pytest.fixture
def five_states(daemons, spool):
    """A spool with one message in each state, made by the real daemons:
    queued, leased, deferred, dead, and a quarantined file.  Returns
    (server, ids by state, lease token of the leased one)."""
    ids = submit(daemons, spool, [
        ("dead@example.org", ["x@example.net"], text_message("dead")),
        ("deferred@example.org", ["y@example.net"], text_message("deferred")),
        ("leased@example.org", ["z@example.net", "w@example.net"], text_message("leased")),
        ("queued@example.org", ["q@example.net"], binary_message()),
    ])
    srv = start_postmaster(daemons, spool)
    token, got = lease(srv, 3)
    assert got == ids[:3]
    assert fail(srv, token, ids[0], True, "550 5.1.1 no such user")["status"] == "bounced"
    assert fail(srv, token, ids[1], False, "451 4.7.1 greylisted")["status"] == "deferred"
    bad = "0661" + "0" * 24 + "beef"
    with open(os.path.join(spool, ".quarantine", bad), "w") as f:
        f.write("{not json")
    return srv, {"dead": ids[0], "deferred": ids[1], "leased": ids[2],
                 "queued": ids[3], "quarantined": bad}, token


def test_count_gives_every_state_and_the_total(five_states, spool):
    rc, out, err = queue(spool, "count")
    assert (rc, err) == (0, "")
    assert lines(out) == ["queued       1", "leased       1", "deferred     1",
                          "dead         1", "quarantined  1", "total        5"]
    rc, out, _ = queue(spool, "count", "--json")
    assert json.loads(out) == {"queued": 1, "leased": 1, "deferred": 1, "dead": 1,
                               "quarantined": 1, "total": 5}


def test_list_shows_one_line_per_message_with_its_details(five_states, spool):
    _, ids, _ = five_states
    rc, out, err = queue(spool, "list")
    assert (rc, err) == (0, "")
    got = lines(out)
    assert [l.split()[:2] for l in got] == [
        [ids["queued"], "queued"], [ids["leased"], "leased"],
        [ids["deferred"], "deferred"], [ids["dead"], "dead"],
        [ids["quarantined"], "quarantined"]]
    leased, deferred, dead = got[1], got[2], got[3]
    assert "  attempts=0  from=<leased@example.org>  to=<z@example.net>,<w@example.net>" in leased
    assert re.search(r"  until=[45]m  ", leased)   # --lease-time 300
    assert deferred.endswith("attempts=1  from=<deferred@example.org>  to=<y@example.net>"
                             "  error=451 4.7.1 greylisted")
    assert dead.endswith("attempts=1  from=<dead@example.org>  to=<x@example.net>"
                         "  error=550 5.1.1 no such user")
    assert " age=" in dead
    assert got[4].endswith("size=9  error=not valid JSON")


def test_list_json_has_one_object_per_line(five_states, spool):
    _, ids, token = five_states
    rc, out, _ = queue(spool, "list", "--json", "dead", "leased")
    assert rc == 0
    objs = [json.loads(l) for l in lines(out)]
    assert [o["state"] for o in objs] == ["leased", "dead"]
    leased, dead = objs
    assert leased["id"] == ids["leased"]
    assert leased["file"] == ids["leased"] + "." + token
    assert leased["expires"] == int(token[:8], 16)
    assert leased["rcpt_tos"] == ["z@example.net", "w@example.net"]
    assert dead["mail_from"] == "dead@example.org"
    assert dead["attempts"] == 1
    assert dead["last_error"] == "550 5.1.1 no such user"
    assert dead["valid"] is True
    assert 0 <= dead["age"] < 60


def test_list_of_an_unknown_state_is_a_usage_error(spool):
    rc, out, err = queue(spool, "list", "sent")
    assert (rc, out) == (EX_USAGE, b"")
    assert "list: unknown state 'sent'" in err


def test_show_prints_metadata_then_the_raw_message(five_states, spool):
    _, ids, _ = five_states
    rc, out, _ = queue(spool, "show", ids["dead"])
    assert rc == 0
    head, _, data = out.partition(b"\n\n")
    meta = head.decode().splitlines()
    assert meta[:3] == ["id: " + ids["dead"], "state: dead", "file: .dead/" + ids["dead"]]
    assert "from: <dead@example.org>" in meta
    assert "to: <x@example.net>" in meta
    assert "attempts: 1" in meta
    assert "last_error: 550 5.1.1 no such user" in meta
    assert data == b"Subject: dead\r\n\r\nhello\r\n"


def iso_utc(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def lease_expiry(name):
    """The epoch seconds in a leased or deferred file's name (ID.LEASE:
    the lease token starts with them in hex)."""
    return int(name.split(".")[1][:8], 16)


@pytest.mark.parametrize("state,key,folder", [("leased", "lease_expires", ".leased"),
                                              ("deferred", "retry_at", ".deferred")])
def test_show_gives_the_subject_and_times_in_iso_8601_utc(five_states, spool,
                                                          state, key, folder):
    _, ids, _ = five_states
    rc, out, _ = queue(spool, "show", ids[state])
    assert rc == 0
    meta = out.partition(b"\n\n")[0].decode().splitlines()
    assert "subject: %s" % state in meta
    [name] = os.listdir(os.path.join(spool, folder))
    [line] = [l for l in meta if l.startswith(key + ": ")]
    assert re.fullmatch(r"%s: %s \(in \d+[smhd]\)" % (key, re.escape(
        iso_utc(lease_expiry(name)))), line), line
    # the machine-readable form stays epoch seconds
    rc, out, _ = queue(spool, "list", "--json", state)
    assert json.loads(out)["expires"] == lease_expiry(name)


def test_requeue_of_a_leased_message_names_the_expiry_in_iso_8601(five_states, spool):
    _, ids, _ = five_states
    [name] = os.listdir(os.path.join(spool, ".leased"))
    rc, _, err = queue(spool, "requeue", ids["leased"])
    assert rc == EX_TEMPFAIL
    assert err == ("postmaster queue: %s: leased until %s: it returns to the queue "
                   "by itself unless delivered\n" % (ids["leased"],
                                                     iso_utc(lease_expiry(name))))


def test_show_raw_gives_binary_data_byte_for_byte(five_states, spool):
    _, ids, _ = five_states
    with open(os.path.join(spool, ids["queued"])) as f:
        obj = json.load(f)
    assert "data_base64" in obj            # PostOffice had to encode it
    rc, out, _ = queue(spool, "show", "--raw", ids["queued"])
    assert rc == 0
    import base64
    assert out == base64.b64decode(obj["data_base64"])
    assert BINARY_ATTACHMENT[128:256] in out


def test_show_json_gives_the_spool_file_as_it_is(five_states, spool):
    _, ids, _ = five_states
    rc, out, _ = queue(spool, "show", "--json", ids["deferred"])
    assert rc == 0
    name = [n for n in os.listdir(os.path.join(spool, ".deferred"))][0]
    with open(os.path.join(spool, ".deferred", name), "rb") as f:
        assert out.rstrip(b"\n") == f.read().rstrip(b"\n")


def test_show_of_an_unknown_id_is_66_and_a_bad_id_64(spool):
    rc, out, err = queue(spool, "show", "0" * 32)
    assert (rc, out) == (EX_NOINPUT, b"")
    assert err == "postmaster queue: %s: no such message\n" % ("0" * 32)
    rc, _, err = queue(spool, "show", "../etc/passwd")
    assert rc == EX_USAGE
    assert "is not a message id" in err


def test_requeued_dead_letter_is_served_again_with_attempts_reset(five_states, spool):
    srv, ids, _ = five_states
    rc, out, err = queue(spool, "requeue", ids["dead"])
    assert rc == 0, err
    assert "%s: status=requeued, from=dead, attempts=0, was=1, by=operator" % ids["dead"] in err
    assert os.listdir(os.path.join(spool, ".dead")) == []
    # The running PostMaster sees it at once and serves it with a full budget.
    token, got = lease(srv, 10)
    assert sorted(got) == sorted([ids["dead"], ids["queued"]])
    rc, out, _ = queue(spool, "list", "--json", "leased")
    dead = [json.loads(l) for l in lines(out) if ids["dead"] in l][0]
    assert dead["attempts"] == 0
    assert dead["last_error"] == "550 5.1.1 no such user"


def test_requeue_all_dead_empties_the_dead_letter_folder(five_states, spool):
    _, ids, _ = five_states
    rc, _, err = queue(spool, "requeue", "--all-dead")
    assert rc == 0, err
    assert os.listdir(os.path.join(spool, ".dead")) == []
    assert ids["dead"] in spool_messages(spool)


def test_requeue_of_a_leased_message_is_refused_with_75(five_states, spool):
    _, ids, _ = five_states
    rc, _, err = queue(spool, "requeue", ids["leased"])
    assert rc == EX_TEMPFAIL
    assert "returns to the queue by itself unless delivered" in err
    assert len(os.listdir(os.path.join(spool, ".leased"))) == 1


def test_requeue_of_a_broken_quarantined_file_is_65_and_leaves_it(five_states, spool):
    _, ids, _ = five_states
    rc, _, err = queue(spool, "requeue", ids["quarantined"])
    assert rc == EX_DATAERR
    assert err == ("postmaster queue: %s: still not a valid message: not valid JSON\n"
                   % ids["quarantined"])
    assert os.listdir(os.path.join(spool, ".quarantine")) == [ids["quarantined"]]


def test_flush_queues_deferred_messages_now(five_states, spool):
    srv, ids, _ = five_states
    rc, _, err = queue(spool, "flush")
    assert rc == 0
    assert "%s: status=requeued, from=deferred, by=operator" % ids["deferred"] in err
    assert os.listdir(os.path.join(spool, ".deferred")) == []
    _, got = lease(srv, 10)
    assert ids["deferred"] in got


def test_delete_of_a_leased_message_warns_and_its_ack_gets_404(five_states, spool):
    srv, ids, token = five_states
    rc, _, err = queue(spool, "delete", ids["leased"])
    assert rc == 0
    assert ("%s: status=deleted, from=leased, by=operator, warning=a PostMan may be "
            "delivering it now" % ids["leased"]) in err
    status, _ = get_json("%s/leases/%s/%s/ack" % (srv.url, token, ids["leased"]), "POST")
    assert status == 404


def test_delete_of_a_message_being_handed_out_is_refused_until_it_is_not(five_states, spool):
    _, ids, _ = five_states
    # A GET / response in flight holds its messages' locks.
    fd = os.open(os.path.join(spool, ids["queued"]), os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        rc, _, err = queue(spool, "delete", ids["queued"])
        assert rc == EX_TEMPFAIL
        assert ("postmaster queue: %s: it moved while being deleted (delivered "
                "or moved by a daemon): PostMaster is handing it out right now"
                % ids["queued"]) in err
        assert os.path.exists(os.path.join(spool, ids["queued"]))
    finally:
        os.close(fd)
    rc, _, err = queue(spool, "delete", ids["queued"])
    assert rc == 0 and "%s: status=deleted, from=queued" % ids["queued"] in err
    assert not os.path.exists(os.path.join(spool, ids["queued"]))


def test_delete_removes_several_and_reports_the_missing_one(five_states, spool):
    _, ids, _ = five_states
    rc, _, err = queue(spool, "delete", ids["queued"], ids["dead"], "1" * 32,
                       ids["quarantined"])
    assert rc == EX_NOINPUT
    assert "%s: status=deleted, from=queued" % ids["queued"] in err
    assert "%s: status=deleted, from=dead" % ids["dead"] in err
    assert "%s: status=deleted, from=quarantined" % ids["quarantined"] in err
    assert "postmaster queue: %s: no such message" % ("1" * 32) in err
    rc, out, _ = queue(spool, "count", "--json")
    assert json.loads(out) == {"queued": 0, "leased": 1, "deferred": 1, "dead": 0,
                               "quarantined": 0, "total": 2}


def test_delete_all_dead_leaves_other_states(five_states, spool):
    rc, _, _ = queue(spool, "delete", "--all-dead")
    assert rc == 0
    rc, out, _ = queue(spool, "count", "--json")
    assert json.loads(out)["dead"] == 0
    assert json.loads(out)["total"] == 4


def test_options_that_do_not_fit_the_command_are_usage_errors(spool):
    for args, text in [(["flush", "--json"], "--json goes with list, count or show"),
                       (["list", "--all-dead"], "--all-dead goes with requeue or delete"),
                       (["list", "--raw"], "--raw goes with show"),
                       (["requeue"], "which message?"),
                       (["requeue", "--all-dead", "0" * 32], "--all-dead takes no ids"),
                       (["count", "extra"], "unexpected argument 'extra'"),
                       ([], "which command?"),
                       (["frobnicate"], "unknown command 'frobnicate'")]:
        rc, out, err = queue(spool, *args)
        assert (rc, out) == (EX_USAGE, b""), args
        assert text in err, (args, err)


def test_a_missing_spool_is_66(tree):
    rc, _, err = queue(os.path.join(tree, "nowhere"), "count")
    assert rc == EX_NOINPUT
    assert "No such file or directory" in err


def test_deleting_while_postmaster_serves_loses_races_cleanly(daemons, spool):
    """Every message is either delivered through PostMaster or deleted by
    the operator, never both and never lost from the accounting; a race
    lost to PostMaster is reported, not mistaken for success."""
    ids = submit(daemons, spool, [("a@example.org", ["b@example.net"],
                                   text_message("m%d" % i)) for i in range(40)])
    srv = start_postmaster(daemons, spool)
    deleter = Program([binary("postmaster"), "queue", "-s", spool, "delete"] + ids,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    acked = set()
    for _ in range(20):
        token, got = lease(srv, 2)
        for mid in got:
            status, _ = get_json("%s/leases/%s/%s/ack" % (srv.url, token, mid), "POST")
            if status == 200:
                acked.add(mid)
    _, err = deleter.communicate(timeout=60)
    err = err.decode()
    assert deleter.returncode in (0, EX_NOINPUT, EX_TEMPFAIL)
    deleted = {l.split(": ")[1] for l in err.splitlines() if "status=deleted" in l}
    missing = {l.split(": ")[1] for l in err.splitlines()
               if "no such message" in l or "it moved while being deleted" in l}
    # Delivered or deleted, never both: a delete that came first makes the
    # acknowledgement fail, an acknowledgement that came first makes the
    # delete report the message missing.
    assert deleted | acked == set(ids)
    assert not deleted & acked
    assert missing == acked
    rc, out, _ = queue(spool, "count", "--json")
    assert json.loads(out)["total"] == 0
