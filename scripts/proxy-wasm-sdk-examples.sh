#!/usr/bin/env bash
# Runs the proxy-wasm Rust SDK's own example filters through Weir, unmodified.
#
#   scripts/proxy-wasm-sdk-examples.sh <checkout of the proxy-wasm Rust SDK>
#
# Builds hello_world, http_headers, http_body, http_config, http_auth_random and
# grpc_auth_random for wasm32-wasip1 (each example builds against the checkout it sits in;
# nothing is copied into Weir), then runs crates/weir/tests/proxy_wasm_sdk_examples.rs, which
# starts the weir binary with the examples as hooks and checks what each envoy.yaml says.
set -euo pipefail
sdk=${1:?usage: $0 <proxy-wasm-rust-sdk checkout>}
sdk=$(cd "$sdk" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}/proxy-wasm-sdk-examples
bash "$repo/scripts/setup-wasm.sh"
for example in hello_world http_headers http_body http_config http_auth_random grpc_auth_random; do
    echo "building $example"
    (cd "$sdk/examples/$example" && cargo build --release --target wasm32-wasip1 --target-dir "$target")
done
export WEIR_PROXY_WASM_SDK_EXAMPLES=$target/wasm32-wasip1/release
cd "$repo"
cargo test -p weir --test proxy_wasm_sdk_examples -- --ignored --nocapture
