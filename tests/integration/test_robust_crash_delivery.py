"""Crash consistency of delivery: PostMaster SIGKILLed while it hands out
leases, and PostMan SIGKILLed while it delivers, each restarted on the
same spool many times.  Delivery is at least once: whatever was not
acknowledged comes back when its lease expires, an acknowledged message
never comes back, and in the end every message has been delivered."""

import http.client
import json
import os
import random
import signal
import threading
import time

from conftest import VALGRIND, binary, free_port, spool_messages, wait_for_port
from postmaster_helpers import message_object, new_id, write_message
from postman_fakes import sendmail_records
from robust_util import record_figures, stray_names

KILLS = int(os.environ.get("ROBUST_KILLS_DELIVERY", "3" if VALGRIND else "50"))
LEASE_TIME = 2


def seed_spool(spool, n):
    """n messages, each carrying its own token in the data."""
    ids = []
    for i in range(n):
        mid = new_id()
        obj = message_object(mid, size=50, subject="tok-%s" % mid)
        write_message(spool, mid=mid, raw=json.dumps(obj).encode())
        ids.append(mid)
    return ids


def where(spool, ids):
    """The spool files whose names start with one of ids."""
    out = []
    for root, _, files in os.walk(spool):
        out += [os.path.join(root, f) for f in files if f[:32] in ids]
    return out


def start_postmaster(daemons, spool, port):
    d = daemons([binary("postmaster"), "-s", spool, "-l", "127.0.0.1:%d" % port,
                 "--lease-time", str(LEASE_TIME), "--batch", "20"], name="postmaster")
    wait_for_port(port, d.proc)
    return d


