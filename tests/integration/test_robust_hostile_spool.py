"""A spool full of hostile files, end to end: the real PostMaster serves
it and the real PostMan (cron mode, the recording sendmail) delivers it,
twice.  Whatever a file holds or is, it fails alone (issue 10, "No
message, file or client can stop the relay"):

  * a message the spool rule accepts (common/message.c, "the rule") is
    delivered exactly once, its bytes as stored, a NUL in data included;
  * a file that breaks the rule, or is not a regular file, is moved to
    .quarantine/ by PostMaster with the rule's reason logged;
  * a message whose envelope PostMan refuses, or that is larger than
    PostMan takes in one response, is a dead letter in .dead/ with its
    reason in last_error and in PostMaster's log;
  * nothing is left queued or leased, and PostMan exits 0 both times.

Under root, PostMaster runs as nobody, the spool's owner, so that a file
it may not read (root's, mode 000) can be among the rest."""

import base64
import collections
import json
import os
import pwd
import stat
import uuid

import pytest

from conftest import binary, spool_messages
from postmaster_helpers import new_id, start_postmaster, write_message
from postman_fakes import run_postman, sendmail_records
from robust_util import record_figures

pytestmark = pytest.mark.skipif(
    not (os.path.exists(binary("postmaster")) and os.path.exists(binary("postman"))),
    reason="postmaster and postman are not built")

# PostMan's --max-response in these runs: the 2 MB subject fits, the
# 5 MB message does not (PostMaster dead-letters it, see max_bytes).
MAX_RESPONSE = 4 * 1024 * 1024
NOBODY = "nobody"


# --- what the generator writes -----------------------------------------------

def mail(kind, extra=b""):
    """Raw message bytes carrying the kind's name, so that each is unique."""
    return (b"From: app@example.com\r\nTo: you@example.net\r\nSubject: " +
            kind.encode() + b"\r\n\r\nThe " + kind.encode() + b" message.\r\n" +
            extra)


def postoffice_object(mid, raw, **fields):
    """A spool object as PostOffice writes it: data when the bytes are
    UTF-8 without NUL, else data_base64 (common/message.h); fields
    replace members."""
    obj = {"id": mid, "mail_from": "app@example.com",
           "rcpt_tos": ["you@example.net"], "subject": "test",
           "body": "The message.", "timestamp": "2026-11-25T15:27:30.123Z",
           "client": "127.0.0.1", "size": len(raw), "attempts": 0}
    try:
        text = raw.decode("utf-8")
        if "\0" in text:
            raise ValueError
        obj["data"] = text
    except ValueError:
        obj["data_base64"] = base64.b64encode(raw).decode()
    if "data" in fields:
        obj.pop("data_base64", None)
    obj.update(fields)
    return obj


def original_object(raw, **fields):
    """A message as the original PostOffice's smtpd.py wrote it (see
    bench/original_smtpd.py): no id, size or attempts."""
    obj = {"mail_from": "app@example.com", "rcpt_tos": ["you@example.net"],
           "subject": "test", "body": "The message.",
           "data": raw.decode("utf-8"),
           "timestamp": "2026-11-25T15:27:30.123456"}
    obj.update(fields)
    return obj


def original_file(obj):
    """The bytes the original's json.dump(message, f) wrote: ASCII, every
    other character (NUL included) a \\u escape."""
    return json.dumps(obj).encode("ascii")


def own(mid, **fields):
    return json.dumps(postoffice_object(mid, mail(mid), **fields)).encode()


class Spec:
    """One file of the hostile spool: its kind, the outcome it must have
    ("delivered", "quarantined" or "dead"), the reason logged for it, and
    for a delivered one the bytes sendmail must receive."""

    def __init__(self, kind, outcome, reason=None, data=None):
        self.kind, self.outcome, self.reason, self.data = kind, outcome, reason, data
        self.name = None


def write_file(spool, name, raw):
    write_message(spool, mid=name, raw=raw)


def good_files():
    """(Spec, writer) for every message the rule accepts."""
    out = []

    def own_format(kind, raw, **fields):
        def w(spool, mid):
            write_file(spool, mid, json.dumps(postoffice_object(mid, raw, **fields)).encode())
        out.append((Spec(kind, "delivered", data=raw), w, None))

    def original_format(kind, raw, **fields):
        def w(spool, mid):
            write_file(spool, mid, original_file(original_object(raw, **fields)))
        # The original named its files by uuid4().hex: 32 lowercase hex
        # digits, a spool id as far as the spool is concerned, served
        # with that name as its id.
        out.append((Spec(kind, "delivered", data=raw), w, uuid.uuid4().hex))

    own_format("postoffice", mail("postoffice", "Gr\u00fc\u00dfe\r\n".encode()))
    own_format("postoffice-8bit", mail("postoffice-8bit", b"caf\xe9 \x00\xff\r\n"))
    original_format("original", mail("original", "Gr\u00fc\u00dfe \u2603\r\n".encode()))
    original_format("nul-in-data-original", mail("nul-in-data-original", b"a\x00b\r\n"))
    # PostOffice writes such bytes as data_base64; the rule takes a NUL
    # in data as well.
    nul = mail("nul-in-data", b"\x00\x00x\x00\r\n")
    own_format("nul-in-data", nul, data=nul.decode())
    own_format("nul-in-subject", mail("nul-in-subject"), subject="a\0b")
    own_format("nul-in-body", mail("nul-in-body"), body="\0line\0")
    # 2 MB: far under the largest spool file served (LIMIT_SPOOL_FILE)
    # and under MAX_RESPONSE, so a message like any other.
    own_format("big-subject", mail("big-subject"), subject="s" * (2 * 1024 * 1024))
    return out


