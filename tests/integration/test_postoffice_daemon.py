"""PostOffice as a daemon: command line, access list, IPv6, connection
limits, timeouts, signals, disk failures and memory use."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import binary, free_port, run_program, spool_messages, wait_for_port
from postoffice_util import (Client, HOST, envelope, greet, load,
                             queued_id, raw_data, send_message, start,
                             tmp_files, wait_until)

MSG = b"Subject: d\r\n\r\nbody\r\n"


def run(*args, timeout=10):
    """Runs postoffice to its end (under valgrind with VALGRIND=1)."""
    return run_program([binary("postoffice")] + list(args), timeout=timeout)


# --- command line -----------------------------------------------------------

def test_help_exits_0_and_shows_usage():
    r = run("--help")
    assert r.returncode == 0
    assert r.stdout.startswith(b"usage: postoffice [options] [HOST PORT]")
    assert b"--bare-newline" in r.stdout


def test_version_exits_0():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith(b"postoffice ")


def test_bad_flag_exits_64_with_one_line():
    r = run("--no-such-flag")
    assert r.returncode == 64
    assert r.stderr.decode().count("\n") == 1
    assert "--no-such-flag" in r.stderr.decode()


@pytest.mark.parametrize("args", [
    ["--max-size", "ten"], ["--bare-newline", "maybe"], ["--allow", "300.1.1.1/8"],
    ["--max-rcpt", "0"], ["--timeout"], ["-l", "nowhere"], ["one", "two", "three"],
    ["--max-file", "0"], ["--max-file", "ten"],
])
def test_bad_values_exit_64(args, spool):
    r = run("-s", spool, *args)
    assert r.returncode == 64, r.stderr
    assert r.stderr.decode().count("\n") == 1


@pytest.mark.parametrize("name", [
    "a" * 450,                                   # no reply could carry it
    ".".join(["a" * 63] * 4) + "a",              # 254 octets, labels fine
    "a" * 64 + ".test",                          # a label over 63
    "mx_1.test", "mx.test.", "-mx.test", "mx..test", "mx test", "m\u00e9.test",
], ids=["450", "254", "label-64", "underscore", "trailing-dot", "hyphen",
        "empty-label", "blank", "8bit"])
def test_hostname_replies_cannot_carry_exits_64_with_one_line(spool, name):
    r = run("-s", spool, "-l", "127.0.0.1:%d" % free_port(), "--hostname", name)
    assert r.returncode == 64, r.stderr
    err = r.stderr.decode()
    assert err.count("\n") == 1
    assert err.startswith("postoffice: --hostname ") and "not a host name" in err


def test_longest_hostname_is_in_every_reply(daemons, spool):
    name = ".".join(["b" * 62] * 4) + ".b"       # 253 octets
    assert len(name) == 253
    port = free_port()
    d = daemons([binary("postoffice"), "-s", spool, "--hostname", name,
                 "-l", "127.0.0.1:%d" % port, "--timeout", "1"])
    wait_for_port(port, d.proc)
    with Client(port) as c:
        assert c.reply() == "220 %s ESMTP PostOffice" % name
        assert c.cmd("EHLO client.test").split("\n")[0] == "250-%s" % name
        assert c.reply() == "421 4.4.2 %s Error: timeout exceeded" % name


@pytest.mark.parametrize("args", [["--max-size", "257M"], ["--max-file", "257M"],
                                  ["--max-size", "268435457"]])
def test_limits_over_the_largest_spool_file_exit_64(spool, args):
    r = run("-s", spool, "-l", "127.0.0.1:%d" % free_port(), *args)
    assert r.returncode == 64, r.stderr
    err = r.stderr.decode()
    assert err == "postoffice: %s %s: over the largest spool file, 256M (try --help)\n" % tuple(args)


def test_limits_at_the_largest_spool_file_start(daemons, spool):
    d, port = start(daemons, spool, "--max-size", "256M", "--max-file", "256M")
    queued_id(send_message(port, MSG))


# One rule for the three programs (common/cli.h): a spool that is not
# there is EX_NOINPUT, 66 - none of them creates the folder it is given -
# and the one line names it once.
NOT_THERE = [("absent", "No such file or directory"),
             ("a-file", "Not a directory"),
             ("absent/below", "No such file or directory")]


@pytest.mark.parametrize("name,why", NOT_THERE)
def test_a_spool_that_is_not_there_exits_66_in_every_program(tree, name, why):
    with open(os.path.join(tree, "a-file"), "w"):
        pass
    path = os.path.join(tree, name)
    for argv, prog in (
            ([binary("postoffice"), "-s", path, "-l", "127.0.0.1:%d" % free_port()],
             "postoffice"),
            ([binary("postmaster"), "-s", path, "-l", "127.0.0.1:%d" % free_port()],
             "postmaster"),
            ([binary("postmaster"), "queue", "-s", path, "list"],
             "postmaster queue")):
        r = run_program(argv, timeout=10)
        assert (r.returncode, r.stderr.decode()) == (
            66, "%s: spool %s: %s\n" % (prog, path, why)), argv


def test_an_unwritable_spool_exits_77(tree, spool):
    """EX_NOPERM: the folder is there, but not this user's to write."""
    os.chmod(tree, 0o711)
    os.chmod(spool, 0o555)
    r = run_program([binary("postoffice"), "-s", spool, "-l",
                     "127.0.0.1:%d" % free_port()], timeout=10, user="nobody")
    assert (r.returncode, r.stderr.decode()) == (
        77, "postoffice: spool %s: not writable: Permission denied\n" % spool)


