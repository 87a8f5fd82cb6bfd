#!/usr/bin/env bash
# Installs tansu, the Kafka-compatible broker the stream tests start on loopback (crates.io,
# memory storage). Built once into $HOME/.cache/tansu (about 11 minutes from empty on two
# cores) and reused by later runs. Prints nothing when it is already there.
set -euo pipefail

version="0.6.0"
root="${WEIR_TANSU_ROOT:-$HOME/.cache/tansu}"
bin="$root/bin/tansu"

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
  exit 0
fi
echo "setup-tansu: building tansu $version into $root (cached for later runs)" >&2
CARGO_TARGET_DIR="${WEIR_TANSU_BUILD_DIR:-$HOME/.cache/tansu-build}" \
  cargo install tansu --version "$version" --locked --features dynostore,libsql --root "$root" --quiet
"$bin" --version >/dev/null
