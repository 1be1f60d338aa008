#!/usr/bin/env bash
# Run .ci/run on a clean clone inside a fresh Debian root: what a new machine gets, nothing more.
#
#   sudo tools/fresh-root-check.sh [ROOT]      # default ROOT: /var/tmp/freigabe-fresh-root
#
# The root is made with debootstrap (Debian bookworm, minbase) with only what a new machine
# of this kind has before the project's own files run: Python 3.11 with venv and headers, gcc,
# make, git, CA certificates. Everything else the tests use must come from `make tools` and
# pyproject.toml, or .ci/run fails. Needs root and the Debian package debootstrap (not a test
# dependency: it only builds the root). An existing root is reused after `git clone` afresh.
set -euo pipefail
root="${1:-/var/tmp/freigabe-fresh-root}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
base="python3,python3-venv,python3-dev,python3-pip,gcc,make,git,ca-certificates,procps,iproute2"

if [ ! -x "$root/usr/bin/python3" ]; then
  command -v debootstrap >/dev/null || { echo "install the Debian package debootstrap first" >&2; exit 2; }
  debootstrap --variant=minbase --include="$base" bookworm "$root" http://deb.debian.org/debian
fi

mounts=(proc sys dev dev/pts dev/shm run)
cleanup() {
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount -l "$root/${mounts[i]}" 2>/dev/null || true; done
  umount -l "$root" 2>/dev/null || true
}
trap cleanup EXIT
# The root as a mount point of its own, as / is on a machine: the fleet tests give each host a
# private mount namespace (unshare --propagation private needs / to be a mount).
mount --bind "$root" "$root"
mount --make-private "$root"
for m in "${mounts[@]}"; do
  mkdir -p "$root/$m"
  mount --bind "/$m" "$root/$m"
done
# This machine's network, not the project's: name resolution, and the CA of an HTTPS egress proxy
# where the machine's trust store has one (pip reads the system bundle through PIP_CERT).
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"  # debootstrap writes none; every installed machine has localhost in it
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null
fi

rm -rf "$root/root/freigabe"
git clone -q "$repo" "$root/root/freigabe"
started=$(date +%s)
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
  bash -c 'cd /root/freigabe && bash .ci/run'
echo "fresh root: .ci/run passed in $(( $(date +%s) - started )) s"
