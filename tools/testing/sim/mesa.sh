#!/usr/bin/env bash
# `make sim-mesa`: Debian's unmodified Mesa opens the GPU on every SoC of the simulated Mac.
#
# For each of the 8 SoCs (with the newest firmware `fwgen pairs` ships for it; SOC= and FW=
# pick one) the guest boots and runs tools/testing/sim/mesa-guest.sh: `vulkaninfo --summary`,
# our vk-memory-test (device, queue, host-visible memory written and read back) and
# `eglinfo -p surfaceless`. A SoC passes when
#   - vulkaninfo exits 0 and lists a device whose driverName is Honeykrisp, and its deviceName
#     is the one Mesa derives from GET_PARAMS: "Apple <chip> (<class> <revision>)", where the
#     chip (M1, M1 Pro, ...) is this SoC's and the class and revision are those the driver
#     reported when the GPU became ready;
#   - vk-memory-test exits 0 and reports ok on that same device;
#   - eglinfo exits 0, its EGL driver is asahi and its OpenGL renderer is the same name;
#   - the boot is clean (check-boot.sh: firmware up, no warning, oops or lockdep report) and
#     the model exited 0 (no violation of what the driver wrote).
# Prints `<soc>: vulkaninfo <deviceName>, vk test ok, eglinfo <renderer>` per SoC, then
# `N/M SoCs: Mesa opened the GPU` and `sim-mesa: N passed, N failed`.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
guest=/src/tools/testing/sim/mesa-guest.sh

# The marketing name of each SoC's GPU, as Mesa spells it (generation 13 is M1, 14 is M2;
# variant G is the plain chip, S Pro, C Max, D Ultra).
declare -A chip=(
	[t8103]="M1" [t6000]="M1 Pro" [t6001]="M1 Max" [t6002]="M1 Ultra"
	[t8112]="M2" [t6020]="M2 Pro" [t6021]="M2 Max" [t6022]="M2 Ultra"
)

# The newest shipped firmware per SoC (fwgen lists pairs oldest first).
declare -A newest=()
order=()
while read -r soc fw; do
	[ -n "${newest[$soc]:-}" ] || order+=("$soc")
	newest[$soc]=$fw
done < <("$repo/target/release/fwgen" pairs "$repo/firmware-defs")

passed=0
failed=0
for soc in "${order[@]}"; do
	[ -z "${SOC:-}" ] || [ "$SOC" = "$soc" ] || continue
	fw=${FW:-${newest[$soc]}}
	dir=$repo/.build/sim/$soc-$fw-mesa
	SIM_TAG=mesa SIM_KARGS="sim.run=$guest" "$repo/scripts/sim.sh" "$soc" "$fw" \
		>"$repo/.build/sim-$soc-$fw-mesa.out" 2>&1
	status=$?
	log=$dir/uml.log
	# The guest console ends lines with CR LF.
	out=$(tr -d '\r' <"$log")
	problems=()
	[ $status -eq 0 ] || problems+=("guest did not boot to power-off (sim exit $status)")
	# check-boot.sh also reports a model that did not exit 0.
	while IFS= read -r p; do
		[ -n "$p" ] && problems+=("$p")
	done < <("$repo/tools/testing/sim/check-boot.sh" "$dir")

	# What the driver said it found, e.g. "G13G B1".
	class=$(sed -nE 's/.*GPU \((G1[34][GSCD] [A-C][0-9]), [0-9]+ cores\) ready for userspace.*/\1/p' <<<"$out" | head -n 1)
	want="Apple ${chip[$soc]:-?} (${class:-?})"

	for prog in vulkaninfo vk-memory-test eglinfo; do
		grep -aq "^mesa: $prog exited 0\$" <<<"$out" ||
			problems+=("$prog did not exit 0 ($(grep -aoE "^mesa: $prog exited [0-9]+" <<<"$out" || echo 'it did not run'))")
	done
	# vulkaninfo --summary: one block per GPU, deviceName before driverName.
	vk_name=$(awk -F' = ' '
		/^mesa: vulkaninfo:[[:space:]]*deviceName/ { name = $2 }
		/^mesa: vulkaninfo:[[:space:]]*driverName/ { if ($2 == "Honeykrisp") { print name; exit } }' <<<"$out")
	[ -n "$vk_name" ] || problems+=("vulkaninfo lists no Honeykrisp device")
	[ -z "$vk_name" ] || [ "$vk_name" = "$want" ] || problems+=("vulkaninfo names the GPU '$vk_name', expected '$want'")
	vk_test=$(sed -nE 's/^mesa: vk-memory-test: vk-memory-test: (.*)$/\1/p' <<<"$out" | head -n 1)
	[[ $vk_test == "ok ($want,"* ]] || problems+=("vk-memory-test: ${vk_test:-no result}")
	egl_driver=$(sed -nE 's/^mesa: eglinfo: EGL driver name: (.*)$/\1/p' <<<"$out" | head -n 1)
	[ "$egl_driver" = asahi ] || problems+=("eglinfo's EGL driver is '${egl_driver:-none}', expected asahi")
	gl_name=$(sed -nE 's/^mesa: eglinfo: OpenGL core profile renderer: (.*)$/\1/p' <<<"$out" | head -n 1)
	[ "$gl_name" = "$want" ] || problems+=("eglinfo's renderer is '${gl_name:-none}', expected '$want'")

	if [ ${#problems[@]} -eq 0 ]; then
		passed=$((passed + 1))
		echo "$soc: vulkaninfo $vk_name, vk test ok, eglinfo $gl_name"
	else
		failed=$((failed + 1))
		echo "$soc: FAILED (fw $fw; log $log)"
		printf '  %s\n' "${problems[@]}"
		grep -aE '^mesa: [a-z-]+: .*(\b[Ee]rror\b|ERROR|[Ff]ailed|\bFAIL\b)' <<<"$out" | head -n 8 | sed 's/^/  /'
	fi
done
echo "$passed/$((passed + failed)) SoCs: Mesa opened the GPU"
echo "sim-mesa: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
