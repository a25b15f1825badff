#!/usr/bin/python3
"""The guest half of make vmcheck: runs under the guest's systemd (the
unit vmcheck.service) once the boot is done, sets the relay up the way
doc/deployment.md tells an administrator to, and checks what the shipped
units and the documentation promise.

Every line for the host starts with "vm: ": "ok NAME" or "FAIL NAME: why"
per check, "figure ..." for a measured value, "score UNIT N LABEL" for
systemd-analyze security, "done" at the end; then the guest powers off.
A check that fails does not stop the others (a later one may fail for the
same cause)."""

import glob
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import time

SPOOL = "/var/lib/postoffice/messages"
SOCK = "/run/postoffice/postmaster.socket"
HTPASSWD = "/etc/postoffice/postmaster.htpasswd"
LIVE = "/etc/letsencrypt/live/relay.example.org"
CERT = LIVE + "/fullchain.pem"
SECRET = "first-secret"
QUEUED = re.compile(r"2\.0\.0 Ok: queued as ([0-9a-f]{32})$")
HERE = os.path.dirname(os.path.abspath(__file__))


def say(line):
    print("vm: " + line, flush=True)


class Fail(Exception):
    pass


def sh(*argv, check=True, timeout=120, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       **kw)
    if check and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                        (r.stderr or r.stdout).strip()[-300:]))
    return r


def prop(unit, name):
    return sh("systemctl", "show", "-P", name, unit).stdout.strip()


def expect(what, got, want):
    if got != want:
        raise Fail("%s: %r, not %r" % (what, got, want))


