"""PostMan's --maildir delivery against the real PostMaster, on a spool
filled by the real PostOffice: each message lands once in new/, as it was
received with Return-Path and Delivered-To in front and LF line ends,
nothing stays in tmp/, Python's Maildir reader opens the result, and a
Maildir that cannot be written defers the message, which comes back."""

import base64
import mailbox
import os
import re
import stat
import time

import pytest

from conftest import binary, free_port, spool_messages
from postman_fakes import log_lines, run_postman
from test_postman_real import Relay, mail

EX_USAGE, EX_CONFIG = 64, 78
NOBODY = 65534
SENT = re.compile(r"^([0-9a-f]{32}): to=<([^>]*)>, relay=maildir, delay=D, "
                  r"status=sent \(delivered to maildir as new/([^)]+)\)$")

pytestmark = pytest.mark.skipif(
    not (os.path.exists(binary("postmaster")) and os.path.exists(binary("postoffice"))),
    reason="postmaster and postoffice are not built")


def raw(obj):
    if "data" in obj:
        return obj["data"].encode()
    return base64.b64decode(obj["data_base64"])


def stored(obj):
    """What the Maildir file must hold for a spool object."""
    head = "Return-Path: <%s>\n" % obj["mail_from"]
    head += "".join("Delivered-To: %s\n" % r for r in obj["rcpt_tos"])
    return head.encode() + raw(obj).replace(b"\r\n", b"\n")


def names(d):
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def latin1_mail():
    """8-bit ISO-8859-1 text: not UTF-8, so the spool holds data_base64."""
    return (b"From: <ann@example.org>\r\nTo: <bob@example.net>\r\n"
            b"Date: Tue, 25 Nov 2026 15:00:00 +0000\r\nMessage-ID: <latin@example.org>\r\n"
            b"Subject: latin-1\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=iso-8859-1\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n"
            b"caf\xe9 cr\xe8me\r\n\r\nend\r\n")


def test_each_message_lands_once_in_new_as_received_with_envelope_headers(daemons, tree):
    relay = Relay(daemons, tree)
    spooled = relay.send([("ann@example.org", ["bob@example.net", "carl@example.net"],
                           mail(1)),
                          ("", ["postmaster@example.net"], mail(2, mail_from="")),
                          ("ann@example.org", ["bob@example.net"], latin1_mail())])
    assert sum("data_base64" in o for o in spooled.values()) == 1
    md = os.path.join(tree, "Maildir")
    rc, log = run_postman(["--maildir", md, relay.url], tree)
    assert rc == 0, log
    lines = log_lines(log)
    assert lines[-1] == "delivered=3 deferred=0 bounced=0"
    files = {}
    for line in lines[:-1]:
        m = SENT.match(line)
        assert m, line
        files.setdefault(m.group(1), set()).add(m.group(3))
    # one line per recipient, one file per message
    assert len(lines) == 1 + 4
    assert sorted(files) == sorted(spooled)
    assert all(len(v) == 1 for v in files.values())
    by_file = {v.pop(): mid for mid, v in files.items()}
    assert names(os.path.join(md, "new")) == sorted(by_file)
    assert names(os.path.join(md, "tmp")) == []
    assert names(os.path.join(md, "cur")) == []
    for name, mid in by_file.items():
        assert re.fullmatch(r"\d+\.M\d{6}P\d+Q\d+\.[^/:]+", name), name
        with open(os.path.join(md, "new", name), "rb") as f:
            assert f.read() == stored(spooled[mid])
        assert stat.S_IMODE(os.stat(os.path.join(md, "new", name)).st_mode) & 0o077 == 0
    # acknowledged: nothing left anywhere in PostMaster's spool
    assert spool_messages(relay.spool) == []
    assert relay.area(".leased") == [] and relay.area(".deferred") == []
    assert relay.area(".dead") == []


def test_python_maildir_reader_sees_every_message_with_its_envelope(daemons, tree):
    relay = Relay(daemons, tree)
    relay.send([("ann@example.org", ["bob@example.net", "carl@example.net"], mail(1)),
                ("", ["postmaster@example.net"], mail(2, mail_from="")),
                ("ann@example.org", ["bob@example.net"], latin1_mail())])
    md = os.path.join(tree, "Maildir")
    rc, log = run_postman(["--maildir", md, relay.url], tree)
    assert rc == 0, log
    box = mailbox.Maildir(md, factory=None, create=False)
    got = sorted(((m["Subject"], m["Return-Path"], m.get_all("Delivered-To"),
                   m.get_subdir(), m.get_flags(), m.get_payload(decode=True))
                  for m in box), key=lambda t: t[0])
    assert got == [
        ("latin-1", "<ann@example.org>", ["bob@example.net"], "new", "",
         b"caf\xe9 cr\xe8me\n\nend\n"),
        ("message 1", "<ann@example.org>", ["bob@example.net", "carl@example.net"],
         "new", "", "number 1 \u00e9t\u00e9\n.\n..two dots\n".encode()),
        ("message 2", "<>", ["postmaster@example.net"], "new", "",
         "number 2 \u00e9t\u00e9\n.\n..two dots\n".encode()),
    ]


