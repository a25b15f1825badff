"""The whole relay end to end, with the real programs a deployment uses.

    application --sendmail--> nullmailer --SMTP--> postoffice --spool-->
    postmaster --unix socket--> nginx (TLS, basic auth, allow/deny)
    --https--> postman --sendmail--> msmtp --SMTP--> destination MX

PostMan's sendmail is contrib/msmtp-sendmail, the msmtp wrapper that
doc/deployment.md installs: msmtp alone reports a 4xx refusal with the
same status as a 5xx one.

The destination MX is a second postoffice with --keep-trace-headers, so
that its spool holds the message exactly as msmtp delivered it; for the
failure paths it is tests/e2e/smtp_responder.py, which refuses with 4xx
or 5xx.  nullmailer runs in a private mount namespace (tests/e2e/
nullmailer.sh) and nginx as its own instance in the test's folder: the
machine's configuration is never touched.

nginx's workers run as www-data, as in a deployment: they reach PostMaster's
socket and read the password file through the group www-data only.

Every program and example of the relay comes from a `make install
DESTDIR=...` tree (PREFIX=/usr), as a user installs it: the daemons from
its sbin/, the nginx site and nullmailer line from its share/doc/.

Needs root (mount namespace, nginx's worker user) and Debian's
nullmailer, nginx and msmtp, which `tools/deps.sh e2e` installs."""

import base64
import email
import email.header
import email.policy
import email.quoprimime
import http.client
import json
import os
import random
import re
import shutil
import socket
import ssl
import subprocess

import pytest

from conftest import (BUILD, SANITIZER_MARKS, TOP, free_port, make_target,
                      sanitizer_env, spool_messages, wait_for_path,
                      wait_for_port, wait_until)

E2E = os.path.join(TOP, "tests", "e2e")
BACKEND = "backend.internal"        # nullmailer's host name (me, mailname)
BACKEND_ADDR = "10.1.2.3"           # an address the application reveals
USER, PASSWORD = "postman", "s3cret-relay"
SENDER = "alice@example.org"
RCPTS = ["bob@example.net", "carol@example.net"]
SUBJECT = "Grüße aus Köln — ✓ 日本語"
LONG_LINE = "".join("%04d-" % i for i in range(1000))   # 5,000 characters
HTML = ("<html><body><p>Gr&uuml;&szlig;e, <b>Bob</b>!</p>"
        "<p>Caf\u00e9 \u2014 \u2713</p></body></html>")
ATTACHMENT = bytes(range(256)) * 8 + random.Random(5).randbytes(3000)

# Trace fields the source postoffice removes (doc/postoffice.md).
SCRUBBED = {"received", "x-originating-ip", "x-php-originating-script",
            "x-php-script"}


