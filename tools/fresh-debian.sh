#!/bin/sh
# fresh-debian.sh - `make fresh-check`: README's two commands on a new
# machine.  As root, it
#
#  1. makes a minimal Debian 12 root (debootstrap --variant=minbase
#     bookworm, from the mirror this machine's apt uses; the base is kept
#     as a debootstrap tarball in $FRESH_CACHE, default
#     /var/cache/postoffice-fresh, and made again when a week old);
#  2. installs git and make there, and nothing else, and clones this
#     repository's HEAD into /root/postoffice (root's home, mode 700, as
#     root's own clone would be);
#  3. runs `make run` there in the background, sends README's first mail
#     with swaks and waits until it is in the Maildir, then stops the relay
#     as Ctrl-C would (SIGINT to its process group);
#  4. runs `make check` there; its closing line "N passed, N failed" is
#     the last line printed, and its exit status this script's.
#
# The root lives in a mount and PID namespace of its own (unshare): what is
# mounted for it (/proc, /sys, /run, /dev/pts, /dev/shm, the root onto
# itself so that the tests' own `unshare --mount` works) is gone with the
# namespace, and so is every process started in it.  The only network
# used is the Debian mirror (debootstrap, and apt-get in the root).  The
# whole run is bounded by $FRESH_LIMIT seconds (default 3600).  The .debs
# apt downloads are kept in $FRESH_CACHE/archives for the next run.
# KEEP=1 keeps the root (its path is printed).
set -eu

suite=bookworm
cache=${FRESH_CACHE:-/var/cache/postoffice-fresh}
clone=/root/postoffice
ready="Press Ctrl-C to stop."

say() { printf 'fresh-check: %s\n' "$*"; }
fail() { printf 'fresh-check: FAIL: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# Inside the namespaces: fresh-debian.sh --in-namespace ROOT SOURCE SHA START
# ---------------------------------------------------------------------------
if [ "${1:-}" = --in-namespace ]; then
	root=$2 src=$3 sha=$4 start=$5

	phase() { printf '\n== fresh-check: %s (at %d s)\n' "$*" $(($(date +%s) - start)); }
	# A command in the root, with a login's environment and nothing of ours.
	in_root() {
		chroot "$root" /usr/bin/env -i HOME=/root USER=root LOGNAME=root \
		    SHELL=/bin/sh TERM=dumb LANG=C.UTF-8 \
		    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		    "$@"
	}
	# show LOG: a command's output, set off from ours.
	show() { sed 's/^/  | /' "$1"; }

	# What a booted machine has and a debootstrap root lacks.
	mount --bind "$root" "$root"
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$root/run"
	mkdir -m 1777 "$root/run/lock"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
	mkdir -p "$cache/archives/partial"
	mount --bind "$cache/archives" "$root/var/cache/apt/archives"
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
	    >"$root/etc/hosts"
	# As in any chroot: a package's maintainer scripts start no service (a
	# daemon started here would outlive nothing, but would take the
	# machine's ports).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"

	phase "apt-get install git make"
	if ! { in_root apt-get update -q &&
	       in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	           --no-install-recommends git make; } >"$root/tmp/apt.log" 2>&1; then
		show "$root/tmp/apt.log"
		fail "apt-get install git make"
	fi
	tail -n 1 "$root/tmp/apt.log"

	phase "git clone into $clone"
	mkdir "$root/mnt/source"
	mount --bind -o ro "$src" "$root/mnt/source"
	in_root git clone -q /mnt/source "$clone" || fail "git clone"
	umount "$root/mnt/source"
	rmdir "$root/mnt/source"
	[ "$(in_root git -C "$clone" rev-parse HEAD)" = "$sha" ] ||
	    in_root git -C "$clone" checkout -q --detach "$sha"
	in_root git -C "$clone" log -1 --format='%h %s'
	ls -ld "$root/root" | awk '{ print "/root:", $1 }'

	# README's ports, unless this machine (whose network the root shares)
	# has them taken already; then others, in the environment README names.
	smtp=2525 http=8000
	taken() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
	free_from() { p=$1; while taken "$p"; do p=$((p + 1)); done; echo "$p"; }
	if taken $smtp || taken $http; then
		smtp=$(free_from 12525) http=$(free_from 18000)
		say "port 2525 or 8000 is taken on this machine: make run gets SMTP_PORT=$smtp HTTP_PORT=$http"
	fi

	phase "make run"
	runlog=$root/root/make-run.log
	# SIGINT at its default, as a terminal's shell starts a command, in a
	# process group of its own, which Ctrl-C would signal.
	setsid env --default-signal=INT chroot "$root" /usr/bin/env -i \
	    HOME=/root USER=root LOGNAME=root SHELL=/bin/sh TERM=dumb LANG=C.UTF-8 \
	    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	    SMTP_PORT=$smtp HTTP_PORT=$http \
	    sh -c "cd $clone && exec make run" >"$runlog" 2>&1 </dev/null &
	run=$!
	i=0
	until grep -qF "$ready" "$runlog"; do
		if ! kill -0 "$run" 2>/dev/null; then
			show "$runlog"
			fail "make run ended before the relay was ready"
		fi
		i=$((i + 1))
		[ $i -lt 1200 ] || { show "$runlog"; fail "make run not ready after 20 minutes"; }
		sleep 1
	done
	show "$runlog"
	say "make run ready after $i s"

	phase "a first mail, as README sends it"
	in_root swaks --server 127.0.0.1:$smtp --from app@example.com \
	    --to you@example.com >"$root/tmp/swaks.log" 2>&1 || true
	show "$root/tmp/swaks.log"
	grep -q '^<-  250 2.0.0 Ok: queued as ' "$root/tmp/swaks.log" ||
	    fail "swaks: PostOffice did not queue the mail"
	i=0
	until [ -n "$(ls -A "$root$clone/Maildir/new" 2>/dev/null)" ]; do
		i=$((i + 1))
		[ $i -lt 300 ] || fail "no mail in $clone/Maildir/new after 30 s"
		sleep 0.1
	done
	f=$(ls "$root$clone/Maildir/new")
	say "in the Maildir after $((i / 10)).$((i % 10)) s: $clone/Maildir/new/$f"
	sed -n '/^$/q; s/^/  | /p' "$root$clone/Maildir/new/$f"

	phase "Ctrl-C to make run"
	n=$(wc -l <"$runlog")
	kill -INT "-$run"
	i=0
	while kill -0 "-$run" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || { kill -KILL "-$run"; fail "make run's processes still there 30 s after SIGINT"; }
		sleep 0.1
	done
	wait "$run" || true
	tail -n +"$((n + 1))" "$runlog" | show /dev/stdin
	grep -q '^run: relay stopped' "$runlog" || fail "make run did not say the relay stopped"
	say "the relay and all it started have ended"

	phase "make check"
	in_root apt-get autoclean -qq >/dev/null 2>&1 || true
	in_root sh -c "cd $clone && make check" 2>&1
	exit $?
fi

# ---------------------------------------------------------------------------
# On the host
# ---------------------------------------------------------------------------
start=$(date +%s)
limit=${FRESH_LIMIT:-3600}
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, mount, chroot)"
"$top/tools/deps.sh" fresh
sha=$(git -C "$top" rev-parse HEAD)