def bad_files():
    """(Spec, writer) for every file that must end in .quarantine/ or
    .dead/."""
    out = []

    def q(kind, reason, raw_of):
        def w(spool, mid):
            write_file(spool, mid, raw_of(mid))
        out.append((Spec(kind, "quarantined", reason), w, None))

    def obj(mid, **fields):
        o = postoffice_object(mid, mail(mid))
        for k, v in fields.items():
            if v is None:
                del o[k]
            else:
                o[k] = v
        return json.dumps(o).encode()

    q("nul-in-mail-from", '"mail_from" holds a NUL character',
      lambda m: obj(m, mail_from="app\0@example.com"))
    q("nul-in-recipient", '"rcpt_tos" holds a NUL character',
      lambda m: obj(m, rcpt_tos=["you@example.net", "x\0@example.net"]))
    q("invalid-utf8-in-data", "not UTF-8 (RFC 8259 section 8.1)",
      lambda m: own(m).replace(b'"data": "', b'"data": "\xff\xfe'))
    q("mail-from-a-number", '"mail_from" is missing or not a string',
      lambda m: obj(m, mail_from=7))
    q("mail-from-missing", '"mail_from" is missing or not a string',
      lambda m: obj(m, mail_from=None))
    q("rcpt-tos-a-string", '"rcpt_tos" is missing or not a non-empty array',
      lambda m: obj(m, rcpt_tos="you@example.net"))
    q("rcpt-tos-empty", '"rcpt_tos" is missing or not a non-empty array',
      lambda m: obj(m, rcpt_tos=[]))
    q("rcpt-tos-holds-a-number", '"rcpt_tos" holds a non-string',
      lambda m: obj(m, rcpt_tos=["you@example.net", 5]))
    q("data-a-number", '"data" is not a string', lambda m: obj(m, data=12))
    q("data-and-data-base64", 'exactly one of "data" and "data_base64" is required',
      lambda m: obj(m, data_base64="eA=="))
    q("no-data", 'exactly one of "data" and "data_base64" is required',
      lambda m: obj(m, data=None))
    q("data-base64-not-base64", '"data_base64" is not base64',
      lambda m: obj(m, data=None, data_base64="not base64!"))
    q("subject-a-list", '"subject" is not a string', lambda m: obj(m, subject=["a"]))
    q("attempts-a-string", '"attempts" is not a count', lambda m: obj(m, attempts="3"))
    q("id-not-an-id", '"id" is not a spool id', lambda m: obj(m, id="../../etc/passwd"))
    q("id-of-another-file", '"id" differs from the file name',
      lambda m: obj(m, id=new_id()))
    q("an-array", "not a JSON object", lambda m: b"[" + own(m) + b"]")
    q("duplicate-data", '"data" appears twice',
      lambda m: own(m)[:-1] + b', "data": "From: other@example.com\\r\\n\\r\\nx"}')
    q("duplicate-rcpt-tos", '"rcpt_tos" appears twice',
      lambda m: own(m).replace(b'"rcpt_tos"', b'"rcpt_tos": ["evil@example.org"], "rcpt_tos"'))
    q("escaped-member-name", 'the name of "rcpt_tos" is escaped',
      lambda m: own(m).replace(b'"rcpt_tos"', b'"rcpt_\\u0074os"'))
    q("deep-nesting", "not valid JSON",
      lambda m: own(m)[:-1] + b', "x": ' + b"[" * 1000 + b"]" * 1000 + b"}")
    q("bytes-after-the-object", "bytes follow the object", lambda m: own(m) + b"{}")
    q("truncated", "not valid JSON", lambda m: own(m)[:150])
    q("zero-bytes", "not valid JSON", lambda m: b"")
    # The spool's UTF-8 check (common/utf8.h) takes a raw NUL for what
    # it is in a JSON text: never valid.
    q("nul-bytes", "not UTF-8 (RFC 8259 section 8.1)", lambda m: b"\0" * 4096)
    q("raw-control-character", "not valid JSON",
      lambda m: own(m).replace(b"The message.", b"The\x01message."))

    def special(kind, reason, make):
        out.append((Spec(kind, "quarantined", reason), make, None))

    def symlink(spool, mid):
        target = os.path.join(os.path.dirname(spool), "elsewhere")
        with open(target, "wb") as f:
            f.write(own(mid))
        os.symlink(target, os.path.join(spool, mid))

    special("symbolic-link", "a symbolic link", symlink)
    special("fifo", "not a regular file",
            lambda spool, mid: os.mkfifo(os.path.join(spool, mid), 0o600))
    special("folder", "not a regular file",
            lambda spool, mid: os.mkdir(os.path.join(spool, mid)))

    def dead(kind, reason, raw_of):
        def w(spool, mid):
            write_file(spool, mid, raw_of(mid))
        out.append((Spec(kind, "dead", reason), w, None))

    dead("sender-starts-with-dash",
         "invalid sender <-oQ/tmp/x@example.org>: address starts with '-'",
         lambda m: own(m, mail_from="-oQ/tmp/x@example.org"))
    # Its reason names its file's size: filled in once written.
    dead("over-max-response", None,
         lambda m: own(m, data=mail(m, b"z" * (5 * 1024 * 1024)).decode()))
    return out


