"""The systemd units, installed by `make install` under a temporary
PREFIX so that their ExecStart= programs exist: `systemd-analyze verify`
accepts them, `systemd-analyze security` rates every service at 2.0 or
better, and the daemons declared Type=notify really send READY=1."""

import datetime
import fcntl
import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import BUILD, TOP, binary, free_port

UNITS = ["postman-once.service", "postman.service", "postman.timer",
         "postmaster.service", "postmaster.socket", "postoffice.service",
         "postman@.service", "postman-once@.service", "postman@.timer"]
SERVICES = [u for u in UNITS if u.endswith(".service")]
MAX_EXPOSURE = 2.0


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("prefix"))
    r = subprocess.run(["make", "--no-print-directory", "-C", TOP, "install",
                        "BUILD=" + BUILD, "SANITIZE=" + os.environ.get("SANITIZE", "0"),
                        "PREFIX=" + prefix], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    yield prefix
    shutil.rmtree(prefix, ignore_errors=True)


def unit_path(prefix, unit):
    return os.path.join(prefix, "lib/systemd/system", unit)


def verify(prefix, unit):
    # verify also runs `man` on Documentation=man:... entries.
    env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
    return subprocess.run(["systemd-analyze", "verify", unit_path(prefix, unit)],
                          capture_output=True, text=True, env=env, timeout=120)


def settings(prefix, unit):
    with open(unit_path(prefix, unit)) as f:
        return [l.strip() for l in f if "=" in l and not l.startswith("#")]


@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies_cleanly(installed, unit):
    r = verify(installed, unit)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_verify_notices_a_missing_program(installed, tmp_path):
    """The check above can fail: without the binary, verify refuses."""
    prefix = str(tmp_path)
    shutil.copytree(installed, prefix, dirs_exist_ok=True)
    with open(unit_path(prefix, "postoffice.service")) as f:
        text = f.read().replace(installed, prefix)
    with open(unit_path(prefix, "postoffice.service"), "w") as f:
        f.write(text)
    os.unlink(os.path.join(prefix, "sbin/postoffice"))
    r = verify(prefix, "postoffice.service")
    assert r.returncode != 0
    assert "is not executable" in r.stderr


def exposure(prefix, unit):
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                        "--no-pager", unit_path(prefix, unit)],
                       capture_output=True, text=True, timeout=120)
    # A template is rated as an instance of it (postman@i.service).
    name = re.escape(unit).replace("@", "@[^.]*")
    m = re.search(r"Overall exposure level for %s: (\d+\.\d)" % name,
                  r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    return float(m.group(1))


@pytest.mark.parametrize("unit", SERVICES)
def test_service_exposure_is_at_most_2(installed, unit):
    assert exposure(installed, unit) <= MAX_EXPOSURE


@pytest.mark.parametrize("unit", SERVICES)
def test_service_has_the_hardening_the_issue_asks_for(installed, unit):
    s = settings(installed, unit)
    for want in ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "PrivateTmp=yes", "SystemCallFilter=@system-service",
                 "CapabilityBoundingSet="]:
        assert want in s, (unit, want)
    assert any(l.startswith("RestrictAddressFamilies=") for l in s)
    assert any(l.startswith("StateDirectory=") for l in s)


def test_spool_daemons_share_one_user_and_spool(installed):
    po = settings(installed, "postoffice.service")
    pm = settings(installed, "postmaster.service")
    for s in (po, pm):
        assert "Type=notify" in s
        assert "User=postoffice" in s
        assert "StateDirectory=postoffice postoffice/messages" in s
        assert "ReadWritePaths=/var/lib/postoffice/messages" in s
        assert any("-s /var/lib/postoffice/messages" in l for l in s
                   if l.startswith("ExecStart="))


@pytest.mark.parametrize("unit", ["postman@.service", "postman-once@.service"])
def test_each_template_instance_has_its_own_postmaster(installed, unit):
    """One instance per PostMaster: its URL and options, its password and
    its state (lock) are the instance's, never another's."""
    s = settings(installed, unit)
    assert "EnvironmentFile=/etc/postoffice/postman/%i.conf" in s
    assert "LoadCredential=password:/etc/postoffice/postman/%i.password" in s
    assert "StateDirectory=postman-%i" in s
    exec_start = [l for l in s if l.startswith("ExecStart=")]
    assert len(exec_start) == 1
    assert "--lock ${STATE_DIRECTORY}/postman.lock" in exec_start[0]
    assert ("--watch" in exec_start[0]) == (unit == "postman@.service")


def test_template_timer_starts_its_own_instance(installed):
    s = settings(installed, "postman@.timer")
    assert "Unit=postman-once@%i.service" in s
    assert "OnCalendar=*:0/2" in s


def test_timer_fires_every_two_minutes(installed):
    s = settings(installed, "postman.timer")
    assert "Unit=postman-once.service" in s
    spec = [l.split("=", 1)[1] for l in s if l.startswith("OnCalendar=")]
    assert spec == ["*:0/2"]
    r = subprocess.run(["systemd-analyze", "calendar", "--iterations=3", spec[0]],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, TZ="UTC"))
    assert r.returncode == 0, r.stderr
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d): \w+ (\S+ \S+) UTC", r.stdout)
    assert len(stamps) == 3
    t = [datetime.datetime.fromisoformat(x) for x in stamps]
    assert [(b - a).total_seconds() for a, b in zip(t, t[1:])] == [120.0, 120.0]


def ready_notification(argv, tree, ready_timeout=15.0):
    """Starts argv with NOTIFY_SOCKET pointing at a socket of ours and
    returns what it sent there first."""
    path = os.path.join(tree, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(ready_timeout)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        return s.recv(4096).decode()
    finally:
        p.terminate()
        p.wait(15)
        s.close()


@pytest.mark.parametrize("prog", ["postoffice", "postmaster"])
def test_notify_daemon_sends_ready(prog, tree, spool):
    argv = [binary(prog), "-s", spool, "-l", "127.0.0.1:%d" % free_port()]
    assert "READY=1" in ready_notification(argv, tree).split("\n")


def test_postman_watch_sends_ready_once_set_up(installed, tree):
    """postman.service is Type=notify: --watch says READY=1 once its lock
    is taken and its relay set up, without waiting for PostMaster (nothing
    listens on the port here)."""
    assert "Type=notify" in settings(installed, "postman.service")
    argv = [binary("postman"), "--watch", "--sendmail", "/bin/true",
            "--lock", os.path.join(tree, "postman.lock"),
            "http://127.0.0.1:%d/" % free_port()]
    assert ready_notification(argv, tree).split("\n")[:2] == [
        "READY=1", "STATUS=watching"]


def test_postman_watch_is_not_ready_when_another_holds_the_lock(tree):
    """A --watch PostMan that finds the lock taken exits (status 0) without
    telling systemd it is ready."""
    lock = os.path.join(tree, "postman.lock")
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        argv = [binary("postman"), "--watch", "--sendmail", "/bin/true",
                "--lock", lock, "http://127.0.0.1:%d/" % free_port()]
        with pytest.raises(socket.timeout):
            ready_notification(argv, tree, ready_timeout=3.0)
