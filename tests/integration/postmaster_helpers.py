"""Helpers for PostMaster's integration tests: spool files in the
documented format (common/message.h), a started server, curl as the
client."""

import json
import os
import secrets
import signal
import socket
import smtplib
import subprocess
import time

from conftest import binary, free_port, wait_for_port, spool_messages, wait_until  # noqa: F401 (re-exported)

_seq = [0]


def new_id():
    """A spool id as PostOffice makes them: 14 hex digits of microseconds
    since the epoch, then 18 random hex digits."""
    _seq[0] += 1
    return "%014x" % (int(time.time() * 1e6) + _seq[0]) + secrets.token_hex(9)


def message_object(mid, size=100, subject="test"):
    data = "Subject: %s\r\n\r\n%s\r\n" % (subject, "x" * size)
    return {"id": mid, "mail_from": "sender@example.org",
            "rcpt_tos": ["rcpt@example.net"], "subject": subject,
            "body": "x" * size, "timestamp": "2026-11-25T15:27:30.123Z",
            "client": "127.0.0.1", "size": len(data), "attempts": 0,
            "data": data}


def write_message(spool, size=100, mid=None, raw=None):
    """Writes one message the way PostOffice does (.tmp, then rename) and
    returns its id; raw replaces the JSON with any bytes."""
    mid = mid or new_id()
    os.makedirs(os.path.join(spool, ".tmp"), exist_ok=True)
    tmp = os.path.join(spool, ".tmp", mid + ".t")
    with open(tmp, "wb") as f:
        f.write(raw if raw is not None else
                json.dumps(message_object(mid, size)).encode())
    os.rename(tmp, os.path.join(spool, mid))
    return mid


def write_messages(spool, n, size=100):
    return [write_message(spool, size) for _ in range(n)]


def accept_via_postoffice(daemons, spool, n, size=100):
    """Hands n messages to a real PostOffice over SMTP and returns the ids
    it spooled (sorted).  Falls back to writing the files directly when
    build/postoffice is not there."""
    before = set(spool_messages(spool))
    if not os.path.exists(binary("postoffice")):
        write_messages(spool, n, size)
    else:
        port = free_port()
        po = daemons([binary("postoffice"), "-s", spool,
                      "-l", "127.0.0.1:%d" % port], name="postoffice")
        wait_for_port(port, po.proc)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            for i in range(n):
                s.sendmail("sender@example.org", ["rcpt@example.net"],
                           "Subject: message %d\r\n\r\n%s\r\n" % (i, "y" * size))
        po.stop()
    ids = sorted(set(spool_messages(spool)) - before)
    assert len(ids) == n
    return ids


class Server:
    def __init__(self, daemon, port=None, sock=None):
        self.d = daemon
        self.port = port
        self.sock = sock
        self.url = "http://127.0.0.1:%d" % port if port else "http://localhost"

    def log(self):
        if self.d.log.closed:
            with open(self.d.logpath, errors="replace") as f:
                return f.read()
        return self.d.stderr()

    def wait_log(self, text, count=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(text) >= count:
                return
            time.sleep(0.05)
        raise AssertionError("log never had %d x %r:\n%s" % (count, text, self.log()))


def start_postmaster(daemons, spool, *args, name="postmaster", user=None,
                     wrap=()):
    """wrap: a command the server runs under (e.g. prlimit and its
    arguments)."""
    port = free_port()
    d = daemons(list(wrap) + [binary("postmaster"), "-s", spool,
                              "-l", "127.0.0.1:%d" % port]
                + list(args), name=name, user=user)
    wait_for_port(port, d.proc)
    return Server(d, port=port)


def curl(url, method="GET", data=None, user=None, headers=(), unix=None):
    """Runs curl; returns (status, headers as a dict of lowercase names,
    body bytes)."""
    argv = ["curl", "-s", "-S", "--path-as-is", "-X", method, "-D", "-",
            "--max-time", "30"]
    if data is not None:
        argv += ["--data-binary", "@-", "-H", "Content-Type: application/json"]
    if user is not None:
        argv += ["-u", user]
    for h in headers:
        argv += ["-H", h]
    if unix is not None:
        argv += ["--unix-socket", unix]
    argv.append(url)
    p = subprocess.run(argv, input=data if data is not None else b"",
                       capture_output=True, check=True)
    head, _, body = p.stdout.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 100"):
        head, _, body = body.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def get_json(url, method="GET", **kw):
    status, hdrs, body = curl(url, method, **kw)
    return status, json.loads(body)


def spool_snapshot(spool):
    """Every file under the spool with its contents."""
    snap = {}
    for root, _, files in os.walk(spool):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                snap[os.path.relpath(p, spool)] = fh.read()
    return snap


def area(spool, name):
    return sorted(os.listdir(os.path.join(spool, name)))


def metrics(url, **kw):
    status, _, body = curl(url + "/metrics", **kw)
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.split()
            out[k] = float(v)
    return out


def stop(server, sig=signal.SIGTERM):
    return server.d.stop(sig)


def stalled_response(port, request):
    """Sends request (bytes) on a socket with a tiny receive buffer, reads
    the start of a 200 response and returns the socket: the rest of the
    response is stuck until the caller reads or closes it."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(request)
    assert s.recv(64).startswith(b"HTTP/1.1 200")
    return s
