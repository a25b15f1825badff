"""How PostOffice reads its clients.  Its system calls per message,
counted by strace: none is spent asking the socket how much it holds
before a read (ioctl FIONREAD), re-arming the connection's epoll
registration around each commit, reading the host name for each message,
or shrinking and growing the heap (brk) around each message.  And as reading stays on during a commit, a client that ends
its side right after the final dot still gets its replies."""

import os
import re
import shutil
import signal

import socket

import pytest

from conftest import VALGRIND, spool_messages, wait_until
from postoffice_util import envelope, greet, queued_id, start

needs_strace = pytest.mark.skipif(shutil.which("strace") is None,
                                  reason="strace is not installed")
not_under_valgrind = pytest.mark.skipif(
    VALGRIND, reason="would count valgrind's calls, not ours")

MESSAGES = 20


def traced_session(daemons, spool, tmp_path):
    """MESSAGES messages over one session to a PostOffice under strace;
    returns the calls it made as (name, arguments) pairs."""
    trace = str(tmp_path / "trace")
    d, port = start(daemons, spool, wrap=[
        "strace", "-f", "-qq", "-o", trace,
        "-e", "trace=ioctl,epoll_ctl,uname,brk"])
    with open(trace) as f:
        before = len(f.readlines())

    def calls():
        with open(trace) as f:
            return f.readlines()[before:]
    try:
        with greet(port) as c:
            for i in range(MESSAGES):
                envelope(c)
                assert c.cmd("DATA").startswith("354 ")
                c.send(b"Subject: %d\r\nMessage-ID: <%d@web1.example>\r\n"
                       b"\r\n%s\r\n.\r\n" % (i, i, b"x" * 2048))
                queued_id(c.reply())
            assert c.cmd("QUIT") == "221 2.0.0 Bye"
        wait_until(lambda: any("EPOLL_CTL_DEL" in l for l in calls()), 5)
        session = calls()
    finally:
        # strace does not pass SIGTERM on: the daemon, its child, is
        # stopped.
        with open("/proc/%d/task/%d/children" % (d.pid, d.pid)) as f:
            os.kill(int(f.read().split()[0]), signal.SIGTERM)
        d.proc.wait(10)
    out = []
    for line in session:
        m = re.match(r"\d+ +(\w+)\((.*)", line)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


@needs_strace
@not_under_valgrind
def test_no_fionread_and_no_rearming_per_message(daemons, spool, tmp_path):
    calls = traced_session(daemons, spool, tmp_path)
    assert [a for n, a in calls if n == "ioctl" and "FIONREAD" in a] == []
    # The connection's own registrations (its read event, the bufferevent's
    # write event around the greeting, their removal at the end): a few
    # per connection, where re-arming around each commit made two per
    # message.
    ctl = [a for n, a in calls if n == "epoll_ctl"]
    assert len(ctl) < MESSAGES / 2, ctl
    # The host name (for the identifier rules) is read at most once a
    # second, not once per message.
    assert len([1 for n, _ in calls if n == "uname"]) < MESSAGES / 2
    # Nor does the heap shrink after each message to grow again.
    assert len([1 for n, _ in calls if n == "brk"]) < MESSAGES / 4


@pytest.mark.parametrize("quit", [True, False])
def test_client_ending_its_side_after_the_dot_gets_its_replies(
        daemons, spool, quit):
    d, port = start(daemons, spool)
    with greet(port) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354 ")
        c.send(b"Subject: s\r\n\r\nbody\r\n.\r\n" +
               (b"QUIT\r\n" if quit else b""))
        c.sock.shutdown(socket.SHUT_WR)
        qid = queued_id(c.reply())
        if quit:
            assert c.reply() == "221 2.0.0 Bye"
        assert c.closed()
    assert spool_messages(spool) == [qid]
