#!/bin/sh
# run.sh - runs every test and ends with one line "N passed, N failed".
# Unit tests are cmocka programs in $BUILD/tests (their TAP output is
# counted); integration tests are pytest files in tests/integration that
# start the real binaries from $BUILD.
#
# VALGRIND=1 runs the unit tests, and the daemons and PostMan runs the
# integration tests start, under valgrind memcheck: any error or definitely
# lost block fails.
set -u
BUILD=${BUILD:-build}
export BUILD
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 70
pass=0
fail=0
skip=0

wrap=""
if [ "${VALGRIND:-0}" != 0 ]; then
	command -v valgrind >/dev/null 2>&1 || {
		echo "VALGRIND=1 needs valgrind (apt-get install valgrind)" >&2; exit 69; }
	wrap="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite
	    --show-leak-kinds=definite --error-exitcode=97
	    --suppressions=tests/valgrind.supp"
	export G_SLICE=always-malloc
fi

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d) continue ;; esac
	# shellcheck disable=SC2086
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP $wrap "$t" 2>&1)
	rc=$?
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^not ok ')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed or failed outside a test case
	fi
	if [ "$f" -ne 0 ]; then
		printf '%s\n' "$out" | grep -v '^ok ' >&2
		echo "FAIL: $t" >&2
	fi
	echo "unit $(basename "$t"): $p passed, $f failed"
	pass=$((pass + p))
	fail=$((fail + f))
done

PY=/usr/bin/python3
xml="$BUILD/pytest.xml"
rm -f "$xml"
$PY -m pytest -q -p no:cacheprovider -rfE --junitxml="$xml" \
	${PYTEST_ARGS:-} tests/integration
rc=$?
if [ -f "$xml" ]; then
	set -- $($PY - "$xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = f = s = 0
for su in suites:
    t += int(su.get("tests", 0))
    f += int(su.get("failures", 0)) + int(su.get("errors", 0))
    s += int(su.get("skipped", 0))
print(t - f - s, f, s)
PYEOF
)
	pass=$((pass + $1))
	fail=$((fail + $2))
	skip=$((skip + $3))
	[ "$rc" -ne 0 ] && [ "$2" -eq 0 ] && fail=$((fail + 1))
else
	echo "pytest produced no report (exit $rc)" >&2
	fail=$((fail + 1))
fi

if [ "$skip" -ne 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
