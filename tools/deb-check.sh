#!/bin/sh
# deb-check.sh - the Debian packages, built and tried as an administrator
# would (make deb-check; as root).
#
#  1. builds them with dpkg-buildpackage -us -uc -b in a clean clone of
#     the repository's HEAD (DEB_TREE=1: of the work tree's files as git
#     knows them, uncommitted edits included), and fails on any lintian
#     error or warning;
#  2. installs them with apt-get install ./*.deb into a fresh minimal
#     Debian 12 root (debootstrap --variant=minbase bookworm from the
#     mirror this machine's apt uses; the base is cached as a tarball in
#     $DEB_CACHE, default /var/cache/postoffice-deb);
#  3. runs the installed programs there: a mail through postoffice into the
#     spool, leased and acknowledged with curl through postmaster, a second
#     one delivered by postman into a Maildir;
#  4. purges both packages and fails on any file left that was not there
#     before the installation.
#
# KEEP=1 keeps the work folder (its path is printed).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${DEB_CACHE:-/var/cache/postoffice-deb}
suite=bookworm

say() { printf 'deb-check: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot, apt-get)"

# The mirror apt uses here for $suite (deb822 .sources or one-line lists).
mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v s="$suite" '
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
			/^$/ { if (ok && u != "") exit; ok = 0; u = "" }
			END { if (ok && u != "") print u }' "$f"
	done
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	    awk -v s="$suite" '$1 == "deb" && $3 == s { print $2 }'
}

need() {
	missing=""
	for p in "$@"; do
		s=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$s" = installed ] || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	apt-get update -qq >/dev/null || true
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends $missing >/dev/null
}

work=$(mktemp -d /var/tmp/deb-check.XXXXXX)
root=$work/root
cleanup() {
	umount "$root/proc" 2>/dev/null || true
	if [ "${KEEP:-0}" = 1 ]; then say "kept $work"
	else rm -rf --one-file-system "$work"; fi
}
trap cleanup EXIT INT TERM

start=$(date +%s)
need dpkg-dev debhelper lintian debootstrap openssl

# --- 1. build and lintian --------------------------------------------------
if [ "${DEB_TREE:-0}" = 1 ]; then
	mkdir "$work/src"
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	    tar -c --null -T - -f -) | tar -x -C "$work/src"
else
	git clone -q --no-hardlinks "$top" "$work/src"
fi
# Build-Depends, as a package builder would install them beforehand.
DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq "$work/src" \
    >/dev/null 2>&1 || fail "Build-Depends cannot be installed"