def wait_until(what, fn, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Fail("%s: not within %d s" % (what, timeout))
        time.sleep(step)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def message(subject, body="hello from the guest", size=0):
    text = ("From: alice@example.org\r\nTo: bob@example.net\r\n"
            "Subject: %s\r\n\r\n%s\r\n" % (subject, body)).encode()
    if size > len(text):
        text += b"x" * 76 + b"\r\n"
        text += (b"y" * 76 + b"\r\n") * ((size - len(text)) // 78)
    return text


def send(subject, port=2525, **kw):
    """One mail over SMTP; the id of its 250."""
    s = smtplib.SMTP("127.0.0.1", port, timeout=60)
    try:
        s.ehlo("app.example.org")
        s.mail("alice@example.org")
        s.rcpt("bob@example.net")
        code, reply = s.data(message(subject, **kw))
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
    m = QUEUED.search(reply.decode())
    if code != 250 or not m:
        raise Fail("DATA got %d %s" % (code, reply.decode()))
    return m.group(1)


def curl(*args, check=True):
    return sh("curl", "-sS", *args, check=check)


def lease_and_ack(base, *extra):
    """Leases through base (a URL, and curl's options), acknowledges every
    message; the ids leased."""
    r = curl(*extra, "-u", "postman:" + SECRET, "-X", "POST",
             base + "/lease?max=50")
    lease = json.loads(r.stdout)
    ids = [m["id"] for m in lease["messages"]]
    for i in ids:
        a = curl(*extra, "-u", "postman:" + SECRET, "-X", "POST",
                 "%s/leases/%s/%s/ack" % (base, lease["lease"], i))
        expect("ack", json.loads(a.stdout).get("status"), "sent")
    return ids


def maildir_with(maildir, token):
    for f in glob.glob(os.path.join(maildir, "new", "*")):
        try:
            with open(f, "rb") as fp:
                if re.search(rb"^Subject: %s\r?$" % token.encode(), fp.read(),
                             re.M):
                    return f
        except FileNotFoundError:
            pass
    return None


def subjects(maildir):
    out = []
    for f in sorted(glob.glob(os.path.join(maildir, "new", "*"))):
        with open(f, "rb") as fp:
            m = re.search(rb"^Subject: (\S+)", fp.read(), re.M)
        out.append(m.group(1).decode() if m else "?")
    return out


def journal(unit, grep=None):
    """The unit's journal entries of this boot, as dicts."""
    r = sh("journalctl", "-b", "-u", unit, "-o", "json", "--no-pager")
    out = []
    for line in r.stdout.splitlines():
        e = json.loads(line)
        msg = e.get("MESSAGE")
        if isinstance(msg, list):  # bytes that are not UTF-8
            msg = bytes(msg).decode("utf-8", "replace")
        e["MESSAGE"] = msg or ""
        if grep is None or re.search(grep, e["MESSAGE"]):
            out.append(e)
    return out


def dropin(unit, text):
    """A drop-in as `systemctl edit UNIT` writes it."""
    write("/etc/systemd/system/%s.d/override.conf" % unit, text)


# ---------------------------------------------------------------------
# the checks, in order: each sets up what the next ones use

def boot():
    r = sh("systemctl", "is-system-running", "--wait", check=False,
           timeout=600)
    state = r.stdout.strip()
    failed = sh("systemctl", "--failed", "--no-legend", "--plain").stdout
    say("info guest: systemd %s, system %s, boot took %s" % (
        sh("systemctl", "--version").stdout.split()[1], state,
        sh("systemd-analyze", check=False).stdout.split("\n")[0]
        .replace("Startup finished in ", "")))
    if state != "running":
        raise Fail("system %s; failed units: %s" % (
            state, " ".join(line.split()[0] for line in failed.splitlines())))


def postoffice_enabled_ready():
    sh("systemctl", "enable", "--now", "postoffice.service")
    expect("is-enabled", sh("systemctl", "is-enabled",
                            "postoffice.service").stdout.strip(), "enabled")
    # Type=notify: start returns once READY=1 came, after "listening on".
    expect("Type", prop("postoffice.service", "Type"), "notify")
    expect("ActiveState", prop("postoffice.service", "ActiveState"), "active")
    expect("SubState", prop("postoffice.service", "SubState"), "running")
    if not journal("postoffice.service", r"^listening on 127\.0\.0\.1:2525, "
                   r"spool=/var/lib/postoffice/messages$"):
        raise Fail("no 'listening on 127.0.0.1:2525' line in the journal")


def postoffice_spools_mail():
    qid = send("first")
    path = os.path.join(SPOOL, qid)
    # Queued moments after its 250, at PostOffice's next checkpoint.
    end = time.monotonic() + 5
    while not os.path.isfile(path) and time.monotonic() < end:
        time.sleep(0.01)
    if not os.path.isfile(path):
        raise Fail("%s not in %s" % (qid, SPOOL))
    # The dynamic user's name, through libnss-systemd.
    expect("owner", sh("stat", "-c", "%U:%G %a", path).stdout.strip(),
           "postoffice:postoffice 640")
    expect("/var/lib/postoffice", os.readlink("/var/lib/postoffice"),
           "private/postoffice")


def postmaster_socket_activation():
    # doc/deployment.md 2.3, with an SHA-512-crypt entry.
    os.makedirs("/etc/postoffice", mode=0o755, exist_ok=True)
    h = sh("openssl", "passwd", "-6", SECRET).stdout.strip()
    write(HTPASSWD, "postman:%s\n" % h, 0o640)
    sh("chown", "root:www-data", HTPASSWD)
    sh("systemctl", "enable", "--now", "postmaster.socket")
    expect("postmaster.socket", prop("postmaster.socket", "ActiveState"),
           "active")
    expect("postmaster.service before a request",
           prop("postmaster.service", "ActiveState"), "inactive")
    expect("the socket", sh("stat", "-c", "%F %a %U %G", SOCK).stdout.strip(),
           "socket 660 root www-data")
    # nginx's user may connect (group www-data, mode 0660).
    r = sh("setpriv", "--reuid=www-data", "--regid=www-data",
           "--init-groups", "curl", "-sS", "--unix-socket", SOCK,
           "http://localhost/healthz")
    expect("/healthz as www-data", r.stdout.strip(), "ok")
    expect("postmaster.service after the first request",
           prop("postmaster.service", "ActiveState"), "active")
    ids = lease_and_ack("http://localhost", "--unix-socket", SOCK)
    if len(ids) != 1:
        raise Fail("leased %r, not the one mail spooled" % ids)
    left = [f for f in os.listdir(SPOOL) if not f.startswith(".")]
    if left:
        raise Fail("spool not empty after the ack: %s" % left)


def nginx_proxies_postmaster():
    os.makedirs(LIVE, mode=0o755, exist_ok=True)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
       "-subj", "/CN=relay.example.org", "-addext",
       "subjectAltName=DNS:relay.example.org",
       "-keyout", LIVE + "/privkey.pem", "-out", CERT)
    with open("/etc/hosts", "a") as f:
        f.write("127.0.0.1 relay.example.org\n")
    # contrib/nginx-postoffice.conf as installed, with only the PostMan
    # host's address made this one's.
    with open("/usr/share/doc/postoffice/contrib/nginx-postoffice.conf") as f:
        site = f.read()
    expect("allow lines", site.count("allow 203.0.113.7;"), 1)
    write("/etc/nginx/sites-available/postoffice",
          site.replace("allow 203.0.113.7;", "allow 127.0.0.1;"))
    os.symlink("../sites-available/postoffice",
               "/etc/nginx/sites-enabled/postoffice")
    sh("nginx", "-t")
    sh("systemctl", "reload", "nginx")
    qid = send("through-nginx")
    url = "https://relay.example.org/postoffice"
    code = curl("--cacert", CERT, "-o", "/dev/null", "-w", "%{http_code}",
                "-X", "POST", url + "/lease").stdout
    expect("no password", code, "401")
    ids = lease_and_ack(url, "--cacert", CERT)
    expect("leased through nginx", ids, [qid])


def postman_timer():
    # doc/deployment.md 3.1 and 3.3, with a Maildir and the timer every 5 s.
    sh("sh", "-c", "umask 077; echo %s >/etc/postoffice/postman.password"
       % SECRET)
    dropin("postman-once.service",
           "[Service]\nEnvironment=POSTMAN_URL=relay.example.org/postoffice\n"
           "Environment=\"POSTMAN_OPTIONS=--cacert=%s "
           "--maildir=/var/lib/postman/Maildir\"\n" % CERT)
    dropin("postman.timer", "[Timer]\nOnCalendar=\nOnCalendar=*:*:0/5\n"
           "AccuracySec=1s\n")
    sh("systemctl", "daemon-reload")
    send("by-the-timer")
    sh("systemctl", "enable", "--now", "postman.timer")
    try:
        wait_until("the mail in /var/lib/postman/Maildir/new",
                   lambda: maildir_with("/var/lib/postman/Maildir",
                                        "by-the-timer"), 90)
    finally:
        sh("systemctl", "disable", "--now", "postman.timer")
    wait_until("postman-once.service ends",
               lambda: prop("postman-once.service", "ActiveState")
               in ("inactive", "failed"), 60)
    expect("postman-once.service Result",
           prop("postman-once.service", "Result"), "success")
    if not journal("postman-once.service", r"status=sent"):
        raise Fail("no status=sent in postman-once.service's journal")


def postman_watch():
    dropin("postman.service",
           "[Service]\nEnvironment=POSTMAN_URL=relay.example.org/postoffice\n"
           "Environment=\"POSTMAN_OPTIONS=--cacert=%s "
           "--maildir=/var/lib/postman/Maildir\"\n" % CERT)
    sh("systemctl", "daemon-reload")
    sh("systemctl", "start", "postman.service")
    try:
        watch()
    finally:
        sh("systemctl", "stop", "postman.service")


def watch():
    expect("postman.service", prop("postman.service", "ActiveState"),
           "active")
    time.sleep(2)  # its first long poll is under way
    delays = []
    for i in range(5):
        token = "watch-%d" % i
        send(token)
        t0 = time.monotonic()
        wait_until("%s in the Maildir" % token,
                   lambda: maildir_with("/var/lib/postman/Maildir", token),
                   30, step=0.01)
        delays.append(time.monotonic() - t0)
    say("figure postman --watch, 250 to the Maildir: %s s (max %.2f)" % (
        " ".join("%.2f" % d for d in delays), max(delays)))
    # README: within a second.  It holds even on one software-emulated
    # CPU (a tenth of a second there), so it is the bound here too.
    if max(delays) > 1.0:
        raise Fail("a mail took %.2f s, more than a second" % max(delays))
    # A timer run beside the service (both enabled by mistake) finds the
    # lock taken and exits 0 at once, and leaves the service running: the
    # two share the state directory and its lock, and nothing else (a
    # shared RuntimeDirectory= was removed by whichever stopped first).
    for u in ("postman.service", "postman-once.service"):
        expect("%s RuntimeDirectory" % u, prop(u, "RuntimeDirectory"), "")
    sh("systemctl", "start", "postman-once.service")
    expect("postman-once.service beside the service",
           prop("postman-once.service", "Result"), "success")
    if not journal("postman-once.service", r"^another postman holds "
                   r"/var/lib/postman/postman\.lock; exiting$"):
        raise Fail("postman-once.service did not find the lock taken")
    expect("postman.service after it", prop("postman.service", "ActiveState"),
           "active")
    sh("systemctl", "restart", "postman.service")


def postoffice_reload():
    pid = prop("postoffice.service", "MainPID")
    sh("systemctl", "reload", "postoffice.service")
    expect("MainPID after reload", prop("postoffice.service", "MainPID"), pid)
    expect("ActiveState after reload",
           prop("postoffice.service", "ActiveState"), "active")
    send("after-reload")


def smtp_line(f):
    line = f.readline().decode().rstrip("\r\n")
    if not line:
        raise Fail("connection closed")
    return line


def postoffice_stop_in_flight():
    # doc/postoffice.md, "Signals": a session in DATA may finish within
    # --stop-timeout and gets its 250 before the 421; an idle one gets the
    # 421 at once; never a partial file.
    idle = socket.create_connection(("127.0.0.1", 2525), timeout=30)
    fi = idle.makefile("rb")
    smtp_line(fi)
    busy = socket.create_connection(("127.0.0.1", 2525), timeout=30)
    fb = busy.makefile("rb")
    smtp_line(fb)
    for cmd, want in ((b"HELO app.example.org", "250"),
                      (b"MAIL FROM:<alice@example.org>", "250"),
                      (b"RCPT TO:<bob@example.net>", "250"),
                      (b"DATA", "354")):
        busy.sendall(cmd + b"\r\n")
        line = smtp_line(fb)
        if not line.startswith(want):
            raise Fail("%s got %s" % (cmd.decode(), line))
    data = message("in-flight", size=200000)
    busy.sendall(data[:100000])
    sh("systemctl", "stop", "--no-block", "postoffice.service")
    wait_until("postoffice.service deactivating",
               lambda: prop("postoffice.service", "ActiveState")
               == "deactivating", 30, step=0.05)
    line = smtp_line(fi)
    if not line.startswith("421 4.3.2"):
        raise Fail("the idle session got %r, not 421 4.3.2" % line)
    busy.sendall(data[100000:] + b".\r\n")
    line = smtp_line(fb)
    m = QUEUED.search(line)
    if not line.startswith("250 ") or not m:
        raise Fail("the final dot got %r, not 250" % line)
    line = smtp_line(fb)
    if not line.startswith("421 4.3.2"):
        raise Fail("after the 250: %r, not 421 4.3.2" % line)
    wait_until("postoffice.service stopped",
               lambda: prop("postoffice.service", "ActiveState")
               == "inactive", 60)
    expect("Result", prop("postoffice.service", "Result"), "success")
    expect("ExecMainStatus", prop("postoffice.service", "ExecMainStatus"),
           "0")
    files = []
    for d, _, names in os.walk(SPOOL):
        files += [os.path.join(d, n) for n in names]
    tmp = [f for f in files if f.endswith(".tmp") or "/.tmp" in f]
    if tmp:
        raise Fail("left in the spool: %s" % tmp)
    queued = [f for f in files if re.search(r"/[0-9a-f]{32}$", f)]
    if os.path.join(SPOOL, m.group(1)) not in queued:
        raise Fail("%s not in the spool" % m.group(1))
    r = sh(os.path.join(HERE, "spool_check"), *queued, check=False)
    if r.returncode != 0:
        raise Fail("spool_check: %s" % r.stdout.strip())
    say("info stop in flight: %d file(s) in the spool, all decode" %
        len(queued))
    idle.close()
    busy.close()
    sh("systemctl", "start", "postoffice.service")


def journal_priorities():
    # README, "Logs": under systemd a line carries its priority instead of
    # "name[pid]: ", and the journal records it.
    def priority(unit, grep, want):
        e = journal(unit, grep)
        if not e:
            raise Fail("%s: no line matching %r" % (unit, grep))
        e = e[-1]
        expect("PRIORITY of %r" % e["MESSAGE"], e.get("PRIORITY"), want)
        expect("SYSLOG_IDENTIFIER of %r" % e["MESSAGE"],
               e.get("SYSLOG_IDENTIFIER"), unit.split(".")[0])
    priority("postoffice.service", r"^listening on 127\.0\.0\.1:2525, ", "6")
    priority("postoffice.service", r"^signal 15: stopping$", "6")
    # doc/deployment.md 2.3: a password file without users is warned of.
    with open(HTPASSWD) as f:
        saved = f.read()
    try:
        with open(HTPASSWD, "w"):
            pass
        sh("systemctl", "restart", "postmaster.service")
        wait_until("the warning", lambda: journal("postmaster.service",
                                                  r" has no users: "), 30)
    finally:
        with open(HTPASSWD, "w") as f:
            f.write(saved)
        sh("systemctl", "restart", "postmaster.service")
    priority("postmaster.service", r" has no users: ", "4")
    priority("postmaster.service", r"^listening on systemd socket", "6")


def templates_two_postmasters():
    # A second backend on this host: PostOffice on 2526 and PostMaster on
    # 127.0.0.1:8026, with its own spool and password.
    os.makedirs("/var/lib/backend-b/messages", mode=0o750)
    h = sh("openssl", "passwd", "-6", "second-secret").stdout.strip()
    write("/etc/postoffice/b.htpasswd", "postman:%s\n" % h, 0o600)
    sh("systemd-run", "--unit=vmcheck-postoffice-b", "-p", "Type=notify",
       "/usr/sbin/postoffice", "-l", "127.0.0.1:2526", "-s",
       "/var/lib/backend-b/messages")
    sh("systemd-run", "--unit=vmcheck-postmaster-b", "-p", "Type=notify",
       "/usr/sbin/postmaster", "-l", "127.0.0.1:8026", "-s",
       "/var/lib/backend-b/messages", "--htpasswd",
       "/etc/postoffice/b.htpasswd")
    # One instance per PostMaster: a through nginx, every 5 s from its
    # timer; b over loopback, continuously.
    write("/etc/postoffice/postman/a.conf",
          "POSTMAN_URL=relay.example.org/postoffice\n"
          "POSTMAN_OPTIONS=--cacert=%s --maildir=/var/lib/postman-a/Maildir\n"
          % CERT)
    write("/etc/postoffice/postman/b.conf",
          "POSTMAN_URL=http://127.0.0.1:8026/\n"
          "POSTMAN_OPTIONS=--maildir=/var/lib/postman-b/Maildir\n")
    write("/etc/postoffice/postman/a.password", SECRET + "\n", 0o600)
    write("/etc/postoffice/postman/b.password", "second-secret\n", 0o600)
    dropin("postman@.timer", "[Timer]\nOnCalendar=\nOnCalendar=*:*:0/5\n"
           "AccuracySec=1s\n")
    sh("systemctl", "daemon-reload")
    send("for-a-1")
    send("for-b-1", port=2526)
    send("for-a-2")
    sh("systemctl", "enable", "--now", "postman@a.timer")
    sh("systemctl", "enable", "--now", "postman@b.service")
    try:
        two_instances()
    finally:
        sh("systemctl", "disable", "--now", "postman@a.timer",
           "postman@b.service", check=False)


def two_instances():
    expect("postman@b.service", prop("postman@b.service", "ActiveState"),
           "active")
    send("for-b-2", port=2526)
    a, b = "/var/lib/postman-a/Maildir", "/var/lib/postman-b/Maildir"
    # a also drains what the reload and stop checks left in the spool.
    want_a = ["after-reload", "for-a-1", "for-a-2", "in-flight"]
    wait_until("both instances' mail", lambda: len(subjects(a)) >= 4 and
               len(subjects(b)) >= 2, 90)
    time.sleep(1)
    expect("postman-a's Maildir", sorted(subjects(a)), want_a)
    expect("postman-b's Maildir", sorted(subjects(b)), ["for-b-1", "for-b-2"])
    for i in "ab":
        if not os.path.exists("/var/lib/postman-%s/postman.lock" % i):
            raise Fail("no lock in /var/lib/postman-%s" % i)
    if not journal("postman-once@a.service", r"status=sent"):
        raise Fail("no status=sent in postman-once@a.service's journal")


def security_scores():
    for unit in ("postoffice.service", "postmaster.service",
                 "postman.service", "postman-once.service",
                 "postman@a.service", "postman-once@a.service"):
        r = sh("systemd-analyze", "security", "--no-pager", unit)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)",
                      r.stdout)
        if not m:
            raise Fail("%s: no overall exposure level" % unit)
        say("score %s %s %s" % (unit, m.group(1), m.group(2)))


