"""Helpers for the PostOffice integration tests: starting the daemon on a
free port and talking raw SMTP to it, byte for byte."""

import json
import os
import socket
import subprocess

from conftest import (TOP, binary, free_port, spool_messages, wait_for_port,
                      wait_settled,
                      wait_until)

HOST = "mx.test"


def start(daemons, spool, *args, port=None, listen=True, wrap=None, env=None):
    """Starts postoffice on 127.0.0.1:PORT with spool; returns (daemon,
    port).  wrap is a list prepended to argv (e.g. a limit setter)."""
    port = port or free_port()
    argv = [binary("postoffice"), "-s", spool, "--hostname", HOST]
    if listen:
        argv += ["-l", "127.0.0.1:%d" % port]
    argv += list(args)
    d = daemons((wrap or []) + argv, name="postoffice", env=env)
    wait_for_port(port, d.proc)
    return d, port


class Client:
    """A raw SMTP client: send() bytes as they are, reply() reads one
    (possibly multi-line) reply."""

    def __init__(self, port, host="127.0.0.1", family=socket.AF_INET,
                 source=None, timeout=10.0):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l.decode("utf-8", "replace")

    def reply(self):
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def cmd(self, data):
        self.send(data if isinstance(data, bytes) else data + "\r\n")
        return self.reply()

    def closed(self, timeout=5.0):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def greet(port, **kw):
    c = Client(port, **kw)
    g = c.reply()
    assert g.startswith("220 %s ESMTP" % HOST), g
    assert c.cmd("EHLO client.test").startswith("250-%s" % HOST)
    return c


def envelope(c, sender="a@b.example", rcpts=("c@d.example",)):
    assert c.cmd("MAIL FROM:<%s>" % sender) == "250 2.1.0 Ok"
    for r in rcpts:
        assert c.cmd("RCPT TO:<%s>" % r) == "250 2.1.5 Ok"


def queued_id(reply):
    assert reply.startswith("250 2.0.0 Ok: queued as "), reply
    qid = reply.rsplit(" ", 1)[1]
    assert len(qid) == 32
    return qid


def send_message(port, data, sender="a@b.example", rcpts=("c@d.example",)):
    """One whole transaction with raw, already dot-stuffed data (without
    the final dot); returns the reply to the final dot."""
    with greet(port) as c:
        envelope(c, sender, rcpts)
        assert c.cmd("DATA").startswith("354 ")
        c.send(data + b".\r\n")
        r = c.reply()
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
        return r


def load(spool, qid):
    wait_settled(spool)
    with open(os.path.join(spool, qid), "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def raw_data(obj):
    import base64
    if "data_base64" in obj:
        assert "data" not in obj
        return base64.b64decode(obj["data_base64"])
    return obj["data"].encode("utf-8")


def only_message(spool):
    names = spool_messages(spool)
    assert len(names) == 1, names
    return names[0], load(spool, names[0])


def tmp_files(spool):
    return os.listdir(os.path.join(spool, ".tmp"))


def postfix_tools():
    """Directory with Debian's postfix unpacked (tools/postfix-tools.sh),
    made on first use."""
    build = os.environ.get("BUILD", "build")
    d = os.path.join(TOP, build, "postfix-tools")
    if not os.path.exists(os.path.join(d, "usr/sbin/smtp-source")):
        subprocess.run([os.path.join(TOP, "tools/postfix-tools.sh"), d],
                       check=True, timeout=300)
    return d



# The application id PostOffice hashes this machine's id with for the key
# of rewritten identifiers (postoffice/server.c, MSGID_APP_ID).
MSGID_APP_ID = bytes.fromhex("eac40dda8b39496185901cd365650838")


def msgid_key():
    """The digest key PostOffice uses on this machine: what systemd's
    sd_id128_get_machine_app_specific() gives (HMAC-SHA256 of the app id
    keyed with the machine id, marked as a version 4 UUID), in hex; None
    without a machine id (PostOffice then draws a random key)."""
    import hashlib
    import hmac
    try:
        with open("/etc/machine-id") as f:
            machine = bytes.fromhex(f.read().strip())
    except (OSError, ValueError):
        return None
    b = bytearray(hmac.new(machine, MSGID_APP_ID, hashlib.sha256).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return b.hex()


def new_id(old, domain):
    """What an identifier that names the backend becomes (scrub.h):
    old without its angle brackets, the result likewise."""
    import hashlib
    import hmac
    if isinstance(old, str):
        old = old.encode()
    key = msgid_key()
    if key is None:
        import pytest
        pytest.skip("no /etc/machine-id: PostOffice digests identifiers with "
                    "a random key, so the new ones cannot be foretold")
    digest = hmac.new(key.encode(), old, hashlib.sha256).hexdigest()[:32]
    return ("%s@%s" % (digest, domain)).encode()
