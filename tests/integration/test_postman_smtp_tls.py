"""--smtp with --starttls and AUTH, against aiosmtpd: the password crosses
only a verified TLS connection; every way that connection can fail defers
the message (it is no verdict on the message) with a reason that says
what went wrong, and nothing reaches the server in clear."""

import os
import ssl
import subprocess
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import free_port
from postman_fakes import lease, log_lines, message, message_id, run_postman

EX_USAGE, EX_CONFIG = 64, 78
SMTP_USER, SMTP_PASSWORD = "relay", "s3cret smtp"


def make_certificate(d, name, san):
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=" + san.split(":")[1], "-addext",
                        "subjectAltName=" + san, "-keyout", key, "-out", cert],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return cert, key


class Handler:
    def __init__(self):
        self.got = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.got.append({"tls": session.ssl is not None,
                             "user": (session.authenticated and
                                      getattr(session.auth_data, "login", None)),
                             "from": envelope.mail_from,
                             "to": envelope.rcpt_tos,
                             "data": envelope.original_content})
        return "250 2.0.0 Ok: queued"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and
          auth_data.login == SMTP_USER.encode() and
          auth_data.password == SMTP_PASSWORD.encode())
    # handled=False: aiosmtpd answers 535 itself
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class Server:
    """An SMTP server on 127.0.0.1 that, with a certificate, offers
    STARTTLS and requires it and AUTH before any mail."""

    def __init__(self, cert=None):
        self.handler = Handler()
        self.port = free_port()
        kw = {}
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*cert)
            kw = dict(tls_context=ctx, require_starttls=True,
                      authenticator=authenticate, auth_required=True,
                      auth_require_tls=True)
        self.controller = Controller(self.handler, hostname="127.0.0.1",
                                     port=self.port, **kw)
        self.controller.start()

    @property
    def got(self):
        with self.handler.lock:
            return list(self.handler.got)

    def stop(self):
        self.controller.stop()


@pytest.fixture
def servers():
    started = []

    def start(cert=None):
        started.append(Server(cert))
        return started[-1]

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def certs(tree):
    return {"localhost": make_certificate(tree, "localhost", "DNS:localhost"),
            "other": make_certificate(tree, "other", "DNS:other.example")}


@pytest.fixture
def password_file(tree):
    p = os.path.join(tree, "smtp.password")
    with open(p, "w") as f:
        f.write(SMTP_PASSWORD + "\n")
    return p


def deliver(pm, tree, port, *args):
    pm.queue(lease([message(1)]))
    return run_postman(["--smtp", "localhost:%d" % port, "--smtp-timeout", "10",
                        *args, pm.url], tree)


def deferred_lines(port, reason):
    return ["%s: to=<rcpt@example.net>, relay=localhost:%d, delay=D, "
            "status=deferred (%s)" % (message_id(1), port, reason),
            "delivered=0 deferred=1 bounced=0"]


def fails(reason):
    return [(message_id(1), {"permanent": False,
                             "reason": "<rcpt@example.net>: " + reason})]


def recorded_fails(pm):
    return [(i, f) for i, _, f in pm.fails]


def assert_deferred(pm, srv, rc, log, reason):
    """The run went well; its message was deferred for reason, the server
    got nothing and PostMaster was told it is temporary."""
    assert rc == 0, log
    assert pm.acks == [] and srv.got == []
    assert recorded_fails(pm) == fails(reason)
    assert log_lines(log) == deferred_lines(srv.port, reason)


def test_starttls_and_auth_deliver_over_a_verified_connection(
        pm, tree, servers, certs, password_file):
    srv = servers(certs["localhost"])
    rc, log = deliver(pm, tree, srv.port, "--starttls", "--smtp-cacert",
                      certs["localhost"][0], "--smtp-user", SMTP_USER,
                      "--smtp-password-file", password_file)
    assert rc == 0, log
    assert pm.acks == [message_id(1)]
    assert pm.fails == []
    [got] = srv.got
    assert (got["tls"], got["user"], got["from"], got["to"]) == (
        True, SMTP_USER.encode(), "sender@example.org", ["rcpt@example.net"])
    # as sent, but for the Date and Message-Id libESMTP adds when missing
    added = [l for l in got["data"].split(b"\r\n")
             if l.startswith((b"Date: ", b"Message-Id: "))]
    assert len(added) == 2
    assert got["data"].replace(b"\r\n".join(added) + b"\r\n", b"") == (
        message(1)["data"].encode())
    assert log_lines(log) == [
        "%s: to=<rcpt@example.net>, relay=localhost:%d, delay=D, "
        "status=sent (250 2.0.0 Ok: queued)" % (message_id(1), srv.port),
        "delivered=1 deferred=0 bounced=0"]


