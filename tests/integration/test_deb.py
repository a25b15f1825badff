"""The Debian packaging's contract with the tree: the flags a package build
gets, and every unit and man page shipped by exactly one package.  The
packages themselves are built, installed, run and purged by make deb-check
(tools/deb-check.sh), which needs root and a Debian mirror."""

import glob
import os
import subprocess

from conftest import TOP

PACKAGES = {"postoffice": ["postoffice", "postmaster"], "postman": ["postman"]}


def compile_line(tree, *variables):
    """The command make would run to compile common/util.c."""
    build = os.path.join(tree, "b")
    r = subprocess.run(
        ["make", "--no-print-directory", "-C", TOP, "-n", "-B",
         "BUILD=" + build, "DEPS_DONE=1", build + "/obj/common/util.o"]
        + list(variables), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    [line] = [l for l in r.stdout.splitlines() if " -c " in l]
    return line.split()


def test_warnings_are_errors_by_default(tree):
    assert "-Werror" in compile_line(tree)


def test_werror_0_leaves_the_warnings_on_but_not_fatal(tree):
    words = compile_line(tree, "WERROR=0")
    assert "-Werror" not in words
    assert {"-Wall", "-Wextra", "-Wformat=2"} <= set(words)


def test_cppflags_and_cflags_reach_the_compiler(tree):
    words = compile_line(tree, "CPPFLAGS=-D_FORTIFY_SOURCE=2",
                         "CFLAGS=-O2 -fstack-protector-strong")
    assert {"-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"} <= set(words)


def install_lines(package):
    with open(os.path.join(TOP, "debian", package + ".install")) as f:
        return [l.split()[0] for l in f.read().splitlines() if l.strip()]


def test_each_unit_is_in_exactly_one_package():
    units = sorted(os.path.basename(u) for u in glob.glob(os.path.join(TOP, "systemd", "*")))
    shipped = sorted(os.path.basename(l) for p in PACKAGES for l in install_lines(p)
                     if l.startswith("lib/systemd/system/"))
    assert shipped == units


def test_each_program_and_its_man_page_is_in_its_hosts_package():
    for package, programs in PACKAGES.items():
        lines = install_lines(package)
        for p in programs:
            assert "usr/sbin/" + p in lines
            assert "usr/share/man/man8/%s.8" % p in lines
    pages = sorted(os.path.basename(m) for m in glob.glob(os.path.join(TOP, "man", "*.8")))
    assert pages == sorted(p + ".8" for ps in PACKAGES.values() for p in ps)


def test_the_package_build_skips_the_dependency_step_and_werror():
    with open(os.path.join(TOP, "debian", "rules")) as f:
        rules = f.read()
    assert "WERROR=0" in rules and "DEPS_DONE=1" in rules
