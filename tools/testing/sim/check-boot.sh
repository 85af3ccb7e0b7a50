#!/usr/bin/env bash
# Check one simulated-Mac boot (a .build/sim/<name>/ folder) for a good firmware boot.
# Prints one line per problem; prints nothing when the boot is good.
set -uo pipefail
dir=${1:?usage: check-boot.sh <sim run folder>}
log=$dir/uml.log
trace=$dir/trace.log
# Kernel messages after the banner (UML 7.2 with lockdep prints an unrelated splat while it
# sets itself up, before the kernel proper starts).  Read once and searched as a here-string:
# `producer | grep -q` under pipefail fails at random when grep quits before the producer
# has written everything (SIGPIPE).
# Lines from test programs run in the guest (`mesa: ...`, `uapi-test: ...`) are theirs, not the
# kernel's: a Vulkan loader "WARNING:" is no kernel warning.
kmsg=$(sed -n '/Linux version/,$p' "$log" | grep -avE '^(mesa|uapi-test): ')

grep -qE 'apple-mailbox|bound to: .*mbox' <<<"$kmsg" || echo "apple-mailbox did not bind"
grep -q 'driver apple-mailbox registered, bound to: [0-9a-f]*\.mbox' "$log" || echo "mailbox device not bound"
grep -q 'driver asahi registered, bound to: [0-9a-f]*\.gpu' "$log" || echo "asahi not bound to the GPU"
grep -q 'driver asahi has no sysfs unbind' "$log" || echo "asahi can be unbound from sysfs while its coprocessor runs"
grep -q 'RTKit up in [0-9]* ms' <<<"$kmsg" || echo "driver did not report RTKit up"
grep -qE '\[drm\] Initialized asahi [0-9.]+ for [0-9a-f]+\.gpu on minor [0-9]+' <<<"$kmsg" || echo "DRM device asahi not registered"
grep -qE 'GPU \(G1[34][GSCD] [A-C][0-9], [0-9]+ cores\) ready for userspace' <<<"$kmsg" || echo "driver did not report the GPU ready for userspace"
grep -q '^guest-init: /dev/dri/renderD128\b' "$log" || echo "no render node /dev/dri/renderD128"
grep -nE 'WARNING:|BUG:|Oops|Call Trace|kernel BUG|general protection' <<<"$kmsg" | head -n 5 | sed 's/^/kernel: /'
for step in 'mgmt=HELLO' 'mgmt=EPMAP' 'rtkit ap-power=0x20' 'rtkit ep=0x20 started' 'rtkit ep=0x21 started' 'crashlog filled va=0xffffffae00000000 pages=8 through the UAT'; do
	grep -q -- "$step" "$trace" 2>/dev/null || echo "model trace lacks $step"
done
# The model plays the firmware variant of the machine's SoC and release (machine.json).
want_fw=$(sed -nE 's/^ *"firmware": "([0-9.]+)".*/\1/p' "$dir/machine.json" 2>/dev/null | head -n 1)
grep -qE "^firmware variant=[a-z0-9_]+ soc=[a-z0-9]+ version=${want_fw:-none}\$" "$trace" 2>/dev/null ||
	echo "model trace lacks the firmware variant for release ${want_fw:-?}"
# The UML TLB bridge carries the driver's invalidations to the model.
grep -q 'um-tlbi-bridge .*forwarding TLB invalidations' "$log" || echo "TLB bridge did not bind"
grep -q 'no TLB bridge to forward' <<<"$kmsg" && echo "driver found no TLB bridge"
grep -q '^tlbi op=vmalle1os ' "$trace" 2>/dev/null || echo "model trace lacks the boot-time flush of the whole GPU TLB (vmalle1os)"
# Live self-tests, when the boot asked for them: the firmware reads a heap object through
# the UAT; an unmap left uninvalidated is reported stale, and after the invalidation (or with
# the driver's own unmap) the access faults.
if grep -q 'Kernel command line:.*asahi.live_selftests=1' <<<"$kmsg"; then
	for t in heap-object-visible missed-invalidation-is-stale unmap-invalidates user-vm-in-its-slot fw-cache-flush; do
		grep -q "live selftest $t: ok" <<<"$kmsg" || echo "live selftest $t did not pass"
	done
	grep -q 'live selftests: 5 passed, 0 failed' <<<"$kmsg" || echo "live selftests did not all pass"
	grep -q '^uat stale ctx=0 va=0xffffffaf00000000 ' "$trace" 2>/dev/null || echo "model trace lacks the stale translation"
	grep -q '^uat probe ctx=0 va=0xffffffaf00000000 access=.* -> stale ' "$trace" 2>/dev/null || echo "model trace lacks the stale probe"
	# The flush test's request reached the firmware through the handoff slot and FwCtl.
	grep -qE '^fw fwctl flush slot=64 va=0xffffffa[0-9a-f]+ pages=[0-9]+ done read_ptr=1$' "$trace" 2>/dev/null || echo "model trace lacks the firmware completing the cache flush"
