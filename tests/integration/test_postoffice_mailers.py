"""PostOffice fed by the mailers backends really use: msmtp, Postfix as a
relay, Exim as a smarthost client, dma, PHPMailer, nodemailer, Ruby's mail
gem, Go's net/smtp, Python's smtplib and curl.

Each client talks to PostOffice through a recording proxy.  The test then
checks that the spooled data is the data the client sent, byte for byte,
but for exactly the changes doc/postoffice.md names (trace fields removed,
identifiers that name the backend rewritten), and that no name of this
host or of the client's HELO is left in it.  The session's commands give
the row of README's client table (written to BUILD/mailers-table.md).

tools/mailers.sh installs or unpacks the mailers; one it could not have
is skipped with its reason."""

import json
import os
import re
import select
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import TOP, spool_messages, wait_until
from postoffice_util import msgid_key, new_id, only_message, raw_data, start

SENDER = "shop@example.org"
RCPT = "customer@example.net"
CLIENTS = os.path.join(TOP, "tests", "clients")
BUILD = os.environ.get("BUILD", "build")
TABLE = os.path.join(TOP, BUILD, "mailers-table.md")


def mailers_dir():
    d = os.environ.get("POSTOFFICE_MAILERS", "/var/cache/postoffice-mailers")
    try:
        os.makedirs(d, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    return os.path.join(TOP, BUILD, "mailers")


@pytest.fixture(scope="module")
def mailers():
    """(directory, {name: reason it is missing})."""
    d = mailers_dir()
    subprocess.run([os.path.join(TOP, "tools", "mailers.sh"), d],
                   check=True, timeout=900)
    missing = {}
    with open(os.path.join(d, "missing.txt")) as f:
        for line in f:
            name, _, why = line.rstrip("\n").partition(": ")
            missing[name] = why
    return d, missing


def need(mailers, *names):
    for n in names:
        if n in mailers[1]:
            pytest.skip("%s: %s" % (n, mailers[1][n]))


@pytest.fixture(scope="module")
def table():
    rows = {}
    yield rows
    os.makedirs(os.path.dirname(TABLE), exist_ok=True)
    with open(TABLE, "w") as f:
        f.write("| client | version | greeting | PIPELINING | 8BITMIME | "
                "SMTPUTF8 | result |\n| --- | --- | --- | --- | --- | --- | --- |\n")
        for name in sorted(rows):
            f.write(rows[name] + "\n")


class Recorder:
    """A TCP proxy in front of PostOffice that records each session as a
    list of (direction, octets) chunks in the order they passed."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.sessions = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.lsock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except socket.timeout:
                continue
            s = socket.create_connection(("127.0.0.1", self.target))
            chunks = []
            self.sessions.append(chunks)
            threading.Thread(target=self.relay, args=(c, s, chunks),
                             daemon=True).start()

    @staticmethod
    def relay(c, s, chunks):
        ends = {c: (s, "C"), s: (c, "S")}
        try:
            while ends:
                r, _, _ = select.select(list(ends), [], [], 30)
                if not r:
                    break
                for sock in r:
                    data = sock.recv(65536)
                    other, d = ends[sock]
                    if not data:
                        return
                    chunks.append((d, data))
                    other.sendall(data)
        finally:
            c.close()
            s.close()
            chunks.append(("end", b""))

    def close(self):
        self.stop = True
        self.thread.join()
        self.lsock.close()


def session_facts(chunks):
    """What a recorded session shows: greeting verb and name, whether the
    client pipelined (sent RCPT before the reply to MAIL), the MAIL
    parameters, and the message data (dot-unstuffed)."""
    client = b"".join(d for w, d in chunks if w == "C")
    lines = client.split(b"\r\n")
    verb, name = lines[0].split(b" ", 1)
    mail = next(l for l in lines if l.upper().startswith(b"MAIL FROM:"))
    # Pipelined: between the chunk holding MAIL and the one holding the
    # first RCPT, no reply came from the server.
    pipelined, seen_mail = False, False
    for w, d in chunks:
        if w == "C" and b"MAIL FROM:" in d.upper():
            seen_mail = True
            if b"RCPT TO:" in d.upper().split(b"MAIL FROM:", 1)[1]:
                pipelined = True
                break
            continue
        if seen_mail and w == "S":
            break
        if seen_mail and w == "C" and b"RCPT TO:" in d.upper():
            pipelined = True
            break
    start_ = client.upper().index(b"\r\nDATA\r\n") + 8
    end = client.index(b"\r\n.\r\n", start_ - 2) + 2
    data = client[start_:end]
    data = re.sub(rb"(^|\r\n)\.", rb"\1", data)
    return {
        "verb": verb.decode().upper(), "helo": name.decode(),
        "pipelined": pipelined,
        "8bitmime": b"BODY=8BITMIME" in mail.upper(),
        "smtputf8": b"SMTPUTF8" in mail.upper(),
        "data": data,
    }


TRACE = (b"received", b"x-originating-ip", b"x-php-originating-script",
         b"x-php-script")
ID_FIELDS = (b"message-id", b"resent-message-id", b"in-reply-to",
             b"references", b"content-id")


def names_backend(right, helo, host):
    """scrub.h's rule for an id-right, with the sender's domain public."""
    r = right.lower()
    if r == SENDER.split("@")[1].encode():
        return False
    return (r == helo.lower().encode() or b"." not in r or r.startswith(b"[")
            or r.split(b".")[0] == host.split(".")[0].lower().encode())


def expected(data, helo):
    """The data as doc/postoffice.md says it is spooled: trace fields of
    the message header removed, identifiers that name the backend
    rewritten wherever they are mentioned as <ID> or cid:ID."""
    head, sep, body = data.partition(b"\r\n\r\n")
    kept, dropping = [], False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        dropping = name in TRACE
        if not dropping:
            kept.append(line)
    out = b"\r\n".join(kept) + sep + body
    ids = set()
    for m in re.finditer(rb"(?im)^(?:%s)\s*:((?:[^\r\n]|\r\n[ \t])*)"
                         % b"|".join(re.escape(f) for f in ID_FIELDS), out):
        for i in re.findall(rb"<([^<>\s]+@([^<>\s@]+))>", m.group(1)):
            if names_backend(i[1], helo, socket.gethostname()):
                ids.add(i[0])
    domain = SENDER.split("@")[1].encode()
    if msgid_key() is None and ids:
        # A random key (no machine id): each identifier becomes some
        # digest, the same one at every mention.
        forms = {}
        for k, i in enumerate(sorted(ids)):
            forms[b"<" + i + b">"] = (k, b"<", b">")
            forms[b"cid:" + i] = (k, b"cid:", b"")
        pat, pos, named = b"", 0, set()
        alts = b"|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        for m in re.finditer(alts, out):
            k, pre, post = forms[m.group(0)]
            d = b"(?P=d%d)" % k if k in named else b"(?P<d%d>[0-9a-f]{32})" % k
            named.add(k)
            pat += re.escape(out[pos:m.start()]) + re.escape(pre) + d + \
                re.escape(b"@" + domain + post)
            pos = m.end()
        pat += re.escape(out[pos:])
        return re.compile(pat, re.S), ids
    for i in ids:
        n = new_id(i, domain.decode())
        out = out.replace(b"<" + i + b">", b"<" + n + b">")
        out = out.replace(b"cid:" + i, b"cid:" + n)
    return out, ids


def leaks(data, helo):
    """Names of this host or of the client found in data."""
    names = {socket.gethostname(), socket.getfqdn(), helo}
    found = []
    for n in names:
        pat = rb"(?i)(?<![A-Za-z0-9-])%s(?![A-Za-z0-9-])" % re.escape(n.encode())
        if re.search(pat, data):
            found.append(n)
    return found


def deliver(daemons, spool, send):
    """Starts PostOffice behind a recorder, runs send(port) and returns
    (facts of the session, spooled data)."""
    _, port = start(daemons, spool)
    rec = Recorder(port)
    try:
        send(rec.port)
        wait_until(lambda: rec.sessions and rec.sessions[-1][-1:] ==
                   [("end", b"")], timeout=60, what="the session's end")
    finally:
        rec.close()
    sessions = [s for s in rec.sessions if any(b"DATA\r\n" in d.upper() for w, d in s)]
    assert len(sessions) == 1
    # The client may end its side (QUIT pipelined after the final dot, as
    # Exim does) before the 250: the file lands once the commit is done.
    wait_until(lambda: spool_messages(spool), timeout=30)
    _, obj = only_message(spool)
    return session_facts(sessions[0]), raw_data(obj)


def check(name, version, facts, spooled, table, note=""):
    want, rewritten = expected(facts["data"], facts["helo"])
    if isinstance(want, re.Pattern):
        assert want.fullmatch(spooled), (spooled, want.pattern)
        want = spooled
    else:
        assert spooled == want
    assert leaks(spooled, facts["helo"]) == []
    assert not re.search(rb"(?im)^received\s*:", spooled.partition(b"\r\n\r\n")[0])
    changes = []
    if facts["data"] != want:
        if any(re.search(rb"(?im)^%s\s*:" % t, facts["data"].partition(b"\r\n\r\n")[0])
               for t in TRACE):
            changes.append("trace fields removed")
        if rewritten:
            changes.append("%d identifier%s rewritten" % (
                len(rewritten), "" if len(rewritten) == 1 else "s"))
    result = "spooled byte for byte" + (
        " but for: " + ", ".join(changes) if changes else "")
    yn = lambda b: "yes" if b else "no"
    table[name] = "| %s | %s | `%s %s` | %s | %s | %s | %s%s |" % (
        name, version, facts["verb"], facts["helo"], yn(facts["pipelined"]),
        yn(facts["8bitmime"]), yn(facts["smtputf8"]), result, note)


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    assert r.returncode == 0, (argv, r.stdout, r.stderr)
    return r.stdout


MESSAGE = ("From: Web Shop <%s>\r\nTo: %s\r\nSubject: Your order\r\n"
           "Date: Wed, 25 Nov 2026 16:08:45 +0000\r\n\r\n"
           "Thank you.\r\n.a line with a leading dot\r\n" % (SENDER, RCPT))


def test_msmtp_as_the_backends_sendmail(daemons, spool, mailers, table):
    need(mailers, "msmtp")
    version = run(["msmtp", "--version"]).split("\n")[0].split()[-1]

    def send(port):
        subprocess.run(["msmtp", "--host=127.0.0.1", "--port=%d" % port,
                        "--tls=off", "--auth=off", "--from=" + SENDER, "--", RCPT],
                       input=MESSAGE.replace("\r\n", "\n").encode(),
                       check=True, timeout=60)
    facts, spooled = deliver(daemons, spool, send)
    check("msmtp", version, facts, spooled, table)


def test_python_smtplib_with_make_msgid(daemons, spool, mailers, table):
    import email.message
    import email.utils
    import sys

    def send(port):
        m = email.message.EmailMessage()
        m["From"] = SENDER
        m["To"] = RCPT
        m["Subject"] = "Your order, d\u00e9j\u00e0"
        m["Message-ID"] = email.utils.make_msgid()
        m.set_content("Thank you.\n.a line with a leading dot\n")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.send_message(m)
    facts, spooled = deliver(daemons, spool, send)
    assert email.utils.make_msgid().split("@")[1][:-1] == socket.getfqdn()
    check("Python smtplib", sys.version.split()[0], facts, spooled, table)


def test_curl_smtp_with_crlf(daemons, spool, mailers, table, tmp_path):
    need(mailers, "curl")
    version = run(["curl", "--version"]).split()[1]
    msg = tmp_path / "msg"
    msg.write_text(MESSAGE.replace("\r\n", "\n"))

    def send(port):
        run(["curl", "-sS", "smtp://127.0.0.1:%d" % port, "--mail-from", SENDER,
             "--mail-rcpt", RCPT, "--upload-file", str(msg), "--crlf"])
    facts, spooled = deliver(daemons, spool, send)
    check("curl", version, facts, spooled, table)


def test_phpmailer_in_smtp_mode(daemons, spool, mailers, table):
    need(mailers, "php-cli", "libphp-phpmailer")
    out = []

    def send(port):
        out.append(run(["php", os.path.join(CLIENTS, "phpmailer.php"),
                        str(port), SENDER, RCPT]).strip())
    facts, spooled = deliver(daemons, spool, send)
    check("PHPMailer", out[0], facts, spooled, table)


def test_nodemailer(daemons, spool, mailers, table):
    need(mailers, "nodemailer")
    modules = os.path.join(mailers[0], "node", "node_modules")
    out = []

    def send(port):
        out.append(run(["node", os.path.join(CLIENTS, "nodemailer.js"), modules,
                        str(port), SENDER, RCPT]).strip())
    facts, spooled = deliver(daemons, spool, send)
    check("nodemailer", out[0], facts, spooled, table)


def test_ruby_mail_gem_as_actionmailer_sends(daemons, spool, mailers, table):
    need(mailers, "ruby-mail")
    out = []

    def send(port):
        out.append(run(["ruby", os.path.join(CLIENTS, "ruby_mail.rb"),
                        str(port), SENDER, RCPT]).strip())
    facts, spooled = deliver(daemons, spool, send)
    host = socket.gethostname()
    # What the issue saw: ids under HOSTNAME.mail, in the Message-ID and in
    # a part's Content-ID that the HTML names by a cid: URL.
    assert re.search(rb"Message-ID: <[^>]+@%s\.mail>" % host.encode(), facts["data"])
    cids = re.findall(rb"Content-ID: <([^>]+)>", facts["data"])
    assert cids and b"cid:" + cids[0] in facts["data"]
    new = re.findall(rb"Content-ID: <([^>]+)>", spooled)
    assert new[0].endswith(b"@example.org") and b"cid:" + new[0] in spooled
    check("Ruby mail gem", out[0], facts, spooled, table)


def test_go_net_smtp(daemons, spool, mailers, table, tmp_path):
    need(mailers, "golang-go")
    env = dict(os.environ, GOCACHE=str(tmp_path / "cache"),
               GOPATH=str(tmp_path / "gopath"), GO111MODULE="off",
               HOME=str(tmp_path))
    prog = tmp_path / "netsmtp"
    run(["go", "build", "-o", str(prog), os.path.join(CLIENTS, "netsmtp.go")],
        env=env)
    out = []

    def send(port):
        out.append(run([str(prog), str(port), SENDER, RCPT]).strip())
    facts, spooled = deliver(daemons, spool, send)
    check("Go net/smtp", out[0], facts, spooled, table)


# The MTAs below conflict as Debian packages; tools/mailers.sh unpacks
# them.  Each runs from its unpacked tree in a private mount namespace:
# overlays put the tree (and a private configuration, with the system
# user the program is built to run as) over /usr and /etc for it alone.

def mta_tree():
    """A temporary folder every user may enter (the MTAs drop to their
    own user), removed afterwards."""
    import tempfile
    d = tempfile.mkdtemp(prefix="postoffice-mta.")
    os.chmod(d, 0o755)
    return d


def need_root():
    if os.geteuid() != 0:
        pytest.skip("the unpacked MTAs run in a mount namespace with overlays "
                    "over /usr and /etc, which needs root")


def etc_with_user(tree, lines_passwd, lines_group):
    etc = os.path.join(tree, "etc")
    os.makedirs(etc, exist_ok=True)
    for name, extra in (("passwd", lines_passwd), ("group", lines_group)):
        # The host's own entries of these names give way (a host that has
        # a postfix user of its own would otherwise resolve to it).
        ours = {line.split(":", 1)[0] + ":" for line in extra.splitlines()}
        with open("/etc/" + name) as f, open(os.path.join(etc, name), "w") as g:
            g.write("".join(line for line in f
                            if not line.startswith(tuple(ours))) + extra)
    return etc


def in_namespace(script, timeout=120):
    r = subprocess.run(["unshare", "--mount", "sh", "-ec", script],
                       input=MESSAGE.replace("\r\n", "\n"), capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, (script, r.stdout, r.stderr)
    return r.stdout


def test_postfix_as_the_backends_relay(daemons, spool, mailers, table):
    need(mailers, "postfix")
    need_root()
    pf = os.path.join(mailers[0], "postfix")
    tree = mta_tree()
    try:
        etc = etc_with_user(tree, "postfix:x:64999:64999::/nonexistent:/usr/sbin/nologin\n",
                            "postfix:x:64999:\npostdrop:x:64998:\n")
        os.makedirs(os.path.join(etc, "postfix"))
        shutil.copy(os.path.join(pf, "usr/share/postfix/dynamicmaps.cf"),
                    os.path.join(etc, "postfix"))
        for d in ("queue", "data"):
            os.makedirs(os.path.join(tree, d))
        os.chown(os.path.join(tree, "data"), 64999, 64999)
        # Only what a relay-only host runs, none of it chrooted.
        with open(os.path.join(etc, "postfix", "master.cf"), "w") as f:
            for svc in ("pickup unix n - n 60 1 pickup",
                        "cleanup unix n - n - 0 cleanup",
                        "qmgr unix n - n 300 1 qmgr",
                        "rewrite unix - - n - - trivial-rewrite",
                        "bounce unix - - n - 0 bounce",
                        "defer unix - - n - 0 bounce",
                        "trace unix - - n - 0 bounce",
                        "verify unix - - n - 1 verify",
                        "flush unix n - n 1000? 0 flush",
                        "proxymap unix - - n - - proxymap",
                        "smtp unix - - n - - smtp",
                        "relay unix - - n - - smtp",
                        "showq unix n - n - - showq",
                        "error unix - - n - - error",
                        "retry unix - - n - - error",
                        "discard unix - - n - - discard",
                        "anvil unix - - n - 1 anvil",
                        "scache unix - - n - 1 scache"):
                f.write(svc + "\n")
        version = []

        def send(port):
            with open(os.path.join(etc, "postfix", "main.cf"), "w") as f:
                f.write("compatibility_level = 3.6\n"
                        "queue_directory = %s/queue\n"
                        "data_directory = %s/data\n"
                        "mail_owner = postfix\nsetgid_group = postdrop\n"
                        "relayhost = [127.0.0.1]:%d\n"
                        "mydestination =\ninet_interfaces = loopback-only\n"
                        "inet_protocols = ipv4\nsmtp_tls_security_level = none\n"
                        "alias_maps =\nalias_database =\n"
                        "local_transport = error:no local delivery\n"
                        % (tree, tree, port))
            out = in_namespace(
                "mount -t overlay overlay -o lowerdir=%s/usr:/usr /usr\n"
                "mount -t overlay overlay -o lowerdir=%s:%s/etc:/etc /etc\n"
                "postconf -h mail_version\n"
                "postfix start\n"
                "sendmail -f %s %s\n"
                "for i in $(seq 100); do postqueue -p | grep -q 'queue is empty'"
                " && break; sleep 0.2; done\n"
                "postfix stop\n" % (pf, etc, pf, SENDER, RCPT))
            version.append(out.split("\n")[0])
        facts, spooled = deliver(daemons, spool, send)
        assert re.search(rb"(?m)^Received: by ", facts["data"])
        check("Postfix (relayhost)", version[0], facts, spooled, table)
    finally:
        shutil.rmtree(tree)


def test_exim_as_a_smarthost_client(daemons, spool, mailers, table):
    need(mailers, "exim4-daemon-light")
    need_root()
    exim = os.path.join(mailers[0], "exim4-daemon-light", "usr/sbin/exim4")
    tree = mta_tree()
    try:
        # Exim looks up the user it was built for (Debian-exim) at start.
        etc = etc_with_user(tree, "Debian-exim:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
                            "Debian-exim:x:65534:\n")
        for d in ("spool", "log"):
            os.makedirs(os.path.join(tree, d))
            os.chown(os.path.join(tree, d), 65534, 65534)
        conf = os.path.join(tree, "exim.conf")
        version = []

        def send(port):
            with open(conf, "w") as f:
                f.write("exim_path = %s\nspool_directory = %s/spool\n"
                        "log_file_path = %s/log/%%slog\nkeep_environment =\n"
                        "begin routers\nsmarthost:\n  driver = manualroute\n"
                        "  route_list = * 127.0.0.1\n  transport = remote_smtp\n"
                        "  self = send\n  no_more\n"
                        "begin transports\nremote_smtp:\n  driver = smtp\n"
                        "  port = %d\n  hosts_avoid_tls = *\n  allow_localhost\n"
                        "begin retry\n* * F,1m,1m\n" % (exim, tree, tree, port))
            os.chmod(conf, 0o644)
            out = in_namespace(
                "mount --bind %s/passwd /etc/passwd\n"
                "mount --bind %s/group /etc/group\n"
                "%s -C %s -bV | head -1\n"
                "%s -C %s -odf -oi -f %s %s\n" % (etc, etc, exim, conf, exim,
                                                  conf, SENDER, RCPT))
            version.append(out.split()[2])
        facts, spooled = deliver(daemons, spool, send)
        assert re.search(rb"(?m)^Received: from root by ", facts["data"])
        check("Exim (smarthost)", version[0], facts, spooled, table)
    finally:
        shutil.rmtree(tree)


def test_dma_with_a_smarthost(daemons, spool, mailers, table):
    need(mailers, "dma")
    need_root()
    dma = os.path.join(mailers[0], "dma", "usr/sbin/dma")
    tree = mta_tree()
    try:
        # dma reads only /etc/dma/dma.conf: an overlay puts ours there.
        for d in ("up/dma", "work", "spool"):
            os.makedirs(os.path.join(tree, d))
        os.chmod(os.path.join(tree, "spool"), 0o1777)

        def send(port):
            with open(os.path.join(tree, "up/dma/dma.conf"), "w") as f:
                f.write("SMARTHOST 127.0.0.1\nPORT %d\nSPOOLDIR %s/spool\n"
                        % (port, tree))
            in_namespace(
                "mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/up,"
                "workdir=%s/work /etc\n"
                "%s -D -f %s %s\n" % (tree, tree, dma, SENDER, RCPT))
        facts, spooled = deliver(daemons, spool, send)
        assert re.search(rb"DragonFly Mail Agent v([0-9.]+)", facts["data"])
        version = re.search(rb"DragonFly Mail Agent v([0-9.]+)",
                            facts["data"]).group(1).decode()
        check("dma", version, facts, spooled, table)
    finally:
        shutil.rmtree(tree)