def test_missing_maildir_is_created_with_tmp_new_cur_private(daemons, tree):
    relay = Relay(daemons, tree)
    relay.send([("ann@example.org", ["bob@example.net"], mail(1))])
    md = os.path.join(tree, "Maildir")
    rc, log = run_postman(["--maildir", md, relay.url], tree)
    assert rc == 0, log
    for d in (md, os.path.join(md, "tmp"), os.path.join(md, "new"), os.path.join(md, "cur")):
        st = os.stat(d)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700, d
    assert len(names(os.path.join(md, "new"))) == 1


def test_maildir_whose_parent_is_missing_is_exit_78_with_one_line(tree):
    md = os.path.join(tree, "no", "Maildir")
    rc, log = run_postman(["--maildir", md, "http://127.0.0.1:%d" % free_port()], tree)
    assert rc == EX_CONFIG
    assert log_lines(log) == ["maildir: cannot create %s: No such file or directory" % md]


def test_maildir_where_a_file_is_is_exit_78(tree):
    md = os.path.join(tree, "Maildir")
    os.mkdir(md)
    open(os.path.join(md, "new"), "w").close()
    rc, log = run_postman(["--maildir", md, "http://127.0.0.1:%d" % free_port()], tree)
    assert rc == EX_CONFIG
    assert log_lines(log) == ["maildir: %s/new: not a directory" % md]


def run_postman_unprivileged(args, tree):
    """Runs postman as nobody when we are root (root writes anywhere), so
    that a Maildir owned by root is one it cannot write."""
    lockdir = os.path.join(tree, "lockdir")
    os.makedirs(lockdir, exist_ok=True)
    os.chmod(lockdir, 0o777)
    os.chmod(tree, 0o711)
    return run_postman(["--lock", os.path.join(lockdir, "pm.lock")] + args, tree,
                       user=NOBODY if os.geteuid() == 0 else None, logdir=lockdir)


def test_unwritable_maildir_defers_and_the_message_comes_back(daemons, tree):
    # --retry-min 4: the message cannot come back within the first run,
    # however slow that run is (valgrind).
    relay = Relay(daemons, tree, postmaster_args=["--retry-min", "4"])
    [(mid, obj)] = relay.send([("ann@example.org", ["bob@example.net"], mail(1))]).items()
    md = os.path.join(tree, "Maildir")
    for d in (md, os.path.join(md, "tmp"), os.path.join(md, "new"), os.path.join(md, "cur")):
        os.mkdir(d)
        os.chmod(d, 0o755)
    if os.geteuid() != 0:
        os.chmod(os.path.join(md, "tmp"), 0o555)
    rc, log = run_postman_unprivileged(["--maildir", md, relay.url], tree)
    assert rc == 0, log
    lines = log_lines(log)
    assert re.fullmatch(r"%s: to=<bob@example.net>, relay=maildir, delay=D, "
                        r"status=deferred \(maildir: cannot create tmp/\S+: "
                        r"Permission denied\)" % mid, lines[0]), lines
    assert lines[-1] == "delivered=0 deferred=1 bounced=0"
    assert names(os.path.join(md, "tmp")) == [] and names(os.path.join(md, "new")) == []
    # still PostMaster's, waiting for its retry
    assert [n.split(".")[0] for n in relay.area(".deferred")] == [mid]

    # The Maildir is fixed; the message comes back after --retry-min.
    os.chmod(os.path.join(md, "tmp"), 0o700)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rc, log = run_postman(["--maildir", md, relay.url], tree)
        assert rc == 0, log
        if log_lines(log)[-1] == "delivered=1 deferred=0 bounced=0":
            break
        time.sleep(0.2)
    [name] = names(os.path.join(md, "new"))
    with open(os.path.join(md, "new", name), "rb") as f:
        assert f.read() == stored(obj)
    assert names(os.path.join(md, "tmp")) == []
    assert spool_messages(relay.spool) == [] and relay.area(".deferred") == []
    assert relay.area(".dead") == []


@pytest.mark.parametrize("args,message", [
    (["--maildir", "/tmp/x", "--sendmail", "/bin/true", "x"],
     "--maildir and --sendmail exclude each other"),
    (["--sendmail", "/bin/true", "--maildir", "/tmp/x", "x"],
     "--maildir and --sendmail exclude each other"),
    (["--maildir", "/tmp/x", "--smtp", "h", "x"], "--maildir and --smtp exclude each other"),
    (["--maildir", "", "x"], "--maildir: expected a directory, not ''"),
    (["--maildir", "/tmp/x", "--starttls", "x"], "SMTP options need --smtp"),
    (["--maildir"], "option --maildir needs a value"),
])
def test_bad_maildir_command_line_is_one_line_and_ex_usage(tree, args, message):
    rc, log = run_postman(args, tree)
    assert rc == EX_USAGE
    assert log == "postman: %s (see --help)\n" % message
