#!/bin/sh
# drain.sh - PostMaster's GET / drain, sustained: a queue of 100,000
# messages of 2 KiB (spool files written directly in the spool format, as
# the rest of the benchmark fills its spools) drained to the end by one
# keep-alive client at 50 per request, with the rate, PostMaster's CPU
# time per message and the deletion backlog printed for every 10,000;
# then the original's server on 5,000 of the same messages, in the same
# run; then PostMaster's busiest functions during a drain (perf).
#
#   BUILD=build bench/drain.sh        the machine's own filesystem (a
#                                     folder in /var/tmp) and a fresh ext4
#   DRAIN_FS=own|fresh|both           which of the two (default both)
#   DRAIN_COUNT=100000 DRAIN_STEP=10000 DRAIN_ORIGINAL=5000
#   DRAIN_PERF=0                      no profile
#
# PostMaster runs with the soft descriptor limit a systemd service gets
# (1024) and this shell's hard limit, which it raises itself to at start;
# its held files (responses in flight, deletions pending) take a quarter
# of that, at most 8192.
#
# The fresh ext4 is made and loop-mounted as bench/run.sh makes its own
# (needs root); without root only the own filesystem is measured.  The
# spool is synced after filling, untimed, so that the fill's write-back
# does not run during the drain.  Everything is removed at the end.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-build}
case "$BUILD" in /*) build=$BUILD ;; *) build=$top/$BUILD ;; esac
count=${DRAIN_COUNT:-100000}
step=${DRAIN_STEP:-10000}
ocount=${DRAIN_ORIGINAL:-5000}
fs=${DRAIN_FS:-both}
perf=${DRAIN_PERF:-1}
pm=$build/postmaster

[ -x "$pm" ] || { echo "drain.sh: no $pm (make BUILD=$BUILD)" >&2; exit 69; }
tools=$build/bench
mkdir -p "$tools"
cc=${CC:-cc}
cflags="-O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral"
# shellcheck disable=SC2046
$cc $cflags -o "$tools/benchtool" "$here/benchtool.c" \
    $(pkg-config --cflags --libs libcurl libmicrohttpd)

top_work=$(mktemp -d /var/tmp/drain.XXXXXX)
mounted=
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$mounted" ]; then umount "$mounted" || true; fi
	rm -rf "$top_work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null ||
	    curl -s -o /dev/null "http://127.0.0.1:$1/nothing" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 600 ] || { echo "drain.sh: nothing on port $1" >&2; exit 1; }
		sleep 0.1
	done
}

fill() {	# DIR COUNT [TMPDIR]: the original's folder may hold nothing else
	t=${3:-$1/.tmp}
	mkdir -p "$1" "$t"
	"$tools/benchtool" fill "$1" "$t" "$2" 2048
	sync
}

start_pm() {	# SPOOL LOG: sets pm_pid, port
	port=$(free_port)
	(ulimit -Sn 1024 && exec "$pm" -l "127.0.0.1:$port" -s "$1" \
	    --max-batch-bytes 1073741824 --log-file "$2") &
	pm_pid=$!
	pids="$pids $pm_pid"
	wait_http "$port"
}

stop() {	# PID
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# Prints the curve as a table, and the whole drain's line.
curve() {
	awk '
	function v(k,   i, a) {
		for (i = 1; i <= NF; i++) {
			split($i, a, "=")
			if (a[1] == k) return a[2]
		}
		return ""
	}
	/^step=/ { printf "  %7s  %8s/s  %7s ms CPU  backlog %5s  p99 %6s ms\n", \
	    v("drained"), v("rate"), v("cpu_ms"), v("backlog"), v("p99_ms") }
	/^total/ { print "  whole drain: " substr($0, 7) }'
}

one_fs() {	# NAME WORKDIR
	name=$1
	work=$2
	echo "== $name: $(df --output=fstype "$work" | tail -1) at $work"
	spool=$work/pm-spool
	t0=$(date +%s)
	fill "$spool" "$count"
	echo "filled $count messages of 2 KiB in $(( $(date +%s) - t0 )) s"
	start_pm "$spool" "$work/postmaster.log"
	echo "PostMaster, GET /, 50 per request, keep-alive (rate per $step):"
	"$tools/benchtool" drain-curve "http://127.0.0.1:$port/" "$count" "$step" \
	    "$spool" "$pm_pid" | tee "$work/pm.out" | curve
	stop "$pm_pid"

	ofolder=$work/orig-spool
	fill "$ofolder" "$ocount" "$work/orig-tmp"
	port=$(free_port)
	POSTOFFICE_MESSAGES=$ofolder /usr/bin/gunicorn -b "127.0.0.1:$port" \
	    --chdir "$here" original_server:application \
	    >"$work/gunicorn.log" 2>&1 &
	g=$!
	pids="$pids $g"
	wait_http "$port"
	worker=$(pgrep -P "$g" | head -1)
	echo "original server (gunicorn, one worker), $ocount messages:"
	"$tools/benchtool" drain-curve "http://127.0.0.1:$port/" "$ocount" "$ocount" \
	    "$ofolder" "${worker:-0}" | tee "$work/orig.out" | curve
	stop "$g"
	awk -v n="$name" '/^total/ { for (i = 2; i <= NF; i++) {
		split($i, a, "="); r[FILENAME] = a[1] == "rate" ? a[2] : r[FILENAME] } }
	END { printf "%s: PostMaster %s/s, original %s/s: %.2fx\n", n,
	    r[ARGV[1]], r[ARGV[2]], r[ARGV[1]] / r[ARGV[2]] }' \
	    "$work/pm.out" "$work/orig.out"

	if [ "$perf" = 1 ] && command -v perf >/dev/null 2>&1; then
		pspool=$work/perf-spool
		pcount=$((count / 5))
		fill "$pspool" "$pcount"
		start_pm "$pspool" "$work/postmaster-perf.log"
		perf record -q -F 2000 -g -p "$pm_pid" -o "$work/perf.data" \
		    >/dev/null 2>&1 &
		pp=$!
		sleep 0.5
		"$tools/benchtool" drain-curve "http://127.0.0.1:$port/" "$pcount" \
		    "$pcount" "$pspool" "$pm_pid" >/dev/null
		kill -INT "$pp"
		wait "$pp" 2>/dev/null || true
		stop "$pm_pid"
		echo "PostMaster's busiest functions during a drain of" \
		    "$pcount (perf, self time, all threads):"
		perf report -q -i "$work/perf.data" --no-children -g none \
		    --sort symbol --percent-limit 1.5 --stdio 2>/dev/null |
		    awk 'NF >= 3 { printf "  %7s  %s %s\n", $1, $2, $3 }' | head -25
		echo "and the system calls it spends them in (with what they call):"
		perf report -q -i "$work/perf.data" --children -g none \
		    --sort symbol --stdio 2>/dev/null |
		    awk '$4 ~ /^__x64_sys_/ && $1 + 0 >= 1 {
			printf "  %7s  %s\n", $1, substr($4, 11) }' | head -12
	fi
	rm -rf "$spool" "$ofolder" "$work/orig-tmp" "$work/perf-spool"
	echo
}

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg), descriptors $(ulimit -Hn) (hard)"
if [ "$fs" = own ] || [ "$fs" = both ]; then
	mkdir "$top_work/own"
	one_fs "own filesystem" "$top_work/own"
fi
if [ "$fs" = fresh ] || [ "$fs" = both ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "drain.sh: a fresh ext4 needs root; left out" >&2
	else
		mkdir "$top_work/fs"
		truncate -s 8G "$top_work/fs.img"
		mkfs.ext4 -q -F "$top_work/fs.img"
		mount -o loop "$top_work/fs.img" "$top_work/fs"
		mounted=$top_work/fs
		one_fs "fresh ext4" "$top_work/fs"
	fi
fi
