#!/usr/bin/env bash
# `make sim-boot-all`: boot the simulated Mac for every supported SoC and check that the GPU
# firmware came up: UML boots, the apple-mailbox and asahi drivers bind, RTKit boots, and the
# model's trace holds the handshake (HELLO, EPMAP, power state ON, GPU endpoints started) and
# the firmware filled its crash-log buffer through the driver's UAT mappings; the driver's live
# self-tests show the firmware reading kernel objects through the UAT and the model catching a
# deliberately missed TLB invalidation (forwarded through UML's TLB bridge).
#
# Prints `<soc> fw <version>: rtkit up in <seconds> s` per SoC (the driver's own measurement,
# from releasing the coprocessor to its endpoints running), then `N/8 SoCs booted`.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
FW=${FW:-13.5}
socs=(t8103 t8112 t6000 t6001 t6002 t6020 t6021 t6022)
ok=0
for soc in "${socs[@]}"; do
	dir=$repo/.build/sim/$soc-$FW
	SIM_KARGS=asahi.live_selftests=1 "$repo/scripts/sim.sh" "$soc" "$FW" >"$repo/.build/sim-$soc.out" 2>&1
	status=$?
	problems=$("$repo/tools/testing/sim/check-boot.sh" "$dir" 2>&1)
	if [ $status -eq 0 ] && [ -z "$problems" ]; then
		ms=$(sed -nE 's/.*RTKit up in ([0-9]+) ms.*/\1/p' "$dir/uml.log" | head -n 1)
		printf '%s fw %s: rtkit up in %d.%03d s\n' "$soc" "$FW" $((ms / 1000)) $((ms % 1000))
		ok=$((ok + 1))
	else
		echo "$soc fw $FW: FAILED (sim exit $status)"
		[ -n "$problems" ] && echo "$problems" | sed 's/^/  /'
		cat "$repo/.build/sim-$soc.out" | sed 's/^/  /'
		echo "  logs: $dir"
	fi
done
echo "$ok/${#socs[@]} SoCs booted"
echo "sim-boot: $ok passed, $((${#socs[@]} - ok)) failed"
[ "$ok" -eq "${#socs[@]}" ]
