#!/usr/bin/env bash
# `make bench`: boot the UML kernel with only the benchmark suites and print their figures.
#
# The UAT benchmark (drivers/gpu/drm/asahi/uat/pgtable_bench.rs) is a KUnit suite, so it is
# built into the test kernel and also runs, as a correctness check, in `make kunit`; here it
# runs alone and its figure lines are collected.  Figures come from a debug kernel (lockdep,
# SLUB debugging) under UML: compare the two columns, not the absolute numbers.
#
# Runs where the toolchain is (the UML binary is linked against the build root's C library).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/.build/out/um
log=$out/bench.log

[ -x "$out/linux" ] || { echo "bench: no UML kernel at $out/linux (make kernel-um)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
TMPDIR=$tmp timeout --kill-after=10 600 "$out/linux" mem=1G console=tty kunit_shutdown=halt \
	kunit.filter_glob=asahi_uat_bench </dev/null >"$log" 2>&1 || true
sed -nE 's/^\[[ 0-9.]+\] (asahi: )?((uat (map|unmap) [0-9]+ pages (warm|cold)|heap alloc\+map 16 KiB): .*)$/\2/p' "$log"
if ! grep -qE '(^|\] )ok [0-9]+ asahi_uat_bench' "$log"; then
	echo "bench: the benchmark suite did not pass (log: $log)" >&2
	exit 1
fi