def unreadable_file():
    def w(spool, mid):
        write_file(spool, mid, own(mid))
        os.chmod(os.path.join(spool, mid), 0)
    return Spec("unreadable", "quarantined", "cannot be read: Permission denied"), w, None


def build_spool(spool, entries):
    """Writes every entry, good and bad interleaved in id order; returns
    the specs with their file names."""
    specs = []
    for spec, writer, name in entries:
        spec.name = name or new_id()
        writer(spool, spec.name)
        if spec.kind == "over-max-response":
            size = os.path.getsize(os.path.join(spool, spec.name))
            spec.reason = ("message of %d bytes is larger than the %d the client "
                           "takes in one response (max_bytes)" % (size, MAX_RESPONSE))
        specs.append(spec)
    return specs


def interleave(good, bad):
    out = []
    for i in range(max(len(good), len(bad))):
        out += good[i:i + 1] + bad[i:i + 1]
    return out


def hand_to(user, tree, spool, keep=()):
    """Makes the spool user's (but the names in keep), and the tree
    passable, so that PostMaster can run as user."""
    if user is None:
        return
    pw = pwd.getpwnam(user)
    os.chmod(tree, 0o711)
    for root, dirs, files in os.walk(spool):
        for n in [root] + [os.path.join(root, f) for f in dirs + files]:
            if os.path.basename(n) not in keep:
                os.lchown(n, pw.pw_uid, pw.pw_gid)


# --- what became of it ----------------------------------------------------------

def delivered_data(sm):
    return collections.Counter(data for _, data in sendmail_records(sm))


def postmaster_log_line(log, name, status):
    lines = [l for l in log.splitlines() if ": %s: status=%s" % (name, status) in l]
    assert len(lines) == 1, "%s: %d status=%s lines in:\n%s" % (
        name, len(lines), status, log[-4000:])
    return lines[0]


def check_outcomes(spool, log, specs, deliveries):
    quarantine = set(os.listdir(os.path.join(spool, ".quarantine")))
    dead = set(os.listdir(os.path.join(spool, ".dead")))
    problems = []
    for s in specs:
        if s.outcome == "delivered":
            if deliveries.get(s.data, 0) != 1:
                problems.append("%s: delivered %d times" % (s.kind, deliveries.get(s.data, 0)))
        elif s.outcome == "quarantined":
            if s.name not in quarantine:
                problems.append("%s: not in .quarantine/" % s.kind)
                continue
            line = postmaster_log_line(log, s.name, "quarantined")
            if not line.endswith(": %s: status=quarantined, reason=%s" % (s.name, s.reason)):
                problems.append("%s: logged %r" % (s.kind, line))
        else:
            if s.name not in dead:
                problems.append("%s: not in .dead/" % s.kind)
                continue
            with open(os.path.join(spool, ".dead", s.name), "rb") as f:
                obj = json.loads(f.read())
            if obj.get("last_error") != s.reason or obj.get("attempts") != 1:
                problems.append("%s: last_error %r, attempts %r" % (
                    s.kind, obj.get("last_error"), obj.get("attempts")))
            line = postmaster_log_line(log, s.name, "bounced")
            if "attempts=1, permanent=yes" not in line or \
                    not line.endswith(", reason=" + s.reason):
                problems.append("%s: logged %r" % (s.kind, line))
    assert problems == [], "\n".join(problems)
    names = set(s.name for s in specs)
    assert quarantine <= names and dead <= names