# The URI this machine's apt uses for SUITE (deb822 .sources, or one-line
# lists), empty when none.
mirror() {
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			awk -v s="$1" '
			    /^URIs:/ { u = $2 }
			    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
			    /^[[:space:]]*$/ { if (hit && u != "") print u; hit = 0; u = "" }
			    END { if (hit && u != "") print u }' "$f"
		done
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		    awk -v s="$1" '$1 == "deb" && $3 == s { print $2 }'
	} | head -n 1
}
uri=$(mirror $suite)
[ -n "$uri" ] || fail "no $suite mirror in /etc/apt/sources.list*"
security=$(mirror $suite-security)

arch=$(dpkg --print-architecture)
base=$cache/$suite-minbase-$arch.tgz
mkdir -p "$cache"
work=$(mktemp -d /var/tmp/postoffice-fresh.XXXXXX)
root=$work/root
cleanup() {
	# The namespace took its mounts with it; a path under the work folder
	# still mounted means something went wrong, and nothing is removed.
	if grep -qF " $work/" /proc/self/mounts; then
		printf 'fresh-check: %s has mounts left; not removed\n' "$work" >&2
	elif [ "${KEEP:-0}" = 1 ]; then
		printf 'fresh-check: kept %s\n' "$root" >&2
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf '== fresh-check: a minimal Debian 12 root (%s, %s)\n' "$suite" "$uri"
if [ -z "$(find "$base" -mtime -7 2>/dev/null)" ]; then
	say "debootstrap --make-tarball $base"
	debootstrap --variant=minbase --make-tarball="$work/base.tgz" \
	    $suite "$work/make" "$uri" >"$work/debootstrap.log" 2>&1 ||
	    { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap --make-tarball"; }
	mv "$work/base.tgz" "$base"
fi
debootstrap --variant=minbase --unpack-tarball="$base" \
    $suite "$root" "$uri" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap --unpack-tarball"; }
chmod 755 "$root"
{
	echo "deb $uri $suite main"
	echo "deb $uri $suite-updates main"
	[ -z "$security" ] || echo "deb $security $suite-security main"
} >"$root/etc/apt/sources.list"
say "root at $root after $(($(date +%s) - start)) s"

# SIGINT or SIGTERM here ends the namespace (timeout passes the signal on,
# and kills it 10 s later), and only then is the root removed.
left=$((limit - ($(date +%s) - start)))
FRESH_CACHE=$cache timeout -k 10 "$left" \
    unshare --mount --propagation private --pid --fork --mount-proc --kill-child \
    "$top/tools/fresh-debian.sh" --in-namespace "$root" "$top" "$sha" "$start" &
ns=$!
stopped=""
trap 'stopped=1; kill -TERM $ns 2>/dev/null' INT TERM
while :; do
	rc=0
	wait $ns || rc=$?
	kill -0 $ns 2>/dev/null || break
done
[ -z "$stopped" ] || fail "stopped by a signal"
case $rc in
124 | 137) fail "not done within FRESH_LIMIT=$limit s" ;;
esac
exit $rc
