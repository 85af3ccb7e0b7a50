#!/usr/bin/env bash
# Boot the UML kernel so its built-in KUnit suites run, then check the KTAP it printed.
#
# Runs where the toolchain is (the UML binary is linked against the build root's C library).
# The kernel halts itself after the tests (kunit_shutdown=halt); a timeout guards against a
# hang, and its absence of results is reported as a failure by the summariser.
#
# Usage: scripts/kunit.sh [timeout seconds]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/.build/out/um
log=$out/kunit.log
limit=${1:-600}

[ -x "$out/linux" ] || { echo "kunit: no UML kernel at $out/linux (make kernel-um)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
TMPDIR=$tmp timeout --kill-after=10 "$limit" "$out/linux" mem=1G console=tty kunit_shutdown=halt \
	</dev/null >"$log" 2>&1 || status=$?
if [ $status -eq 124 ] || [ $status -eq 137 ]; then
	echo "kunit: UML did not halt within ${limit}s (log: $log)" >&2
fi
summary=0
python3 "$repo/tools/testing/kunit/ktap_summary.py" --repo "$repo" --expect rust_doctests_kernel "$log" ||
	summary=$?
# A test can pass while the kernel complains (a sleeping allocation under a spinlock, a
# WARN in a path it exercised): any such report fails the run, as on arm64.
trouble=$(grep -E 'WARNING:|BUG:|Oops|Call Trace:|Kernel panic' "$log" | head -n 3 || true)
if [ -n "$trouble" ]; then
	echo "kunit: kernel trouble during the run (log: $log):"
	echo "$trouble"
	exit 1
fi
exit $summary