def test_listen_on_port_0_logs_the_port_it_got(daemons, spool):
    d = daemons([binary("postoffice"), "-s", spool, "--hostname", HOST,
                 "-l", "127.0.0.1:0", "-l", "[::1]:0"])
    pat = re.compile(r"listening on (127\.0\.0\.1|\[::1\]):(\d+), spool=%s$"
                     % re.escape(spool), re.M)
    assert wait_until(lambda: len(pat.findall(d.stderr())) == 2), d.stderr()
    got = dict(pat.findall(d.stderr()))
    assert "0" not in got.values(), d.stderr()
    for host, port in got.items():
        family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
        with socket.socket(family) as c:
            c.settimeout(5)
            c.connect((host.strip("[]"), int(port)))
            assert c.recv(100).startswith(b"220 ")


def test_port_in_use_exits_69(spool):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = run("-s", spool, "-l", "127.0.0.1:%d" % port)
    assert r.returncode == 69
    assert "Address already in use" in r.stderr.decode()
    assert r.stderr.decode().count("\n") == 1


def test_positional_host_and_port_like_the_original(daemons, spool):
    port = free_port()
    d, _ = start(daemons, spool, "127.0.0.1", str(port), port=port, listen=False)
    queued_id(send_message(port, MSG))


def test_default_spool_is_messages_in_the_working_directory(daemons, tree):
    os.mkdir(os.path.join(tree, "messages"))
    port = free_port()
    d = daemons([binary("postoffice"), "--hostname", HOST, "-l", "127.0.0.1:%d" % port],
                cwd=tree)
    wait_for_port(port, d.proc)
    qid = queued_id(send_message(port, MSG))
    assert spool_messages(os.path.join(tree, "messages")) == [qid]


def tmp_file(spool, name, age):
    """A file in .tmp/ last written age seconds ago."""
    os.makedirs(os.path.join(spool, ".tmp"), exist_ok=True)
    path = os.path.join(spool, ".tmp", name)
    with open(path, "w") as f:
        f.write("{half")
    t = time.time() - age
    os.utime(path, (t, t))


def test_stale_temporary_files_are_removed_at_start_fresh_ones_stay(daemons, spool):
    # Older than ten minutes: a crash left it.  Younger: another
    # PostOffice's, or PostMaster's, write in flight.
    tmp_file(spool, "0" * 32 + ".deadbeefdeadbeef", 11 * 60)
    tmp_file(spool, "1" * 32 + ".deadbeefdeadbeef", 9 * 60)
    tmp_file(spool, "2" * 32 + ".deadbeefdeadbeef", 0)
    d, port = start(daemons, spool)
    assert sorted(tmp_files(spool)) == ["1" * 32 + ".deadbeefdeadbeef",
                                        "2" * 32 + ".deadbeefdeadbeef"]
    assert "removed 1 unfinished file(s) from the spool" in d.stderr()


# --- access -------------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def refused_many(port, n, want):
    """n clients in a row that neither send nor close: each must get
    exactly want and then end of file, without waiting for QUIT."""
    for _ in range(n):
        with Client(port, timeout=5) as c:
            assert c.reply() == want
            assert c.buf == b""
            assert c.closed(timeout=2)
            assert c.buf == b""


