"""`make run` (tools/run.sh): the whole relay on one machine.  Without a
sendmail it delivers into a Maildir; a mail sent to its SMTP port arrives
there, and Ctrl-C (SIGINT to the terminal's process group) or SIGTERM to
the script stops all three daemons."""

import os
import re
import signal
import smtplib
import socket
import subprocess

import pytest

from conftest import BUILD, SANITIZER_MARKS, TOP, binary, free_port, wait_until
from postman_fakes import sendmail_records

pytestmark = pytest.mark.skipif(
    not all(os.path.exists(binary(b)) for b in ("postoffice", "postmaster", "postman")),
    reason="the three daemons are not built")

READY = "Press Ctrl-C to stop."
DAEMON_PID = re.compile(r"^(postoffice|postmaster|postman)\[(\d+)\]: ", re.M)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def assert_group_ends(pgid):
    """Nothing started by the script is left.  A child the script did not
    reap is the init process's to reap, a moment later: hence the wait."""
    if wait_until(lambda: not group_alive(pgid), 5):
        return
    ps = subprocess.run(["ps", "-o", "pid,stat,args", "-g", str(pgid)],
                        capture_output=True).stdout.decode()
    pytest.fail("processes left:\n" + ps)


def default_sigint():
    # A terminal's shell starts `make run` with SIGINT at its default; a
    # test runner started in the background may have it ignored, and a
    # shell cannot trap a signal it was started with ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class MakeRun:
    def __init__(self, tree, http_port=None, smtp_port=None, sendmail="",
                 maildir=None, extra_env=None):
        """sendmail, maildir: SENDMAIL and MAILDIR in the script's
        environment, None: not there.  The default, SENDMAIL= (empty), is
        the Maildir ./Maildir whatever this machine has."""
        self.tree = tree
        self.spool = os.path.join(tree, "spool")
        self.maildir = maildir or os.path.join(tree, "Maildir")
        self.smtp_port = smtp_port or free_port()
        self.http_port = http_port or free_port()
        self.logpath = os.path.join(tree, "run.log")
        env = dict(os.environ, BUILD=BUILD, SPOOL=self.spool,
                   SMTP_PORT=str(self.smtp_port),
                   HTTP_PORT=str(self.http_port), LOCK=os.path.join(tree, "postman.lock"))
        env.pop("MAILDIR", None)
        env.pop("SENDMAIL", None)
        if sendmail is not None:
            env["SENDMAIL"] = sendmail
        if maildir is not None:
            env["MAILDIR"] = maildir
        env.update(extra_env or {})
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        self.log = open(self.logpath, "wb")
        self.proc = subprocess.Popen(["sh", os.path.join(TOP, "tools", "run.sh")],
                                     cwd=tree, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=default_sigint)

    def output(self):
        self.log.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def daemon_pids(self):
        return {name: int(pid) for name, pid in DAEMON_PID.findall(self.output())}

    def kill_all(self):
        if group_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


@pytest.fixture
def make_run(tree):
    runs = []

    def start(**kw):
        runs.append(MakeRun(tree, **kw))
        return runs[-1]

    yield start
    for r in runs:
        r.kill_all()


def mail():
    return (b"From: <app@example.com>\r\nTo: <you@example.com>\r\n"
            b"Subject: first mail\r\nMessage-ID: <first@example.com>\r\n\r\n"
            b"hello from make run\r\n")