t0=$(date +%s)
(cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
    { tail -n 30 "$work/build.log" >&2; fail "dpkg-buildpackage"; }
say "built in $(($(date +%s) - t0)) s: $(cd "$work" && echo *.deb)"
# The package build never installs anything: deps.sh is not called.
! grep -q 'deps.sh' "$work/build.log" || fail "the package build ran deps.sh"
# Debian's flags reach every compiler and linker line (hardening=+all:
# _FORTIFY_SOURCE from CPPFLAGS, bindnow from LDFLAGS), -Werror none.
cc=$(grep '^cc ' "$work/build.log")
[ -n "$cc" ] || fail "no compiler line in the build log"
! printf '%s\n' "$cc" | grep -- ' -c ' | grep -qv -- '-D_FORTIFY_SOURCE=2' ||
    fail "a compilation without dpkg-buildflags' CPPFLAGS"
! printf '%s\n' "$cc" | grep -v -- ' -c ' | grep -qv -- '-Wl,-z,now' ||
    fail "a link without dpkg-buildflags' LDFLAGS"
! printf '%s\n' "$cc" | grep -q -- '-Werror\( \|$\)' ||
    fail "the package build has -Werror"
lintian --fail-on error,warning "$work"/postoffice_*.changes \
    >"$work/lintian.log" 2>&1 ||
    { grep -v 'root privileges' "$work/lintian.log" >&2; fail "lintian"; }
grep -v 'root privileges' "$work/lintian.log" | sed 's/^/lintian: /' >&2
say "lintian: no error, no warning"

# --- 2. a fresh Debian 12 root -------------------------------------------
base=$cache/$suite-minbase.tar.gz
if [ ! -f "$base" ]; then
	m=$(mirror | head -n 1)
	[ -n "$m" ] || fail "no $suite mirror in /etc/apt/sources.list*"
	say "debootstrap $suite from $m into $base"
	mkdir -p "$cache"
	debootstrap --variant=minbase "$suite" "$work/base" "$m" \
	    >"$work/debootstrap.log" 2>&1 ||
	    { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
	tar -C "$work/base" -czf "$base.tmp" . && mv "$base.tmp" "$base"
	rm -rf "$work/base"
fi
mkdir "$root"
tar -C "$root" -xzf "$base"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
cp "$work"/postoffice_*.deb "$work"/postman_*.deb "$root/root/"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# What the test itself needs, and the libraries the packages depend on,
# installed before the first snapshot: what the purge must take away is
# what the packages themselves brought.
deps=$(for d in "$work"/postoffice_*.deb "$work"/postman_*.deb; do
	dpkg-deb -f "$d" Depends; echo ,; done |
    sed 's/([^)]*)//g; s/|[^,]*//g; s/,/ /g')
# shellcheck disable=SC2086
{ in_root apt-get update -qq &&
    in_root apt-get install -y -qq --no-install-recommends curl $deps; } \
    >"$work/deps.log" 2>&1 || { cat "$work/deps.log" >&2; fail "deps"; }
# Every path but the kernel's, apt's and dpkg's logs and caches, and
# /root (the packages and this test's logs).
snapshot() {
	in_root find / -xdev \( -path /proc -o -path /sys -o -path /dev \
	    -o -path /run -o -path /tmp -o -path /var/log/apt \
	    -o -path /var/log/dpkg.log -o -path /var/log/alternatives.log \
	    -o -path /var/cache/apt -o -path /var/lib/apt/lists \
	    -o -path /root \) -prune -o -print |
	    LC_ALL=C sort
}
snapshot >"$work/before"

t0=$(date +%s)
in_root sh -c 'cd /root && apt-get install -y -qq --no-install-recommends \
    ./postoffice_*.deb ./postman_*.deb' >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "apt-get install ./*.deb"; }
say "installed in $(($(date +%s) - t0)) s"

# --- 3. the installed programs -------------------------------------------
for p in postoffice postmaster postman; do
	v=$(in_root /usr/sbin/$p --version)
	[ "$v" = "$p 0.1.0" ] || fail "$p --version: $v"
	[ -f "$root/usr/share/man/man8/$p.8.gz" ] || fail "no man page $p(8)"
done
[ -f "$root/usr/share/man/man8/msmtp-sendmail.8.gz" ] ||
    fail "no man page msmtp-sendmail(8)"
for u in postoffice.service postmaster.service postmaster.socket \
    postman.service postman-once.service postman.timer; do
	f=$root/lib/systemd/system/$u
	[ -f "$f" ] || fail "no unit $u"
	! grep -q '@SBINDIR@' "$f" || fail "$u: @SBINDIR@ left"
	grep '^ExecStart=' "$f" | grep -qv '^ExecStart=/usr/sbin/' &&
	    fail "$u: ExecStart not in /usr/sbin"
done
# Nothing enabled: no unit is linked from a target.
en=$(find "$root/etc/systemd/system" -name 'post*' 2>/dev/null || true)
[ -z "$en" ] || fail "units enabled on installation: $en"
[ "$(in_root stat -c '%a %U %G' /etc/postoffice/postmaster.htpasswd)" = \
    "640 root www-data" ] || fail "postmaster.htpasswd: not 640 root www-data"
# shellcheck disable=SC2016
in_root dpkg-query -W -f='${Conffiles}\n' postoffice |
    grep -q '^ /etc/postoffice/postmaster.htpasswd ' ||
    fail "postmaster.htpasswd is not a conffile"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
smtp=$(free_port)
http=$(free_port)
# The spool as postoffice.service's StateDirectory= makes it.
in_root sh -c 'mkdir -p -m 750 /var/lib/postoffice/messages'
in_root sh -c "exec /usr/sbin/postoffice -l 127.0.0.1:$smtp \
    -s /var/lib/postoffice/messages >/root/postoffice.log 2>&1" &
pids=$!
# PostMan's entry in the shipped password file (a modified conffile, which
# the purge must remove all the same).
hash=$(openssl passwd -6 'first-secret')
printf 'postman:%s\n' "$hash" >>"$root/etc/postoffice/postmaster.htpasswd"
in_root sh -c "exec /usr/sbin/postmaster -l 127.0.0.1:$http \
    -s /var/lib/postoffice/messages \
    --htpasswd /etc/postoffice/postmaster.htpasswd \
    >/root/postmaster.log 2>&1" &
pids="$pids $!"
# chroot, env and sh exec: each pid is the daemon's own.
stop_daemons() {
	# shellcheck disable=SC2086
	kill $pids 2>/dev/null || true
	# shellcheck disable=SC2086
	wait $pids 2>/dev/null || true
	pids=""
}
trap 'stop_daemons; cleanup' EXIT INT TERM

mail() {   # mail SUBJECT: one message through curl's SMTP client
	printf 'From: alice@example.org\nTo: bob@example.net\nSubject: %s\n\nhello from the package\n' "$1" |
	in_root curl -sS --crlf "smtp://127.0.0.1:$smtp" \
	    --mail-from alice@example.org --mail-rcpt bob@example.net -T -
}
i=0
until mail first 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 50 ] || fail "postoffice does not answer"
	sleep 0.1
