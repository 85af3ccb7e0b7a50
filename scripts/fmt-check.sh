#!/usr/bin/env bash
# Check that this repo's kernel Rust is rustfmt-clean under the kernel tree's rustfmt rules.
# Runs where the toolchain is.  Usage: scripts/fmt-check.sh [--fix]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mode=--check
[ "${1:-}" = --fix ] && mode=
mapfile -t files < <(find drivers rust -name '*.rs' | sort)
if rustfmt --edition 2021 --config-path .build/linux/.rustfmt.toml $mode "${files[@]}"; then
	echo "fmt-check: ${#files[@]} files clean"
else
	echo "fmt-check: rustfmt wants changes (scripts/fmt-check.sh --fix)"
	exit 1
fi