@pytest.fixture(scope="module", autouse=True)
def e2e_requirements():
    """Root and the real programs, or a clear failure (never a skip: CI,
    which runs as root, must run this test)."""
    if os.geteuid() != 0:
        pytest.fail("the end-to-end test needs root: nullmailer runs in a "
                    "private mount namespace and nginx starts its own "
                    "workers; run 'make check' as root (CI does)")
    r = subprocess.run([os.path.join(TOP, "tools", "deps.sh"), "e2e"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail("tools/deps.sh e2e failed:\n" + r.stderr)


# The installed tree, inside the build folder so that VALGRIND=1 wraps
# its programs as it wraps the built ones.
INSTALLED = os.path.join(BUILD, "e2e-root")
SBIN = os.path.join(INSTALLED, "usr", "sbin")
DOC = os.path.join(INSTALLED, "usr", "share", "doc", "postoffice")


@pytest.fixture(scope="module", autouse=True)
def installed(e2e_requirements):
    """`make install` of the suite's build."""
    shutil.rmtree(INSTALLED, ignore_errors=True)
    r = make_target("install", INSTALLED)
    assert r.returncode == 0, r.stdout + r.stderr
    yield
    shutil.rmtree(INSTALLED, ignore_errors=True)


def sbin(name):
    return os.path.join(SBIN, name)


# ---------------------------------------------------------------------
# the pieces

def fill(template, dest, **values):
    with open(os.path.join(E2E, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z]+@", text)
    assert not left, left
    with open(dest, "w") as f:
        f.write(text)
    return dest


def run(argv, timeout=30, **kw):
    return subprocess.run(argv, capture_output=True, timeout=timeout, **kw)


def contrib_site(dest, port, cert, key, htpasswd, sock, client_ca=None):
    """The installed contrib/nginx-postoffice.conf as a user copies it,
    with only the example host's names and paths replaced by the test's:
    each replacement must match exactly once, so a change to the example
    cannot go untested."""
    with open(os.path.join(DOC, "contrib", "nginx-postoffice.conf")) as f:
        text = f.read()
    for old, new in (
            ("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % port),
            ("listen [::]:443 ssl;\n", ""),
            ("server_name relay.example.org;", "server_name localhost;"),
            ("/etc/letsencrypt/live/relay.example.org/fullchain.pem", cert),
            ("/etc/letsencrypt/live/relay.example.org/privkey.pem", key),
            ("allow 203.0.113.7;", "allow 127.0.0.1;"),
            ("/etc/postoffice/postmaster.htpasswd", htpasswd),
            ("/run/postoffice/postmaster.socket", sock)):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    if client_ca is not None:
        # doc/deployment.md's client certificates: the two lines it adds
        # after ssl_protocols.
        old = "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        assert text.count(old) == 1
        text = text.replace(old, old + "    ssl_client_certificate %s;\n"
                            "    ssl_verify_client on;\n" % client_ca)
    with open(dest, "w") as f:
        f.write(text)
    return dest


def make_certificate(d):
    """A self-signed certificate for localhost and 127.0.0.1; PostMan
    trusts it with --cacert."""
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", cert])
    assert r.returncode == 0, r.stderr
    return cert, key


def make_ca(d, name):
    """A private CA as doc/deployment.md makes one: (certificate, key)."""
    cert, key = os.path.join(d, name + "-ca.pem"), os.path.join(d, name + "-ca.key")
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=%s CA" % name, "-keyout", key, "-out", cert])
    assert r.returncode == 0, r.stderr
    return cert, key


def make_client_certificate(d, ca, name):
    """A client certificate signed by ca: (certificate, key)."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    csr = os.path.join(d, name + ".csr")
    r = run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + name,
             "-keyout", key, "-out", csr])
    assert r.returncode == 0, r.stderr
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage = clientAuth\n")
    r = run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
             "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert])
    assert r.returncode == 0, r.stderr
    return cert, key


def www_data_gid():
    return int(run(["id", "-g", "www-data"]).stdout)


def make_htpasswd(d):
    """The file both nginx (auth_basic_user_file) and PostMaster
    (--htpasswd) read: one bcrypt entry, made, owned and protected as
    doc/deployment.md says (root:www-data, 0640): nginx's workers run as
    www-data and read it for each request."""
    path = os.path.join(d, "htpasswd")
    r = run(["htpasswd", "-c", "-B", "-C", "5", "-b", path, USER, PASSWORD])
    assert r.returncode == 0, r.stderr
    os.chown(path, 0, www_data_gid())
    os.chmod(path, 0o640)
    return path


class Relay:
    """Both hosts of a deployment on loopback, started for one test."""

    def __init__(self, tree, daemons, client_ca=None):
        self.tree, self.daemons = tree, daemons
        self.client_ca = client_ca
        self.spool = self.mkdir("messages")             # the backend's
        self.dest_spool = self.mkdir("destination")     # the MX's
        self.cert, self.key = make_certificate(tree)
        self.htpasswd = make_htpasswd(tree)
        self.password_file = os.path.join(tree, "postman.password")
        with open(self.password_file, "w") as f:
            f.write(PASSWORD + "\n")
        self.smtp_port = free_port()
        self.https_port = free_port()
        self.mx_port = free_port()
        self.socket = os.path.join(tree, "postmaster.socket")
        self.postoffice = daemons([sbin("postoffice"), "-l",
                                   "127.0.0.1:%d" % self.smtp_port,
                                   "-s", self.spool], name="postoffice")
        wait_for_port(self.smtp_port, self.postoffice.proc)
        # --retry-min 4: a deferred message is back in the queue for the
        # next run within a few seconds, but not during the run that
        # deferred it, however slow that run is (valgrind).
        self.postmaster = daemons([sbin("postmaster"), "-s", self.spool,
                                   "-l", "unix:" + self.socket,
                                   "--htpasswd", self.htpasswd,
                                   "--retry-min", "4", "--retry-max", "4"],
                                  name="postmaster")
        wait_for_path(self.socket)
        # What systemd/postmaster.socket gives the socket (SocketGroup=
        # www-data, SocketMode=0660; PostMaster's --socket-mode is 0660
        # too), and a test folder that others may cross but not list:
        # nginx's workers, as www-data, reach PostMaster by the group alone.
        os.chown(self.socket, 0, www_data_gid())
        assert os.stat(self.socket).st_mode & 0o777 == 0o660
        os.chmod(tree, 0o711)
        self.nginx = self.start_nginx()
        self.msmtprc = fill("msmtprc.in", os.path.join(tree, "msmtprc"),
                            DIR=tree, PORT=self.mx_port)
        os.chmod(self.msmtprc, 0o600)
        self.url = "https://localhost:%d/postoffice" % self.https_port

    def mkdir(self, *parts):
        d = os.path.join(self.tree, *parts)
        os.makedirs(d)
        return d

    def start_nginx(self):
        d = self.mkdir("nginx")
        site = contrib_site(os.path.join(d, "site.conf"), self.https_port,
                            self.cert, self.key, self.htpasswd, self.socket,
                            client_ca=self.client_ca)
        conf = fill("nginx.conf.in", os.path.join(d, "nginx.conf"), DIR=d,
                    SITE=site)
        nginx = self.daemons(["/usr/sbin/nginx", "-p", d, "-e",
                              os.path.join(d, "error.log"), "-c", conf,
                              "-g", "daemon off;"], name="nginx")
        wait_for_port(self.https_port, nginx.proc)
        return nginx

    def start_destination(self):
        """The destination MX: a postoffice that keeps every header, so its
        spool shows exactly what reached it."""
        mx = self.daemons([sbin("postoffice"), "-l",
                           "127.0.0.1:%d" % self.mx_port, "-s",
                           self.dest_spool, "--keep-trace-headers",
                           "--hostname", "mx.example.net"], name="mx")
        wait_for_port(self.mx_port, mx.proc)
        return mx

    def start_responder(self, stage, reply):
        r = self.daemons(["/usr/bin/python3",
                          os.path.join(E2E, "smtp_responder.py"),
                          str(self.mx_port), stage, reply], name="responder")
        wait_for_port(self.mx_port, r.proc)
        return r

    def postman(self, password_file=None, extra=()):
        """One PostMan run, as cron starts it.  Returns (status, log)."""
        log = os.path.join(self.tree, "postman.log")
        start = os.path.getsize(log) if os.path.exists(log) else 0
        env = sanitizer_env()
        env["MSMTPRC"] = self.msmtprc
        r = run([sbin("postman"), "--user", USER, "--password-file",
                 password_file or self.password_file, "--cacert", self.cert,
                 "--sendmail", sbin("msmtp-sendmail"),
                 "--lock", os.path.join(self.tree, "postman.lock"),
                 "--max-time", "20", "--sendmail-timeout", "15",
                 "--log", log] + list(extra) + [self.url], env=env)
        with open(log, errors="replace") as f:
            f.seek(start)
            text = f.read()
        text += r.stderr.decode(errors="replace")
        assert not [l for l in text.splitlines()
                    if any(m in l for m in SANITIZER_MARKS)], text
        return r.returncode, text

    def access_log(self):
        with open(os.path.join(self.tree, "nginx", "access.log")) as f:
            return f.read()

    def area(self, name):
        d = os.path.join(self.spool, name)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


def nullmailer_tree(tree, smtp_port):
    """nullmailer's configuration and queue for the private namespace: it
    calls itself backend.internal and relays to the source postoffice."""
    d = os.path.join(tree, "nullmailer")
    etc, spool = os.path.join(d, "etc"), os.path.join(d, "spool")
    os.makedirs(etc)
    for sub in ("queue", "tmp", "failed"):
        os.makedirs(os.path.join(spool, sub))
    os.mkfifo(os.path.join(spool, "trigger"), 0o622)
    with open(os.path.join(DOC, "contrib", "nullmailer-remotes")) as f:
        remotes = f.read()
    assert remotes.count("port=2525") == 1
    conf = {"remotes": remotes.replace("port=2525", "port=%d" % smtp_port),
            "me": BACKEND + "\n", "defaulthost": BACKEND + "\n",
            "defaultdomain": BACKEND + "\n", "adminaddr": "\n",
            "pausetime": "1\n", "sendtimeout": "20\n"}
    for name, text in conf.items():
        with open(os.path.join(etc, name), "w") as f:
            f.write(text)
    # Debian's nullmailer takes its own name from /etc/mailname.
    with open(os.path.join(d, "mailname"), "w") as f:
        f.write(BACKEND + "\n")
    # nullmailer-queue runs setuid mail.
    os.chmod(d, 0o755)
    mail = int(run(["id", "-u", "mail"]).stdout)
    for root, dirs, files in os.walk(spool):
        os.chown(root, mail, 0)
        for n in files:
            os.chown(os.path.join(root, n), mail, 0)
    return d


def in_namespace(nmdir, *args):
    return ["unshare", "--mount", "--propagation", "private", "sh",
            os.path.join(E2E, "nullmailer.sh"), nmdir] + list(args)


def application_message():
    """What a web application pipes into sendmail: LF line ends, an RFC 2047
    subject, text and HTML alternatives, a binary attachment, no
    Message-ID and no Date (the mailer adds them), and two trace fields
    PHP adds."""
    b64 = base64.encodebytes(ATTACHMENT).decode()
    qp_html = email.quoprimime.body_encode(HTML.encode().decode("latin-1"))
    headers = [
        ("From", "=?UTF-8?Q?Zo=C3=AB_Example?= <%s>" % SENDER),
        ("To", '"Bob B." <%s>' % RCPTS[0]),
        ("Cc", RCPTS[1]),
        ("Subject", email.header.Header(SUBJECT, "utf-8").encode()),
        ("X-Mailer", "contact-form/2.1"),
        ("X-PHP-Originating-Script", "33:contact.php"),
        ("X-Originating-IP", "[%s]" % BACKEND_ADDR),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/mixed; boundary="=-outer"'),
    ]
    body = (
        "This is a multi-part message in MIME format.\n"
        "--=-outer\n"
        'Content-Type: multipart/alternative; boundary="=-alt"\n'
        "\n"
        "--=-alt\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Grüße, Bob — the report is attached.\n"
        + LONG_LINE + "\n"
        ".a line that starts with a dot\n"
        ".\n"
        "The line above is a single dot.\n"
        "--=-alt\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        + qp_html + "\n"
        "--=-alt--\n"
        "\n"
        "--=-outer\n"
        'Content-Type: application/octet-stream; name="report.bin"\n'
        'Content-Disposition: attachment; filename="report.bin"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
        + b64 +
        "--=-outer--\n")
    return headers, body


def header_fields(raw):
    """The header section's fields as (name, value) with folding kept,
    and the body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, "no empty line after the header section"
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            name, value = fields[-1]
            fields[-1] = (name, value + b"\r\n" + line)
        else:
            name, _, value = line.partition(b":")
            fields.append((name, value.lstrip(b" ")))
    return fields, body


def stored(spool_dir, name):
    with open(os.path.join(spool_dir, name), "rb") as f:
        m = json.load(f)
    raw = (m["data"].encode() if "data" in m
           else base64.b64decode(m["data_base64"]))
    return m, raw


def log_lines(daemon, msgid):
    return [l for l in daemon.stderr().splitlines() if (msgid + ":") in l]


def submit_direct(relay):
    """Puts a small message into the backend's queue over SMTP (the
    failure paths are about the delivering side)."""
    import smtplib
    with smtplib.SMTP("127.0.0.1", relay.smtp_port, timeout=10) as s:
        s.sendmail(SENDER, [RCPTS[0]],
                   "From: %s\r\nTo: %s\r\nSubject: failure path\r\n\r\n"
                   "body\r\n" % (SENDER, RCPTS[0]))
    ids = spool_messages(relay.spool)
    assert len(ids) == 1
    return ids[0]


# ---------------------------------------------------------------------
# the tests

def test_e2e_mail_arrives_intact_and_without_trace_of_the_backend(tree, daemons):
    relay = Relay(tree, daemons)
    mx = relay.start_destination()
    nm = nullmailer_tree(tree, relay.smtp_port)
    headers, body = application_message()
    message = "".join("%s: %s\n" % h for h in headers) + "\n" + body

    # The application: nullmailer's sendmail, as PHP's mail() runs it.
    r = run(in_namespace(nm, "sendmail", "-i", "-f", SENDER, *RCPTS),
            input=message.encode())
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(os.path.join(nm, "spool", "queue"))) == 1
    # nullmailer-send relays its queue to postoffice.
    sender = daemons(in_namespace(nm, "send"), name="nullmailer-send")
    wait_until(lambda: "Delivery complete, 0 message(s) remain"
               in sender.stderr(),
               what="nullmailer never handed the message to postoffice")
    sender.stop()
    with open(sender.logpath, errors="replace") as f:
        nullmailer_log = f.read()
    assert os.listdir(os.path.join(nm, "spool", "queue")) == []
    [msgid] = spool_messages(relay.spool)

    # PostMan, from cron: over nginx to PostMaster, then msmtp to the MX.
    status, log = relay.postman()
    assert status == 0, log
    assert "%s: to=<%s>, relay=sendmail" % (msgid, RCPTS[0]) in log
    assert "delivered=1 deferred=0 bounced=0" in log
    assert spool_messages(relay.spool) == []
    assert relay.area(".leased") == relay.area(".dead") == []

    # One id through nullmailer's and the three daemons' logs.
    assert "smtp: Succeeded: 250 2.0.0 Ok: queued as %s" % msgid \
        in nullmailer_log
    assert any("from=<%s>" % SENDER in l and "nrcpt=2" in l
               for l in log_lines(relay.postoffice, msgid))
    wait_until(lambda: any("status=sent" in l and "client=unix" in l
                           for l in log_lines(relay.postmaster, msgid)),
               what="postmaster logged no status=sent for " + msgid)
    assert any("status=leased" in l for l in log_lines(relay.postmaster, msgid))
    assert len([l for l in log.splitlines()
                if l.startswith("postman[") and msgid + ": to=" in l
                and "status=sent" in l]) == 2
    leased = re.compile(r"^127\.0\.0\.1 %s \"POST /postoffice/lease\S* "
                        r"HTTP/1\.1\" 200 upstream=unix:" % USER, re.M)
    wait_until(lambda: leased.search(relay.access_log()),
               what="nginx logged no lease passed to postmaster")

    # What the destination MX received.
    [got] = spool_messages(relay.dest_spool)
    meta, raw = stored(relay.dest_spool, got)
    assert meta["mail_from"] == SENDER
    assert meta["rcpt_tos"] == RCPTS
    fields, got_body = header_fields(raw)

    # The body, byte for byte: LF became CRLF on the wire, nothing else.
    assert got_body == body.replace("\n", "\r\n").encode()

    # Every header as sent, in order, but for the scrubbed trace fields;
    # nullmailer added Date and Message-Id after them, and postoffice
    # rewrote the Message-Id that named the backend.
    sent = [(n.encode(), v.encode()) for n, v in headers
            if n.lower() not in SCRUBBED]
    assert fields[:len(sent)] == sent
    extra = dict((n.lower(), v) for n, v in fields[len(sent):])
    assert sorted(extra) == [b"date", b"message-id"], fields
    # (into a digest of nullmailer's id: doc/postoffice.md)
    assert re.fullmatch(rb"<[0-9a-f]{32}@example\.org>", extra[b"message-id"])
    assert re.fullmatch(rb"\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [-+]\d{4}",
                        extra[b"date"]), extra[b"date"]

    # What a mail reader makes of it.
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]) == SUBJECT
    assert meta["subject"] == SUBJECT
    lines = msg.get_body(("plain",)).get_content().splitlines()
    assert lines == ["Grüße, Bob — the report is attached.", LONG_LINE,
                     ".a line that starts with a dot", ".",
                     "The line above is a single dot."]
    assert len(lines[1]) == 5000
    assert msg.get_body(("html",)).get_content().rstrip("\r\n") == HTML
    [att] = list(msg.iter_attachments())
    assert att.get_filename() == "report.bin"
    assert att.get_content() == ATTACHMENT

    # No trace of the backend: its name, its address, its mailer, the
    # machine's own host name.
    for trace in (BACKEND.encode(), BACKEND_ADDR.encode(), b"127.0.0.1",
                  b"nullmailer", b"invoked by uid"):
        assert trace not in raw, trace
    host = socket.gethostname().split(".")[0].encode()
    head = raw.partition(b"\r\n\r\n")[0]
    assert not re.search(rb"(?i)(?<![\w-])" + re.escape(host) + rb"(?![\w-])",
                         head), (host, head)
    mx.stop()


def test_e2e_nginx_refuses_a_wrong_password_with_401(tree, daemons):
    relay = Relay(tree, daemons)
    msgid = submit_direct(relay)
    wrong = os.path.join(tree, "wrong.password")
    with open(wrong, "w") as f:
        f.write("not-the-password\n")
    status, log = relay.postman(password_file=wrong)
    assert status == 77, log                # EX_NOPERM
    assert "401" in log
    # nginx answered itself: PostMaster never saw the request.  (nginx
    # writes the line after the response, so it may come a moment late.)
    refused = re.compile(r'"POST /postoffice/lease\S* HTTP/1\.1" 401 upstream=-$',
                         re.M)
    wait_until(lambda: refused.search(relay.access_log()),
               what="no 401 in nginx's access log")
    assert "upstream=unix" not in relay.access_log()
    # Nothing leased, nothing moved.
    assert spool_messages(relay.spool) == [msgid]
    assert relay.area(".leased") == []
    assert log_lines(relay.postmaster, msgid) == []


def test_e2e_nginx_denies_other_addresses_with_403(tree, daemons):
    relay = Relay(tree, daemons)
    ctx = ssl.create_default_context(cafile=relay.cert)
    auth = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    results = {}
    for source in ("127.0.0.1", "127.0.0.2"):
        c = http.client.HTTPSConnection("localhost", relay.https_port,
                                        context=ctx, timeout=10,
                                        source_address=(source, 0))
        c.request("GET", "/postoffice/healthz",
                  headers={"Authorization": "Basic " + auth})
        results[source] = c.getresponse().status
        c.close()
    assert results == {"127.0.0.1": 200, "127.0.0.2": 403}


def test_e2e_postman_refuses_a_certificate_it_cannot_verify(tree, daemons):
    relay = Relay(tree, daemons)
    msgid = submit_direct(relay)
    other_cert, _ = make_certificate(relay.mkdir("other"))
    relay.cert, real = other_cert, relay.cert
    status, log = relay.postman()
    relay.cert = real
    assert status == 69, log                # EX_UNAVAILABLE
    assert spool_messages(relay.spool) == [msgid]
    assert relay.access_log() == ""         # no request got through


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_e2e_destination_4xx_defers_and_the_next_run_delivers(tree, daemons, stage):
    relay = Relay(tree, daemons)
    msgid = submit_direct(relay)
    responder = relay.start_responder(stage, "451 4.3.0 Error: try again later")
    status, log = relay.postman()
    assert status == 0, log
    assert "delivered=0 deferred=1 bounced=0" in log
    assert "%s: to=<%s>, relay=sendmail" % (msgid, RCPTS[0]) in log
    assert "status=deferred" in log
    deferred = relay.area(".deferred")
    assert len(deferred) == 1 and deferred[0].startswith(msgid + ".")
    meta, _ = stored(os.path.join(relay.spool, ".deferred"), deferred[0])
    assert meta["attempts"] == 1
    assert relay.area(".dead") == []
    responder.stop()

    # The destination recovers; the message is back in the queue after
    # --retry-min and the next run delivers it.
    relay.start_destination()
    wait_until(lambda: spool_messages(relay.spool) == [msgid], timeout=20,
               what="the deferred message never returned to the queue")
    status, log = relay.postman()
    assert status == 0, log
    assert "delivered=1 deferred=0 bounced=0" in log
    [got] = spool_messages(relay.dest_spool)
    meta, raw = stored(relay.dest_spool, got)
    assert meta["rcpt_tos"] == [RCPTS[0]]
    assert b"Subject: failure path\r\n" in raw
    assert spool_messages(relay.spool) == [] and relay.area(".deferred") == []


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_e2e_destination_5xx_makes_a_dead_letter(tree, daemons, stage):
    relay = Relay(tree, daemons)
    msgid = submit_direct(relay)
    relay.start_responder(stage, "550 5.1.1 <%s>: Recipient address "
                                 "rejected: User unknown" % RCPTS[0])
    status, log = relay.postman()
    assert status == 0, log
    assert "delivered=0 deferred=0 bounced=1" in log
    assert "status=bounced" in log
    assert relay.area(".dead") == [msgid]
    meta, _ = stored(os.path.join(relay.spool, ".dead"), msgid)
    assert "550 5.1.1" in meta["last_error"]
    assert spool_messages(relay.spool) == [] and relay.area(".leased") == []
    wait_until(lambda: any("status=bounced" in l
                           for l in log_lines(relay.postmaster, msgid)),
               what="postmaster logged no status=bounced")


def test_e2e_nginx_with_client_certificates_lets_only_its_own_ca_through(tree, daemons):
    """doc/deployment.md's recommended setup: nginx verifies PostMan's
    certificate against a private CA (ssl_verify_client on), beside the
    password.  Without a certificate, and with one from another CA, nginx
    answers 400 itself; with the CA's own, the mail goes through."""
    certs = os.path.join(tree, "certs")
    os.makedirs(certs)
    ca = make_ca(certs, "relay")
    good = make_client_certificate(certs, ca, "postman")
    stranger = make_client_certificate(certs, make_ca(certs, "other"), "stranger")
    relay = Relay(tree, daemons, client_ca=ca[0])
    relay.start_destination()
    msgid = submit_direct(relay)
    refused = re.compile(r'"POST /postoffice/lease\S* HTTP/1\.1" 400 upstream=-$', re.M)

    status, log = relay.postman()
    assert status == 77, log                # EX_NOPERM
    assert ("lease: HTTP 400 from the server in front of PostMaster (No "
            "required SSL certificate was sent): it asks for a client "
            "certificate (--cert, --key)") in log
    wait_until(lambda: len(refused.findall(relay.access_log())) == 1,
               what="no 400 in nginx's access log")

    status, log = relay.postman(extra=["--cert", stranger[0], "--key", stranger[1]])
    assert status == 77, log
    assert ("lease: HTTP 400 from the server in front of PostMaster (The SSL "
            "certificate error): it does not accept the client certificate "
            "--cert") in log
    wait_until(lambda: len(refused.findall(relay.access_log())) == 2,
               what="no second 400 in nginx's access log")
    # PostMaster saw neither request: nothing leased, nothing moved.
    assert "upstream=unix" not in relay.access_log()
    assert spool_messages(relay.spool) == [msgid]
    assert relay.area(".leased") == []

    status, log = relay.postman(extra=["--cert", good[0], "--key", good[1]])
    assert status == 0, log
    assert "delivered=1 deferred=0 bounced=0" in log
    assert spool_messages(relay.spool) == []
    [got] = spool_messages(relay.dest_spool)
    assert b"Subject: failure path\r\n" in stored(relay.dest_spool, got)[1]