fi
# debugfs (guest-init prints each file): the firmware's first log line is kept, device
# control shows Initialize consumed, every heap and the event slots are listed.
grep -q '^guest-init: debugfs fw_log: 0 info GPU firmware initialised' "$log" || echo "debugfs fw_log lacks the firmware's first line"
grep -qE '^guest-init: debugfs channels: DevCtrl +1 +1 +0 +256\b' "$log" || echo "debugfs channels does not show Initialize consumed on DevCtrl"
[ "$(grep -cE '^guest-init: debugfs channels: [A-Za-z0-9_.]+ +[0-9]+ +[0-9]+ +[0-9]+ +(256|512)\b' "$log")" = 23 ] || echo "debugfs channels does not list the 23 rings"
# The firmware's power-on report was drained (the driver's read index caught up).
grep -q '^fw stats index=0 tag=PowerOn off_time=' "$trace" 2>/dev/null || echo "model trace lacks the firmware's power-on report"
grep -qE '^guest-init: debugfs channels: Stats +1 +1 +0 +256\b' "$log" || echo "debugfs channels does not show the power-on report drained from Stats"
grep -qE '^guest-init: debugfs heaps: Kernel Private +0x[0-9a-f]+-0x[0-9a-f]+ +[1-9][0-9]* ' "$log" || echo "debugfs heaps shows no backed private heap"
grep -q '^guest-init: debugfs events: held 0 of 128\b' "$log" || echo "debugfs events does not show the 128 slots"
# The GPU firmware's init (agx-model src/fw/): INIT read InitData and everything it points
# to, every channel was initialised, Initialize was consumed from DevCtrl, and the driver saw
# read_ptr reach it.
grep -qE '^fw initdata va=0x[0-9a-f]+ read$' "$trace" 2>/dev/null || echo "model trace lacks the firmware reading InitData (fw initdata va=...)"
channels=$(grep -cE '^fw channel [A-Za-z0-9_]+ state=0x[0-9a-f]+ ring=0x[0-9a-f]+ entries=[0-9]+ initialised$' "$trace" 2>/dev/null)
[ "${channels:-0}" -eq 18 ] || echo "model trace shows ${channels:-0} of 18 channels initialised"
grep -q '^fw devctrl consumed tag=Initialize read_ptr=1$' "$trace" 2>/dev/null || echo "model trace lacks the DevCtrl Initialize being consumed"
grep -qE '^fw ready: [0-9]+ channels, initdata checked: [0-9]+ fields, [0-9]+ pointers$' "$trace" 2>/dev/null || echo "model trace lacks fw ready"
grep -q 'GPU firmware ready in [0-9]* ms' <<<"$kmsg" || echo "driver did not report the GPU firmware ready"
grep -q 'violation' "$trace" 2>/dev/null && grep 'violation' "$trace" | head -n 3 | sed 's/^/model: /'
# The model's exit status (scripts/sim.sh records it): 0 after the clean disconnect, non-zero
# after a strict-mode stop (3), a failed event handler (4) or a panic (101); its stderr says
# why it ended.
if [ -f "$dir/model-status" ]; then
	model_status=$(cat "$dir/model-status")
	[ "$model_status" = 0 ] || echo "model exited with status $model_status"
else
	echo "model exit status not recorded (no model-status)"
fi
if [ -f "$dir/model.log" ]; then
	grep -q 'agx-model: strict mode' "$dir/model.log" &&
		sed -n '/agx-model: strict mode/{n;p;q}' "$dir/model.log" | sed 's/^ */model stopped (strict): /'
	grep -m 3 -E 'panicked at|^Error|^error' "$dir/model.log" | sed 's/^/model: /'
fi
exit 0
