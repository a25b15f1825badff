"""Helpers for the robustness tests (test_robust_*.py): an auditing SMTP
load client that knows exactly which messages were acknowledged, checks
of the spool after crashes, and the figures the tests record for
doc/robustness.md."""

import json
import os
import random
import socket
import subprocess
import threading
import time

from conftest import BUILD, binary, spool_messages

SPOOL_AREAS = (".tmp", ".leased", ".deferred", ".dead", ".quarantine",
               ".staged", ".journal")


def record_figures(name, **figures):
    """Adds figures (kills, faults, messages...) for one test to
    $BUILD/robust-figures/NAME.json, read when doc/robustness.md is
    written."""
    d = os.path.join(BUILD, "robust-figures")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump(figures, f, indent=1, sort_keys=True)


class Ledger:
    """What the load clients know about each message, by token.

    dot_sent: the final dot was (being) sent;
    acked:    the 250 arrived (token -> queue id);
    refused:  another reply arrived (token -> reply);
    A token in dot_sent and in neither of the others is in doubt: its
    connection dropped after the final dot."""

    def __init__(self):
        self.lock = threading.Lock()
        self.dot_sent = set()
        self.acked = {}
        self.refused = {}
        self.connections = 0

    def in_doubt(self):
        with self.lock:
            return self.dot_sent - set(self.acked) - set(self.refused)


class Proto(Exception):
    pass


class Conn:
    def __init__(self, port, timeout):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def expect(self, prefix):
        r = self.reply()
        if not r.startswith(prefix):
            raise Proto(r)
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def make_body(token, rnd):
    """A message carrying token; now and then larger than the 256 KiB a
    message is held in memory, so the spill file is crashed into too."""
    size = rnd.choice([200, 2000, 20000, 300 * 1024]) if rnd.random() < 0.1 \
        else rnd.choice([100, 1000, 5000])
    line = b"x" * 76 + b"\r\n"
    filler = line * (size // len(line))
    return (b"From: load@robust.example\r\nSubject: " + token.encode() +
            b"\r\nReceived: from hidden.example\r\n\r\n" + token.encode() +
            b"\r\n" + filler)


def load_worker(port, ledger, stop, wid, seed, timeout=10.0):
    """Sends messages until stop is set, each with a unique token, 1..5
    per connection; the final dot is sometimes pipelined with the next
    MAIL.  Every connection error is survived by reconnecting."""
    rnd = random.Random(seed)
    n = 0
    while not stop.is_set():
        try:
            c = Conn(port, timeout)
        except OSError:
            time.sleep(0.01)
            continue
        with ledger.lock:
            ledger.connections += 1
        try:
            c.expect("220 ")
            c.sock.sendall(b"EHLO load.example\r\n")
            c.expect("250")
            pipelined_mail = False
            for k in range(rnd.randint(1, 5)):
                if stop.is_set():
                    break
                token = "tok-%d-%d-%d" % (seed, wid, n)
                n += 1
                if not pipelined_mail:
                    c.sock.sendall(b"MAIL FROM:<load@robust.example>\r\n")
                c.expect("250")
                c.sock.sendall(b"RCPT TO:<sink@robust.example>\r\nDATA\r\n")
                c.expect("250")
                c.expect("354")
                c.sock.sendall(make_body(token, rnd))
                pipelined_mail = rnd.random() < 0.3
                with ledger.lock:
                    ledger.dot_sent.add(token)
                c.sock.sendall(b".\r\n" + (b"MAIL FROM:<load@robust.example>\r\n"
                                           if pipelined_mail else b""))
                r = c.reply()
                with ledger.lock:
                    if r.startswith("250 2.0.0 Ok: queued as "):
                        ledger.acked[token] = r.rsplit(" ", 1)[1]
                    else:
                        ledger.refused[token] = r
                if not r.startswith("250"):
                    break
            else:
                if pipelined_mail:
                    c.expect("250")
                c.sock.sendall(b"QUIT\r\n")
        except (OSError, EOFError, Proto):
            pass
        finally:
            c.close()


class Load:
    """Several load_worker threads."""

    def __init__(self, port, workers=4, seed=1):
        self.ledger = Ledger()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=load_worker, daemon=True,
                                         args=(port, self.ledger, self.stop_event, i, seed))
                        for i in range(workers)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)
            assert not t.is_alive(), "a load client hangs"


def spool_check(paths):
    """Runs the project's decoder on the files: {path: None or reason}."""
    out = {}
    for i in range(0, len(paths), 200):
        r = subprocess.run([binary("helpers/spool_check")] + paths[i:i + 200],
                           capture_output=True, timeout=120)
        for line in r.stdout.decode("utf-8", "replace").splitlines():
            if line.startswith("ok "):
                out[line[3:].rsplit(" ", 1)[0]] = None
            elif line.startswith("bad "):
                p, why = line[4:].split(": ", 1)
                out[p] = why
    missing = [p for p in paths if p not in out]
    assert not missing, "spool_check said nothing about %r" % missing[:3]
    return out


def message_tokens(obj):
    import base64
    if "data_base64" in obj:
        data = base64.b64decode(obj["data_base64"])
    else:
        data = obj["data"].encode("utf-8")
    return sorted(set(w.decode() for w in data.split() if w.startswith(b"tok-")))


def stray_names(d):
    """Names in a spool directory that are neither a message nor one of
    the spool's own folders."""
    queued = set(spool_messages(d))
    return sorted(n for n in os.listdir(d)
                  if n not in SPOOL_AREAS and n not in queued)


def audit_spool(spool, ledger, areas=("",)):
    """Checks the spool against what the clients were told; returns
    {token: [paths]} for the tokens found.  Fails the test when a file in
    the areas does not decode, when an acknowledged message is missing,
    when a message is present that was refused or never finished, or
    when a token is stored twice."""
    found = {}
    paths = []
    for a in areas:
        d = os.path.join(spool, a)
        for n in os.listdir(d):
            p = os.path.join(d, n)
            if os.path.isfile(p):
                paths.append(p)
    bad = {p: why for p, why in spool_check(paths).items() if why} if paths else {}
    assert not bad, "files that are not valid messages: %r" % bad
    for p in paths:
        with open(p, "rb") as f:
            obj = json.loads(f.read())
        for t in message_tokens(obj):
            found.setdefault(t, []).append(p)
    lost = sorted(set(ledger.acked) - set(found))
    assert not lost, "acknowledged and lost: %r" % lost[:10]
    misnamed = [(t, ledger.acked[t], found[t]) for t in ledger.acked
                 if not os.path.basename(found[t][0]).startswith(ledger.acked[t])]
    assert not misnamed, "stored under another id than the 250 said: %r" % misnamed[:5]
    twice = {t: ps for t, ps in found.items() if len(ps) > 1}
    assert not twice, "stored twice: %r" % list(twice.items())[:5]
    in_doubt = ledger.in_doubt()
    unexplained = sorted(t for t in found
                         if t not in ledger.acked and t not in in_doubt)
    assert not unexplained, (
        "in the spool although the client was refused or never sent the final dot: %r"
        % [(t, ledger.refused.get(t)) for t in unexplained[:10]])
    return found
