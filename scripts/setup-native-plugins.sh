#!/usr/bin/env bash
# Installs what the native plugin tests (weir-plugin-abi, weir-plugin-native) need: gcc, to
# compile weir_plugin.h and the C plugins. The Rust example plugin is built by the tests with
# the cargo running them (its crates come from crates.io like the workspace's).
# Idempotent: a second run only checks. Root may apt-get what is missing.
set -euo pipefail

if ! command -v gcc >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-native-plugins: gcc is missing; install it (as root: apt-get install gcc libc6-dev)" >&2
    exit 1
  fi
  if [ -z "${WEIR_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export WEIR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
fi
gcc --version | head -n 1
