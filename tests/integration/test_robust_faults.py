"""Fault injection into PostOffice: failing system calls on the spool
(through a preloaded shim, tests/fuzz/faultshim.c), a spool that is
unreadable or vanishes (for PostMaster and `postmaster queue` as well), a
client that sends one byte a second, and thousands of concurrent
connections.  What tests/integration/
test_postoffice_daemon.py already covers (a write failure through a file
size limit, a full tmpfs, the idle and data-rate timeouts of a lone
client, --max-connections) is not repeated here."""

import json
import os
import pwd
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (BUILD, TOP, VALGRIND, binary, free_port, run_program,
                      spool_messages)
from postmaster_helpers import (area, curl, get_json, metrics, spool_snapshot,
                                start_postmaster, write_messages)
from postoffice_util import (HOST, envelope, greet, load, queued_id,
                             raw_data, send_message, start, tmp_files,
                             wait_until)
from robust_util import record_figures

MSG = b"Subject: fault\r\n\r\nbody\r\n"
BIG = b"Subject: big\r\n\r\n" + (b"b" * 998 + b"\r\n") * 300   # spills to a file


@pytest.fixture(scope="module")
def shim():
    """The fault shim, built once per run."""
    out = os.path.join(BUILD, "robust", "faultshim.so")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    src = os.path.join(TOP, "tests", "fuzz", "faultshim.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", out, src, "-ldl"],
                       check=True, timeout=60)
    return out


class Faults:
    def __init__(self, tree, shim):
        self.ctl = os.path.join(tree, "faults")
        open(self.ctl, "w").close()
        env = {"FAULT_CTL": self.ctl, "LD_PRELOAD": shim}
        if not VALGRIND:
            # A sanitized build wants its runtime first in the list.
            env["ASAN_OPTIONS"] = ("detect_leaks=1:abort_on_error=0:exitcode=99:"
                                   "verify_asan_link_order=0")
        self.env = env

    def arm(self, op, err, count, match):
        with open(self.ctl, "w") as f:
            f.write("%s %s %s %s\n" % (op, err, count, match))

    def disarm(self):
        open(self.ctl, "w").close()

    def injected(self):
        try:
            with open(self.ctl + ".log") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


FIGURES = {"faults_injected": 0, "fault_cases": 0}


def count(faults=None, connections=0):
    """Adds one fault scenario to the figures (with the system call
    failures the shim injected, and the connections opened)."""
    if faults is not None:
        FIGURES["faults_injected"] += len(faults.injected())
    FIGURES["fault_cases"] += 1
    FIGURES["connections"] = FIGURES.get("connections", 0) + connections
    record_figures("faults", **FIGURES)


# --- disk faults at each step of the durable write -----------------------------

# Each step before a 250: creating and writing the spool file (on an
# encoder thread), the raw spill file (on the event loop), the journal's
# write and fdatasync; and, with --no-journal, the file's own fdatasync,
# its rename into the queue and the queue folder's fsync.
@pytest.mark.parametrize("op,err,match,data,args", [
    ("open", "EACCES", "/.tmp/", MSG, ()),
    ("write", "ENOSPC", "/.tmp/", MSG, ()),
    ("write", "EIO", "/.tmp/", BIG, ()),
    ("open", "EDQUOT", "/.tmp", BIG, ()),
    ("write", "EIO", "/.journal/", MSG, ()),
    ("fdatasync", "EIO", "/.journal/", MSG, ()),
    ("fdatasync", "EIO", "/.tmp/", MSG, ("--no-journal",)),
    ("rename", "EIO", "/.tmp/", MSG, ("--no-journal",)),
    ("fsync", "EIO", "/messages", MSG, ("--no-journal",)),
], ids=["create", "write-json", "write-spill", "create-spill", "journal-write",
        "journal-fdatasync", "fdatasync", "rename", "fsync-folder"])
