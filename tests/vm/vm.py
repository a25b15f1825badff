"""The VM harness: a Debian kernel, an initramfs holding busybox, the
project's binaries and their libraries, and one ext4 disk for the spool,
booted with qemu.

The disk is a raw file given to the guest as virtio-blk with cache=none:
qemu opens it with O_DIRECT and the guest sees a volatile write cache, so
a write reaches the host's file when the guest writes it back, and is on
it for good once the guest flushes (fdatasync/fsync end in a FLUSH).
What the guest has not written back (its page cache) dies with a
SIGKILLed qemu: a pulled plug.  With qemu's default cache=writeback the
host's page cache would keep every write the guest made and a missing
flush would go unnoticed.

The kernel and its modules come from Debian's linux-image-amd64 package,
unpacked (not installed) into the cache folder, VM_CACHE (default
/var/cache/postoffice-vm).  The initramfs is rebuilt only when a binary
it holds changes."""

import hashlib
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("VM_CACHE", "/var/cache/postoffice-vm")
# The guest's drivers: the disk, the network card, the filesystem.
MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "crc32c_generic", "ext4")
NICE = ["nice", "-n", "19"]


def say(msg):
    print(msg, flush=True)


def run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


# What the harness runs, by the Debian package that has it.
NEEDS = {"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static",
         "mkfs.ext4": "e2fsprogs", "dpkg-deb": "dpkg", "cc": "gcc"}


