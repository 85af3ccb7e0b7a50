#!/bin/sh
# Runs inside the simulated Mac (guest-init.sh's sim.run=) for `make sim-mesa` and `make run`:
# Debian's unmodified Mesa against the driver's render node.
#
#   vulkaninfo --summary                     the Vulkan loader and honeykrisp list the GPU
#   vk-memory-test                           ours: device, queue, host-visible memory round trip
#   eglinfo -p surfaceless                   gallium's asahi driver behind EGL
#
# Usage: mesa-guest.sh [summary]   ("summary" runs only vulkaninfo, for `make run`)
# Each program's output is printed with the prefix `mesa: <program>: ` and followed by
# `mesa: <program> exited <status>`, which tools/testing/sim/mesa.sh reads back.
# Scratch files and caches go to a tmpfs, so the build root (the guest's /) stays untouched.
mount -t tmpfs tmpfs /tmp
export HOME=/tmp XDG_RUNTIME_DIR=/tmp XDG_CACHE_HOME=/tmp/cache MESA_SHADER_CACHE_DISABLE=1

run() {
	name=$1
	shift
	"$@" >/tmp/out 2>&1
	status=$?
	sed "s/^/mesa: $name: /" /tmp/out
	echo "mesa: $name exited $status"
}

run vulkaninfo vulkaninfo --summary
[ "${1:-}" = summary ] && exit 0
run vk-memory-test /src/target/release/vk-memory-test
run eglinfo env EGL_PLATFORM=surfaceless eglinfo -p surfaceless
