"""make vmcheck: the shipped systemd units under a real systemd, in a VM.

  vmcheck.py   (BUILD from the environment; as root)

A Debian 12 root (debootstrap --variant=minbase with systemd, nginx, curl,
python3, openssl and the libraries the binaries link) is made once and
cached as a tarball in VM_CACHE, keyed on its package list.  Each run
unpacks it into a stage folder, installs the tree there with
`make install DESTDIR=stage PREFIX=/usr` as the Debian package lays it
out, adds the guest test (tests/vm/guest.py) and a unit that starts it once
the boot is done, and makes the stage an ext4 image (mkfs.ext4 -d: no loop
mount).  The harness's kernel boots it with po.mode=root: the initramfs
mounts the disk and starts its systemd as PID 1.  The guest test does what
doc/deployment.md tells an administrator to do, checks what the units and
the documentation promise, prints one line per check on the serial
console and powers off; the last line of this script is
"N passed, N failed"."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

SUITE = "bookworm"
# The guest's own programs; the project's libraries are added from ldd.
PACKAGES = ["systemd", "systemd-sysv", "libnss-systemd", "dbus",
            "nginx-light", "curl", "python3", "openssl"]
# What this script runs on the host, by package.
NEEDS = {"debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs"}
# Boot, checks and a clean power-off; a cached run takes a few minutes
# under software emulation.
GUEST_TIMEOUT = 900


def say(msg):
    print(msg, flush=True)


def tools():
    vm.tools()
    missing = sorted({p for t, p in NEEDS.items() if shutil.which(t) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit("vmcheck: missing packages: %s (apt-get install "
                         "them)" % " ".join(missing))
    say("vmcheck: installing %s" % " ".join(missing))
    vm.run(vm.NICE + ["apt-get", "install", "-y", "-q",
                      "--no-install-recommends"] + missing,
           stdout=subprocess.DEVNULL)


def runtime_packages(binaries):
    """The Debian packages of every library the binaries load."""
    pkgs = set()
    for lib in vm.libraries(binaries):
        # Merged /usr: dpkg knows a library by the path its package ships.
        for path in (lib, lib[len("/usr"):] if lib.startswith("/usr/")
                     else "/usr" + lib):
            r = subprocess.run(["dpkg", "-S", path], capture_output=True,
                               text=True)
            if r.returncode == 0:
                pkgs.add(r.stdout.split(":")[0])
                break
        else:
            raise SystemExit("vmcheck: no package holds %s" % lib)
    return sorted(pkgs)


def mirror():
    """The mirror this machine's apt uses for SUITE."""
    d = "/etc/apt/sources.list.d"
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not f.endswith(".sources"):
            continue
        with open(os.path.join(d, f)) as fp:
            for stanza in fp.read().split("\n\n"):
                uri = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:(.*)$", stanza, re.M)
                if uri and suites and SUITE in suites.group(1).split():
                    return uri.group(1)
    for f in ["/etc/apt/sources.list"] + (
            [os.path.join(d, f) for f in sorted(os.listdir(d))
             if f.endswith(".list")] if os.path.isdir(d) else []):
        if os.path.exists(f):
            with open(f) as fp:
                for line in fp:
                    w = line.split()
                    if len(w) >= 3 and w[0] == "deb" and w[2] == SUITE:
                        return w[1]
    raise SystemExit("vmcheck: no %s mirror in /etc/apt/sources.list*" % SUITE)


def base_root(packages, workdir):
    """The cached base root's tarball, made when its package list is new."""
    key = hashlib.sha256(("%s %s" % (SUITE, " ".join(packages))).encode())
    out = os.path.join(vm.CACHE, "vmcheck-base-%s.tar" % key.hexdigest()[:16])
    if os.path.exists(out):
        os.utime(out)
        return out
    if os.geteuid() != 0:
        raise SystemExit("vmcheck: the base root is made as root (debootstrap)")
    root = os.path.join(workdir, "base")
    shutil.rmtree(root, ignore_errors=True)
    m = mirror()
    say("vmcheck: debootstrap %s from %s, %d packages named" % (
        SUITE, m, len(packages)))
    log = os.path.join(workdir, "debootstrap.log")
    with open(log, "w") as f:
        r = subprocess.run(vm.NICE + [
            "debootstrap", "--variant=minbase",
            "--include=" + ",".join(packages), SUITE, root, m],
            stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        with open(log) as f:
            sys.stderr.write("".join(f.readlines()[-20:]))
        raise SystemExit("vmcheck: debootstrap failed")
    # What the guest never reads: a smaller image is a faster mkfs.
    for d in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc",
              "usr/share/man", "usr/share/info", "usr/share/locale"):
        p = os.path.join(root, d)
        for e in os.listdir(p) if os.path.isdir(p) else []:
            q = os.path.join(p, e)
            if os.path.isdir(q) and not os.path.islink(q):
                shutil.rmtree(q)
            else:
                os.unlink(q)
    vm.run(vm.NICE + ["tar", "--numeric-owner", "-C", root, "-cf",
                      out + ".new", "."])
    os.rename(out + ".new", out)
    # Another list's base (SANITIZE=1 adds the sanitizers' libraries) is
    # kept until it has not been used for a week.
    for old in os.listdir(vm.CACHE):
        p = os.path.join(vm.CACHE, old)
        if old.startswith("vmcheck-base-") and old != os.path.basename(out) \
                and os.path.getmtime(p) < time.time() - 7 * 86400:
            os.unlink(p)
    shutil.rmtree(root)
    return out


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


