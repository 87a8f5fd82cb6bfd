#!/usr/bin/env bash
# Weir's Kafka streams against rdkafka used directly, side by side on one tansu broker
# (bench/brokers.sh does the same for NATS JetStream, RabbitMQ, MQTT and Redis):
# consume rate (kafka → seed 001's Worker mapping → SSE client vs an rdkafka consumer),
# end-to-end latency at a fixed rate, and ingest rate (HTTP POST → kafka vs an rdkafka
# producer). Prints a Markdown table of medians for BENCHMARKS.md; per-round lines on stderr.
#
#   bench/streams.sh [--rounds N] [--messages N] [--posts N] [--concurrency C] [--rate R] [--secs S]
#
# Builds weir (release) and bench/streams; tansu from scripts/setup-tansu.sh. BENCH_THREADS
# sets the relay stream's pipeline.threads (default -1, one per CPU, as Bento).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

bash "$ROOT/scripts/setup-tansu.sh"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p weir)
(cd "$HERE/streams" && CARGO_TARGET_DIR=$TARGET/bench-streams cargo build --release --quiet)

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(git -C "$ROOT" rev-parse --short HEAD)" \
    "load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
exec "$TARGET/bench-streams/release/streams-bench" \
    --weir "$TARGET/release/weir" \
    --tansu "${WEIR_TANSU:-$HOME/.cache/tansu/bin/tansu}" "$@"