def test_spool_fault_gets_451_and_leaves_no_file(daemons, tree, spool, shim,
                                                  op, err, match, data, args):
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, "--max-size", "10M", *args, env=faults.env)
    faults.arm(op, err, 1, match)
    assert send_message(port, data) == "451 4.3.0 Error: queue file write error"
    assert len(faults.injected()) == 1, faults.injected()
    assert spool_messages(spool) == []
    assert tmp_files(spool) == []
    assert os.listdir(os.path.join(spool, ".staged")) == []
    for n in ("a", "b"):    # (there is no journal with --no-journal)
        p = os.path.join(spool, ".journal", n)
        assert not os.path.exists(p) or os.path.getsize(p) == 0
    assert "queue file write error" in d.stderr()
    # The fault is gone: the same message is now queued, whole.
    qid = queued_id(send_message(port, data))
    assert spool_messages(spool) == [qid]
    assert raw_data(load(spool, qid)) == data
    assert tmp_files(spool) == []
    count(faults)
    assert d.stop() == 0


# After a journaled 250 the checkpoint makes the file durable: a failing
# fdatasync or rename of the file has it written again from its record,
# a failing fsync of .staged/ is tried again a second later.
@pytest.mark.parametrize("op,match,logged", [
    ("fdatasync", "/.tmp/", ": fdatasync: Input/output error; written again "
                            "from its record"),
    ("rename", "/.tmp/", ": rename into .staged: Input/output error; written "
                         "again from its record"),
    ("fsync", "/.staged", "checkpoint: fsync of .staged: Input/output error; "
                          "trying again every 1 s"),
], ids=["fdatasync", "rename", "fsync-staged"])
def test_checkpoint_fault_after_the_250_loses_nothing(daemons, tree, spool, shim,
                                                      op, match, logged):
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, env=faults.env)
    faults.arm(op, "EIO", 1, match)
    qid = queued_id(send_message(port, MSG))
    assert wait_until(lambda: spool_messages(spool) == [qid], timeout=10)
    assert len(faults.injected()) == 1, faults.injected()
    assert raw_data(load(spool, qid)) == MSG
    assert tmp_files(spool) == []
    assert logged in d.stderr()
    count(faults)
    assert d.stop() == 0


def test_checkpoint_stuck_on_a_failing_disk_keeps_every_acknowledged_message(
        daemons, tree, spool, shim):
    """While .staged/ cannot be synced, messages are still acknowledged
    (their records are durable) and none reaches the queue half-made;
    when the disk works again every one of them is queued."""
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, env=faults.env)
    faults.arm("fsync", "EIO", "*", "/.staged")
    ids = sorted(queued_id(send_message(port, MSG)) for _ in range(6))
    assert wait_until(lambda: len(faults.injected()) >= 2)
    assert [n for n in os.listdir(spool) if n in ids] == []
    faults.disarm()
    assert wait_until(lambda: spool_messages(spool) == ids, timeout=15)
    assert "checkpoint: the disk works again" in d.stderr()
    assert tmp_files(spool) == []
    count(faults)
    assert d.stop() == 0


def send_at_once(port, n):
    """n clients each sending MSG at the same time; their final replies."""
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(send_message(port, MSG)))
               for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return replies


def test_a_message_stuck_in_its_encoder_delays_no_other_session(daemons, tree,
                                                                 spool, shim):
    """Spool files are created and written by the encoder threads, not
    the event loop: while one message's spool file cannot be created (its
    open(2) stalls), another client is greeted and its message queued;
    once the disk moves again the first message is queued too."""
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, env=faults.env)
    faults.arm("open", "STALL", 1, "/.tmp/")
    with greet(port) as first:
        envelope(first)
        assert first.cmd("DATA").startswith("354 ")
        first.send(MSG + b".\r\n")
        assert wait_until(lambda: len(faults.injected()) == 1)
        other = queued_id(send_message(port, BIG))
        assert spool_messages(spool) == [other]
        assert raw_data(load(spool, other)) == BIG
        faults.disarm()
        stuck = queued_id(first.reply())
        assert first.cmd("QUIT") == "221 2.0.0 Bye"
    assert sorted(spool_messages(spool)) == sorted([stuck, other])
    assert raw_data(load(spool, stuck)) == MSG
    count(faults)
    assert d.stop() == 0