def tools():
    """Installs the missing packages (as root), or names them."""
    missing = sorted({p for t, p in NEEDS.items() if shutil.which(t) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit("vm: missing packages: %s (apt-get install them)"
                         % " ".join(missing))
    say("vm: installing %s" % " ".join(missing))
    run(NICE + ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
        + missing, stdout=subprocess.DEVNULL)


def kernel():
    """(vmlinuz, modules folder) of Debian's current kernel package,
    fetched and unpacked into the cache once."""
    root = os.path.join(CACHE, "kernel")
    if not os.path.isdir(os.path.join(root, "boot")):
        os.makedirs(CACHE, exist_ok=True)
        dep = subprocess.run(["apt-cache", "depends", "linux-image-amd64"],
                             check=True, capture_output=True, text=True).stdout
        pkg = re.search(r"Depends: (linux-image-\S+)", dep).group(1)
        say("vm: fetching %s" % pkg)
        run(["apt-get", "download", pkg], cwd=CACHE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deb = [f for f in os.listdir(CACHE) if f.startswith(pkg + "_")][0]
        run(NICE + ["dpkg-deb", "-x", os.path.join(CACHE, deb), root + ".new"])
        os.rename(root + ".new", root)
    vmlinuz = [f for f in os.listdir(os.path.join(root, "boot"))
               if f.startswith("vmlinuz-")][0]
    version = vmlinuz[len("vmlinuz-"):]
    return (vmlinux(os.path.join(root, "boot", vmlinuz)),
            os.path.join(root, "lib", "modules", version))


def vmlinux(vmlinuz):
    """The kernel's ELF image, unpacked from the xz stream in vmlinuz.
    qemu starts it at its PVH entry: no BIOS boot protocol and no
    decompression in the guest, which under software emulation take 8 of
    the 12 seconds a boot of vmlinuz takes."""
    out = vmlinuz.replace("vmlinuz-", "vmlinux-")
    if not os.path.exists(out):
        with open(vmlinuz, "rb") as f:
            data = f.read()
        start = data.find(b"\xfd7zXZ\x00")
        elf = lzma.LZMADecompressor().decompress(data[start:])
        if start < 0 or not elf.startswith(b"\x7fELF"):
            raise SystemExit("vm: %s holds no xz-packed ELF kernel" % vmlinuz)
        with open(out + ".new", "wb") as f:
            f.write(elf)
        os.rename(out + ".new", out)
    return out


def module_order(moddir, names):
    """The .ko files for names and what they depend on, dependencies
    first (read from each module's .modinfo: no depmod needed)."""
    paths = {}
    for d, _, files in os.walk(moddir):
        for f in files:
            if f.endswith(".ko"):
                paths[f[:-3].replace("-", "_")] = os.path.join(d, f)
    order = []

    def add(name):
        name = name.replace("-", "_")
        if name in order or name not in paths:
            return  # built into the kernel, or already there
        with open(paths[name], "rb") as f:
            m = re.search(rb"\0depends=([^\0]*)\0", f.read())
        for dep in (m.group(1).decode().split(",") if m else []):
            if dep:
                add(dep)
        order.append(name)

    for n in names:
        add(n)
    return [(n, paths[n]) for n in order]


def libraries(binaries):
    """Every shared library the binaries load, with the dynamic loader."""
    libs = set()
    for b in binaries:
        out = subprocess.run(["ldd", b], check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                libs.add(m.group(1))
    return sorted(libs)


def faultshim(build):
    """The fault shim, built for the guest (the same libc as the host)."""
    src = os.path.join(TOP, "tests", "fuzz", "faultshim.c")
    out = os.path.join(build, "vm", "faultshim.so")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        run(NICE + ["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-shared",
                    "-fPIC", "-o", out, src, "-ldl"])
    return out


def archive(prefix, files, dirs, populate):
    """CACHE/PREFIX-KEY.cpio: busybox with its applets, the init script and
    the drivers, plus what populate(stage) adds; KEY hashes files (every
    file the archive holds), so a change to one makes a new archive, and
    the older ones of the same prefix are removed."""
    vmlinuz, moddir = kernel()
    busybox = shutil.which("busybox")
    init = os.path.join(TOP, "tests", "vm", "init")
    mods = module_order(moddir, MODULES)
    h = hashlib.sha256()
    for f in [busybox, init] + files + [p for _, p in mods]:
        h.update(f.encode())
        with open(f, "rb") as fp:
            h.update(hashlib.sha256(fp.read()).digest())
    out = os.path.join(CACHE, "%s-%s.cpio" % (prefix, h.hexdigest()[:16]))
    if os.path.exists(out):
        return vmlinuz, out
    say("vm: building %s" % os.path.basename(out))
    stage = os.path.join(CACHE, prefix + "-stage")
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "proc", "sys", "dev", "modules") + dirs:
        os.makedirs(os.path.join(stage, d))
    shutil.copy(busybox, os.path.join(stage, "bin", "busybox"))
    applets = subprocess.run([busybox, "--list"], check=True,
                             capture_output=True, text=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(stage, "bin", a))
    shutil.copy(init, os.path.join(stage, "init"))
    with open(os.path.join(stage, "modules", "order"), "w") as f:
        for name, path in mods:
            shutil.copy(path, os.path.join(stage, "modules", name + ".ko"))
            f.write(name + ".ko\n")
    populate(stage)
    names = subprocess.run(["find", ".", "-mindepth", "1"], cwd=stage, check=True,
                           capture_output=True).stdout
    with open(out + ".new", "wb") as f:
        subprocess.run(NICE + [busybox, "cpio", "-o", "-H", "newc"],
                       cwd=stage, input=names, stdout=f, check=True)
    os.rename(out + ".new", out)
    for old in os.listdir(CACHE):
        if old.startswith(prefix + "-") and old.endswith(".cpio") and \
                old != os.path.basename(out):
            os.unlink(os.path.join(CACHE, old))
    shutil.rmtree(stage, ignore_errors=True)
    return vmlinuz, out


def initramfs(build):
    """The power-loss guest's whole root: the project's daemons, the spool
    checker, their libraries and the fault shim (po.mode=serve, check)."""
    tools()
    bins = [os.path.join(build, "postoffice"), os.path.join(build, "postmaster"),
            os.path.join(build, "tests", "helpers", "spool_check")]
    shim = faultshim(build)
    libs = libraries(bins)

    def populate(stage):
        for b in bins:
            shutil.copy(b, os.path.join(stage, "bin", os.path.basename(b)))
        for lib in libs:
            dst = stage + lib
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(lib, dst)
        shutil.copy(shim, os.path.join(stage, "lib", "faultshim.so"))

    return archive("initrd", [shim] + bins + libs, ("lib", "tmp"), populate)


def root_initramfs():
    """Busybox, the init script and the drivers only, for po.mode=root (a
    whole root on the disk; make vmcheck).  Its own prefix, so that it and
    initramfs() never remove each other's archive."""
    tools()
    return archive("rootinitrd", [], ("newroot",), lambda stage: None)


def new_disk(path, size="2G"):
    """A fresh ext4 spool disk (a sparse raw file)."""
    if os.path.exists(path):
        os.unlink(path)
    run(["truncate", "-s", size, path])
    run(["mkfs.ext4", "-q", "-F", "-L", "spool", path])


class VM:
    """One boot of the guest: qemu with the serial console in log."""

    def __init__(self, vmlinuz, initrd, disk, log, accel, mode, ports=None,
                 nosync=False, delivery=False, kargs="", memory="512M"):
        """ports: {guest port: host port}, forwarded from the host's
        loopback only; kargs: more kernel parameters."""
        args = "console=ttyS0 %s panic=-1 po.mode=%s po.nosync=%d " \
            "po.delivery=%d" % (os.environ.get("VM_KARGS", "quiet"), mode,
                                1 if nosync else 0, 1 if delivery else 0)
        if kargs:
            args += " " + kargs
        net = "user,id=n0,restrict=on"
        for guest, host in sorted((ports or {}).items()):
            net += ",hostfwd=tcp:127.0.0.1:%d-:%d" % (host, guest)
        self.log = log
        argv = NICE + [
            "qemu-system-x86_64", "-nodefaults", "-no-reboot",
            "-display", "none", "-accel", accel, "-m", memory, "-smp", "1",
            "-kernel", vmlinuz, "-initrd", initrd, "-append", args,
            "-serial", "file:" + log,
            "-drive", "file=%s,format=raw,if=virtio,cache=none" % disk,
            "-netdev", net, "-device", "virtio-net-pci,netdev=n0"]
        if os.path.exists(log):
            os.unlink(log)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(log + ".qemu", "wb"))

    def console(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, pattern, timeout):
        """Seconds until a console line matched pattern; None when qemu
        ended or the time ran out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.console(), re.M):
                return time.monotonic() - self.t0
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def pull_plug(self):
        """SIGKILL: nothing in the guest runs after this."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def wait_off(self, timeout):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.pull_plug()
            return False
        return True


def choose_accel(vmlinuz, initrd, workdir):
    """KVM when a short probe boot under it reaches the guest's init and
    powers off, software emulation (TCG) otherwise."""
    if os.environ.get("VM_ACCEL"):
        return os.environ["VM_ACCEL"], "VM_ACCEL"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no /dev/kvm"
    disk = os.path.join(workdir, "probe.img")
    run(["truncate", "-s", "16M", disk])
    vm = VM(vmlinuz, initrd, disk, os.path.join(workdir, "probe.log"),
            "kvm", "probe")
    ok = vm.wait_for(r"^vm: probe ok", 10)
    vm.pull_plug()
    os.unlink(disk)
    if ok is None:
        tail = vm.console().strip().splitlines()[-1:] or ["none"]
        return "tcg", "a KVM probe boot did not reach init in 10 s " \
            "(its console's last line: %s)" % tail[0][:80]
    return "kvm", "a KVM probe boot reached init in %.1f s" % ok


if __name__ == "__main__":
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "build")
    print(initramfs(build))
