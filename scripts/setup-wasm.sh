#!/usr/bin/env bash
# Installs what the Wasm plugin driver's tests need: the wasm32-wasip1 Rust target, used to
# build the proxy-wasm example filters in examples/plugins/wasm. Idempotent.
set -euo pipefail
if rustup target list --installed | grep -qx 'wasm32-wasip1'; then
    echo "setup-wasm: wasm32-wasip1 already installed"
else
    rustup target add wasm32-wasip1
fi
