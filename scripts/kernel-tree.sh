#!/usr/bin/env bash
# Lay out the kernel source tree we build: pristine Linux + patches/ + this repo's overlay.
#
# The pristine source is unpacked once (from the build root's linux-source-7.2, or copied
# from KDIR when the user brings a tree).  The working tree is a copy of it with the patch
# series applied; it is re-made only when the series changes.  The overlay (new files this
# repo adds under drivers/ and rust/) is linked in with relative symlinks every time, so it
# resolves both on the host and inside the build root (where the repo is mounted at /src),
# and edits in the repo reach the build without copying.  Nothing in the repo is modified.
#
# Usage: scripts/kernel-tree.sh <build-dir> <root-dir> [pristine-source-dir]
set -euo pipefail

build=$(mkdir -p "$1" && cd "$1" && pwd)
root=$2
ksrc=${3:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
pristine=$build/linux-pristine
tree=$build/linux

die() {
	echo "kernel-tree: $*" >&2
	exit 1
}

# Builds hold this lock shared while they read the tree (scripts/kbuild.sh).
exec 8>"$build/.tree.lock"
flock 8

# 1. Pristine source, unpacked once.
if [ ! -f "$pristine/Makefile" ]; then
	rm -rf "$pristine.tmp"
	mkdir -p "$pristine.tmp"
	if [ -n "$ksrc" ]; then
		[ -f "$ksrc/Makefile" ] || die "KDIR=$ksrc is not a kernel source tree"
		echo "kernel-tree: copying $ksrc"
		cp -a "$ksrc/." "$pristine.tmp/"
	else
		tarball=$(ls "$root"/usr/src/linux-source-7.2.tar.* 2>/dev/null | head -n 1)
		[ -n "$tarball" ] || die "no linux-source-7.2 tarball in $root/usr/src (run make setup)"
		echo "kernel-tree: unpacking $(basename "$tarball")"
		tar -xf "$tarball" -C "$pristine.tmp" --strip-components=1
	fi
	mv "$pristine.tmp" "$pristine"
fi

# 2. Working tree = pristine + patch series; re-made when the series changes.
series_id=$( (cd "$repo" && find patches -type f -name '*.patch' 2>/dev/null | sort | xargs -r sha256sum) | sha256sum | cut -d' ' -f1)
if [ ! -f "$tree/.asahi-agx-series" ] || [ "$(cat "$tree/.asahi-agx-series")" != "$series_id" ]; then
	echo "kernel-tree: applying patches/ to a fresh copy"
	rm -rf "$tree.tmp"
	# Copy the contents, not the path: the pristine source may be a symlink shared between
	# worktrees, and copying the link itself would patch the shared source in place.
	mkdir -p "$tree.tmp"
	cp -a "$pristine/." "$tree.tmp/"
	for p in $(cd "$repo" && find patches -type f -name '*.patch' 2>/dev/null | sort); do
		if ! patch -d "$tree.tmp" -p1 --forward --batch --silent <"$repo/$p" >"$build/patch.log" 2>&1; then
			cat "$build/patch.log" >&2
			rm -rf "$tree.tmp"
			die "patch $p does not apply"
		fi
	done
	# A patched file whose result did not change keeps its old timestamp, so changing one
	# patch does not rebuild everything that includes the headers another patch touches.
	if [ -d "$tree" ]; then
		for f in $(cd "$repo" && cat patches/*.patch 2>/dev/null | sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' | sort -u); do
			if [ -f "$tree/$f" ] && cmp -s "$tree/$f" "$tree.tmp/$f"; then
				touch -r "$tree/$f" "$tree.tmp/$f"
			fi
		done
	fi
	rm -rf "$tree"
	mv "$tree.tmp" "$tree"
	echo "$series_id" >"$tree/.asahi-agx-series"
fi

# 3. Overlay: link each file the repo adds under drivers/ and rust/.  A file that exists
# upstream must be changed through patches/, never overlaid.
(cd "$repo" && find drivers rust -type f 2>/dev/null | sort) | while read -r f; do
	dst=$tree/$f
	if [ -e "$pristine/$f" ]; then
		die "$f exists upstream: change it with a patch in patches/, not the overlay"
	fi
	if [ ! -L "$dst" ]; then
		mkdir -p "$(dirname "$dst")"
		ln -sr "$repo/$f" "$dst"
	fi
done
# Drop links whose repo file was removed.
find "$tree/drivers" "$tree/rust" -type l ! -exec test -e {} \; -delete 2>/dev/null || true
