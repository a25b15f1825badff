#!/bin/sh
# run.sh - the benchmark behind `make bench`.  Compares PostOffice,
# PostMaster and PostMan with their anchors (Postfix, the original Python
# stack, the disk's and the kernel's own ceilings) in one run and prints
# one table per daemon with the ratios; the same text goes to
# $BUILD/bench/results.txt.
#
#   BUILD=build bench/run.sh          full run (about 15 minutes)
#   BENCH_QUICK=1 bench/run.sh        a short run (about 2 minutes)
#   BENCH_ONLY=smtp,durable,stall,memory,drain,postman   the parts to run
#   BENCH_FS=tmp                      spools in the temporary folder's
#                                     filesystem instead of a fresh ext4
#
# Needs root (Postfix's master starts as root; the spools' filesystem is
# mounted), the Debian packages of `tools/deps.sh bench`, and the postfix
# package's files, which it unpacks under $BUILD/postfix without
# installing the package.  Only loopback addresses are used; everything
# runs in a temporary folder removed at the end.
#
# By default the spools live on a fresh ext4 (with its journal, as a mail
# server's filesystem usually has one) made in a sparse image in the
# temporary folder and loop-mounted: every run starts from the same state,
# whatever the machine's own filesystem went through in the minutes
# before (on an ext4 without journal, a file creation skips one by one the
# inodes freed in the last minutes, so a run right after many deletions
# writes slower).  When no loop device can be had, the temporary folder's
# own filesystem is used, and the output says so.
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

top_work=$(mktemp -d)
work=$top_work
mounted=
cleanup() {
	# Postfix instances started under $work must be stopped before their
	# queue goes away.
	for conf in "$work"/postfix-*/conf; do
		[ -d "$conf" ] || continue
		LD_LIBRARY_PATH=$pfx/usr/lib/postfix \
		    "$pfx/usr/sbin/postfix" -c "$conf" stop >/dev/null 2>&1 || true
	done
	if [ -n "$mounted" ]; then umount "$mounted" || true; fi
	rm -rf "$top_work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "${BENCH_FS:-loop}" = loop ]; then
	mkdir "$top_work/fs"
	if truncate -s 32G "$top_work/fs.img" &&
	    mkfs.ext4 -q -F "$top_work/fs.img" &&
	    mount -o loop "$top_work/fs.img" "$top_work/fs"; then
		mounted=$top_work/fs
		work=$top_work/fs/work
		mkdir "$work"
	else
		echo "bench/run.sh: cannot mount a fresh ext4; the spools go" \
		    "to $(df --output=fstype "$top_work" | tail -1)" \
		    "in $top_work" >&2
	fi
fi
chmod 755 "$top_work" "$work"	# Postfix's daemons run as the postfix user
# Each contender's folder in a block group of its own (ext4's Orlov
# allocator spreads the sub-folders of a +T folder): on an ext4 without
# journal a file creation skips, one by one, the inodes of its group freed
# in the last minutes, so files deleted by an earlier run or part would
# otherwise slow down whoever writes next.
chattr +T "$work" 2>/dev/null || true

quick=
[ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ] && quick=--quick
/usr/bin/python3 "$here/bench.py" --build "$build" --work "$work" \
    --postfix "$pfx" --tools "$tools" --results "$build/bench/results.txt" \
    --only "${BENCH_ONLY:-smtp,durable,stall,memory,drain,postman}" $quick
