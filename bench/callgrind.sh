#!/bin/sh
# callgrind.sh - PostOffice's own cost per message: user-space
# instructions (valgrind's callgrind) and system calls (strace -c -f).
#
#   BUILD=build bench/callgrind.sh [COUNT]     (default 500 messages)
#
#   SIZE=2048       message size (smtp-source -l)
#   SESSIONS=10     concurrent sessions (smtp-source -s)
#   KEEP=1          one connection for all of a session's messages
#                   (smtp-source -d); KEEP=0: one connection per message
#   TOP=15          functions listed
#   OUT=FILE        keep the loaded run's profile there (callgrind_annotate
#                   --inclusive=yes FILE shows where the cost comes from)
#
# Each measure is taken twice, on a fresh spool in a temporary folder:
# once with no message (start and stop only) and once with COUNT; the
# difference divided by COUNT is what one message costs, start-up and
# shutdown left out.  The load is Postfix's smtp-source, as `make bench`
# sends it (tools/postfix-tools.sh unpacks it under $BUILD/postfix-tools).
# Needs valgrind and strace; not root.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-build}
case "$BUILD" in /*) build=$BUILD ;; *) build=$top/$BUILD ;; esac
count=${1:-500}
size=${SIZE:-2048}
sessions=${SESSIONS:-10}
keep=${KEEP:-1}
ntop=${TOP:-15}
po=$build/postoffice
pfx=$build/postfix-tools

for t in valgrind callgrind_annotate strace; do
	command -v $t >/dev/null || {
		echo "callgrind.sh: $t is not installed" >&2
		exit 69
	}
done
[ -x "$po" ] || { echo "callgrind.sh: no $po (make BUILD=$BUILD)" >&2; exit 69; }
"$top/tools/postfix-tools.sh" "$pfx" >/dev/null

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stored DIR: the number of queued messages in DIR.
stored() {
	find "$1" -maxdepth 1 -type f -name '????????????????????????????????' |
	    wc -l
}

# load TAG N WRAPPER...: starts PostOffice under WRAPPER on a new spool,
# sends it N messages, waits for them in the spool and stops it.
load() {
	tag=$1 n=$2
	shift 2
	spool=$work/spool-$tag
	log=$work/$tag.log
	mkdir "$spool"
	"$@" "$po" -l 127.0.0.1:0 -s "$spool" --log-file "$log" \
	    2>"$work/$tag.err" &
	pid=$!
	i=0
	until port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' \
	    "$log" 2>/dev/null) && [ -n "$port" ]; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "callgrind.sh: PostOffice did not start:" >&2
			cat "$work/$tag.err" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [ "$n" -gt 0 ]; then
		d=
		[ "$keep" = 1 ] && d=-d
		LD_LIBRARY_PATH=$pfx/usr/lib/postfix "$pfx/usr/sbin/smtp-source" \
		    -s "$sessions" -m "$n" -l "$size" $d \
		    -f sender@example.com -t rcpt@example.org "127.0.0.1:$port"
	fi
	# A file reaches the queue moments after its 250 (the checkpoint).
	i=0
	while [ "$(stored "$spool")" -lt "$n" ] && [ $i -lt 300 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	got=$(stored "$spool")
	if [ "$got" -ne "$n" ]; then
		echo "callgrind.sh: $got of $n messages stored" >&2
		exit 1
	fi
	# Under strace the daemon is strace's child; valgrind runs it as
	# itself.
	daemon=$(ps -o pid= --ppid "$pid" | head -1 | tr -d ' ')
	kill -TERM "${daemon:-$pid}"
	wait "$pid" || true
	pid=
}

# Instructions: the totals of the two runs, and each function's own
# (exclusive) count in the loaded run less that of the empty one.
load cg0 0 valgrind -q --tool=callgrind --callgrind-out-file="$work/cg0.out"
load cgN "$count" valgrind -q --tool=callgrind \
    --callgrind-out-file="$work/cgN.out"
# callgrind_annotate's function list as "COUNT<TAB>file:function [object]".
annotate() {
	callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null |
	    awk -v top="$top/" '/file:function/ { on = 1; next }
		on && /^-+$/ { next }
		on && NF == 0 { exit }
		on { n = $1; gsub(",", "", n); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "")
		    i = index($0, top); if (i) $0 = substr($0, 1, i - 1) substr($0, i + length(top))
		    print n "\t" $0 }'
}
total() {
	sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$1"
}
ir0=$(total "$work/cg0.out")
irN=$(total "$work/cgN.out")
[ -n "${OUT:-}" ] && cp "$work/cgN.out" "$OUT"
annotate "$work/cg0.out" >"$work/fn0"
annotate "$work/cgN.out" >"$work/fnN"
echo "PostOffice: $count messages of $size bytes, $sessions sessions," \
    "$( [ "$keep" = 1 ] && echo "one connection each" ||
    echo "one connection per message")"
echo "instructions per message: $(( (irN - ir0) / count ))"
echo "top functions (own instructions per message):"
awk -F '\t' -v n="$count" -v top="$ntop" '
	FNR == NR { base[$2] = $1; next }
	{ per = ($1 - base[$2]) / n; if (per > 0) printf "%10.0f  %s\n", per, $2 }
    ' "$work/fn0" "$work/fnN" | sort -rn | head -n "$ntop"

# System calls: every thread's, counted by strace, the same way.
load st0 0 strace -f -c -o "$work/st0.txt"
load stN "$count" strace -f -c -o "$work/stN.txt"
# strace -c lines: % time, seconds, usecs/call, calls, [errors,] name.
percall() {
	awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
		print $NF "\t" $4 }' "$1"
}
percall "$work/st0.txt" >"$work/sc0"
percall "$work/stN.txt" >"$work/scN"
awk -F '\t' -v n="$count" '
	FNR == NR { base[$1] = $2; next }
	{ c[$1] = $2 - base[$1]; t += c[$1] }
	END {
		printf "syscalls per message: %.1f\n", t / n
		for (k in c) if (c[k] > 0) printf "%8.2f  %s\n", c[k] / n, k
	}' "$work/sc0" "$work/scN" | { read -r head; echo "$head"; sort -rn; }
