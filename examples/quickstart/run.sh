#!/usr/bin/env bash
# The quickstart: a gateway with an example API in front of a small static upstream.
# (The README's main job is ../../demo.sh, the vision pipeline.)
# First run builds weir in release mode (a few minutes); later runs start in seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
port="${WEIR_PORT:-8080}"
upstream_port="${WEIR_UPSTREAM_PORT:-8081}"

command -v cargo >/dev/null || { echo "demo: cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "demo: python3 is required for the example upstream" >&2; exit 1; }
cargo build --release -p weir --quiet
bin="${CARGO_TARGET_DIR:-target}/release/weir"

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

cp -r examples/quickstart/apps "$work/apps"
sed "s/\"listen_port\": 8080/\"listen_port\": $port/" examples/quickstart/weir.json > "$work/weir.json"
sed -i "s/127.0.0.1:8081/127.0.0.1:$upstream_port/" "$work/apps/quickstart.json"

python3 -m http.server "$upstream_port" --bind 127.0.0.1 --directory examples/quickstart/site \
  >"$work/upstream.log" 2>&1 &
pids+=($!)
"$bin" check --conf "$work/weir.json"
"$bin" run --conf "$work/weir.json" &
pids+=($!)

for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/hello" >/dev/null 2>&1 && break
  sleep 0.1
done
cat <<MSG

Weir is serving on http://127.0.0.1:$port  (Ctrl-C stops everything)
  curl -i http://127.0.0.1:$port/quickstart/
  curl -s --http2-prior-knowledge http://127.0.0.1:$port/quickstart/ -o /dev/null -w '%{http_version}\n'
  curl -s -H 'X-Tyk-Authorization: change-me' http://127.0.0.1:$port/tyk/apis
  curl -s http://127.0.0.1:$port/metrics | grep weir_requests_total
API definitions live in $work/apps (watched: edit one and it reloads).

MSG
wait "${pids[1]}"
