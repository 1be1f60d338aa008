#!/bin/sh
# Install the Debian packages in tools/debian-packages.txt whose capability is missing.
# Waits for another apt/dpkg that holds the lock instead of failing at once.
set -eu
here=$(dirname "$0")
missing=""
while IFS='	' read -r package check; do
  case "$package" in ''|'#'*) continue ;; esac
  sh -c "$check" >/dev/null 2>&1 || missing="$missing $package"
done < "$here/debian-packages.txt"
[ -z "$missing" ] && exit 0
echo "installing:$missing"
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=""; fi
lock="-o DPkg::Lock::Timeout=600"
DEBIAN_FRONTEND=noninteractive $sudo apt-get $lock update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get $lock install -y -qq --no-install-recommends $missing
still=""
while IFS='	' read -r package check; do
  case "$package" in ''|'#'*) continue ;; esac
  sh -c "$check" >/dev/null 2>&1 || still="$still $package"
done < "$here/debian-packages.txt"
if [ -n "$still" ]; then
  echo "installed, but their capability is still missing:$still (see tools/debian-packages.txt)" >&2
  exit 1
fi
