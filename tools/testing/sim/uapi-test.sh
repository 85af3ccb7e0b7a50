#!/usr/bin/env bash
# `make uapi-test`: the UAPI test program (tools/testing/uapi-test) inside the simulated Mac.
#
# For each pair (t8103 and t6022 with 13.5 by default, or SOC= and FW=) the guest boots, the
# driver registers its render node and the test program drives every ioctl; then the same
# program runs once more on a GPU whose firmware crashed after ready (model fault
# crash-after-ready), where GET_PARAMS must say ENODEV. A run passes when the program
# reports `N passed, 0 failed` and exits 0, the boot checks hold (check-boot.sh: no
# warning, oops or lockdep report, firmware up), and the model exited 0 (no violation).
# Prints one line per run and `uapi-test: N passed, N failed`.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
prog=/src/target/release/uapi-test
if [ -n "${SOC:-}" ] || [ -n "${FW:-}" ]; then
	pairs="${SOC:-t8103}:${FW:-13.5}"
else
	pairs="t8103:13.5 t6022:13.5"
fi
passed=0
failed=0

# Fields: name | model options | kernel arguments | program arguments
runs=(
	"uapi|||"
	"uapi-crashed|--fault crash-after-ready|sim.linger=1|,--crashed"
)

for pair in $pairs; do
	soc=${pair%%:*}
	fw=${pair#*:}
	for r in "${runs[@]}"; do
		IFS='|' read -r name opts kargs args <<<"$r"
		dir=$repo/.build/sim/$soc-$fw-$name
		# shellcheck disable=SC2086 # options are words
		SIM_TAG=$name SIM_KARGS="$kargs sim.run=$prog$args" "$repo/scripts/sim.sh" "$soc" "$fw" \
			$opts >"$repo/.build/sim-$soc-$fw-$name.out" 2>&1
		status=$?
		problems=()
		log=$dir/uml.log
		model_status=$(cat "$dir/model-status" 2>/dev/null)
		if [ "${model_status:-x}" != 0 ]; then
			problems+=("model exited with status ${model_status:-unknown} (see $dir/model.log)")
		elif [ $status -ne 0 ]; then
			problems+=("guest did not boot to power-off (sim exit $status)")
		fi
		if [ -z "$opts" ]; then
			while IFS= read -r p; do
				[ -n "$p" ] && problems+=("$p")
			done < <("$repo/tools/testing/sim/check-boot.sh" "$dir")
		else
			# A faulted run fails check-boot's firmware checks by design; only the kernel's
			# own complaints count.
			while IFS= read -r p; do
				problems+=("kernel: $p")
			done < <(grep -nE 'WARNING:|BUG:|Oops|Call Trace|kernel BUG|general protection' "$log" | head -n 5)
		fi
		summary=$(grep -aoE 'uapi-test: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
		grep -aE '^uapi-test: FAIL ' "$log" | while IFS= read -r l; do echo "  $l"; done
		if ! grep -qE '^uapi-test: [1-9][0-9]* passed, 0 failed' <<<"$summary"; then
			problems+=("program reported '${summary:-nothing}'")
		fi
		grep -q "guest-init: $prog.* exited with status 0" "$log" || problems+=("program did not exit 0")
		if [ ${#problems[@]} -eq 0 ]; then
			passed=$((passed + 1))
			echo "uapi-test: $soc:$fw $name: ok (${summary#uapi-test: })"
		else
			failed=$((failed + 1))
			echo "uapi-test: $soc:$fw $name: FAILED"
			printf '  %s\n' "${problems[@]}"
		fi
	done
done
echo "uapi-test: $passed passed, $failed failed"
[ $failed -eq 0 ]
