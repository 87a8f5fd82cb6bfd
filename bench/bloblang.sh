#!/usr/bin/env bash
# Bloblang (crates/bloblang) against Vector's VRL on the same documents, one core.
# Builds bench/bloblang (release) and runs it pinned to one CPU; prints a Markdown
# table for BENCHMARKS.md. The bench first checks that both engines produce the
# same JSON for every document and exits non-zero if they do not.
#
#   bench/bloblang.sh [--rounds N] [--secs S] [--check]
#
# CPU: BENCH_CPU (default 1). Target dir: CARGO_TARGET_DIR (default bench/bloblang/target).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRATE=$HERE/bloblang
CPU=${BENCH_CPU:-1}
TARGET=${CARGO_TARGET_DIR:-$CRATE/target}

(cd "$CRATE" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet)
BIN=$TARGET/release/bloblang-bench

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(git -C "$HERE" rev-parse --short HEAD)" \
    "load $(cut -d' ' -f1-3 /proc/loadavg), CPU $CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
if command -v taskset >/dev/null 2>&1; then
    exec taskset -c "$CPU" "$BIN" "$@"
fi
exec "$BIN" "$@"