@pytest.mark.parametrize("how", ["sigint_to_the_group", "sigterm_to_the_script"])
def test_make_run_delivers_into_the_maildir_and_stops_everything(make_run, how):
    run = make_run()
    assert wait_until(lambda: READY in run.output() or run.proc.poll() is not None, 30), \
        run.output()
    out = run.output()
    assert run.proc.poll() is None, out
    assert ("run: SENDMAIL is empty: PostMan delivers into the Maildir %s\n"
            % run.maildir) in out
    assert "swaks --server 127.0.0.1:%d " % run.smtp_port in out
    assert "It arrives in %s/new/ (read it with: mutt -f %s)." % (run.maildir, run.maildir) in out
    pids = run.daemon_pids()
    assert sorted(pids) == ["postman", "postmaster", "postoffice"], out

    with smtplib.SMTP("127.0.0.1", run.smtp_port, timeout=30) as s:
        s.sendmail("app@example.com", ["you@example.com"], mail())
    new = os.path.join(run.maildir, "new")
    assert wait_until(lambda: os.path.isdir(new) and os.listdir(new), 20), run.output()
    [name] = os.listdir(new)
    with open(os.path.join(new, name), "rb") as f:
        assert f.read() == (b"Return-Path: <app@example.com>\nDelivered-To: you@example.com\n"
                            + mail().replace(b"\r\n", b"\n"))
    assert os.listdir(os.path.join(run.maildir, "tmp")) == []
    # acknowledged: PostMaster's spool keeps nothing
    assert wait_until(lambda: [n for n in os.listdir(run.spool) if not n.startswith(".")]
                      == [] and os.listdir(os.path.join(run.spool, ".leased")) == [], 10)

    if how == "sigint_to_the_group":
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.output()
    out = run.output()
    assert out.rstrip().endswith("run: relay stopped; the spool is in %s/" % run.spool)
    assert not any(alive(p) for p in pids.values()), out
    assert_group_ends(run.proc.pid)
    assert "postman[%d]: delivered=1 deferred=0 bounced=0" % pids["postman"] in out
    assert not [l for l in out.splitlines() if any(m in l for m in SANITIZER_MARKS)], out


@pytest.mark.parametrize("which", ["smtp", "http"])
def test_make_run_whose_port_is_taken_names_the_daemon_and_the_port(make_run, which):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = make_run(**{which + "_port": port})
        assert run.proc.wait(30) == 1, run.output()
    out = run.output()
    daemon, var = {"smtp": ("PostOffice", "SMTP_PORT"),
                   "http": ("PostMaster", "HTTP_PORT")}[which]
    assert ("run: %s did not start: port %d on 127.0.0.1 is in use (another "
            "program, or another make run, listens there); choose another: "
            "%s=N make run\n" % (daemon, port, var)) in out
    assert "run: the relay did not start\n" in out
    # the other daemons are not blamed
    assert "PostMan did not start" not in out
    assert [l for l in out.splitlines() if l.startswith("run: ") and
            "did not start:" in l] == [l for l in out.splitlines()
                                       if l.startswith("run: " + daemon)]
    assert out.rstrip().endswith("run: relay stopped; the spool is in %s/" % run.spool)
    assert not any(alive(p) for p in run.daemon_pids().values()), out
    assert_group_ends(run.proc.pid)


def printed_curl_command(out):
    """The curl example as `make run` prints it: from its printf to the
    line that ends without a backslash."""
    lines = out.splitlines()
    start = [i for i, l in enumerate(lines) if l.lstrip().startswith("printf ")]
    assert len(start) == 1, out
    cmd = []
    for l in lines[start[0]:]:
        cmd.append(l)
        if not l.endswith("\\"):
            break
    return "\n".join(cmd)


def test_make_runs_curl_example_delivers_as_printed(make_run):
    run = make_run()
    assert wait_until(lambda: READY in run.output() or run.proc.poll() is not None, 30), \
        run.output()
    cmd = printed_curl_command(run.output())
    assert "--crlf" in cmd       # a bare LF is refused with 550 5.5.2
    r = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=30)
    assert (r.returncode, r.stderr) == (0, b""), cmd
    new = os.path.join(run.maildir, "new")
    assert wait_until(lambda: os.path.isdir(new) and os.listdir(new), 20), run.output()
    [name] = os.listdir(new)
    with open(os.path.join(new, name), "rb") as f:
        assert f.read() == (b"Return-Path: <app@example.com>\nDelivered-To: "
                            b"you@example.com\nSubject: hello\n\nfirst mail\n")


def test_make_run_with_maildir_given_delivers_there_whatever_the_sendmail(make_run, tree):
    box = os.path.join(tree, "box")
    run = make_run(sendmail=None, maildir=box)
    assert wait_until(lambda: READY in run.output() or run.proc.poll() is not None, 30), \
        run.output()
    out = run.output()
    assert "run: PostMan delivers into the Maildir %s (MAILDIR is set)\n" % box in out
    assert "It arrives in %s/new/" % box in out
    with smtplib.SMTP("127.0.0.1", run.smtp_port, timeout=30) as s:
        s.sendmail("app@example.com", ["you@example.com"], mail())
    new = os.path.join(box, "new")
    assert wait_until(lambda: os.path.isdir(new) and len(os.listdir(new)) == 1, 20), \
        run.output()


