#!/usr/bin/env bash
# `make sim-boot-all`: boot the simulated Mac for every shipped SoC/firmware pair (the 13 that
# `fwgen pairs` lists from firmware-defs/variants.toml; SOC= and/or FW= pick a subset) and
# check that the GPU
# firmware came up: UML boots, the apple-mailbox and asahi drivers bind, RTKit boots, and the
# model's trace holds the handshake (HELLO, EPMAP, power state ON, GPU endpoints started) and
# the firmware filled its crash-log buffer through the driver's UAT mappings; the driver's live
# self-tests show the firmware reading kernel objects through the UAT and the model catching a
# deliberately missed TLB invalidation (forwarded through UML's TLB bridge); the model's GPU
# firmware accepted the driver's InitData tree (every field and pointer it checks), initialised
# all 18 channels and consumed DevCtrl Initialize, and the driver saw it ready; the model
# exited 0 (check-boot.sh reports "model exited with status N" from sim.sh's model-status).
#
# Prints per pair `<soc> fw <version>: firmware ready in <seconds> s (<n> channels, initdata
# checked: <k> fields, <p> pointers)` (the time is the driver's own measurement, the counts the
# model's `fw ready:` trace line), then `N/M SoC/firmware pairs: firmware ready` and the
# `sim-boot: X passed, Y failed` summary.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
pairs=()
while read -r soc fw; do
	[ -z "${SOC:-}" ] || [ "$SOC" = "$soc" ] || continue
	[ -z "${FW:-}" ] || [ "$FW" = "$fw" ] || continue
	pairs+=("$soc $fw")
done < <("$repo/target/release/fwgen" pairs "$repo/firmware-defs")
if [ ${#pairs[@]} -eq 0 ]; then
	echo "sim-boot-all: no shipped SoC/firmware pair matches SOC=${SOC:-any} FW=${FW:-any}" >&2
	exit 2
fi
ok=0
for pair in "${pairs[@]}"; do
	read -r soc FW <<<"$pair"
	dir=$repo/.build/sim/$soc-$FW
	SIM_KARGS=asahi.live_selftests=1 "$repo/scripts/sim.sh" "$soc" "$FW" >"$repo/.build/sim-$soc-$FW.out" 2>&1
	status=$?
	problems=$("$repo/tools/testing/sim/check-boot.sh" "$dir" 2>&1)
	if [ $status -eq 0 ] && [ -z "$problems" ]; then
		ms=$(sed -nE 's/.*GPU firmware ready in ([0-9]+) ms.*/\1/p' "$dir/uml.log" | head -n 1)
		counts=$(sed -nE 's/^fw ready: ([0-9]+ channels, initdata checked: [0-9]+ fields, [0-9]+ pointers)$/\1/p' "$dir/trace.log" | head -n 1)
		printf '%s fw %s: firmware ready in %d.%03d s (%s)\n' "$soc" "$FW" $((ms / 1000)) $((ms % 1000)) "$counts"
		ok=$((ok + 1))
	else
		echo "$soc fw $FW: FAILED (sim exit $status)"
		[ -n "$problems" ] && echo "$problems" | sed 's/^/  /'
		sed 's/^/  /' "$repo/.build/sim-$soc-$FW.out"
		echo "  logs: $dir"
	fi
done
echo "$ok/${#pairs[@]} SoC/firmware pairs: firmware ready"
echo "sim-boot: $ok passed, $((${#pairs[@]} - ok)) failed"
[ "$ok" -eq "${#pairs[@]}" ]
