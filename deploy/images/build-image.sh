#!/usr/bin/env bash
# Builds a curated workspace rootfs with debootstrap (from the apt mirror this machine uses)
# and imports it into a running cocalc-launchpad host as a read-only btrfs subvolume.
#
#   deploy/images/build-image.sh NAME [--suite bookworm] [--mirror URL] [--data-dir DIR] [--agents]
#
# Nothing is pulled from a container registry. --agents adds Debian's nodejs and npm and
# installs the ACP agents from the npm registry (@zed-industries/codex-acp,
# @zed-industries/claude-code-acp; override with COCALC_IMAGE_AGENTS="pkg pkg…"): the agents
# service of a container workspace runs them inside it, found on its PATH.
set -euo pipefail

name="${1:?usage: build-image.sh NAME [--suite S] [--mirror URL] [--data-dir DIR]}"
shift
suite=bookworm
mirror=""
data_dir=()
agents=""
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    --data-dir) data_dir=(--data-dir "$2"); shift 2 ;;
    --agents) agents="${COCALC_IMAGE_AGENTS:-@zed-industries/codex-acp @zed-industries/claude-code-acp}"; shift ;;
    *) echo "build-image.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$mirror" ]; then
  # The first deb.debian.org-style URI in the apt sources of this machine.
  mirror="$(grep -hoE '^(deb|URIs:)\s+https?://[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi
# COCALC_LAUNCHPAD may be a command with arguments, e.g. "node dist/bundle/launchpad.js".
read -ra launchpad <<<"${COCALC_LAUNCHPAD:-cocalc-launchpad}"

# Curated: what a person expects in a terminal, small enough to build in a minute or two;
# python3 with ipykernel, so a notebook has its kernel.
packages="bash-completion,ca-certificates,curl,git,less,locales,nano,procps,python3,python3-ipykernel,vim-tiny,wget,xz-utils,zip,unzip,build-essential"
if [ -n "$agents" ]; then packages="$packages,nodejs,npm"; fi

work="$(mktemp -d /var/tmp/cocalc-image-XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "[1/4] debootstrap $suite from $mirror (variant minbase + $packages)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
  | sed -u 's/^/    /'

echo "[2/4] workspace user, locale, default shell setup"
chroot "$rootfs" /bin/sh -euc '
  groupadd -g 1000 user && useradd -u 1000 -g 1000 -m -d /home/user -s /bin/bash user
  sed -i "s/^# *en_US.UTF-8/en_US.UTF-8/" /etc/locale.gen && locale-gen >/dev/null
  echo "LANG=en_US.UTF-8" > /etc/default/locale
  mkdir -p /scratch && chmod 1777 /scratch
  apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
'
if [ -n "$agents" ]; then
  echo "      agents: $agents"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  # shellcheck disable=SC2086
  chroot "$rootfs" npm install -g --no-fund --no-audit $agents | sed -u 's/^/    /'
  chroot "$rootfs" npm cache clean --force >/dev/null 2>&1 || true
fi
printf '%s\n' "$name" > "$rootfs/etc/cocalc-image"

echo "[3/4] $(du -sm "$rootfs" | cut -f1) MB"
echo "[4/4] importing into the host as image $name"
"${launchpad[@]}" image import "$name" "$rootfs" --description "debian $suite minbase + curated packages" "${data_dir[@]}"