def test_a_refused_password_defers_instead_of_bouncing(
        pm, tree, servers, certs):
    """The server refuses AUTH (535), libESMTP goes on without it and the
    server then refuses MAIL with 530: the message must wait for the right
    password, not go to the dead letters."""
    srv = servers(certs["localhost"])
    wrong = os.path.join(tree, "wrong")
    with open(wrong, "w") as f:
        f.write("not it\n")
    rc, log = deliver(pm, tree, srv.port, "--starttls", "--smtp-cacert",
                      certs["localhost"][0], "--smtp-user", SMTP_USER,
                      "--smtp-password-file", wrong)
    reason = ("localhost:%d refused AUTH: 535 5.7.8 Authentication "
              "credentials invalid" % srv.port)
    assert_deferred(pm, srv, rc, log, reason)


def test_an_unverifiable_certificate_defers_and_sends_nothing(
        pm, tree, servers, certs, password_file):
    """Without --smtp-cacert the system's CAs decide; a self-signed
    certificate is not among them."""
    srv = servers(certs["localhost"])
    rc, log = deliver(pm, tree, srv.port, "--starttls", "--smtp-user",
                      SMTP_USER, "--smtp-password-file", password_file)
    reason = ("STARTTLS: localhost:%d's certificate cannot be verified: "
              "self-signed certificate" % srv.port)
    assert_deferred(pm, srv, rc, log, reason)


def test_a_certificate_for_another_name_defers(pm, tree, servers, certs,
                                               password_file):
    srv = servers(certs["other"])
    rc, log = deliver(pm, tree, srv.port, "--starttls", "--smtp-cacert",
                      certs["other"][0], "--smtp-user", SMTP_USER,
                      "--smtp-password-file", password_file)
    reason = ("STARTTLS: localhost:%d's certificate is for another name"
              % srv.port)
    assert_deferred(pm, srv, rc, log, reason)


def test_a_server_without_starttls_gets_nothing_in_clear(pm, tree, servers):
    srv = servers()
    rc, log = deliver(pm, tree, srv.port, "--starttls")
    reason = ("localhost:%d does not offer STARTTLS, which --starttls "
              "requires" % srv.port)
    assert_deferred(pm, srv, rc, log, reason)


@pytest.mark.parametrize("args,error", [
    (["--smtp-user", "u"],
     "--smtp-user needs --starttls: the password must not cross the network "
     "in clear"),
    (["--smtp-cacert", "/etc/ssl/certs/ca-certificates.crt"],
     "--smtp-cacert needs --starttls"),
])
def test_tls_options_that_cannot_work_are_refused(pm, tree, args, error):
    rc, log = run_postman(["--smtp", "localhost:25", *args, pm.url], tree)
    assert rc == EX_USAGE
    assert log == "postman: %s (see --help)\n" % error
    assert pm.requests == []


def test_an_unusable_ca_file_stops_the_run_before_any_lease(pm, tree):
    bad = os.path.join(tree, "not-a-certificate.pem")
    with open(bad, "w") as f:
        f.write("hello\n")
    for path, why in ((bad, "no CA certificate could be read: no certificate "
                            "or crl found"),
                      (os.path.join(tree, "missing.pem"),
                       "No such file or directory")):
        rc, log = run_postman(["--smtp", "localhost:25", "--starttls",
                               "--smtp-cacert", path, pm.url], tree)
        assert rc == EX_CONFIG
        assert log_lines(log) == ["smtp: %s: %s" % (path, why)]
    assert pm.requests == []
