#!/bin/sh
# run.sh [replay] - builds the libFuzzer targets in tests/fuzz and runs
# each one for FUZZ_SECONDS (default 60), starting from its seed corpus
# (tests/fuzz/corpus/TARGET) and its regression inputs
# (tests/fuzz/regress/TARGET).  New inputs go to $BUILD/fuzz/corpus; the
# seeds are only read.  Prints per target the executions, executions per
# second, edges covered (libFuzzer's cov:, and ft: its finer features)
# and crashes found; a crash input is left in $BUILD/fuzz/crashes/TARGET
# and should be copied to tests/fuzz/regress/TARGET.
#
#   run.sh            fuzz every target
#   run.sh replay     run every seed and regression input once (-runs=0)
#
# FUZZ_TARGETS="smtp mime" selects targets; CLANG names the compiler.
# Exits 1 when a target crashed, 0 otherwise.
set -u
BUILD=${BUILD:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-"smtp message scrub mime lease liveness"}
mode=${1:-fuzz}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 70

CLANG=${CLANG:-}
if [ -z "$CLANG" ]; then
	for c in clang clang-14; do
		command -v "$c" >/dev/null 2>&1 && { CLANG=$c; break; }
	done
fi
[ -n "$CLANG" ] || { echo "run.sh: clang not found (tools/deps.sh build fuzz)" >&2; exit 69; }

out=$BUILD/fuzz
mkdir -p "$out/obj" || exit 73
pkgs="libcjson glib-2.0 gmime-3.0"
pkgcflags=$(pkg-config --cflags $pkgs) || exit 69
pkglibs=$(pkg-config --libs $pkgs) || exit 69
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -DVERSION=\"fuzz\" -fno-omit-frame-pointer -I. $pkgcflags"

# The code under test, instrumented for coverage and sanitizers.
objs=""
for src in common/*.c postoffice/smtp.c postoffice/scrub.c postoffice/mime.c \
    postman/lease.c postman/delivery.c postmaster/queue.c postmaster/settle.c \
    postmaster/idindex.c postmaster/reaper.c; do
	[ -f "$src" ] || continue
	o=$out/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find common postoffice postman postmaster -name '*.h' -newer "$o" 2>/dev/null | head -1)" ]; then
		# shellcheck disable=SC2086
		$CLANG $CFLAGS $SAN -fsanitize=fuzzer-no-link -c -o "$o" "$src" || exit 1
	fi
	objs="$objs $o"
done

# The objects a target needs besides common/.
needs() {
	case "$1" in
	smtp) echo "$out/obj/postoffice_smtp.o" ;;
	scrub) echo "$out/obj/postoffice_scrub.o" ;;
	mime) echo "$out/obj/postoffice_mime.o" ;;
	lease) echo "$out/obj/postman_lease.o $out/obj/postman_delivery.o" ;;
	# PostMaster's queue and PostMan's lease parser in one process.
	liveness) echo "$out/obj/postmaster_queue.o $out/obj/postmaster_settle.o" \
	    "$out/obj/postmaster_idindex.o $out/obj/postmaster_reaper.o" \
	    "$out/obj/postman_lease.o $out/obj/postman_delivery.o" ;;
	esac
}

built=""
for t in $FUZZ_TARGETS; do
	src=tests/fuzz/fuzz_$t.c
	[ -f "$src" ] || { echo "run.sh: no target $t" >&2; exit 64; }
	extra=$(needs "$t")
	for e in $extra; do
		[ -f "$e" ] || { echo "run.sh: $t needs $e, which is not built" >&2; exit 1; }
	done
	# shellcheck disable=SC2086
	$CLANG $CFLAGS $SAN -fsanitize=fuzzer -DFUZZ_ENTRY -o "$out/fuzz_$t" \
	    "$src" $extra $out/obj/common_*.o $pkglibs -lpthread || exit 1
	built="$built $t"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
printf '%-8s %12s %10s %8s %8s %8s\n' target execs execs/s cov ft crashes
for t in $built; do
	seeds=""
	for d in tests/fuzz/corpus/$t tests/fuzz/regress/$t; do
		[ -d "$d" ] && seeds="$seeds $d"
	done
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	log=$out/$t.log
	crashes=$out/crashes/$t
	rm -rf "$crashes"
	mkdir -p "$crashes"
	if [ "$mode" = replay ]; then
		# shellcheck disable=SC2086
		"$out/fuzz_$t" -runs=0 -print_final_stats=1 $seeds >"$log" 2>&1
		rc=$?
	else
		work=$out/corpus/$t
		rm -rf "$work"
		mkdir -p "$work"
		# shellcheck disable=SC2086
		"$out/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
		    -timeout=10 -rss_limit_mb=2048 -max_len=8192 $dict \
		    -artifact_prefix="$crashes/" "$work" $seeds >"$log" 2>&1
		rc=$?
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	n=$(find "$crashes" -type f | wc -l)
	if [ "$rc" -ne 0 ] && [ "$n" -eq 0 ]; then
		n=1	# died without leaving an input (replay mode)
	fi
	printf '%-8s %12s %10s %8s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" \
	    "${cov:-?}" "${ft:-?}" "$n"
	if [ "$n" -ne 0 ]; then
		failed=1
		echo "--- $t: see $log" >&2
		grep -E 'ERROR|property violated|runtime error|SUMMARY' "$log" | head -5 >&2
		find "$crashes" -type f >&2
	fi
done
exit $failed
