#!/usr/bin/env bash
# The vision pipeline's tests (examples/vision): its crates (each its own workspace: processor,
# enricher, demo runner) with fmt, clippy and their tests against real databases; the Python
# processor's test; then the whole pipeline in Debian's chromium (Playwright), driven by the
# dashboard's browser test. Called by test.sh after the setup scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
# Where cargo builds: CARGO_TARGET_DIR, a target-dir in cargo's config, or ./target.
target="${CARGO_TARGET_DIR:-$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)}"
target="${target:-$root/target}"
failed=0

for crate in processor enricher demo; do
  dir="examples/vision/$crate"
  echo "test-vision: $dir" >&2
  (cd "$dir" && cargo fmt -- --check) || failed=1
  cargo clippy --quiet --manifest-path "$dir/Cargo.toml" --target-dir "$target/vision-$crate" \
    --all-targets -- -D warnings || failed=1
  cargo test --manifest-path "$dir/Cargo.toml" --target-dir "$target/vision-$crate" || failed=1
done

echo "test-vision: examples/vision/processor-py" >&2
target/vision-venv/bin/python examples/vision/processor-py/test_processor.py || failed=1
echo "test-vision: examples/vision/enricher-py" >&2
target/plugin-venv/bin/python examples/vision/enricher-py/test_enricher.py || failed=1

echo "test-vision: the pipeline in a browser" >&2
cargo build --quiet -p weir
for crate in processor enricher demo; do
  cargo build --quiet --manifest-path "examples/vision/$crate/Cargo.toml" \
    --target-dir "$target/vision-$crate"
done
node examples/vision/dashboard/e2e/browser-test.mjs \
  --demo "$target/vision-demo/debug/vision-demo" \
  --processor "$target/vision-processor/debug/vision-processor" \
  --weir "$target/debug/weir" \
  --enricher "$target/vision-enricher/debug/libweir_vision_enricher.so" \
  --dashboard examples/vision/dashboard/dist \
  --screenshot "$target/vision-dashboard.png" || failed=1

# Both shipped definitions (seed 000's classic form and its OAS twin): the demo runs on each,
# and a gRPC-Web client gets events enriched from the registry.
check_definition() { # FILE
  local data port_line proc_pid demo_pid gw ui out
  data="$(mktemp -d)"
  "$target/vision-processor/debug/vision-processor" --listen 127.0.0.1:0 --cameras 2 --fps 30 \
    >"$data/processor.out" 2>/dev/null &
  proc_pid=$!
  for _ in $(seq 1 100); do grep -q LISTENING "$data/processor.out" && break; sleep 0.1; done
  port_line="$(sed -n 's/^LISTENING //p' "$data/processor.out")"
  gw="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  ui="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "$target/vision-demo/debug/vision-demo" run --data "$data/run" --api "examples/vision/apis/$1" \
    --processor-addr "$port_line" --gateway-port "$gw" --ui-port "$ui" --cameras 2 --cache-ttl 30 \
    --weir "$target/debug/weir" \
    --enricher "$target/vision-enricher/debug/libweir_vision_enricher.so" \
    --dashboard examples/vision/dashboard/dist >"$data/demo.out" 2>&1 &
  demo_pid=$!
  for _ in $(seq 1 200); do grep -q DASHBOARD "$data/demo.out" && break; sleep 0.1; done
  out="$(VISION_MAX=40 node examples/grpc-web-client/vision.mjs "http://127.0.0.1:$gw" cam-02 connect-binary 2>&1 || true)"
  kill "$demo_pid" "$proc_pid" 2>/dev/null || true
  wait "$demo_pid" "$proc_pid" 2>/dev/null || true
  if grep -q '"camera_location":"Assembly line 2"' <<<"$out"; then
    echo "ok   $1: events enriched from the registry through weir"
  else
    echo "FAIL $1: no enriched event; demo said:"; cat "$data/demo.out"; echo "$out" | tail -5
    failed=1
  fi
  rm -rf "$data"
}
check_definition vision-api.json
check_definition vision-api.oas.json

exit "$failed"
