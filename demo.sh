#!/usr/bin/env bash
# The main job: seed 000's vision pipeline on this machine. Simulated cameras → the processor
# (detections over gRPC) → weir, whose native stream hook enriches every event from a SQLite
# camera registry (cached) → the dashboard in your browser over gRPC-Web.
#
# First run builds everything (weir, the processor, the enricher plugin, the dashboard with
# npm; several minutes); later runs start in seconds. Ctrl-C stops everything.
#   WEIR_PORT (8080), WEIR_UI_PORT (8090), VISION_CAMERAS (8), VISION_FPS (30),
#   VISION_CACHE_TTL (30 s), VISION_DATA (target/vision-demo-data) change the defaults.
set -euo pipefail
cd "$(dirname "$0")"
root="$(pwd)"
# Where cargo builds: CARGO_TARGET_DIR, a target-dir in cargo's config, or ./target.
target="${CARGO_TARGET_DIR:-$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
  grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)}"
target="${target:-$root/target}"
data="${VISION_DATA:-$target/vision-demo-data}"

command -v cargo >/dev/null || { echo "demo: cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v npm >/dev/null || { echo "demo: node and npm are required (Node 20+)" >&2; exit 1; }

step() { echo "demo: $*" >&2; }
step "building weir, the processor, the enricher plugin and the demo runner (first run: minutes)"
cargo build --release --quiet -p weir
cargo build --release --quiet --manifest-path examples/vision/processor/Cargo.toml \
  --target-dir "$target/vision-processor"
cargo build --release --quiet --manifest-path examples/vision/enricher/Cargo.toml \
  --target-dir "$target/vision-enricher"
cargo build --release --quiet --manifest-path examples/vision/demo/Cargo.toml \
  --target-dir "$target/vision-demo"
step "building the dashboard"
WEIR_SKIP_CHROMIUM=1 bash scripts/setup-vision-dashboard.sh >&2

exec "$target/vision-demo/release/vision-demo" run \
  --data "$data" \
  --weir "$target/release/weir" \
  --processor "$target/vision-processor/release/vision-processor" \
  --enricher "$target/vision-enricher/release/libweir_vision_enricher.so" \
  --dashboard examples/vision/dashboard/dist \
  --api examples/vision/apis/vision-api.json \
  --gateway-port "${WEIR_PORT:-8080}" \
  --ui-port "${WEIR_UI_PORT:-8090}" \
  --cameras "${VISION_CAMERAS:-8}" \
  --fps "${VISION_FPS:-30}" \
  --cache-ttl "${VISION_CACHE_TTL:-30}"
