#!/usr/bin/env bash
# Run the driver's KUnit suites on the arm64 kernel (16 KiB pages, as on Macs) under QEMU.
#
# On arm64 the driver is a module, so its suites run while the module loads: QEMU's virt
# machine (TCG, `-cpu max`, which implements the 16 KiB granule) boots the kernel-arm64
# Image with a two-file initramfs, a static init (tools/testing/kunit/arm64-init.c) and
# asahi.ko; init loads the module and powers off.  The console log is then summarised like
# the UML run.  The benchmark suite needs io-pgtable-arm, which this kernel does not build.
#
# Runs where the toolchain is (build root): it has the cross compiler and QEMU.
# Usage: scripts/kunit-arm64.sh [timeout seconds]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/.build/out/arm64
work=$out/kunit-arm64
log=$out/kunit.log
limit=${1:-900}
image=$out/arch/arm64/boot/Image
ko=$out/drivers/gpu/drm/asahi/asahi.ko

for f in "$image" "$ko"; do
	[ -f "$f" ] || { echo "kunit-arm64: no $f (make kernel-arm64)" >&2; exit 1; }
done
grep -qx CONFIG_DRM_ASAHI_KUNIT_TEST=y "$out/.config" ||
	{ echo "kunit-arm64: $out was built without CONFIG_DRM_ASAHI_KUNIT_TEST" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work/initramfs"
aarch64-linux-gnu-gcc -static -O2 -Wall -Werror -o "$work/initramfs/init" \
	"$repo/tools/testing/kunit/arm64-init.c"
cp "$ko" "$work/initramfs/asahi.ko"
# The kernel's built-in initramfs already holds /dev/console; this archive is added to it.
(cd "$work/initramfs" && printf '%s\n' init asahi.ko | cpio -o -H newc -R 0:0 --quiet) >"$work/initramfs.cpio"

status=0
timeout --kill-after=10 "$limit" qemu-system-aarch64 -M virt -cpu max -smp 1 -m 1G \
	-nographic -nic none -no-reboot -kernel "$image" -initrd "$work/initramfs.cpio" \
	-append "console=ttyAMA0 panic=-1" </dev/null >"$log" 2>&1 || status=$?
if [ $status -eq 124 ] || [ $status -eq 137 ]; then
	echo "kunit-arm64: QEMU did not power off within ${limit}s (log: $log)" >&2
elif ! grep -q 'kunit-arm64 init: asahi.ko loaded' "$log"; then
	echo "kunit-arm64: asahi.ko did not load (log: $log):" >&2
	grep -E 'kunit-arm64 init|Kernel panic|asahi' "$log" | head -n 5 >&2 || true
fi
summary=0
python3 "$repo/tools/testing/kunit/ktap_summary.py" --repo "$repo" --label kunit-arm64 \
	--optional asahi_uat_bench "$log" || summary=$?
# A test that passes while the kernel warns or oopses is not a pass.
trouble=$(grep -E 'WARNING:|BUG:|Oops|Call trace:|Kernel panic' "$log" | head -n 3 || true)
if [ -n "$trouble" ]; then
	echo "kunit-arm64: kernel trouble during the run (log: $log):"
	echo "$trouble"
	exit 1
fi
exit $summary
