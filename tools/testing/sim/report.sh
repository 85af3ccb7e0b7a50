#!/usr/bin/env bash
# Print what happened in one simulated-Mac boot: the kernel's view and the model's view.
# Usage: tools/testing/sim/report.sh <soc> <firmware>   (reads .build/sim/<soc>-<firmware>/)
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
dir=$repo/.build/sim/$1-$2${SIM_TAG:+-$SIM_TAG}
[ -d "$dir" ] || { echo "report: no run in $dir" >&2; exit 1; }

echo "== kernel ($dir/uml.log)"
grep -aE '^mesa: |asahi|apple-mailbox|mbox|rtkit|RTKit|tlbi|virtio|guest-init|WARNING|BUG|Oops|Call Trace' \
	"$dir/uml.log" | sed 's/^/  /'
echo "== model ($dir/trace.log)"
if [ -f "$dir/trace.log" ]; then
	echo "  $(grep -c '^mmio' "$dir/trace.log") MMIO accesses, $(grep -c '^mbox' "$dir/trace.log") mailbox messages, $(grep -c '^irq' "$dir/trace.log") interrupts, $(grep -c '^tlbi' "$dir/trace.log") TLB invalidations"
	grep -aE '^(rtkit|mbox|violation)' "$dir/trace.log" | head -n 40 | sed 's/^/  /'
	# The GPU firmware: InitData read, the channels it initialised, readiness, flushes.
	grep -aE '^(fw |fault )' "$dir/trace.log" | grep -v 'latched$' | head -n 40 | sed 's/^/  /'
fi
grep -aE 'violation|error' "$dir/model.log" | sed 's/^/  model: /'
# A report, not a check: finding nothing to complain about is not a failure.
exit 0
