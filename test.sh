#!/usr/bin/env bash
# Runs every test: formatting, lints, unit and end-to-end tests. Installs what the tests need
# when it is missing (Debian packages via apt-get), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")"

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing $*; install it (as root: apt-get install $*)" >&2
    exit 1
  fi
  if [ -z "${WEIR_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export WEIR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v cargo >/dev/null || { echo "test.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v curl >/dev/null || apt_install curl
command -v python3 >/dev/null || apt_install python3
# rdkafka builds librdkafka from its vendored source: a C/C++ toolchain, make and OpenSSL headers.
{ command -v make && command -v g++ && command -v pkg-config; } >/dev/null || apt_install make g++ pkg-config
[ -e /usr/include/openssl/ssl.h ] || apt_install libssl-dev
# The Python plugin driver embeds Debian's CPython 3.11 (.cargo/config.toml points PyO3 at it);
# the bundle tests sign bundles with the openssl command line.
{ [ -x /usr/bin/python3.11 ] && [ -e /usr/include/python3.11/Python.h ]; } || apt_install python3.11 libpython3.11-dev
command -v openssl >/dev/null || apt_install openssl
# Seed 000's Python stream hook decodes DetectionEvents with Debian's protobuf package.
/usr/bin/python3.11 -c 'import google.protobuf' 2>/dev/null || apt_install python3-protobuf

# What the plugin examples need: gcc (native), a Python venv with grpcio and Node modules (gRPC),
# the wasm32-wasip1 target (Wasm filters are built by the tests), the gRPC-Web browser clients.
bash scripts/setup-native-plugins.sh
bash scripts/setup-grpc-plugins.sh
bash scripts/setup-wasm.sh
bash scripts/setup-grpc-web.sh
# The vision pipeline (examples/vision): PostgreSQL, MariaDB and Redis for the enricher's tests,
# OpenCV for the Python processor, the dashboard's assets and Debian's chromium.
bash scripts/setup-services.sh
bash scripts/setup-vision-python.sh
bash scripts/setup-vision-dashboard.sh
# Tyk Streams' Kafka tests: tansu, a Kafka-compatible broker, built once into ~/.cache/tansu.
bash scripts/setup-tansu.sh
# The other brokers' tests: nats-server and mosquitto (each test starts its own) and RabbitMQ
# on 127.0.0.1:5672.
bash scripts/setup-brokers.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
status=0
cargo test --workspace --no-fail-fast || status=1
bash scripts/test-vision.sh || status=1
exit "$status"
