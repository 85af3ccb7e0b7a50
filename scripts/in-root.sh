#!/usr/bin/env bash
# Run a command inside the build root.
#
# The mounts a chroot needs (/proc, /sys, /dev, and the repository at /src) are made in a
# private mount namespace, so they vanish with the command whatever way it ends: nothing is
# ever left mounted on the host.
#
# Usage: scripts/in-root.sh <root-dir> <command> [args...]
# The command runs with /src as the working directory when the current directory is the
# repository (or below it), else in /.
set -euo pipefail

root=$(cd "${1:?usage: in-root.sh <root-dir> <command...>}" && pwd)
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
cwd=$(pwd)
case "$cwd/" in
"$repo"/*) inner="/src${cwd#"$repo"}" ;;
*) inner=/ ;;
esac

exec unshare --mount --propagation private -- /bin/sh -ec '
root=$1 repo=$2 inner=$3
shift 3
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mkdir -p "$root/src"
mount --bind "$repo" "$root/src"
exec chroot "$root" /usr/bin/env -C "$inner" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root "$@"
' in-root "$root" "$repo" "$inner" "$@"