def test_persistent_fsync_failure_refuses_every_message(daemons, tree, spool, shim):
    """A disk that keeps failing, without a journal: every client is told
    451, nothing stays, and the daemon recovers when the disk does."""
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, "--no-journal", env=faults.env)
    faults.arm("fsync", "EIO", "*", "/messages")
    replies = send_at_once(port, 6)
    assert replies == ["451 4.3.0 Error: queue file write error"] * 6
    assert spool_messages(spool) == []
    assert tmp_files(spool) == []
    faults.disarm()
    queued_id(send_message(port, MSG))
    count(faults)


@pytest.mark.parametrize("times", ["1", "*"])
def test_fdatasync_failing_within_a_commit_group_fails_only_its_messages(
        daemons, tree, spool, shim, times):
    """Twenty clients at once: their files are committed in groups and
    synced side by side.  A failing fdatasync gets its own client 451 and
    leaves no file; every other client gets 250 and its message queued."""
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, "--no-journal", env=faults.env)
    faults.arm("fdatasync", "EIO", times, "/.tmp/")
    replies = send_at_once(port, 20)
    failed = [r for r in replies if r == "451 4.3.0 Error: queue file write error"]
    ok = [r for r in replies if r.startswith("250 ")]
    assert len(failed) == len(faults.injected()) == (1 if times == "1" else 20)
    assert len(ok) + len(failed) == 20, replies
    assert sorted(spool_messages(spool)) == sorted(queued_id(r) for r in ok)
    assert tmp_files(spool) == []
    faults.disarm()
    queued_id(send_message(port, MSG))
    count(faults)
    assert d.stop() == 0


def test_failing_journal_fdatasync_refuses_its_group_and_keeps_the_rest(
        daemons, tree, spool, shim):
    """Twenty clients at once, their records journaled in groups: the
    group whose fdatasync fails is told 451 and none of its messages
    stays, in the queue or in the journal; every other client gets 250
    and its message queued."""
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, env=faults.env)
    faults.arm("fdatasync", "EIO", 1, "/.journal/")
    replies = send_at_once(port, 20)
    failed = [r for r in replies if r == "451 4.3.0 Error: queue file write error"]
    ok = [r for r in replies if r.startswith("250 ")]
    assert len(faults.injected()) == 1
    assert len(failed) >= 1 and len(ok) + len(failed) == 20, replies
    assert sorted(spool_messages(spool)) == sorted(queued_id(r) for r in ok)
    assert tmp_files(spool) == []
    assert "journal fdatasync: Input/output error" in d.stderr()
    count(faults)
    assert d.stop() == 0


# --- a crash between a journaled 250 and its checkpoint --------------------

@pytest.mark.parametrize("stall,match,how", [
    ("fdatasync", "/.tmp/", "replayed"),    # files not yet durable: records
    ("rename", "/.staged/", "staged"),      # journal emptied, files staged
], ids=["from-records", "from-staged"])
def test_sigkill_before_the_checkpoint_ends_queues_every_acknowledged_message(
        daemons, tree, spool, shim, stall, match, how):
    """Three messages acknowledged, their checkpoint held at one step by
    the shim, PostOffice killed: at the next start every one of them is
    queued, whole and once, and the journal is empty; a message removed
    from the queue (delivered) before a crash does not come back."""
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, env=faults.env)
    delivered = queued_id(send_message(port, b"Subject: gone\r\n\r\nx\r\n"))
    assert spool_messages(spool) == [delivered]
    os.unlink(os.path.join(spool, delivered))   # as PostMaster's ack does
    faults.arm(stall, "STALL", 1, match)
    bodies = [b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i) for i in range(3)]
    with greet(port) as c:
        ids = []
        for b in bodies:
            envelope(c)
            assert c.cmd("DATA").startswith("354 ")
            c.send(b + b".\r\n")
            ids.append(queued_id(c.reply()))
    assert wait_until(lambda: len(faults.injected()) == 1)
    assert [n for n in os.listdir(spool) if n in ids] == []
    d.stop(signal.SIGKILL)
    faults.disarm()
    d2, port = start(daemons, spool)
    assert spool_messages(spool) == sorted(ids)
    for qid, b in zip(ids, bodies):
        assert raw_data(load(spool, qid)) == b
    log = d2.stderr()
    if how == "replayed":
        assert "journal recovered: 3 message(s) queued again from their " \
               "records, 0 from .staged" in log, log
    else:
        # The first checkpoint (of the first message, or of the first
        # two or three if they came within its 5 ms) had emptied its
        # journal file; the others waited in the other file.
        m = re.search(r"journal recovered: (\d+) message\(s\) queued again "
                      r"from their records, (\d+) from \.staged, 0 already "
                      r"queued", log)
        assert m, log
        assert int(m.group(2)) >= 1 and int(m.group(1)) + int(m.group(2)) == 3
    for n in ("a", "b"):
        assert os.path.getsize(os.path.join(spool, ".journal", n)) == 0
    assert os.listdir(os.path.join(spool, ".staged")) == []
    count(faults)
    assert d2.stop() == 0


