"""Test doubles for PostMan's integration tests: a fake PostMaster (an
http.server in a thread that serves whatever lease responses a test
queues, hostile ones included, and records every request), and readers for
what the recording sendmail (tests/helpers/fake_sendmail.c) left behind;
and the ways to start PostMan, under valgrind with VALGRIND=1 as the
daemons fixture's programs are (conftest.py)."""

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import (SANITIZER_MARKS, SLOWDOWN, VALGRIND, binary, reachable,
                      sanitizer_env, valgrind_argv, valgrind_report)

EMPTY_LEASE = {"lease": None, "expires": None, "messages": []}
LOG_DELAY = re.compile(r"delay=\d+\.\d\d")


def lease_token(n=0):
    return "%08x%016x" % (int(time.time()) + 300, n)


def message_id(n):
    return "%032x" % (0x10000000000000000000000000000 + n)


def message(n, mail_from="sender@example.org", rcpts=("rcpt@example.net",),
            data=None, raw=None):
    """A spool object as PostMaster serves it.  raw (bytes) is sent as
    data_base64, data (str) as data."""
    m = {"id": message_id(n), "mail_from": mail_from, "rcpt_tos": list(rcpts),
         "subject": "test %d" % n, "timestamp": "2026-11-25T15:27:30.123Z",
         "client": "127.0.0.1", "attempts": 0}
    if raw is not None:
        m["data_base64"] = base64.b64encode(raw).decode()
        m["size"] = len(raw)
    else:
        if data is None:
            data = ("From: <%s>\r\nTo: <%s>\r\nSubject: test %d\r\n\r\n"
                    "body %d\r\n" % (mail_from, rcpts[0], n, n))
        m["data"] = data
        m["size"] = len(data.encode())
    return m


def lease(messages, token=None):
    return {"lease": token or lease_token(), "expires": int(time.time()) + 300,
            "messages": messages}


class Reply:
    """A canned HTTP reply: status, body bytes, headers; close_delimited
    sends no Content-Length and closes the connection instead.  truncate=N
    announces the whole body's Content-Length, sends only its first N
    bytes and closes the connection (a PostMaster that dies mid-response);
    hangup closes the connection without answering at all."""

    def __init__(self, status=200, body=b"", headers=None, close_delimited=False,
                 delay=0.0, truncate=None, hangup=False):
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}
        self.close_delimited = close_delimited
        self.delay = delay
        self.truncate = truncate
        self.hangup = hangup


class FakePostMaster:
    """Serves queued replies to POST /lease (EMPTY_LEASE once they run
    out), answers ack/fail with 200 (or ack_status, or ack_reply to every
    ack when set), and records it all."""

    def __init__(self, prefix="/po", auth=None, tls=None):
        self.prefix = prefix
        self.scheme = "https" if tls else "http"
        self.auth = auth                # "Basic ..." expected, or None
        self.replies = []
        self.requests = []              # (path, headers, body)
        self.acks = []
        self.fails = []                 # (id, lease, {"permanent", "reason"})
        self.ack_status = 200
        self.ack_reply = None           # a Reply for every ack, when set
        self.lock = threading.Lock()
        self.lease_event = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.handle(self, body)

            def do_GET(self):
                fake.send(self, Reply(405, {"error": "method not allowed"}))

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass    # clients that hang up early are part of the tests

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, self.prefix)

    def queue(self, *replies):
        with self.lock:
            for r in replies:
                self.replies.append(r if isinstance(r, Reply) else Reply(200, r))

    def lease_requests(self):
        return [r for r in self.requests if r[0].startswith(self.prefix + "/lease?")]

    def send(self, h, r):
        if r.delay:
            time.sleep(r.delay)
        if r.hangup:
            h.close_connection = True
            return
        h.send_response(r.status)
        h.send_header("Content-Type", "application/json")
        for k, v in r.headers.items():
            h.send_header(k, v)
        if r.close_delimited:
            h.send_header("Connection", "close")
            h.close_connection = True
        else:
            h.send_header("Content-Length", str(len(r.body)))
        h.end_headers()
        body = r.body
        if r.truncate is not None:
            body = body[:r.truncate]
            h.close_connection = True
        try:
            h.wfile.write(body)
            h.wfile.flush()
        except OSError:
            pass

    def handle(self, h, body):
        with self.lock:
            self.requests.append((h.path, dict(h.headers), body))
        if self.auth is not None and h.headers.get("Authorization") != self.auth:
            return self.send(h, Reply(401, {"error": "authentication required"},
                                      {"WWW-Authenticate": 'Basic realm="postmaster"'}))
        path = h.path
        if not path.startswith(self.prefix + "/"):
            return self.send(h, Reply(404, {"error": "not found"}))
        path = path[len(self.prefix):]
        if path.startswith("/lease?") or path == "/lease":
            with self.lock:
                r = self.replies.pop(0) if self.replies else Reply(200, EMPTY_LEASE)
            self.lease_event.set()
            return self.send(h, r)
        m = re.fullmatch(r"/leases/([0-9a-f]{24})/([0-9a-f]{32})/(ack|fail)", path)
        if not m:
            return self.send(h, Reply(404, {"error": "not found"}))
        token, mid, what = m.groups()
        if what == "ack":
            with self.lock:
                self.acks.append(mid)
            if self.ack_reply is not None:
                return self.send(h, self.ack_reply)
            if self.ack_status != 200:
                return self.send(h, Reply(self.ack_status, {"error": "not leased"}))
            return self.send(h, Reply(200, {"id": mid, "status": "sent"}))
        doc = json.loads(body)
        with self.lock:
            self.fails.append((mid, token, doc))
        return self.send(h, Reply(200, {"id": mid, "status": "bounced" if
                                        doc["permanent"] else "deferred",
                                        "attempts": 1}))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def sendmail_records(d):
    """[(argv list of str, stdin bytes)] in invocation order."""
    out = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".argv") or name.startswith("."):
            continue
        stem = name[:-5]
        with open(os.path.join(d, name), "rb") as f:
            argv = f.read().split(b"\0")[:-1]
        with open(os.path.join(d, stem + ".stdin"), "rb") as f:
            data = f.read()
        out.append(([a.decode("utf-8", "replace") for a in argv], data))
    return out