def recent_journal():
    """The journal's last lines but this test's own, after a failure."""
    r = sh("journalctl", "-b", "-n", "60", "-o", "short-monotonic",
           "--no-pager", check=False)
    lines = [l for l in r.stdout.splitlines() if "vm: " not in l]
    for line in lines[-15:]:
        say("| " + line)


CHECKS = [boot, postoffice_enabled_ready, postoffice_spools_mail,
          postmaster_socket_activation, nginx_proxies_postmaster,
          postman_timer, postman_watch, postoffice_reload,
          postoffice_stop_in_flight, journal_priorities,
          templates_two_postmasters, security_scores]


def main():
    t0 = time.monotonic()
    for check in CHECKS:
        t = time.monotonic()
        try:
            check()
        except (Fail, OSError, subprocess.SubprocessError,
                smtplib.SMTPException, ValueError, KeyError) as e:
            say("FAIL %s: %s" % (check.__name__, str(e).replace("\n", " ")))
            recent_journal()
        else:
            say("ok %s (%.1f s)" % (check.__name__, time.monotonic() - t))
    say("info guest: checks took %.0f s" % (time.monotonic() - t0))
    say("done")
    sys.stdout.flush()
    subprocess.run(["systemctl", "poweroff"])


if __name__ == "__main__":
    main()
