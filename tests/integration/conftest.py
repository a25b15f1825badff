"""Shared fixtures: real binaries started on free ports in a mktemp -d tree.

Every daemon started through `daemons` is stopped at the end of its test,
and its stderr is checked for sanitizer reports (the suite also runs under
AddressSanitizer + UBSan with `make check SANITIZE=1`).

With VALGRIND=1 in the environment (`make check VALGRIND=1`) every built
program the factory starts, and every PostMan run_postman and start_postman
start (postman_fakes.py), runs under valgrind memcheck, and its report must
show no error and no definitely lost block."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(TOP, os.environ.get("BUILD", "build"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")
VALGRIND = os.environ.get("VALGRIND", "0") not in ("", "0")
VALGRIND_EXIT = 97
VALGRIND_SUPP = os.path.join(TOP, "tests", "valgrind.supp")
# Start-up waits are this many times longer under valgrind.
SLOWDOWN = 3 if VALGRIND else 1


# Tests that cannot run under valgrind, with the reason.  Kept short: a
# test belongs here only when what it measures is valgrind itself.
VALGRIND_SKIP = {
    "test_50_mib_message_is_streamed_not_held_in_memory":
        "measures peak RSS, which under valgrind is valgrind's own",
}


def pytest_collection_modifyitems(config, items):
    if not VALGRIND:
        return
    for item in items:
        why = VALGRIND_SKIP.get(item.originalname or item.name)
        if why:
            item.add_marker(pytest.mark.skip(reason="under valgrind: " + why))


def valgrind_argv(argv, logpath):
    """argv with valgrind inserted before the first built program in it
    (a wrapper such as a limit setter in front stays native)."""
    for i, a in enumerate(argv):
        if os.path.abspath(a).startswith(BUILD + os.sep):
            vg = [shutil.which("valgrind") or "valgrind",
                  "--leak-check=full", "--errors-for-leak-kinds=definite",
                  "--show-leak-kinds=definite",
                  "--error-exitcode=%d" % VALGRIND_EXIT,
                  "--suppressions=%s" % VALGRIND_SUPP,
                  # valgrind runs one thread at a time; without a fair
                  # hand-over a thread that computes (a bcrypt check)
                  # can keep the event loop's thread waiting until it
                  # ends, an order the programs never see natively.
                  "--fair-sched=yes",
                  "--log-file=%s" % logpath]
            return argv[:i] + vg + argv[i:]
    return argv


def valgrind_report(logpath):
    """A valgrind log when it counts errors (definite leaks included),
    else empty.  A program killed with SIGKILL leaves no summary."""
    try:
        with open(logpath, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    bad = [l for l in text.splitlines()
           if "ERROR SUMMARY:" in l and "ERROR SUMMARY: 0 errors" not in l]
    if not bad:
        return []
    return ["valgrind (%s):" % logpath] + text.splitlines()[:80]


def as_user(user):
    """subprocess keyword arguments that run a program as user (a name or
    a uid), its primary group and no other; none for user None."""
    if user is None:
        return {}
    import pwd
    pw = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(user)
    return dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])


# Copies of the clone's files that a program run as another user needs
# (see reachable), made once per test session.
_reach_dir = None


def _reachable_copy(path):
    global _reach_dir
    if _reach_dir is None:
        _reach_dir = tempfile.mkdtemp(prefix="postoffice-programs.")
        os.chmod(_reach_dir, 0o755)
        atexit.register(shutil.rmtree, _reach_dir, True)
    copy = os.path.join(_reach_dir, os.path.relpath(path, TOP))
    if not os.path.exists(copy):
        os.makedirs(os.path.dirname(copy), mode=0o755, exist_ok=True)
        shutil.copy2(path, copy)
    return copy


def reachable(argv, user):
    """argv for a program run as user: every file of the clone in it (a
    built program, valgrind's --suppressions=FILE) replaced by a copy in a
    folder anyone can reach, since the clone may be where only its owner
    can go (root's clone lands in /root, mode 700).  The test tree
    (mktemp -d) is the test's own to open.  argv as it is for user None."""
    if user is None:
        return argv
    out = []
    for a in argv:
        head, sep, path = a.rpartition("=") if a.startswith("--") else ("", "", a)
        if path.startswith(TOP + os.sep) and os.path.isfile(path):
            a = head + sep + _reachable_copy(path)
        out.append(a)
    return out


def valgrind_log_for(logpath, user=None):
    """Makes logpath a file valgrind can write as user: created in
    advance and handed over, so that its folder need not be writable."""
    open(logpath, "w").close()
    ids = as_user(user)
    if ids:
        os.chown(logpath, ids["user"], ids["group"])


def reports_in(text, vglog=None):
    """Sanitizer report lines in a program's stderr, and the valgrind
    report from vglog when one was written."""
    marks = [l for l in (text or "").splitlines() if any(m in l for m in SANITIZER_MARKS)]
    if vglog is not None:
        marks += valgrind_report(vglog)
    return marks


def run_program(argv, timeout=30, env=None, user=None, **kw):
    """subprocess.run() for a built program that is not a daemon (a
    command-line check, `postmaster queue`): with the sanitizers'
    settings, under valgrind when VALGRIND=1, as `user` when given.  Its
    output is captured unless the caller says otherwise.  A sanitizer or
    valgrind report fails the test; else returns the CompletedProcess."""
    e = sanitizer_env()
    if env:
        e.update(env)
    name = os.path.basename(argv[0])
    vgdir = vglog = None
    if VALGRIND:
        vgdir = tempfile.mkdtemp(prefix="valgrind.")
        os.chmod(vgdir, 0o711)      # reached by a program run as `user`
        vglog = os.path.join(vgdir, "valgrind.log")
        valgrind_log_for(vglog, user)
        argv = valgrind_argv(argv, vglog)
        e.setdefault("G_SLICE", "always-malloc")
    argv = reachable(argv, user)
    if "stdout" not in kw and "stderr" not in kw:
        kw["capture_output"] = True
    try:
        p = subprocess.run(argv, env=e, timeout=timeout * SLOWDOWN,
                           **as_user(user), **kw)
        err = p.stderr
        if isinstance(err, bytes):
            err = err.decode("utf-8", "replace")
        reports = reports_in(err, vglog)
    finally:
        if vgdir is not None:
            shutil.rmtree(vgdir, ignore_errors=True)
    assert not reports, "reports from %s:\n%s" % (name, "\n".join(reports))
    return p


class Program:
    """A built program started in the background that is not a daemon
    (one the test waits for): run_program()'s settings, for Popen."""

    def __init__(self, argv, env=None, user=None, **kw):
        e = sanitizer_env()
        if env:
            e.update(env)
        self.name = os.path.basename(argv[0])
        self.vgdir = self.vglog = None
        if VALGRIND:
            self.vgdir = tempfile.mkdtemp(prefix="valgrind.")
            os.chmod(self.vgdir, 0o711)
            self.vglog = os.path.join(self.vgdir, "valgrind.log")
            valgrind_log_for(self.vglog, user)
            argv = valgrind_argv(argv, self.vglog)
            e.setdefault("G_SLICE", "always-malloc")
        self.argv = argv = reachable(argv, user)
        self.proc = subprocess.Popen(argv, env=e, **as_user(user), **kw)

    def communicate(self, timeout=60):
        """Waits for the program: (stdout, stderr) as Popen gives them;
        a sanitizer or valgrind report fails the test."""
        try:
            out, err = self.proc.communicate(timeout=timeout * SLOWDOWN)
            text = err.decode("utf-8", "replace") if isinstance(err, bytes) else err
            reports = reports_in(text, self.vglog)
        finally:
            if self.vgdir is not None:
                shutil.rmtree(self.vgdir, ignore_errors=True)
        assert not reports, "reports from %s:\n%s" % (self.name, "\n".join(reports))
        return out, err

    @property
    def returncode(self):
        return self.proc.returncode


def binary(name):
    """Path of a built program: postoffice, postmaster, postman, or a test
    helper as 'helpers/NAME'."""
    if name.startswith("helpers/"):
        return os.path.join(BUILD, "tests", name)
    return os.path.join(BUILD, name)


def make_target(target, destdir, prefix="/usr"):
    """Runs make TARGET (install, uninstall) with the suite's build into
    DESTDIR; nothing is rebuilt."""
    return subprocess.run(
        ["make", "--no-print-directory", "-C", TOP, target, "BUILD=" + BUILD,
         "SANITIZE=" + os.environ.get("SANITIZE", "0"), "DESTDIR=" + destdir,
         "PREFIX=" + prefix], capture_output=True, text=True, timeout=600)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc=None, host="127.0.0.1", timeout=10.0):
    timeout *= SLOWDOWN
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %d before listening" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("nothing listening on %s:%d" % (host, port))


def wait_for_path(path, timeout=10.0):
    timeout *= SLOWDOWN
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise TimeoutError("%s never appeared" % path)


def wait_until(pred, timeout=10.0, what=None):
    """Polls pred until it holds; True then.  On timeout: raises an
    AssertionError naming `what` when given, else returns False (for
    `assert wait_until(...)`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    if pred():
        return True
    if what is not None:
        raise AssertionError("timed out waiting for " + what)
    return False


def sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


class Daemon:
    """A started program whose stderr goes to a file in the test tree."""

    def __init__(self, argv, logpath, env=None, cwd=None, user=None):
        self.argv = argv
        self.logpath = logpath
        self.log = open(logpath, "ab")
        e = sanitizer_env()
        if env:
            e.update(env)
        self.vglog = None
        if VALGRIND:
            self.vglog = logpath + ".valgrind"
            valgrind_log_for(self.vglog, user)
            argv = valgrind_argv(argv, self.vglog)
            e.setdefault("G_SLICE", "always-malloc")
        argv = reachable(argv, user)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     env=e, cwd=cwd, **as_user(user))

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        self.log.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def sanitizer_report(self):
        text = self.stderr() if not self.log.closed else open(self.logpath, errors="replace").read()
        return reports_in(text, self.vglog)


@pytest.fixture
def tree():
    """A fresh mktemp -d folder, removed afterwards."""
    d = tempfile.mkdtemp(prefix="postoffice-test.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def spool(tree):
    d = os.path.join(tree, "messages")
    os.mkdir(d)
    return d


@pytest.fixture
def pm():
    """A fake PostMaster for PostMan's tests (postman_fakes.py), closed
    afterwards."""
    from postman_fakes import FakePostMaster
    f = FakePostMaster()
    yield f
    f.close()


@pytest.fixture
def sm(tree):
    """The folder where the fake sendmail records what it was given."""
    d = os.path.join(tree, "sendmail")
    os.mkdir(d)
    return d


@pytest.fixture
def daemons(tree):
    """Factory: daemons(argv, name=...) starts a program (as `user` when
    given); all are stopped (SIGTERM) at teardown and must leave no
    sanitizer report."""
    started = []

    def start(argv, name=None, env=None, cwd=None, user=None):
        name = name or os.path.basename(argv[0])
        d = Daemon(argv, os.path.join(tree, "%s.%d.log" % (name, len(started))),
                   env=env, cwd=cwd, user=user)
        started.append(d)
        return d

    yield start
    reports = []
    for d in started:
        if not d.log.closed:
            d.stop()
        reports += d.sanitizer_report()
    assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def spool_settled(spool_dir):
    """True when every message PostOffice has journaled is in the queue:
    both journal files are empty and nothing waits in .staged/ (its
    checkpoint empties the journal before it moves the files on, so
    both are needed)."""
    try:
        for n in ("a", "b"):
            p = os.path.join(spool_dir, ".journal", n)
            if os.path.exists(p) and os.path.getsize(p) > 0:
                return False
        return not os.listdir(os.path.join(spool_dir, ".staged"))
    except FileNotFoundError:
        return True


def wait_settled(spool_dir, timeout=5.0):
    """Waits (at most timeout seconds) until spool_settled(): a message
    reaches the queue moments after its 250.  A journal that stays full
    (a PostOffice killed with records in it) is left as it is."""
    deadline = time.monotonic() + timeout
    while not spool_settled(spool_dir) and time.monotonic() < deadline:
        time.sleep(0.005)


def spool_messages(spool_dir):
    """Names of the queued message files (32 hex), sorted, once what
    PostOffice acknowledged has reached the queue (wait_settled())."""
    wait_settled(spool_dir)
    return sorted(n for n in os.listdir(spool_dir)
                  if len(n) == 32 and all(c in "0123456789abcdef" for c in n))
