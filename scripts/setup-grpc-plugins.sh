#!/usr/bin/env bash
# Installs what the gRPC plugin examples and the weir-plugin-grpc tests need:
#   - a Python venv at target/plugin-venv with grpcio, grpcio-tools and protobuf, plus the
#     pinned database drivers of examples/vision/enricher-py (psycopg 3, PyMySQL);
#   - node_modules for examples/plugins/grpc-node (@grpc/grpc-js, @grpc/proto-loader).
# Idempotent: a second run only checks. Root may apt-get missing interpreters.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/target/plugin-venv"

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-grpc-plugins: missing $*; install it (as root: apt-get install $*)" >&2
    exit 1
  fi
  if [ -z "${WEIR_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export WEIR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3 python3-venv
command -v node >/dev/null || apt_install nodejs
command -v npm >/dev/null || apt_install npm

if ! "$VENV/bin/python" -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null; then
  mkdir -p "$ROOT/target"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    'grpcio>=1.60' 'grpcio-tools>=1.60' 'protobuf>=4.25'
fi

# Database drivers for examples/vision/enricher-py, pinned; reinstalled only when a version differs.
PSYCOPG_VERSION=3.2.10
PYMYSQL_VERSION=1.1.2
if ! "$VENV/bin/python" - "$PSYCOPG_VERSION" "$PYMYSQL_VERSION" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import version
import psycopg, pymysql
assert psycopg.pq.__impl__ in ("binary", "c")
assert version("psycopg") == sys.argv[1] and version("PyMySQL") == sys.argv[2]
EOF
then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "psycopg[binary]==$PSYCOPG_VERSION" "PyMySQL==$PYMYSQL_VERSION"
fi

NODE_DIR="$ROOT/examples/plugins/grpc-node"
if [ ! -d "$NODE_DIR/node_modules/@grpc/grpc-js" ] || [ ! -d "$NODE_DIR/node_modules/@grpc/proto-loader" ]; then
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent)
fi
echo "setup-grpc-plugins: ok (python venv $VENV, node modules in $NODE_DIR)"
