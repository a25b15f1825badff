#!/bin/sh
# run.sh - the benchmark behind `make bench`.  Compares PostOffice,
# PostMaster and PostMan with their anchors (Postfix, the original Python
# stack, the disk's and the kernel's own ceilings) in one run and prints
# one table per daemon with the ratios; the same text goes to
# $BUILD/bench/results.txt.
#
#   BUILD=build bench/run.sh          full run (about 15 minutes)
#   BENCH_QUICK=1 bench/run.sh        a short run (about 2 minutes)
#   BENCH_ONLY=smtp,memory,drain,postman   the parts to run
#   BENCH_FS=loop                     spools on a fresh ext4 (with journal)
#                                     in a loop-mounted image instead of
#                                     the filesystem of the temporary folder
#
# Needs root (Postfix's master starts as root), the Debian packages of
# `tools/deps.sh bench`, and the postfix package's files, which it unpacks
# under $BUILD/postfix without installing the package.  Only loopback
# addresses are used; everything runs in a temporary folder removed at
# the end.
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

# Postfix's programs, unpacked from Debian's package.
pfx=$build/postfix
if [ -x "$top/tools/postfix-tools.sh" ]; then
	"$top/tools/postfix-tools.sh" "$pfx" >/dev/null
fi
if [ ! -x "$pfx/usr/sbin/smtp-source" ]; then
	"$here/postfix-root.sh" "$pfx"
fi

# The benchmark's own small programs.
cc=${CC:-cc}
cflags="-O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral"
# shellcheck disable=SC2046
$cc $cflags -o "$tools/benchtool" "$here/benchtool.c" \
    $(pkg-config --cflags --libs libcurl)
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
if [ "${BENCH_FS:-}" = loop ]; then
	truncate -s 32G "$top_work/fs.img"
	mkfs.ext4 -q -F "$top_work/fs.img"
	mkdir "$top_work/fs"
	mount -o loop "$top_work/fs.img" "$top_work/fs"
	mounted=$top_work/fs
	work=$top_work/fs/work
	mkdir "$work"
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
    --only "${BENCH_ONLY:-smtp,memory,drain,postman}" $quick