def test_client_outside_allow_gets_554_and_is_closed_at_once(daemons, spool):
    d, port = start(daemons, spool, "--allow", "10.0.0.0/8")
    before = fd_count(d.pid)
    refused_many(port, 200,
                 "554 5.7.1 <127.0.0.1>: Client host rejected: Access denied")
    # None of the 200 left a descriptor behind (the start-up probe's may
    # still have been open when `before` was counted).
    assert wait_until(lambda: fd_count(d.pid) <= before), fd_count(d.pid)
    assert spool_messages(spool) == []
    assert d.stop() == 0
    with open(d.logpath) as f:
        log = f.read()
    # One line each, counted (the start-up probe of the port is one too).
    lines = re.findall(r"NOQUEUE: reject: CONNECT from 127\.0\.0\.1: 554 5\.7\.1 "
                       r"<127\.0\.0\.1>: Client host rejected: Access denied; "
                       r"denied=(\d+), busy=0\n", log)
    assert [int(n) for n in lines] == list(range(1, len(lines) + 1))
    assert len(lines) >= 200
    assert "stopped: connections=0, denied=%d, busy=0\n" % len(lines) in log
    assert "connect from 127.0.0.1\n" not in log


def test_allow_matches_by_network(daemons, spool):
    d, port = start(daemons, spool, "--allow", "127.0.0.2/32")
    with Client(port, source="127.0.0.2") as c:
        assert c.reply().startswith("220 ")
    with Client(port, source="127.0.0.1") as c:
        assert c.reply().startswith("554 5.7.1 <127.0.0.1>")


def test_ipv6_loopback_listener(daemons, spool):
    port = free_port()
    d = daemons([binary("postoffice"), "-s", spool, "--hostname", HOST,
                 "-l", "[::1]:%d" % port])
    wait_for_port(port, d.proc, host="::1")
    with Client(port, host="::1", family=socket.AF_INET6) as c:
        assert c.reply().startswith("220 ")
        c.cmd("EHLO x")
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        c.send(MSG + b".\r\n")
        qid = queued_id(c.reply())
    assert load(spool, qid)["client"] == "::1"


# --- limits and timeouts ------------------------------------------------------

def test_connections_over_limit_get_421_are_closed_and_counted(daemons, spool):
    d, port = start(daemons, spool, "--max-connections", "2")
    a, b = greet(port), greet(port)
    before = fd_count(d.pid)
    refused_many(port, 100,
                 "421 4.7.0 %s Error: too many connections from 127.0.0.1" % HOST)
    # The line is written after the socket is closed: a slow run (valgrind)
    # may see the last EOF before it.
    assert wait_until(lambda: (
        "NOQUEUE: reject: CONNECT from 127.0.0.1: 421 4.7.0 %s Error: too "
        "many connections from 127.0.0.1; denied=0, busy=100" % HOST) in d.stderr())
    assert wait_until(lambda: fd_count(d.pid) <= before), fd_count(d.pid)
    a.close()
    assert wait_until(lambda: "disconnect from" in d.stderr())
    # A slot is free again.
    def third_gets_220():
        with Client(port) as c:
            return c.reply().startswith("220 ")
    assert wait_until(third_gets_220)
    b.close()
    assert d.stop() == 0
    with open(d.logpath) as f:
        assert re.search(r"stopped: connections=\d+, denied=0, busy=1\d\d\n",
                         f.read())


def test_idle_client_gets_421_timeout_and_is_closed(daemons, spool):
    d, port = start(daemons, spool, "--timeout", "1")
    with greet(port) as c:
        t0 = time.monotonic()
        assert c.reply() == "421 4.4.2 %s Error: timeout exceeded" % HOST
        assert c.closed()
        assert 0.5 < time.monotonic() - t0 < 5


def test_slow_data_below_minimum_rate_gets_421(daemons, spool):
    d, port = start(daemons, spool, "--timeout", "2", "--min-data-rate", "100000")
    with greet(port) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        t0 = time.monotonic()
        c.sock.settimeout(0.3)
        reply = None
        while time.monotonic() - t0 < 10 and reply is None:
            try:
                c.send(b"drip\r\n")
                reply = c.reply()
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        assert reply == "421 4.4.2 %s Error: timeout exceeded" % HOST
        # Slow, but never idle for the whole timeout: only the rate
        # check can have fired.
        assert time.monotonic() - t0 < 6
    assert spool_messages(spool) == []
    assert tmp_files(spool) == []


# --- signals ------------------------------------------------------------------

def test_sigterm_lets_a_transaction_finish_then_421(daemons, spool):
    d, port = start(daemons, spool, "--stop-timeout", "10")
    idle = greet(port)
    busy = greet(port)
    envelope(busy)
    assert busy.cmd("DATA").startswith("354")
    busy.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
    d.proc.send_signal(signal.SIGTERM)
    # The idle session is told at once.
    assert idle.reply() == "421 4.3.2 %s Service shutting down" % HOST
    assert idle.closed()
    # The one in DATA finishes its message, then is told.
    busy.send(b"second half\r\n.\r\nMAIL FROM:<a@b.example>\r\n")
    qid = queued_id(busy.reply())
    assert busy.reply() == "421 4.3.2 %s Service shutting down" % HOST
    assert busy.closed()
    assert d.proc.wait(10) == 0
    assert spool_messages(spool) == [qid]
    assert raw_data(load(spool, qid)) == b"Subject: in flight\r\n\r\nfirst half\r\nsecond half\r\n"
    assert tmp_files(spool) == []