def run_twice(tree, spool, url, sm):
    args = ["--sendmail", binary("helpers/fake_sendmail"),
            "--max-response", str(MAX_RESPONSE), url]
    rc, text = run_postman(args, tree, sendmail_dir=sm)
    assert rc == 0, text
    first = delivered_data(sm)
    assert spool_messages(spool) == [], "queued after the first run"
    assert os.listdir(os.path.join(spool, ".leased")) == []
    rc, text2 = run_postman(args, tree, sendmail_dir=sm)
    assert rc == 0, text2
    assert delivered_data(sm) == first, "the second run delivered again"
    return first


def test_a_hostile_spool_is_delivered_quarantined_or_dead_lettered_file_by_file(
        daemons, tree, spool, sm):
    user = NOBODY if os.geteuid() == 0 else None
    good = good_files()
    bad = bad_files()
    specs = build_spool(spool, interleave(good, bad))
    hand_to(user, tree, spool)
    pm = start_postmaster(daemons, spool, user=user)

    deliveries = run_twice(tree, spool, pm.url, sm)

    log = pm.log()
    check_outcomes(spool, log, specs, deliveries)
    assert sum(deliveries.values()) == len(good)
    for a in (".leased", ".deferred", ".tmp"):
        assert os.listdir(os.path.join(spool, a)) == [], a
    assert spool_messages(spool) == []
    # Quarantined files stay as they were: never rewritten or deleted.
    for s in specs:
        p = os.path.join(spool, ".quarantine", s.name)
        if s.kind == "symbolic-link":
            assert os.path.islink(p)
        elif s.kind == "fifo":
            assert stat.S_ISFIFO(os.lstat(p).st_mode)
        elif s.kind == "folder":
            assert os.path.isdir(p)
    assert pm.d.stop() == 0

    counts = collections.Counter(s.outcome for s in specs)
    summary = dict(kinds=len(specs), delivered=counts["delivered"],
                   quarantined=counts["quarantined"], dead=counts["dead"])
    record_figures("hostile_spool", **summary,
                   outcomes={s.kind: s.outcome for s in specs})
    print("hostile spool: %(kinds)d kinds, %(delivered)d delivered, "
          "%(quarantined)d quarantined, %(dead)d dead" % summary)


def test_a_nul_in_the_oldest_message_stops_nothing(daemons, tree, spool, sm):
    """The issue's own case: the oldest file holds \\u0000 in data, as the
    original's json.dumps wrote it; the three after it are ordinary.
    All four are delivered in one run, the first byte for byte."""
    first = mail("oldest", b"NUL here: \x00 and on\r\n")
    datas = [first] + [mail("after-%d" % i) for i in range(3)]
    names = []
    for i, data in enumerate(datas):
        mid = new_id()
        raw = original_file(original_object(data)) if i == 0 else \
            json.dumps(postoffice_object(mid, data)).encode()
        write_file(spool, mid, raw)
        names.append(mid)
    assert names == sorted(names)
    pm = start_postmaster(daemons, spool)
    rc, text = run_postman(["--sendmail", binary("helpers/fake_sendmail"), pm.url],
                           tree, sendmail_dir=sm)
    assert rc == 0, text
    # Two sendmails run at once (--sendmail-parallel 2): the order in which
    # they finish is not the queue's.
    assert sorted(d for _, d in sendmail_records(sm)) == sorted(datas)
    assert spool_messages(spool) == []
    for a in (".leased", ".deferred", ".dead", ".quarantine"):
        assert os.listdir(os.path.join(spool, a)) == [], a
    assert pm.d.stop() == 0


def test_a_file_postmaster_may_not_read_is_quarantined_and_the_rest_delivered(
        daemons, tree, spool, sm):
    """The oldest file is named like an id but PostMaster may not open it
    (mode 000, another owner): it fails alone like any other file that
    cannot be served, and the two messages after it go out."""
    user = NOBODY if os.geteuid() == 0 else None
    spec, writer, _ = unreadable_file()
    specs = build_spool(spool, [(spec, writer, None)] + [
        (Spec(k, "delivered", data=mail(k)),
         lambda sp, mid, k=k: write_file(sp, mid, json.dumps(
             postoffice_object(mid, mail(k))).encode()), None)
        for k in ("after-1", "after-2")])
    hand_to(user, tree, spool, keep=[spec.name])
    pm = start_postmaster(daemons, spool, user=user)
    rc, text = run_postman(["--sendmail", binary("helpers/fake_sendmail"), pm.url],
                           tree, sendmail_dir=sm)
    assert rc == 0, text
    assert [d for _, d in sendmail_records(sm)] == [s.data for s in specs[1:]]
    assert os.listdir(os.path.join(spool, ".quarantine")) == [spec.name]
    line = postmaster_log_line(pm.log(), spec.name, "quarantined")
    assert spec.reason in line
    assert spool_messages(spool) == []
    assert pm.d.stop() == 0