done
# Queued moments after its 250, at PostOffice's next checkpoint.
i=0
while n=$(find "$root/var/lib/postoffice/messages" -maxdepth 1 -type f | wc -l) &&
    [ "$n" -lt 1 ] && [ $i -lt 50 ]; do
	i=$((i + 1))
	sleep 0.1
done
[ "$n" -eq 1 ] || fail "spool holds $n files after one mail"

i=0
until [ "$(in_root curl -s "http://127.0.0.1:$http/healthz")" = ok ]; do
	i=$((i + 1)); [ $i -lt 50 ] || fail "postmaster does not answer"
	sleep 0.1
done
code=$(in_root curl -s -o /dev/null -w '%{http_code}' -X POST \
    -u postman:wrong "http://127.0.0.1:$http/lease")
[ "$code" = 401 ] || fail "a wrong password got $code"
lease=$(in_root curl -sS -X POST -u postman:first-secret \
    "http://127.0.0.1:$http/lease?max=1")
printf '%s' "$lease" | grep -q 'hello from the package' ||
    fail "the lease holds no message: $lease"
l=$(printf '%s' "$lease" | sed -n 's/.*"lease":"\([0-9a-f]*\)".*/\1/p')
id=$(printf '%s' "$lease" | grep -o '"id":"[0-9a-f]\{32\}"' | head -n 1 |
    cut -d'"' -f4)
ack=$(in_root curl -sS -X POST -u postman:first-secret \
    "http://127.0.0.1:$http/leases/$l/$id/ack")
[ "$ack" = "{\"id\":\"$id\",\"status\":\"sent\"}" ] || fail "ack: $ack"

# The second mail: PostMan fetches it with the password file the units read.
mail second
in_root sh -c "umask 077; echo first-secret >/etc/postoffice/postman.password"
in_root /usr/sbin/postman --user postman \
    --password-file /etc/postoffice/postman.password \
    --lock /run/postman.lock --maildir /var/lib/deb-check-maildir \
    "http://127.0.0.1:$http/" >"$work/postman.log" 2>&1 ||
    { cat "$work/postman.log" >&2; fail "postman"; }
got=$(cat "$root"/var/lib/deb-check-maildir/new/* 2>/dev/null || true)
printf '%s' "$got" | grep -q '^Subject: second' ||
    fail "the Maildir holds no second mail"
rm -rf "$root/var/lib/deb-check-maildir"
stop_daemons
say "a mail through postoffice, postmaster and curl; one through postman"

# --- 4. purge -------------------------------------------------------------
in_root apt-get purge -y -qq postoffice postman >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log" >&2; fail "apt-get purge"; }
snapshot >"$work/after"
left=$(LC_ALL=C comm -13 "$work/before" "$work/after")
if [ -n "$left" ]; then
	printf '%s\n' "$left" | sed 's/^/left after purge: /' >&2
	fail "the purge left files behind"
fi
say "purge: nothing left (but apt's and dpkg's logs and caches)"
say "passed in $(($(date +%s) - start)) s"
