#!/usr/bin/env bash
# Installs the benchmark tools from Debian packages, skipping what is present:
#   nginx          (origin and peer proxy; the system service is never started)
#   wrk            (HTTP/1.1 load)
#   nghttp2-client (h2load: HTTP/2 and gRPC load)
# Idempotent; run as root (or with sudo available).
set -euo pipefail

# command -> Debian package
declare -A wanted=(
    [nginx]=nginx
    [wrk]=wrk
    [h2load]=nghttp2-client
)

missing=()
for cmd in "${!wanted[@]}"; do
    if command -v "$cmd" >/dev/null 2>&1 || [[ -x "/usr/sbin/$cmd" ]]; then
        echo "install.sh: $cmd present"
    else
        missing+=("${wanted[$cmd]}")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install.sh: nothing to install"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
fi

echo "install.sh: installing ${missing[*]}"
# policy-rc.d exit 101 stops Debian maintainer scripts from starting the nginx
# system service; we only ever run our own nginx instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
fi
cleanup() {
    if [[ $created_policy -eq 1 ]]; then "${SUDO[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or stale (> 1 day).
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 -print -quit 2>/dev/null) ]]; then
    "${SUDO[@]}" apt-get update
fi
"${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
echo "install.sh: done"
