"""tools/deps.sh: the Debian packages each make target needs.  `make run`
asks only for what building and running the relay need, `make check` for
the test tools as well; a user who is not root is told the exact apt-get
line and the exit status is 69 (EX_UNAVAILABLE).

The machine is made to look bare and the user unprivileged with a
dpkg-query that knows no package and an id that says uid 1000, both first
in PATH: nothing is installed or looked up."""

import os
import subprocess

import pytest

from conftest import TOP

EX_UNAVAILABLE = 69

BUILD_PKGS = ["gcc", "libcjson-dev", "libcrypt-dev", "libcurl4-openssl-dev",
              "libesmtp-dev", "libevent-dev", "libglib2.0-dev",
              "libgmime-3.0-dev", "libmicrohttpd-dev", "libssl-dev",
              "libsystemd-dev", "make", "pkg-config"]
# tools/run.sh polls PostMaster with curl; README's first mail is swaks's.
RUN_PKGS = sorted(BUILD_PKGS + ["curl", "swaks"])


@pytest.fixture
def bare_path(tree):
    """PATH under which no package is installed and we are not root."""
    fake = os.path.join(tree, "bin")
    os.mkdir(fake)
    for name, body in (("dpkg-query", "exit 1"), ("id", "echo 1000")):
        path = os.path.join(fake, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n%s\n" % body)
        os.chmod(path, 0o755)
    return fake + os.pathsep + os.environ["PATH"]


def deps(path, *groups):
    return subprocess.run([os.path.join(TOP, "tools", "deps.sh")] + list(groups),
                          env=dict(os.environ, PATH=path), capture_output=True,
                          text=True, timeout=30)


def missing(stderr):
    """The packages of the apt-get line deps.sh printed."""
    [line] = [l for l in stderr.splitlines() if "apt-get install" in l]
    prefix = "deps.sh: install them with: sudo apt-get install "
    assert line.startswith(prefix), line
    return line[len(prefix):].split(" ")


def test_make_run_needs_only_the_build_and_run_packages(bare_path):
    r = deps(bare_path, "run")
    assert r.returncode == EX_UNAVAILABLE
    assert r.stderr.splitlines() == [
        "deps.sh: missing Debian packages: " + " ".join(RUN_PKGS),
        "deps.sh: install them with: sudo apt-get install " + " ".join(RUN_PKGS)]


def test_a_plain_build_needs_only_the_build_packages(bare_path):
    r = deps(bare_path, "build")
    assert r.returncode == EX_UNAVAILABLE
    assert missing(r.stderr) == BUILD_PKGS


def test_make_check_asks_for_the_test_tools_too(bare_path):
    r = deps(bare_path, "test")
    assert r.returncode == EX_UNAVAILABLE
    pkgs = missing(r.stderr)
    assert set(RUN_PKGS) <= set(pkgs)
    # imported or run by the integration tests
    for p in ("python3-pytest", "python3-aiosmtpd", "libcmocka-dev", "systemd",
              "apache2-utils", "openssl", "valgrind", "man-db"):
        assert p in pkgs, p


def test_the_make_targets_ask_for_their_groups():
    r = subprocess.run(["make", "-n", "--no-print-directory", "-C", TOP, "run", "check"],
                       capture_output=True, text=True, timeout=60)
    lines = r.stdout.splitlines()
    assert "tools/deps.sh run" in lines
    assert "tools/deps.sh test" in lines


def test_an_unknown_group_is_a_usage_error(bare_path):
    r = deps(bare_path, "frobnicate")
    assert r.returncode == 64
    assert r.stderr == "deps.sh: unknown group 'frobnicate'\n"