def test_a_file_reaches_the_queue_only_once_its_record_is_gone(daemons, tree,
                                                               spool, shim):
    """The checkpoint empties the journal file before it moves the files
    into the queue: held while the journal is being emptied, the message
    is in .staged/, not visible (so not deliverable) while its record
    could still be replayed; killed there, the next start queues it once."""
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, env=faults.env)
    faults.arm("fsync", "STALL", 1, "/.journal/")
    qid = queued_id(send_message(port, MSG))
    assert wait_until(lambda: len(faults.injected()) == 1)
    assert qid not in os.listdir(spool)
    assert os.listdir(os.path.join(spool, ".staged")) == [qid]
    d.stop(signal.SIGKILL)
    faults.disarm()
    d2, port = start(daemons, spool)
    assert spool_messages(spool) == [qid]
    assert raw_data(load(spool, qid)) == MSG
    assert "0 message(s) queued again from their records, 1 from .staged" \
        in d2.stderr()
    count(faults)
    assert d2.stop() == 0


# --- the spool itself ----------------------------------------------------------

def test_unreadable_spool_at_start_exits_77(tree, spool, shim):
    """EX_NOPERM, as in every program (common/cli.h's cli_open_status)."""
    faults = Faults(tree, shim)
    faults.arm("open", "EACCES", "*", "/messages")
    r = run_program([os.path.join(BUILD, "postoffice"), "-s", spool,
                     "-l", "127.0.0.1:%d" % free_port()], env=faults.env, timeout=60)
    assert r.returncode == 77, r.stderr
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "Permission denied" in lines[0], lines
    count(faults)


def test_spool_unreadable_while_running_gets_451_then_recovers(daemons, tree, spool, shim):
    faults = Faults(tree, shim)
    d, port = start(daemons, spool, env=faults.env)
    faults.arm("open", "EACCES", "*", "/messages")
    assert send_message(port, MSG) == "451 4.3.0 Error: queue file write error"
    assert send_message(port, BIG) == "451 4.3.0 Error: queue file write error"
    faults.disarm()
    qid = queued_id(send_message(port, MSG))
    assert spool_messages(spool) == [qid]
    count(faults)


def test_vanished_spool_gets_451_and_the_daemon_lives(daemons, spool):
    d, port = start(daemons, spool)
    queued_id(send_message(port, MSG))
    shutil.rmtree(spool)
    assert send_message(port, MSG) == "451 4.3.0 Error: queue file write error"
    assert send_message(port, BIG) == "451 4.3.0 Error: queue file write error"
    assert d.proc.poll() is None
    # The daemon still answers, and stops cleanly.
    with greet(port) as c:
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
    assert d.stop() == 0
    count()


# --- PostMaster and `postmaster queue` on a spool that vanishes or cannot be read

EX_NOINPUT, EX_NOPERM = 66, 77
HIDDEN_AREAS = (".tmp", ".leased", ".deferred", ".dead", ".quarantine")


