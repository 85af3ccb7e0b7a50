#!/usr/bin/env bash
# Configure and build one kernel: the arm64 Mac target or the UML simulated machine.
#
# Runs where the toolchain is (inside the build root, or on the host with TOOLCHAIN=host).
# The .config is the arch's base config merged with tools/testing/configs/<arch>.config, and
# re-made only when the fragment changes, so rebuilds stay incremental.  Every symbol of the
# fragment is checked afterwards: Kconfig silently drops symbols whose dependencies are not
# met, and a kernel without our driver must not pass as a good build.  Warnings from this
# repo's files fail the build; the rest of the tree is not held to that.
#
# Usage: scripts/kbuild.sh <um|arm64> [make arguments, e.g. CLIPPY=1]
set -euo pipefail

arch=${1:?usage: kbuild.sh <um|arm64> [make args]}
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
tree=$repo/.build/linux
out=$repo/.build/out/$arch
frag=$repo/tools/testing/configs/$arch.config
case $arch in
um) base=defconfig ;;
arm64) base=allnoconfig ;;
*)
	echo "kbuild: unknown arch $arch" >&2
	exit 2
	;;
esac
[ -f "$frag" ] || { echo "kbuild: no config fragment $frag" >&2; exit 2; }

fwgen=$repo/target/release/fwgen
[ -x "$fwgen" ] || { echo "kbuild: no $fwgen (make fwgen-bin builds it)" >&2; exit 1; }
mk() {
	make -C "$tree" O="$out" ARCH="$arch" LLVM=1 -j"$(nproc)" \
		FWGEN="$fwgen" ASAHI_FWDEFS="$repo/firmware-defs" "$@"
}

mkdir -p "$out"
# One build per output folder at a time: several people (or agents) may share a checkout.
exec 9>"$out/.lock"
flock 9
# The source tree must not be re-made under a running build (scripts/kernel-tree.sh).
exec 8>"$repo/.build/.tree.lock"
flock -s 8
log=$out/build.log
config_id=$(cat "$frag" "$0" | sha256sum | cut -d' ' -f1)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.asahi-agx-config" 2>/dev/null)" != "$config_id" ]; then
	rm -f "$out/.asahi-agx-config"
	mk -s "$base" >"$out/config.log" 2>&1
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$frag" >>"$out/config.log" 2>&1
	mk -s olddefconfig >>"$out/config.log" 2>&1
	bad=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			if ! grep -qxF "$line" "$out/.config"; then
				have=$(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo "${line%%=*} absent")
				echo "kbuild: $arch config wants $line, got: $have" >&2
				bad=1
			fi
			;;
		"# CONFIG_"*" is not set")
			sym=${line#"# "}
			sym=${sym%% *}
			if grep -qE "^$sym=" "$out/.config"; then
				echo "kbuild: $arch config wants $sym unset, got: $(grep -E "^$sym=" "$out/.config")" >&2
				bad=1
			fi
			;;
		esac
	done <"$frag"
	if [ $bad -ne 0 ]; then
		if ! grep -qx CONFIG_RUST=y "$out/.config"; then
			echo "kbuild: Rust is not available to this toolchain:" >&2
			mk rustavailable >&2 || true
		fi
		echo "kbuild: $arch config fragment not satisfied (unmet dependencies?)" >&2
		exit 1
	fi
	echo "$config_id" >"$out/.asahi-agx-config"
fi

# Paths of this repo's files as the compiler prints them (relative to the tree).
ours=$(cd "$repo" && find drivers rust -type f -name '*.[chS]' -o -type f -name '*.rs' | sed 's/[.]/[.]/g' | paste -sd'|')
ours=${ours:-drivers/gpu/drm/asahi/}

status=0
mk -s "$@" >"$log" 2>&1 || status=$?

# A warning belongs to us if its location line names one of our files.
warnings=$(awk -v ours="($ours)" '
	/^(warning|error)(\[[^]]*\])?:/ { msg = $0; next }
	/^ *--> / && msg != "" { if ($2 ~ ours) print msg " at " $2; msg = ""; next }
	/: warning: / { split($0, a, ":"); if (a[1] ~ ours) print $0 }
' "$log" | sort -u)

if [ $status -ne 0 ]; then
	echo "kbuild: $arch build failed ($*); errors:" >&2
	grep -E -A12 '^error(\[|:)|: error:|\*\*\*' "$log" | head -n 80 >&2 || tail -n 40 "$log" >&2
	echo "kbuild: full log in $log" >&2
	exit 1
fi
if [ -n "$warnings" ]; then
	echo "kbuild: $arch build has warnings in our code ($*):" >&2
	echo "$warnings" >&2
	exit 1
fi
