"""make powerloss: pulls the plug on a VM running PostOffice while clients
on the host send it mail, and checks that every message PostOffice
acknowledged with a 250 is still in the spool afterwards, whole and valid
under the id the 250 named.

  powerloss.py [--cuts N] [--nosync] [--delivery] [--seed S]   (BUILD from
  the environment)

Each cut: boot the guest (its ext4 journal replays whatever the previous
cut left), wait for PostOffice's ready line, run the clients for a random
0.5 to 4 s, SIGKILL qemu.  After the last cut one more boot starts and
stops PostOffice (which queues what its journal still holds, as at any
start) and checks every queued file with the project's decoder
(spool_check).  The last line is
"powerloss: N cuts, M acknowledged, L lost, I invalid"; the exit status is
1 when L or I is not 0.  --nosync runs PostOffice with its fsyncs turned
into no-ops (the fault shim), to show that the test can fail.

--delivery also runs PostMaster in the guest, and two lease clients on the
host that acknowledge 70 % of what they lease as delivered: then a message
may leave the spool only after its acknowledgement, and one that is back
after it (a delete the cut undid) is counted, not failed (delivery is at
least once)."""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

SESSIONS = 4
QUEUED = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9a-f]{32})$")


class Ledger:
    """What the clients were told: acked, id -> (token, data length) for
    each 250; delivered, the ids whose delivery PostMaster acknowledged
    (200 to the ack); leases, how many messages were leased."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.delivered = set()
        self.ack_sent = set()
        self.sent = 0
        self.leased = 0
        self.runs = 0

    def ack(self, qid, token, length):
        with self.lock:
            self.acked[qid] = (token, length)


def message(token, rnd):
    """A message of 100 B to 300 KiB carrying token; mostly small, now and
    then past the 256 KiB PostOffice holds in memory."""
    r = rnd.random()
    size = (rnd.randint(100, 2000) if r < 0.6 else
            rnd.randint(2000, 64 * 1024) if r < 0.9 else
            rnd.randint(64 * 1024, 300 * 1024))
    head = ("From: load@powerloss.example\r\nTo: sink@powerloss.example\r\n"
            "Subject: %s\r\nMessage-ID: <%s@powerloss.example>\r\n"
            "Date: Thu, 03 Dec 2026 08:00:00 +0000\r\n\r\n%s\r\n" %
            (token, token, token)).encode()
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
    body = line * max(0, (size - len(head)) // len(line))
    return head + body


class Session:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def reply(self):
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            if line[3:4] != b"-":
                return line.decode("ascii", "replace")


def client(port, ledger, stop, wid, seed):
    """Sends until stop: MAIL, RCPT and DATA pipelined, then the data;
    records every 250 ... queued as ID.  Reconnects after any error (the
    plug is pulled under it)."""
    rnd = random.Random(seed)
    n = 0
    while not stop.is_set():
        try:
            s = Session(port)
        except OSError:
            time.sleep(0.05)
            continue
        try:
            if not s.reply().startswith("220"):
                raise EOFError
            s.sock.sendall(b"EHLO client.powerloss.example\r\n")
            s.reply()
            while not stop.is_set():
                token = "pl-%d-%d-%d" % (seed, wid, n)
                n += 1
                s.sock.sendall(b"MAIL FROM:<load@powerloss.example>\r\n"
                               b"RCPT TO:<sink@powerloss.example>\r\nDATA\r\n")
                r = [s.reply(), s.reply(), s.reply()]
                if not r[2].startswith("354"):
                    raise EOFError
                data = message(token, rnd)
                s.sock.sendall(data + b".\r\n")
                with ledger.lock:
                    ledger.sent += 1
                m = QUEUED.match(s.reply())
                if m:
                    ledger.ack(m.group(1), token, len(data))
        except (OSError, EOFError):
            pass
        finally:
            s.sock.close()


def deliverer(port, ledger, stop, seed):
    """A PostMan stand-in: leases batches and acknowledges 70 % of what it
    gets as delivered; the rest is left to its lease's expiry."""
    rnd = random.Random(seed)
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("POST", "/lease?max=10&wait=1")
            r = c.getresponse()
            batch = json.loads(r.read()) if r.status == 200 else {}
            for m in batch.get("messages") or []:
                with ledger.lock:
                    ledger.leased += 1
                if rnd.random() >= 0.7:
                    continue
                # Sent is enough for the message to go: the cut may fall
                # between PostMaster's delete and its 200.
                with ledger.lock:
                    ledger.ack_sent.add(m["id"])
                c.request("POST", "/leases/%s/%s/ack" % (batch["lease"], m["id"]))
                r = c.getresponse()
                r.read()
                if r.status == 200:
                    with ledger.lock:
                        ledger.delivered.add(m["id"])
            c.close()
        except (OSError, http.client.HTTPException, ValueError):
            time.sleep(0.1)