def assert_postmaster_refuses(srv, why):
    """Every endpoint that reads the spool answers 503 naming the spool
    and the reason: JSON {"error": why}, plain text from /healthz.  A
    long poll is answered at once, not held."""
    for method, path in (("GET", "/"), ("POST", "/lease"),
                         ("POST", "/lease?max=2&wait=20"), ("GET", "/metrics")):
        t0 = time.monotonic()
        status, hdrs, body = curl(srv.url + path, method)
        assert (status, hdrs["content-type"]) == (503, "application/json"), (path, status, body)
        assert json.loads(body) == {"error": why}, (path, body)
        assert time.monotonic() - t0 < 10, path
    status, hdrs, body = curl(srv.url + "/healthz")
    assert (status, hdrs["content-type"], body.decode()) == (503, "text/plain", why + "\n")
    assert srv.d.proc.poll() is None


def assert_queue_tool_refuses(spool, ids, why, status, user=None):
    """Every `postmaster queue` command says why in one line, exits with
    status and writes nothing on stdout."""
    for args in (["count"], ["list"], ["show", ids[0]], ["requeue", ids[0]],
                 ["requeue", "--all-dead"], ["flush"], ["delete", ids[1]],
                 ["delete", "--all-dead"]):
        p = run_program([binary("postmaster"), "queue", "-s", spool] + args, user=user)
        assert (p.returncode, p.stdout, p.stderr.decode()) == (
            status, b"", "postmaster queue: %s\n" % why), args


def assert_each_served_once(srv, spool, ids):
    """The spool usable again: healthy, every message counted, and each
    handed out exactly once, the first two under a lease, the rest by
    the drain; then nothing is left anywhere in the spool."""
    status, _, body = curl(srv.url + "/healthz")
    assert (status, body) == (200, b"ok")
    assert metrics(srv.url)["postoffice_queued"] == len(ids)
    status, leased = get_json(srv.url + "/lease?max=2", "POST")
    assert status == 200 and [m["id"] for m in leased["messages"]] == ids[:2]
    status, drained = get_json(srv.url + "/")
    assert status == 200 and [m["id"] for m in drained] == ids[2:]
    assert get_json(srv.url + "/") == (200, [])
    assert get_json(srv.url + "/lease", "POST") == (
        200, {"lease": None, "expires": None, "messages": []})
    for mid in ids[:2]:
        assert get_json("%s/leases/%s/%s/ack" % (srv.url, leased["lease"], mid),
                        "POST") == (200, {"id": mid, "status": "sent"})
    wait_until(lambda: spool_messages(spool) == [], timeout=20)
    assert spool_messages(spool) == []
    assert [area(spool, a) for a in HIDDEN_AREAS] == [[]] * len(HIDDEN_AREAS)
    log = srv.log()
    for mid in ids:
        assert log.count(mid + ": status=") == (2 if mid in ids[:2] else 1), mid
    assert log.count(": status=served,") == len(ids) - 2
    assert log.count(": status=leased,") == 2 and log.count(": status=sent,") == 2


def test_postmaster_on_a_vanished_spool_answers_503_until_it_is_back(daemons, tree, spool):
    """The spool folder renamed away while PostMaster runs: nothing is
    served from where it went, every endpoint says the spool is missing,
    and once it is back each message is served exactly once."""
    ids = write_messages(spool, 3)
    srv = start_postmaster(daemons, spool)
    before = spool_snapshot(spool)
    away = os.path.join(tree, "away")
    os.rename(spool, away)
    why = "spool %s: No such file or directory" % spool
    assert_postmaster_refuses(srv, why)
    assert_queue_tool_refuses(spool, ids, why, EX_NOINPUT)
    time.sleep(1.5)         # the once-a-second expiry pass meets it too
    assert_postmaster_refuses(srv, why)
    assert spool_snapshot(away) == before
    assert not os.path.exists(spool)
    assert srv.log().count(why) == 1            # said once, not per request
    os.rename(away, spool)
    assert_each_served_once(srv, spool, ids)
    assert srv.log().count("spool %s: usable again" % spool) == 1
    assert srv.d.stop() == 0
    count()