def test_sigterm_grace_expiry_drops_unfinished_data(daemons, spool):
    d, port = start(daemons, spool, "--stop-timeout", "1")
    c = greet(port)
    envelope(c)
    assert c.cmd("DATA").startswith("354")
    c.send(b"Subject: never finished\r\n\r\npartial")
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    assert c.reply() == "421 4.3.2 %s Service shutting down" % HOST
    assert 0.5 < time.monotonic() - t0 < 5
    assert d.proc.wait(10) == 0
    assert spool_messages(spool) == []
    assert tmp_files(spool) == []


def test_sighup_reopens_the_log_file(daemons, spool, tree):
    log = os.path.join(tree, "po.log")
    d, port = start(daemons, spool, "--log-file", log)
    assert wait_until(lambda: os.path.exists(log) and "listening on" in open(log).read())
    os.rename(log, log + ".1")
    d.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: os.path.exists(log))
    qid = queued_id(send_message(port, MSG))
    assert wait_until(lambda: qid in open(log).read())
    assert qid not in open(log + ".1").read()


# --- disk failures ------------------------------------------------------------

LIMIT_WRAPPER = [sys.executable, "-c",
                 "import os, resource, signal, sys\n"
                 "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                 "n = int(sys.argv[1])\n"
                 "resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))\n"
                 "os.execv(sys.argv[2], sys.argv[2:])\n"]


@pytest.mark.parametrize("size", [100 * 1024, 600 * 1024],
                         ids=["json-write-fails", "raw-spill-fails"])
def test_write_failure_gets_451_and_leaves_no_file(daemons, spool, size):
    """Files larger than 64 KiB cannot be written (RLIMIT_FSIZE, EFBIG):
    the spool file (or the raw spill file) fails mid-write."""
    d, port = start(daemons, spool, "--max-size", "10M",
                    wrap=LIMIT_WRAPPER + [str(64 * 1024)])
    data = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * (size // 1000)
    assert send_message(port, data) == "451 4.3.0 Error: queue file write error"
    assert spool_messages(spool) == []
    assert tmp_files(spool) == []
    assert "queue file" in d.stderr()
    # The daemon goes on: a small message is queued.
    qid = queued_id(send_message(port, MSG))
    assert spool_messages(spool) == [qid]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_disk_gets_451_and_leaves_no_file(daemons, tree):
    mnt = os.path.join(tree, "small")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.decode().strip())
    try:
        d, port = start(daemons, mnt, "--max-size", "10M")
        data = b"Subject: full\r\n\r\n" + (b"q" * 998 + b"\r\n") * 200   # 200 KB + JSON
        with greet(port) as c:
            for _ in range(3):
                envelope(c)
                assert c.cmd("DATA").startswith("354")
                c.send(data + b".\r\n")
                last = c.reply()
                if last.startswith("451"):
                    break
                queued_id(last)
            assert last == "451 4.3.0 Error: queue file write error"
        names = spool_messages(mnt)
        for n in names:   # whatever was acknowledged is whole
            assert raw_data(load(mnt, n)) == data
        assert tmp_files(mnt) == []
        d.stop()
    finally:
        subprocess.run(["umount", "-l", mnt])


# --- memory -------------------------------------------------------------------

def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_50_mib_message_is_streamed_not_held_in_memory(daemons, spool):
    # Under AddressSanitizer freed memory sits in a quarantine and would
    # count as growth; switch that off (a plain build ignores this).
    asan = ("detect_leaks=1:abort_on_error=0:exitcode=99:"
            "quarantine_size_mb=0:thread_local_quarantine_size_kb=0")
    d, port = start(daemons, spool, "--max-size", "60M", env={"ASAN_OPTIONS": asan})
    queued_id(send_message(port, MSG))
    before = vm_hwm_kib(d.pid)
    line = (b"0123456789" * 9 + b"\xe9" * 8 + b"\r\n")
    data = b"Subject: huge\r\n\r\n" + line * (50 * 1024 * 1024 // len(line))
    with greet(port, timeout=120) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        c.sock.sendall(data + b".\r\n")
        qid = queued_id(c.reply())
    growth_mib = (vm_hwm_kib(d.pid) - before) / 1024
    assert growth_mib < 20, "peak RSS grew by %.1f MiB" % growth_mib
    obj = load(spool, qid)
    assert raw_data(obj) == data
    assert len(obj["body"].encode()) <= 1024 * 1024
