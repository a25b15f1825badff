"""`make install` and `make uninstall` into a DESTDIR: the exact tree."""

import filecmp
import glob
import os
import re
import subprocess

from conftest import BUILD, TOP, make_target as make

BINARIES = ["postman", "postmaster", "postoffice"]
UNITS = ["postman-once.service", "postman.service", "postman.timer",
         "postman-once@.service", "postman@.service", "postman@.timer",
         "postmaster.service", "postmaster.socket", "postoffice.service"]
MANPAGES = ["postman.8", "postmaster.8", "postoffice.8"]


def tree_of(root):
    """Every file under root, relative, with its mode."""
    got = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            got[os.path.relpath(p, root)] = oct(os.stat(p).st_mode & 0o777)
    return got


def expected_docs():
    docs = ["README.md"] + [os.path.relpath(p, TOP) for p in glob.glob(os.path.join(TOP, "doc", "*.md"))]
    contrib = []
    for d, _, files in os.walk(os.path.join(TOP, "contrib")):
        contrib += [os.path.relpath(os.path.join(d, f), TOP) for f in files]
    return ["usr/share/doc/postoffice/" + p for p in docs + contrib]


def test_install_puts_each_file_in_its_place_and_nothing_else(tree):
    dest = os.path.join(tree, "root")
    r = make("install", dest)
    assert r.returncode == 0, r.stdout + r.stderr
    want = {}
    for b in BINARIES:
        want["usr/sbin/" + b] = "0o755"
    want["usr/sbin/msmtp-sendmail"] = "0o755"
    for u in UNITS:
        want["usr/lib/systemd/system/" + u] = "0o644"
    for m in MANPAGES:
        want["usr/share/man/man8/" + m] = "0o644"
    for d in expected_docs():
        want[d] = "0o644"
    assert tree_of(dest) == want


def test_installed_binaries_are_the_built_ones(tree):
    dest = os.path.join(tree, "root")
    assert make("install", dest).returncode == 0
    for b in BINARIES:
        assert filecmp.cmp(os.path.join(BUILD, b), os.path.join(dest, "usr/sbin", b),
                           shallow=False)


def test_units_point_at_the_installed_sbindir(tree):
    dest = os.path.join(tree, "root")
    assert make("install", dest, prefix="/opt/po").returncode == 0
    unitdir = os.path.join(dest, "opt/po/lib/systemd/system")
    execs = []
    for u in UNITS:
        with open(os.path.join(unitdir, u)) as f:
            text = f.read()
        assert "@SBINDIR@" not in text, u
        execs += [l for l in text.splitlines() if l.startswith("ExecStart=")]
    assert sorted(l.split()[0] for l in execs) == [
        "ExecStart=/opt/po/sbin/postman", "ExecStart=/opt/po/sbin/postman",
        "ExecStart=/opt/po/sbin/postman", "ExecStart=/opt/po/sbin/postman",
        "ExecStart=/opt/po/sbin/postmaster", "ExecStart=/opt/po/sbin/postoffice"]


def test_examples_point_at_the_installed_sbindir(tree):
    dest = os.path.join(tree, "root")
    assert make("install", dest, prefix="/opt/po").returncode == 0
    with open(os.path.join(dest, "opt/po/share/doc/postoffice/contrib/crontab")) as f:
        [line] = [l for l in f.read().splitlines() if l.startswith("*/2 ")]
    assert line.split()[5:7] == ["postman", "/opt/po/sbin/postman"]
    assert "--sendmail /opt/po/sbin/msmtp-sendmail " in line
    # everything else is copied as it is
    with open(os.path.join(TOP, "contrib/nginx-postoffice.conf"), "rb") as f:
        want = f.read()
    with open(os.path.join(dest, "opt/po/share/doc/postoffice/contrib/"
                                 "nginx-postoffice.conf"), "rb") as f:
        assert f.read() == want


def test_readme_links_hold_in_the_installed_tree(tree):
    dest = os.path.join(tree, "root")
    assert make("install", dest).returncode == 0
    docdir = os.path.join(dest, "usr/share/doc/postoffice")
    with open(os.path.join(docdir, "README.md")) as f:
        links = re.findall(r"\]\(((?:doc|contrib)/[^)#]*)", f.read())
    assert links
    missing = [l for l in links if not os.path.exists(os.path.join(docdir, l))]
    assert missing == []


def test_man_pages_render_without_warnings(tree):
    for m in MANPAGES:
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z",
                            os.path.join(TOP, "man", m)],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, LC_ALL="C.UTF-8"))
        assert (r.returncode, r.stderr) == (0, ""), m


def test_uninstall_removes_everything_install_put_there(tree):
    dest = os.path.join(tree, "root")
    assert make("install", dest).returncode == 0
    r = make("uninstall", dest)
    assert r.returncode == 0, r.stderr
    assert tree_of(dest) == {}