def test_postmaster_on_a_replaced_spool_answers_503_until_the_original_is_back(
        daemons, tree, spool):
    """Another, empty folder where the spool was: PostMaster neither
    serves the old folder from where it went nor pretends the new one is
    what it watches."""
    ids = write_messages(spool, 3)
    srv = start_postmaster(daemons, spool)
    away = os.path.join(tree, "away")
    os.rename(spool, away)
    os.mkdir(spool)
    why = "spool %s: not the folder opened at start (moved or replaced)" % spool
    assert_postmaster_refuses(srv, why)
    assert spool_messages(away) == ids and os.listdir(spool) == []
    os.rmdir(spool)
    os.rename(away, spool)
    assert_each_served_once(srv, spool, ids)
    assert srv.d.stop() == 0
    count()


def test_postmaster_on_an_unreadable_spool_answers_503_until_it_is_readable(
        daemons, tree, spool):
    """chmod 000 on the spool while PostMaster runs.  Root reads anything,
    so under root PostMaster (and `postmaster queue`) run as nobody, the
    spool's owner."""
    user = "nobody" if os.geteuid() == 0 else None
    ids = write_messages(spool, 3)
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chmod(tree, 0o711)
        for root, dirs, files in os.walk(spool):
            for n in [root] + [os.path.join(root, f) for f in dirs + files]:
                os.chown(n, pw.pw_uid, pw.pw_gid)
    srv = start_postmaster(daemons, spool, user=user)
    before = spool_snapshot(spool)
    os.chmod(spool, 0)
    try:
        why = "spool %s: Permission denied" % spool
        assert_postmaster_refuses(srv, why)
        assert_queue_tool_refuses(spool, ids, why, EX_NOPERM, user=user)
        time.sleep(1.5)
        assert_postmaster_refuses(srv, why)
        assert srv.log().count(why) == 1
    finally:
        os.chmod(spool, 0o750)
    assert spool_snapshot(spool) == before
    assert_each_served_once(srv, spool, ids)
    assert srv.d.stop() == 0
    count()


# --- slow clients --------------------------------------------------------------

def trickle(port, before, replies, out, stop, limit=60):
    """Sends `before` and reads its `replies` replies, then one byte a
    second until the server answers or closes; records (answer, seconds)."""
    try:
        c = greet(port, timeout=30)
        c.send(before)
        for _ in range(replies):
            c.reply()
        c.sock.settimeout(1.0)
        t0 = time.monotonic()
        answer = "nothing"
        while not stop.is_set() and time.monotonic() - t0 < limit:
            try:
                c.send(b"x")
            except OSError:
                answer = "closed"
                break
            try:
                answer = c.reply()
                break
            except socket.timeout:
                continue
            except (EOFError, OSError):
                answer = "closed"
                break
        out.append((answer, time.monotonic() - t0))
        c.close()
    except Exception as e:          # recorded for the assertion below
        out.append((repr(e), 0))


def test_one_byte_a_second_in_data_gets_421_and_others_are_served(daemons, spool):
    d, port = start(daemons, spool, "--timeout", "3")
    out, stop = [], threading.Event()
    t = threading.Thread(target=trickle, args=(
        port, b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", 3,
        out, stop))
    t.start()
    try:
        # Meanwhile other clients are served at once.
        qids = [queued_id(send_message(port, MSG)) for _ in range(5)]
    finally:
        t.join(30)
        stop.set()
    reply, took = out[0]
    assert reply == "421 4.4.2 %s Error: timeout exceeded" % HOST, reply
    assert took < 15
    assert spool_messages(spool) == sorted(qids)
    assert tmp_files(spool) == []
    assert d.proc.poll() is None
    count()