def postman_runs(port, ledger, stop, wid, build, maildir):
    """The real PostMan, run again and again as cron would (but without
    the two minutes between runs) until stop: each run leases, delivers
    into maildir and acknowledges until the queue is empty.  When the
    plug is pulled under it, its requests fail and the next run starts."""
    argv = [os.path.join(build, "postman"), "--maildir", maildir,
            "--lock", os.path.join(os.path.dirname(maildir), "lock.%d" % wid),
            "--connect-timeout", "2", "--timeout", "10", "--batch", "10",
            "--log", os.path.join(os.path.dirname(maildir), "postman.%d.log" % wid),
            "http://127.0.0.1:%d/" % port]
    while not stop.is_set():
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while p.poll() is None and not stop.is_set():
            time.sleep(0.05)
        if p.poll() is None:
            p.terminate()  # lets the message in hand finish, then exits
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        with ledger.lock:
            ledger.runs += 1
        time.sleep(0.1)


def maildir_tokens(maildir):
    """token -> how many times it was delivered into maildir."""
    seen = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for name in os.listdir(d) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), "rb") as f:
                head = f.read(4096)
            m = re.search(rb"^Subject: (pl-[0-9-]+)\r?$", head, re.M)
            if m:
                t = m.group(1).decode()
                seen[t] = seen.get(t, 0) + 1
    return seen


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(kernel, initrd, disk, workdir, accel):
    """Boots once more and reads every queued file's verdict:
    {id: ("ok", data length) or ("bad", reason)}."""
    guest = vm.VM(kernel, initrd, disk, os.path.join(workdir, "check.log"),
                  accel, "check")
    if guest.wait_for(r"^vm: off", 600) is None:
        guest.pull_plug()
        raise SystemExit("powerloss: the check boot did not finish; see %s"
                         % guest.log)
    guest.wait_off(30)
    out = {}
    for line in guest.console().splitlines():
        if line.startswith("vm: journal recovered: "):
            vm.say("powerloss: at the check boot, PostOffice's " + line[4:])
        m = re.match(r"vm: (?:\.\w+ )?ok (?:\S*/)?([0-9a-f]{32}) (\d+)$", line)
        if m:
            out[m.group(1)] = ("ok", int(m.group(2)))
            continue
        m = re.match(r"vm: (?:\.\w+ )?bad (?:\S*/)?([0-9a-f]{32}): (.*)", line)
        if m:
            out[m.group(1)] = ("bad", m.group(2))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cuts", type=int, default=10)
    ap.add_argument("--nosync", action="store_true")
    ap.add_argument("--delivery", action="store_true",
                    help="PostMaster too, with lease clients acknowledging")
    ap.add_argument("--postman", action="store_true",
                    help="PostMaster too, drained by the real PostMan")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    if a.postman:
        a.delivery = True
    build = os.environ.get("BUILD", "build")
    rnd = random.Random(a.seed)
    workdir = os.path.join(vm.CACHE, "powerloss")
    os.makedirs(workdir, exist_ok=True)
    kernel, initrd = vm.initramfs(build)
    accel, why = vm.choose_accel(kernel, initrd, workdir)
    vm.say("powerloss: qemu accel=%s (%s)" % (accel, why))
    vm.say("powerloss: seed %d, %d cuts%s%s" % (
        a.seed, a.cuts, ", PostOffice's fsyncs disabled" if a.nosync else "",
        ", PostMaster drained by 2 PostMan processes" if a.postman else
        ", PostMaster leasing to 2 clients" if a.delivery else ""))
    disk = os.path.join(workdir, "spool.img")
    vm.new_disk(disk)
    maildir = os.path.join(workdir, "postman", "Maildir")
    shutil.rmtree(os.path.dirname(maildir), ignore_errors=True)
    os.makedirs(maildir)
    ledger = Ledger()
    boots, lives, t_start = [], [], time.monotonic()
    for cut in range(1, a.cuts + 1):
        port, http_port = free_port(), free_port()
        ports = {2525: port}
        if a.delivery:
            ports[8000] = http_port
        guest = vm.VM(kernel, initrd, disk, os.path.join(workdir, "boot.log"),
                      accel, "serve", ports=ports, nosync=a.nosync,
                      delivery=a.delivery)
        ready = guest.wait_for(r"^vm: ready", 120)
        if ready is None:
            guest.pull_plug()
            raise SystemExit("powerloss: cut %d: the guest did not get ready; "
                             "see %s" % (cut, guest.log))
        boots.append(ready)
        stop = threading.Event()
        threads = [threading.Thread(target=client, daemon=True,
                                    args=(port, ledger, stop, w,
                                          rnd.randint(1, 1 << 30)))
                   for w in range(SESSIONS)]
        if a.postman:
            threads += [threading.Thread(target=postman_runs, daemon=True,
                                         args=(http_port, ledger, stop, w,
                                               build, maildir))
                        for w in range(2)]
        elif a.delivery:
            threads += [threading.Thread(target=deliverer, daemon=True,
                                         args=(http_port, ledger, stop,
                                               rnd.randint(1, 1 << 30)))
                        for _ in range(2)]
        before = len(ledger.acked)
        for t in threads:
            t.start()
        life = rnd.uniform(0.5, 4.0)
        time.sleep(life)
        guest.pull_plug()
        lives.append(life)
        stop.set()
        for t in threads:
            t.join(30)
        vm.say("powerloss: cut %d after %.1f s of load (boot %.1f s): "
               "%d acknowledged" % (cut, life, ready,
                                    len(ledger.acked) - before))
    verdict = check(kernel, initrd, disk, workdir, accel)
    mailed = maildir_tokens(maildir) if a.postman else {}
    lost = invalid = 0
    for qid, (token, length) in sorted(ledger.acked.items()):
        v = verdict.get(qid)
        if v is None and (qid in ledger.ack_sent or token in mailed):
            continue
        if v is None:
            lost += 1
            vm.say("powerloss: lost %s (%s, %d bytes)" % (qid, token, length))
        elif v[0] == "bad" or v[1] != length:
            invalid += 1
            vm.say("powerloss: invalid %s (%s): %s" % (
                qid, token, v[1] if v[0] == "bad" else
                "%d bytes of data, %d sent" % (v[1], length)))
    bad_other = [q for q, v in verdict.items()
                 if v[0] == "bad" and q not in ledger.acked]
    for q in bad_other:
        invalid += 1
        vm.say("powerloss: invalid %s (not acknowledged): %s" % (q, verdict[q][1]))
    if a.postman:
        token_of = {q: t for q, (t, _) in ledger.acked.items()}
        back = [q for q in verdict if token_of.get(q) in mailed]
        twice = [t for t, n in mailed.items() if n > 1]
        vm.say("powerloss: %d PostMan runs delivered %d messages; %d of "
               "them twice, %d still (again) in the spool" % (
                   ledger.runs, len(mailed), len(twice), len(back)))
    elif a.delivery:
        back = [q for q in ledger.delivered if q in verdict]
        vm.say("powerloss: %d leased, %d acknowledged as delivered, %d of "
               "them back in the spool after the acknowledgement" % (
                   ledger.leased, len(ledger.delivered), len(back)))
    total = time.monotonic() - t_start
    vm.say("powerloss: %d sent, %d files in the queue, boot %.1f s on "
           "average, %.1f s per cut, %.0f s in all" % (
               ledger.sent, len(verdict), sum(boots) / len(boots),
               total / a.cuts, total))
    vm.say("powerloss: %d cuts, %d acknowledged, %d lost, %d invalid" % (
        a.cuts, len(ledger.acked), lost, invalid))
    return 1 if lost or invalid else 0


if __name__ == "__main__":
    sys.exit(main())
