#!/usr/bin/env bash
# Boot one simulated Mac: the SoC's device tree, the AGX model, and the UML kernel.
#
# Plays the bootloader: generates the device tree from the 7.2 DTS (tools/testing/dt/sim_dt.py,
# which writes apple,firmware-abi and places the reserved regions), starts the model on the
# vhost-user socket the device tree names, waits until it listens, then boots UML with the
# build root as its root file system and GUEST_INIT (default tools/testing/sim/guest-init.sh)
# as init.  The model runs on the host, UML inside the build root (it is linked against the
# root's C library); the socket lives in the repo, which both see (/src inside the root).
# The model and UML are always stopped on exit, failure or Ctrl-C.
#
# After the guest ends the model sees UML disconnect and exits by itself (it is sent TERM if
# it has not within 5 s); its exit status goes to model-status.  The model exits 0 after a
# clean disconnect or TERM and non-zero after a strict-mode violation (3), a failed event
# handler (4) or a panic (101), so this script fails when the model did, even if the guest
# powered off.
#
# Usage: scripts/sim.sh <soc> <firmware> [model options...]
# Output in .build/sim/<soc>-<firmware>[-<tag>]/: machine.dts/.json, model.log, trace.log,
# uml.log, model-status, times.  Set SIM_TAG to keep runs with different model options apart,
# and SIM_KARGS for extra kernel arguments (e.g. asahi.live_selftests=1, or sim.linger=1 to
# keep the guest up a second before it reports and powers off, for faults that act after
# the probe).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
soc=${1:?usage: sim.sh <soc> <firmware> [model options]}
fw=${2:?usage: sim.sh <soc> <firmware> [model options]}
shift 2
name=$soc-$fw${SIM_TAG:+-$SIM_TAG}
dir=$repo/.build/sim/$name
inner=/src/.build/sim/$name
root=$repo/.build/root
model=$repo/target/release/agx-model
uml=$repo/.build/out/um/linux
init=${GUEST_INIT:-/src/tools/testing/sim/guest-init.sh}
limit=${SIM_TIMEOUT:-240}
read -r -a kargs <<<"${SIM_KARGS:-}"

[ -x "$model" ] || { echo "sim: no $model (make model-bin)" >&2; exit 1; }
[ -x "$uml" ] || { echo "sim: no UML kernel (make kernel-um)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"

in_root() { "$repo/scripts/in-root.sh" "$root" "$@"; }

in_root python3 /src/tools/testing/dt/sim_dt.py --tree /src/.build/linux --soc "$soc" \
	--fw "$fw" --socket "$inner/agx.sock" --out "$inner/machine"
in_root dtc -q -I dts -O dtb -o "$inner/machine.dtb" "$inner/machine.dts"

model_pid=
uml_pid=
model_status=
# Waits for the model to end (it exits when UML disconnects; TERM after 5 s) and records its
# exit status in model-status.
reap_model() {
	[ -n "$model_pid" ] || return 0
	for _ in $(seq 50); do
		kill -0 "$model_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$model_pid" 2>/dev/null; then
		echo "sim: $name: model still running 5 s after UML ended, sending TERM" >&2
		kill -TERM "$model_pid" 2>/dev/null || true
	fi
	model_status=0
	wait "$model_pid" || model_status=$?
	model_pid=
	echo "$model_status" >"$dir/model-status"
}
cleanup() {
	local status=$?
	if [ -n "$uml_pid" ]; then kill -TERM "$uml_pid" 2>/dev/null || true; fi
	if [ -n "$model_pid" ]; then kill -TERM "$model_pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$model" --socket "$dir/agx.sock" --dt-layout "$dir/machine.json" --trace "$dir/trace.log" \
	"$@" 2>"$dir/model.log" &
model_pid=$!
for _ in $(seq 300); do
	grep -q "listening on" "$dir/model.log" 2>/dev/null && break
	if ! kill -0 "$model_pid" 2>/dev/null; then
		reap_model
		cat "$dir/model.log" >&2
		echo "sim: $name: model exited with status $model_status before listening" >&2
		exit 1
	fi
	sleep 0.1
done
grep -q "listening on" "$dir/model.log" || { echo "sim: model did not listen" >&2; exit 1; }

start=$(date +%s.%N)
in_root env TMPDIR=/tmp timeout --kill-after=10 "$limit" /src/.build/out/um/linux mem=2G \
	console=tty kunit.enable=0 "dtb=$inner/machine.dtb" virtio_pcidev.max_delay_us=2000000 \
	root=/dev/root rootfstype=hostfs rootflags=/ rw "init=$init" ${kargs[@]+"${kargs[@]}"} \
	</dev/null >"$dir/uml.log" 2>&1 &
uml_pid=$!
status=0
wait "$uml_pid" || status=$?
uml_pid=
end=$(date +%s.%N)
echo "$start $end" >"$dir/times"
# Let the model see the disconnect, finish its trace and exit.
reap_model
if [ "$model_status" -ne 0 ]; then
	echo "sim: $name: model exited with status $model_status (model.log says why)" >&2
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
	echo "sim: $name: UML did not finish within ${limit}s" >&2
	exit "$status"
fi
[ "$model_status" -eq 0 ] || exit 1
# UML's exit status after a guest power-off is not meaningful; the guest reaching it is.
grep -q "reboot: Power down" "$dir/uml.log" || { echo "sim: $name: guest did not power off" >&2; exit 1; }
exit 0
