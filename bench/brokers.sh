#!/usr/bin/env bash
# Weir's NATS JetStream, RabbitMQ, MQTT and Redis streams connectors against each broker's own
# client, side by side in one run: consume rate (broker → seed 001's Worker mapping → SSE
# client vs the broker's client reading and acknowledging) and ingest rate (HTTP POST → broker
# vs the broker's client publishing, each confirmed). Prints a Markdown table of medians for
# BENCHMARKS.md; per-round lines on stderr.
#
#   bench/brokers.sh [--rounds N] [--messages N] [--posts N] [--concurrency C] [--brokers nats,amqp,mqtt,redis]
#
# Starts its own nats-server, mosquitto and redis-server; uses RabbitMQ on 127.0.0.1:5672
# (scripts/setup-brokers.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

bash "$ROOT/scripts/setup-brokers.sh"
(cd "$ROOT" && CARGO_TARGET_DIR=$TARGET cargo build --release --quiet -p weir)
(cd "$HERE/streams" && CARGO_TARGET_DIR=$TARGET/bench-streams cargo build --release --quiet)

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(git -C "$ROOT" rev-parse --short HEAD)" \
    "load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
exec "$TARGET/bench-streams/release/brokers" --weir "$TARGET/release/weir" "$@"