GUEST_UNIT = """\
[Unit]
Description=make vmcheck: the guest test
After=basic.target

[Service]
# simple, not oneshot: the boot must be able to finish while it runs (the
# test waits for it).
Type=simple
ExecStart=/usr/bin/python3 /root/vmcheck/guest.py
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""


def stage(base, build, workdir):
    """The guest's root: the base, the tree installed as the package does,
    the guest test and its unit."""
    root = os.path.join(workdir, "stage")
    if os.path.exists(root):
        vm.run(["rm", "-rf", "--one-file-system", root])
    os.makedirs(root)
    vm.run(["tar", "--numeric-owner", "-C", root, "-xf", base])
    vm.run(["make", "--no-print-directory", "-s", "-C", vm.TOP, "install",
            "BUILD=" + build, "DESTDIR=" + root, "PREFIX=/usr",
            "UNITDIR=/lib/systemd/system"], stdout=subprocess.DEVNULL)
    test = os.path.join(root, "root", "vmcheck")
    os.makedirs(test)
    shutil.copy(os.path.join(vm.TOP, "tests", "vm", "guest.py"), test)
    shutil.copy(os.path.join(build, "tests", "helpers", "spool_check"), test)
    etc = os.path.join(root, "etc")
    write(os.path.join(etc, "systemd", "system", "vmcheck.service"),
          GUEST_UNIT)
    wants = os.path.join(etc, "systemd", "system", "multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    os.symlink("/etc/systemd/system/vmcheck.service",
               os.path.join(wants, "vmcheck.service"))
    # Nothing on the console but the test's lines and systemd's errors: no
    # login prompt, and no apt runs in the middle of a check.
    for u in ("serial-getty@ttyS0.service", "apt-daily.timer",
              "apt-daily-upgrade.timer"):
        p = os.path.join(etc, "systemd", "system", u)
        if not os.path.lexists(p):
            os.symlink("/dev/null", p)
    write(os.path.join(etc, "hostname"), "vmcheck\n")
    if any("libasan" in lib for lib in vm.libraries(
            [os.path.join(build, "postman")])):
        # SANITIZE=1: LeakSanitizer stops the process with ptrace(2) at
        # exit, which the units' SystemCallFilter= denies (SIGSYS, and a
        # stop that hangs): leaks are make check's to find.
        write(os.path.join(etc, "systemd", "system.conf.d", "vmcheck.conf"),
              "[Manager]\nDefaultEnvironment=ASAN_OPTIONS=detect_leaks=0\n")
    return root


def image(root, path):
    """root as an ext4 image just large enough, with room for the spool,
    the Maildirs and the journal."""
    used = int(subprocess.run(["du", "-s", "-B1M", "--one-file-system", root],
                              check=True, capture_output=True,
                              text=True).stdout.split()[0])
    size = used + used // 5 + 160
    if os.path.exists(path):
        os.unlink(path)
    vm.run(["truncate", "-s", "%dM" % size, path])
    vm.run(vm.NICE + ["mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, path])
    return size


LINE = re.compile(r"vm: (ok|FAIL|figure|score|info|\|) ?(.*)$")


def main():
    if os.geteuid() != 0:
        raise SystemExit("vmcheck: needs root (debootstrap, the cache in %s)"
                         % vm.CACHE)
    t_start = time.monotonic()
    build = os.path.abspath(os.environ.get("BUILD", os.path.join(vm.TOP,
                                                                 "build")))
    tools()
    workdir = os.path.join(vm.CACHE, "vmcheck")
    os.makedirs(workdir, exist_ok=True)
    bins = [os.path.join(build, b) for b in ("postoffice", "postmaster",
                                             "postman")]
    bins.append(os.path.join(build, "tests", "helpers", "spool_check"))
    base = base_root(sorted(set(PACKAGES) | set(runtime_packages(bins))),
                     workdir)
    kernel, initrd = vm.root_initramfs()
    t0 = time.monotonic()
    root = stage(base, build, workdir)
    disk = os.path.join(workdir, "root.img")
    size = image(root, disk)
    vm.run(["rm", "-rf", "--one-file-system", root])
    say("vmcheck: image of %d MiB made in %.0f s" % (size,
                                                    time.monotonic() - t0))
    accel, why = vm.choose_accel(kernel, initrd, workdir)
    say("vmcheck: accelerator %s (%s)" % (accel, why))
    log = os.path.join(workdir, "console.log")
    guest = vm.VM(kernel, initrd, disk, log, accel, "root",
                  kargs="systemd.show_status=error",
                  memory="1G")
    done = guest.wait_for(r"vm: done\r?$", GUEST_TIMEOUT)
    off = guest.wait_off(60)
    passed = failed = 0
    for line in guest.console().splitlines():
        m = LINE.search(line.rstrip("\r"))
        if not m:
            continue
        kind, text = m.groups()
        say("%s %s" % (kind, text) if kind in ("ok", "FAIL")
            else "  | " + text if kind == "|"
            else text if kind == "info" else "%s: %s" % (kind, text))
        if kind == "ok":
            passed += 1
        elif kind == "FAIL":
            failed += 1
    if done is None:
        failed += 1
        tail = guest.console().strip().splitlines()[-15:]
        say("FAIL guest: never reported done (console %s; its last lines "
            "below)" % log)
        for line in tail:
            say("  | " + line.rstrip("\r"))
    else:
        say("vmcheck: guest done %.0f s after qemu started%s" % (
            done, "" if off else "; it did not power off in 60 s"))
    say("vmcheck: %.0f s in all" % (time.monotonic() - t_start))
    say("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