@pytest.mark.parametrize("env,message", [
    (dict(maildir="MD", sendmail="/bin/true"),
     "run: MAILDIR and SENDMAIL are both set; give one (MAILDIR=dir: into that "
     "Maildir, SENDMAIL=path: through that sendmail)"),
    (dict(sendmail="/nonexistent/sendmail"),
     "run: SENDMAIL=/nonexistent/sendmail is not a program that can run "
     "(SENDMAIL= delivers into the Maildir TREE/Maildir)"),
], ids=["both", "not_a_program"])
def test_make_run_refuses_delivery_settings_it_would_have_to_guess_at(make_run, tree,
                                                                      env, message):
    if "maildir" in env:
        env["maildir"] = os.path.join(tree, env["maildir"])
    run = make_run(**env)
    assert run.proc.wait(30) == 1, run.output()
    assert run.output() == message.replace("TREE", tree) + "\n"
    assert not os.path.exists(run.spool)
    assert_group_ends(run.proc.pid)


def test_make_run_delivers_through_the_machines_sendmail_when_there_is_one(make_run, tree):
    sm = os.path.join(tree, "sendmail")
    os.mkdir(sm)
    fake = binary("helpers/fake_sendmail")
    run = make_run(sendmail=fake, extra_env={"FAKE_SENDMAIL_DIR": sm})
    assert wait_until(lambda: READY in run.output() or run.proc.poll() is not None, 30), \
        run.output()
    assert run.proc.poll() is None, run.output()
    assert ("run: PostMan delivers through this machine's sendmail, %s\n" % fake
            in run.output())
    # where to look for it, and how to keep it here instead
    assert ("It goes out through %s, to wherever this machine sends mail:\n"
            "mailq lists what waits in its queue, the mail log (/var/log/mail.log, or\n"
            "journalctl -f) says where it went.  To keep the mail here instead:\n"
            "SENDMAIL= make run (it then arrives in %s/new/).\n"
            % (fake, os.path.join(tree, "Maildir"))) in run.output()
    with smtplib.SMTP("127.0.0.1", run.smtp_port, timeout=30) as s:
        s.sendmail("app@example.com", ["you@example.com"], mail())
    assert wait_until(lambda: len(sendmail_records(sm)) == 1, 20), run.output()
    assert sendmail_records(sm) == [([fake, "-i", "-f", "app@example.com", "--",
                                      "you@example.com"], mail())]
    assert not os.path.exists(run.maildir)
    pids = run.daemon_pids()
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.output()
    assert not any(alive(p) for p in pids.values())
    assert_group_ends(run.proc.pid)


def test_make_run_does_not_hand_mail_back_to_a_nullmailer_sendmail(make_run, tree):
    """nullmailer's sendmail relays to its remotes, which point at PostOffice
    on such a machine: the script delivers into the Maildir instead."""
    sm = os.path.join(tree, "sendmail")
    os.mkdir(sm)
    bindir = os.path.join(tree, "nullmailer")
    os.mkdir(bindir)
    nm = os.path.join(bindir, "sendmail")
    os.symlink(binary("helpers/fake_sendmail"), nm)
    run = make_run(sendmail=nm, extra_env={"FAKE_SENDMAIL_DIR": sm})
    assert wait_until(lambda: READY in run.output() or run.proc.poll() is not None, 30), \
        run.output()
    assert run.proc.poll() is None, run.output()
    assert ("run: this machine's sendmail (%s) is nullmailer's, which would hand "
            "the mail back to PostOffice; PostMan delivers into the Maildir %s "
            "instead\n" % (nm, run.maildir)) in run.output()
    with smtplib.SMTP("127.0.0.1", run.smtp_port, timeout=30) as s:
        s.sendmail("app@example.com", ["you@example.com"], mail())
    new = os.path.join(run.maildir, "new")
    assert wait_until(lambda: os.path.isdir(new) and os.listdir(new), 20), run.output()
    assert sendmail_records(sm) == []
    run.proc.send_signal(signal.SIGTERM)
    assert run.proc.wait(30) == 0, run.output()
    assert_group_ends(run.proc.pid)
