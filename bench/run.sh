#!/bin/sh
# run.sh - the benchmark behind `make bench`.  Compares PostOffice,
# PostMaster and PostMan with their anchors (Postfix, the original Python
# stack, the disk's and the kernel's own ceilings) in one run and prints
# one table per daemon with the ratios; the same text goes to
# $BUILD/bench/results.txt.
#
#   BUILD=build bench/run.sh          full run, two passes (about 25 minutes)
#   BENCH_QUICK=1 bench/run.sh        a short run (about 2 minutes)
#   BENCH_ONLY=smtp,durable,stall,memory,drain,postman   the parts to run
#   BENCH_FS=own                      only on the machine's own filesystem
#   BENCH_FS=loop                     only on a fresh journaled ext4
#   BENCH_LOOP_ONLY=smtp,durable      the parts of the second pass
#
# Needs root (Postfix's master starts as root; the spools' filesystem is
# mounted), the Debian packages of `tools/deps.sh bench`, and the postfix
# package's files, which it unpacks under $BUILD/postfix without
# installing the package.  Only loopback addresses are used; everything
# runs in a temporary folder removed at the end.
#
# By default (BENCH_FS=both) it runs twice.  First on the machine's own
# filesystem, the one /var/lib/postoffice is on (a folder under /var/tmp),
# as a user has it: every part.  Then on a fresh ext4 with its journal (as
# a mail server's filesystem usually has one), made in a sparse image and
# loop-mounted, so that every run starts from the same state whatever the
# machine's own filesystem went through in the minutes before (on an ext4
# without journal, a file creation skips one by one the inodes freed in
# the last minutes, so a run right after many deletions writes slower):
# the parts where the filesystem matters, BENCH_LOOP_ONLY (smtp, durable,
# drain).  When no loop device can be had, the second pass says so and is
# skipped.  Both passes go into the results file.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-build}
case "$BUILD" in /*) build=$BUILD ;; *) build=$top/$BUILD ;; esac

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/run.sh: must run as root (Postfix's master needs it)" >&2
	exit 77
fi

tools=$build/bench
mkdir -p "$tools"

# Postfix's programs and daemons, unpacked from Debian's package.
pfx=$build/postfix
"$top/tools/postfix-tools.sh" "$pfx" >/dev/null
[ -x "$pfx/usr/lib/postfix/sbin/smtpd" ] || {
	echo "bench/run.sh: no Postfix daemons under $pfx" >&2
	exit 69
}

# The benchmark's own small programs.
cc=${CC:-cc}
cflags="-O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral"
# shellcheck disable=SC2046
$cc $cflags -o "$tools/benchtool" "$here/benchtool.c" \
    $(pkg-config --cflags --libs libcurl libmicrohttpd)
$cc $cflags -o "$tools/nullsendmail" "$here/nullsendmail.c"
$cc $cflags -o "$tools/stampsendmail" "$here/stampsendmail.c"

# 1,000 idle SMTP sessions need more descriptors than the usual 1,024.
ulimit -n 8192 2>/dev/null || true

quick=
[ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ] && quick=--quick
results=$build/bench/results.txt
mkdir -p "$build/bench"
: >"$results"
top_work=
mounted=
pfx_stop() {
	# Postfix instances started under $1 must be stopped before their
	# queue goes away.
	for conf in "$1"/postfix-*/conf; do
		[ -d "$conf" ] || continue
		LD_LIBRARY_PATH=$pfx/usr/lib/postfix \
		    "$pfx/usr/sbin/postfix" -c "$conf" stop >/dev/null 2>&1 || true
	done
}
cleanup() {
	[ -n "$top_work" ] || return 0
	pfx_stop "$top_work"
	[ -z "$mounted" ] || { pfx_stop "$mounted/work"; umount "$mounted" || true; }
	mounted=
	rm -rf "$top_work"
	top_work=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pass WORK PARTS: one run of bench.py with its spools in WORK.
pass() {
	chmod 755 "$1"	# Postfix's daemons run as the postfix user
	# Each contender's folder in a block group of its own (ext4's Orlov
	# allocator spreads the sub-folders of a +T folder): on an ext4
	# without journal a file creation skips, one by one, the inodes of
	# its group freed in the last minutes, so files deleted by an earlier
	# run or part would otherwise slow down whoever writes next.
	chattr +T "$1" 2>/dev/null || true
	/usr/bin/python3 "$here/bench.py" --build "$build" --work "$1" \
	    --postfix "$pfx" --tools "$tools" --results "$results.part" \
	    --only "$2" $quick || status=1
	cat "$results.part" >>"$results"
	rm -f "$results.part"
}

status=0
fs=${BENCH_FS:-both}
[ "$fs" = tmp ] && fs=own
parts=${BENCH_ONLY:-smtp,durable,stall,memory,drain,postman}
if [ "$fs" = both ] || [ "$fs" = own ]; then
	top_work=$(mktemp -d /var/tmp/postoffice-bench.XXXXXX)
	echo "== pass 1: the machine's own filesystem" | tee -a "$results"
	pass "$top_work" "$parts"
	cleanup
fi
if [ "$fs" = both ] || [ "$fs" = loop ]; then
	# The second of two passes: the parts where the filesystem matters.
	[ "$fs" = loop ] ||
	    parts=${BENCH_LOOP_ONLY:-${BENCH_ONLY:-smtp,durable,drain}}
	top_work=$(mktemp -d /var/tmp/postoffice-bench.XXXXXX)
	mkdir "$top_work/fs"
	if truncate -s 32G "$top_work/fs.img" &&
	    mkfs.ext4 -q -F "$top_work/fs.img" &&
	    mount -o loop "$top_work/fs.img" "$top_work/fs"; then
		mounted=$top_work/fs
		mkdir "$mounted/work"
		# Postfix's daemons, as the postfix user, must reach the work
		# folder: mktemp made its parent for root alone.
		chmod 755 "$top_work" "$mounted"
		echo "== pass 2: a fresh ext4 with its journal" | tee -a "$results"
		pass "$mounted/work" "$parts"
	else
		echo "== pass 2: skipped, no fresh ext4 could be mounted" |
		    tee -a "$results"
	fi
	cleanup
fi
echo "results written to $results"
exit $status