def test_one_byte_a_second_in_a_command_gets_421(daemons, spool):
    """A command line dribbled one byte a second: the line never ends, so
    the client must not hold its connection slot for ever."""
    d, port = start(daemons, spool, "--timeout", "3")
    out, stop = [], threading.Event()
    t = threading.Thread(target=trickle, args=(port, b"NOOP", 0, out, stop, 15))
    t.start()
    t.join(30)
    stop.set()
    reply, took = out[0]
    assert reply == "421 4.4.2 %s Error: timeout exceeded" % HOST, (reply, took)


# --- many connections ----------------------------------------------------------

def raise_nofile(n):
    """Raises this process's descriptor limit (inherited by the daemon) to
    n, the hard limit too when it is lower and that is allowed (root with
    CAP_SYS_RESOURCE, as a deployment's service manager has)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        except (ValueError, OSError) as e:
            pytest.skip("the file descriptor limit cannot be raised to %d "
                        "(hard limit %d): %s" % (n, hard, e))
        return soft, hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n), hard))
    return soft, hard


def storm(port, n, timeout, wave=500):
    """Opens n connections that all stay open, in waves of `wave` so that
    the kernel's accept queue (511) is not overrun: past it the kernel
    drops handshakes the client believes complete, which would test the
    kernel rather than the daemon.  Returns ({socket: first reply}, all
    sockets)."""
    socks, got = [], {}
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    while len(socks) < n:
        batch = []
        for _ in range(min(wave, n - len(socks))):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            sel.register(s, selectors.EVENT_READ)
            batch.append(s)
        socks += batch
        while len(got) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                s = key.fileobj
                try:
                    data = s.recv(512)
                except OSError as e:
                    data = ("error %s" % e).encode()
                got[s] = data.decode("utf-8", "replace") or "closed"
                sel.unregister(s)
        if len(got) < len(socks):
            break
    sel.close()
    return got, socks


N_CONN = 5000


def test_5000_concurrent_connections_are_served_or_get_421(daemons, spool):
    old = raise_nofile(3 * N_CONN + 100)
    try:
        d, port = start(daemons, spool, "--max-connections", "3000", "--timeout", "60")
        got, socks = storm(port, N_CONN, 60 * (5 if VALGRIND else 1))
        served = sum(1 for g in got.values() if g.startswith("220 "))
        busy = sum(1 for g in got.values()
                   if g.startswith("421 4.7.0 %s Error: too many connections" % HOST))
        other = [g for g in got.values()
                 if not g.startswith("220 ") and not g.startswith("421 ")]
        assert len(got) == N_CONN, "%d connections got nothing" % (N_CONN - len(got))
        assert other == []
        assert served == 3000 and busy == N_CONN - 3000, (served, busy)
        # Every served session still works.
        for s in socks:
            s.setblocking(True)
            s.settimeout(10)
        sample = [s for s in socks if got.get(s, "").startswith("220 ")][::100]
        for s in sample:
            s.sendall(b"NOOP\r\n")
            assert s.recv(512).startswith(b"250 ")
        for s in socks:
            s.close()
        assert d.proc.poll() is None
        assert wait_until(lambda: "disconnect" in d.stderr())
        queued_id(send_message(port, MSG))
        assert d.stop() == 0
        count(connections=N_CONN)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, old)


def test_connections_beyond_the_fd_limit_do_not_flood_the_log(daemons, spool):
    """With fewer descriptors than --max-connections allows, accept()
    fails with EMFILE; the daemon must keep serving once descriptors are
    free again, and must not spin or flood its log meanwhile."""
    wrap = ["prlimit", "--nofile=64:64", "--"]
    d, port = start(daemons, spool, "--max-connections", "1000", wrap=wrap)
    got, socks = storm(port, 100, 5, wave=100)
    time.sleep(0.5)
    for s in socks:
        s.close()
    assert d.proc.poll() is None
    # Once descriptors are free again, mail flows.
    assert wait_until(lambda: send_message(port, MSG).startswith("250 "), timeout=20)
    d.stop()
    with open(d.logpath, "rb") as f:
        accept_errors = f.read().count(b"accept")
    assert accept_errors < 100, "%d accept errors logged in 0.5 s" % accept_errors
