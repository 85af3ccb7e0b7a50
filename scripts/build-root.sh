#!/usr/bin/env bash
# Create (once) the Debian sid build root that holds the kernel toolchain.
#
# Why a separate root: the host's Rust has no rust-src and its clang/bindgen are too old
# for Linux 7.2's Rust support, while Debian sid ships a matching set (rustc + rust-src,
# bindgen, clang/lld) together with linux-source-7.2 and the Mesa we test with.
#
# Usage: scripts/build-root.sh <root-dir>
# Re-running is cheap: a stamp file records the package list that was installed, and only
# a changed list triggers apt again.
set -euo pipefail

root=${1:?usage: build-root.sh <root-dir>}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

packages=(
	# kernel toolchain
	rustc rust-src rust-clippy rustfmt bindgen clang lld llvm libclang-dev make bc flex bison libssl-dev
	libelf-dev gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross python3 cpio kmod xz-utils
	device-tree-compiler linux-source-7.2
	# the arm64 kernel's KUnit run (make kunit-arm64)
	qemu-system-arm
	# userspace tested on the simulated machine
	mesa-vulkan-drivers mesa-drm-shim vulkan-tools igt-gpu-tools-tests
	mesa-utils libegl-mesa0 mesa-libgallium libegl1
)

want=$(printf '%s\n' "${packages[@]}" | sort)
stamp="$root/.asahi-agx-packages"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi

if ! command -v debootstrap >/dev/null; then
	echo "build-root: installing debootstrap on the host"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

if [ ! -x "$root/usr/bin/apt-get" ]; then
	echo "build-root: debootstrap sid into $root"
	rm -rf "$root.tmp"
	mkdir -p "$(dirname "$root")"
	debootstrap --variant=minbase sid "$root.tmp" "$mirror" >"$root.debootstrap.log" 2>&1 || {
		echo "build-root: debootstrap failed, see $root.debootstrap.log" >&2
		tail -n 20 "$root.debootstrap.log" >&2
		exit 1
	}
	mv "$root.tmp" "$root"
fi

# The sid index served here is older than its Valid-Until date.
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99no-valid-until"
echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/99no-recommends"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

echo "build-root: installing ${#packages[@]} packages"
"$here/in-root.sh" "$root" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages[*]}" \
	>"$root.apt.log" 2>&1 || {
	echo "build-root: apt-get in the build root failed, see $root.apt.log" >&2
	tail -n 20 "$root.apt.log" >&2
	exit 1
}
echo "$want" >"$stamp"