def log_lines(text):
    """postman's log lines with 'postman[PID]: ' cut and delay=X as
    delay=D, so that tests can compare them exactly."""
    out = []
    for line in text.splitlines():
        m = re.match(r"postman\[\d+\]: (.*)$", line)
        if m:
            out.append(LOG_DELAY.sub("delay=D", m.group(1)))
    return out


_valgrind_runs = itertools.count()


def postman_argv(argv, logdir, env):
    """(argv, path of valgrind's report): argv under valgrind, its report
    in logdir, when VALGRIND=1; else argv as it is and None."""
    if not VALGRIND:
        return argv, None
    vglog = os.path.join(logdir, "postman.%d.valgrind" % next(_valgrind_runs))
    env.setdefault("G_SLICE", "always-malloc")
    return valgrind_argv(argv, vglog), vglog


def _assert_no_report(text, vglog):
    bad = [l for l in text.splitlines() if any(m in l for m in SANITIZER_MARKS)]
    if vglog is not None:
        bad += valgrind_report(vglog)
    assert not bad, "sanitizer reports:\n" + "\n".join(bad)


def assert_no_sanitizer_report(text, proc=None):
    """No sanitizer report in text, nor (proc: a process start_postman
    started, now ended) a valgrind report with errors or definite leaks.
    A process killed with SIGKILL leaves no valgrind summary to check."""
    _assert_no_report(text, getattr(proc, "vglog", None))


def run_postman(args, tree, sendmail_dir=None, env=None, timeout=60, user=None,
                logdir=None, wrapper=()):
    """Runs postman to completion (as user, a uid, when given; behind the
    wrapper's argv, such as unshare's, when given); returns (exit status,
    log text)."""
    e = sanitizer_env()
    e.pop("POSTMAN_PASSWORD", None)
    if sendmail_dir is not None:
        e["FAKE_SENDMAIL_DIR"] = sendmail_dir
    if env:
        e.update(env)
    argv = [binary("postman")] + list(args)
    if not any(a.startswith("--lock") for a in args):
        argv[1:1] = ["--lock", os.path.join(tree, "postman.lock")]
    argv, vglog = postman_argv(argv, logdir or tree, e)
    argv = list(wrapper) + argv
    extra = {}
    if user is not None:
        argv = reachable(argv, user)
        extra = dict(user=user, group=user, extra_groups=[])
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                       env=e, timeout=timeout * SLOWDOWN, **extra)
    text = p.stderr.decode("utf-8", "replace")
    _assert_no_report(text, vglog)
    return p.returncode, text


def start_postman(args, tree, sm, name="postman"):
    """Starts postman in the background, its log in TREE/NAME.log (see
    read_log); returns (Popen, open log file).  Once it has ended, pass
    the Popen to assert_no_sanitizer_report with the log's text."""
    e = sanitizer_env()
    e["FAKE_SENDMAIL_DIR"] = sm
    argv = [binary("postman"), "--lock", os.path.join(tree, "postman.lock")] + args
    argv, vglog = postman_argv(argv, tree, e)
    logf = open(os.path.join(tree, name + ".log"), "wb")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                         env=e)
    p.vglog = vglog
    return p, logf


def read_log(tree, name="postman"):
    """The text PostMan wrote to TREE/NAME.log (see start_postman)."""
    with open(os.path.join(tree, name + ".log"), "rb") as f:
        return f.read().decode("utf-8", "replace")


def offline_wrapper():
    """The argv prefix that runs a program in a network namespace of its
    own (unshare --net: only a loopback, and that one down), so that a
    connect to any address fails at once and no packet leaves the machine;
    None when this machine does not allow it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    try:
        ok = subprocess.run([unshare, "--net", "--", "true"],
                            capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return [unshare, "--net", "--"] if ok else None