def post(port, path, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=b"", headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class LeaseClient:
    """Leases batches and acknowledges most messages (the rest are left
    to expire), recording exactly which acknowledgements were answered
    200 and which messages were served after that."""

    def __init__(self, port, seed):
        self.port = port
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.acked = set()          # the ack was answered 200
        self.ack_sent = set()       # an ack was sent, answered or not
        self.served_after_ack = []
        self.served = 0
        self.content_errors = []
        self.stop = threading.Event()

    def one_batch(self, ack_all=False):
        status, body = post(self.port, "/lease?max=20")
        if status != 200:
            return 0
        obj = json.loads(body)
        for m in obj["messages"]:
            with self.lock:
                self.served += 1
                if m["id"] in self.acked:
                    self.served_after_ack.append(m["id"])
            if m["data"] != message_object(m["id"], 50, "tok-%s" % m["id"])["data"]:
                self.content_errors.append(m["id"])
            if not ack_all and self.rnd.random() < 0.3:
                continue            # left to expire
            with self.lock:
                self.ack_sent.add(m["id"])
            st, _ = post(self.port, "/leases/%s/%s/ack" % (obj["lease"], m["id"]))
            if st == 200:
                with self.lock:
                    self.acked.add(m["id"])
        return len(obj["messages"])

    def run(self):
        while not self.stop.is_set():
            try:
                if self.one_batch() == 0:
                    time.sleep(0.05)
            except (OSError, http.client.HTTPException, ValueError):
                time.sleep(0.01)


def test_postmaster_sigkill_mid_lease_loses_nothing(daemons, spool):
    rnd = random.Random(int(os.environ.get("ROBUST_SEED", "6")))
    ids = seed_spool(spool, 600)
    port = free_port()
    d = start_postmaster(daemons, spool, port)
    clients = [LeaseClient(port, rnd.randint(1, 1 << 30)) for _ in range(3)]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    for t in threads:
        t.start()
    kills = 0
    t0 = time.monotonic()
    try:
        while kills < KILLS:
            time.sleep(rnd.uniform(0.05, 0.4))
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.stop()
            kills += 1
            assert stray_names(spool) == []
            d = start_postmaster(daemons, spool, port)
    finally:
        for c in clients:
            c.stop.set()
        for t in threads:
            t.join(30)
    # Drain: what was left leased comes back at expiry; take it all.
    drain = LeaseClient(port, 0)
    drain.acked = set().union(*(c.acked for c in clients))
    drain.ack_sent = set().union(*(c.ack_sent for c in clients))
    deadline = time.monotonic() + 10 * LEASE_TIME + 30
    while time.monotonic() < deadline:
        if drain.one_batch(ack_all=True) == 0:
            if not spool_messages(spool) and not os.listdir(os.path.join(spool, ".leased")):
                break
            time.sleep(0.2)
    assert d.stop() == 0
    acked = drain.acked
    # A message is gone from the spool only when its client asked for
    # that: an ack whose answer was lost in the kill counts (the client
    # had delivered it; PostMan would have too).
    vanished = sorted(set(ids) - drain.ack_sent)
    assert vanished == [], "gone without an ack: %d, e.g. %r, found at %r" % (
        len(vanished), vanished[:5], where(spool, vanished[:5]))
    unanswered = drain.ack_sent - acked
    served_after_ack = drain.served_after_ack + sum((c.served_after_ack for c in clients), [])
    content_errors = drain.content_errors + sum((c.content_errors for c in clients), [])
    lost = sorted(set(ids) - acked - unanswered)
    assert lost == [], "never delivered: %d, e.g. %r, found at %r" % (
        len(lost), lost[:5], where(spool, lost[:5]))
    assert served_after_ack == [], "acknowledged, then served again: %r" % served_after_ack[:5]
    assert content_errors == []
    assert spool_messages(spool) == []
    assert stray_names(spool) == []
    for a in (".leased", ".deferred", ".dead", ".quarantine", ".tmp"):
        assert os.listdir(os.path.join(spool, a)) == [], a
    served = drain.served + sum(c.served for c in clients)
    record_figures("crash_postmaster", kills=kills, messages=len(ids), served=served,
                   redelivered=served - len(ids), lost=len(lost),
                   ack_answer_lost=len(unanswered),
                   seconds=round(time.monotonic() - t0, 1))


def test_postman_sigkill_mid_delivery_delivers_every_message(daemons, tree, spool):
    rnd = random.Random(int(os.environ.get("ROBUST_SEED", "6")) + 1)
    # enough for every kill to find a run delivering (a run delivers
    # about 8 to 10 messages before it is killed)
    ids = seed_spool(spool, max(400, 20 * KILLS))
    port = free_port()
    pm = start_postmaster(daemons, spool, port)
    sm = os.path.join(tree, "sendmail")
    os.mkdir(sm)
    env = {"FAKE_SENDMAIL_DIR": sm, "FAKE_SENDMAIL_MODE": "slow30"}

    def postman():
        return daemons([binary("postman"), "--lock", os.path.join(tree, "postman.lock"),
                        "--sendmail", binary("helpers/fake_sendmail"),
                        "--batch", "10", "http://127.0.0.1:%d" % port],
                       name="postman", env=env)

    kills = 0
    t0 = time.monotonic()
    p = postman()
    while kills < KILLS:
        time.sleep(rnd.uniform(0.1, 0.5))
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGKILL)
            p.proc.wait(10)
            kills += 1
        p.stop()
        if not spool_messages(spool) and not os.listdir(os.path.join(spool, ".leased")):
            break
        p = postman()
    p.stop()
    # Runs to completion: what the killed runs held comes back at expiry.
    deadline = time.monotonic() + 10 * LEASE_TIME + 60
    while time.monotonic() < deadline:
        p = postman()
        assert p.proc.wait(60) == 0, p.stderr()
        p.stop()
        if not spool_messages(spool) and not os.listdir(os.path.join(spool, ".leased")):
            break
        time.sleep(0.5)
    assert pm.stop() == 0
    delivered = {}
    for argv, data in sendmail_records(sm):
        for w in data.split():
            if w.startswith(b"tok-"):
                delivered[w[4:].decode()] = delivered.get(w[4:].decode(), 0) + 1
    lost = sorted(set(ids) - set(delivered))
    assert lost == [], "never delivered: %d, e.g. %r" % (len(lost), lost[:5])
    assert spool_messages(spool) == []
    assert os.listdir(os.path.join(spool, ".leased")) == []
    assert os.listdir(os.path.join(spool, ".dead")) == []
    assert os.listdir(os.path.join(spool, ".deferred")) == []
    assert kills == KILLS, "delivery ended before the kills did: %d" % kills
    record_figures("crash_postman", kills=kills, messages=len(ids),
                   deliveries=sum(delivered.values()),
                   redelivered=sum(delivered.values()) - len(ids), lost=len(lost),
                   seconds=round(time.monotonic() - t0, 1))
