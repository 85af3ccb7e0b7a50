#!/usr/bin/env bash
# `make test`: every stage in order, each timed, then one line counting every test run.
#
# A stage is a make target.  Test counts come from the stages' own summary lines (cargo's
# "test result:" lines, and "<stage>: N passed, N failed" from our runners).  A failed stage does not stop the
# stages after it, so one run reports every problem; the exit status is non-zero if any
# stage failed.
set -uo pipefail

cd "$(dirname "$0")/.."
stages=(setup tools-test cargo-test fwgen-check fmt-check kernel-arm64 kunit-arm64 clippy kernel-um kunit sim-boot-all sim-faults uapi-test sim-mesa)
logdir=.build/test-logs
mkdir -p "$logdir"

passed=0
failed=0
bad_stages=()
total_start=$(date +%s)
for stage in "${stages[@]}"; do
	start=$(date +%s)
	echo "=== $stage"
	make --no-print-directory "$stage" 2>&1 | tee "$logdir/$stage.log"
	status=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	# Count what the stage ran.
	p=0 f=0
	while read -r a b; do
		p=$((p + a))
		f=$((f + b))
	done < <(sed -nE 's/^test result: [A-Za-z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$logdir/$stage.log"
		sed -nE 's/^[a-z-]+: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$logdir/$stage.log")
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$status" -ne 0 ]; then
		bad_stages+=("$stage")
		# A failing stage with no failing test still counts as one failure.
		[ "$f" -eq 0 ] && failed=$((failed + 1))
		echo "=== $stage FAILED after ${secs}s (log: $logdir/$stage.log)"
	else
		echo "=== $stage ok in ${secs}s"
	fi
done
echo "=== total $(($(date +%s) - total_start))s"
if [ ${#bad_stages[@]} -ne 0 ]; then
	echo "failed stages: ${bad_stages[*]}"
fi
echo "$passed passed, $failed failed"
[ ${#bad_stages[@]} -eq 0 ]
