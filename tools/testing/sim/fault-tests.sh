#!/usr/bin/env bash
# `make sim-faults`: the firmware misbehaves, the driver fails its probe cleanly.
#
# Each case boots the simulated M1 with one fault injected in the model and asserts, from the
# kernel log, that the asahi probe failed with the expected error message, that the kernel
# printed no warning, oops or BUG, that nothing stayed bound, and that the guest went on to
# power off (no hang).  Prints one line per case and `sim-faults: N passed, N failed`.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
soc=${SOC:-t8103}
fw=${FW:-13.5}
passed=0
failed=0

# case-name | model options | kernel message the probe must end with
cases=(
	"never-answer|--fault never-answer|GPU firmware did not start: no handoff magic"
	"bad-rtkit-version|--fault bad-rtkit-version|RTKit boot failed: EINVAL"
	"already-running|--fault already-running|GPU coprocessor is already running"
)

for c in "${cases[@]}"; do
	IFS='|' read -r name opts expect <<<"$c"
	dir=$repo/.build/sim/$soc-$fw-$name
	# shellcheck disable=SC2086 # options are words
	SIM_TAG=$name "$repo/scripts/sim.sh" "$soc" "$fw" $opts >"$repo/.build/sim-$name.out" 2>&1
	status=$?
	problems=()
	[ $status -eq 0 ] || problems+=("guest did not boot to power-off (sim exit $status)")
	kmsg=$(sed -n '/Linux version/,$p' "$dir/uml.log" 2>/dev/null)
	grep -qF "$expect" <<<"$kmsg" || problems+=("no kernel message '$expect'")
	grep -qE 'asahi .*probe with driver asahi failed with error' <<<"$kmsg" ||
		problems+=("probe failure not reported by the driver core")
	bad=$(grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|kernel BUG' <<<"$kmsg" | head -n 3)
	[ -z "$bad" ] || problems+=("kernel trouble: $bad")
	grep -q 'driver asahi registered, bound to: nothing' "$dir/uml.log" 2>/dev/null ||
		problems+=("asahi still bound after the failure")
	if [ ${#problems[@]} -eq 0 ]; then
		err=$(grep -oE 'probe with driver asahi failed with error -?[0-9]+' <<<"$kmsg" | head -n 1)
		echo "fault $name: clean probe failure (${err##* })"
		passed=$((passed + 1))
	else
		echo "fault $name: FAILED"
		printf '  %s\n' "${problems[@]}"
		echo "  logs: $dir"
		failed=$((failed + 1))
	fi
done
echo "sim-faults: $passed passed, $failed failed"
[ $failed -eq 0 ]
