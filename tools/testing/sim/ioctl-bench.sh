#!/usr/bin/env bash
# `make bench`, second half: what the memory ioctls cost from userspace, measured by
# `uapi-test --bench` inside the simulated Mac (t8103, firmware 13.5, or SOC= FW=), on the same
# UML kernel whose UAT figures scripts/bench.sh printed just before.
#
# Prints the program's `ioctl <name>: <x> us ...` lines, then the ratio of a 1 GiB VM_BIND (with
# its unbind) to the kernel-side figure for mapping the same 65536 pages through the UAT
# (`uat map 65536 pages warm`, ours, from .build/out/um/bench.log): how much the ioctl path
# (checks, GPUVM, locking, TLB invalidation) adds on top of the page-table work itself.
# Figures, not a test: it fails only when something could not run.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
soc=${SOC:-t8103}
fw=${FW:-13.5}
dir=$repo/.build/sim/$soc-$fw-bench
SIM_TAG=bench SIM_KARGS="sim.run=/src/target/release/uapi-test,--bench" "$repo/scripts/sim.sh" "$soc" "$fw" \
	>"$repo/.build/sim-$soc-$fw-bench.out" 2>&1
out=$(tr -d '\r' <"$dir/uml.log")
lines=$(grep -aE '^ioctl [A-Za-z_+ 0-9()]+: [0-9.]+ us' <<<"$out")
if ! grep -q "exited with status 0" <<<"$(grep -a 'guest-init: .*uapi-test --bench exited' <<<"$out")" || [ -z "$lines" ]; then
	echo "ioctl-bench: the benchmark did not run (log: $dir/uml.log)" >&2
	grep -a 'uapi-test: bench failed' <<<"$out" >&2
	exit 1
fi
echo "$lines"
model_status=$(cat "$dir/model-status" 2>/dev/null)
[ "${model_status:-x}" = 0 ] || { echo "ioctl-bench: model exited with status ${model_status:-unknown}" >&2; exit 1; }
bind_us=$(sed -nE 's/^ioctl VM_BIND 1 GiB \(bind\+unbind\): ([0-9.]+) us.*/\1/p' <<<"$lines")
uat_ns=$(sed -nE 's/.*uat map 65536 pages warm: ours ([0-9.]+) ns\/page.*/\1/p' "$repo/.build/out/um/bench.log" 2>/dev/null | head -n 1)
if [ -n "$bind_us" ] && [ -n "$uat_ns" ]; then
	awk -v b="$bind_us" -v u="$uat_ns" 'BEGIN {
		t = u * 65536 / 1000
		printf "ioctl VM_BIND 1 GiB vs uat map 65536 pages (%.1f us): %.2fx\n", t, b / t }'
else
	echo "ioctl-bench: no UAT figure to compare with (run scripts/bench.sh first)"
fi
