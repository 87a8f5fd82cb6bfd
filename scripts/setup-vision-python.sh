#!/usr/bin/env bash
# Installs what examples/vision/processor-py needs: a Python venv at target/vision-venv with
# pinned grpcio, grpcio-tools, protobuf, numpy and opencv-python-headless.
# Idempotent: a stamp file records the pins, so a second run with the same pins only checks it.
# Root may apt-get missing interpreters.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/target/vision-venv"
STAMP="$VENV/.weir-vision-stamp"

# Pinned to versions with manylinux wheels for CPython 3.11+ (nothing builds from source).
# opencv-python-headless: no GUI deps, so it works on a bare server; 4.x keeps the classic API.
PINS=(
  'grpcio==1.85.1'
  'grpcio-tools==1.85.1'
  'protobuf==7.36.2'
  'numpy==2.4.6'
  'opencv-python-headless==4.14.0.94'
)

apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-vision-python: missing $*; install it (as root: apt-get install $*)" >&2
    exit 1
  fi
  if [ -z "${WEIR_APT_UPDATED:-}" ]; then
    apt-get update -qq
    export WEIR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3 python3-venv

# The stamp holds the pin list and interpreter version; a change of either reinstalls.
want="$(python3 --version 2>&1) ${PINS[*]}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  echo "setup-vision-python: ok (venv $VENV, up to date)"
  exit 0
fi

mkdir -p "$ROOT/target"
if [ ! -x "$VENV/bin/python" ]; then
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian splits ensurepip into python3-venv; a failed attempt leaves a half-made dir.
    rm -rf "$VENV"
    apt_install python3-venv
    python3 -m venv "$VENV"
  fi
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
  "${PINS[@]}"
# Check the imports really work (e.g. a missing shared library) before writing the stamp.
"$VENV/bin/python" -c 'import cv2, grpc, grpc_tools.protoc, numpy, google.protobuf'
echo "$want" >"$STAMP"
echo "setup-vision-python: ok (venv $VENV)"
