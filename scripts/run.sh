#!/usr/bin/env bash
# `make run`: boot the UML kernel with the build root as its root file system and show what
# the asahi driver did.
#
# Runs where the toolchain is (the UML binary is linked against the build root's C library).
# The guest runs tools/testing/sim/guest-init.sh as init, which reports and powers off.
#
# Usage: scripts/run.sh [soc] [firmware]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/.build/out/um
soc=${1:-t8103}
fw=${2:-13.5}
[ -x "$out/linux" ] || { echo "run: no UML kernel at $out/linux (make kernel-um)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "run: booting UML (simulated $soc, firmware $fw)"
TMPDIR=$tmp timeout --kill-after=10 300 "$out/linux" mem=1G console=tty kunit.enable=0 \
	root=/dev/root rootfstype=hostfs rootflags=/ rw \
	init="$repo/tools/testing/sim/guest-init.sh" </dev/null 2>&1 | tee "$out/run.log" |
	sed -n '/asahi\|guest-init/p'
